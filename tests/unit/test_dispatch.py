"""PriorityBuffer (pure) and backoff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbus.delivery.backlog import Overflow, PriorityBuffer
from zbus.delivery.dispatch import backoff_delay


def test_priority_order_fifo_within_priority() -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(100)
    for name, prio in [("a5", 5), ("b1", 1), ("c10", 10), ("d5", 5), ("e10", 10)]:
        assert buf.push(name, prio) == ()
    assert [buf.pop() for _ in range(5)] == ["c10", "e10", "a5", "d5", "b1"]
    with pytest.raises(IndexError):
        buf.pop()


@given(st.lists(st.integers(1, 10), max_size=60))
def test_pop_order_is_stable_sort_by_priority(prios: list[int]) -> None:
    buf: PriorityBuffer[int] = PriorityBuffer(1000)
    for i, p in enumerate(prios):
        buf.push(i, p)
    out = [buf.pop() for _ in prios]
    assert out == sorted(range(len(prios)), key=lambda i: (-prios[i], i))


def test_drop_newest() -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(2, Overflow.DROP_NEWEST)
    buf.push("a", 5)
    buf.push("b", 5)
    assert buf.push("c", 10) == ("c",)
    assert buf.clear() == ["a", "b"]


def test_drop_oldest_evicts_lowest_priority_oldest() -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(3, Overflow.DROP_OLDEST)
    buf.push("low1", 1)
    buf.push("low2", 1)
    buf.push("high", 9)
    assert buf.push("mid", 5) == ["low1"]
    assert buf.clear() == ["high", "mid", "low2"]


def test_drop_oldest_never_evicts_more_urgent() -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(2, Overflow.DROP_OLDEST)
    buf.push("h1", 9)
    buf.push("h2", 9)
    assert buf.push("low", 2) == ("low",)
    assert len(buf) == 2


def test_block_raises_full() -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(1, Overflow.BLOCK)
    buf.push("a", 5)
    with pytest.raises(PriorityBuffer.Full):
        buf.push("b", 5)
    assert buf.is_full() and buf.depth_by_priority() == {5: 1}


def test_bytes_bound_evicts_as_many_as_it_takes_and_never_more_urgent_ones() -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(100, Overflow.DROP_OLDEST, max_bytes=10, size=len)
    assert buf.push("aaaa", 1) == () and buf.push("bbbb", 1) == () and buf.push("cc", 9) == ()
    assert buf.bytes == 10 and buf.is_full()
    assert buf.push("dddddd", 5) == ["aaaa", "bbbb"]  # two small ones make room for a big one
    assert buf.bytes == 8 and buf.push("eeeeeeee", 2) == ("eeeeeeee",)  # "cc" is more urgent: kept
    assert buf.clear() == ["cc", "dddddd"] and buf.bytes == 0


def test_bytes_bound_with_drop_newest_and_block() -> None:
    newest: PriorityBuffer[str] = PriorityBuffer(100, Overflow.DROP_NEWEST, max_bytes=4, size=len)
    assert newest.push("xxxxxxxx", 5) == ()  # an empty buffer takes one item of any size
    assert newest.push("y", 5) == ("y",)
    block: PriorityBuffer[str] = PriorityBuffer(100, Overflow.BLOCK, max_bytes=4, size=len)
    block.push("xxx", 5)
    with pytest.raises(PriorityBuffer.Full):
        block.push("yy", 5)
    assert block.pop() == "xxx" and block.push("yy", 5) == () and block.bytes == 2


@given(st.lists(st.tuples(st.integers(1, 10), st.integers(0, 30)), max_size=80))
def test_bytes_stay_within_the_bound_and_every_item_is_kept_or_dropped(items: list[tuple[int, int]]) -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(1000, Overflow.DROP_OLDEST, max_bytes=50, size=len)
    dropped = 0
    for i, (prio, size) in enumerate(items):
        dropped += len(buf.push(str(i % 10) * size, prio))
        assert len(buf) <= 1 or buf.bytes <= 50
    held = buf.bytes
    kept = buf.clear()
    assert sum(map(len, kept)) == held and buf.bytes == 0
    assert len(kept) + dropped == len(items)


def test_backoff() -> None:
    assert [backoff_delay(n, 0.1, 1.0) for n in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
