"""A hostile peer on loopback, no cryptography: it cannot publish as another node, poison a stream,
settle someone else's request, hold a node's peer slots, or remove a live peer or replace its
incarnation by presenting its id on the ROUTER (speaking as it there still needs keys:
tests/integration/test_security.py) (docs/ARCHITECTURE.md, "Hostile input"). Each test prints what
was tried and what was refused and counted."""

from __future__ import annotations

import asyncio
import time

from zbus import Event, Node
from zbus.codec import wire
from zbus.codec.control import Kind
from zbus.testing import eventually

from .conftest import FAST
from .rawpeer import FakePeer, Raw


def drops(node: Node) -> dict[str, int]:
    return dict(node.statistics().dropped)


async def test_events_naming_another_node_are_refused_on_a_foreign_link(mesh_name: str, raw: Raw) -> None:
    async with (
        Node("b", mesh=mesh_name, config=FAST) as b,
        Node("a", mesh=mesh_name, config=FAST) as a,
    ):
        got: list[tuple[str, int]] = []
        warm: list[Event] = []
        await b.subscribe("orders.*", handler=lambda e: got.append((e.node_id, e.seq)))
        await b.subscribe("fake.*", handler=warm.append)
        await a.wait_for_subscribers("orders.x", timeout=10)
        for i in range(50):
            await a.publish("orders.x", {"i": i})
        await eventually(lambda: len(got) == 50)

        fake = FakePeer(raw, "forger", mesh_name)
        fake.hello(b)
        await fake.until_heard(lambda: bool(warm))
        forged = [fake.event("orders.x", seq, node_id=a.id) for seq in (2**63 - 1, 51, 52, 53)]
        for frames in forged:
            fake.publish(frames)
        parts = [p for seq in (54, 55) for p in fake.event("orders.x", seq, node_id=a.id)[1:]]
        fake.publish(wire.encode_batch(b"orders.x", parts))
        fake.publish(fake.event("fake.final", 1))  # after the forgeries on the same link
        await eventually(lambda: any(e.topic == "fake.final" for e in warm))

        for i in range(50, 100):
            await a.publish("orders.x", {"i": i})
        await eventually(lambda: len(got) == 100)
        refused = drops(b).get("spoofed_source", 0)
        stats = b.statistics()
        print(
            f"\na forger on its own link sent {len(forged) + 2} events claiming node a (seq 2^63-1, 51-55); "
            f"b refused spoofed_source={refused}, delivered {len(got)} of a's 100, lost={stats.lost}"
        )
        assert got == [(a.id, seq) for seq in range(1, 101)]
        assert refused == len(forged) + 2 and stats.lost == 0


async def test_a_reply_from_a_node_not_asked_never_settles_the_request(mesh_name: str, raw: Raw) -> None:
    async with (
        Node("asker", mesh=mesh_name, config=FAST) as asker,
        Node("calc", mesh=mesh_name, config=FAST) as calc,
    ):
        asked: list[str] = []
        release = asyncio.Event()

        @calc.respond("sum")
        async def _sum(event: Event) -> int:
            asked.append(event.id)
            await release.wait()
            return sum(event.payload)

        fake = FakePeer(raw, "forger", mesh_name)
        dealer = fake.hello(asker)
        await eventually(lambda: any(p.id == "forger" for p in asker.peers))
        await asker.wait_for_responders("sum", timeout=10)
        request = asyncio.create_task(asker.request("sum", [1, 2, 3], timeout=10))
        await eventually(lambda: bool(asked))
        for claimed in (calc.id, "forger"):  # as the responder, then as itself
            reply = Event("sum.reply", 999, source="calc", causation_id=asked[0])
            dealer.send_multipart([Kind.REPLY.value, *wire.encode(reply, node_id=claimed)])
        await eventually(lambda: drops(asker).get("spoofed_sender", 0) == 1)
        await eventually(lambda: drops(asker).get("foreign_reply", 0) == 1)
        release.set()
        answer = await request
        print(
            f"\na forger sent two REPLYs to request {asked[0][:12]} (claiming calc, then as itself): "
            f"refused spoofed_sender=1, foreign_reply=1; the request got calc's answer {answer.payload}"
        )
        assert answer.payload == 6 and answer.node_id == calc.id


