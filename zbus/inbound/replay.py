"""History for one subscription: ``subscribe(replay=...)`` and durable subscriptions.

A :class:`ReplayGate` sits in front of one subscription. For every publisher (present now or joining
later) it asks which of its streams match (REPLAY → REPLAY_PLAN), pulls those ranges (REPAIR with the
gate's request id, served from the publisher's ring and journal) into the subscription with
backpressure, and holds that publisher's live events meanwhile. When the pull is complete, the held
live events after the replayed head are released: history, then live, with no gap or duplicate at the
seam (per stream; streams of different publishers or topics interleave).

A durable subscription is a gate that starts each stream after its checkpoint and records, in the
subscriber's own journal, the contiguous watermark of finished events (:class:`Watermarks`), every
``CHECKPOINT_INTERVAL`` seconds and on close. After a restart it resumes there: at-least-once, and
what is redelivered is only what finished after the last checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..store import Checkpoints
from ..codec.control import Kind, RepairAsk, RepairDone, ReplayAsk, ReplayPlan
from ..delivery.subscription import Subscription
from ..journal.persistence import Persistence
from ..model.event import Event
from ..model.peer import PeerInfo
from ..protocol.repair import LostEvents
from ..protocol.watermark import Watermarks
from .recovery import Recovery

__all__ = ["ReplayGate", "ReplaySpec"]

log = logging.getLogger("zbus")

HOLD_LIMIT = 100_000  # live events held per publisher while its history is pulled
HOLE_ROUNDS = 8
PLAN_TIMEOUT = 3.0  # per try; a peer that never answers REPLAY (an older zbus) is taken to have no history
PLAN_ATTEMPTS = 3
PULL_TIMEOUT = 5.0
PULL_ATTEMPTS = 3
CHECKPOINT_INTERVAL = 0.2
CREATED = ("$zbus", "created")  # a checkpoint entry holding when the durable subscription began (µs)


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """Where each publisher's history starts: from ``since`` (UNIX s; 0 = all kept), or the newest
    ``last`` per topic, or, for durable subscriptions, after the checkpoint ``start`` per stream."""

    since: float = 0.0
    last: int = 0
    start: dict[tuple[str, str], int] = field(default_factory=dict)


class _Pull:
    """One publisher's replay into the subscription."""

    def __init__(self, gate: ReplayGate, peer_id: str, rid: int) -> None:
        self.gate, self.peer_id, self.rid = gate, peer_id, rid
        self.done = False
        self.held: deque[Event] = deque()  # live events waiting for the replay (at most HOLD_LIMIT)
        self.dropped: dict[str, tuple[int, int]] = {}  # per topic, the seqs let go of the hold: pulled later
        self.heads: dict[str, int] = {}
        self.plans: list[ReplayPlan] = []
        self.plan_arrived = asyncio.Event()
        self.chunk: list[Event] = []
        self.chunk_done: asyncio.Future[RepairDone] | None = None

    # called by Recovery when answers to our request id arrive
    def on_plan(self, sender: str, plan: ReplayPlan) -> None:
        if sender == self.peer_id:
            self.plans.append(plan)
            if len(self.plans) >= len(self.gate.patterns):
                self.plan_arrived.set()

    def on_data(self, event: Event) -> None:
        if event._node_id == self.peer_id:
            self.chunk.append(event)

    def on_done(self, done: RepairDone) -> None:
        if self.chunk_done is not None and not self.chunk_done.done():
            self.chunk_done.set_result(done)


