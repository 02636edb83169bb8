"""Router without a Node and without sockets: two routers joined by a fake link (frames handed across).

The link is the smallest ``Transport``: ``send`` gives the frames to the other router's ``on_direct``,
``send_now`` does the same on the next loop turn (as a socket would). Everything else is real: the
subscription registry, subscriptions, recovery, history and the wire codec.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from zbus import Event, NoResponders, RemoteError, UnknownTargetError
from zbus.codec import wire
from zbus.codec.control import Kind
from zbus.config import load_config
from zbus.delivery.routing import Subscriptions
from zbus.delivery.subscription import Subscription
from zbus.inbound.recovery import Recovery
from zbus.inbound.router import Router
from zbus.journal.history import History
from zbus.model.peer import PeerInfo
from zbus.model.topics import compile_pattern
from zbus.observe.statistics import TransportStatistics
from zbus.tasks import TaskGroup


class FakeLink:
    """One side of an in-memory link to exactly one peer router."""

    eager_send = True

    def __init__(self, me: PeerInfo) -> None:
        self.me = me
        self.other: Router | None = None
        self.other_info: PeerInfo | None = None
        self.sent: list[tuple[str, Kind]] = []
        self.tasks = TaskGroup("fake link")

    async def send(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        self.sent.append((peer_id, kind))
        assert self.other is not None and self.other_info is not None and peer_id == self.other_info.id
        await self.other.on_direct(kind, self.me.id, list(frames))

    def send_now(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        self.tasks.spawn(self._later(self.send(peer_id, kind, frames)), "send-now")

    async def _later(self, coro: Coroutine[Any, Any, None]) -> None:
        await asyncio.sleep(0)
        await coro

    def peers(self) -> list[PeerInfo]:
        return [] if self.other_info is None else [self.other_info]

    async def publish(self, topic: str, seq: int, frames: list[bytes]) -> None:
        raise AssertionError("these tests publish nothing")

    def announce(self, *, patterns: Any, responders: Any) -> None:
        pass

    def subscriber_count(self, topic: str) -> int:
        return 0

    async def start(self, inbound: Any) -> None:
        pass

    async def close(self) -> None:
        await self.tasks.close()

    def statistics(self) -> TransportStatistics:
        return TransportStatistics(dropped={}, closed=False, endpoints={})


class Side:
    def __init__(self, name: str, node_id: str) -> None:
        self.info = PeerInfo(id=node_id, name=name, mesh="test")
        self.link = FakeLink(self.info)
        self.subs = Subscriptions()
        self.responders: dict[str, Any] = {}
        repair = load_config({}).repair
        self.recovery = Recovery(
            node_id=node_id,
            history=History(node_id, ring_size=16, persistence=None),
            transport=self.link,
            config=repair,
            route_all=self.subs.route_all,
            route_one=self.subs.route_eager,
            has_interest=self.subs.has_interest,
        )

        async def run_handler(handler: Any, event: Event) -> Any:
            result = handler(event)
            return await result if asyncio.iscoroutine(result) else result

        self.router = Router(
            node_id=node_id,
            name=name,
            epoch=1,
            max_message_size=1 << 20,
            subscriptions=self.subs,
            responders=self.responders,
            transport=self.link,
            recovery=self.recovery,
            run_handler=run_handler,
            on_peers_changed=lambda: None,
        )

    def subscribe(self, pattern: str) -> Subscription:
        sub = Subscription(
            [compile_pattern(pattern)], handler=None, filter=None, max_size=100, overflow="block"
        )
        self.subs.add(sub)
        return sub

    async def close(self) -> None:
        await self.router.close()
        await self.recovery.close()
        await self.link.close()


@pytest.fixture
async def pair() -> Any:
    a, b = Side("a", "aaaa"), Side("b", "bbbb")
    a.link.other, a.link.other_info = b.router, b.info
    b.link.other, b.link.other_info = a.router, a.info
    yield a, b
    await a.close()
    await b.close()


async def test_a_directed_event_reaches_the_targets_subscription(pair: tuple[Side, Side]) -> None:
    a, b = pair
    sub = b.subscribe("order.*")
    await a.router.send_directed(Event("order.placed", {"n": 1}, source="a", target="b"), mesh="test")
    got = await sub.next(timeout=5)
    assert got.payload == {"n": 1} and got.source == "a"
    assert a.link.sent == [("bbbb", Kind.EVENT)]
    assert b.router.received == 1


async def test_an_unknown_target_names_the_known_nodes(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    with pytest.raises(UnknownTargetError, match=r"'nobody'.*known: b"):
        await a.router.send_directed(Event("x.y", source="a", target="nobody"), mesh="test")


async def test_a_misdirected_event_is_dropped_and_counted(pair: tuple[Side, Side]) -> None:
    _, b = pair
    sub = b.subscribe("**")
    frames = wire.encode(Event("x.y", source="a", target="someone-else"), node_id="aaaa", epoch=1)
    await b.router.on_direct(Kind.EVENT, "aaaa", frames)
    assert b.router.dropped["misdirected"] == 1
    assert sub.statistics().received == 0


@pytest.mark.parametrize("responder_kind", ["plain", "async"])
async def test_request_and_reply_across_the_link(pair: tuple[Side, Side], responder_kind: str) -> None:
    a, b = pair

    def double(event: Event) -> int:
        return int(event.payload["n"]) * 2

    async def double_async(event: Event) -> int:
        return int(event.payload["n"]) * 2

    b.responders["calc.double"] = double if responder_kind == "plain" else double_async
    reply = await a.router.request("bbbb", Event("calc.double", {"n": 21}, source="a"), timeout=5)
    assert reply.payload == 42
    assert reply.type == "calc.double.reply" and reply.source == "b"
    assert a.router.requests.pending == {}  # settled and forgotten
    assert a.router.requests.request_latency.snapshot().count == 1


async def test_a_responder_that_raises_reaches_the_caller_as_remote_error(pair: tuple[Side, Side]) -> None:
    a, b = pair

    def broken(event: Event) -> None:
        raise KeyError("sku-9")

    b.responders["stock.get"] = broken
    with pytest.raises(RemoteError) as info:
        await a.router.request("bbbb", Event("stock.get", {}, source="a"), timeout=5)
    assert info.value.remote_type == "KeyError" and "sku-9" in info.value.remote_message


async def test_a_request_for_a_type_nobody_answers_there_fails_at_once(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    with pytest.raises(NoResponders):
        await a.router.request("bbbb", Event("nobody.home", {}, source="a"), timeout=5)


async def test_malformed_frames_are_counted_never_raised(pair: tuple[Side, Side]) -> None:
    _, b = pair
    sub = b.subscribe("**")
    assert b.router.on_event_eager([b"x.y", b"\xc1 not msgpack", b""]) is None
    await b.router.on_direct(Kind.EVENT, "aaaa", [b"only one frame"])
    await b.router.on_direct(Kind.REPLY, "aaaa", [])
    assert b.router.dropped["malformed"] == 3
    assert sub.statistics().received == 0


async def test_a_reply_nobody_waits_for_is_a_late_reply(pair: tuple[Side, Side]) -> None:
    _, b = pair
    stray = Event("calc.double.reply", 1, source="a", causation_id="no-such-request")
    await b.router.on_direct(Kind.REPLY, "aaaa", wire.encode(stray, node_id="aaaa", epoch=1))
    assert b.router.dropped["late_reply"] == 1


async def test_our_own_events_relayed_back_are_ignored(pair: tuple[Side, Side]) -> None:
    _, b = pair
    sub = b.subscribe("**")
    frames = wire.encode(Event("x.y", source="b"), node_id="bbbb", seq=1, epoch=1)
    assert b.router.on_event_eager(frames) is None
    assert b.router.received == 0 and sub.statistics().received == 0


async def test_a_broadcast_event_goes_through_recovery_in_stream_order(pair: tuple[Side, Side]) -> None:
    _, b = pair
    sub = b.subscribe("t.*")
    one, two = (
        wire.encode(Event("t.x", {"i": i}, source="a"), node_id="aaaa", seq=i, epoch=1) for i in (1, 2)
    )
    await b.router.on_event(one)
    await b.router.on_event(one)  # a duplicate (two paths, a resend) is dropped
    await b.router.on_event(two)
    assert [(await sub.next(timeout=5)).payload["i"] for _ in range(2)] == [1, 2]
    assert b.recovery.duplicates == 1


def batch(node_id: str, seqs: list[int], topic: str = "t.x", epoch: int = 1) -> list[bytes]:
    """The body parts of a batch message (header, payload, ...) of ``node_id``'s events ``seqs``."""
    parts: list[bytes] = []
    for seq in seqs:
        parts += wire.encode(Event(topic, {"i": seq}, source="a"), node_id=node_id, seq=seq, epoch=epoch)[1:]
    return parts