async def test_ghosts_hold_no_peer_slot_for_long_and_max_peers_refuses_the_rest(
    mesh_name: str, raw: Raw
) -> None:
    config = {
        "discovery": {"heartbeat_interval": 0.2, "peer_timeout": 1.0, "handshake_timeout": 2.0},
        "limits": {"max_peers": 4},
    }
    async with Node("target", mesh=mesh_name, config=config) as node:
        ghosts = [FakePeer(raw, f"ghost-{i}", mesh_name) for i in range(8)]
        dealers = [g.hello(node, pub="tcp://127.0.0.1:9") for g in ghosts]  # an XPUB nobody serves
        await eventually(lambda: len(node.peers) == 4 and drops(node).get("max_peers", 0) >= 4)
        full_at = time.monotonic()
        deadline = full_at + 8
        while node.peers and time.monotonic() < deadline:  # they keep pinging: no handshake completes
            for dealer in dealers:
                dealer.send_multipart([Kind.PING.value, b""])
            await asyncio.sleep(0.1)
        gone_after = time.monotonic() - full_at
        async with Node("real", mesh=mesh_name, config=FAST) as real:
            await eventually(lambda: any(p.id == real.id for p in node.peers), timeout=15)
        print(
            f"\n8 ghosts sent HELLO and PINGs (XPUB unreachable) to a node with limits.max_peers=4: "
            f"4 admitted, max_peers={drops(node)['max_peers']} refused; all expired after {gone_after:.1f} s "
            "(handshake_timeout 2 s) although they kept pinging; a real node then joined"
        )
        assert gone_after < 3.5


async def test_a_sequence_jump_is_refused_and_the_stream_goes_on(mesh_name: str, raw: Raw) -> None:
    async with Node("target", mesh=mesh_name, config=FAST) as node:
        got: list[int] = []
        warm: list[Event] = []
        await node.subscribe("jump.t", handler=lambda e: got.append(e.seq))
        await node.subscribe("fake.*", handler=warm.append)
        fake = FakePeer(raw, "jumper", mesh_name)
        fake.hello(node)
        await fake.until_heard(lambda: bool(warm))
        for seq in (1, 2, 2**40, 3, 4):
            fake.publish(fake.event("jump.t", seq))
        await eventually(lambda: got == [1, 2, 3, 4])
        stats = node.statistics()
        print(
            f"\na peer jumped its stream from 2 to 2^40 (limits.max_seq_jump=10,000,000): refused "
            f"seq_jump={stats.dropped.get('seq_jump', 0)}; 3 and 4 delivered, lost={stats.lost}"
        )
        assert stats.dropped.get("seq_jump", 0) == 1 and stats.lost == 0


async def test_per_peer_pattern_and_stream_limits(mesh_name: str, raw: Raw) -> None:
    config = {**FAST, "limits": {"max_patterns_per_peer": 10, "max_streams_per_peer": 20}}
    async with Node("target", mesh=mesh_name, config=config) as node:
        got: set[str] = set()
        await node.subscribe("many.*", handler=lambda e: got.add(e.topic))
        fake = FakePeer(raw, "greedy", mesh_name)
        fake.hello(node, patterns=tuple(f"p{i}.*" for i in range(50)))
        await eventually(lambda: any(p.id == "greedy" for p in node.peers))
        (peer,) = [p for p in node.peers if p.id == "greedy"]
        await fake.until_heard(lambda: bool(got), topic="many.warm")  # its first stream
        for i in range(50):  # its streams 2..51: 19 fit under the limit of 20, 31 do not
            fake.publish(fake.event(f"many.t{i}", 1))
        await eventually(lambda: drops(node).get("stream_limit", 0) == 31 and len(got) == 20)
        d = drops(node)
        print(
            f"\na peer announced 50 patterns and published on 51 topics (limits: 10 patterns, 20 streams): "
            f"kept {len(peer.patterns)} patterns (pattern_limit={d.get('pattern_limit')}), followed "
            f"{len(got)} topics, stream_limit={d['stream_limit']}"
        )
        assert len(peer.patterns) == 10 and d.get("pattern_limit") == 1
        assert len(got) == 20 and d["stream_limit"] == 31


