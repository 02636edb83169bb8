"""StreamTracker: per-stream sequence bookkeeping on the receiving side. Pure.

Rule 1: a stream is (publisher node id, topic). Sequence numbers are per stream, so a subscriber
that filters topics never mistakes events it did not subscribe to for losses (DESIGN §6).
Rule 2: the first event seen on a stream (or on a new epoch of it, after the publisher restarted)
sets the baseline; what was published before we subscribed is not a loss.
Rule 3: a sequence number at or below the last one seen is a duplicate and must be dropped; a
jump of more than one is a gap of ``seq - last - 1`` events.

This is the detection half; repair and the reorder buffer build on it (the journal issue).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

__all__ = ["Observation", "StreamTracker", "Verdict"]


class Verdict(Enum):
    """What to do with an observed event."""

    DELIVER = "deliver"  #: in order (or the first of its stream)
    GAP = "gap"  #: deliver, but ``missing`` events before it were lost
    DUPLICATE = "duplicate"  #: already seen: drop


@dataclass(frozen=True, slots=True)
class Observation:
    """The verdict on one event and, for a gap, the lost range ``[first_missing, last_missing]``."""

    verdict: Verdict
    first_missing: int = 0
    last_missing: int = 0

    @property
    def missing(self) -> int:
        """How many events were lost before this one."""
        return self.last_missing - self.first_missing + 1 if self.verdict is Verdict.GAP else 0


_DELIVER = Observation(Verdict.DELIVER)
_DUPLICATE = Observation(Verdict.DUPLICATE)


class StreamTracker:
    """Remembers the last sequence number and epoch of every stream seen."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[int, int]] = {}

    def observe(self, node_id: str, epoch: int, topic: str, seq: int) -> Observation:
        """Record event ``seq`` of stream (``node_id``, ``topic``) and judge it."""
        key = (node_id, topic)
        last = self._last.get(key)
        if last is None or epoch > last[0]:
            self._last[key] = (epoch, seq)
            return _DELIVER
        last_epoch, last_seq = last
        if epoch < last_epoch or seq <= last_seq:
            return _DUPLICATE
        self._last[key] = (epoch, seq)
        if seq == last_seq + 1:
            return _DELIVER
        return Observation(Verdict.GAP, last_seq + 1, seq - 1)

    def head(self, node_id: str, topic: str) -> int:
        """The last sequence number seen on a stream (0 when unseen)."""
        last = self._last.get((node_id, topic))
        return 0 if last is None else last[1]

    def forget_node(self, node_id: str) -> None:
        """Drop every stream of a node that left the mesh."""
        for key in [k for k in self._last if k[0] == node_id]:
            del self._last[key]

    def forget_topics(self, unwanted: Callable[[str], bool]) -> None:
        """Drop every stream whose topic ``unwanted(topic)`` says is no longer subscribed."""
        for key in [k for k in self._last if unwanted(k[1])]:
            del self._last[key]

    def __len__(self) -> int:
        return len(self._last)