async def drain(sub: Subscription) -> list[int]:
    got = []
    while sub.statistics().queued:
        got.append((await sub.next(timeout=5)).payload["i"])
    return got


async def test_a_batch_is_taken_as_a_run_and_continues_the_stream(pair: tuple[Side, Side]) -> None:
    _, b = pair
    sub = b.subscribe("t.*")
    assert (
        b.router.on_event_eager(
            wire.encode(Event("t.x", {"i": 1}, source="a"), node_id="aaaa", seq=1, epoch=1)
        )
        is None
    )
    assert b.router.on_batch_eager(b"t.x", batch("aaaa", [2, 3, 4]), "aaaa") is None
    assert b.router.on_batch_eager(b"t.x", batch("aaaa", [3, 4, 5, 6]), "aaaa") is None  # 3, 4 again
    assert await drain(sub) == [1, 2, 3, 4, 5, 6]
    assert b.router.received == 8 and b.recovery.duplicates == 2 and b.recovery.gaps == 0


async def test_a_batch_with_a_hole_is_judged_event_by_event(pair: tuple[Side, Side]) -> None:
    _, b = pair
    sub = b.subscribe("t.*")
    b.router.on_event_eager(wire.encode(Event("t.x", {"i": 1}, source="a"), node_id="aaaa", seq=1, epoch=1))
    assert b.router.on_batch_eager(b"t.x", batch("aaaa", [2, 3, 5, 6]), "aaaa") is None
    # 5 and 6 wait for 4, which is asked for: the publisher no longer has it, so it is reported lost
    assert [(await sub.next(timeout=5)).payload["i"] for _ in range(5)] == [1, 2, 3, 5, 6]
    assert b.recovery.gaps == 1 and b.recovery.lost == 1


