"""The socket-level pieces of the mesh: a ``Pump`` drains one socket, a ``Link`` is what a node holds
for one peer (DEALER to its ROUTER, SUB on its XPUB, a monitor on the SUB).

Polling: each receiving socket is watched with ``loop.add_reader`` on its ZMQ_FD; one wake-up drains it
with NOBLOCK until EAGAIN (no future per message). ZMQ_FD is edge-triggered, so the pump re-checks
ZMQ_EVENTS before sleeping and also wakes every ``SAFETY_POLL`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

import zmq

from .sockets import recv_frames

if TYPE_CHECKING:
    from .mesh import MeshTransport

__all__ = ["DRAIN_BATCH", "SAFETY_POLL", "Link", "Pump"]

log = logging.getLogger("zbus")
DRAIN_BATCH = 512
SAFETY_POLL = 0.25
_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)


class Pump:
    """Drains one socket whenever it is readable, calling ``handle(frames)`` for each message."""

    def __init__(
        self,
        sock: zmq.Socket[bytes],
        handle: Callable[[list[bytes]], Awaitable[None] | None],
        name: str,
        on_batch: Callable[[], object] | None = None,
    ):
        self.sock = sock
        self.handle = handle
        self.on_batch = on_batch
        self.wake = asyncio.Event()
        self.stopped = False
        loop = asyncio.get_running_loop()
        self.fd = int(sock.getsockopt(zmq.FD))
        loop.add_reader(self.fd, self._on_fd)
        self.task = loop.create_task(self._run(), name=f"zbus-pump-{name}")

    def _on_fd(self) -> None:
        try:
            if int(self.sock.getsockopt(_EVENTS)) & _POLLIN:
                self.wake.set()
        except zmq.ZMQError:
            self.wake.set()

    async def _run(self) -> None:
        sock, handle = self.sock, self.handle
        while not self.stopped:
            n = 0
            while n < DRAIN_BATCH:
                try:
                    frames = recv_frames(sock)
                except zmq.Again:
                    break
                n += 1
                try:
                    result = handle(frames)
                    if result is not None:
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("zbus: error handling a message; it was dropped")
            if n and self.on_batch is not None:
                self.on_batch()
            if n == DRAIN_BATCH:
                await asyncio.sleep(0)
                continue
            self.wake.clear()
            if int(sock.getsockopt(_EVENTS)) & _POLLIN:
                continue
            try:
                async with asyncio.timeout(SAFETY_POLL):  # not wait_for: it can swallow a cancel
                    await self.wake.wait()
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self.stopped = True
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.fd)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


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
