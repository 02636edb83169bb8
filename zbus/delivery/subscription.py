"""Subscription: one bounded, priority-ordered backlog with two ways to consume it.

Give it a ``handler=`` and the node's dispatcher calls the handler for each event (with retries
and dead letters), or leave the handler out and iterate: ``async for event in sub`` or
``await sub.next(timeout=1.0)``. ``async with sub:`` unsubscribes on exit. Overflow is never
silent: every dropped event is counted in ``sub.statistics()``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ClosedError, UsageError, WaitTimeout, WouldBlockError
from ..model.filters import compile_filter
from ..observe.drops import Drops
from .backlog import Overflow, PriorityBuffer

if TYPE_CHECKING:
    from ..model.event import Event
    from ..model.topics import RegexPattern, TopicPattern

__all__ = ["Admission", "Handler", "Outcome", "Subscription", "SubscriptionStatistics"]

Handler = Callable[["Event"], "Awaitable[Any] | Any"]


class Outcome(Enum):
    """How the consumer finished with an event (``Subscription.done``); each is counted once."""

    #: the handler completed, or the iterator handed the event out
    DELIVERED = "delivered"
    #: the handler failed ``max_attempts`` times
    DEAD_LETTERED = "dead_lettered"
    #: its TTL ran out while it waited (queued, or between retries)
    EXPIRED = "expired"
    #: its payload could not be decoded
    BAD_PAYLOAD = "bad_payload"


class Admission(Protocol):
    """What sits in front of a subscription that replays history (``zbus.inbound.replay.ReplayGate``)."""

    def admit(self, event: Event) -> bool:
        """A live event: True to offer it now; False when it is held or was already replayed."""

    def skip(self, event: Event) -> None:
        """A live event the subscription's filter rejected."""

    def finished(self, event: Event) -> None:
        """The subscription is done with ``event``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionStatistics:
    """A snapshot of one subscription's counters.

    Attributes:
        patterns: the topic patterns (or regexes) it listens to.
        queued: events waiting in its backlog now.
        queued_by_priority: backlog per priority level (non-empty levels only).
        received: events that matched and were offered to it.
        delivered: events its handler completed (or the iterator yielded).
        dropped: events dropped, by reason (``overflow``, ``bad_payload``).
        expired: events dropped because their TTL ran out before dispatch.
        failed: handler attempts that raised.
        dead_lettered: events given up on after ``max_attempts``.
        max_size: the backlog's bound.
    """

    patterns: tuple[str, ...]
    queued: int
    queued_by_priority: dict[int, int] = field(default_factory=dict)
    received: int
    delivered: int
    dropped: dict[str, int] = field(default_factory=dict)
    expired: int
    failed: int
    dead_lettered: int
    max_size: int = 0


def _check_credit(max_in_flight: object, group: str | None, concurrency: int) -> None:
    if group is None:
        raise UsageError("max_in_flight= is a queue-group member's credit: pass group= too")
    if type(max_in_flight) is not int or not 1 <= max_in_flight <= 100_000:
        raise UsageError(f"max_in_flight={max_in_flight!r}: expected an int in 1..100000")
    if max_in_flight < concurrency:
        raise UsageError(
            f"max_in_flight={max_in_flight} is below concurrency={concurrency}: the member could never run "
            f"{concurrency} at once; make max_in_flight at least {concurrency}"
        )


class Subscription:
    """A live subscription. Created by ``Node.subscribe`` (or ``on`` / ``on_pattern`` / ``stream``)."""

    def __init__(
        self,
        patterns: list[TopicPattern | RegexPattern],
        *,
        handler: Handler | None,
        filter: Mapping[str, Any] | None,
        max_size: int,
        overflow: Overflow | str,
        concurrency: int = 1,
        on_close: Callable[[Subscription], Awaitable[None]] | None = None,
        max_bytes: int = 0,
        group: str | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        if not patterns:
            raise UsageError("subscribe needs at least one pattern, e.g. subscribe('order.*', handler=...)")
        if handler is not None and not callable(handler):
            hint = " (pass the function, not its result)" if asyncio.iscoroutine(handler) else ""
            raise UsageError(f"handler={handler!r:.60} is not callable{hint}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise UsageError(f"concurrency={concurrency!r}: expected an int ≥ 1")
        try:
            policy = Overflow(overflow)
        except ValueError:
            choices = ", ".join(o.value for o in Overflow)
            raise UsageError(f"overflow={overflow!r}: expected one of {choices}") from None
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise UsageError(f"max_size={max_size!r}: expected an int ≥ 1")
        if group is not None and (not isinstance(group, str) or not 0 < len(group.encode()) <= 255):
            raise UsageError(f"group={group!r}: expected a name of 1 to 255 UTF-8 bytes")
        if max_in_flight is not None:
            _check_credit(max_in_flight, group, concurrency)
        self.patterns = tuple(patterns)
        #: the queue group: each matching event goes to one member of it (``zbus.inbound.groups``)
        self.group = group
        #: a group member's own credit (``None``: ``groups.max_in_flight``)
        self.max_in_flight = max_in_flight
        self.handler = handler
        #: when it was made (``time.monotonic()``): publishers that start later are followed from
        #: their first event (the join rule, see ``Subscriptions.interest_since``)
        self.created = time.monotonic()
        self.predicate: Callable[[Event], bool] | None = compile_filter(filter) if filter else None
        self.concurrency = concurrency
        # bytes: the payload as received (an event published on this node costs its own memory)
        self._buffer: PriorityBuffer[Event] = PriorityBuffer(
            max_size, policy, max_bytes=max_bytes, size=_wire_size
        )
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._line: deque[object] = deque()  # puts waiting for room, in arrival order
        #: set by the dispatcher for a sync handler run one event at a time: ``offer`` calls it with an
        #: event that arrives while nothing is queued and the runner waits, so the handler runs at once,
        #: without a task wake-up (Rule 1 of ``zbus.delivery.dispatch``)
        self.direct: Callable[[Event], None] | None = None
        self._waiting = False  # the runner waits in take() with nothing queued
        self._handed_back: tuple[Event, Any] | None = None  # a direct call that needs the runner
        #: the first attempt's outcome of the event ``take`` just returned, if it was handed back
        self.first_outcome: Any = None
        self._closed = False
        self._on_close = on_close
        self._stats_received = 0
        self._stats_delivered = 0
        self._stats_expired = 0
        self._stats_failed = 0
        self._stats_dead_lettered = 0
        self._stats_dropped = Drops(f"subscription {self.describe()!r}")
        #: replay / durable subscriptions: the gate that holds live events until history is in
        self.gate: Admission | None = None

    def credit(self, default: int) -> int:
        """The credit this group member announces: its ``max_in_flight`` (``default`` if unset), but
        no more than its backlog's ``max_size`` (a DELIVER's events are all queued before the first is
        handled). So one publisher never sends it more than it can queue: it would give the surplus
        back, and each give-back counts toward ``groups.max_deliver``."""
        return min(self.max_in_flight or default, self._buffer.max_size)

    @property
    def max_size(self) -> int:
        """The backlog's bound in events."""
        return self._buffer.max_size

    # -- producer side (the node's router) ----------------------------------------------------
    def offer(self, event: Event, direct: bool = True) -> bool:
        """Queue ``event``, or with ``direct`` (and Rule 1 of ``zbus.delivery.dispatch`` in force)
        hand it to the handler now. Returns False only under ``Overflow.BLOCK`` when full, or when
        earlier events already wait for room (the caller then waits with :meth:`put`, in line)."""
        if self._closed:
            return True
        if self._line:  # first come, first queued: an event never overtakes one waiting for room
            return False
        if direct and self._waiting and self.direct is not None and not self._buffer:
            self._stats_received += 1
            self.direct(event)
            return True
        try:
            dropped = self._buffer.push(event, event._priority)
        except PriorityBuffer.Full:
            self._space.clear()
            return False
        self._stats_received += 1
        for evicted in dropped:
            full = f"{self._buffer.max_size} events or {self._buffer.max_bytes} bytes"
            self._stats_dropped.drop("overflow", f"backlog full ({full}, {self._buffer.overflow})")
            receipt = getattr(evicted, "_receipt", None)
            if receipt is not None:  # a queue group's delivery: given back to its publisher at once
                receipt.nack(0.0)
        self._ready.set()
        return True

    def _finished(self, event: Event) -> None:
        if self.gate is not None:  # a durable subscription's watermark may advance
            self.gate.finished(event)

    def done(self, event: Event, outcome: Outcome = Outcome.DELIVERED) -> int:
        """The consumer is done with ``event`` (taken with :meth:`take`); count ``outcome``.

        Returns the number of events delivered so far (the dispatcher samples latency with it).
        """
        if outcome is Outcome.DELIVERED:
            self._stats_delivered += 1
        elif outcome is Outcome.DEAD_LETTERED:
            self._stats_dead_lettered += 1
        elif outcome is Outcome.EXPIRED:
            self._stats_expired += 1
        else:
            self._stats_dropped.drop(outcome.value)
        if self.gate is not None:
            self.gate.finished(event)
        return self._stats_delivered

    def attempt_failed(self) -> None:
        """A handler attempt raised (the event may still be retried)."""
        self._stats_failed += 1

    async def put(self, event: Event) -> None:
        """Queue ``event`` under ``overflow="block"``, waiting for room in arrival order (so events
        released in stream order stay in order, whichever path released them)."""
        turn = object()
        self._line.append(turn)
        try:
            while self._line[0] is not turn or not self.offer_first(event):
                self._space.clear()
                await self._space.wait()
        finally:
            self._line.remove(turn)
            if self._line:
                self._space.set()  # the next in line looks again

    def offer_first(self, event: Event) -> bool:
        """:meth:`offer` for the head of the line (see :meth:`put`)."""
        line, self._line = self._line, deque()
        try:
            return self.offer(event)
        finally:
            self._line = line

    def has_room(self) -> bool:
        """True when an event offered now would be queued without dropping one (a queue group
        member gives a delivery back instead of overflowing)."""
        return not self._closed and not self._line and not self._buffer.is_full()

    async def wait_space(self) -> None:
        """Wait until the backlog has room (``overflow="block"``) or the subscription closes."""
        while self._buffer.is_full() and not self._closed:
            self._space.clear()
            await self._space.wait()

    # -- consumer side -------------------------------------------------------------------------
    def take_ready(self) -> Event | None:
        """The next deliverable event if one is queued (expired ones are dropped and counted).

        The caller owns it until it calls :meth:`done`."""
        if self._handed_back is not None:
            return self._take_handed_back()
        buffer = self._buffer
        while buffer:
            event = buffer.pop()
            if not self._space.is_set():
                self._space.set()
            if event._expires_at is not None and time.time() >= event._expires_at:
                self._stats_expired += 1
                self._finished(event)
                continue
            return event
        return None

    async def take(self) -> Event:
        """Wait for the next deliverable event; the caller calls :meth:`done` when finished with it.

        Raises:
            ClosedError: the subscription was closed and its backlog is empty.
        """
        while True:
            if self._handed_back is not None:
                return self._take_handed_back()
            if self._buffer:
                event = self._buffer.pop()
                if not self._space.is_set():
                    self._space.set()
                if event._expires_at is not None and time.time() >= event._expires_at:
                    self._stats_expired += 1  # TTL ran out while queued: never delivered
                    self._finished(event)
                    continue
                return event
            if self._closed:
                raise ClosedError(f"subscription {self.describe()} is closed")
            self._ready.clear()
            self._waiting = True
            try:
                await self._ready.wait()
            finally:
                self._waiting = False

    def drop_expired(self, event: Event) -> None:
        """``event``'s TTL ran out before it was delivered: count it; it is never delivered."""
        self._stats_expired += 1
        self._finished(event)

    def hand_back(self, event: Event, first_outcome: Any) -> None:
        """A direct call could not finish ``event`` (it raised, or returned an awaitable): the runner
        takes it next with :attr:`first_outcome` set, and events arriving meanwhile queue behind it."""
        self._handed_back = (event, first_outcome)
        self._waiting = False
        self._ready.set()

    def _take_handed_back(self) -> Event:
        assert self._handed_back is not None
        (event, self.first_outcome), self._handed_back = self._handed_back, None
        return event

    def next_nowait(self) -> Event:
        """Return the next queued event without waiting.

        Raises:
            WouldBlockError: nothing is queued.
            ClosedError: the subscription was closed and its backlog is empty.
        """
        if self.handler is not None:
            raise UsageError("this subscription has a handler; events go to it, not to next_nowait()")
        while self._buffer:
            event = self._buffer.pop()
            self._space.set()
            if event._expires_at is not None and time.time() >= event._expires_at:
                self._stats_expired += 1
                self._finished(event)
                continue
            self._stats_delivered += 1
            if self.gate is not None:  # taken: acknowledged
                self.gate.finished(event)
            return event
        if self._closed:
            raise ClosedError(f"subscription {self.describe()} is closed")
        raise WouldBlockError(f"no event queued on subscription {self.describe()}; use await sub.next()")

    async def next(self, timeout: float | None = None) -> Event:
        """Wait for the next event (most urgent first).

        Args:
            timeout: seconds to wait; ``None`` waits forever.

        Raises:
            WaitTimeout: nothing arrived within ``timeout`` (also a ``TimeoutError``).
            ClosedError: the subscription was closed and its backlog is empty.
        """
        if self.handler is not None:
            raise UsageError("this subscription has a handler; events go to it, not to next()")
        try:
            event = await asyncio.wait_for(self.take(), timeout)
        except TimeoutError:
            raise WaitTimeout(f"no event on {self.describe()} within {timeout} s") from None
        self._stats_delivered += 1
        self._finished(event)  # taken: acknowledged
        return event

    def __aiter__(self) -> AsyncIterator[Event]:
        if self.handler is not None:
            raise UsageError("this subscription has a handler; events go to it, not to iteration")
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            try:
                event = await self.take()
            except ClosedError:
                return
            self._stats_delivered += 1
            yield event
            self._finished(event)  # the loop came back for more: done with this one

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once unsubscribed."""
        return self._closed

    async def unsubscribe(self) -> None:
        """Stop receiving. Queued events stay readable by ``next``/iteration; handlers stop now."""
        if self._closed:
            return
        self._closed = True
        self._ready.set()
        self._space.set()
        if self._on_close is not None:
            await self._on_close(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.unsubscribe()

    def describe(self) -> str:
        """The patterns as one string, e.g. ``"order.*,payment.**"``."""
        return ",".join(p.pattern for p in self.patterns)

    def statistics(self) -> SubscriptionStatistics:
        """Return a snapshot of the counters (see ``SubscriptionStatistics``)."""
        return SubscriptionStatistics(
            patterns=tuple(p.pattern for p in self.patterns),
            queued=len(self._buffer),
            queued_by_priority=self._buffer.depth_by_priority(),
            received=self._stats_received,
            delivered=self._stats_delivered,
            dropped=dict(self._stats_dropped),
            expired=self._stats_expired,
            failed=self._stats_failed,
            dead_lettered=self._stats_dead_lettered,
            max_size=self._buffer.max_size,
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<zbus.Subscription {self.describe()!r} {state} queued={len(self._buffer)}>"


def _wire_size(event: Event) -> int:
    raw = event._payload_raw
    return 0 if raw is None else len(raw)
