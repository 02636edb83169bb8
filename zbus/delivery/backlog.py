"""The bounded priority backlog of one subscription, and what it does when full. Pure; no asyncio.

Every subscription owns a ``PriorityBuffer``: ten FIFO levels, popped highest priority first,
bounded by ``queue.max_size`` events and ``queue.max_bytes`` bytes with an ``Overflow`` policy. The
buffer is per subscription rather than one per node so that one slow handler cannot evict or block
events meant for the others (the head-of-line problem NATS solves with per-subscription pending limits).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
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

    ``push`` returns what had to be dropped (the new item, evicted ones, or nothing); with
    ``Overflow.BLOCK`` a full buffer refuses the item by raising ``PriorityBuffer.Full``. With
    ``max_bytes`` (and ``size`` giving an item's bytes) the buffer is also full when its items' bytes
    would pass ``max_bytes``; one item is always taken into an empty buffer, whatever its size.
    """

    __slots__ = ("_bytes", "_len", "_levels", "_size", "_top", "max_bytes", "max_size", "overflow")

    class Full(Exception):
        """Raised by ``push`` under ``Overflow.BLOCK`` when the buffer is full."""

    def __init__(
        self,
        max_size: int,
        overflow: Overflow = Overflow.DROP_OLDEST,
        *,
        max_bytes: int = 0,
        size: Callable[[T], int] | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be ≥ 1")
        self.max_size = max_size
        self.overflow = Overflow(overflow)
        self.max_bytes = max_bytes if size is not None else 0  # 0: no bound in bytes
        self._size = size
        self._levels: list[deque[T]] = [deque() for _ in range(LEVELS + 1)]
        self._len = 0
        self._bytes = 0
        self._top = 0  # no level above this one holds an item (pop starts looking here)

    def __len__(self) -> int:
        return self._len

    @property
    def bytes(self) -> int:
        """The queued items' bytes (0 without ``max_bytes``)."""
        return self._bytes

    def is_full(self) -> bool:
        """True when one more push would overflow (by count, or by bytes)."""
        return self._len >= self.max_size or 0 < self.max_bytes <= self._bytes

    def _fits(self, size: int) -> bool:
        return self._len < self.max_size and (
            not self.max_bytes or not self._len or self._bytes + size <= self.max_bytes
        )

    def push(self, item: T, priority: int) -> Sequence[T]:
        """Add ``item`` at ``priority``; return the items dropped to make room (none, usually)."""
        size = self._size(item) if self.max_bytes and self._size is not None else 0
        if priority > self._top:
            self._top = priority
        if self._fits(size):
            self._levels[priority].append(item)
            self._len += 1
            self._bytes += size
            return ()
        if self.overflow is Overflow.DROP_NEWEST:
            return (item,)
        if self.overflow is Overflow.BLOCK:
            raise PriorityBuffer.Full
        evicted: list[tuple[int, T]] = []
        level = 1
        while not self._fits(size) and level <= priority:  # the oldest of the least urgent first
            if self._levels[level]:
                evicted.append((level, self._take(level)))
            else:
                level += 1
        if not self._fits(size):  # everything left is more urgent than the newcomer: it goes
            for old_level, old in reversed(evicted):  # (what was evicted for it comes back, in order)
                self._levels[old_level].appendleft(old)
                self._len += 1
                self._bytes += self._size(old) if self.max_bytes and self._size is not None else 0
            return (item,)
        self._levels[priority].append(item)
        self._len += 1
        self._bytes += size
        return [old for _, old in evicted]

    def pop(self) -> T:
        """Remove and return the oldest item of the highest priority. Raises IndexError if empty."""
        levels, level = self._levels, self._top
        while level > 0:
            if levels[level]:
                return self._take(level)
            level -= 1
            self._top = level
        raise IndexError("pop from an empty PriorityBuffer")

    def _take(self, level: int) -> T:
        item = self._levels[level].popleft()
        self._len -= 1
        if self.max_bytes and self._size is not None:
            self._bytes -= self._size(item)
        return item

    def depth_by_priority(self) -> dict[int, int]:
        """Queued items per priority level (only non-empty levels)."""
        return {p: len(q) for p, q in enumerate(self._levels) if q}

    def clear(self) -> list[T]:
        """Remove everything, most urgent first, and return it."""
        out: list[T] = []
        while self._len:
            out.append(self.pop())
        return out
