"""On request, every asyncio task of a node's loop with the chain of awaits it is stopped in.

For a node that hangs: ``ZBUS_DEBUG_TASKS=1`` in its environment makes ``Node.start`` register
SIGUSR1 on the node's event loop, and ``kill -USR1 PID`` then prints each task to stderr, from the
coroutine it runs down to the future it waits for. ``PYTHONFAULTHANDLER`` shows threads, and a loop
that waits shows only ``select`` there; this shows what the loop's coroutines wait on.
(``Task.print_stack`` shows only the outermost coroutine's frame of a suspended task.)

Off unless asked; never replaces a SIGUSR1 handler the application set; main thread only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["ENV", "await_chain", "dump_tasks", "install"]

#: set to ``1`` to have ``Node.start`` install the SIGUSR1 dump
ENV = "ZBUS_DEBUG_TASKS"
_installed: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()  # the loops that have it


def await_chain(coro: Any) -> Iterator[str]:
    """Where a suspended coroutine waits: one line per coroutine it awaits through (file, line,
    function), outermost first."""
    for _ in range(100):  # (a chain is short; bounded all the same)
        frame = None if coro is None else _first(coro, "cr_frame", "gi_frame", "ag_frame")
        if frame is None:
            return
        code = frame.f_code
        yield f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}'
        coro = _first(coro, "cr_await", "gi_yieldfrom", "ag_await")


def _first(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def dump_tasks(loop: asyncio.AbstractEventLoop, file: IO[str] | None = None) -> None:
    """Print every task of ``loop`` with its chain of awaits (to stderr unless ``file``)."""
    out = sys.stderr if file is None else file
    tasks = sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name())
    lines = [f"--- zbus: {len(tasks)} asyncio task(s) of pid {os.getpid()} ---"]
    for task in tasks:
        state = "cancelling " if task.cancelling() else ""
        lines.append(f"{task.get_name()}: {state}{task.get_coro()!r:.120}")
        lines.extend(await_chain(task.get_coro()))
        waiter = getattr(task, "_fut_waiter", None)  # (CPython's Task: the future it waits for)
        if waiter is not None:
            lines.append(f"    waits for {waiter!r:.200}")
    lines.append("--- end of tasks ---")
    out.write("\n".join(lines) + "\n")
    out.flush()


def install(loop: asyncio.AbstractEventLoop) -> bool:
    """Register the SIGUSR1 dump on ``loop`` when ``ZBUS_DEBUG_TASKS=1`` (once per loop; only from the
    main thread, and only when SIGUSR1 has no handler yet). Returns whether it is installed."""
    if os.environ.get(ENV) != "1" or threading.current_thread() is not threading.main_thread():
        return False
    if loop in _installed:
        return True
    if signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, None):
        return False  # the application's own (a closed loop gives its handlers back)
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks, loop)
    _installed.add(loop)
    return True
