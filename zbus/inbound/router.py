"""Router: what a node does with an event once it has one, local or from a peer.

It owns the subscription index, the responders and the pending requests. Inbound frames from
the transport are decoded here (bad ones are counted and dropped, never raised), matched against
subscription patterns and filters, and offered to each matching subscription's backlog. The
router never touches sockets: it calls the transport through the ``Transport`` protocol.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..codec import wire
from ..codec.control import DIRECT_KINDS, Kind
from ..delivery.dispatch import is_async as _is_async
from ..delivery.routing import Subscriptions
from ..delivery.subscription import Handler
from ..errors import NoResponders, PeerLostError, RemoteError, RequestTimeout, UnknownTargetError, WireError
from ..model.event import Event
from ..model.topics import MAX_TOPIC_BYTES
from ..observe.drops import Drops
from ..observe.latency import Histogram
from ..observe.tracing import TRACEPARENT, child_traceparent, stamp
from ..tasks import TaskGroup
from ..transport.base import Transport
from .recovery import Recovery

__all__ = ["Router"]

log = logging.getLogger("zbus")

ERROR_TYPE_HEADER = "zbus-error-type"
ERROR_HEADER = "zbus-error"
REPLY_SUFFIX = ".reply"


def reply_type(request_type: str) -> str:
    """The reply's type: ``<request type>.reply``, or the request type when that would be too long."""
    candidate = request_type + REPLY_SUFFIX
    return candidate if len(candidate.encode()) <= MAX_TOPIC_BYTES else request_type


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
    ) -> None:
        self.node_id = node_id
        self.name = name
        self.epoch = epoch
        self.max_message_size = max_message_size
        self.subscriptions = subscriptions
        self.responders = responders  # the node's, registered with @node.respond (live view)
        self.transport = transport
        self.recovery = recovery
        self.pending: dict[str, asyncio.Future[Event]] = {}
        self._run_handler = run_handler
        self._peers_changed = on_peers_changed
        self._answers = TaskGroup("router")
        self._sync_handlers: dict[Handler, bool] = {}
        self.received = 0
        self.dropped = Drops("router")
        #: request → reply round trips of this node's requests (replies and remote errors), seconds
        self.request_latency = Histogram()

    # -- Inbound (called by the transport) -----------------------------------------------------------
    def _decode(self, frames: list[bytes]) -> Event | None:
        try:
            return wire.decode(frames, max_message_size=self.max_message_size)
        except WireError as exc:
            self.dropped.drop("malformed", str(exc))
            return None

    async def on_event(self, frames: list[bytes]) -> None:
        """A broadcast event arrived from a peer."""
        pending = self.on_event_eager(frames)
        if pending is not None:
            await pending

    def on_event_eager(self, frames: list[bytes]) -> Awaitable[None] | None:
        """``on_event`` for the socket pump's hot path: an awaitable only when it must wait."""
        event = self._decode(frames)
        if event is None or event._node_id == self.node_id:  # ours, relayed back by a forwarder
            return None
        self.received += 1
        return self.recovery.observe(event)  # in stream order, gaps repaired, duplicates dropped

    def forget_uninterested_streams(self) -> None:
        """After an unsubscribe: forget streams no subscription wants, so a later resubscription
        starts a fresh baseline instead of reporting the events in between as lost."""
        self.recovery.sync.forget_topics(lambda topic: not self.subscriptions.has_interest(topic))

    def on_peer_gone(self, node_id: str) -> None:
        """A peer's streams ended for good (it left without a journal, or was replaced by a restart)."""
        self.recovery.forget_node(node_id)

    def on_heartbeat(self, node_id: str, epoch: int, heads: dict[str, int]) -> None:
        """A peer's heartbeat listed its stream heads: events beyond what we hold get repaired."""
        self.recovery.on_heartbeat(node_id, epoch, heads)

    async def on_direct(self, kind: Kind, sender: str, frames: list[bytes]) -> None:
        """A point-to-point message arrived from peer ``sender``."""
        if kind not in DIRECT_KINDS:
            try:
                await self.recovery.on_direct(kind, sender, frames)
            except WireError:
                self.dropped.drop("malformed_control")
            return
        event = self._decode(frames)
        if event is None:
            return
        self.received += 1
        if kind is Kind.EVENT:
            if event._target not in (self.name, self.node_id):
                self.dropped.drop("misdirected")
                return
            await self.subscriptions.route(event)
        elif kind is Kind.REQUEST:
            self._spawn_answer(sender, event)
        elif kind is Kind.REPLY:
            self._settle_reply(event)
        else:
            self.dropped.drop("unknown_kind")

    def on_peers_changed(self) -> None:
        """The transport's peer table changed."""
        self._peers_changed()

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
        for peer in peers:
            if target in (peer.id, peer.name):
                await self.transport.send(peer.id, Kind.EVENT, frames)
                return
        known = ", ".join(sorted(p.name for p in peers)) or "none"
        raise UnknownTargetError(
            f"target {target!r} is not a node of mesh {mesh!r} (known: {known}); "
            "check the name, or await node.wait_for_peers() first"
        )

    # -- request / response --------------------------------------------------------------------------
    async def request(self, target: str, event: Event, timeout: float) -> Event:
        """Send request ``event`` to node ``target`` (possibly this one) and await the reply.

        Raises:
            RequestTimeout, NoResponders, RemoteError: as documented on ``Node.request``.
        """
        stamp(event)  # a new trace, or a child of the handler's event this request is made from
        frames = wire.encode(event, node_id=self.node_id, epoch=self.epoch)
        wire.check_size(frames, self.max_message_size)
        started = time.perf_counter()
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self.pending[event._id] = future
        try:
            if target == self.node_id:
                await self.on_direct(Kind.REQUEST, self.node_id, frames)
            else:
                await self.transport.send(target, Kind.REQUEST, frames)
            try:
                async with asyncio.timeout(timeout):
                    reply = await future
            except TimeoutError:
                raise RequestTimeout(
                    f"no reply to {event._type!r} within {timeout} s; the responder may be slow or gone "
                    "(raise timeout=, or check node.peers)"
                ) from None
        finally:
            self.pending.pop(event._id, None)
        self.request_latency.observe(time.perf_counter() - started)
        error_type = reply._headers.get(ERROR_TYPE_HEADER)
        if error_type == "NoResponders":
            raise NoResponders(f"the chosen node stopped responding to {event._type!r}; retry the request")
        if error_type is not None:
            raise RemoteError(error_type, reply._headers.get(ERROR_HEADER, ""), reply._source)
        return reply

    def on_direct_eager(self, kind: Kind, sender: str, frames: list[bytes]) -> Awaitable[None] | None:
        """``on_direct`` for the socket pump's hot path: replies, and requests whose responder is a
        plain function, are handled at once (no task, no coroutine); anything else comes back as an
        awaitable for the pump to await."""
        if kind is Kind.REPLY:
            event = self._decode(frames)
            if event is not None:
                self.received += 1
                self._settle_reply(event)
            return None
        if kind is Kind.REQUEST and self._sync_responder(frames):
            event = self._decode(frames)
            if event is not None:
                self.received += 1
                self._answer_now(sender, event)
            return None
        return self.on_direct(kind, sender, frames)

    def _settle_reply(self, event: Event) -> None:
        future = self.pending.get(event._causation_id or "")
        if future is not None and not future.done():
            future.set_result(event)
        else:
            self.dropped.drop("late_reply")

    def _sync_responder(self, frames: list[bytes]) -> bool:
        """True when the request's topic has a plain-function responder and the transport can send
        without awaiting (then the answer needs no task)."""
        handler = self.responders.get(frames[0].decode("utf-8", "replace")) if frames else None
        if handler is None or not self.transport.eager_send:
            return False
        sync = self._sync_handlers.get(handler)
        if sync is None:
            sync = self._sync_handlers[handler] = not _is_async(handler)
        return sync

    def _answer_now(self, sender: str, request: Event) -> None:
        """Answer ``request`` from a plain-function responder inline and send the reply at once."""
        handler = self.responders.get(request._type)
        if handler is None:  # the request's type differs from its topic
            self._spawn_answer(sender, request)
            return
        try:
            result, headers = handler(request), {}
            wire.encode_payload(result)  # fail here, as a RemoteError, if the reply can't be sent
        except Exception as exc:
            result, headers = None, {ERROR_TYPE_HEADER: type(exc).__name__, ERROR_HEADER: str(exc)}
        if isinstance(result, Awaitable):  # a plain function that returned an awaitable after all
            self._spawn_answer(sender, request, result)
            return
        frames = self._reply_frames(request, result, headers)
        try:
            self.transport.send_now(sender, Kind.REPLY, frames)
        except PeerLostError:
            self.dropped.drop("reply_undeliverable")

    def _spawn_answer(self, sender: str, request: Event, precomputed: Awaitable[Any] | None = None) -> None:
        self._answers.spawn(self._answer(sender, request, precomputed), f"answer-{request._type}")

    async def _answer(self, sender: str, request: Event, precomputed: Awaitable[Any] | None = None) -> None:
        handler = self.responders.get(request._type)
        headers: dict[str, str] = {}
        result: Any = None
        if handler is None:
            headers = {ERROR_TYPE_HEADER: "NoResponders", ERROR_HEADER: f"{self.name} has no responder"}
        else:
            try:
                pending = precomputed if precomputed is not None else self._run_handler(handler, request)
                result = await pending
                wire.encode_payload(result)  # fail here, as a RemoteError, if the reply can't be sent
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                headers = {ERROR_TYPE_HEADER: type(exc).__name__, ERROR_HEADER: str(exc)}
                result = None
        frames = self._reply_frames(request, result, headers)
        if sender == self.node_id:
            await self.on_direct(Kind.REPLY, sender, frames)
            return
        try:
            await self.transport.send(sender, Kind.REPLY, frames)
        except PeerLostError:
            self.dropped.drop("reply_undeliverable")

    def _reply_frames(self, request: Event, result: Any, headers: dict[str, str]) -> list[bytes]:
        if TRACEPARENT in request._headers:  # the reply is a child span of the request
            headers[TRACEPARENT] = child_traceparent(request._headers[TRACEPARENT])
        reply = Event(
            reply_type(request._type),
            result,
            source=self.name,
            correlation_id=request._correlation_id or request._id,
            causation_id=request._id,
            priority=request._priority,
            headers=headers,
        )
        frames = wire.encode(reply, node_id=self.node_id, epoch=self.epoch)
        if len(frames[2]) + len(frames[1]) + len(frames[0]) > self.max_message_size:
            too_big = {
                ERROR_TYPE_HEADER: "EventValidationError",
                ERROR_HEADER: "the reply exceeds max_message_size",
            }
            frames = wire.encode(
                reply.evolve(payload=None, headers=too_big), node_id=self.node_id, epoch=self.epoch
            )
        return frames

    async def close(self) -> None:
        """Cancel answers in flight and fail pending requests."""
        await self._answers.close()
        for future in self.pending.values():
            if not future.done():
                future.cancel()
