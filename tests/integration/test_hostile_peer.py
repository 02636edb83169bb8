"""A hostile peer speaking the wire format from raw ZeroMQ sockets (as in test_untrusted.py): an announced
regex is never run, and a REQUEST on a ``$zbus.`` topic is refused and counted, never an unhandled task
error (docs/ARCHITECTURE.md, "Hostile input"). Also: ``on_pattern`` regexes stay local end to end."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import msgpack
import pytest
import zmq

from zbus import Event, Node, WaitTimeout
from zbus.codec import wire
from zbus.codec.control import Kind, PeerHello
from zbus.testing import eventually

from .conftest import FAST
from .rawpeer import Raw

EVIL = "re:(.*.*.*)*X"  # backtracks exponentially on a topic without an X


async def join_as_fake(
    raw: Raw, node: Node, mesh: str, patterns: tuple[str, ...]
) -> tuple[zmq.Socket[bytes], PeerHello]:
    """Introduce a fake peer announcing ``patterns``; returns its DEALER and its HELLO."""
    dealer = raw.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, b"evil-peer")
    dealer.connect(node.endpoints["router"])
    hello = PeerHello(
        id="evil-peer",
        name="evil",
        mesh=mesh,
        epoch=1,
        pub="tcp://127.0.0.1:9",
        router="tcp://127.0.0.1:9",
        patterns=patterns,
    )
    dealer.send_multipart([Kind.HELLO.value, hello.encode()])
    await eventually(lambda: any(p.id == "evil-peer" for p in node.peers))
    return dealer, hello


async def test_an_announced_regex_is_never_run(mesh_name: str, raw: Raw) -> None:
    async with Node("target", mesh=mesh_name) as node:
        dealer, hello = await join_as_fake(raw, node, mesh_name, (EVIL, "ok.*"))
        (peer,) = [p for p in node.peers if p.id == "evil-peer"]
        assert peer.patterns == frozenset({"ok.*"})
        topic = "a" * 40
        started = time.monotonic()
        with pytest.raises(WaitTimeout):
            await node.wait_for_subscribers(topic, timeout=1)
        took = time.monotonic() - started
        update = dataclasses.replace(hello, patterns=("re:(a|aa)*Y", "more.*"), ack=True)
        dealer.send_multipart([Kind.UPDATE.value, update.encode()])
        await eventually(lambda: node._transport.dropped["remote_regex"] == 2)  # type: ignore[union-attr]
        started = time.monotonic()
        with pytest.raises(WaitTimeout):
            await node.wait_for_subscribers(topic, timeout=1)
        took_after_update = time.monotonic() - started
        dropped = node.statistics().dropped
        print(
            f"\na fake peer announced {EVIL!r} in HELLO and 're:(a|aa)*Y' in UPDATE; refused and counted: "
            f"remote_regex={dropped['remote_regex']}; wait_for_subscribers({topic[:6]}..., timeout=1) "
            f"returned after {took:.2f} s and {took_after_update:.2f} s"
        )
        assert took < 1.5 and took_after_update < 1.5
        assert dropped["remote_regex"] == 2


async def test_on_pattern_announces_a_topic_pattern_and_filters_locally(mesh_name: str) -> None:
    async with (
        Node("sub", mesh=mesh_name, config=FAST) as sub,
        Node("pub", mesh=mesh_name, config=FAST) as pub,
    ):
        got: list[str] = []
        sub.on_pattern(r"orders\.(created|paid)")(lambda e: got.append(e.type))
        await pub.wait_for_peers(1)
        await eventually(lambda: any(p.patterns == {"orders.**"} for p in pub.peers))
        assert await pub.wait_for_subscribers("orders.created", timeout=5) == 1
        for topic in ("orders.shipped", "other.thing", "orders.created", "orders.paid"):
            await pub.publish(topic, {})
        await eventually(lambda: len(got) == 2)
        await asyncio.sleep(0.1)  # the unmatched events had every chance to arrive
        announced = sorted(next(iter(pub.peers)).patterns)
        print(f"\non_pattern(r'orders\\.(created|paid)') announced {announced}; got {got}")
        assert got == ["orders.created", "orders.paid"]


async def test_a_request_on_a_system_topic_is_refused_and_counted(
    mesh_name: str, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="zbus")
    async with Node("target", mesh=mesh_name) as node:
        dealer, _ = await join_as_fake(raw, node, mesh_name, ())
        for i in range(50):
            frames = wire.encode(Event("probe.x", {"i": i}), node_id="evil-peer", epoch=1)
            frames[0] = b"$zbus.probe"
            dealer.send_multipart([Kind.REQUEST.value, *frames])
        await eventually(lambda: node.statistics().dropped.get("system_request", 0) == 50)
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        print(
            f"\n50 REQUESTs on '$zbus.probe' from a peer: system_request="
            f"{node.statistics().dropped['system_request']}, ERROR log lines: {len(errors)}"
        )
        assert errors == []
        assert node.statistics().state == "running"


async def test_malformed_group_messages_are_counted_and_harmless(mesh_name: str, raw: Raw) -> None:
    async with Node("target", mesh=mesh_name, config=FAST) as node:
        got: list[int] = []
        await node.subscribe("job.*", handler=lambda e: got.append(e.payload["n"]), group="g")
        dealer, _ = await join_as_fake(raw, node, mesh_name, ())
        frames = wire.encode(Event("job.x", {"n": 1}), node_id="evil-peer", epoch=1)
        bad = [
            [Kind.DELIVER.value, b"\xc1"],
            [Kind.DELIVER.value, msgpack.packb({"v": 1, "group": "g", "events": [[1, 0, b"t", b"h", b"p"]]})],
            [Kind.ACK.value, msgpack.packb({"v": 1, "ack": ["x"]})],
            [Kind.ACK.value],
        ]
        for message in bad:
            dealer.send_multipart(message)
        good = msgpack.packb({"v": 1, "group": "g", "events": [[7, 1, *frames]]})
        dealer.send_multipart([Kind.DELIVER.value, good])  # a well-formed one still works
        await eventually(lambda: got == [1])
        dropped = node.statistics().dropped
        print(f"\nmalformed DELIVER/ACK from a peer: malformed_group={dropped.get('malformed_group')}")
        assert dropped["malformed_group"] == 4
        await eventually(lambda: node.group_statistics().acked == 1)  # its ack went back to the sender