class ReplayGate:
    """Replays publishers' history into ``sub`` before their live events (see the module docstring)."""

    def __init__(
        self,
        sub: Subscription,
        *,
        recovery: Recovery,
        own_id: str,
        spec: ReplaySpec,
        durable: str | None = None,
        persistence: Persistence | None = None,
    ) -> None:
        self.sub = sub
        self.recovery = recovery
        self.own_id = own_id
        self.spec = spec
        self.patterns = [str(getattr(p, "pattern", p)) for p in sub.patterns]
        self.durable = durable
        self.persistence = persistence
        self.marks: Watermarks | None = Watermarks(spec.start) if durable else None
        self._pulls: dict[str, _Pull] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._saver: asyncio.Task[None] | None = None
        self.replayed = 0
        self.let_go = 0  # live events let go of a full hold (pulled again from the publisher)

    # -- the router's view ------------------------------------------------------------------------------
    def admit(self, event: Event) -> bool:
        """A live event for ``sub``: True to offer it now; False when it is held or already replayed."""
        if not event._seq or event._node_id == self.own_id or not event._node_id:
            return True  # directed events (seq 0) and our own belong to no replayed stream
        pull = self._pulls.get(event._node_id)
        if pull is None:
            pull = self._begin(event._node_id)
        if not pull.done:
            pull.held.append(event)
            if len(pull.held) > HOLD_LIMIT:  # memory stays bounded: the oldest is pulled again later
                old = pull.held.popleft()
                self.let_go += 1
                low, _ = pull.dropped.get(old._topic, (old._seq, 0))
                pull.dropped[old._topic] = (low, old._seq)
            return False
        if event._seq <= pull.heads.get(event._topic, 0):
            return False  # replayed already (it was still in flight on the live path)
        if self.marks is not None:
            self.marks.offered((event._node_id, event._topic), event._seq)
        return True

    def skip(self, event: Event) -> None:
        """A live event the subscription's filter rejected: done at once for the watermark (only once
        the replay from its publisher is over, so the watermark never passes unreplayed events)."""
        pull = self._pulls.get(event._node_id)
        if self.marks is not None and pull is not None and pull.done:
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

    # -- per publisher --------------------------------------------------------------------------------
    def _begin(self, peer_id: str) -> _Pull:
        pull = _Pull(self, peer_id, self.recovery.new_id())
        self._pulls[peer_id] = pull
        self.recovery.pulls[pull.rid] = pull
        task = asyncio.get_running_loop().create_task(self._replay(pull), name=f"zbus-replay-{peer_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return pull

    async def _replay(self, pull: _Pull) -> None:
        try:
            start = {t: s + 1 for (n, t), s in self.spec.start.items() if n == pull.peer_id}
            for _attempt in range(PLAN_ATTEMPTS):
                pull.plans.clear()
                for pattern in self.patterns:
                    ask = ReplayAsk(
                        id=pull.rid, pattern=pattern, since=self.spec.since, last=self.spec.last, start=start
                    )
                    await self.recovery.send(pull.peer_id, Kind.REPLAY, [ask.encode()])
                try:
                    await asyncio.wait_for(pull.plan_arrived.wait(), PLAN_TIMEOUT)
                    break
                except TimeoutError:
                    continue
            else:
                log.warning(
                    "no replay plan from peer %s after %d tries: its history for %s is not replayed",
                    pull.peer_id,
                    PLAN_ATTEMPTS,
                    self.sub.describe(),
                )
            ranges: dict[str, tuple[int, int]] = {}
            for plan in pull.plans:
                ranges.update(plan.streams)
            for topic, (first, head) in sorted(ranges.items()):
                await self._pull_range(pull, topic, first, head)
            for _ in range(HOLE_ROUNDS):  # fill holes before the held live events (bounded)
                if not await self._fill_holes(pull):
                    break
            for topic, head in pull.heads.items():
                self.recovery.sync.expect(pull.peer_id, topic, head + 1)
        finally:
            pull.done = True
            self.recovery.pulls.pop(pull.rid, None)
            held, pull.held = pull.held, deque()
            for event in held:
                if event._seq > pull.heads.get(event._topic, 0):
                    await self.deliver(event)

    async def _fill_holes(self, pull: _Pull) -> bool:
        """Pull, per topic, what lies between the replayed head and the first held live event: events
        that were in flight when the plan was made, and those let go of a full hold. True if any."""
        pulled = False
        for topic in {e._topic for e in pull.held} | set(pull.dropped):
            head = pull.heads.get(topic, 0)
            held = [e._seq for e in pull.held if e._topic == topic and e._seq > head]
            low, high = pull.dropped.pop(topic, (0, 0))
            start = head + 1 if head else low
            end = min(held) - 1 if held else high
            if start and end >= start:
                await self._pull_range(pull, topic, start, end)
                pulled = True
        return pulled

    async def _pull_range(self, pull: _Pull, topic: str, first: int, head: int) -> None:
        pos, attempts = first, 0
        while pos <= head and not self.sub.closed:
            pull.chunk = []
            pull.chunk_done = asyncio.get_running_loop().create_future()
            ask = RepairAsk(id=pull.rid, topic=topic, first=pos, last=head)
            await self.recovery.send(pull.peer_id, Kind.REPAIR, [ask.encode()])
            try:
                done = await asyncio.wait_for(pull.chunk_done, PULL_TIMEOUT)
            except TimeoutError:
                attempts += 1
                if attempts < PULL_ATTEMPTS:
                    continue
                self.recovery.report(LostEvents(pull.peer_id, topic, pos, head, "replay: no answer"))
                return
            by_seq = {e._seq: e for e in pull.chunk}
            start = pos
            while pos <= done.last:
                event = by_seq.get(pos)
                if event is not None:
                    await self.deliver(event)
                    self.replayed += 1
                    pos += 1
                    continue
                gone = next((r for r in done.missing if r[0] <= pos <= r[1]), None)
                if gone is None:
                    break  # dropped in transit: ask again from here
                self._lost(pull, topic, pos, gone[1])
                pos = gone[1] + 1
            if pos > start:
                attempts = 0
                pull.heads[topic] = pos - 1
            else:
                attempts += 1
                if attempts >= PULL_ATTEMPTS:
                    self._lost(pull, topic, pos, head)
                    pull.heads[topic] = head
                    return

    def _lost(self, pull: _Pull, topic: str, a: int, b: int) -> None:
        if a <= b:
            self.recovery.report(
                LostEvents(pull.peer_id, topic, a, b, "replay: not in the publisher's journal")
            )

    async def deliver(self, event: Event) -> None:
        """Offer a replayed or released event, waiting for backlog space (nothing is dropped)."""
        if self.marks is not None:
            self.marks.offered((event._node_id, event._topic), event._seq)
        while not self.sub._offer(event):
            await self.sub._wait_space()

    # -- durable checkpoints --------------------------------------------------------------------------------
    def start_saving(self) -> None:
        """Write watermarks to the journal every ``CHECKPOINT_INTERVAL`` seconds."""
        if self.marks is not None and self._saver is None:
            self._saver = asyncio.get_running_loop().create_task(self._save_loop(), name="zbus-checkpoint")

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            await self.save()

    async def save(self) -> None:
        """Commit the watermarks that moved (batched: one write transaction)."""
        if self.marks is None or self.persistence is None or self.durable is None:
            return
        changed = self.marks.take_changed()
        if changed:
            name = self.durable
            await self.persistence.run(lambda journal: Checkpoints(journal).commit_many(name, changed))

    async def close(self) -> None:
        """Stop replaying; a durable subscription writes its last watermarks."""
        tasks = [*self._tasks, *([self._saver] if self._saver is not None else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for pull in self._pulls.values():
            self.recovery.pulls.pop(pull.rid, None)
        await self.save()


async def load_checkpoint(persistence: Persistence, name: str) -> ReplaySpec:
    """The resume point of durable subscription ``name``: its watermarks, and (for streams it never
    saw) the time it was first created, recorded now if this is its first start."""

    def load(journal: Any) -> dict[tuple[str, str], int]:
        checkpoints = Checkpoints(journal)
        marks: dict[tuple[str, str], int] = checkpoints.load(name)
        if CREATED not in marks:
            marks[CREATED] = int(time.time() * 1_000_000)
            checkpoints.commit(name, CREATED, marks[CREATED])
        return marks

    marks = await persistence.run(load)
    created = marks.pop(CREATED) / 1_000_000
    return ReplaySpec(since=created, start=marks)
