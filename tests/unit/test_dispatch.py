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
        assert buf.push(name, prio) is None
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
    assert buf.push("c", 10) == "c"
    assert buf.clear() == ["a", "b"]


def test_drop_oldest_evicts_lowest_priority_oldest() -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(3, Overflow.DROP_OLDEST)
    buf.push("low1", 1)
    buf.push("low2", 1)
    buf.push("high", 9)
    assert buf.push("mid", 5) == "low1"
    assert buf.clear() == ["high", "mid", "low2"]


def test_drop_oldest_never_evicts_more_urgent() -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(2, Overflow.DROP_OLDEST)
    buf.push("h1", 9)
    buf.push("h2", 9)
    assert buf.push("low", 2) == "low"
    assert len(buf) == 2


def test_block_raises_full() -> None:
    buf: PriorityBuffer[str] = PriorityBuffer(1, Overflow.BLOCK)
    buf.push("a", 5)
    with pytest.raises(PriorityBuffer.Full):
        buf.push("b", 5)
    assert buf.is_full() and buf.depth_by_priority() == {5: 1}


def test_backoff() -> None:
    assert [backoff_delay(n, 0.1, 1.0) for n in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
