"""Node: the one object an application embeds to take part in a zbus mesh.

``Node`` is the composition root: ``__aenter__`` builds the transport (in memory or the ZeroMQ
mesh), the router and the dispatcher; every public method delegates to them and holds no
protocol logic of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .codec import wire
from .config import Config, load_config, parse_duration
from .delivery.consume import events_of, windows_of
from .delivery.dispatch import Dispatcher, MemoryDeadLetters, Overflow
from .delivery.subscription import Handler, Subscription, SubscriptionStatistics
from .errors import (
    ClosedError,
    NoResponders,
    UsageError,
)
from .inbound.peerwatch import PeerWatch
from .inbound.recovery import LostEvents, Recovery
from .inbound.router import Router
from .introspection import IntrospectionMixin
from .journal.history import History
from .journal.persistence import Persistence
from .journaling import JournalMixin, Replay
from .model.event import Event
from .model.topics import RegexPattern, TopicPattern, compile_pattern, validate_topic
from .observe.statistics import NodeState
from .observe.tracing import stamp
from .protocol.requests import RoundRobin
from .transport.base import Transport
from .waits import WaitsMixin

if TYPE_CHECKING:
    from .monitoring.health import HealthServer

__all__ = ["Node"]

log = logging.getLogger("zbus")
F = TypeVar("F", bound=Callable[..., Any])


class Node(WaitsMixin, JournalMixin, IntrospectionMixin):
    """A member of a zbus mesh. Use it as ``async with Node(name="orders") as node:``.

    Args:
        name: a human-readable node name, unique within the mesh by convention (targets and
            the CLI use it). Default: ``node-<pid>-<random>``.
        config: a TOML file path, a nested mapping such as
            ``{"persistence": {"enabled": True}}``, or a ``Config``. Environment variables
            ``ZBUS_<SECTION>__<KEY>`` override the file; see docs/API_REFERENCE.md.
        mesh: shortcut for ``config`` key ``mesh.name`` (only nodes of one mesh see each other).
        role: ``"node"`` (default) or ``"monitor"``: a monitor receives every broadcast event but
            announces no subscriptions, so ``wait_for_subscribers`` elsewhere never counts it;
            ``"forwarder"`` relays events for forwarder-mode nodes (zbus/forwarding.py).

    Raises:
        ConfigError: the configuration is invalid (the message names the key and the fix).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        config: str | os.PathLike[str] | Mapping[str, Any] | Config | None = None,
        mesh: str | None = None,
        role: str = "node",
    ) -> None:
        if role not in ("node", "monitor", "forwarder"):
            raise UsageError(f"role={role!r}: expected 'node', 'monitor' or 'forwarder' (zbus forwarder)")
        self.role = role
        overrides = {"mesh": {"name": mesh}} if mesh is not None else None
        self.config: Config = load_config(config, overrides=overrides)
        self.name = name or f"node-{os.getpid()}-{os.urandom(2).hex()}"
        if not isinstance(self.name, str) or not self.name or len(self.name) > 63:
            raise UsageError(f"name={name!r}: expected a str of 1 to 63 characters")
        self.id = os.urandom(8).hex()
        self.epoch = time.time_ns() // 1000  # grows across restarts of the same name
        self._state = NodeState.CREATED
        self._seqs: dict[str, int] = {}
        self._published = 0
        self._dead_letters = MemoryDeadLetters()
        self._dlq_tasks: set[asyncio.Task[Any]] = set()
        self._watch = PeerWatch()
        self._picker = RoundRobin()
        self._transport: Transport | None = None
        self._history: History
        self._lost_listeners: list[Callable[[LostEvents], Any]] = []
        self._dispatcher: Dispatcher | None = None
        self._persistence: Persistence | None = None
        self._closed_subs: list[SubscriptionStatistics] = []
        self._http: HealthServer | None = None
        self._router = Router(
            node_id=self.id,
            name=self.name,
            epoch=self.epoch,
            max_message_size=self.config.transport.max_message_size,
            run_handler=self._run_handler,
            on_peers_changed=self._on_peers_changed,
        )

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def state(self) -> NodeState:
        """The lifecycle state."""
        return self._state

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Join the mesh. Prefer ``async with``; call ``close()`` when done otherwise.

        Raises:
            ClosedError: the node was already closed (create a new Node).
        """
        if self._state is NodeState.RUNNING:
            return
        if self._state is not NodeState.CREATED:
            raise ClosedError(f"Node {self.name!r} is {self._state.value}; create a new Node")
        q, perf = self.config.queue, self.config.performance
        self._dispatcher = Dispatcher(
            workers=perf.worker_threads,
            retry_base_delay=q.retry_base_delay,
            retry_max_delay=q.retry_max_delay,
            on_dead_letter=self._dead_lettered,
        )
        self._transport = None
        try:
            if self.config.persistence.enabled:
                self._persistence = Persistence(self.config.persistence, self.name)
                # a journaled node keeps its id and continues its sequences across restarts (DESIGN §6)
                self.id, self.epoch, self._seqs = await self._persistence.open(
                    self.id, self.epoch, self._wire_out
                )
                self._router.node_id, self._router.epoch = self.id, self.epoch
            ring = self.config.transport.repair_buffer
            self._history = history = History(self.id, ring_size=ring, persistence=self._persistence)
            self._transport = self._make_transport()
            self._router.transport = self._transport
            self._router.recovery = Recovery(
                node_id=self.id,
                history=history,
                transport=self._transport,
                config=self.config.repair,
                route_all=self._router.route_all,
                route_one=self._router.route_nowait,
                has_interest=self._router.has_local_interest,
                listeners=self._lost_listeners,
            )
            await self._transport.start(self._router)
            from .monitoring.health import start_http  # http.server loads only for nodes that serve HTTP

            self._http = await start_http(self)
        except BaseException:
            self._state = NodeState.CLOSED  # nothing half-open stays behind: create a new Node
            if self._transport is not None:
                await self._transport.close()
            if self._persistence is not None:
                await self._persistence.close()
            raise
        self._state = NodeState.RUNNING
        for sub in self._router.subscriptions:
            if sub.handler is not None:
                self._dispatcher.start(sub)
        self._announce()
        log.info("node %s (%s) joined mesh %r", self.name, self.id, self.config.mesh.name)

    def _make_transport(self) -> Transport:
        kind = self.config.transport.kind
        if kind == "memory":
            from .transport.memory import MemoryTransport

            mesh = self.config.mesh.name
            return MemoryTransport(
                node_id=self.id, name=self.name, mesh=mesh, epoch=self.epoch, role=self.role
            )
        from .transport.zmq.mesh import MeshTransport

        return MeshTransport(
            node_id=self.id, name=self.name, epoch=self.epoch, config=self.config, role=self.role
        )

    async def close(self) -> None:
        """Leave the mesh: stop handlers, fail pending requests, say goodbye. Idempotent."""
        if self._state in (NodeState.CLOSING, NodeState.CLOSED):
            return
        if self._state is NodeState.CREATED:
            self._state = NodeState.CLOSED
            return
        self._state = NodeState.CLOSING
        if self._http is not None:
            await self._http.close()
            self._http = None
        for sub in list(self._router.subscriptions):
            await sub.unsubscribe()
        if self._dispatcher is not None:
            await self._dispatcher.close()
        await self._router.close()
        if self._router.recovery is not None:
            await self._router.recovery.close()
        await asyncio.gather(*self._dlq_tasks, return_exceptions=True)
        if self._persistence is not None:  # first: it sends what it committed last
            await self._persistence.close()
        if self._transport is not None:
            await self._transport.close()
        self._state = NodeState.CLOSED
        log.info("node %s left mesh %r", self.name, self.config.mesh.name)

    def __del__(self) -> None:
        if getattr(self, "_state", None) is NodeState.RUNNING:
            warnings.warn(
                f"Node {self.name!r} was not closed; use 'async with Node(...)'", ResourceWarning, 2
            )

    def _check_running(self) -> None:
        if self._state is not NodeState.RUNNING:
            fix = "use 'async with Node(...)'" if self._state is NodeState.CREATED else "create a new Node"
            raise ClosedError(f"Node {self.name!r} is {self._state.value}; {fix}")

    # -- publishing --------------------------------------------------------------------------------
    async def publish(
        self,
        type: str,
        payload: Any = None,
        *,
        priority: int = 5,
        target: str | None = None,
        topic: str | None = None,
        ttl: float | None = None,
        expires_at: datetime | float | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        max_attempts: int | None = None,
        created_by: str | None = None,
        tags: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        durable: bool = False,
    ) -> str:
        """Publish an event and return its id.

        The event reaches every subscription in the mesh whose pattern and filter match it,
        this node's own subscriptions included (without a network hop).

        Args:
            type: the event type, e.g. ``"order.placed"`` (dot-separated tokens).
            payload: any msgpack-encodable value; ``None`` sends ``{}``.
            priority: 1 (lowest) to 10 (most urgent); default 5.
            target: a node name or id to send to that node only.
            topic: routing topic if different from ``type``.
            ttl: seconds after which the event is dropped instead of delivered.
            expires_at: absolute expiry instead of ``ttl``.
            correlation_id, causation_id: trace the conversation and the cause.
            max_attempts: handler attempts before dead-lettering (default ``queue.max_attempts``).
            created_by, tags, headers: audit data and str → str metadata.
            durable: return only once the event is committed to this node's journal (needs
                ``persistence.enabled``; fsynced under ``persistence.durability = "sync"``).

        Returns:
            The event id.

        Raises:
            EventValidationError, InvalidTopicError: a field is invalid (message says which).
            UnknownTargetError: ``target`` names no node in the mesh.
            ClosedError: the node is not running.
        """
        attempts = self.config.queue.max_attempts if max_attempts is None else max_attempts
        # fmt: off
        event = Event(type, payload, source=self.name, target=target, topic=topic, priority=priority,
                      correlation_id=correlation_id, causation_id=causation_id, ttl=ttl,
                      expires_at=expires_at, max_attempts=attempts, created_by=created_by, tags=tags,
                      headers=headers)
        # fmt: on
        stamp(event)  # traceparent (new trace, or a child of the handler's event); causation/correlation
        if durable and self._persistence is None:
            raise UsageError("durable=True needs a journal: set persistence.enabled = true")
        await self._send(event, durable=durable)
        return event.id

    async def publish_batch(self, events: Iterable[Event | tuple[str, Any]]) -> list[str]:
        """Publish several events; each item is an ``Event`` or a ``(type, payload)`` pair.

        All items are validated before any is sent, so a bad item publishes nothing.

        Returns:
            The event ids, in order.
        """
        max_attempts = self.config.queue.max_attempts
        batch: list[Event] = []
        for i, item in enumerate(events):
            if isinstance(item, Event):
                batch.append(item._clone() if item.source else item.evolve(source=self.name))
            elif isinstance(item, tuple) and len(item) == 2:
                batch.append(Event(item[0], item[1], source=self.name, max_attempts=max_attempts))
            else:
                raise UsageError(
                    f"publish_batch item {i} is {item!r:.60}; pass Event objects or (type, payload)"
                )
            stamp(batch[-1])
        limit = self.config.transport.max_message_size
        for event in batch:  # everything is checked before anything is sent
            wire.check_size(wire.encode(event, node_id=self.id, seq=2**63, epoch=self.epoch), limit)
        for event in batch:
            await self._send(event)
        return [e.id for e in batch]

    async def _send(self, event: Event, *, durable: bool = False) -> None:
        self._check_running()
        assert self._transport is not None
        if event._target is not None:
            await self._router.send_directed(event, mesh=self.config.mesh.name)
            self._published += 1
            return
        topic = event._topic
        seq = self._seqs.get(topic, 0) + 1
        frames = wire.encode(event, node_id=self.id, seq=seq, epoch=self.epoch)
        wire.check_size(frames, self.config.transport.max_message_size)
        self._seqs[topic] = seq  # only now: a refused event must not leave a gap in the stream
        self._published += 1
        self._history.record(topic, seq, event._ts, frames)  # kept to repair subscribers' gaps
        if self._persistence is not None:  # write-ahead: sent by _wire_out once committed
            await self._persistence.append(
                self.id, topic, seq, self.epoch, event._ts, frames, durable=durable
            )
        if self._router.has_local_interest(topic):
            await self._router.route(wire.decode(frames, max_message_size=2**62))
        if self._persistence is None:
            await self._transport.publish(topic, seq, frames)

    async def _wire_out(self, topic: str, seq: int, frames: list[bytes]) -> None:
        if self._transport is not None:
            await self._transport.publish(topic, seq, frames)

    # -- subscribing ---------------------------------------------------------------------------------
    def _subscribe(
        self,
        patterns: Sequence[str | TopicPattern | RegexPattern],
        *,
        handler: Handler | None = None,
        filter: Mapping[str, Any] | None = None,
        max_size: int | None = None,
        overflow: Overflow | str | None = None,
        concurrency: int = 1,
    ) -> Subscription:
        if self._state in (NodeState.CLOSING, NodeState.CLOSED):
            raise ClosedError(f"Node {self.name!r} is {self._state.value}; create a new Node")
        q = self.config.queue
        sub = Subscription(
            [compile_pattern(p) if isinstance(p, str) else p for p in patterns],
            handler=handler,
            filter=filter,
            max_size=q.max_size if max_size is None else max_size,
            overflow=q.overflow_policy if overflow is None else overflow,
            concurrency=concurrency,
            on_close=self._unsubscribed,
        )
        self._router.add(sub)
        if self._state is NodeState.RUNNING:
            assert self._dispatcher is not None
            self._dispatcher.start(sub)
            self._announce()
        return sub

    async def _unsubscribed(self, sub: Subscription) -> None:
        self._closed_subs.append(sub.statistics())  # node totals keep what closed subscriptions counted
        self._router.remove(sub)
        await self._detach_gate(sub)
        self._router.forget_uninterested_streams()
        if self._dispatcher is not None:
            await self._dispatcher.stop(sub)
        if self._state is NodeState.RUNNING:
            self._announce()

    def _announce(self) -> None:
        if self._transport is not None and self._state is NodeState.RUNNING:
            self._transport.announce(patterns=self._router.interest(), responders=self._router.responders)

    async def subscribe(
        self,
        *patterns: str,
        handler: Handler | None = None,
        filter: Mapping[str, Any] | None = None,
        max_size: int | None = None,
        overflow: Overflow | str | None = None,
        concurrency: int = 1,
        replay: Replay | None = None,
        durable: str | None = None,
    ) -> Subscription:
        """Subscribe to topic patterns.

        Args:
            *patterns: topic patterns: ``*`` matches one dot-separated token, ``**`` any number,
                e.g. ``"order.*"``, ``"sensor.**"``.
            handler: called with each event (sync or async). Without one, iterate the returned
                subscription: ``async for event in sub`` or ``await sub.next(timeout=1)``.
            filter: Mongo-style filter on event fields, e.g.
                ``{"payload.amount": {"$gt": 100}, "priority": {"$gte": 7}}``.
            max_size: backlog bound (default ``queue.max_size``).
            overflow: ``"drop_oldest"`` (default ``queue.overflow_policy``), ``"drop_newest"`` or
                ``"block"`` (publishers wait).
            concurrency: handler calls that may run at once for this subscription (default 1,
                which keeps events in priority order).
            replay: first deliver history from every publisher's ring/journal, then live events with no
                gap or duplicate at the seam: ``"all"``, ``N`` (newest N per topic) or a datetime / UNIX
                seconds (since then). Order is kept per (publisher, topic).
            durable: a name: checkpoint progress in this node's journal and, after a restart, resume
                every publisher's streams after the checkpoint (at-least-once; needs
                ``persistence.enabled``; the backlog uses ``overflow="block"``).

        Returns:
            The ``Subscription``; ``await sub.unsubscribe()`` (or ``async with sub``) ends it.

        Raises:
            InvalidTopicError: a pattern is malformed. InvalidFilterError: the filter is malformed.
        """
        spec = await self._replay_spec(replay, durable)  # checked (and checkpoint read) first
        if spec is not None:
            self._check_running()
        # fmt: off
        sub = self._subscribe(patterns, handler=handler, filter=filter, max_size=max_size,
                              overflow="block" if durable else overflow, concurrency=concurrency)
        # fmt: on
        if spec is not None:  # no await since _subscribe: no live event can slip past the gate
            self._attach_gate(sub, spec, durable)
        return sub

    def on(
        self, *patterns: str, filter: Mapping[str, Any] | None = None, concurrency: int = 1
    ) -> Callable[[F], F]:
        """Decorator: register the function as a handler for ``patterns`` (see ``subscribe``).

        Usable before the node starts; the subscription begins when it does.
        Example: ``@node.on("user.*")`` above ``async def handle(event): ...``.
        """
        compiled = [compile_pattern(p) for p in patterns]

        def register(func: F) -> F:
            self._subscribe(compiled, handler=func, filter=filter, concurrency=concurrency)
            return func

        return register

    def on_pattern(self, regex: str, *, filter: Mapping[str, Any] | None = None) -> Callable[[F], F]:
        """Decorator: handle every topic that fully matches the regular expression ``regex``.

        Example: ``@node.on_pattern(r"order\\.(created|updated|cancelled)")``.
        """
        compiled = [RegexPattern(regex)]

        def register(func: F) -> F:
            self._subscribe(compiled, handler=func, filter=filter)
            return func

        return register

    def stream(
        self, *patterns: str, batch_size: int = 100, filter: Mapping[str, Any] | None = None
    ) -> AsyncIterator[Event]:
        """Iterate over matching events as they arrive: ``async for event in node.stream("sensor.*")``.

        The subscription starts at this call (nothing published after it is missed, even before
        the first iteration) and ends when the loop is left or the node closes.

        Args:
            batch_size: events taken from the backlog per wake-up before yielding control back
                to the loop (a throughput knob; events are still yielded one at a time).
        """
        sub = self._subscribe(patterns, filter=filter)
        return events_of(sub, max(1, batch_size))

    def window(
        self,
        *patterns: str,
        size: str | float = "1m",
        filter: Mapping[str, Any] | None = None,
        emit_empty: bool = False,
    ) -> AsyncIterator[list[Event]]:
        """Yield the matching events of each tumbling time window as a list.

        ``async for batch in node.window("metric.*", size="10s"):``. The subscription starts at this
        call and ends when the loop is left or the node closes.

        Args:
            size: window length, seconds or a duration string like ``"500ms"``, ``"10s"``, ``"1m"``.
            emit_empty: also yield empty lists for windows in which nothing arrived.
        """
        seconds = parse_duration(size)
        if seconds <= 0:
            raise UsageError(f"size={size!r}: a window must be longer than 0 s")
        sub = self._subscribe(patterns, filter=filter)
        return windows_of(sub, seconds, emit_empty=emit_empty)

    # -- request / response --------------------------------------------------------------------------
    def respond(self, type: str) -> Callable[[F], F]:
        """Decorator: answer requests of ``type``; the function's return value is the reply payload.

        An exception in the function reaches the requester as ``RemoteError``. Several nodes may
        respond to one type: requests are spread over them round-robin.
        """
        validate_topic(type)

        def register(func: F) -> F:
            if not callable(func):
                raise UsageError(f"@respond({type!r}) must decorate a function")
            self._router.responders[type] = func
            self._announce()
            return func

        return register

    async def request(
        self,
        type: str,
        payload: Any = None,
        *,
        timeout: float = 5.0,
        priority: int = 5,
        headers: Mapping[str, str] | None = None,
        correlation_id: str | None = None,
    ) -> Event:
        """Send a request to one responder of ``type`` and wait for its reply.

        Returns:
            The reply ``Event``; its ``payload`` is what the responder returned.

        Raises:
            NoResponders: no node responds to ``type`` right now (raised at once).
            RequestTimeout: no reply within ``timeout`` seconds (also a ``TimeoutError``).
            RemoteError: the responder raised; ``remote_type`` and ``remote_message`` say what.
        """
        self._check_running()
        assert self._transport is not None
        remote = [p.id for p in self._transport.peers() if type in p.responders]
        target = self._picker.pick(type, remote + ([self.id] if type in self._router.responders else []))
        if target is None:
            raise NoResponders(
                f"no node in mesh {self.config.mesh.name!r} responds to {type!r}; "
                "start a responder (@node.respond) or check the type and mesh name"
            )
        event = Event(
            type, payload, source=self.name, priority=priority, headers=headers, correlation_id=correlation_id
        )
        return await self._router.request(target, event, timeout)

    async def _run_handler(self, handler: Handler, event: Event) -> Any:
        assert self._dispatcher is not None
        return await self._dispatcher.run_once(handler, event)

    # -- peers ---------------------------------------------------------------------------------------
    def _on_peers_changed(self) -> None:
        self._watch.update(self.peers)
        if self._router.recovery is not None:
            self._router.recovery.peers_changed(self.peers)
        self._gates_see_peers()

    def __repr__(self) -> str:
        return (
            f"<zbus.Node {self.name!r} mesh={self.config.mesh.name!r} {self._state.name} "
            f"peers={len(self.peers)} subs={len(self._router.subscriptions)}>"
        )
