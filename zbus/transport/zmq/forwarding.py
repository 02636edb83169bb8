"""Forwarder mode: which SUB subscriptions each peer link carries, and the forwarder's relay.

Theory of operation
-------------------
A **forwarder** is a mesh member with role ``forwarder`` (``zbus forwarder``). Like any node it greets
every peer and connects a SUB to each one's XPUB; unlike a node, it subscribes there to whatever its own
XPUB's subscribers asked for (each downstream subscription message becomes one SUBSCRIBE upstream, so a
publisher's ``wait_for_subscribers`` counts every subscriber behind it) and re-sends every frame it
receives, unchanged, on its XPUB (the relay: no decoding, sequence numbers and sources untouched). Its
HELLO announces that XPUB as its ``pub`` endpoint, so nothing on the wire changes.

A **node** with ``transport.forwarder = "auto"`` picks the first forwarder peer it meets and subscribes
there with its full interest. For each other peer it keeps the direct SUB until a heartbeat of that peer
arrives *through the forwarder*: from then on the path through the forwarder carries that peer's events,
so the direct SUB is drained (what it already queued is handed on) and closed. While both paths are open,
an event can arrive twice; ``StreamSync`` drops the second copy. When the forwarder leaves (BYE,
a dropped connection, heartbeat timeout), every direct SUB is reopened with the full interest (on a dropped
connection at once, not after the expiry), and when a forwarder (re)appears or its heartbeats come back
the switch starts over. Events published between the forwarder's death and the direct
re-subscription reaching the publisher are not received; the sequence check reports them as lost.

A node with ``"off"`` (the default) ignores forwarders except for their heartbeats: its SUB on a forwarder
carries only ``$zbus.hb`` (liveness), never events, so it never receives anything twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import zmq
import zmq.asyncio

from ...codec.control import HEARTBEAT_TOPIC
from ...codec.wire import decode
from ...errors import PeerError, WireError
from ...model.event import Event
from .sockets import send_frames

if TYPE_CHECKING:
    from .links import Link
    from .mesh import MeshTransport
    from .sockets import SocketFactory

__all__ = ["FORWARDER", "Forwarding", "read_capture"]

log = logging.getLogger("zbus")
FORWARDER = "forwarder"


class Forwarding:
    """The forwarder-mode state of one mesh (see the module text)."""

    def __init__(self, mesh: MeshTransport) -> None:
        self.mesh = mesh
        self.relay = mesh.role == FORWARDER
        self.auto = mesh.config.transport.forwarder == "auto" and not self.relay
        #: the forwarder peer whose XPUB this node takes events from (auto mode), or None
        self.via: str | None = None
        #: peers whose heartbeats arrived through ``via``: their direct SUBs are closed
        self.confirmed: set[str] = set()
        self.downstream: Counter[bytes] = Counter()
        self.relayed = 0
        self.capture: zmq.Socket[bytes] | None = None
        self.capture_endpoint = ""

    def start(self, factory: SocketFactory) -> None:
        """Bind the capture PUB of a forwarder, if ``transport.forwarder_capture`` names one."""
        endpoint = self.mesh.config.transport.forwarder_capture
        if self.relay and endpoint:
            self.capture = factory.pub()
            host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
            self.capture_endpoint = factory.bind(self.capture, host.strip("[]"), int(port or 0))

    # -- what each link subscribes ---------------------------------------------------------------
    def wanted(self, link: Link) -> Counter[bytes]:
        """The subscriptions ``link``'s SUB should carry now."""
        full = Counter(self.mesh._sub_prefixes)
        if self.relay:
            if link.role == FORWARDER:
                return Counter({HEARTBEAT_TOPIC: 1})  # never relay another forwarder (no loops)
            return Counter({HEARTBEAT_TOPIC: 1}) + self.downstream
        if link.role == FORWARDER:
            return full if link.peer_id == self.via else Counter({HEARTBEAT_TOPIC: 1})
        if self.via is not None and link.peer_id in self.confirmed:
            return Counter()
        return full

    def refresh(self, link: Link | None = None) -> None:
        """Apply :meth:`wanted` to one link, or to all."""
        links = self.mesh._links
        for each in [link] if link is not None else list(links.values()):
            if links.get(each.peer_id) is each:
                each.set_prefixes(self.wanted(each))

    # -- events from the mesh --------------------------------------------------------------------
    def added(self, link: Link) -> None:
        """A new peer link (its ``role`` and ``pub`` are set)."""
        if self.auto and link.role == FORWARDER and self.via is None:
            self._use(link.peer_id)
        self.refresh(link)

    def left(self, peer_id: str) -> None:
        """A peer left; if it was our forwarder, go direct again (or through another forwarder)."""
        self.confirmed.discard(peer_id)
        if peer_id != self.via:
            return
        log.info("forwarder %s left: taking events directly from publishers", peer_id)
        self.via = None
        self.confirmed.clear()
        other = next((p for p, lk in self.mesh._links.items() if lk.role == FORWARDER), None)
        if other is not None:
            self._use(other)
        self.refresh()

    def link_dropped(self, peer_id: str) -> None:
        """A peer's SUB connection dropped: if it was our forwarder, reopen direct SUBs at once rather
        than after the peer's expiry (it is used again when its heartbeats come back)."""
        if peer_id == self.via:
            log.info("lost the connection to forwarder %s: taking events directly", peer_id)
            self.via = None
            self.confirmed.clear()
            self.refresh()

    def _use(self, peer_id: str) -> None:
        log.info("taking events through forwarder %s", peer_id)
        self.via = peer_id
        self.confirmed.clear()

    def heartbeat(self, link: Link, sender: str) -> None:
        """A heartbeat of ``sender`` arrived on ``link``'s SUB."""
        if self.auto and self.via is None and link.role == FORWARDER and sender == link.peer_id:
            self._use(sender)  # a forwarder we dropped is reachable again
            self.refresh()
            return
        if self.via is None or link.peer_id != self.via or sender in (self.via, self.mesh.node_id):
            return
        if sender not in self.confirmed:
            self.confirmed.add(sender)
            direct = self.mesh._links.get(sender)
            if direct is not None:
                self.refresh(direct)

    def downstream_subscription(self, subscribe: bool, prefix: bytes) -> None:
        """(forwarder) A subscriber of our XPUB (un)subscribed ``prefix``: pass it upstream."""
        if subscribe:
            self.downstream[prefix] += 1
        elif self.downstream[prefix] > 0:
            self.downstream[prefix] -= 1
        self.refresh()

    def forward(self, frames: list[bytes]) -> None:
        """(forwarder) Re-send one message from a publisher on our XPUB (and the capture socket)."""
        try:
            send_frames(self.mesh.xpub, frames)
            self.relayed += 1
        except zmq.ZMQError:
            self.mesh.dropped.drop("forwarder_full")
        if self.capture is not None:
            with contextlib.suppress(zmq.ZMQError):
                send_frames(self.capture, frames)


async def read_capture(endpoint: str, prefix: str = "") -> AsyncIterator[Event]:
    """Yield the events a forwarder relays, read from its capture socket (``zbus monitor --capture``).

    Heartbeats and undecodable messages are skipped. Runs until the consumer stops iterating.

    Raises:
        PeerError: ``endpoint`` is malformed.
    """
    ctx: zmq.asyncio.Context = zmq.asyncio.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    try:
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            raise PeerError(f"cannot connect to capture endpoint {endpoint!r}: {exc.strerror}") from exc
        while True:
            frames = await sock.recv_multipart()
            if frames and frames[0].startswith(b"$zbus."):
                continue
            try:
                yield decode(frames, max_message_size=2**62)
            except WireError:
                continue
    finally:
        sock.close(0)
        ctx.term()
