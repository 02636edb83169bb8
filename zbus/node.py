"""Node: the one object an application embeds to take part in a zbus mesh.

``Node`` is the composition root. ``__init__`` builds what exists before the node runs (the subscription
registry, the responders, the peer watch); ``start`` opens the journal, then builds the running components
in the order they depend on each other, each wired in its constructor: transport → history → recovery →
router → gates, dead-letter office and dispatcher, then starts the transport with the router as its
inbound handler. Every public method delegates to one component and holds no protocol logic of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .codec import wire
from .codec.groups import KEY_HEADER
from .config import Config, load_config, parse_duration
from .delivery.backlog import Overflow
from .delivery.consume import events_of, windows_of
from .delivery.deadletters import DeadLetter, MemoryDeadLetters
from .delivery.dispatch import Dispatcher
from .delivery.routing import Subscriptions
from .delivery.subscription import Handler, Subscription, SubscriptionStatistics
from .errors import ClosedError, JournalError, UsageError
from .inbound.gates import Gates, Replay, replay_spec
from .inbound.groups import ACK_ON_FINISH, Groups
from .inbound.peerwatch import PeerEvent, PeerWatch
from .inbound.recovery import Recovery
from .inbound.router import Router
from .journal.deadletters import DeadLetterOffice
from .journal.history import History
from .journal.persistence import Persistence, replay_events
from .journal.recording import Recorder, recording_name
from .model.event import Event, batch_of
from .model.peer import PeerInfo
from .model.topics import RegexPattern, TopicPattern, compile_pattern, validate_topic
from .monitoring.meshview import STATS_TOPIC
from .monitoring.sharing import MeshSharing, stats_event
from .monitoring.snapshot import JOURNAL_STATS_TIMEOUT, Observation
from .observe.latency import Histogram
from .observe.statistics import GroupStatistics, NodeState, NodeStatistics, merge_counts, per_peer
from .observe.taskdump import install as install_task_dump
from .observe.tracing import stamp
from .protocol.repair import LostEvents
from .protocol.requests import RoundRobin
from .transport import make_transport, preload
from .transport.base import Transport

if TYPE_CHECKING:
    from .monitoring.health import HealthServer

__all__ = ["Node"]

log = logging.getLogger("zbus")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(slots=True)
class _Running:
    """The components of a started node (built together in ``Node.start``, never half)."""

    dispatcher: Dispatcher
    transport: Transport
    history: History
    recovery: Recovery
    router: Router
    gates: Gates
    dead: DeadLetterOffice
    groups: Groups
    persistence: Persistence | None
    http: HealthServer | None = None
    mesh: MeshSharing | None = None


class Node:
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
            ``"forwarder"`` relays events for forwarder-mode nodes (zbus/transport/zmq/forwarding.py).

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
        self._state = NodeState.CREATED
        self._run: _Running | None = None
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
        self._seqs: dict[str, int] = {}
        self._start_seqs: dict[str, int] = {}  # _seqs when this incarnation started (a journal's)
        self._published = 0
        self._subs = Subscriptions()
        self._responders: dict[str, Handler] = {}
        self._memory_letters = MemoryDeadLetters()
        self._watch = PeerWatch()
        self._picker = RoundRobin()
        self._lost_listeners: list[Callable[[LostEvents], Any]] = []
        self._closed_subs: list[SubscriptionStatistics] = []
        self._internal: Subscription | None = None  # the dashboard's $zbus.stats subscription (not counted)

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
        persistence: Persistence | None = None
        transport: Transport | None = None
        await asyncio.to_thread(preload, self.config)  # imports off the loop (see preload)
        try:
            if self.config.persistence.enabled:
                # a journaled node keeps its id and continues its sequences across restarts (DESIGN §6)
                # fmt: off
                persistence, identity = await Persistence.open(self.config.persistence, self.name,
                                                               candidate_id=self.id, epoch=self.epoch,
                                                               send=self._wire_out)
                # fmt: on
                self.id, self.epoch, self._seqs = identity.node_id, identity.epoch, identity.seqs
            self._start_seqs = dict(self._seqs)
            self._run = run = self._build(persistence)
            transport = run.transport
            await transport.start(run.router)
            await run.groups.start(self._seqs)  # with a journal: what the last run left unacked
            from .monitoring.health import start_http  # http.server loads only for nodes that serve HTTP

            monitoring = self.config.monitoring  # mesh stats: shared while watched, kept when serving HTTP
            # fmt: off
            run.mesh = mesh = MeshSharing(monitoring.mesh, node_id=self.id, publish=self._share,
                                          observe=lambda: self._observe(journal_stats=False),
                                          watchers=(self._subs.has_interest, transport.subscriber_count),
                                          http_url=lambda: self.http_url or "", watch=monitoring.http.enabled)
            run.http = await start_http(self.name, monitoring, self._observe, mesh.read)
            if run.http is not None:
                self._internal = self._subscribe([STATS_TOPIC], handler=mesh.heard)
            # fmt: on
        except BaseException:
            self._state = NodeState.CLOSED  # nothing half-open stays behind: create a new Node
            if transport is not None:
                await transport.close()
            if persistence is not None:
                await persistence.close()
            raise
        self._state = NodeState.RUNNING
        install_task_dump(asyncio.get_running_loop())  # ZBUS_DEBUG_TASKS=1: SIGUSR1 prints every task
        for sub in self._subs.all:
            if sub.handler is not None:
                run.dispatcher.start(sub)
        self._announce()
        if run.mesh is not None:
            run.mesh.start()
        log.info("node %s (%s) joined mesh %r", self.name, self.id, self.config.mesh.name)

    def _build(self, persistence: Persistence | None) -> _Running:
        """The running components, each given what it needs in its constructor."""
        c = self.config
        # fmt: off
        transport = make_transport(c, node_id=self.id, name=self.name, epoch=self.epoch, role=self.role,
                                   base=self._start_seqs)
        history = History(self.id, ring_size=c.transport.repair_buffer,
                          ring_bytes=c.transport.repair_buffer_bytes, persistence=persistence)
        recovery = Recovery(node_id=self.id, history=history, transport=transport, config=c.repair,
                            limits=c.limits, route_all=self._subs.route_all,
                            route_one=self._subs.route_eager, has_interest=self._subs.has_interest,
                            interest_since=self._subs.interest_since, listeners=self._lost_listeners)
        dead = DeadLetterOffice(name=self.name, memory=self._memory_letters, persistence=persistence,
                                send=self._send)
        groups = Groups(node_id=self.id, name=self.name, epoch=self.epoch, config=c.groups,
                        transport=transport, subscriptions=self._subs, persistence=persistence,
                        dead_lettered=dead.dead_lettered, max_message_size=c.transport.max_message_size)
        router = Router(node_id=self.id, name=self.name, epoch=self.epoch,
                        max_message_size=c.transport.max_message_size, subscriptions=self._subs,
                        responders=self._responders, transport=transport, recovery=recovery,
                        run_handler=self._run_handler, on_peers_changed=self._on_peers_changed, groups=groups)
        q = c.queue
        dispatcher = Dispatcher(workers=c.performance.worker_threads, retry_base_delay=q.retry_base_delay,
                                retry_max_delay=q.retry_max_delay, on_dead_letter=dead.dead_lettered)
        gates = Gates(own_id=self.id, recovery=recovery, persistence=persistence, subscriptions=self._subs,
                      peers=lambda: self.peers)
        return _Running(dispatcher=dispatcher, transport=transport, history=history, recovery=recovery,
                        router=router, gates=gates, dead=dead, groups=groups, persistence=persistence)
        # fmt: on

    async def close(self) -> None:
        """Leave the mesh: stop handlers, fail pending requests, say goodbye. Idempotent."""
        if self._state in (NodeState.CLOSING, NodeState.CLOSED):
            return
        run = self._run
        if self._state is NodeState.CREATED or run is None:
            self._state = NodeState.CLOSED
            return
        self._state = NodeState.CLOSING
        if run.mesh is not None:
            await run.mesh.close()
        if run.http is not None:
            await run.http.close()
            run.http = None
        for sub in list(self._subs.all):
            await sub.unsubscribe()
        await run.dispatcher.close()
        await run.groups.close()
        await run.dead.close()
        if run.persistence is not None:  # what it committed last goes out before the goodbye
            await run.persistence.flush()
        # leaving drains: BYE has our final heads; followers' repairs are answered until they have the tail
        tail = {topic: seq for topic, seq in self._seqs.items() if seq != self._start_seqs.get(topic)}
        await run.transport.leave(tail, self.config.transport.drain_timeout)
        await run.router.close()
        await run.recovery.close()
        if run.persistence is not None:
            await run.persistence.close()
        await run.transport.close()
        self._state = NodeState.CLOSED
        log.info("node %s left mesh %r", self.name, self.config.mesh.name)

    def __del__(self) -> None:
        if self.__dict__.get("_state") is NodeState.RUNNING:
            warnings.warn(
                f"Node {self.name!r} was not closed; use 'async with Node(...)'", ResourceWarning, 2
            )

    def _running(self) -> _Running:
        """The running components, or ``ClosedError`` saying what to do."""
        run = self._run
        if self._state is not NodeState.RUNNING or run is None:
            fix = "use 'async with Node(...)'" if self._state is NodeState.CREATED else "create a new Node"
            raise ClosedError(f"Node {self.name!r} is {self._state.value}; {fix}")
        return run

    # white-box views for tests and tools: the running components, or None
    @property
    def _transport(self) -> Transport | None:
        return None if self._run is None else self._run.transport

    @property
    def _router(self) -> Router | None:
        return None if self._run is None else self._run.router

    @property
    def _persistence(self) -> Persistence | None:
        return None if self._run is None else self._run.persistence

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
        key: str | None = None,
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
            key: an ordering key for queue groups: events of one key go to one member, in order
                (carried in the ``zbus-key`` header).

        Returns:
            The event id.

        Raises:
            EventValidationError, InvalidTopicError: a field is invalid (message says which).
            UnknownTargetError: ``target`` names no node in the mesh.
            ClosedError: the node is not running.
        """
        attempts = self.config.queue.max_attempts if max_attempts is None else max_attempts
        headers = headers if key is None else {**(headers or {}), KEY_HEADER: key}
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
        batch = batch_of(events, source=self.name, max_attempts=self.config.queue.max_attempts)
        for event in batch:
            stamp(event)
        limit = self.config.transport.max_message_size  # everything is checked before anything is sent
        encoded = wire.encode_run(
            batch, node_id=self.id, epoch=self.epoch, seqs=self._seqs, max_message_size=limit
        )
        for event, prepared in zip(batch, encoded, strict=True):
            await self._send(event, prepared=prepared)
        return [e.id for e in batch]

    async def _send(
        self,
        event: Event,
        *,
        durable: bool = False,
        journal: bool = True,
        prepared: tuple[int, list[bytes]] = (0, []),
    ) -> None:
        """Send ``event``; ``journal=False`` (a node's own state, such as mesh stats): not journaled, not
        counted as published. ``prepared``: ``(seq, frames)`` already encoded and checked, used when
        ``seq`` is still the topic's next (nothing else published on it meanwhile)."""
        run = self._running()
        if event._target is not None:
            await run.router.send_directed(event, mesh=self.config.mesh.name)
            self._published += 1
            return
        topic = event._topic
        seq = self._seqs.get(topic, 0) + 1
        if prepared[0] == seq:
            frames = prepared[1]
        else:
            frames = wire.encode(event, node_id=self.id, seq=seq, epoch=self.epoch)
            wire.check_size(frames, self.config.transport.max_message_size)
        self._seqs[topic] = seq  # only now: a refused event must not leave a gap in the stream
        self._published += journal
        run.history.record(topic, seq, event._ts, frames)  # kept to repair subscribers' gaps
        persistence = run.persistence if journal else None
        if persistence is not None:  # write-ahead: sent by _wire_out once committed
            try:  # (a done future unless the writer is backlogged or the event is durable)
                await persistence.append(self.id, topic, seq, self.epoch, event._ts, frames, durable=durable)
            except JournalError:
                # not journaled, not sent: the number goes back, so subscribers see no gap (unless overtaken)
                if self._seqs.get(topic) == seq:
                    self._seqs[topic] = seq - 1
                    run.history.unrecord(topic, seq)
                self._published -= 1
                raise
        if self._subs.has_interest(topic):
            await self._subs.route(wire.decode(frames, max_message_size=2**62))
        if persistence is None:
            await run.groups.publish(topic, seq, frames)  # the transport, then queue groups

    async def _share(self, summary: dict[str, Any]) -> None:
        await self._send(stats_event(self.name, summary), journal=False)

    def _wire_out(self, topic: str, seq: int, frames: list[bytes]) -> Awaitable[None]:  # (no _run: closing)
        return asyncio.sleep(0) if self._run is None else self._run.groups.publish(topic, seq, frames)

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
        group: str | None = None,
        max_in_flight: int | None = None,
    ) -> Subscription:
        if self._state in (NodeState.CLOSING, NodeState.CLOSED):
            raise ClosedError(f"Node {self.name!r} is {self._state.value}; create a new Node")
        q = self.config.queue
        sub = Subscription(
            [compile_pattern(p) if isinstance(p, str) else p for p in patterns],
            handler=handler,
            filter=filter,
            max_size=q.max_size if max_size is None else max_size,
            max_bytes=q.max_bytes if group is None else 0,  # a group member: its credit bounds it
            overflow=q.overflow_policy if overflow is None else overflow,
            concurrency=concurrency,
            on_close=self._unsubscribed,
            group=group,
            max_in_flight=max_in_flight,
        )
        if group is not None:
            sub.gate = ACK_ON_FINISH  # acknowledged to its publisher when the consumer is done with it
        self._subs.add(sub)
        if self._state is NodeState.RUNNING and self._run is not None:
            self._run.dispatcher.start(sub)
            self._announce()
        return sub

    async def _unsubscribed(self, sub: Subscription) -> None:
        if sub is not self._internal:  # node totals keep what closed subscriptions counted
            self._closed_subs.append(sub.statistics())
        self._subs.remove(sub)
        run = self._run
        if run is None:
            return
        await run.gates.detach(sub)
        run.router.forget_uninterested_streams()
        await run.dispatcher.stop(sub)
        if self._state is NodeState.RUNNING:
            self._announce()

    def _announce(self) -> None:
        if (run := self._run) is not None and self._state is NodeState.RUNNING:
            groups = self._subs.groups(self.config.groups.max_in_flight)  # queue-group memberships
            run.transport.announce(patterns=self._subs.interest(), responders=self._responders, groups=groups)
            run.groups.members_changed(self.peers)
            self._watch.poke()

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
        group: str | None = None,
        max_in_flight: int | None = None,
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
            group: a queue group name: each matching event goes to one member of the group across the
                mesh (at-least-once: acknowledged when the handler returns, redelivered otherwise; see
                docs/API_REFERENCE.md#queue-groups). Not with ``replay`` or ``durable``.
            max_in_flight: with ``group``: this member's credit, the events one publisher may have
                unacknowledged at it (default ``groups.max_in_flight``; 1-4 for long tasks).

        Returns:
            The ``Subscription``; ``await sub.unsubscribe()`` (or ``async with sub``) ends it.

        Raises:
            InvalidTopicError: a pattern is malformed. InvalidFilterError: the filter is malformed.
        """
        if group is not None and (replay is not None or durable is not None):
            raise UsageError("group= cannot be combined with replay= or durable=: publishers keep group work")
        if (replay is not None or durable is not None) and self._state is not NodeState.RUNNING:
            self._running()  # replaying and durable subscriptions need a running node
        persistence = None if self._run is None else self._run.persistence
        spec = await replay_spec(replay, durable, persistence)  # checked (and checkpoint read) first
        # fmt: off
        sub = self._subscribe(patterns, handler=handler, filter=filter, max_size=max_size, group=group,
                              overflow="block" if durable else overflow, concurrency=concurrency,
                              max_in_flight=max_in_flight)
        # fmt: on
        if spec is not None:  # no await since _subscribe: no live event can slip past the gate
            self._running().gates.attach(sub, spec, durable)
        return sub

    def on(self, *patterns: str, filter: Mapping[str, Any] | None = None, concurrency: int = 1,
           group: str | None = None, max_in_flight: int | None = None) -> Callable[[F], F]:  # fmt: skip
        """Decorator: register the function as a handler for ``patterns`` (see ``subscribe``).

        Usable before the node starts; the subscription begins when it does.
        Example: ``@node.on("user.*")`` above ``async def handle(event): ...``.
        """
        compiled = [compile_pattern(p) for p in patterns]

        def register(func: F) -> F:
            self._subscribe(compiled, handler=func, filter=filter, concurrency=concurrency, group=group,
                            max_in_flight=max_in_flight)  # fmt: skip
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

    def stream(self, *patterns: str, batch_size: int = 100, filter: Mapping[str, Any] | None = None,
               group: str | None = None, max_in_flight: int | None = None
               ) -> AsyncIterator[Event]:  # fmt: skip
        """Iterate over matching events as they arrive: ``async for event in node.stream("sensor.*")``.

        The subscription starts at this call (nothing published after it is missed, even before
        the first iteration) and ends when the loop is left or the node closes.

        Args:
            batch_size: events taken from the backlog per wake-up before yielding control back
                to the loop (a throughput knob; events are still yielded one at a time).
        """
        sub = self._subscribe(patterns, filter=filter, group=group, max_in_flight=max_in_flight)
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
            self._responders[type] = func
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
            NoResponders: no node responds to ``type``: raised once discovery has settled
                (``discovery.settle`` after start) without one, or when ``timeout`` is spent first.
            RequestTimeout: no reply within ``timeout`` seconds (also a ``TimeoutError``).
            RemoteError: the responder raised; ``remote_type`` and ``remote_message`` say what.
        """
        run = self._running()
        deadline = time.monotonic() + timeout
        target = await run.router.responder_for(
            type, timeout, self._picker, self._watch, self.config.mesh.name
        )
        event = Event(
            type, payload, source=self.name, priority=priority, headers=headers, correlation_id=correlation_id
        )
        return await run.router.request(target, event, max(0.0, deadline - time.monotonic()))

    async def _run_handler(self, handler: Handler, event: Event) -> Any:
        return await self._running().dispatcher.run_once(handler, event)

    # -- the journal ---------------------------------------------------------------------------------
    def replay(
        self,
        pattern: str = "**",
        *,
        since: datetime | float | None = None,
        last: int | None = None,
        from_seq: int | None = None,
    ) -> AsyncIterator[Event]:
        """The events this node journaled (``persistence.enabled``) that match ``pattern``, oldest first.

        ``since`` (aware datetime or UNIX seconds) starts at a time; ``from_seq=N`` skips each
        stream's events below sequence N; ``last=N`` keeps the newest N per topic. Journaled events
        of earlier runs of the same node name (same journal) are included.

        Raises:
            UsageError: persistence is not enabled.
        """
        persistence = self._persistence
        if persistence is None:
            raise UsageError("replay() reads this node's journal: set persistence.enabled = true")
        start = since.timestamp() if isinstance(since, datetime) else since
        return replay_events(persistence, pattern, since=start, last=last, from_seq=from_seq)

    async def record(self, *patterns: str) -> Subscription:
        """Keep the events matching ``patterns`` this node hears in its journal, under their original
        streams, and answer replays of them (zbus/journal/recording.py): a durable subscription, so it
        resumes after a restart. Retention applies. See docs/API_REFERENCE.md#record.

        Raises:
            UsageError: persistence is not enabled, or no pattern. InvalidTopicError: a bad pattern.
        """
        persistence = self._running().persistence
        if persistence is None or not patterns:
            raise UsageError(
                "record() needs persistence.enabled = true and a pattern, e.g. record('order.*')"
            )
        keep = Recorder(persistence).keep
        return await self.subscribe(*patterns, handler=keep, durable=recording_name(patterns))

    def dead_letters(self) -> list[DeadLetter]:
        """Events whose handlers failed ``max_attempts`` times, oldest first (this run's, in memory;
        ``await stored_dead_letters()`` reads the journal's, across restarts)."""
        return self._memory_letters.list()

    async def stored_dead_letters(self, limit: int = 100) -> list[Any]:
        """The dead letters in this node's journal (``DeadLetterRecord``: id, event frames, error,
        handler, attempts, ts), oldest first, at most ``limit``.

        Raises:
            UsageError: persistence is not enabled.
        """
        return list(await self._running().dead.stored(limit))

    async def retry_dead_letters(self, ids: list[str] | None = None) -> int:
        """Publish stored dead letters again (all, or those with these ids) with their attempts reset,
        deleting each record once republished. Returns how many were republished."""
        return await self._running().dead.retry(ids)

    async def purge_dead_letters(self) -> int:
        """Delete every stored dead letter (and this run's in-memory list). Returns how many were stored."""
        return await self._running().dead.purge()

    # -- peers and waits -----------------------------------------------------------------------------
    @property
    def peers(self) -> list[PeerInfo]:
        """The other nodes of the mesh this node currently knows."""
        return [] if self._run is None else self._run.transport.peers()

    def on_peer(self, callback: Callable[[PeerEvent], Any]) -> Callable[[], None]:
        """Call ``callback(PeerEvent)`` on every join, leave and update; returns an unregister function."""
        return self._watch.add_listener(callback)

    async def wait_for_peers(
        self, count: int = 1, *, timeout: float = 10.0, names: Iterable[str] = ()
    ) -> list[PeerInfo]:
        """Wait until at least ``count`` peers (and every name in ``names``) are known.

        Raises:
            WaitTimeout: not reached within ``timeout`` seconds.
        """
        self._running()
        wanted = set(names)

        def ready() -> bool:
            peers = self.peers
            return len(peers) >= count and wanted <= {p.name for p in peers}

        await self._watch.wait_until(ready, timeout, f"{count} peer(s) {sorted(wanted) or ''}".strip())
        return self.peers

    async def wait_for_responders(self, type: str, count: int = 1, *, timeout: float = 10.0) -> int:
        """Wait until ``count`` nodes (this one included) respond to requests of ``type``.

        Returns:
            The number of responders when the wait ended.

        Raises:
            WaitTimeout: fewer than ``count`` responders within ``timeout`` seconds.
        """
        validate_topic(type)
        self._running()

        def responders() -> int:
            return (type in self._responders) + sum(1 for p in self.peers if type in p.responders)

        await self._watch.wait_until(
            lambda: responders() >= count, timeout, f"{count} responder(s) of {type!r}"
        )
        return responders()

    async def wait_for_subscribers(
        self, topic: str, count: int = 1, *, timeout: float = 10.0, group: str | None = None
    ) -> int:
        """Wait until ``count`` other nodes subscribe to something matching ``topic`` (with ``group``:
        are members of that queue group with a pattern matching ``topic``, this node included).

        The cure for ZeroMQ's slow-joiner loss: call it before publishing to a subscriber that
        has just started. ``topic`` may also be a pattern (``"order.*"``): then nodes whose
        subscriptions overlap it count. This node's own subscriptions are not counted.

        Returns:
            The number of remote subscribers when the wait ended.

        Raises:
            WaitTimeout: fewer than ``count`` subscribers within ``timeout`` seconds.
        """
        compile_pattern(topic)  # a topic or a pattern; raises InvalidTopicError with the fix
        counted = self._running().groups.subscribers
        what = f"{count} {'subscriber(s)' if group is None else f'member(s) of group {group!r}'} of {topic!r}"
        await self._watch.wait_until(lambda: counted(topic, group) >= count, timeout, what)
        return counted(topic, group)

    def _on_peers_changed(self) -> None:
        peers = self.peers
        self._watch.update(peers)
        if self._run is not None:
            self._run.recovery.peers_changed(peers)
            self._run.gates.peers_changed(peers)
            self._run.groups.members_changed(peers)

    # -- introspection -------------------------------------------------------------------------------
    @property
    def http_url(self) -> str | None:
        """``http://host:port`` of /health, /metrics and the dashboard (``monitoring.http``), else None."""
        return None if self._run is None or self._run.http is None else self._run.http.url

    @property
    def dashboard_url(self) -> str | None:
        """``http_url/?token=...``: the dashboard with the token /api/* need (``monitoring.http.token``)."""
        return None if self._run is None or self._run.http is None else self._run.http.dashboard_url

    @property
    def endpoints(self) -> dict[str, str]:
        """This node's ZeroMQ endpoints (``pub``, ``router``, a forwarder's ``capture``); empty in memory."""
        return {} if self._run is None else self._run.transport.statistics().endpoints

    def on_lost(self, callback: Callable[[LostEvents], Any]) -> Callable[[], None]:
        """Call ``callback(LostEvents)`` (sync or async) for every range of events that could not be
        repaired: ``node_id``, ``topic``, ``first``..``last``, ``count``, ``reason``. Returns an
        unregister function. Losses are also counted (``statistics().lost``) and logged."""
        self._lost_listeners.append(callback)
        return lambda: self._lost_listeners.remove(callback) if callback in self._lost_listeners else None

    def statistics(self) -> NodeStatistics:
        """A snapshot of this node's counters (see ``NodeStatistics``)."""
        open_subs = [s.statistics() for s in self._subs.all if s is not self._internal]
        subs = open_subs + self._closed_subs
        run = self._run
        router, recovery = (None, None) if run is None else (run.router, run.recovery)
        ts = None if run is None else run.transport.statistics()
        repeats = {} if recovery is None else recovery.counted()
        mine = [] if run is None else [run.router.dropped, run.groups.dropped]
        by_peer = [] if recovery is None else [*mine, recovery.refused]
        stats_heard = 0 if run is None or run.mesh is None else run.mesh.received  # not application events
        return NodeStatistics(
            name=self.name,
            id=self.id,
            state=self._state.value,
            published=self._published,
            received=0 if router is None else router.received - stats_heard,
            delivered=sum(s.delivered for s in subs),
            dropped=merge_counts(*mine, ts.dropped if ts else {}, repeats, *(s.dropped for s in subs)),
            expired=sum(s.expired for s in subs),
            gaps=0 if recovery is None else recovery.gaps,
            lost=0 if recovery is None else recovery.lost,
            repaired=0 if recovery is None else recovery.repaired,
            dead_letters=len(self._memory_letters),
            queued=sum(s.queued for s in open_subs),
            subscriptions=len(open_subs),
            peers=len(self.peers),
            handlers_busy=0 if run is None else run.dispatcher.busy,
            failures={} if ts is None else ts.failures,
            dropped_by_peer=per_peer({p.id for p in self.peers}, ts.by_peer if ts else {}, *by_peer),
        )

    def group_statistics(self) -> GroupStatistics:
        """Queue groups: as publisher, per member in flight, sent, acked, redelivered; as member, totals."""
        return GroupStatistics() if self._run is None else self._run.groups.statistics()

    async def _observe(self, *, journal_stats: bool = True) -> Observation:
        """What /health, /metrics and the dashboard show (journal statistics: not for mesh stats)."""
        run = self._run
        journal = None
        if run is not None and run.persistence is not None and journal_stats:
            journal = await run.persistence.observe(JOURNAL_STATS_TIMEOUT)
        return Observation(
            stats=self.statistics(),
            mesh=self.config.mesh.name,
            role=self.role,
            epoch=self.epoch,
            transport_kind=self.config.transport.kind,
            transport=None if run is None else run.transport.statistics(),
            subscriptions=[s.statistics() for s in self._subs.all if s is not self._internal],
            dispatcher=None if run is None else run.dispatcher.statistics(),
            request_latency=(run.router.requests.request_latency if run else Histogram()).snapshot(),
            groups=None if run is None else run.groups.statistics(),
            peers=self.peers,
            workers=self.config.performance.worker_threads,
            published=dict(self._seqs),
            received_heads={} if run is None else run.recovery.sync.delivered_heads(),
            recent_gaps=[] if run is None else list(run.recovery.recent_losses),
            journal=journal,
        )

    def __repr__(self) -> str:
        mesh, peers, subs = self.config.mesh.name, len(self.peers), len(self._subs)
        return f"<zbus.Node {self.name!r} mesh={mesh!r} {self._state.name} peers={peers} subs={subs}>"
