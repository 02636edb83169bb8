"""The seam between a Node and how its events travel: in memory or over the ZeroMQ mesh.

A transport moves encoded frames and keeps the peer table; it knows nothing about
subscriptions, filters or handlers. The node's ``Router`` implements ``Inbound`` and receives what
the transport gets from peers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from ..codec.control import Kind
from ..model.peer import PeerInfo
from ..observe.statistics import TransportStatistics

__all__ = ["GroupAds", "Inbound", "SourceCheck", "Transport"]

#: queue-group memberships as announced: group -> (patterns, credit)
GroupAds = Mapping[str, tuple[tuple[str, ...], int]]
#: ``check(node_id, source)``: whether an event of node ``node_id`` may name ``source`` as its sender
SourceCheck = Callable[[str, str], bool]


class Inbound(Protocol):
    """What a transport calls when something arrives for this node."""

    async def on_event(self, frames: list[bytes], source: str | None = None) -> None:
        """A broadcast event from a peer (three wire frames). ``source``: the node id of the
        connection it came on, when that connection may carry only its own node's events (an
        event claiming another node id is then refused); None for a relay (a forwarder)."""

    def on_event_eager(self, frames: list[bytes], source: str | None = None) -> Awaitable[None] | None:
        """The same, for a socket pump: returns an awaitable only when it has to wait."""

    def on_batch_eager(
        self, topic: bytes, parts: list[bytes], source: str | None = None
    ) -> Awaitable[None] | None:
        """Several events of one topic that came as one message: ``parts`` alternates each one's
        header and payload frames (``wire.batch_parts``). The same as ``on_event_eager`` for each,
        in order."""

    async def on_direct(self, kind: Kind, sender: str, frames: list[bytes]) -> None:
        """A point-to-point message from peer ``sender`` (its node id)."""

    def on_direct_eager(self, kind: Kind, sender: str, frames: list[bytes]) -> Awaitable[None] | None:
        """``on_direct`` for the pump's hot path: an awaitable only when the message needs one."""

    def on_peers_changed(self) -> None:
        """The peer table changed (join, leave, update)."""

    def authenticate(self, check: SourceCheck) -> None:
        """With security on, the transport's check of every event's (node id, source) before it is
        delivered: False refuses it (the source is not the authenticated name of that node)."""

    def on_heartbeat(self, node_id: str, epoch: int, heads: dict[str, int]) -> None:
        """A peer is alive; ``heads`` maps its recently published topics to their last seq."""

    def on_peer_gone(self, node_id: str) -> None:
        """A peer incarnation ended for good (goodbye or restart); its state can be dropped."""

    def on_bye(self, node_id: str, heads: dict[str, int]) -> None:
        """A peer is leaving; ``heads`` are its final stream heads: get (repair) what we miss."""

    def has_tail(self, node_id: str, heads: dict[str, int]) -> bool:
        """True when every followed stream of ``node_id`` in ``heads`` is delivered (or reported
        lost) up to its head, so the leaving peer may go."""


class Transport(Protocol):
    """How a node reaches the rest of its mesh."""

    async def start(self, inbound: Inbound) -> None:
        """Bind/connect and begin delivering to ``inbound``."""

    async def close(self) -> None:
        """Say goodbye and release everything, within a bounded time."""

    async def leave(self, heads: dict[str, int], timeout: float) -> None:
        """Say BYE with our final stream ``heads`` and wait (at most ``timeout`` s, still answering
        repairs) until every peer that follows one of those topics has the tail (DRAINED)."""

    def settled(self) -> bool:
        """True once discovery has had time to find the mesh (``discovery.settle``) and no greeting
        is waiting for an answer: a peer not known by then is not there."""

    def running_for(self) -> float:
        """Seconds since :meth:`start`."""

    def publish(self, topic: str, seq: int, frames: list[bytes]) -> Awaitable[None]:
        """Send a broadcast event (number ``seq`` of its stream) to every remote subscriber of ``topic``."""

    async def send(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        """Send a point-to-point message; raises ``PeerLostError`` if the peer is gone."""

    #: True when :meth:`send_now` works (the ZeroMQ mesh); otherwise callers ``await send``
    eager_send: bool

    def send_now(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        """Send without awaiting (only where ``eager_send``); ``PeerLostError`` if gone or not reading."""

    def statistics(self) -> TransportStatistics:
        """Drops by reason, whether the transport is closed, and its endpoints."""

    def peers(self) -> list[PeerInfo]:
        """The current peer table (excluding this node)."""

    def announce(
        self, *, patterns: Iterable[str], responders: Iterable[str], groups: GroupAds | None = None
    ) -> None:
        """Tell peers what this node subscribes to, responds to and which queue groups it is in."""

    def subscriber_count(self, topic: str) -> int:
        """How many other nodes would receive events on ``topic`` (a topic or pattern) right now."""
