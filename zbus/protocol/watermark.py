"""Watermarks: the contiguous "done up to" sequence per stream of a durable subscription. Pure.

Priorities and concurrency let a later event finish before an earlier one, so the checkpoint must
not be "last seen" (DESIGN §6): it is the highest sequence below which every event the subscription
was offered is done. Events the subscription's filter rejected count as done at once.
"""

from __future__ import annotations

__all__ = ["Watermarks"]

Stream = tuple[str, str]


class Watermarks:
    """Tracks offered and finished events per stream (publisher id, topic)."""

    def __init__(self, start: dict[Stream, int] | None = None) -> None:
        self._high: dict[Stream, int] = dict(start or {})  # highest offered (or the checkpoint)
        self._open: dict[Stream, set[int]] = {}  # offered, not done
        self._dirty: set[Stream] = set()

    def offered(self, stream: Stream, seq: int) -> None:
        """The subscription was handed event ``seq`` (events arrive in order per stream)."""
        if seq > self._high.get(stream, 0):
            self._high[stream] = seq
        self._open.setdefault(stream, set()).add(seq)

    def done(self, stream: Stream, seq: int) -> None:
        """Event ``seq`` is finished (handled, dead-lettered, expired or taken)."""
        pending = self._open.get(stream)
        if pending is not None:
            pending.discard(seq)
            self._dirty.add(stream)

    def hold(self, stream: Stream, seq: int) -> None:
        """Event ``seq`` is owed but not offered now (a later run offers it): the watermark stays
        below it, whatever is offered and done after it."""
        self._open.setdefault(stream, set()).add(seq)

    def skipped(self, stream: Stream, seq: int) -> None:
        """Event ``seq`` was not for this subscription (its filter said no): done at once. The stream
        is reported by :meth:`take_changed` even when this moves nothing (a new stream's first)."""
        if seq > self._high.get(stream, 0):
            self._high[stream] = seq
        self._dirty.add(stream)

    def watermark(self, stream: Stream) -> int:
        """Every event of ``stream`` up to this sequence is done."""
        pending = self._open.get(stream)
        if pending:
            return min(pending) - 1
        return self._high.get(stream, 0)

    def take_changed(self) -> dict[Stream, int]:
        """The watermarks of streams that progressed since the last call."""
        changed = {s: self.watermark(s) for s in self._dirty}
        self._dirty.clear()
        return changed

    def all(self) -> dict[Stream, int]:
        """Every stream's watermark."""
        return {s: self.watermark(s) for s in self._high}
