"""History for one subscription: ``subscribe(replay=...)`` and durable subscriptions.

A :class:`ReplayGate` sits in front of one subscription. For every publisher (present now or joining
later) it runs a :class:`~zbus.protocol.pull.ReplayPull`, the pure state machine that decides what to
ask (REPLAY → REPLAY_PLAN, then REPAIR with the gate's request id, served from the publisher's ring and
journal), what to deliver, what to hold and what to report lost. The gate is its I/O shell: it sends the
asks through :class:`~zbus.inbound.recovery.Recovery`, feeds the answers and the time back, waits for
timeouts, and offers events to the subscription with backpressure. Live events of a publisher are held
while its history is pulled, then released after the replayed head: history, then live, with no gap or
duplicate at the seam (per stream; streams of different publishers or topics interleave).

A publisher that is gone may live on in a recording (``Node.record``): a recorder's plan lists the other
publishers whose matching streams it keeps (``ReplayPlan.origins``), and for each of them the gate has no
pull of its own yet it starts one *via* the recorder (the same machine, its asks sent to the recorder with
``origin`` set). One pull per publisher, whichever came first: a present publisher serves its own
history, a recording serves that of a publisher the gate has not met.

A durable subscription is a gate that starts each stream after its checkpoint and records, in the
subscriber's own journal (:mod:`zbus.journal.checkpoints`), the contiguous watermark of finished events
(:class:`Watermarks`), every ``repair.checkpoint_interval`` seconds and on close. After a restart it
resumes there: at-least-once, and what is redelivered is only what finished after the last checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..codec.control import Kind, RepairAsk, RepairDone, ReplayAsk, ReplayPlan
from ..config import RepairConfig
from ..delivery.subscription import Subscription
from ..journal.checkpoints import save_checkpoint
from ..journal.persistence import Persistence
from ..model.event import Event
from ..model.peer import PeerInfo
from ..protocol.pull import (
    Deliver,
    Expect,
    PlanGivenUp,
    PullAction,
    ReplayPull,
    SendRepair,
    SendReplay,
)
from ..protocol.repair import LostEvents
from ..protocol.watermark import Watermarks
from ..tasks import TaskGroup
from .recovery import Recovery

__all__ = ["ReplayGate", "ReplaySpec"]

log = logging.getLogger("zbus")

_Step = Callable[[float], list[PullAction]]  # an input for the machine, applied at ``now``


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """Where each publisher's history starts: from ``since`` (UNIX s; 0 = all kept), or the newest
    ``last`` per topic, or, for durable subscriptions, after the checkpoint ``start`` per stream."""

    since: float = 0.0
    last: int = 0
    start: dict[tuple[str, str], int] = field(default_factory=dict)


class _Pull:
    """One publisher's replay: the machine, and the answers Recovery hands over for its request id.

    ``via`` is the peer asked: the publisher itself, or a recorder of its streams.
    """

    __slots__ = ("inbox", "machine", "on_origins", "origin", "rid", "via")

    def __init__(
        self, machine: ReplayPull, rid: int, via: str, on_origins: Callable[[str, tuple[str, ...]], None]
    ) -> None:
        self.machine, self.rid, self.via = machine, rid, via
        self.origin = machine.peer_id
        self.on_origins = on_origins
        self.inbox: asyncio.Queue[_Step] = asyncio.Queue()

    def on_plan(self, sender: str, plan: ReplayPlan) -> None:
        if sender == self.via:
            streams, machine = plan.streams, self.machine
            self.inbox.put_nowait(lambda now: machine.on_plan(streams, now))
            if plan.origins and self.via == self.origin:
                self.on_origins(sender, plan.origins)

    def on_data(self, event: Event) -> None:
        self.machine.on_data(event)  # no action: kept until its chunk is done

    def on_done(self, done: RepairDone) -> None:
        machine = self.machine
        self.inbox.put_nowait(
            lambda now: machine.on_done(done.topic, done.first, done.last, done.missing, now)
        )


class ReplayGate:
    """Replays publishers' history into ``sub`` before their live events (see the module docstring).

    Args:
        sub: the subscription to feed.
        recovery: the node's Recovery: sends the asks, routes the answers, reports losses.
        config: the ``[repair]`` settings (hold limit, hole rounds, plan and pull timeouts and
            attempts, checkpoint interval).
        own_id: this node's id (its own events are never replayed).
        spec: where each publisher's history starts.
        durable: the durable subscription's name, or ``None``.
        persistence: the journal durable checkpoints are written to.
    """

    def __init__(
        self,
        sub: Subscription,
        *,
        recovery: Recovery,
        config: RepairConfig,
        own_id: str,
        spec: ReplaySpec,
        durable: str | None = None,
        persistence: Persistence | None = None,
    ) -> None:
        self.sub = sub
        self.recovery = recovery
        self.config = config
        self.own_id = own_id
        self.spec = spec
        self.patterns = [str(p.pattern) for p in sub.patterns]
        self.durable = durable
        self.persistence = persistence
        self.marks: Watermarks | None = Watermarks(spec.start) if durable else None
        self._pulls: dict[str, _Pull] = {}
        self._tasks = TaskGroup("replay")
        self._saving = False
        self.replayed = 0

    @property
    def let_go(self) -> int:
        """Live events let go of a full hold (pulled again from the publisher)."""
        return sum(pull.machine.let_go for pull in self._pulls.values())

    # -- the router's view ------------------------------------------------------------------------------
    def admit(self, event: Event) -> bool:
        """A live event for ``sub``: True to offer it now; False when it is held or already replayed."""
        if not event._seq or event._node_id == self.own_id or not event._node_id:
            return True  # directed events (seq 0) and our own belong to no replayed stream
        pull = self._pulls.get(event._node_id)
        if pull is None:
            pull = self._begin(event._node_id)
        if not pull.machine.live(event):
            return False
        if self.marks is not None:
            self.marks.offered((event._node_id, event._topic), event._seq)
        return True

    def skip(self, event: Event) -> None:
        """A live event the subscription's filter rejected: done at once for the watermark (only once
        the replay from its publisher is over, so the watermark never passes unreplayed events)."""
        pull = self._pulls.get(event._node_id)
        if self.marks is not None and pull is not None and pull.machine.done:
            self.marks.skipped((event._node_id, event._topic), event._seq)

    def finished(self, event: Event) -> None:
        """The subscription is done with ``event`` (handled, dead-lettered, expired or taken)."""
        if self.marks is not None:
            self.marks.done((event._node_id, event._topic), event._seq)

    def peers_changed(self, peers: list[PeerInfo]) -> None:
        """Start replaying from every publisher not asked yet."""
        for peer in peers:
            if peer.role == "node" and peer.id not in self._pulls:
                self._begin(peer.id)

    def recorded(self, recorder: str, origins: tuple[str, ...]) -> None:
        """Recorder ``recorder`` keeps streams of ``origins``: replay those not met yet from it."""
        for origin in origins:
            if origin not in self._pulls and origin != self.own_id:
                self._begin(origin, via=recorder)

    # -- per publisher --------------------------------------------------------------------------------
    def _begin(self, peer_id: str, via: str = "") -> _Pull:
        cfg, spec = self.config, self.spec
        machine = ReplayPull(
            peer_id,
            self.patterns,
            since=spec.since,
            last=spec.last,
            start={t: s + 1 for (n, t), s in spec.start.items() if n == peer_id},
            hold_limit=cfg.hold_limit,
            hole_rounds=cfg.hole_rounds,
            plan_timeout=cfg.plan_timeout,
            plan_attempts=cfg.plan_attempts,
            pull_timeout=cfg.pull_timeout,
            pull_attempts=cfg.pull_attempts,
        )
        pull = _Pull(machine, self.recovery.new_id(), via or peer_id, self.recorded)
        self._pulls[peer_id] = pull
        self.recovery.pulls[pull.rid] = pull
        self._tasks.spawn(self._drive(pull), f"replay-{peer_id}")
        return pull

    async def _drive(self, pull: _Pull) -> None:
        """Run one pull: carry out its actions, feed it answers and timeouts until it is done."""
        machine = pull.machine
        try:
            await self._execute(pull, machine.start(time.monotonic()))
            while not machine.done:
                if self.sub.closed:
                    await self._execute(pull, machine.stop())
                    break
                delay = machine.deadline - time.monotonic()
                step: _Step
                try:
                    async with asyncio.timeout(None if delay == math.inf else max(delay, 0.0)):
                        step = await pull.inbox.get()
                except TimeoutError:
                    step = machine.tick
                await self._execute(pull, step(time.monotonic()))
        finally:
            self.recovery.pulls.pop(pull.rid, None)

    async def _execute(self, pull: _Pull, actions: list[PullAction]) -> None:
        machine, peer_id = pull.machine, pull.machine.peer_id
        via, origin = pull.via, ("" if pull.via == peer_id else peer_id)
        for action in actions:
            if isinstance(action, Deliver):
                for event in action.events:
                    await self.deliver(event)
                if action.replayed:
                    self.replayed += len(action.events)
            elif isinstance(action, SendRepair):
                if self.sub.closed:  # nobody to pull for
                    await self._execute(pull, machine.stop())
                    return
                # fmt: off
                ask = RepairAsk(id=pull.rid, topic=action.topic, first=action.first, last=action.last,
                                origin=origin)
                # fmt: on
                await self.recovery.send(via, Kind.REPAIR, [ask.encode()])
                machine.sent(time.monotonic())
            elif isinstance(action, SendReplay):
                replay = ReplayAsk(
                    id=pull.rid,
                    pattern=action.pattern,
                    since=action.since,
                    last=action.last,
                    start=dict(action.start),
                    origin=origin,
                )
                await self.recovery.send(via, Kind.REPLAY, [replay.encode()])
                machine.sent(time.monotonic())
            elif isinstance(action, LostEvents):
                self.recovery.report(action)
            elif isinstance(action, Expect):
                self.recovery.sync.expect(peer_id, action.topic, action.next_seq)
            elif isinstance(action, PlanGivenUp):
                log.warning(
                    "no replay plan from peer %s after %d tries: its history for %s is not replayed",
                    peer_id,
                    action.attempts,
                    self.sub.describe(),
                )

    async def deliver(self, event: Event) -> None:
        """Offer a replayed or released event, waiting for backlog space (nothing is dropped)."""
        if self.marks is not None:
            self.marks.offered((event._node_id, event._topic), event._seq)
        if not self.sub.offer(event):
            await self.sub.put(event)

    # -- durable checkpoints --------------------------------------------------------------------------------
    def start_saving(self) -> None:
        """Write watermarks to the journal every ``repair.checkpoint_interval`` seconds."""
        if self.marks is not None and not self._saving:
            self._saving = True
            self._tasks.spawn(self._save_loop(), "checkpoint")

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.checkpoint_interval)
            await self.save()

    async def save(self) -> None:
        """Commit the watermarks that moved (batched: one write transaction)."""
        if self.marks is None or self.persistence is None or self.durable is None:
            return
        await save_checkpoint(self.persistence, self.durable, self.marks.take_changed())

    async def close(self) -> None:
        """Stop replaying; a durable subscription writes its last watermarks."""
        await self._tasks.close()
        for pull in self._pulls.values():
            self.recovery.pulls.pop(pull.rid, None)
        await self.save()
