"""Forwarder mode over ZeroMQ: applies ``protocol.forwarder.ForwarderChoice`` to the peer links' SUBs,
and the forwarder's relay.

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

The decisions (which forwarder, which publishers are confirmed, what each link subscribes) are made by
the pure ``ForwarderChoice``; ``Forwarding`` keeps the capture socket, relays frames and resubscribes
the links a decision names.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import zmq

from ...codec.control import HEARTBEAT_TOPIC
from ...observe.drops import Drops
from ...protocol.forwarder import FORWARDER, ForwarderChoice, Mode, Resubscribe
from .sockets import send_frames

if TYPE_CHECKING:
    from .links import Link
    from .sockets import SocketFactory

__all__ = ["FORWARDER", "Forwarding"]

log = logging.getLogger("zbus")


class Forwarding:
    """The forwarder mode of one mesh (see the module text).

    Args:
        node_id: this node's id.
        role: this node's role; ``"forwarder"`` makes it the relay.
        forwarder: ``transport.forwarder`` (``"off"`` or ``"auto"``).
        capture: ``transport.forwarder_capture`` (a forwarder's capture endpoint, or empty).
        links: returns the current peer links by peer id.
        interest: returns this node's subscription prefixes (the heartbeat topic included).
        send: sends one message on this node's XPUB (raises ``zmq.ZMQError`` when it cannot).
        dropped: where a relayed message that could not be sent is counted.
    """

    def __init__(
        self,
        *,
        node_id: str,
        role: str,
        forwarder: str,
        capture: str,
        links: Callable[[], Mapping[str, Link]],
        interest: Callable[[], Iterable[bytes]],
        send: Callable[[list[bytes]], None],
        dropped: Drops,
    ) -> None:
        self.relay = role == FORWARDER
        mode = Mode.RELAY if self.relay else Mode.AUTO if forwarder == "auto" else Mode.OFF
        self.choice = ForwarderChoice(node_id=node_id, mode=mode, heartbeat_topic=HEARTBEAT_TOPIC)
        self.auto = self.choice.auto
        self._capture_at = capture
        self._links = links
        self._interest = interest
        self._send = send
        self._dropped = dropped
        self.relayed = 0
        self.capture: zmq.Socket[bytes] | None = None
        self.capture_endpoint = ""

    @property
    def via(self) -> str | None:
        """The forwarder peer whose XPUB this node takes events from (auto mode), or None."""
        return self.choice.via

    @property
    def confirmed(self) -> set[str]:
        """Peers whose heartbeats arrived through ``via``: their direct SUBs are closed."""
        return self.choice.confirmed

    def start(self, factory: SocketFactory) -> None:
        """Bind the capture PUB of a forwarder, if ``transport.forwarder_capture`` names one."""
        endpoint = self._capture_at
        if self.relay and endpoint:
            self.capture = factory.pub()
            host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
            self.capture_endpoint = factory.bind(self.capture, host.strip("[]"), int(port or 0))

    # -- what each link subscribes ---------------------------------------------------------------
    def wanted(self, link: Link) -> Counter[bytes]:
        """The subscriptions ``link``'s SUB should carry now."""
        return self.choice.wanted(link.peer_id, link.role, self._interest())

    def refresh(self) -> None:
        """Apply :meth:`wanted` to every link (this node's own interest changed)."""
        self._apply(Resubscribe(everyone=True), self.choice.via)

    def _apply(self, todo: Resubscribe, before: str | None) -> None:
        """Resubscribe the links ``todo`` names (``before``: the forwarder in use before the decision)."""
        via = self.choice.via
        if via is not None and via != before:
            log.info("taking events through forwarder %s", via)
        if not todo:
            return
        links = self._links()
        targets = list(links.values()) if todo.everyone else [links[p] for p in todo.peers if p in links]
        for link in targets:
            link.set_prefixes(self.wanted(link))

    # -- events from the mesh --------------------------------------------------------------------
    def added(self, link: Link) -> None:
        """A new peer link (its ``role`` and ``pub`` are set)."""
        before = self.choice.via
        self._apply(self.choice.added(link.peer_id, link.role), before)

    def left(self, peer_id: str) -> None:
        """A peer left; if it was our forwarder, go direct again (or through another forwarder)."""
        before = self.choice.via
        forwarders = [p for p, link in self._links().items() if link.role == FORWARDER]
        todo = self.choice.left(peer_id, forwarders)
        if before == peer_id:
            log.info("forwarder %s left: taking events directly from publishers", peer_id)
        self._apply(todo, before)

    def link_dropped(self, peer_id: str) -> None:
        """A peer's SUB connection dropped: if it was our forwarder, reopen direct SUBs at once rather
        than after the peer's expiry (it is used again when its heartbeats come back)."""
        before = self.choice.via
        todo = self.choice.link_dropped(peer_id)
        if before == peer_id:
            log.info("lost the connection to forwarder %s: taking events directly", peer_id)
        self._apply(todo, before)

    def heartbeat(self, link: Link, sender: str) -> None:
        """A heartbeat of ``sender`` arrived on ``link``'s SUB."""
        before = self.choice.via
        self._apply(self.choice.heartbeat(link.peer_id, link.role, sender), before)

    def downstream_subscription(self, subscribe: bool, prefix: bytes) -> None:
        """(forwarder) A subscriber of our XPUB (un)subscribed ``prefix``: pass it upstream."""
        self._apply(self.choice.downstream_subscription(subscribe, prefix), None)

    def forward(self, frames: list[bytes]) -> None:
        """(forwarder) Re-send one message from a publisher on our XPUB (and the capture socket)."""
        try:
            self._send(frames)
            self.relayed += 1
        except zmq.ZMQError:
            self._dropped.drop("forwarder_full")
        if self.capture is not None:
            with contextlib.suppress(zmq.ZMQError):
                send_frames(self.capture, frames)
