"""Dispatch: the bounded priority backlog and the handler runner (retries, TTL, dead letters).

Theory of operation
-------------------
Every subscription owns a ``PriorityBuffer``: ten FIFO levels, popped highest priority first,
bounded by ``queue.max_size`` with an overflow policy. The buffer is per subscription rather than
one per node so that one slow handler cannot evict or block events meant for the others (the
head-of-line problem NATS solves with per-subscription pending limits); priorities still order
each subscription's backlog, which is the order its handler sees.

The node's ``Dispatcher`` runs one task per handler subscription (``concurrency`` tasks when asked)
that pops the backlog and calls the handler. A node-wide semaphore (``performance.worker_threads``)
bounds how many handlers run at once. For each event the runner:

1. drops it if ``expires_at`` has passed (counted as ``expired``, never delivered);
2. calls the handler (sync handlers run inline on the loop and must be quick; async ones are
   awaited);
3. on an exception records ``attempts`` and ``last_error`` on a copy of the event, sleeps an
   exponential backoff (``retry_base_delay * 2**(attempt-1)`` capped at ``retry_max_delay``)
   without holding a worker slot, and tries again up to ``event.max_attempts``;
4. then hands the event to the dead-letter hook (``DeadLetter``).

Events are delivered in priority order per subscription and, for ``concurrency=1`` (the default),
one at a time: a retrying event holds back the ones behind it, as a Kafka consumer does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import WireError
from ..observe.latency import Histogram
from ..observe.logs import event_extra
from ..observe.tracing import current_event, traced_handler

if TYPE_CHECKING:
    from ..model.event import Event
    from .subscription import Subscription

__all__ = [
    "DeadLetter",
    "Dispatcher",
    "MemoryDeadLetters",
    "Overflow",
    "PriorityBuffer",
    "backoff_delay",
    "is_async",
]

log = logging.getLogger("zbus")
T = TypeVar("T")
LEVELS = 10
INLINE_YIELD_EVERY = 64  # sync handlers give the loop a turn after this many events in a row
LATENCY_SAMPLE_MASK = 63  # inline handlers: publish→handled latency of the 1st and every 64th event
MAX_ERROR_TYPES = 50  # distinct handler exception names counted; the rest are counted as "other"


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

    ``push`` returns what had to be dropped (the new item, an evicted one, or ``None``); with
    ``Overflow.BLOCK`` a full buffer refuses the item by raising ``PriorityBuffer.Full``.
    """

    __slots__ = ("_len", "_levels", "max_size", "overflow")

    class Full(Exception):
        """Raised by ``push`` under ``Overflow.BLOCK`` when the buffer is full."""

    def __init__(self, max_size: int, overflow: Overflow = Overflow.DROP_OLDEST) -> None:
        if max_size < 1:
            raise ValueError("max_size must be ≥ 1")
        self.max_size = max_size
        self.overflow = Overflow(overflow)
        self._levels: list[deque[T]] = [deque() for _ in range(LEVELS + 1)]
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def is_full(self) -> bool:
        """True when one more push would overflow."""
        return self._len >= self.max_size

    def push(self, item: T, priority: int) -> T | None:
        """Add ``item`` at ``priority``; return the item dropped to make room, if any."""
        if self._len < self.max_size:
            self._levels[priority].append(item)
            self._len += 1
            return None
        if self.overflow is Overflow.DROP_NEWEST:
            return item
        if self.overflow is Overflow.BLOCK:
            raise PriorityBuffer.Full
        for level in range(1, priority + 1):
            if self._levels[level]:
                evicted = self._levels[level].popleft()
                self._levels[priority].append(item)
                return evicted
        return item  # everything queued is more urgent than the newcomer

    def pop(self) -> T:
        """Remove and return the oldest item of the highest priority. Raises IndexError if empty."""
        levels = self._levels
        for level in range(LEVELS, 0, -1):
            if levels[level]:
                self._len -= 1
                return levels[level].popleft()
        raise IndexError("pop from an empty PriorityBuffer")

    def depth_by_priority(self) -> dict[int, int]:
        """Queued items per priority level (only non-empty levels)."""
        return {p: len(q) for p, q in enumerate(self._levels) if q}

    def clear(self) -> list[T]:
        """Remove everything, most urgent first, and return it."""
        out: list[T] = []
        while self._len:
            out.append(self.pop())
        return out


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): ``base * 2**(attempt-1)``, capped."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """An event whose handler failed ``max_attempts`` times.

    Attributes:
        event: the event as last attempted (``attempts`` and ``last_error`` filled in).
        error_type: class name of the last exception.
        error: ``str()`` of the last exception.
        handler: qualified name of the handler that failed.
        subscription: the subscription's patterns, comma-separated.
        ts: when it was dead-lettered, UNIX seconds.
    """

    event: Event
    error_type: str
    error: str
    handler: str
    subscription: str
    ts: float


class MemoryDeadLetters:
    """Dead letters kept in memory (the newest ``limit``) until the LMDB store takes over.

    It says so, once, at the first dead letter: they are lost when the process exits.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._letters: deque[DeadLetter] = deque(maxlen=limit)

    def add(self, letter: DeadLetter) -> None:
        """Keep ``letter`` (evicting the oldest beyond ``limit``)."""
        if not self._letters:
            log.warning(
                "dead letters are kept in memory only (the newest %d); they are lost when the process exits",
                self.limit,
            )
        self._letters.append(letter)

    def list(self) -> list[DeadLetter]:
        """All kept dead letters, oldest first."""
        return list(self._letters)

    def __len__(self) -> int:
        return len(self._letters)


