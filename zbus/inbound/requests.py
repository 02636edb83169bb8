"""Requests: request/reply correlation for one node, as requester and as responder.

As a requester it sends a REQUEST to the chosen node, keeps a future per request id and settles it
with the REPLY whose ``causation_id`` names it (a reply nobody waits for is a ``late_reply`` drop).
As a responder it runs the registered responder for each REQUEST and sends the REPLY back to the
sender: a plain function inline on the pump's hot path when the transport sends eagerly, anything
else in a task. A responder's exception becomes a reply with error headers, raised at the requester
as ``RemoteError``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..codec import wire
from ..codec.control import Kind
from ..delivery.dispatch import is_async as _is_async
from ..delivery.subscription import Handler
from ..errors import NoResponders, PeerLostError, RemoteError, RequestTimeout
from ..model.event import Event
from ..model.topics import MAX_TOPIC_BYTES, SYSTEM_PREFIX
from ..observe.drops import Drops
from ..observe.latency import Histogram
from ..observe.tracing import TRACEPARENT, child_traceparent, stamp
from ..tasks import TaskGroup
from ..transport.base import Transport

__all__ = ["ERROR_HEADER", "ERROR_TYPE_HEADER", "Requests", "reply_type"]

ERROR_TYPE_HEADER = "zbus-error-type"
ERROR_HEADER = "zbus-error"
REPLY_SUFFIX = ".reply"


def reply_type(request_type: str) -> str:
    """The reply's type: ``<request type>.reply``, or the request type when that would be too long."""
    candidate = request_type + REPLY_SUFFIX
    return candidate if len(candidate.encode()) <= MAX_TOPIC_BYTES else request_type


class Requests:
    """Pending requests and answering for one node (see the module text).

    Args:
        responders: the node's responders by request type (a live view: ``@node.respond`` adds to it).
        transport: sends REQUEST and REPLY frames.
        run_handler: runs an async responder within the node's worker limit.
        deliver_locally: hands a REQUEST or REPLY addressed to this node back to its router.
        dropped: the router's drop counter (late replies, undeliverable replies).
    """

    def __init__(
        self,
        *,
        node_id: str,
        name: str,
        epoch: int,
        max_message_size: int,
        responders: Mapping[str, Handler],
        transport: Transport,
        run_handler: Callable[[Handler, Event], Any],
        deliver_locally: Callable[[Kind, str, list[bytes]], Awaitable[None]],
        dropped: Drops,
    ) -> None:
        self.node_id = node_id
        self.name = name
        self.epoch = epoch
        self.max_message_size = max_message_size
        self.responders = responders
        self.transport = transport
        self._run_handler = run_handler
        self._deliver_locally = deliver_locally
        self.dropped = dropped
        self.pending: dict[str, asyncio.Future[Event]] = {}
        self._asked: dict[str, str] = {}  # request id -> the node asked (only its reply settles it)
        self._answers = TaskGroup("requests")
        self._sync_handlers: dict[Handler, bool] = {}
        #: request → reply round trips of this node's requests (replies and remote errors), seconds
        self.request_latency = Histogram()

    # -- the requester's side --------------------------------------------------------------------------
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
        self._asked[event._id] = target
        try:
            if target == self.node_id:
                await self._deliver_locally(Kind.REQUEST, self.node_id, frames)
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
            self._asked.pop(event._id, None)
        self.request_latency.observe(time.perf_counter() - started)
        error_type = reply._headers.get(ERROR_TYPE_HEADER)
        if error_type == "NoResponders":
            raise NoResponders(f"the chosen node stopped responding to {event._type!r}; retry the request")
        if error_type is not None:
            raise RemoteError(error_type, reply._headers.get(ERROR_HEADER, ""), reply._source)
        return reply

    def settle(self, event: Event, sender: str) -> None:
        """A reply arrived from ``sender``: hand it to the request waiting for it, if that request
        went to ``sender`` (another node's reply is counted as ``foreign_reply``), or count it as late."""
        request_id = event._causation_id or ""
        asked = self._asked.get(request_id)
        if asked is not None and asked != sender:
            detail = f"{request_id[:16]}: asked {asked[:16]}, not {sender[:16]}"
            self.dropped.drop("foreign_reply", detail, peer=sender)
            return
        future = self.pending.get(request_id)
        if future is not None and not future.done():
            future.set_result(event)
        else:
            self.dropped.drop("late_reply")

    # -- the responder's side ---------------------------------------------------------------------------
    def answers_inline(self, frames: list[bytes]) -> bool:
        """True when the request's topic has a plain-function responder and the transport can send
        without awaiting (then the answer needs no task)."""
        handler = self.responders.get(frames[0].decode("utf-8", "replace")) if frames else None
        if handler is None or not self.transport.eager_send:
            return False
        sync = self._sync_handlers.get(handler)
        if sync is None:
            sync = self._sync_handlers[handler] = not _is_async(handler)
        return sync

    def answer_now(self, sender: str, request: Event) -> None:
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

    def answer_later(self, sender: str, request: Event, precomputed: Awaitable[Any] | None = None) -> None:
        """Answer ``request`` in a task (async responders, or a responder that handed back an awaitable)."""
        self._spawn_answer(sender, request, precomputed)

    def _spawn_answer(self, sender: str, request: Event, precomputed: Awaitable[Any] | None = None) -> None:
        if request._type.startswith(SYSTEM_PREFIX):  # no responder there, and no reply topic to answer on
            self.dropped.drop("system_request", request._type[:80])
            return
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
            await self._deliver_locally(Kind.REPLY, sender, frames)
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
