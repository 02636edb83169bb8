"""Running a command's coroutine: SIGINT/SIGTERM as a stop request, zbus errors as exit codes."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import zbus

from . import output

T = TypeVar("T")


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the command was waiting."""


def stop_event() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def sleep(stop: asyncio.Event, seconds: float | None) -> bool:
    """Wait ``seconds`` (``None``: forever) or until ``stop``; True if stopped."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


async def unless_stopped(stop: asyncio.Event, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``; raise ``Interrupted`` (cancelling it) if ``stop`` is set first."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise Interrupted
    return task.result()


def run(main: Coroutine[Any, Any, int]) -> None:
    """Run ``main`` and exit with its code; a ``zbus.UsageError`` exits 2, other zbus errors 1."""
    try:
        code = asyncio.run(main)
    except Interrupted:
        output.fail("interrupted")
    except KeyboardInterrupt:  # before the signal handlers were installed
        sys.exit(130)
    except zbus.UnknownTargetError as exc:
        output.fail(output.error_text(exc))
    except zbus.UsageError as exc:
        output.usage(output.error_text(exc))
    except zbus.ZbusError as exc:
        output.fail(output.error_text(exc))
    sys.exit(code)
