"""A fixed-bucket latency histogram that is cheap enough for the delivery path. Pure.

``observe`` is a ``bisect`` into a short tuple of bucket bounds and two additions (about 0.2 µs);
callers sample (see ``Dispatcher``) so the per-event cost stays a counter check. ``snapshot`` returns
cumulative bucket counts in Prometheus's shape, and ``quantile`` estimates percentiles from them by
linear interpolation inside the bucket, as Prometheus's ``histogram_quantile`` does.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

__all__ = ["LATENCY_BUCKETS", "Histogram", "HistogramSnapshot"]

#: Upper bounds in seconds: 50 µs .. 10 s, roughly 2.5 times apart (the +Inf bucket is implicit).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistogramSnapshot:
    """Cumulative counts per upper bound (the last bound is ``inf``), the sum and the count."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum: float
    count: int

    def quantile(self, q: float) -> float | None:
        """Estimated ``q``-quantile (0..1) in seconds, ``None`` without observations."""
        if self.count == 0:
            return None
        rank = q * self.count
        lower, below = 0.0, 0
        for bound, cum in zip(self.bounds, self.cumulative, strict=True):
            if cum >= rank:
                if bound == float("inf"):
                    return lower  # beyond the last finite bound: report that bound
                inside = cum - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, cum
        return lower


class Histogram:
    """Counts observations (seconds) into fixed buckets; not thread-safe (owned by the loop)."""

    __slots__ = ("_bounds", "_counts", "count", "sum")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError("bounds must be a non-empty, strictly increasing sequence")
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        """Record one observation (negative values, from clock skew between hosts, count as 0)."""
        if seconds < 0.0:
            seconds = 0.0
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self.count += 1
        self.sum += seconds

    def snapshot(self) -> HistogramSnapshot:
        """A consistent copy with cumulative counts (``le`` semantics), ``inf`` last."""
        cumulative, total = [], 0
        for n in self._counts:
            total += n
            cumulative.append(total)
        return HistogramSnapshot(
            bounds=(*self._bounds, float("inf")), cumulative=tuple(cumulative), sum=self.sum, count=self.count
        )
