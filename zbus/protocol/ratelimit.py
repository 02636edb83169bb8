"""Per-peer rate limits: a token bucket per peer for events and one for bytes. Pure; ``now`` is an argument.

A bucket holds at most one second's worth of tokens (the burst) and refills continuously at its rate.
An event is taken only when both of its peer's buckets can pay for it (one event, its bytes); otherwise
it is refused and costs nothing, so a peer sending at twice its limit still gets half of its events
through. A rate of 0 means no limit (no bucket, no work on the hot path).
"""

from __future__ import annotations

__all__ = ["PeerRateLimits", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, at most ``rate`` held (a one-second burst)."""

    __slots__ = ("_at", "_tokens", "rate")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._at = now

    def refill(self, now: float) -> float:
        """The tokens held at ``now``."""
        if now > self._at:
            self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
            self._at = now
        return self._tokens

    def can(self, cost: float, now: float) -> bool:
        """Whether ``cost`` tokens are there (a cost above the burst passes when the bucket is full,
        so one event larger than a second's bytes is slow, not impossible)."""
        tokens = self.refill(now)
        return tokens >= cost or tokens >= self.rate

    def pay(self, cost: float) -> None:
        """Take ``cost`` tokens (after :meth:`can` said yes)."""
        self._tokens -= cost


class PeerRateLimits:
    """The buckets of every peer that sent something; ``events``/``bytes`` per second, 0 = unlimited."""

    def __init__(self, *, events: float, bytes: float) -> None:
        self.events = events
        self.bytes = bytes
        self._buckets: dict[str, tuple[TokenBucket | None, TokenBucket | None]] = {}

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return bool(self.events or self.bytes)

    def take(self, peer: str, count: int, size: int, now: float) -> bool:
        """Whether ``count`` events of ``size`` bytes from ``peer`` may be taken now (if so, paid)."""
        buckets = self._buckets.get(peer)
        if buckets is None:
            buckets = self._buckets[peer] = (
                TokenBucket(self.events, now) if self.events else None,
                TokenBucket(self.bytes, now) if self.bytes else None,
            )
        by_count, by_size = buckets
        if (by_count is not None and not by_count.can(count, now)) or (
            by_size is not None and not by_size.can(size, now)
        ):
            return False
        if by_count is not None:
            by_count.pay(count)
        if by_size is not None:
            by_size.pay(size)
        return True

    def forget(self, peer: str) -> None:
        """The peer left: its buckets go (a returning peer starts with a full burst)."""
        self._buckets.pop(peer, None)
