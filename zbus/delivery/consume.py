"""Ways to consume a Subscription as a stream of events or of time windows (used by Node)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ..errors import ClosedError
from ..model.event import Event
from .subscription import Subscription

__all__ = ["events_of", "windows_of"]


async def events_of(sub: Subscription, batch_size: int) -> AsyncIterator[Event]:
    """Yield the subscription's events; after each wake-up take up to ``batch_size`` queued ones
    without waiting again. An event is done (a queue group's acknowledged) when the consumer comes
    back for the next one, so one whose loop body raised is delivered again. Unsubscribes when the
    consumer stops iterating."""
    try:
        while True:
            try:
                event = await sub.take()
            except ClosedError:
                return
            yield event
            sub.done(event)  # the consumer came back for more: done with this one
            for _ in range(batch_size - 1):
                ready = sub.take_ready()
                if ready is None:
                    break
                yield ready
                sub.done(ready)
    finally:
        await sub.unsubscribe()


async def windows_of(sub: Subscription, seconds: float, *, emit_empty: bool) -> AsyncIterator[list[Event]]:
    """Yield the subscription's events grouped in tumbling windows of ``seconds``, aligned to the
    first window's start (windows never drift). Unsubscribes when the consumer stops."""
    deadline = asyncio.get_running_loop().time() + seconds
    try:
        while not sub.closed:
            batch: list[Event] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    while True:
                        event = await sub.take()
                        sub.done(event)
                        batch.append(event)
            deadline += seconds
            if batch or emit_empty:
                yield batch
    except ClosedError:
        return
    finally:
        await sub.unsubscribe()
