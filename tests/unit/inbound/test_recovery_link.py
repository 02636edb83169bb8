"""Recovery and ReplayGate over a fake link: no Node, no sockets.

A subscriber-side Recovery and a publisher-side Recovery (with a real History ring, no journal) are
wired together by :class:`FakeLink`: what one sends is handed to the other's ``on_direct``. The live
broadcast path is the test itself, which decides which events arrive.
"""

from __future__ import annotations

import time
from typing import Any

from zbus.codec import wire
from zbus.codec.control import Kind
from zbus.config import RepairConfig
from zbus.delivery.subscription import Subscription
from zbus.errors import PeerLostError
from zbus.inbound.recovery import Recovery
from zbus.inbound.replay import ReplayGate, ReplaySpec
from zbus.journal.history import History
from zbus.model.event import Event
from zbus.model.peer import PeerInfo
from zbus.model.topics import compile_pattern
from zbus.protocol.repair import LostEvents
from zbus.testing import eventually

PUB, SUB = "a" * 16, "b" * 16
FAST = RepairConfig(tick=0.01, timeout=0.2, plan_timeout=0.5, pull_timeout=0.5)


class FakeTransport:
    """The two methods Recovery uses: ``send`` delivers to the other side's ``on_direct``."""

    def __init__(self, own_id: str, peer_id: str) -> None:
        self.own_id, self.peer_id = own_id, peer_id
        self.other: Recovery | None = None
        self.sent: list[Kind] = []

    def peers(self) -> list[PeerInfo]:
        return [PeerInfo(id=self.peer_id, name=self.peer_id, mesh="test")]

    async def send(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        if peer_id != self.peer_id or self.other is None:
            raise PeerLostError(f"no peer {peer_id}")
        self.sent.append(kind)
        await self.other.on_direct(kind, self.own_id, frames)


class Side:
    """One node's Recovery, with what it delivered and reported lost."""

    def __init__(self, own_id: str, peer_id: str, *, ring: int = 1000) -> None:
        self.transport = FakeTransport(own_id, peer_id)
        self.history = History(own_id, ring_size=ring, persistence=None)
        self.delivered: list[Event] = []
        self.lost: list[LostEvents] = []
        self.route: Any = self.delivered.append  # what a router does with released events
        self.recovery = Recovery(
            node_id=own_id,
            history=self.history,
            transport=self.transport,  # type: ignore[arg-type]
            config=FAST,
            route_all=lambda events: self._each(events),
            route_one=lambda event: self._each([event]),
            has_interest=lambda topic: True,
            listeners=[self.lost.append],
        )

    def _each(self, events: list[Event]) -> None:
        for event in events:
            self.route(event)


def link(*, ring: int = 1000) -> tuple[Side, Side]:
    pub, sub = Side(PUB, SUB, ring=ring), Side(SUB, PUB)
    pub.transport.other, sub.transport.other = sub.recovery, pub.recovery
    return pub, sub


def publish(pub: Side, topic: str, seq: int) -> list[bytes]:
    """What a publisher does: stamp, keep in its ring, return the frames for the live path."""
    frames = wire.encode(Event(topic, {"seq": seq}), node_id=PUB, seq=seq, epoch=1)
    pub.history.record(topic, seq, time.time(), frames)
    return frames


async def arrive(sub: Side, frames: list[bytes]) -> None:
    """An event arrives on the live path at the subscriber."""
    pending = sub.recovery.observe(wire.decode(frames))
    if pending is not None:
        await pending


async def close(*sides: Side) -> None:
    for side in sides:
        await side.recovery.close()


async def test_a_gap_on_the_live_path_is_repaired_in_order() -> None:
    pub, sub = link()
    try:
        for seq in range(1, 11):
            frames = publish(pub, "t", seq)
            if seq not in (4, 5, 6):  # dropped on the live path
                await arrive(sub, frames)
        await eventually(lambda: len(sub.delivered) == 10, timeout=5, what="the gap repaired")
        assert [e.seq for e in sub.delivered] == list(range(1, 11))
        assert sub.lost == [] and sub.recovery.repaired == 3 and sub.recovery.gaps == 1
        assert Kind.REPAIR in sub.transport.sent and Kind.REPAIR_DONE in pub.transport.sent
    finally:
        await close(pub, sub)


async def test_a_range_the_publisher_no_longer_holds_is_reported_lost() -> None:
    pub, sub = link(ring=3)  # the ring keeps only the newest three events: 8, 9, 10
    try:
        for seq in range(1, 11):
            frames = publish(pub, "t", seq)
            if not 2 <= seq <= 5:
                await arrive(sub, frames)
        await eventually(lambda: len(sub.delivered) == 6, timeout=5, what="the stream moved on")
        assert [e.seq for e in sub.delivered] == [1, 6, 7, 8, 9, 10]
        assert [(x.node_id, x.topic, x.first, x.last, x.reason) for x in sub.lost] == [
            (PUB, "t", 2, 5, "not in the publisher's journal")
        ]
        assert sub.recovery.lost == 4
    finally:
        await close(pub, sub)


async def test_a_tail_loss_reported_by_a_heartbeat_is_repaired() -> None:
    pub, sub = link()
    try:
        for seq in range(1, 6):
            frames = publish(pub, "t", seq)
            if seq == 1:
                await arrive(sub, frames)
        sub.recovery.on_heartbeat(PUB, 1, {"t": 5})
        await eventually(lambda: len(sub.delivered) == 5, timeout=5, what="the tail repaired")
        assert [e.seq for e in sub.delivered] == [1, 2, 3, 4, 5]
    finally:
        await close(pub, sub)


async def test_replay_into_a_subscription_is_history_then_live_without_duplicate_at_the_seam() -> None:
    pub, sub = link()
    subscription = Subscription(
        [compile_pattern("t.*")], handler=None, filter=None, max_size=8, overflow="block"
    )
    gate = ReplayGate(subscription, recovery=sub.recovery, config=FAST, own_id=SUB, spec=ReplaySpec())

    def route(event: Event) -> None:  # what the router does for a gated subscription
        if gate.admit(event):
            assert subscription.offer(event), "the test reads fast enough for live events"

    sub.route = route
    try:
        for seq in range(1, 21):  # history only: published before the subscriber listened
            publish(pub, "t.x", seq)
        in_flight = [publish(pub, "t.x", seq) for seq in range(21, 26)]  # in the plan *and* live
        gate.peers_changed(sub.transport.peers())
        for frames in in_flight:
            await arrive(sub, frames)  # held while the history is pulled: no duplicate at the seam
        got = [(await subscription.next(timeout=5)).seq for _ in range(25)]  # a backlog of 8: backpressure
        for seq in range(26, 31):
            await arrive(sub, publish(pub, "t.x", seq))
        got += [(await subscription.next(timeout=5)).seq for _ in range(5)]
        assert got == list(range(1, 31))
        assert gate.replayed == 25 and sub.lost == []
        assert sub.recovery.pulls == {}  # the pull ended and unregistered
    finally:
        await gate.close()
        await subscription.unsubscribe()
        await close(pub, sub)


async def test_replay_reports_what_the_publisher_cannot_serve() -> None:
    pub, sub = link(ring=5)
    subscription = Subscription(
        [compile_pattern("t")], handler=None, filter=None, max_size=100, overflow="block"
    )
    gate = ReplayGate(
        subscription, recovery=sub.recovery, config=FAST, own_id=SUB, spec=ReplaySpec(start={(PUB, "t"): 2})
    )
    try:
        for seq in range(1, 11):
            publish(pub, "t", seq)
        gate.peers_changed(sub.transport.peers())
        got = [(await subscription.next(timeout=5)).seq for _ in range(5)]
        assert got == [6, 7, 8, 9, 10]
        await eventually(lambda: bool(sub.lost), timeout=5)
        assert [(x.first, x.last) for x in sub.lost] == [(3, 5)]  # the checkpoint was 2; the ring holds 6..10
    finally:
        await gate.close()
        await subscription.unsubscribe()
        await close(pub, sub)


async def test_close_stops_background_work() -> None:
    pub, sub = link()
    publish(pub, "t", 1)
    await arrive(sub, publish(pub, "t", 3))  # baseline 3: nothing owed
    await arrive(sub, publish(pub, "t", 5))  # 4 is asked for
    await close(pub, sub)
    assert len(sub.recovery._tasks) == 0