async def test_a_flooding_peer_is_rate_limited_and_the_node_keeps_serving(mesh_name: str, raw: Raw) -> None:
    # (repair answers are waited for 0.1 s, not 1 s: the flooder never answers, and its losses are
    # reported one unanswered range at a time)
    config = {**FAST, "limits": {"peer_events_per_second": 500}, "repair": {"timeout": 0.1, "tick": 0.02}}
    async with Node("target", mesh=mesh_name, config=config) as node:
        got: list[int] = []
        warm: list[Event] = []
        await node.subscribe("flood.t", handler=lambda e: got.append(e.seq))
        await node.subscribe("fake.*", handler=warm.append)
        fake = FakePeer(raw, "flooder", mesh_name)
        fake.hello(node)
        await fake.until_heard(lambda: bool(warm))
        before = node.statistics().received
        started = time.monotonic()
        sent = 5000
        for seq in range(1, sent + 1):
            fake.publish(fake.event("flood.t", seq))

        def limited() -> int:
            return drops(node).get("rate_limited", 0)

        await eventually(lambda: node.statistics().received - before + limited() == sent, timeout=10)
        took = time.monotonic() - started
        taken = sent - limited()
        print(
            f"\na peer sent {sent} events in {took:.2f} s to a node with limits.peer_events_per_second=500: "
            f"taken {taken}, rate_limited={limited()}"
        )
        assert 0 < taken <= 500 * (1 + took)
        # every event is delivered or counted: the flooder stays alive (it beats, naming the tail it
        # sent) but answers no repair, so its gaps are reported lost

        def settled() -> bool:
            fake.beat({"flood.t": sent})
            return len(got) == taken and node.statistics().lost == limited()

        await eventually(settled, timeout=20, interval=0.1)
        async with Node("real", mesh=mesh_name, config=FAST) as real:
            ok: list[Event] = []
            await node.subscribe("real.t", handler=ok.append)
            await real.wait_for_subscribers("real.t", timeout=10)
            await real.publish("real.t", {})
            await eventually(lambda: len(ok) == 1)


async def test_a_forged_bye_or_a_new_incarnation_from_another_socket_never_removes_a_live_peer(
    mesh_name: str, raw: Raw
) -> None:
    """No takeover without keys (PeerTable Rule 6): a DEALER presenting a's id to b's ROUTER (which
    ROUTER_HANDOVER lets it do) says BYE, then HELLO with a higher epoch; a is still heard on its own
    XPUB, so b keeps it (the HELLO refused as ``takeover``) and a's events still arrive. a's real
    leaving still removes it at once."""
    async with Node("b", mesh=mesh_name, config=FAST) as b:
        a = Node("a", mesh=mesh_name, config=FAST)
        await a.start()
        try:
            got: list[int] = []
            left: list[float] = []
            await b.subscribe("orders.*", handler=lambda e: got.append(e.seq))
            await a.wait_for_subscribers("orders.x", timeout=10)
            await a.publish("orders.x", {"i": -1})  # heard on a's own XPUB: b's handshake with a is done
            await eventually(lambda: got == [1])
            impostor = FakePeer(raw, a.id, mesh_name, name="a")
            dealer = impostor.dealer_to(b)
            dealer.send_multipart([Kind.BYE.value, b""])
            impostor.epoch = a.epoch + 1
            impostor.hello(b)
            await eventually(lambda: drops(b).get("takeover", 0) >= 1, timeout=10)
            # a bounded look: a stays for longer than peer_timeout (2 s) after the forged BYE
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:
                assert [(p.id, p.epoch) for p in b.peers] == [(a.id, a.epoch)]
                await asyncio.sleep(0.1)
            for i in range(20):
                await a.publish("orders.x", {"i": i})
            await eventually(lambda: len(got) == 21)
            stats = b.statistics()
            print(
                f"\nanother socket presenting a's id said BYE and HELLO with epoch+1 to b: "
                f"takeover={stats.dropped['takeover']} (per peer {stats.dropped_by_peer[a.id]}); b kept "
                f"a (epoch unchanged) for 2.5 s and got its next 20 events, lost={stats.lost}"
            )
            assert stats.lost == 0 and stats.dropped_by_peer[a.id].get("takeover", 0) >= 1
            b.on_peer(lambda change: left.append(time.monotonic()) if change.kind == "left" else None)
            closing = time.monotonic()
        finally:
            await a.close()
        await eventually(lambda: bool(left), timeout=5)
        print(f"a's real BYE and close: b saw it leave {left[0] - closing:.2f} s after a began closing")
        assert b.peers == []