async def test_a_batch_claiming_another_node_is_refused_whole_or_event_by_event(
    pair: tuple[Side, Side],
) -> None:
    _, b = pair
    sub = b.subscribe("t.*")
    assert b.router.on_batch_eager(b"t.x", batch("cccc", [1, 2, 3]), "aaaa") is None
    assert b.router.dropped["spoofed_source"] == 3 and sub.statistics().received == 0
    mixed = batch("aaaa", [1]) + batch("cccc", [4]) + batch("aaaa", [2])
    assert b.router.on_batch_eager(b"t.x", mixed, "aaaa") is None
    assert await drain(sub) == [1, 2] and b.router.dropped["spoofed_source"] == 4
    assert b.router.on_batch_eager(b"t.x", [b"\xc1", b"", *batch("aaaa", [3])], "aaaa") is None
    assert await drain(sub) == [3] and b.router.dropped["malformed"] == 1  # the rest of a batch still counts
    assert b.router.on_batch_eager(b"bad..topic", batch("aaaa", [4, 5]), "aaaa") is None
    assert b.router.dropped["malformed"] == 3


async def test_a_batch_into_a_full_block_backlog_waits_and_keeps_order(pair: tuple[Side, Side]) -> None:
    _, b = pair
    sub = Subscription([compile_pattern("t.*")], handler=None, filter=None, max_size=2, overflow="block")
    b.subs.add(sub)
    b.router.on_event_eager(wire.encode(Event("t.x", {"i": 1}, source="a"), node_id="aaaa", seq=1, epoch=1))
    pending = b.router.on_batch_eager(b"t.x", batch("aaaa", [2, 3, 4, 5, 6]), "aaaa")
    assert pending is not None  # backpressure: the backlog holds 2
    routing = asyncio.ensure_future(pending)
    got = [(await sub.next(timeout=5)).payload["i"] for _ in range(6)]
    await asyncio.wait_for(routing, 5)
    assert got == [1, 2, 3, 4, 5, 6] and sub.statistics().dropped == {}
