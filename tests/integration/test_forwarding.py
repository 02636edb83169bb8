"""Forwarder mode in one process: real nodes on loopback, one of them a forwarder (role "forwarder").

The CLI test (test_forwarder.py) covers kills and restarts across processes; these cover the
subscription bookkeeping: several subscribers behind one forwarder are all counted by the
publisher, each gets every event exactly once, "off" nodes keep their direct links, and the
forwarder relays only what its subscribers asked for.
"""

from __future__ import annotations

import os
from typing import Any

from zbus import Event, Node
from zbus.testing import eventually

from .conftest import FAST


def config(forwarder: str) -> dict[str, Any]:
    return {**FAST, "transport": {"forwarder": forwarder}}


async def test_subscribers_behind_a_forwarder_are_counted_and_get_each_event_once() -> None:
    mesh = f"fwd-{os.urandom(4).hex()}"
    async with (
        Node("fwd", mesh=mesh, config=config("off"), role="forwarder") as fwd,
        Node("s1", mesh=mesh, config=config("auto")) as s1,
        Node("s2", mesh=mesh, config=config("auto")) as s2,
        Node("direct", mesh=mesh, config=config("off")) as direct,
        Node("pub", mesh=mesh, config=config("off")) as pub,
    ):
        got: dict[str, list[Event]] = {"s1": [], "s2": [], "direct": []}
        for node in (s1, s2, direct):
            await node.subscribe("job.*", handler=got[node.name].append)
        await pub.wait_for_peers(4, timeout=10)
        assert {p.role for p in pub.peers} == {"forwarder", "node"}
        assert await pub.wait_for_subscribers("job.run", 3, timeout=10) == 3
        # s1 and s2 switch to the forwarder once a heartbeat of `pub` reaches them through it
        for node in (s1, s2):
            forwarding = node._transport.forwarding  # type: ignore[union-attr]
            await eventually(lambda f=forwarding: f.via == fwd.id and pub.id in f.confirmed, timeout=10)
            links = node._transport._links  # type: ignore[union-attr]
            await eventually(lambda links=links: links[pub.id].sub is None, timeout=5)  # direct SUB closed
        for i in range(200):
            await pub.publish("job.run", {"i": i})
        await pub.publish("other.topic", {})
        await eventually(lambda: all(len(events) == 200 for events in got.values()), timeout=10)
        for events in got.values():
            assert [e.payload["i"] for e in events] == list(range(200))
            assert [e.seq for e in events] == list(range(1, 201))
        relayed = fwd._transport.forwarding.relayed  # type: ignore[union-attr]
        assert relayed > 0  # messages through the forwarder (a message may carry a batch of events)
        assert direct._transport._links[pub.id].sub is not None  # type: ignore[union-attr]
        assert s1.statistics().lost == s2.statistics().lost == 0


async def test_forwarder_relays_only_what_was_asked_and_fallback_on_close() -> None:
    mesh = f"fwd-{os.urandom(4).hex()}"
    async with (
        Node("sub", mesh=mesh, config=config("auto")) as sub,
        Node("pub", mesh=mesh, config=config("off")) as pub,
    ):
        got: list[Event] = []
        await sub.subscribe("a.*", handler=got.append)
        await pub.wait_for_subscribers("a.x", 1, timeout=10)
        fwd = Node("fwd", mesh=mesh, config=config("off"), role="forwarder")
        async with fwd:
            forwarding = sub._transport.forwarding  # type: ignore[union-attr]
            await eventually(lambda: forwarding.via == fwd.id and pub.id in forwarding.confirmed, timeout=10)
            before = fwd._transport.forwarding.relayed  # type: ignore[union-attr]
            for i in range(50):
                await pub.publish("b.unwanted", {"i": i})
            await pub.publish("a.x", {"i": 0})
            await eventually(lambda: len(got) == 1, timeout=10)
            # heartbeats are relayed too; the 50 unwanted events are not
            assert fwd._transport.forwarding.relayed - before < 20  # type: ignore[union-attr]
            # the subscriber's own event comes back from the forwarder: delivered once (locally) only
            await sub.publish("a.self", {"i": -1})
            for i in range(20):
                await pub.publish("a.x", {"i": 100 + i})
            await eventually(lambda: len(got) == 22, timeout=10)
            assert sorted(e.payload["i"] for e in got if e.topic == "a.self") == [-1]
            del got[1:]
        # the forwarder said BYE: the subscriber is back on its direct link
        await eventually(lambda: forwarding.via is None, timeout=10)
        await eventually(lambda: sub._transport._links[pub.id].sub is not None, timeout=10)  # type: ignore[union-attr]
        await pub.wait_for_subscribers("a.x", 1, timeout=10)
        await pub.publish("a.x", {"i": 1})
        await eventually(lambda: len(got) == 2, timeout=10)
        assert [e.payload["i"] for e in got] == [0, 1]
