"""The seam between a Node and how its events travel: in memory or over the ZeroMQ mesh.

A transport moves encoded frames and keeps the peer table; it knows nothing about
subscriptions, filters or handlers. The node's ``Router`` implements ``Inbound`` and receives what
the transport gets from peers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["DirectKind", "Discovery", "Found", "Inbound", "PeerInfo", "Transport"]


class DirectKind:
    """Kinds of point-to-point messages (ROUTER/DEALER type frame)."""

    EVENT = "EVENT"  # a directed event (publish(target=...))
    REQUEST = "REQUEST"  # a request for a responder
    REPLY = "REPLY"  # the answer to a REQUEST


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerInfo:
    """What this node knows about another node of its mesh.

    Attributes:
        id: the peer's node id (kept across restarts when the peer keeps a journal, else new each time).
        name: the peer's node name.
        mesh: the mesh name.
        epoch: the peer's incarnation number (changes on restart).
        role: ``"node"``, ``"monitor"`` or ``"forwarder"``.
        address: how to reach it: its ROUTER endpoint, or ``"memory"``.
        responders: request types the peer answers.
        patterns: subscription patterns the peer announced.
        journaled: the peer keeps a journal, so it can repair and replay its events even after a restart.
        joined_at: when it joined (UNIX seconds, local clock).
    """

    id: str
    name: str
    mesh: str
    epoch: int = 0
    role: str = "node"
    address: str = ""
    responders: frozenset[str] = field(default_factory=frozenset)
    patterns: frozenset[str] = field(default_factory=frozenset)
    journaled: bool = False
    joined_at: float = 0.0


class Inbound(Protocol):
    """What a transport calls when something arrives for this node."""

    async def on_event(self, frames: list[bytes]) -> None:
        """A broadcast event from a peer (three wire frames)."""

    def on_event_nowait(self, frames: list[bytes]) -> Awaitable[None] | None:
        """The same, for a socket pump: returns an awaitable only when it has to wait."""

    async def on_direct(self, kind: str, sender: str, frames: list[bytes]) -> None:
        """A point-to-point message from peer ``sender`` (its node id)."""

    def on_direct_nowait(self, kind: str, sender: str, frames: list[bytes]) -> Awaitable[None] | None:
        """``on_direct`` for the pump's hot path: an awaitable only when the message needs one."""

    def on_peers_changed(self) -> None:
        """The peer table changed (join, leave, update)."""

    def on_heartbeat(self, node_id: str, epoch: int, heads: dict[str, int]) -> None:
        """A peer is alive; ``heads`` maps its recently published topics to their last seq."""

    def on_peer_gone(self, node_id: str) -> None:
        """A peer incarnation ended for good (goodbye or restart); its state can be dropped."""


class Transport(Protocol):
    """How a node reaches the rest of its mesh."""

    async def start(self, inbound: Inbound) -> None:
        """Bind/connect and begin delivering to ``inbound``."""

    async def close(self) -> None:
        """Say goodbye and release everything, within a bounded time."""

    async def publish(self, topic: str, seq: int, frames: list[bytes]) -> None:
        """Send a broadcast event (number ``seq`` of its stream) to every remote subscriber of ``topic``."""

    async def send(self, peer_id: str, kind: str, frames: list[bytes]) -> None:
        """Send a point-to-point message; raises ``PeerLostError`` if the peer is gone."""

    def peers(self) -> list[PeerInfo]:
        """The current peer table (excluding this node)."""

    def announce(self, *, patterns: Iterable[str], responders: Iterable[str]) -> None:
        """Tell peers what this node subscribes to and responds to (after any change)."""

    def subscriber_count(self, topic: str) -> int:
        """How many other nodes would receive events on ``topic`` (a topic or pattern) right now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """A node worth greeting: its ROUTER endpoint, and its id when known (mDNS knows it)."""

    router: str
    id: str = ""
    name: str = ""
    mesh: str = ""


class Discovery(Protocol):
    """Announces this node and suggests others (implemented in ``zbus.discovery``)."""

    async def start(self, on_found: Callable[[Found], None], on_lost: Callable[[str], None]) -> None:
        """Begin announcing and browsing; ``on_lost`` receives a node id."""

    async def close(self) -> None:
        """Stop, saying goodbye where the mechanism has one."""
