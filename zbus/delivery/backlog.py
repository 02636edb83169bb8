"""The bounded priority backlog of one subscription, and what it does when full. Pure; no asyncio.

Every subscription owns a ``PriorityBuffer``: ten FIFO levels, popped highest priority first,
bounded by ``queue.max_size`` with an ``Overflow`` policy. The buffer is per subscription rather than
one per node so that one slow handler cannot evict or block events meant for the others (the
head-of-line problem NATS solves with per-subscription pending limits).
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from typing import Generic, TypeVar

__all__ = ["LEVELS", "Overflow", "PriorityBuffer"]

T = TypeVar("T")
LEVELS = 10  # priorities 1..10 (the event model's range), one FIFO each


class Overflow(StrEnum):
    """What a full subscription backlog does with one more event."""

    #: Evict the oldest event of the lowest priority present (if it is not more urgent than the
    #: new one; otherwise the new event is dropped). The default: fresh data wins, urgent data stays.
    DROP_OLDEST = "drop_oldest"
    #: Drop the incoming event.
    DROP_NEWEST = "drop_newest"
    #: Make the producer wait: ``publish`` awaits, the network reader stops reading (backpressure).
    BLOCK = "block"


class PriorityBuffer(Generic[T]):
    """A bounded FIFO per priority 1..10, popped most urgent first. Pure; no asyncio.

    ``push`` returns what had to be dropped (the new item, an evicted one, or ``None``); with
    ``Overflow.BLOCK`` a full buffer refuses the item by raising ``PriorityBuffer.Full``.
    """

    __slots__ = ("_len", "_levels", "max_size", "overflow")

    class Full(Exception):
        """Raised by ``push`` under ``Overflow.BLOCK`` when the buffer is full."""

    def __init__(self, max_size: int, overflow: Overflow = Overflow.DROP_OLDEST) -> None:
        if max_size < 1:
            raise ValueError("max_size must be ≥ 1")
        self.max_size = max_size
        self.overflow = Overflow(overflow)
        self._levels: list[deque[T]] = [deque() for _ in range(LEVELS + 1)]
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def is_full(self) -> bool:
        """True when one more push would overflow."""
        return self._len >= self.max_size

    def push(self, item: T, priority: int) -> T | None:
        """Add ``item`` at ``priority``; return the item dropped to make room, if any."""
        if self._len < self.max_size:
            self._levels[priority].append(item)
            self._len += 1
            return None
        if self.overflow is Overflow.DROP_NEWEST:
            return item
        if self.overflow is Overflow.BLOCK:
            raise PriorityBuffer.Full
        for level in range(1, priority + 1):
            if self._levels[level]:
                evicted = self._levels[level].popleft()
                self._levels[priority].append(item)
                return evicted
        return item  # everything queued is more urgent than the newcomer

    def pop(self) -> T:
        """Remove and return the oldest item of the highest priority. Raises IndexError if empty."""
        levels = self._levels
        for level in range(LEVELS, 0, -1):
            if levels[level]:
                self._len -= 1
                return levels[level].popleft()
        raise IndexError("pop from an empty PriorityBuffer")

    def depth_by_priority(self) -> dict[int, int]:
        """Queued items per priority level (only non-empty levels)."""
        return {p: len(q) for p, q in enumerate(self._levels) if q}

    def clear(self) -> list[T]:
        """Remove everything, most urgent first, and return it."""
        out: list[T] = []
        while self._len:
            out.append(self.pop())
        return out
