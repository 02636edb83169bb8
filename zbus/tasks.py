"""TaskGroup: the one way zbus runs background work.

Every component that starts tasks owns one ``TaskGroup``. A task gets a name (it shows in
``asyncio.all_tasks()`` and in logs), is kept referenced until it ends (asyncio holds only weak
references to tasks), has an unexpected exception logged once, with its traceback, at ERROR, and is
cancelled and awaited by :meth:`TaskGroup.close`. Unlike ``asyncio.TaskGroup``, one failing task does
not cancel its siblings: a failed repair answer must not stop the heartbeat.

Periodic work inside one task (a ticker greeting endpoints, expiring peers, sending heartbeats) runs
each duty, and each item of a duty, under :meth:`Duties.guard`: a failure is counted per duty, logged
once per (duty, exception class) at WARNING with its traceback (then at DEBUG), and swallowed, so one
bad endpoint or one hostile record can never stop the other duties or the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["DONE", "Duties", "TaskGroup", "in_order"]

log = logging.getLogger("zbus")
T = TypeVar("T")


class TaskGroup:
    """Named background tasks of one component: errors logged once, cancelled and awaited on close.

    Args:
        owner: what owns the tasks, for log messages (e.g. ``"mesh"``, ``"recovery"``).
    """

    __slots__ = ("_closed", "_tasks", "owner")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` as a task named ``zbus-<name>``; must be called on the running loop.

        After :meth:`close` the coroutine is closed without running (the component is shutting down).
        """
        if self._closed:
            coro.close()
            task: asyncio.Task[T] = asyncio.get_running_loop().create_future()  # type: ignore[assignment]
            task.cancel()
            return task
        task = asyncio.get_running_loop().create_task(coro, name=f"zbus-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s: background task %s failed", self.owner, task.get_name(), exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task and wait until all have ended. Idempotent; later spawns do nothing."""
        self._closed = True
        await self.cancel_all()

    async def cancel_all(self) -> None:
        """Cancel every running task and wait for them (the group stays usable)."""
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait(self) -> None:
        """Wait until every task running now has ended (without cancelling them)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class Duties:
    """The duties of one component's periodic work, each run guarded (see the module text).

    ``with duties.guard("greet"):`` runs the body; an ``Exception`` escaping it is counted in
    ``failures["greet"]``, logged (the first of each exception class per duty at WARNING with its
    traceback, later ones at DEBUG) and swallowed. Cancellation (``BaseException``) passes through.

    Args:
        owner: what owns the duties, for log messages (e.g. ``"mesh"``, ``"mdns"``).
    """

    __slots__ = ("_said", "failures", "owner")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        #: failures per duty since the component started (read by ``statistics()`` and /metrics)
        self.failures: Counter[str] = Counter()
        self._said: set[tuple[str, type[BaseException]]] = set()

    def guard(self, duty: str) -> _Guard:
        """A context manager that runs its body as one attempt of ``duty`` (failures counted, not raised)."""
        return _Guard(self, duty)

    def failed(self, duty: str, exc: BaseException) -> None:
        """Count and log a failure of ``duty`` (for code that catches the exception itself)."""
        self.failures[duty] += 1
        key = (duty, type(exc))
        if key not in self._said:
            self._said.add(key)
            log.warning(
                "%s: %s failed (%s: %s); it goes on with the rest, further %s failures of %s are "
                "logged at DEBUG",
                self.owner,
                duty,
                type(exc).__name__,
                exc,
                duty,
                type(exc).__name__,
                exc_info=exc,
            )
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %s failed again (%s: %s)", self.owner, duty, type(exc).__name__, exc)


class _Guard:
    __slots__ = ("_duties", "_duty")

    def __init__(self, duties: Duties, duty: str) -> None:
        self._duties = duties
        self._duty = duty

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False  # nothing happened, or a cancellation / exit: let it through
        self._duties.failed(self._duty, exc)
        return True


class _Done:
    """An awaitable that is already done: awaiting it returns ``None`` at once, without a loop turn."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that ends at once


#: an awaitable already done (for a function that returns an awaitable and has nothing to wait for)
DONE: Awaitable[None] = _Done()


def in_order(items: list[T], handle: Callable[[T], Awaitable[None] | None]) -> Awaitable[None] | None:
    """Hand ``items`` to ``handle`` in order, as a socket pump does: ``handle`` returns an awaitable
    only when an item must wait (a full ``block`` backlog), and then the rest wait behind it. No
    coroutine is made unless one waits."""
    for i, item in enumerate(items):
        pending = handle(item)
        if pending is not None:
            return _in_order_rest(pending, items[i + 1 :], handle)
    return None


async def _in_order_rest(
    pending: Awaitable[None], items: list[T], handle: Callable[[T], Awaitable[None] | None]
) -> None:
    await pending
    for item in items:
        more = handle(item)
        if more is not None:
            await more
