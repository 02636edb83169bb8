"""Direct delivery (dispatch Rule 1): a sync handler runs inside ``Subscription.offer`` when its runner
waits; a call that fails or needs awaiting goes back to the runner, in order, with the same retries."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from zbus.delivery.deadletters import DeadLetter
from zbus.delivery.dispatch import Dispatcher
from zbus.delivery.subscription import Subscription
from zbus.model.event import Event
from zbus.model.topics import compile_pattern
from zbus.observe.tracing import current_event


def _dispatcher(dead: list[DeadLetter]) -> Dispatcher:
    return Dispatcher(workers=4, retry_base_delay=0.001, retry_max_delay=0.01, on_dead_letter=dead.append)


def _sub(handler: Any, **kw: Any) -> Subscription:
    return Subscription(
        [compile_pattern("t.*")], handler=handler, filter=None, max_size=100, overflow="block", **kw
    )


async def _runner_waits(sub: Subscription) -> None:
    deadline = time.monotonic() + 5
    while not sub._waiting:  # the runner task parks in take() within a loop turn or two
        assert time.monotonic() < deadline, "the runner never waited"
        await asyncio.sleep(0)


async def test_a_sync_handler_runs_inside_offer_when_its_runner_waits() -> None:
    seen: list[tuple[int, Event | None]] = []
    dispatcher = _dispatcher([])
    sub = _sub(lambda e: seen.append((e.payload["i"], current_event.get(None))))
    dispatcher.start(sub)
    await _runner_waits(sub)
    for i in range(3):
        assert sub.offer(Event("t.x", {"i": i}))
        assert [n for n, _ in seen] == list(range(i + 1))  # already handled: no loop turn in between
    assert all(cause is not None for _, cause in seen)  # what the handler publishes is caused by it
    assert current_event.get(None) is None  # and the cause does not leak into the caller
    stats = sub.statistics()
    assert (stats.received, stats.delivered) == (3, 3)
    await dispatcher.close()


async def test_a_failing_direct_call_is_retried_by_the_runner_and_later_events_wait_behind_it() -> None:
    calls: list[int] = []

    def handler(event: Event) -> None:
        calls.append(event.payload["i"])
        if event.payload["i"] == 0 and calls.count(0) < 3:
            raise ValueError("not yet")

    dispatcher = _dispatcher([])
    sub = _sub(handler)
    dispatcher.start(sub)
    await _runner_waits(sub)
    sub.offer(Event("t.x", {"i": 0}))  # fails inline: handed back to the runner
    sub.offer(Event("t.x", {"i": 1}))  # queued behind it, not run directly
    sub.offer(Event("t.x", {"i": 2}))
    assert calls == [0]
    deadline = time.monotonic() + 5
    while sub.statistics().delivered < 3:
        assert time.monotonic() < deadline, calls
        await asyncio.sleep(0.005)
    assert calls == [0, 0, 0, 1, 2]  # two retries of 0 first, then the rest in order
    assert sub.statistics().failed == 2
    await _runner_waits(sub)
    sub.offer(Event("t.x", {"i": 3}))
    assert calls[-1] == 3  # the runner waits again: direct again
    await dispatcher.close()


async def test_a_direct_call_that_keeps_failing_is_dead_lettered_with_every_attempt_counted() -> None:
    dead: list[DeadLetter] = []
    dispatcher = _dispatcher(dead)
    sub = _sub(lambda e: 1 / 0)
    dispatcher.start(sub)
    await _runner_waits(sub)
    sub.offer(Event("t.x", {}, max_attempts=3))
    deadline = time.monotonic() + 5
    while not dead:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    assert dead[0].event.attempts == 3 and dead[0].error_type == "ZeroDivisionError"
    assert sub.statistics().dead_lettered == 1
    await dispatcher.close()


async def test_an_awaitable_result_an_async_handler_and_an_undirected_offer_go_through_the_runner() -> None:
    done: list[str] = []

    async def later(event: Event) -> None:
        done.append(event.payload["via"])

    dispatcher = _dispatcher([])
    plain = _sub(lambda e: later(e))  # a plain function that returns a coroutine
    async_sub = _sub(later)
    group = _sub(lambda e: done.append(e.payload["via"]), group="workers")
    for sub in (plain, async_sub, group):
        dispatcher.start(sub)
        await _runner_waits(sub)
    assert plain.direct is not None and async_sub.direct is None and group.direct is not None
    plain.offer(Event("t.x", {"via": "awaitable"}))
    async_sub.offer(Event("t.x", {"via": "async"}))
    # a publisher delivering to its own group member is in the middle of its bookkeeping: queued
    group.offer(Event("t.x", {"via": "own"}), direct=False)
    assert done == []  # none of them ran inside offer
    deadline = time.monotonic() + 5
    while len(done) < 3:
        assert time.monotonic() < deadline, done
        await asyncio.sleep(0.005)
    assert sorted(done) == ["async", "awaitable", "own"]
    await _runner_waits(group)
    group.offer(Event("t.x", {"via": "delivered"}))  # from a DELIVER: a group member's handler runs now
    assert done[-1] == "delivered"
    await dispatcher.close()


async def test_expired_events_are_counted_and_a_stopped_subscription_gets_no_direct_calls() -> None:
    seen: list[Event] = []
    dispatcher = _dispatcher([])
    sub = _sub(seen.append)
    dispatcher.start(sub)
    await _runner_waits(sub)
    sub.offer(Event("t.x", {}, expires_at=time.time() - 1))
    assert seen == [] and sub.statistics().expired == 1
    await dispatcher.stop(sub)
    assert sub.direct is None
