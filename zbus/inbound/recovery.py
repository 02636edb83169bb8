"""Recovery: gap repair and loss reporting for one node, both as subscriber and as publisher.

As a subscriber it runs every inbound broadcast event through :class:`~zbus.protocol.repair.StreamSync`
(per-stream order, duplicates dropped, gaps and heartbeat-reported tails asked for with REPAIR, what
cannot be had reported as lost). As a publisher it answers REPAIR from its
:class:`~zbus.journal.history.History`
(recent-event ring, then journal) and REPLAY with a plan of ranges (used by ``subscribe(replay=...)`` and
durable subscriptions, see :mod:`zbus.inbound.replay`). It talks to sockets only through the ``Transport``
it is given, with the timings of its ``[repair]`` settings (:class:`~zbus.config.RepairConfig`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from ..codec import wire
from ..codec.control import Kind, RepairAsk, RepairDone, ReplayAsk, ReplayPlan
from ..config import LimitsConfig, RepairConfig
from ..errors import PeerLostError, WireError, ZbusError
from ..journal.history import MAX_SERVE, History
from ..model.event import Event
from ..model.peer import PeerInfo
from ..observe.drops import Drops
from ..protocol.repair import Actions, LostEvents, StreamSync
from ..tasks import TaskGroup, in_order
from ..transport.base import Transport

__all__ = ["LostEvents", "Puller", "Recovery"]

log = logging.getLogger("zbus")

#: REPAIR_DATA's first frame: the request id, so answers to replay pulls find their puller (wire format)
#: unrepairable ranges kept for the dashboard (counters keep every loss; this is only what is shown)
RECENT_LOSSES = 20
_ID_BYTES = 8


class Puller(Protocol):
    """What answers to a request id other than 0 go to (a replay pull or a heads query).

    ``via`` is the peer asked and ``origin`` the publisher whose streams are pulled: the same node,
    except when pulling a recording of ``origin``'s streams from the recorder ``via``.
    """

    via: str
    origin: str

    def on_plan(self, sender: str, plan: ReplayPlan) -> None:
        """A REPLAY_PLAN from peer ``sender``."""

    def on_data(self, event: Event) -> None:
        """A pulled event (REPAIR_DATA), already checked to come from its publisher."""

    def on_done(self, done: RepairDone) -> None:
        """The end of one pulled chunk (REPAIR_DONE)."""


class Recovery:
    """Repairs what the mesh dropped and says what it could not repair."""

    def __init__(
        self,
        *,
        node_id: str,
        history: History,
        transport: Transport,
        config: RepairConfig,
        limits: LimitsConfig | None = None,
        route_all: Callable[[list[Event]], Awaitable[None] | None],
        route_one: Callable[[Event], Awaitable[None] | None],
        has_interest: Callable[[str], bool],
        interest_since: Callable[[str], float | None] | None = None,
        listeners: list[Callable[[LostEvents], Any]] | None = None,
    ) -> None:
        self.node_id = node_id
        self.history = history
        self.transport = transport
        self.config = config
        limits = LimitsConfig() if limits is None else limits
        self.sync: StreamSync[Event] = StreamSync(
            max_pending=config.window,
            repair_timeout=config.timeout,
            max_span=config.max_span,
            clock=time.monotonic,
            baseline=self._baseline,
            max_jump=limits.max_seq_jump,
            max_streams=limits.max_streams_per_peer,
        )
        self.refused: Drops = Drops("streams")  # events no stream took (Rule 7 of protocol/repair.py)
        self._interest_since = interest_since or (lambda topic: None)
        self._peer_info: dict[str, PeerInfo] = {}  # the peers at the last peers_changed, by id
        self._route_all = route_all
        self._route_one = route_one
        self._has_interest = has_interest
        self._tasks = TaskGroup("recovery")
        self._ticker: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[LostEvents], Any]] = [] if listeners is None else listeners
        #: replay pulls and heads queries by request id: where REPAIR_DATA / REPAIR_DONE / REPLAY_PLAN go
        self.pulls: dict[int, Puller] = {}
        #: with security on, the transport's check of an event's (node id, source): see ``Router``
        self.authentic: Callable[[str, str], bool] | None = None
        self._next_id = 1
        self.gaps = 0  # holes detected (each one asked for)
        self.repaired = 0  # events recovered by repair
        self.lost = 0  # events reported lost
        self.duplicates = 0
        self._stalled = 0  # routes waiting for backlog space right now
        self._absent: dict[str, float] = {}  # publishers we wait for, since when
        self._present: set[str] = set()  # peers seen at the last peers_changed
        #: peers that went silent (expired: a partition or a crash) with their streams kept, since when
        self._away: dict[str, float] = {}
        #: the newest unrepairable ranges: (UNIX seconds, publisher id, topic, events lost)
        self.recent_losses: deque[tuple[float, str, str, int]] = deque(maxlen=RECENT_LOSSES)

    # -- subscriber side -----------------------------------------------------------------------------
    def observe(self, event: Event) -> Awaitable[None] | None:
        """A live broadcast event: release it (and what it unblocks) in order, or hold it."""
        actions = self.sync.observe(event._node_id, event._epoch, event._topic, event._seq, event)
        if actions is None:
            pending = self._route_one(event)
            return None if pending is None else self._stall(pending)
        return self.apply(actions, peer=event._node_id)

    def observe_batch(self, events: list[Event]) -> Awaitable[None] | None:
        """Live events of one publisher and one topic that arrived together (a batch message), in
        order: when they are the stream's next ones, one check and one routing call for all of them;
        otherwise each goes through :meth:`observe`."""
        first = events[0]
        epoch, seq = first._epoch, first._seq
        if (
            all(e._epoch == epoch for e in events)
            and [e._seq for e in events] == list(range(seq, seq + len(events)))
            and self.sync.take_run(first._node_id, epoch, first._topic, seq, len(events))
        ):
            pending = self._route_all(events)
            return None if pending is None else self._stall(pending)
        return in_order(events, self.observe)

    def counted(self) -> dict[str, int]:
        """Events not taken, by reason: duplicates, and what Rule 7 of protocol/repair.py refused."""
        return {**({"duplicate": self.duplicates} if self.duplicates else {}), **self.refused}

    def apply(self, actions: Actions[Event], peer: str = "") -> Awaitable[None] | None:
        """Carry out what StreamSync decided: ask, report, then release (a refusal is counted for
        ``peer``, the live event's publisher, when given)."""
        if actions.duplicate:
            self.duplicates += 1
        if actions.refused:
            self.refused.drop(actions.refused, peer=peer)
        if actions.repairs:
            self.gaps += len(actions.repairs)
            for req in actions.repairs:
                ask = RepairAsk(id=0, topic=req.topic, first=req.first, last=req.last)
                self.spawn(self.send(req.node_id, Kind.REPAIR, [ask.encode()]), "repair-ask")
            self._ensure_ticker()
        for lost in actions.lost:
            self.report(lost)
        pending = self._route_all(actions.deliver) if actions.deliver else None
        return None if pending is None else self._stall(pending)

    async def _stall(self, pending: Awaitable[None]) -> None:
        """Await a full (``block``) backlog, noting meanwhile that this node is not reading: answers
        to our repairs may sit unread, so their timeouts must not count against the publisher."""
        self._stalled += 1
        try:
            await pending
        finally:
            self._stalled -= 1

    def on_heartbeat(self, node_id: str, epoch: int, heads: dict[str, int]) -> None:
        """A peer's recent stream heads: anything beyond what we hold is tail loss to repair. Not
        while a full ``block`` backlog stalls our reading: the tail is then most likely waiting in
        our own socket, and asking for it again would only duplicate work (a later beat asks)."""
        if not self._stalled:
            self._heads(node_id, epoch, heads, ask=True)

    def _heads(self, node_id: str, epoch: int, heads: dict[str, int], *, ask: bool) -> None:
        now = time.monotonic()
        for topic, head in heads.items():
            if self._has_interest(topic):
                pending = self.apply(self.sync.heartbeat(node_id, epoch, topic, head, now, ask=ask))
                if pending is not None:
                    self.spawn(_awaited(pending), "repair-route")

    def _baseline(self, node_id: str, topic: str) -> int | None:
        """The join rule (StreamSync Rule 2): a stream of a publisher whose incarnation started after
        our oldest subscription to its topic starts at the incarnation's first event, so what the
        ZeroMQ slow-joiner window dropped is repaired; otherwise (we subscribed later, or the peer did
        not say when it started) it starts at what we see."""
        peer = self._peer_info.get(node_id)
        if peer is None or peer.started is None or peer.base is None:
            return None
        since = self._interest_since(topic)
        if since is None or since > peer.started:
            return None
        return peer.base.get(topic, 0) + 1

    def on_bye(self, node_id: str, heads: dict[str, int]) -> None:
        """A peer is leaving with these final heads: repair the tail we miss, like a heartbeat's. They
        are remembered even while a full ``block`` backlog stalls our reading (then without asking, as
        for a heartbeat), so what the leaving publisher could not send any more is reported lost
        when it is gone, never missing in silence."""
        self._heads(node_id, 0, heads, ask=not self._stalled)

    def has_tail(self, node_id: str, heads: dict[str, int]) -> bool:
        """Every followed stream of ``node_id`` is released (delivered or reported lost) up to
        ``heads``. A stream we do not follow, or never saw under the join rule, owes nothing."""
        sync = self.sync
        for topic, head in heads.items():
            next_seq = sync.next_seq(node_id, topic)
            if next_seq and next_seq <= head and self._has_interest(topic):
                return False
        return True

    def peers_changed(self, peers: list[PeerInfo]) -> None:
        """A journaled publisher that (re)joins may have published while we could not hear it, and its
        heartbeats only carry recent heads: ask it for the heads of the streams we follow (REPLAY with
        each stream's next sequence as start; the plan's heads are treated like a heartbeat's)."""
        present = {p.id for p in peers}
        self._peer_info = {p.id: p for p in peers}
        now = time.monotonic()
        for node_id in self._present - present:  # went silent: its streams are kept (see keep_away)
            if self.sync.expected(node_id):
                self._away.setdefault(node_id, now)
        for node_id in present:
            self._away.pop(node_id, None)
        for node_id in [n for n, since in self._away.items() if now - since > self.config.keep_away]:
            del self._away[node_id]
            self.forget_node(node_id)  # gone too long: what it still owed is reported lost
        for peer in peers:
            if peer.id in self._present or not peer.journaled:
                continue
            expected = self.sync.expected(peer.id)
            for topic, next_seq in list(expected.items())[: self.config.max_head_queries]:
                rid = self.new_id()
                self.pulls[rid] = _HeadsQuery(self, peer.id, rid)
                ask = ReplayAsk(id=rid, pattern=topic, start={topic: next_seq})
                self.spawn(self.send(peer.id, Kind.REPLAY, [ask.encode()]), "heads-query")
        self._present = present

    def forget_node(self, node_id: str) -> None:
        """The publisher's incarnation ended for good: what it owed is lost."""
        self._away.pop(node_id, None)
        pending = self.apply(self.sync.forget_node(node_id))
        if pending is not None:
            self.spawn(_awaited(pending), "repair-route")

    def report(self, lost: LostEvents) -> None:
        """Count, log and announce an unrepairable range."""
        self.lost += lost.count
        self.recent_losses.append((time.time(), lost.node_id, lost.topic, lost.count))
        log.warning(
            "lost %d event(s) of stream %s/%s (seq %d..%d): %s",
            lost.count,
            lost.node_id,
            lost.topic,
            lost.first,
            lost.last,
            lost.reason,
        )
        for listener in list(self._listeners):
            try:
                result = listener(lost)
                if asyncio.iscoroutine(result):
                    self.spawn(result, "on-lost")
            except Exception:
                log.exception("an on_lost callback raised")

    def new_id(self) -> int:
        """A request id for a replay pull (0 is the stream repairs')."""
        self._next_id += 1
        return self._next_id

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = self._tasks.spawn(self._tick(), "repair-tick")

    async def _tick(self) -> None:
        while self.sync.outstanding():
            await asyncio.sleep(self.config.tick)
            now = time.monotonic()
            answerable, gone = self.answerable(now)
            pending = self.apply(self.sync.tick(now, answerable))
            if pending is not None:
                await pending
            for node_id in gone:
                self.forget_node(node_id)

    def answerable(self, now: float) -> tuple[frozenset[str], list[str]]:
        """The publishers whose missing answers are their fault (connected, and we are reading), and
        those given up on: a journaled publisher that crashed still owes its events when it comes back,
        but one away for longer than ``repair.owed_wait`` seconds has its holes reported lost."""
        connected = frozenset(p.id for p in self.transport.peers())
        gone: list[str] = []
        for node_id in self.sync.overdue(now):
            if node_id in connected:
                self._absent.pop(node_id, None)
            elif now - self._absent.setdefault(node_id, now) > self.config.owed_wait:
                del self._absent[node_id]
                gone.append(node_id)
        return (frozenset() if self._stalled else connected), gone

    # -- inbound control (both sides) ----------------------------------------------------------------
    async def on_direct(self, kind: Kind, sender: str, frames: list[bytes]) -> None:
        """REPAIR, REPAIR_DATA, REPAIR_DONE, REPLAY or REPLAY_PLAN from peer ``sender``."""
        try:
            if kind is Kind.REPAIR_DATA:
                if len(frames) not in (3, 4) or len(frames[0]) != _ID_BYTES:
                    raise WireError("REPAIR_DATA needs a request id frame and an event or a batch")
                rid = int.from_bytes(frames[0], "big")
                # one event (its three frames) or a batch of one topic (topic + body, as the outbox sends)
                parts = [frames[1:]] if len(frames) == 4 else wire.split_batch(frames[1:])
                events = [wire.decode(part) for part in parts]
                owner = self._owner(rid, sender)
                if any(event._node_id != owner for event in events):
                    raise WireError("REPAIR_DATA carries another node's event")
                check = self.authentic
                if check is not None and not all(check(e._node_id, e._source) for e in events):
                    return  # security: a source that is not its node's authenticated name (counted)
                for event in events:
                    await self._on_repaired(rid, event)
            elif kind is Kind.REPAIR_DONE:
                done = RepairDone.decode(frames[0] if frames else b"")
                await self._on_done(sender, done)
            elif kind is Kind.REPAIR:
                ask = RepairAsk.decode(frames[0] if frames else b"")
                self.spawn(self._serve(sender, ask), "repair-serve")
            elif kind is Kind.REPLAY:
                replay = ReplayAsk.decode(frames[0] if frames else b"")
                self.spawn(self._plan(sender, replay), "replay-plan")
            elif kind is Kind.REPLAY_PLAN:
                plan = ReplayPlan.decode(frames[0] if frames else b"")
                puller = self.pulls.get(plan.id)
                if puller is not None:
                    puller.on_plan(sender, plan)
        except (WireError, ZbusError) as exc:
            log.debug("dropped a malformed %s from %s: %s", kind.name, sender, exc)
            raise WireError(str(exc)) from None

    def _owner(self, rid: int, sender: str) -> str:
        """Whose events an answer from ``sender`` may carry: its own, or, answering a pull of a
        recording, those of the publisher the pull asked it about."""
        puller = self.pulls.get(rid) if rid else None
        return puller.origin if puller is not None and puller.via == sender else sender

    async def _on_repaired(self, rid: int, event: Event) -> None:
        if rid:
            puller = self.pulls.get(rid)
            if puller is not None:
                puller.on_data(event)
            return
        actions = self.sync.observe(
            event._node_id, event._epoch, event._topic, event._seq, event, time.monotonic()
        )
        if actions is None:
            actions = Actions([event])
        elif not actions.deliver:
            if actions.duplicate:
                self.duplicates += 1
            return
        self.repaired += 1
        pending = self.apply(actions)
        if pending is not None:
            await pending

    async def _on_done(self, sender: str, done: RepairDone) -> None:
        if done.id:
            puller = self.pulls.get(done.id)
            if puller is not None:
                puller.on_done(done)
            return
        pending = self.apply(
            self.sync.answered(sender, done.topic, done.first, done.last, done.missing, time.monotonic())
        )
        if pending is not None:
            await pending

    # -- publisher side ------------------------------------------------------------------------------
    async def _serve(self, sender: str, ask: RepairAsk) -> None:
        events, missing = await self.history.serve(ask.topic, ask.first, ask.last, ask.origin)
        rid = ask.id.to_bytes(_ID_BYTES, "big")
        try:
            for chunk in _batches(events, self.config.batch_events, self.config.batch_bytes):
                parts = [frame for frames in chunk for frame in frames[1:]]
                await self._send_or_raise(
                    sender, Kind.REPAIR_DATA, [rid, *wire.encode_batch(chunk[0][0], parts)]
                )
            last = min(ask.last, ask.first + MAX_SERVE - 1)  # the rest is asked for again
            done = RepairDone(id=ask.id, topic=ask.topic, first=ask.first, last=last, missing=tuple(missing))
            await self._send_or_raise(sender, Kind.REPAIR_DONE, [done.encode()])
        except PeerLostError:
            log.debug("repair for %s stopped: the peer is gone or not reading", sender)

    async def _plan(self, sender: str, ask: ReplayAsk) -> None:
        history = self.history
        # fmt: off
        streams = await history.plan(ask.pattern, since=ask.since, last=ask.last, start=ask.start,
                                     origin=ask.origin)
        # fmt: on
        origins = () if ask.origin else tuple(o for o in await history.recorded(ask.pattern) if o != sender)
        plan = ReplayPlan(id=ask.id, streams=streams, origins=origins)
        await self.send(sender, Kind.REPLAY_PLAN, [plan.encode()])

    # -- plumbing ------------------------------------------------------------------------------------
    async def _send_or_raise(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        """Send, waiting (with back-off, up to ``repair.send_patience`` s) while the peer's queue is
        full: a repair answer is worth a short wait, and the asker is usually just busy."""
        delay, deadline = 0.0005, time.monotonic() + self.config.send_patience
        while True:
            try:
                await self.transport.send(peer_id, kind, frames)
                return
            except PeerLostError:
                if time.monotonic() > deadline or not any(p.id == peer_id for p in self.transport.peers()):
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def send(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        """Send a control message (REPAIR, REPLAY, ...) to ``peer_id``, waiting a little while its
        queue is full. A peer that is away is not an error: the repair timer asks again and replay
        pulls time out and retry."""
        try:
            await self._send_or_raise(peer_id, kind, frames)
        except PeerLostError:
            pass

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` in the background as task ``zbus-<name>`` (in this component's task group)."""
        self._tasks.spawn(coro, name)

    async def close(self) -> None:
        """Stop the timer and background work."""
        await self._tasks.close()


class _HeadsQuery:
    """Answers to a rejoin heads query: each planned stream's head, fed to StreamSync like a heartbeat."""

    def __init__(self, recovery: Recovery, node_id: str, rid: int) -> None:
        self.recovery, self.node_id, self.rid = recovery, node_id, rid
        self.via = self.origin = node_id

    def on_plan(self, sender: str, plan: ReplayPlan) -> None:
        self.recovery.pulls.pop(self.rid, None)
        if sender == self.node_id:
            heads = {topic: head for topic, (_first, head) in plan.streams.items()}
            self.recovery.on_heartbeat(sender, 0, heads)

    def on_data(self, event: Event) -> None:
        """Not used: a heads query pulls nothing."""

    def on_done(self, done: RepairDone) -> None:
        """Not used: a heads query pulls nothing."""


def _batches(events: list[list[bytes]], max_events: int, max_bytes: int) -> list[list[list[bytes]]]:
    """Group events into REPAIR_DATA batches of at most ``max_events`` events and ``max_bytes`` bytes
    (few messages, as the outbox sends; a single larger event travels alone, as it did when published)."""
    out: list[list[list[bytes]]] = []
    size = 0
    for frames in events:
        n = len(frames[1]) + len(frames[2])
        if not out or len(out[-1]) >= max_events or size + n > max_bytes:
            out.append([])
            size = 0
        out[-1].append(frames)
        size += n
    return out


async def _awaited(pending: Awaitable[None]) -> None:
    await pending
