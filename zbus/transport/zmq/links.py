"""What a node holds for one peer: a ``Link`` (DEALER to its ROUTER, SUB on its XPUB, a monitor on
the SUB), each receiving socket drained by a ``pump.Pump``.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import zmq

from .pump import Pump
from .sockets import recv_frames

if TYPE_CHECKING:
    from .mesh import MeshTransport

__all__ = ["Link"]


class Link:
    """What this node holds for one peer: DEALER to its ROUTER, SUB on its XPUB, SUB monitor.

    The SUB is optional: in forwarder mode a publisher's events come through the forwarder, and its
    direct SUB is closed (``set_prefixes`` with nothing wanted) and reopened when the forwarder leaves.
    ``counts`` mirrors the SUB's subscriptions (a forwarder subscribes a prefix once per downstream
    subscriber, so the publisher's XPUB counts them all).
    """

    def __init__(self, mesh: MeshTransport, peer_id: str, dealer: zmq.Socket[bytes], router: str) -> None:
        self.mesh = mesh
        self.peer_id = peer_id
        self.dealer = dealer
        self.router = router
        self.pub = ""
        self.role = "node"
        self.sub: zmq.Socket[bytes] | None = None
        self.monitor: zmq.Socket[bytes] | None = None
        self.pumps: list[Pump] = []
        self.counts: Counter[bytes] = Counter()

    def open_sub(self, pub: str, prefixes: Iterable[bytes]) -> None:
        """Subscribe to the peer's XPUB (prefixes first, so none of them races the connect)."""
        mesh = self.mesh
        self.pub = pub
        self.sub = sub = mesh._factory.sub()
        self.counts = Counter(prefixes)
        for prefix, n in self.counts.items():
            for _ in range(n):
                sub.setsockopt(zmq.SUBSCRIBE, prefix)
        self.monitor = sub.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        mesh._factory.connect(sub, pub)
        short = self.peer_id[:8]
        self.pumps = [
            # any traffic from the peer proves it alive, even when its heartbeats queue behind events
            Pump(
                sub,
                lambda frames: mesh._on_sub(frames, self),
                f"sub-{short}",
                on_batch=lambda: mesh.table.seen(self.peer_id, time.monotonic()),
            ),
            Pump(self.monitor, lambda frames: mesh._on_link_dropped(self.peer_id), f"monitor-{short}"),
        ]

    def set_prefixes(self, wanted: Counter[bytes]) -> None:
        """Make the SUB's subscriptions ``wanted`` (prefix -> times); nothing wanted closes the SUB."""
        wanted = +wanted
        if not wanted:
            if self.sub is not None:
                self.mesh.background(self.retire_sub(), f"zbus-unsub-{self.peer_id[:8]}")
            return
        if self.sub is None:
            if self.pub:
                self.open_sub(self.pub, wanted.elements())
            return
        for prefix in set(wanted) | set(self.counts):
            diff = wanted[prefix] - self.counts[prefix]
            option = zmq.SUBSCRIBE if diff > 0 else zmq.UNSUBSCRIBE
            for _ in range(abs(diff)):
                self.sub.setsockopt(option, prefix)
        self.counts = wanted
        for pump in self.pumps:
            pump._on_fd()  # setsockopt may have consumed a readiness edge

    async def retire_sub(self) -> None:
        """Close the SUB after handing on what it already queued (events then arrive elsewhere)."""
        sub, monitor, pumps = self.sub, self.monitor, self.pumps
        self.sub, self.monitor, self.pumps, self.counts = None, None, [], Counter()
        if sub is None:
            return
        for pump in pumps:
            await pump.stop()
        with contextlib.suppress(zmq.ZMQError):
            sub.disable_monitor()
        for _ in range(100_000):  # bounded: the queue holds at most recv_hwm messages
            try:
                frames = recv_frames(sub)
            except zmq.ZMQError:
                break
            result = self.mesh._on_sub(frames, None)
            if result is not None:
                await result
        sub.close(linger=0)
        if monitor is not None:
            monitor.close(linger=0)

    async def stop_reading(self) -> None:
        """Stop the pumps (the context's destroy closes the sockets)."""
        for pump in self.pumps:
            await pump.stop()
        self.pumps = []

    async def close(self) -> None:
        """Stop reading and close every socket of the link."""
        await self.stop_reading()
        if self.sub is not None:
            with contextlib.suppress(zmq.ZMQError):
                self.sub.disable_monitor()
            self.sub.close(linger=0)
        if self.monitor is not None:
            self.monitor.close(linger=0)
        self.dealer.close(linger=0)
