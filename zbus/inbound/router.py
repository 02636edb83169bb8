"""Router: what a node does with what its transport hands it, by kind.

Broadcast events are decoded (bad ones are counted and dropped, never raised) and go through
:class:`~zbus.inbound.recovery.Recovery` (stream order, gap repair) to the subscription registry.
Directed events go to the registry at once; requests and replies to :class:`~zbus.inbound.requests.Requests`;
repair and replay traffic to ``Recovery``. The router never touches sockets: it calls the transport
through the ``Transport`` protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..codec import wire
from ..codec.control import DIRECT_KINDS, GROUP_KINDS, Kind
from ..delivery.routing import Subscriptions
from ..delivery.subscription import Handler
from ..errors import NoResponders, UnknownTargetError, WireError
from ..model.event import Event
from ..observe.drops import Drops
from ..protocol.requests import RoundRobin
from ..tasks import in_order
from ..transport.base import SourceCheck, Transport
from .groups import Groups
from .peerwatch import PeerWatch
from .recovery import Recovery
from .requests import Requests

__all__ = ["Router"]

log = logging.getLogger("zbus")


class Router:
    """Routes events to subscriptions and requests to responders for one node."""

    def __init__(
        self,
        *,
        node_id: str,
        name: str,
        epoch: int,
        max_message_size: int,
        subscriptions: Subscriptions,
        responders: Mapping[str, Handler],
        transport: Transport,
        recovery: Recovery,
        run_handler: Callable[[Handler, Event], Any],
        on_peers_changed: Callable[[], None],
        groups: Groups | None = None,
    ) -> None:
        self.node_id = node_id
        self.name = name
        self.epoch = epoch
        self.max_message_size = max_message_size
        self.subscriptions = subscriptions
        self.responders = responders  # the node's, registered with @node.respond (live view)
        self.transport = transport
        self.recovery = recovery
        self._peers_changed = on_peers_changed
        self.groups = groups  # queue groups: DELIVER and ACK go there
        self.received = 0
        self.dropped = Drops("router")
        self._authentic: SourceCheck | None = None  # security on: see ``authenticate``
        self.requests = Requests(
            node_id=node_id,
            name=name,
            epoch=epoch,
            max_message_size=max_message_size,
            responders=responders,
            transport=transport,
            run_handler=run_handler,
            deliver_locally=self.on_direct,
            dropped=self.dropped,
        )

    # -- Inbound (called by the transport) -----------------------------------------------------------
    def _decode(self, frames: list[bytes]) -> Event | None:
        try:
            return wire.decode(frames, max_message_size=self.max_message_size)
        except WireError as exc:
            self.dropped.drop("malformed", str(exc))
            return None

    async def on_event(self, frames: list[bytes], source: str | None = None) -> None:
        """A broadcast event arrived from a peer (on node ``source``'s own connection, if given)."""
        pending = self.on_event_eager(frames, source)
        if pending is not None:
            await pending

    def on_event_eager(self, frames: list[bytes], source: str | None = None) -> Awaitable[None] | None:
        """``on_event`` for the socket pump's hot path: an awaitable only when it must wait."""
        event = self._decode(frames)
        return None if event is None else self._on_decoded(event, source)

    def _on_decoded(self, event: Event, source: str | None) -> Awaitable[None] | None:
        if event._node_id == self.node_id:  # ours, relayed back by a forwarder
            return None
        if source is not None and event._node_id != source:  # another node's stream: never trusted
            self.dropped.drop("spoofed_source", f"{event._node_id[:16]} on {source[:16]}'s link", peer=source)
            return None
        if self._authentic is not None and not self._authentic(event._node_id, event._source):
            return None  # security: not the authenticated name of its node (counted by the check)
        self.received += 1
        return self.recovery.observe(event)  # in stream order, gaps repaired, duplicates dropped

    def on_batch_eager(
        self, topic: bytes, parts: list[bytes], source: str | None = None
    ) -> Awaitable[None] | None:
        """Several events of one topic in one message (``parts``: ``wire.batch_parts``): what
        ``on_event_eager`` does to each, in order, with the checks a publisher's run shares done once
        (decode in one call, one stream check, one routing decision)."""
        try:
            events, errors = wire.decode_parts(topic, parts, max_message_size=self.max_message_size)
        except WireError as exc:
            self.dropped.drop("malformed", str(exc), len(parts) // 2)
            return None
        for error in errors:
            self.dropped.drop("malformed", error)
        if not events:
            return None
        node_id = events[0]._node_id
        if any(event._node_id != node_id for event in events):  # not one publisher's run: one by one
            return in_order(events, lambda event: self._on_decoded(event, source))
        if node_id == self.node_id:  # ours, relayed back by a forwarder
            return None
        if source is not None and node_id != source:  # another node's stream: never trusted
            self.dropped.drop(
                "spoofed_source", f"{node_id[:16]} on {source[:16]}'s link", len(events), source
            )
            return None
        if self._authentic is not None:
            check = self._authentic
            events = [event for event in events if check(node_id, event._source)]
            if not events:
                return None
        self.received += len(events)
        return self.recovery.observe_batch(events)

    def _from_sender(self, event: Event, sender: str) -> bool:
        """A directed message names the node that sent it: the connection's identity (the DEALER's; with
        security on, bound to its key) and the event's node id must agree."""
        if event._node_id == sender:
            return self._authentic is None or self._authentic(sender, event._source)
        self.dropped.drop("spoofed_sender", f"{event._node_id[:16]} from {sender[:16]}", peer=sender)
        return False

    def forget_uninterested_streams(self) -> None:
        """After an unsubscribe: forget streams no subscription wants, so a later resubscription
        starts a fresh baseline instead of reporting the events in between as lost."""
        self.recovery.sync.forget_topics(lambda topic: not self.subscriptions.has_interest(topic))

    def on_peer_gone(self, node_id: str) -> None:
        """A peer's streams ended for good (it left without a journal, or was replaced by a restart)."""
        self.recovery.forget_node(node_id)

    def on_bye(self, node_id: str, heads: dict[str, int]) -> None:
        """A peer is leaving with these final heads: what we miss of them is repaired."""
        self.recovery.on_bye(node_id, heads)

    def has_tail(self, node_id: str, heads: dict[str, int]) -> bool:
        """Whether we have (or reported lost) everything up to a leaving peer's final heads."""
        return self.recovery.has_tail(node_id, heads)

    def on_heartbeat(self, node_id: str, epoch: int, heads: dict[str, int]) -> None:
        """A peer's heartbeat listed its stream heads: events beyond what we hold get repaired."""
        self.recovery.on_heartbeat(node_id, epoch, heads)

    async def on_direct(self, kind: Kind, sender: str, frames: list[bytes]) -> None:
        """A point-to-point message arrived from peer ``sender``."""
        if kind in GROUP_KINDS:
            try:
                if self.groups is not None:
                    self.groups.on_direct(kind, sender, frames)
            except WireError:
                self.dropped.drop("malformed_group")
            return
        if kind not in DIRECT_KINDS:
            try:
                await self.recovery.on_direct(kind, sender, frames)
            except WireError:
                self.dropped.drop("malformed_control")
            return
        event = self._decode(frames)
        if event is None or not self._from_sender(event, sender):
            return
        self.received += 1
        if kind is Kind.EVENT:
            if event._target not in (self.name, self.node_id):
                self.dropped.drop("misdirected")
                return
            await self.subscriptions.route(event)
        elif kind is Kind.REQUEST:
            self.requests.answer_later(sender, event)
        elif kind is Kind.REPLY:
            self.requests.settle(event, sender)
        else:
            self.dropped.drop("unknown_kind")

    def on_peers_changed(self) -> None:
        """The transport's peer table changed."""
        self._peers_changed()

    def authenticate(self, check: SourceCheck) -> None:
        """With security on, the transport checks each event's source against the authenticated name
        of its node (broadcast, directed, requests, replies, repairs and queue-group deliveries); refused
        ones are dropped."""
        self._authentic = self.recovery.authentic = check
        if self.groups is not None:
            self.groups.authentic = check

    async def send_directed(self, event: Event, *, mesh: str) -> None:
        """Send ``event`` to ``event.target`` only (a node name or id; this node included).

        Raises:
            UnknownTargetError: no node of the mesh has that name or id.
        """
        target = event._target or ""
        frames = wire.encode(event, node_id=self.node_id, epoch=self.epoch)
        wire.check_size(frames, self.max_message_size)
        if target in (self.name, self.node_id):
            await self.on_direct(Kind.EVENT, self.node_id, frames)
            return
        peers = self.transport.peers()
        matches = [peer for peer in peers if target == peer.id] or [p for p in peers if target == p.name]
        if len(matches) > 1:
            ids = ", ".join(sorted(p.id for p in matches))
            raise UnknownTargetError(
                f"target {target!r} names {len(matches)} live nodes of mesh {mesh!r} (ids {ids}); "
                "target one by id (node.peers lists them), and give each node its own name"
            )
        if matches:
            await self.transport.send(matches[0].id, Kind.EVENT, frames)
            return
        known = ", ".join(sorted(p.name for p in peers)) or "none"
        raise UnknownTargetError(
            f"target {target!r} is not a node of mesh {mesh!r} (known: {known}); "
            "check the name, or await node.wait_for_peers() first"
        )

    def on_direct_eager(self, kind: Kind, sender: str, frames: list[bytes]) -> Awaitable[None] | None:
        """``on_direct`` for the socket pump's hot path: replies, and requests whose responder is a
        plain function, are handled at once (no task, no coroutine); anything else comes back as an
        awaitable for the pump to await."""
        if kind is Kind.REPLY:
            event = self._decode(frames)
            if event is not None and self._from_sender(event, sender):
                self.received += 1
                self.requests.settle(event, sender)
            return None
        if kind is Kind.REQUEST and self.requests.answers_inline(frames):
            event = self._decode(frames)
            if event is not None and self._from_sender(event, sender):
                self.received += 1
                self.requests.answer_now(sender, event)
            return None
        return self.on_direct(kind, sender, frames)

    async def responder_for(
        self, type: str, timeout: float, picker: RoundRobin, watch: PeerWatch, mesh: str
    ) -> str:
        """A responder of ``type`` to ask (round robin over the peers that answer it, and this node),
        waiting up to ``timeout`` s while discovery is still settling (one may not be met yet).

        Raises:
            NoResponders: discovery settled (or the time ran out) without one.
        """

        def pick() -> str | None:
            remote = [p.id for p in self.transport.peers() if type in p.responders]
            return picker.pick(type, remote + ([self.node_id] if type in self.responders else []))

        target = await watch.find(pick, self.transport.settled, timeout)
        if target is None:
            raise NoResponders(
                f"no node in mesh {mesh!r} responds to {type!r} (discovery has run "
                f"{self.transport.running_for():.1f} s and knows {len(self.transport.peers())} peer(s)); "
                f"start a responder (@node.respond), check the type and mesh name, or await "
                f"node.wait_for_responders({type!r}) first"
            )
        return target

    async def request(self, target: str, event: Event, timeout: float) -> Event:
        """Send request ``event`` to node ``target`` (possibly this one) and await the reply (see
        :meth:`Requests.request`)."""
        return await self.requests.request(target, event, timeout)

    async def close(self) -> None:
        """Cancel answers in flight and fail pending requests."""
        await self.requests.close()
