"""Dispatch: the handler runner (retries, TTL, backoff, dead letters).

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

Rule 1 (direct delivery): a sync handler of a subscription with ``concurrency=1`` is called
by ``Subscription.offer`` itself when an event arrives while nothing is queued and the runner waits
(usually inside the socket's reader callback), saving the task wake-up per event that dominates
latency at low rates. If that call raises or returns an awaitable, the event is handed back to the
runner, which retries it as above while later events queue behind it: the order and the retry
rules are the same either way. Queue group members are called directly too, for events that arrive
in a DELIVER; a publisher's events for its own member are queued (``offer(event, direct=False)``), as
it is in the middle of its group bookkeeping then.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import WireError
from ..observe.latency import Histogram, HistogramSnapshot
from ..observe.logs import event_extra
from ..observe.tracing import current_event, traced_handler
from ..tasks import TaskGroup
from .deadletters import DeadLetter
from .subscription import Outcome, Subscription

if TYPE_CHECKING:
    from ..model.event import Event

__all__ = ["Dispatcher", "DispatcherStatistics", "backoff_delay", "is_async"]

log = logging.getLogger("zbus")
INLINE_YIELD_EVERY = 64  # sync handlers give the loop a turn after this many events in a row
LATENCY_SAMPLE_MASK = 63  # inline handlers: publish→handled latency of the 1st and every 64th event
MAX_ERROR_TYPES = 50  # distinct handler exception names counted; the rest are counted as "other"


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): ``base * 2**(attempt-1)``, capped."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatcherStatistics:
    """A snapshot of the handler runner's counters.

    Attributes:
        workers: handler calls that may run at once (``performance.worker_threads``).
        busy: handler calls running now.
        dead_runners: runner tasks that ended while their subscription is still open (a bug).
        errors: handler exceptions by class name.
        latency: publish → handler completed, seconds (sampled).
    """

    workers: int
    busy: int
    dead_runners: int
    errors: dict[str, int]
    latency: HistogramSnapshot


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
        self._runners: dict[Subscription, TaskGroup] = {}  # per handler subscription
        self.busy = 0
        #: publish → handler completed, seconds (sampled; see LATENCY_SAMPLE_MASK); same-host clocks
        self.latency = Histogram()
        #: handler exceptions by class name (bounded by MAX_ERROR_TYPES)
        self.errors: dict[str, int] = {}

    def start(self, sub: Subscription) -> None:
        """Start the runner task(s) for a subscription that has a handler."""
        if sub.handler is None or sub in self._runners:
            return
        if sub.concurrency == 1 and not is_async(sub.handler):
            sub.direct = self._direct(sub)  # Rule 1
        runners = self._runners[sub] = TaskGroup(f"handler {sub.describe()}")
        for _ in range(sub.concurrency):
            runners.spawn(self._run(sub), f"handler-{sub.describe()}")

    async def stop(self, sub: Subscription) -> None:
        """Cancel a subscription's runners and wait for them to finish."""
        sub.direct = None
        runners = self._runners.pop(sub, None)
        if runners is not None:
            await runners.close()

    async def close(self) -> None:
        """Stop every runner."""
        for sub in list(self._runners):
            await self.stop(sub)

    def dead_runners(self) -> int:
        """Handler runner tasks that ended while their subscription is still open (a bug: health says
        so; the runner's error was logged once by its TaskGroup)."""
        return sum(sub.concurrency - len(runners) for sub, runners in self._runners.items())

    def statistics(self) -> DispatcherStatistics:
        """A snapshot of the counters (see ``DispatcherStatistics``)."""
        return DispatcherStatistics(
            workers=self.workers,
            busy=self.busy,
            dead_runners=self.dead_runners(),
            errors=dict(self.errors),
            latency=self.latency.snapshot(),
        )

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
            event = sub.take_ready()  # drops (and counts) expired events itself
            if event is None:
                event = await sub.take()
            set_cause(event)
            first = sub.first_outcome  # (error, awaitable) of a direct call that handed it back
            if first is not None:
                sub.first_outcome = None
                outcome = await self._invoke(sub, handler, event, first_error=first[0], first_result=first[1])
                sub.done(event, outcome)
                continue
            if not inline:
                sub.done(event, await self._invoke(sub, handler, event))
                continue
            # a sync handler runs inline on the loop (it cannot run concurrently anyway): no worker
            # slot and no coroutine per event unless it fails or hands back an awaitable
            try:
                result = handler(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                sub.done(event, await self._invoke(sub, handler, event, first_error=exc))
                continue
            if result is not None and isinstance(result, Awaitable):
                sub.done(event, await self._invoke(sub, handler, event, first_result=result))
            else:
                delivered = sub.done(event, Outcome.DELIVERED)
                if delivered & LATENCY_SAMPLE_MASK == 1:
                    latency.observe(time.time() - event._ts)
                if delivered % INLINE_YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a long backlog must not starve heartbeats and sockets

    def _direct(self, sub: Subscription) -> Callable[[Event], None]:
        """The direct call of Rule 1 for ``sub``'s sync handler."""
        assert sub.handler is not None
        handler = traced_handler(sub.handler)
        set_cause, reset_cause, latency = current_event.set, current_event.reset, self.latency

        def deliver(event: Event) -> None:
            if event._expires_at is not None and time.time() >= event._expires_at:
                sub.drop_expired(event)
                return
            token = set_cause(event)  # in the caller's context: reset below, so nothing leaks
            try:
                result = handler(event)
            except Exception as exc:
                sub.hand_back(event, (exc, None))
                return
            finally:
                reset_cause(token)
            if result is not None and isinstance(result, Awaitable):  # (None first: an ABC check costs)
                sub.hand_back(event, (None, result))
            elif sub.done(event, Outcome.DELIVERED) & LATENCY_SAMPLE_MASK == 1:
                latency.observe(time.time() - event._ts)

        return deliver

    async def _invoke(
        self,
        sub: Subscription,
        handler: Callable[[Event], Any],
        event: Event,
        *,
        first_error: Exception | None = None,
        first_result: Awaitable[Any] | None = None,
    ) -> Outcome:
        """Run the handler (retrying with backoff, then dead-lettering) and say how it ended;
        ``first_error`` or ``first_result`` carry the outcome of a first attempt the caller made."""
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
                        self.latency.observe(time.time() - event._ts)  # a coroutine per event dwarfs this
                        return Outcome.DELIVERED
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        error = exc
                    finally:
                        self.busy -= 1
            first_error, first_result = None, None
            if isinstance(error, WireError):
                log.warning(
                    "dropped event %s with an undecodable payload: %s",
                    event.id,
                    error,
                    extra=event_extra(event),
                )
                return Outcome.BAD_PAYLOAD
            sub.attempt_failed()
            self._count_error(error)
            message = f"{type(error).__name__}: {error}"
            event = event._derive(attempts=attempt, last_error=message)
            if attempt >= event._max_attempts:
                log.warning(
                    "handler %s failed %d times on event %s (%s); dead-lettered",
                    _qualname(handler),
                    attempt,
                    event.id,
                    message,
                    extra=event_extra(event),
                )
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
                return Outcome.DEAD_LETTERED
            await asyncio.sleep(backoff_delay(attempt, self.retry_base_delay, self.retry_max_delay))
            if event._expires_at is not None and time.time() >= event._expires_at:
                return Outcome.EXPIRED  # its TTL ran out while we waited to retry


def is_async(handler: Callable[..., Any]) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    call = type(handler).__call__ if not inspect.isroutine(handler) else None
    return inspect.iscoroutinefunction(handler) or (call is not None and inspect.iscoroutinefunction(call))


def _qualname(handler: Callable[..., Any]) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
