"""A fake peer made of raw ZeroMQ sockets that speaks the wire format (PROTOCOL.md) for hostile-input
tests: it introduces itself with HELLO, beats, publishes on its own PUB, and sends anything it likes.
Shared by tests/integration (on loopback) and tests/lab/hostile_host.py (on a lab host's address)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import zmq

from zbus import Event, Node
from zbus.codec import wire
from zbus.codec.control import Heartbeat, Kind, PeerHello
from zbus.security.keys import NodeKeys


class Raw:
    """Raw sockets of one test, all closed at its end (before they could be garbage-collected)."""

    def __init__(self) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sockets: list[zmq.Socket[bytes]] = []

    def socket(self, kind: int, *, keys: NodeKeys | None = None, server: bytes = b"") -> zmq.Socket[bytes]:
        """A socket closed at the end; with ``keys``, a CURVE client of the server key ``server``."""
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        if keys is not None:
            sock.setsockopt(zmq.CURVE_SERVERKEY, server)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
        self.sockets.append(sock)
        return sock

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.ctx.destroy(linger=0)  # (and any socket made by pyzmq itself: a monitor's PAIR)


class FakePeer:
    """A peer with a PUB (its events and heartbeats), a ROUTER (so the node's DEALER has somewhere to
    connect) and a DEALER to the node's ROUTER, identified as ``node_id``."""

    def __init__(
        self, raw: Raw, node_id: str, mesh: str, *, name: str = "fake", host: str = "127.0.0.1"
    ) -> None:
        self.raw = raw
        self.id = node_id
        self.name = name
        self.mesh = mesh
        self.epoch = 1
        self.pub = raw.socket(zmq.PUB)
        self.pub.setsockopt(zmq.SNDHWM, 0)  # a burst is sent whole (libzmq's 1,000 would drop the rest)
        self.pub_endpoint = f"tcp://{host}:{self.pub.bind_to_random_port(f'tcp://{host}')}"
        self.router = raw.socket(zmq.ROUTER)
        self.router_endpoint = f"tcp://{host}:{self.router.bind_to_random_port(f'tcp://{host}')}"
        self.dealers: list[zmq.Socket[bytes]] = []

    def dealer_to(self, node: Node | str) -> zmq.Socket[bytes]:
        """A DEALER identified as us, connected to ``node``'s ROUTER (a Node, or its endpoint)."""
        dealer = self.raw.socket(zmq.DEALER)
        dealer.setsockopt(zmq.IDENTITY, self.id.encode())
        dealer.connect(node if isinstance(node, str) else node.endpoints["router"])
        self.dealers.append(dealer)
        return dealer

    def hello(
        self, node: Node | str, *, patterns: tuple[str, ...] = (), pub: str | None = None
    ) -> zmq.Socket[bytes]:
        """Introduce ourselves to ``node``; returns the DEALER used."""
        dealer = self.dealer_to(node)
        body = PeerHello(
            id=self.id,
            name=self.name,
            mesh=self.mesh,
            epoch=self.epoch,
            pub=self.pub_endpoint if pub is None else pub,
            router=self.router_endpoint,
            patterns=patterns,
        )
        dealer.send_multipart([Kind.HELLO.value, body.encode()])
        return dealer

    def beat(self, heads: dict[str, int] | None = None) -> None:
        self.pub.send_multipart(Heartbeat(id=self.id, epoch=self.epoch, heads=heads or {}).encode())

    def event(
        self, topic: str, seq: int, *, node_id: str | None = None, payload: object = None
    ) -> list[bytes]:
        """The frames of an event of ours (or claiming to be ``node_id``'s)."""
        event = Event(topic, {} if payload is None else payload, source=self.name)
        return wire.encode(event, node_id=self.id if node_id is None else node_id, seq=seq, epoch=self.epoch)

    def publish(self, frames: list[bytes]) -> None:
        self.pub.send_multipart(frames)

    async def until_heard(
        self, heard: Callable[[], bool], topic: str = "fake.warm", timeout: float = 10
    ) -> None:
        """Beat and publish warm-up events of our own until ``heard()`` (the node's SUB is connected
        and subscribed: the slow joiner), bounded by ``timeout``."""
        async with asyncio.timeout(timeout):
            seq = 0
            while not heard():
                seq += 1
                self.beat()
                self.publish(self.event(topic, seq))
                await asyncio.sleep(0.02)
