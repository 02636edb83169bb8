"""Nodes on loopback (local scope) find each other over mDNS and exchange events over ZeroMQ."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import zmq

import zbus
from zbus import Event, Node
from zbus.codec.control import Kind, PeerHello
from zbus.testing import eventually, local_mesh

from .conftest import FAST


async def test_three_nodes_join_quickly_and_pubsub_with_patterns_and_filters() -> None:
    async with local_mesh(3, config=FAST) as (a, b, c):  # join time is measured in perf/, not here
        assert {p.name for p in a.peers} == {"n1", "n2"}
        got_b: list[Event] = []
        got_c: list[Event] = []
        own: list[Event] = []
        await b.subscribe("order.*", handler=got_b.append)
        await c.subscribe("order.**", handler=got_c.append, filter={"payload.amount": {"$gte": 100}})
        await a.subscribe("order.*", handler=own.append)
        assert await a.wait_for_subscribers("order.placed", 2, timeout=5) == 2
        await a.publish("order.placed", {"amount": 50})
        await a.publish("order.placed", {"amount": 150}, priority=9)
        await a.publish("order.eu.placed", {"amount": 500})
        await a.publish("invoice.sent", {"amount": 900})
        await eventually(lambda: len(got_b) == 2 and len(got_c) == 2 and len(own) == 2)
        # both may be queued before the handler runs: then priority 9 goes first
        by_amount = {e.payload["amount"]: e for e in got_b}
        assert sorted(by_amount) == [50, 150]
        assert sorted(e.payload["amount"] for e in got_c) == [150, 500]
        urgent = by_amount[150]
        assert urgent.priority == 9 and urgent.source == "n0" and urgent.seq == 2 and urgent.node_id == a.id
        assert b.statistics().received >= 2


async def test_directed_request_reply_and_errors() -> None:
    async with local_mesh(3, config=FAST) as (client, s1, s2):
        inbox: list[Any] = []
        await s1.subscribe("note", handler=lambda e: inbox.append(e.payload))
        await client.publish("note", "only for s1", target="n1")
        await eventually(lambda: inbox == ["only for s1"])
        with pytest.raises(zbus.UnknownTargetError):
            await client.publish("note", target="ghost")

        for server in (s1, s2):
            server.respond("calc.add")(
                lambda e, n=server.name: {"sum": e.payload["a"] + e.payload["b"], "by": n}
            )

        @s1.respond("calc.fail")
        def fail(e: Event) -> None:
            raise ValueError("cannot")

        await client.wait_for_responders("calc.add", 2, timeout=5)
        await client.wait_for_responders("calc.fail", timeout=5)
        replies = [await client.request("calc.add", {"a": 1, "b": i}, timeout=5) for i in range(4)]
        assert [r.payload["sum"] for r in replies] == [1, 2, 3, 4]
        assert sorted(r.payload["by"] for r in replies) == ["n1", "n1", "n2", "n2"]
        assert all(r.causation_id and r.correlation_id for r in replies)
        with pytest.raises(zbus.RemoteError, match="ValueError: cannot"):
            await client.request("calc.fail", timeout=5)
        with pytest.raises(zbus.NoResponders):
            await client.request("calc.nobody", timeout=5)

        gate = asyncio.Event()

        @s2.respond("calc.slow")
        async def slow(e: Event) -> None:
            await gate.wait()

        await client.wait_for_responders("calc.slow", timeout=5)
        with pytest.raises(zbus.RequestTimeout):
            await client.request("calc.slow", timeout=0.2)
        gate.set()


async def test_clean_leave_is_seen_at_once() -> None:
    async with local_mesh(2, config={"discovery": {"heartbeat_interval": 1, "peer_timeout": 30}}) as (a, b):
        left: list[zbus.PeerEvent] = []
        a.on_peer(lambda ev: left.append(ev) if ev.kind == "left" else None)
        t0 = time.monotonic()
        await b.close()
        await eventually(lambda: a.peers == [], timeout=5)
        assert time.monotonic() - t0 < 2  # BYE, not the 30 s timeout
        assert left[0].peer.name == "n1"


async def test_two_meshes_do_not_mix(mesh_name: str) -> None:
    # b (the other mesh) registers first, so by the time a has found a2 it has seen b's record too
    async with (
        Node("b", mesh=mesh_name + "-2", config=FAST) as b,  # entered first
        Node("a", mesh=mesh_name + "-1", config=FAST) as a,
        Node("a2", mesh=mesh_name + "-1", config=FAST) as a2,
    ):
        await a.wait_for_peers(1, timeout=5)
        await a2.wait_for_peers(1, timeout=5)
        assert [p.name for p in a.peers] == ["a2"]
        assert b.peers == []
        assert [p.name for p in a2.peers] == ["a"]
        # and a HELLO that claims another mesh is refused and counted
        ctx = zmq.Context()
        try:
            dealer = ctx.socket(zmq.DEALER)
            dealer.setsockopt(zmq.LINGER, 0)
            dealer.setsockopt(zmq.IDENTITY, b"intruder")
            dealer.connect(a.endpoints["router"])
            hello = PeerHello(
                id="intruder",
                name="x",
                mesh="elsewhere",
                epoch=1,
                pub="tcp://127.0.0.1:1",
                router="tcp://127.0.0.1:2",
            )
            dealer.send_multipart([Kind.HELLO.value, hello.encode()])
            await eventually(lambda: a._transport.dropped["wrong_mesh"] == 1)  # type: ignore[union-attr]
            assert [p.name for p in a.peers] == ["a2"]
        finally:
            ctx.destroy(linger=0)


async def test_default_scope_binds_loopback_only() -> None:
    async with local_mesh(1) as (a,):
        assert a.endpoints["pub"].startswith("tcp://127.0.0.1:")
        assert a.endpoints["router"].startswith("tcp://127.0.0.1:")
        assert a.config.discovery.scope == "local"


def test_blocking_node_over_the_mesh(mesh_name: str) -> None:
    with (
        zbus.BlockingNode("x", mesh=mesh_name, config=FAST) as x,
        zbus.BlockingNode("y", mesh=mesh_name, config=FAST) as y,
    ):
        sub = y.subscribe("hello")
        x.wait_for_subscribers("hello", timeout=5)
        x.publish("hello", {"n": 1})
        assert sub.next(timeout=5).payload == {"n": 1}
