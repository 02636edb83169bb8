"""ReplayPull: one publisher's history pulled into one subscription, then its live events. Pure.

Rule 1: everything that decides what a replay pull asks for, delivers, holds back or reports lost lives
in this file. The caller (:class:`zbus.inbound.replay.ReplayGate`) feeds in what arrives and the time,
and carries out the returned actions in order (awaiting each delivery: that order *is* the protocol).
Rule 2: this file knows no sockets, no asyncio, no clock and no wire format: asks are plain values the
caller encodes (:class:`SendReplay`, :class:`SendRepair`), ``now`` is an argument, timings are given to
the constructor.
Rule 3: per stream (this publisher, a topic) the subscription gets each event at most once and in order,
history first and then the held live events after the replayed head; what it cannot get is reported as
:class:`~zbus.protocol.repair.LostEvents`. Never silence.
Rule 4: every wait is bounded: ``plan_attempts`` tries of ``plan_timeout`` for the plan,
``pull_attempts`` tries (timeouts or answers that bring nothing) of ``pull_timeout`` per chunk,
``hole_rounds`` rounds of holes, ``hold_limit`` held live events.

Theory of operation. A pull moves through four states, one way (``_TRANSITIONS``):

- ``PLANNING``: :meth:`ReplayPull.start` asks the publisher, once per pattern, which of its streams
  match and from where (REPLAY). When a plan has arrived for every pattern (:meth:`~ReplayPull.on_plan`)
  the ranges (topic → first..head) are pulled. After ``plan_attempts`` timeouts the publisher is taken to
  have no (more) history: :class:`PlanGivenUp`, and what arrived is pulled.
- ``PULLING``: one chunk at a time, in topic order, ``SendRepair(topic, pos, head)``. A range starts at
  the planned first sequence or at the oldest live event held for its topic that belongs to the history
  asked for (stamped at or after ``since``; never with ``last``, never below a durable checkpoint's
  start), whichever is lower: a burst that overran the publisher's ring before the plan was made is
  still history, and a held event fills its place when the publisher no longer has it. The publisher sends
  the events it has (:meth:`~ReplayPull.on_data`, kept by sequence) and then a REPAIR_DONE
  (:meth:`~ReplayPull.on_done`: the last sequence the chunk covers and the ranges it does not have). The
  contiguous events from ``pos`` are delivered, ranges it does not have are reported lost, and the next
  chunk starts at the first sequence not settled (an event lost in transit is asked for again).
- ``FILLING``: live events of the publisher that arrive meanwhile are held (:meth:`~ReplayPull.live`).
  Between a topic's replayed head and its first held event there can be a hole (events in flight when
  the plan was made, or let go of a full hold); holes are pulled like ranges, in rounds, until a round
  finds none.
- ``DONE``: the replayed heads become the streams' baselines (:class:`Expect`) and the held events after
  them are released (one :class:`Deliver`). From then on a live event passes unless it was replayed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from ..errors import LocalProtocolError
from ..model.event import Event
from .repair import LostEvents

__all__ = [
    "Deliver",
    "Expect",
    "PlanGivenUp",
    "PullAction",
    "PullState",
    "ReplayPull",
    "SendRepair",
    "SendReplay",
]

#: why a range is reported lost
NOT_HELD = "replay: not in the publisher's journal"
NO_ANSWER = "replay: no answer"


class PullState(Enum):
    """Where a replay pull is (see the module docstring)."""

    #: asking the publisher which ranges to pull
    PLANNING = "planning"
    #: pulling the planned ranges, one chunk at a time
    PULLING = "pulling"
    #: pulling the holes between the replayed heads and the held live events
    FILLING = "filling"
    #: finished: live events pass
    DONE = "done"


_TRANSITIONS: dict[PullState, frozenset[PullState]] = {
    PullState.PLANNING: frozenset({PullState.PULLING, PullState.DONE}),
    PullState.PULLING: frozenset({PullState.FILLING, PullState.DONE}),
    PullState.FILLING: frozenset({PullState.DONE}),
    PullState.DONE: frozenset(),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReplay:
    """Ask the publisher for its plan of streams matching ``pattern`` (REPLAY)."""

    pattern: str
    since: float
    last: int
    start: Mapping[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRepair:
    """Ask the publisher for events ``first``..``last`` of ``topic`` (REPAIR with the pull's id)."""

    topic: str
    first: int
    last: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliver:
    """Offer these events to the subscription, in order, waiting for space (nothing is dropped).

    ``replayed`` is True for pulled history, False for released live events."""

    events: tuple[Event, ...]
    replayed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Expect:
    """The stream ``topic`` of the publisher continues at ``next_seq`` (a baseline for gap repair)."""

    topic: str
    next_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanGivenUp:
    """No (complete) plan after ``attempts`` tries: the history not planned is not replayed."""

    attempts: int


PullAction = SendReplay | SendRepair | Deliver | LostEvents | Expect | PlanGivenUp


@dataclass(slots=True)
class _Range:
    topic: str
    pos: int  # the next sequence to settle
    head: int  # the last sequence of the range
    tries: int = 0  # timeouts and fruitless answers in a row


@dataclass(slots=True)
class _Hold:
    events: deque[Event] = field(default_factory=deque)  # live events waiting for the replay
    dropped: dict[str, tuple[int, int]] = field(default_factory=dict)  # per topic, the seqs let go
    by_seq: dict[tuple[str, int], Event] = field(default_factory=dict)  # the same events, to fill ranges


class ReplayPull:
    """Replays publisher ``peer_id``'s history for ``patterns`` (see the module docstring).

    Args:
        peer_id: the publisher's node id.
        patterns: the subscription's patterns; one plan is asked for each.
        since: history from this UNIX time (0 = all kept); ``last``: or the newest N per topic (0 = off).
        start: per topic, the first sequence wanted (a durable subscription's checkpoint + 1).
        hold_limit: live events held while pulling; beyond that the oldest is let go and pulled later.
        hole_rounds: rounds of hole pulling (``repair.hole_rounds``).
        plan_timeout: seconds per plan try; ``plan_attempts`` tries.
        pull_timeout: seconds per chunk try; ``pull_attempts`` tries before a range is reported lost.
    """

    def __init__(
        self,
        peer_id: str,
        patterns: Iterable[str],
        *,
        since: float = 0.0,
        last: int = 0,
        start: Mapping[str, int] | None = None,
        hold_limit: int = 100_000,
        hole_rounds: int = 8,
        plan_timeout: float = 3.0,
        plan_attempts: int = 3,
        pull_timeout: float = 5.0,
        pull_attempts: int = 3,
    ) -> None:
        self.peer_id = peer_id
        self.patterns = tuple(patterns)
        self.since, self.last = since, last
        self.start_at: Mapping[str, int] = dict(start or {})
        self.hold_limit, self.hole_rounds = hold_limit, hole_rounds
        self.plan_timeout, self.plan_attempts = plan_timeout, plan_attempts
        self.pull_timeout, self.pull_attempts = pull_timeout, pull_attempts
        self.state = PullState.PLANNING
        #: when the awaited answer is late (``math.inf``: nothing awaited); call :meth:`tick` then
        self.deadline = math.inf
        #: per topic, the last sequence replayed (or settled as lost)
        self.heads: dict[str, int] = {}
        self.let_go = 0  # live events let go of a full hold (pulled again)
        self._started = False
        self._plan_tries = 0
        self._plans = 0  # plans arrived in this try
        self._planned: dict[str, tuple[int, int]] = {}
        self._todo: deque[_Range] = deque()  # planned ranges not started
        self._range: _Range | None = None  # the range being pulled
        self._chunk: dict[int, Event] = {}  # pulled events of the current range, by sequence
        self._hold = _Hold()
        self._round = 0  # hole rounds started
        self._round_pulled = False
        self._fill: deque[str] = deque()  # topics still to look at in this hole round

    def __repr__(self) -> str:
        return f"<ReplayPull {self.peer_id} {self.state.name} held={len(self._hold.events)}>"

    # -- inputs -------------------------------------------------------------------------------------
    def start(self, now: float) -> list[PullAction]:
        """Begin: ask for the plan. Call once.

        Raises:
            LocalProtocolError: the pull was started before.
        """
        if self._started:
            raise LocalProtocolError(f"replay pull from {self.peer_id}: start in state {self.state.name}")
        self._started = True
        return self._ask_plans(now)

    def on_plan(self, streams: Mapping[str, tuple[int, int]], now: float) -> list[PullAction]:
        """A plan arrived: per matching topic, the range ``(first, head)`` the publisher holds."""
        if self.state is not PullState.PLANNING or not self._started:
            return []  # a late answer to a try given up on
        self._planned.update(streams)
        self._plans += 1
        if self._plans < len(self.patterns):
            return []
        return self._pull_planned(now, [])

    def on_data(self, event: Event) -> None:
        """A pulled event arrived (it is used when its chunk's :meth:`on_done` comes). Events of the
        range being pulled are kept whichever ask brought them (a late answer is as good as any)."""
        r = self._range
        if r is not None and event._topic == r.topic and event._node_id == self.peer_id:
            self._chunk[event._seq] = event

    def on_done(
        self, topic: str, first: int, last: int, missing: Iterable[tuple[int, int]], now: float
    ) -> list[PullAction]:
        """The answer to ``SendRepair(topic, first, ...)`` is complete: it covered ``first``..``last``
        and the publisher does not have the ``missing`` ranges. Answers to other asks are ignored."""
        r = self._range
        if r is None or r.topic != topic or r.pos != first or self.deadline == math.inf:
            return []
        actions: list[PullAction] = []
        chunk = self._chunk
        self.deadline = math.inf
        gaps = sorted(missing)
        batch: list[Event] = []
        start = r.pos
        while r.pos <= last:
            event = chunk.pop(r.pos, None) or self._hold.by_seq.get((topic, r.pos))
            if event is not None:
                batch.append(event)
                r.pos += 1
                continue
            gone = next((g for g in gaps if g[0] <= r.pos <= g[1]), None)
            if gone is None:
                break  # lost in transit: asked for again from here
            if batch:
                actions.append(Deliver(events=tuple(batch), replayed=True))
                batch = []
            actions.append(LostEvents(self.peer_id, topic, r.pos, gone[1], NOT_HELD))
            r.pos = gone[1] + 1
        if batch:
            actions.append(Deliver(events=tuple(batch), replayed=True))
        if r.pos > start:
            r.tries = 0
            self.heads[topic] = r.pos - 1
        else:
            r.tries += 1
            if r.tries >= self.pull_attempts:
                self._settle_lost(r, NOT_HELD, actions)
        return self._advance(now, actions)

    def tick(self, now: float) -> list[PullAction]:
        """Time passed: ask again, or give up, when the awaited answer is late (at ``deadline``)."""
        if now < self.deadline:
            return []
        actions: list[PullAction] = []
        if self.state is PullState.PLANNING:
            if self._plan_tries < self.plan_attempts:
                return self._ask_plans(now)
            actions.append(PlanGivenUp(attempts=self._plan_tries))
            return self._pull_planned(now, actions)
        r = self._range
        if r is None:  # nothing was awaited (cannot happen with a finite deadline)
            self.deadline = math.inf
            return actions
        r.tries += 1
        if r.tries >= self.pull_attempts:
            self._settle_lost(r, NO_ANSWER, actions)
        return self._advance(now, actions)

    def sent(self, now: float) -> None:
        """The caller sent the last ask just now (after delivering what came before it, which may
        have waited for backlog space): its answer is due a full timeout from ``now``."""
        if self.deadline != math.inf:
            timeout = self.plan_timeout if self.state is PullState.PLANNING else self.pull_timeout
            self.deadline = now + timeout

    def live(self, event: Event) -> bool:
        """A live event of this publisher: True to offer it now; False when it is held back (until
        the pull is done) or was replayed already (it was still in flight on the live path)."""
        if self.state is PullState.DONE:
            return event._seq > self.heads.get(event._topic, 0)
        hold = self._hold
        hold.events.append(event)
        hold.by_seq[(event._topic, event._seq)] = event
        if len(hold.events) > self.hold_limit:  # memory stays bounded: the oldest is pulled again later
            old = hold.events.popleft()
            hold.by_seq.pop((old._topic, old._seq), None)
            self.let_go += 1
            low, _ = hold.dropped.get(old._topic, (old._seq, 0))
            hold.dropped[old._topic] = (low, old._seq)
        return False

    def stop(self) -> list[PullAction]:
        """The subscription is closing: finish now (baselines and held events as far as they go)."""
        return [] if self.state is PullState.DONE else self._finish([])

    # -- queries ------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Whether the pull is over (live events pass)."""
        return self.state is PullState.DONE

    def held(self) -> int:
        """Live events held back now."""
        return len(self._hold.events)

    # -- internals ----------------------------------------------------------------------------------
    def _go(self, state: PullState, why: str) -> None:
        if state not in _TRANSITIONS[self.state]:
            raise LocalProtocolError(
                f"replay pull from {self.peer_id}: no move {self.state.name} -> {state.name} on {why}"
            )
        self.state = state

    def _ask_plans(self, now: float) -> list[PullAction]:
        self._plan_tries += 1
        self._plans = 0
        self._planned.clear()
        self.deadline = now + self.plan_timeout
        start = dict(self.start_at)
        return [SendReplay(pattern=p, since=self.since, last=self.last, start=start) for p in self.patterns]

    def _pull_planned(self, now: float, actions: list[PullAction]) -> list[PullAction]:
        self._go(PullState.PULLING, "plan")
        # per topic, the oldest live event held (or let go of the hold) that belongs to the requested
        # history: never with ``last`` (the plan's newest N is the window), held ones stamped at or after
        # ``since``, let-go ones (whose time is unknown) when everything or a checkpoint is asked for
        oldest: dict[str, int] = {}
        if not self.last:
            for (topic, seq), event in self._hold.by_seq.items():
                if event._ts >= self.since:
                    oldest[topic] = min(seq, oldest.get(topic, seq))
            for topic, (low, _high) in self._hold.dropped.items():
                if not self.since or topic in self.start_at:
                    oldest[topic] = min(low, oldest.get(topic, low))
        for t, (first, head) in sorted(self._planned.items()):
            first = min(first, max(oldest.get(t, first), self.start_at.get(t, 0)))
            self._todo.append(_Range(t, first, head))
        return self._advance(now, actions)

    def _settle_lost(self, r: _Range, why: str, actions: list[PullAction]) -> None:
        """Give up the rest of range ``r``: reported lost, and the stream moves past it."""
        actions.append(LostEvents(self.peer_id, r.topic, r.pos, r.head, why))
        self.heads[r.topic] = max(self.heads.get(r.topic, 0), r.head)
        r.pos = r.head + 1

    def _advance(self, now: float, actions: list[PullAction]) -> list[PullAction]:
        """Ask for the next chunk, or move on to the next range, the holes, or the end."""
        while True:
            r = self._range
            if r is not None and r.pos <= r.head:
                self.deadline = now + self.pull_timeout
                actions.append(SendRepair(topic=r.topic, first=r.pos, last=r.head))
                return actions
            self._range = None
            self._chunk = {}
            if self._todo:
                self._range = self._todo.popleft()
                continue
            if self.state is PullState.PULLING:
                self._go(PullState.FILLING, "the planned ranges pulled")
            hole = self._next_hole()
            if hole is None:
                return self._finish(actions)
            self._range = hole

    def _next_hole(self) -> _Range | None:
        """The next range between a topic's replayed head and its first held event, round by round
        (a round looks at each topic once; the next round only if this one pulled something)."""
        hold = self._hold
        while True:
            while self._fill:
                topic = self._fill.popleft()
                head = self.heads.get(topic, 0)
                held = [e._seq for e in hold.events if e._topic == topic and e._seq > head]
                low, high = hold.dropped.pop(topic, (0, 0))
                first = head + 1 if head else low
                end = min(held) - 1 if held else high
                if first and end >= first:
                    self._round_pulled = True
                    return _Range(topic, first, end)
            if (self._round and not self._round_pulled) or self._round >= self.hole_rounds:
                return None
            self._round += 1
            self._round_pulled = False
            self._fill.extend(sorted({e._topic for e in hold.events} | set(hold.dropped)))
            if not self._fill:
                return None

    def _finish(self, actions: list[PullAction]) -> list[PullAction]:
        self._go(PullState.DONE, "finish")
        self.deadline = math.inf
        self._range = None
        self._todo.clear()
        actions.extend(Expect(topic=t, next_seq=head + 1) for t, head in self.heads.items())
        held, self._hold.events = self._hold.events, deque()
        self._hold.by_seq = {}
        heads = self.heads
        release = tuple(e for e in held if e._seq > heads.get(e._topic, 0))
        if release:
            actions.append(Deliver(events=release, replayed=False))
        return actions
