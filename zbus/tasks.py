"""TaskGroup: the one way zbus runs background work.

Every component that starts tasks owns one ``TaskGroup``. A task gets a name (it shows in
``asyncio.all_tasks()`` and in logs), is kept referenced until it ends (asyncio holds only weak
references to tasks), has an unexpected exception logged once, with its traceback, at ERROR, and is
cancelled and awaited by :meth:`TaskGroup.close`. Unlike ``asyncio.TaskGroup``, one failing task does
not cancel its siblings: a failed repair answer must not stop the heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["TaskGroup"]

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