def _with_attempt(event: Event, attempts: int, error: str) -> Event:
    clone = event._clone()
    clone._attempts = attempts
    clone._last_error = error
    return clone


class Dispatcher:
    """Runs handler subscriptions of one node under a shared concurrency limit."""

    def __init__(
        self,
        *,
        workers: int,
        retry_base_delay: float,
        retry_max_delay: float,
        on_dead_letter: Callable[[DeadLetter], None],
    ) -> None:
        self._slots = asyncio.Semaphore(workers)
        self.workers = workers
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self._on_dead_letter = on_dead_letter
        self._tasks: dict[Subscription, list[asyncio.Task[None]]] = {}
        self.busy = 0
        #: publish → handler completed, seconds (sampled; see LATENCY_SAMPLE_MASK); same-host clocks
        self.latency = Histogram()
        #: handler exceptions by class name (bounded by MAX_ERROR_TYPES)
        self.errors: dict[str, int] = {}

    def start(self, sub: Subscription) -> None:
        """Start the runner task(s) for a subscription that has a handler."""
        if sub.handler is None or sub in self._tasks:
            return
        name = f"zbus-handler {sub.describe()}"
        self._tasks[sub] = [
            asyncio.get_running_loop().create_task(self._run(sub), name=name) for _ in range(sub.concurrency)
        ]

    async def stop(self, sub: Subscription) -> None:
        """Cancel a subscription's runners and wait for them to finish."""
        tasks = self._tasks.pop(sub, [])
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop every runner."""
        for sub in list(self._tasks):
            await self.stop(sub)

    def dead_runners(self) -> int:
        """Handler runner tasks that ended while their subscription is still open (a bug: health says so)."""
        return sum(1 for tasks in self._tasks.values() for t in tasks if t.done())

    async def run_once(self, handler: Callable[[Event], Any], event: Event) -> Any:
        """Run one handler call (a responder's) within the worker limit; return its result.

        The event is the trace cause of whatever the handler publishes (see ``zbus.observe.tracing``).
        """
        token = current_event.set(event)
        try:
            async with self._slots:
                result = traced_handler(handler, "respond")(event)
                if isinstance(result, Awaitable):
                    result = await result
                return result
        finally:
            current_event.reset(token)

    def _count_error(self, error: BaseException) -> None:
        name = type(error).__name__
        errors = self.errors
        if name not in errors and len(errors) >= MAX_ERROR_TYPES:
            name = "other"
        errors[name] = errors.get(name, 0) + 1

    async def _run(self, sub: Subscription) -> None:
        assert sub.handler is not None
        inline = not is_async(sub.handler)
        handler = traced_handler(sub.handler)  # itself unless OpenTelemetry is installed
        set_cause = current_event.set  # this task's own context: what its handlers publish is caused by it
        latency = self.latency
        while True:
            event = sub._pop_ready()  # drops (and counts) expired events itself
            if event is None:
                event = await sub._get()
            set_cause(event)
            if not inline:
                await self._invoke(sub, handler, event)
                sub._finished(event)
                continue
            # a sync handler runs inline on the loop (it cannot run concurrently anyway): no worker
            # slot and no coroutine per event unless it fails or hands back an awaitable
            try:
                result = handler(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._invoke(sub, handler, event, first_error=exc)
                sub._finished(event)
                continue
            if isinstance(result, Awaitable):
                await self._invoke(sub, handler, event, first_result=result)
                sub._finished(event)
            else:
                sub._finished(event)
                sub._stats_delivered += 1
                delivered = sub._stats_delivered
                if delivered & LATENCY_SAMPLE_MASK == 1:
                    latency.observe(time.time() - event._ts)
                if delivered % INLINE_YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a long backlog must not starve heartbeats and sockets

    async def _invoke(
        self,
        sub: Subscription,
        handler: Callable[[Event], Any],
        event: Event,
        *,
        first_error: Exception | None = None,
        first_result: Awaitable[Any] | None = None,
    ) -> None:
        """Run the handler (retrying with backoff, then dead-lettering); ``first_error`` or
        ``first_result`` carry the outcome of a first attempt the caller already made."""
        attempt = event._attempts
        while True:
            attempt += 1
            error = first_error
            if error is None:
                async with self._slots:
                    self.busy += 1
                    try:
                        result = handler(event) if first_result is None else first_result
                        if isinstance(result, Awaitable):
                            await result
                        sub._stats_delivered += 1
                        self.latency.observe(time.time() - event._ts)  # a coroutine per event dwarfs this
                        return
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        error = exc
                    finally:
                        self.busy -= 1
            first_error, first_result = None, None
            if isinstance(error, WireError):
                sub._stats_dropped["bad_payload"] = sub._stats_dropped.get("bad_payload", 0) + 1
                log.warning(
                    "dropped event %s with an undecodable payload: %s",
                    event.id,
                    error,
                    extra=event_extra(event),
                )
                return
            sub._stats_failed += 1
            self._count_error(error)
            message = f"{type(error).__name__}: {error}"
            event = _with_attempt(event, attempt, message)
            if attempt >= event._max_attempts:
                log.warning(
                    "handler %s failed %d times on event %s (%s); dead-lettered",
                    _qualname(handler),
                    attempt,
                    event.id,
                    message,
                    extra=event_extra(event),
                )
                sub._stats_dead_lettered += 1
                self._on_dead_letter(
                    DeadLetter(
                        event=event,
                        error_type=type(error).__name__,
                        error=str(error),
                        handler=_qualname(handler),
                        subscription=sub.describe(),
                        ts=time.time(),
                    )
                )
                return
            await asyncio.sleep(backoff_delay(attempt, self.retry_base_delay, self.retry_max_delay))
            if event._expires_at is not None and time.time() >= event._expires_at:
                sub._stats_expired += 1  # its TTL ran out while we waited to retry
                return


def is_async(handler: Callable[..., Any]) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    call = type(handler).__call__ if not inspect.isroutine(handler) else None
    return inspect.iscoroutinefunction(handler) or (call is not None and inspect.iscoroutinefunction(call))


def _qualname(handler: Callable[..., Any]) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
