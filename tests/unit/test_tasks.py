"""TaskGroup: named tasks, kept until they end, errors logged once, cancelled and awaited on close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from zbus.tasks import Duties, TaskGroup


async def test_tasks_are_named_and_forgotten_when_done() -> None:
    group = TaskGroup("test")
    release = asyncio.Event()

    async def wait() -> int:
        await release.wait()
        return 7

    task = group.spawn(wait(), "waiter")
    assert task.get_name() == "zbus-waiter" and len(group) == 1
    release.set()
    assert await task == 7
    assert len(group) == 0


async def test_an_unexpected_error_is_logged_once_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    group = TaskGroup("test")

    async def boom() -> None:
        raise KeyError("lost key")

    task = group.spawn(boom(), "boom")
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)  # the done callback runs on the next loop turn
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "test: background task zbus-boom failed" in errors[0].getMessage()
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is KeyError


async def test_close_cancels_and_awaits_every_task_and_refuses_new_ones() -> None:
    group = TaskGroup("test")
    cancelled = []

    async def forever(i: int) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(i)
            raise

    for i in range(3):
        group.spawn(forever(i), f"forever-{i}")
    await asyncio.sleep(0)
    await group.close()
    assert sorted(cancelled) == [0, 1, 2] and len(group) == 0
    late = group.spawn(forever(9), "late")
    assert late.cancelled() and len(group) == 0  # closed: the coroutine never ran


async def test_a_cancelled_task_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    group = TaskGroup("test")
    task = group.spawn(asyncio.sleep(10), "sleeper")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_duties_count_and_log_each_kind_of_failure_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="zbus")
    duties = Duties("ticker")
    ran = []
    for i in range(5):
        for endpoint in ("good", "bad"):
            with duties.guard("greet"):
                if endpoint == "bad":
                    raise OSError(24, "Too many open files")
                ran.append(i)
        with duties.guard("expire"):
            raise KeyError("gone")
    assert ran == [0, 1, 2, 3, 4]  # a failing item never stopped the next one, nor the next tick
    assert duties.failures == {"greet": 5, "expire": 5}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.getMessage().split(" (")[0] for w in warnings] == [
        "ticker: greet failed",
        "ticker: expire failed",
    ]
    assert all(w.exc_info is not None for w in warnings)  # the first of each kind has its traceback


def test_duties_let_cancellation_through() -> None:
    duties = Duties("ticker")
    with pytest.raises(asyncio.CancelledError), duties.guard("heartbeat"):
        raise asyncio.CancelledError
    assert not duties.failures
