"""Garbage on every socket is dropped and counted; the node keeps serving."""

from __future__ import annotations

import asyncio
import os
import random

import msgpack
import zmq

from zbus import Event, Node
from zbus.codec import wire
from zbus.codec.control import Kind, PeerHello
from zbus.testing import eventually

from .conftest import FAST


def garbage(rng: random.Random) -> list[bytes]:
    return [rng.randbytes(rng.randint(0, 64)) for _ in range(rng.randint(1, 5))]


async def test_fuzzed_frames_on_every_socket(mesh_name: str) -> None:
    rng = random.Random(1234)
    ctx = zmq.Context()
    try:
        patient = {"discovery": {"heartbeat_interval": 0.2, "peer_timeout": 30}}  # the fake never beats
        async with Node("target", mesh=mesh_name, config=patient) as node:
            got: list[Event] = []
            await node.subscribe("**", handler=got.append)
            pub_ep, router_ep = node.endpoints["pub"], node.endpoints["router"]

            # 1. a fake peer: introduce ourselves, so the node's SUB connects to our PUB
            fake_pub = ctx.socket(zmq.PUB)
            fake_pub.setsockopt(zmq.LINGER, 0)
            port = fake_pub.bind_to_random_port("tcp://127.0.0.1")
            dealer = ctx.socket(zmq.DEALER)
            dealer.setsockopt(zmq.LINGER, 0)
            dealer.setsockopt(zmq.IDENTITY, b"fake-peer")
            dealer.connect(router_ep)
            fake_router = ctx.socket(zmq.ROUTER)
            fake_router.setsockopt(zmq.LINGER, 0)
            router_port = fake_router.bind_to_random_port("tcp://127.0.0.1")
            hello = PeerHello(
                id="fake-peer",
                name="fake",
                mesh=mesh_name,
                epoch=1,
                pub=f"tcp://127.0.0.1:{port}",
                router=f"tcp://127.0.0.1:{router_port}",
            )
            dealer.send_multipart([Kind.HELLO.value, hello.encode()])
            await eventually(lambda: any(p.id == "fake-peer" for p in node.peers))

            # 2. garbage on the ROUTER (through the known peer and through a stranger)
            stranger = ctx.socket(zmq.DEALER)
            stranger.setsockopt(zmq.LINGER, 0)
            stranger.connect(router_ep)
            for _ in range(300):
                dealer.send_multipart(garbage(rng))
                stranger.send_multipart(garbage(rng))
                kind = rng.choice(
                    sorted(k.value for k in Kind if k is not Kind.BYE)
                )  # a BYE from the peer itself is legitimate
                dealer.send_multipart([kind, *garbage(rng)])
                stranger.send_multipart([rng.choice(sorted(k.value for k in Kind)), *garbage(rng)])
            dealer.send_multipart(
                [Kind.HELLO.value, msgpack.packb({"v": 1, "id": "other", "mesh": mesh_name})]
            )

            # 3. garbage subscriptions on the XPUB
            xsub = ctx.socket(zmq.XSUB)
            xsub.setsockopt(zmq.LINGER, 0)
            xsub.connect(pub_ep)
            for _ in range(300):
                xsub.send(rng.randbytes(rng.randint(0, 40)))

            # 4. garbage events on the SUB (the node subscribed to everything)
            good = wire.encode(Event("after.fuzz", {"ok": True}), node_id="fake-peer", seq=1, epoch=1)
            warm = wire.encode(Event("warm.up"), node_id="fake-peer", seq=1, epoch=1)

            async def heard_us() -> bool:  # slow joiner on our fake PUB: repeat until the node hears us
                fake_pub.send_multipart(warm)
                await asyncio.sleep(0.01)
                return any(e.type == "warm.up" for e in got)

            await eventually(heard_us)
            for _ in range(500):
                frames = garbage(rng)
                if rng.random() < 0.3:
                    frames[0] = b"$zbus.hb"
                fake_pub.send_multipart(frames)
            header = msgpack.unpackb(good[1])
            for i in range(len(header)):
                h = list(header)
                h[i] = rng.choice([None, -5, "x", [1], {"a": 2}, 3.5])
                fake_pub.send_multipart([good[0], msgpack.packb(h), good[2]])
            bad_bodies = [
                b"",
                b"\xc1",
                msgpack.packb([b"only-one"]),
                msgpack.packb([1, 2]),
                msgpack.packb("x"),
            ]
            for body in bad_bodies:  # two-frame messages are batches: these bodies are not
                fake_pub.send_multipart([b"bad.batch", body])
            parts = [
                part
                for i in range(3)
                for part in wire.encode(Event("in.batch", {"i": i}), node_id="fake-peer", seq=i + 1, epoch=1)[
                    1:
                ]
            ]
            fake_pub.send_multipart(wire.encode_batch(b"in.batch", parts))
            final = wire.encode(Event("fuzz.final", {"ok": True}), node_id="fake-peer", seq=1, epoch=1)
            fake_pub.send_multipart(final)

            await eventually(lambda: any(e.type == "fuzz.final" for e in got), timeout=10)
            dropped = node.statistics().dropped
            assert dropped.get("malformed", 0) > 0, dropped
            assert dropped.get("malformed_batch", 0) >= len(bad_bodies), dropped
            assert [e.payload["i"] for e in got if e.type == "in.batch"] == [
                0,
                1,
                2,
            ]  # a valid batch, in order
            assert node.statistics().state == "running"

            # 5. and it still serves real peers
            async with Node("peer", mesh=mesh_name, config=FAST) as peer:
                await peer.wait_for_subscribers("still.alive", timeout=10)
                await peer.publish("still.alive", {"n": os.getpid()})
                await eventually(lambda: any(e.type == "still.alive" for e in got), timeout=10)
            transport_drops = node._transport.dropped  # type: ignore[union-attr]
            assert transport_drops["unknown_kind"] > 0 and transport_drops["malformed_subscription"] > 0
    finally:
        ctx.destroy(linger=0)
