"""The settings sections, one frozen dataclass per TOML table, and ``Config``, which holds them all.

``config/default.toml`` lists every key with its default; docs/API_REFERENCE.md explains each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

from .values import (
    _DAY,
    _GIB,
    _KIB,
    _MIB,
    _PEER,
    _bool,
    _num,
    _opt,
    _Order,
    _positive_duration,
    _Section,
    _str,
    _strs,
    _ttl_table,
    default_journal_path,
)

__all__ = ["Config", "DiscoveryConfig", "GroupsConfig", "HttpConfig", "LimitsConfig", "LoggingConfig",
           "MeshConfig", "MeshViewConfig", "MetricsConfig", "MonitoringConfig", "PerformanceConfig",
           "PersistenceConfig", "QueueConfig", "RepairConfig", "RetentionConfig", "SecurityConfig",
           "TransportConfig"]  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshConfig(_Section):
    """``[mesh]``: ``name`` is the mesh; only nodes of the same mesh connect. 1-63 chars of A-Za-z0-9_-."""

    _key: ClassVar[str] = "mesh"
    name: str = _opt("default", _str(pattern=r"[A-Za-z0-9_-]{1,63}", expected="1-63 chars of A-Za-z0-9_-"))


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportConfig(_Section):
    """``[transport]``: sockets and flow control.

    Attributes:
        kind: ``"zmq"``, or ``"memory"`` for in-process tests.
        host: bind address of the PUB and ROUTER sockets, on ``pub_port`` and ``router_port`` (0 = ephemeral).
        send_hwm: send high-water mark in messages, ``recv_hwm`` the receive one (0 = unlimited).
        send_max_bytes: about the most bytes one connection's send queue holds (the XPUB's queue to each
            subscriber, each DEALER's); ``recv_max_bytes`` the same for each SUB's receive queue. A
            socket's mark, set when it is made and then kept, is ``max_bytes //`` the larger of
            ``batch_max_bytes`` and the largest message seen so far (at least 16 messages, at most
            the hwm); 0 = bounded in messages only.
        linger: seconds unsent messages are kept when a socket closes.
        max_message_size: largest event frame in bytes; larger frames are dropped.
        slow_subscriber: past the HWM, ``"drop"`` events for that subscriber or ``"block"`` the publisher.
        reconnect_interval: first reconnect delay in seconds, backing off to ``reconnect_interval_max``.
        ipc: also bind ``ipc://`` endpoints so same-host peers skip TCP.
        repair_buffer: recent events kept in memory per published topic to repair subscribers' gaps
            (the journal serves older ones when persistence is enabled); 0 = none.
        repair_buffer_bytes: the payload bytes one topic's repair buffer holds at most (large events
            are kept fewer).
        forwarder: ``"auto"``: take events through a forwarder (role ``forwarder``) when one is in the
            mesh, falling back to direct links when it leaves; ``"off"`` (default): always direct.
        forwarder_capture: for a forwarder node only: also publish a copy of everything it relays on a
            PUB socket bound here (``tcp://127.0.0.1:7100``; empty = none), for ``zbus monitor --capture``.
        block_timeout: seconds a publish waits for a stuck subscriber under ``slow_subscriber = "block"``
            before its events are dropped (counted as ``slow_subscriber``).
        batch_max_events: most events of one topic sent as one batch message while the publisher is
            backlogged; ``batch_max_bytes`` is the payload size at which a batch is sent early.
        heads_memory: seconds a topic's last sequence stays in heartbeats after its last publish.
        heads_max_topics: most topics a heartbeat announces (the most recently published ones).
        safety_poll: seconds between looks at a socket whose readiness edge may have been missed; also the
            longest the ticker sleeps.
        drain_timeout: how long ``close()`` waits, still answering repairs, until every peer that
            follows a topic this node published has its tail (DRAINED); 0 = leave at once.
    """

    _key: ClassVar[str] = "transport"
    _ordered: ClassVar[_Order] = (("reconnect_interval", "reconnect_interval_max", ""),)
    kind: str = _opt("zmq", _str("zmq", "memory"))
    host: str = _opt("127.0.0.1", _str())
    pub_port: int = _opt(0, _num("integer", 0, 65535))
    router_port: int = _opt(0, _num("integer", 0, 65535))
    send_hwm: int = _opt(100_000, _num("integer", 0))
    recv_hwm: int = _opt(100_000, _num("integer", 0))
    send_max_bytes: int = _opt(64 * _MIB, _num("size", 0))
    recv_max_bytes: int = _opt(64 * _MIB, _num("size", 0))
    linger: float = _opt(1.0, _num("duration", 0))
    max_message_size: int = _opt(_MIB, _num("size", _KIB, 256 * _MIB, "in 1KiB..256MiB"))
    slow_subscriber: str = _opt("drop", _str("drop", "block"))
    reconnect_interval: float = _opt(0.1, _positive_duration)
    reconnect_interval_max: float = _opt(2.0, _positive_duration)
    ipc: bool = _opt(False, _bool)
    repair_buffer: int = _opt(4096, _num("integer", 0))
    repair_buffer_bytes: int = _opt(32 * _MIB, _num("size", _KIB))
    forwarder: str = _opt("off", _str("off", "auto"))
    forwarder_capture: str = _opt("", _str(pattern=".*", expected="an endpoint such as tcp://127.0.0.1:7100"))
    block_timeout: float = _opt(30.0, _positive_duration)
    batch_max_events: int = _opt(64, _num("integer", 1))
    batch_max_bytes: int = _opt(64 * _KIB, _num("size", 1))
    heads_memory: float = _opt(30.0, _num("duration", 0))
    heads_max_topics: int = _opt(256, _num("integer", 0))
    safety_poll: float = _opt(0.25, _positive_duration)
    drain_timeout: float = _opt(3.0, _num("duration", 0))


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryConfig(_Section):
    """``[discovery]``: how nodes find each other; LAN discovery is opt-in.

    Attributes:
        scope: ``"local"`` (this host), ``"lan"`` (mDNS on ``interfaces``: names or IPv4s; empty = all)
            or ``"static"`` (connect to ``peers``: endpoints like ``"tcp://10.0.0.5:7001"``,
            ``"tcp://zbus-1.zbus:7001"`` or ``"ipc://..."``; with security on, each followed by
            ``#key=`` and the peer's CURVE public key, Z85: ``"tcp://10.0.0.5:7001#key=rq:rM>}U?..."``).
        peers_file: static only: a file listing more endpoints, one per line (``#`` comments), re-read
            every ``resolve_interval``; empty = none.
        resolve_interval: static only: seconds between re-reads of ``peers_file`` and re-resolutions of
            the host names in the endpoints (a restarted peer at a new address is found).
        peer_timeout: seconds of silence before a peer is dropped; must exceed ``heartbeat_interval``.
        greet_interval: seconds between looks at which discovered endpoints are due a HELLO.
        hello_timeout: seconds an unanswered HELLO's connection is kept before it is closed.
        handshake_timeout: seconds a peer that has not been heard on its XPUB yet is kept at most (its
            PINGs and HELLOs do not keep it longer): ghosts that only talk to our ROUTER expire.
        regreet_base: seconds before a discovered node that is not a peer is greeted again, doubling
            per unanswered greeting up to ``regreet_cap``.
        settle: seconds after start before discovery counts as settled (when no greeting is pending
            either): ``request()`` waits this long for a responder, and a node that published closes
            no sooner, so it can hand its events to subscribers it had not met yet.
        max_nodes: most discovered nodes (mDNS records, endpoints to greet) followed at once; more are
            counted as ``discovery_full`` and ignored until some go away (bounds memory and sockets
            under a flood of fake records).
        max_pending_greetings: most HELLOs waiting for an answer at once, each holding a connection;
            endpoints due beyond that are greeted on a later tick.
    """

    _key: ClassVar[str] = "discovery"
    _ordered: ClassVar[_Order] = (
        ("heartbeat_interval", "peer_timeout", "; allow several missed heartbeats (defaults: 10s and 1s)"),
        ("regreet_base", "regreet_cap", ""),
    )
    scope: str = _opt("local", _str("local", "lan", "static"))
    interfaces: tuple[str, ...] = _opt((), _strs(r"\S+", "a list of interface names or IPv4 addresses"))
    peers: tuple[str, ...] = _opt(
        (), _strs(_PEER, 'a list of endpoints like "tcp://10.0.0.5:7001" (secured: "...:7001#key=KEY")')
    )
    peers_file: str = _opt("", _str(pattern=".*", expected="a file path, or empty for none"))
    resolve_interval: float = _opt(10.0, _positive_duration)
    heartbeat_interval: float = _opt(1.0, _positive_duration)
    peer_timeout: float = _opt(10.0, _positive_duration)
    greet_interval: float = _opt(1.0, _positive_duration)
    hello_timeout: float = _opt(2.5, _positive_duration)
    handshake_timeout: float = _opt(30.0, _positive_duration)
    regreet_base: float = _opt(3.0, _positive_duration)
    regreet_cap: float = _opt(30.0, _positive_duration)
    settle: float = _opt(1.5, _num("duration", 0))
    max_nodes: int = _opt(1024, _num("integer", 1))
    max_pending_greetings: int = _opt(64, _num("integer", 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionConfig(_Section):
    """``[persistence.retention]``: how long journaled events are kept.

    Attributes:
        default: seconds an event is kept when no ``by_prefix`` entry matches its topic.
        by_prefix: read-only topic prefix -> seconds; a file or env value replaces the whole table. It counts
            for ``==`` but not for ``hash()`` (a mapping proxy is unhashable).
        max_size: journal bytes above which the oldest events go first; 0 means no size limit.
        sweep_interval: how often a running node applies retention in the background (also at once
            when the journal is full).
    """

    _key: ClassVar[str] = "persistence.retention"
    default: float = _opt(7 * _DAY, _positive_duration)
    by_prefix: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"audit": 90 * _DAY, "debug": _DAY}),
        hash=False,
        metadata={"conv": _ttl_table},
    )
    max_size: int = _opt(0, _num("size", 0))
    sweep_interval: float = _opt(60.0, _positive_duration)


@dataclass(frozen=True, slots=True, kw_only=True)
class PersistenceConfig(_Section):
    """``[persistence]``: the LMDB journal, off by default.

    Attributes:
        path: journal directory; empty means :func:`default_journal_path` (see :meth:`journal_path`).
        durability: ``"none"`` (no fsync), ``"async"`` (fsync off the hot path) or ``"sync"`` (fsync each
            batch before its events are sent and before ``publish(durable=True)`` returns).
        batch_size: a batch is committed once this many events wait.
        flush_interval: the longest a partial batch waits; 0 (default) commits whenever the writer
            thread is free, so batches form only under load. A journaled node sends an event only once
            it is committed (write-ahead), so this is also added latency.
        map_size: LMDB map size in bytes; the journal cannot grow past it.
    """

    _key: ClassVar[str] = "persistence"
    enabled: bool = _opt(False, _bool)
    path: str = _opt("", _str(pattern=".*", expected="a directory path, or empty for the default"))
    durability: str = _opt("async", _str("none", "async", "sync"))
    batch_size: int = _opt(100, _num("integer", 1))
    flush_interval: float = _opt(0.0, _num("duration", 0))
    map_size: int = _opt(_GIB, _num("size", _MIB, bounds="≥ 1MiB"))
    retention: RetentionConfig = field(default_factory=RetentionConfig)

    def journal_path(self, node_name: str, env: Mapping[str, str] | None = None) -> Path:
        """Return ``path`` with ``~`` expanded or, if it is empty, :func:`default_journal_path`."""
        return Path(self.path).expanduser() if self.path else default_journal_path(node_name, env)


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairConfig(_Section):
    """``[repair]``: gap repair, loss reports and replay pulls (durations in seconds).

    Attributes:
        tick: how often outstanding repair requests are checked for a late answer.
        timeout: seconds to wait for a repair answer before asking again.
        max_span: most events one repair request asks for (the rest is asked for next).
        batch_events: most events per REPAIR_DATA message a publisher sends; ``batch_bytes`` the most
            bytes (one bigger event travels alone).
        send_patience: how long a publisher retries sending a repair answer to a peer whose queue is full.
        max_head_queries: streams of a rejoining journaled publisher whose heads are asked for (0 = none).
        owed_wait: how long a journaled publisher that went away still owes what it did not answer;
            after that its holes are reported lost.
        hold_limit: live events held per publisher while its history is replayed; beyond that the
            oldest are let go and pulled again from the publisher.
        hole_rounds: rounds of pulling the holes between the replayed history and held live events.
        plan_timeout: per try, how long a replay waits for a publisher's plan; ``plan_attempts`` tries
            (a peer that never answers is taken to have no history).
        pull_timeout: per try, how long a replay waits for a pulled range; ``pull_attempts`` tries
            before the range is reported lost.
        checkpoint_interval: how often a durable subscription writes its watermarks.
        window: the reorder window: events held per stream past a hole; later ones are not held but
            pulled again when the repair gets there (a far-behind subscriber catches up at its pace).
        keep_away: how long the stream state of a peer that went silent (partition, crash) is kept,
            so the gap when it comes back is repaired or reported; after that it is forgotten (what
            it still owed is reported lost).
    """

    _key: ClassVar[str] = "repair"
    tick: float = _opt(0.2, _positive_duration)
    timeout: float = _opt(1.0, _positive_duration)
    max_span: int = _opt(2000, _num("integer", 1))
    batch_events: int = _opt(64, _num("integer", 1))
    batch_bytes: int = _opt(64 * _KIB, _num("size", 1))
    send_patience: float = _opt(5.0, _num("duration", 0))
    max_head_queries: int = _opt(64, _num("integer", 0))
    owed_wait: float = _opt(300.0, _positive_duration)
    hold_limit: int = _opt(100_000, _num("integer", 1))
    hole_rounds: int = _opt(8, _num("integer", 0))
    plan_timeout: float = _opt(3.0, _positive_duration)
    plan_attempts: int = _opt(3, _num("integer", 1))
    pull_timeout: float = _opt(5.0, _positive_duration)
    pull_attempts: int = _opt(3, _num("integer", 1))
    checkpoint_interval: float = _opt(0.2, _positive_duration)
    window: int = _opt(10_000, _num("integer", 1))
    keep_away: float = _opt(600.0, _positive_duration)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig(_Section):
    """``[queue]``: per-subscription queues (``max_size`` events) and handler retries.

    Attributes:
        max_bytes: most payload bytes one subscription queue holds; past it the queue counts as
            full (``overflow_policy`` applies), so large events cannot grow memory without bound.
        overflow_policy: ``"drop_oldest"``, ``"drop_newest"`` or ``"block"`` when the queue is full.
        priority_levels: always 10 (priorities 1-10); other values are rejected.
        retry_base_delay: seconds before the first retry, doubling up to ``retry_max_delay``.
        max_attempts: handler attempts per event, the first included.
    """

    _key: ClassVar[str] = "queue"
    _ordered: ClassVar[_Order] = (("retry_base_delay", "retry_max_delay", ""),)
    max_size: int = _opt(10_000, _num("integer", 1))
    max_bytes: int = _opt(64 * _MIB, _num("size", _KIB))
    overflow_policy: str = _opt("drop_oldest", _str("drop_oldest", "drop_newest", "block"))
    priority_levels: int = _opt(10, _num("integer", 10, 10, "equal to 10; only priorities 1-10 exist"))
    retry_base_delay: float = _opt(0.1, _num("duration", 0))
    retry_max_delay: float = _opt(10.0, _num("duration", 0))
    max_attempts: int = _opt(3, _num("integer", 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupsConfig(_Section):
    """``[groups]``: queue groups (``subscribe(..., group=)``): acks, redelivery and flow control.

    Attributes:
        ack_wait: seconds a member has to acknowledge an event (or call ``in_progress``) before the
            publisher delivers it again.
        max_deliver: deliveries of one event before the publisher dead-letters it.
        max_in_flight: a member subscription's credit: events one publisher has delivered to it and
            not had acknowledged (acks go back per half of it). Higher suits many short tasks,
            1-4 suits long ones (a member holds up to this much work no other member can take).
        max_waiting: events a publisher holds for its groups' members; beyond it ``publish`` waits
            until half of it is left (or what waits cannot move on: then just below it).
    """

    _key: ClassVar[str] = "groups"
    ack_wait: float = _opt(30.0, _positive_duration)
    max_deliver: int = _opt(5, _num("integer", 1))
    max_in_flight: int = _opt(64, _num("integer", 1, 100_000, "in 1..100000"))
    max_waiting: int = _opt(10_000, _num("integer", 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitsConfig(_Section):
    """``[limits]``: what one peer may cost this node (docs/ARCHITECTURE.md, "Hostile input").

    Attributes:
        max_peers: most peers at once; a HELLO from a new node beyond that is refused and counted
            (``max_peers``). The ZeroMQ context and the open-file limit are sized for it.
        max_patterns_per_peer: most patterns one peer may announce; the rest are ignored and counted.
        max_streams_per_peer: most (topic) streams of one peer followed at once; events of a new
            topic beyond that are dropped and counted (``stream_limit``).
        max_seq_jump: an event whose sequence number is more than this far beyond its stream's last
            one is not trusted (dropped, counted as ``seq_jump``) until a heartbeat of its publisher
            confirms the head; the gap is then repaired as usual.
        peer_events_per_second: events per second taken from one peer's subscription link (token
            bucket, burst = one second's worth); the excess is dropped and counted (``rate_limited``)
            and repaired or reported lost like any gap. 0 = no limit.
        peer_bytes_per_second: the same in payload bytes; 0 = no limit.
    """

    _key: ClassVar[str] = "limits"
    max_peers: int = _opt(256, _num("integer", 1, 65536))
    max_patterns_per_peer: int = _opt(1000, _num("integer", 1))
    max_streams_per_peer: int = _opt(100_000, _num("integer", 1))
    max_seq_jump: int = _opt(10_000_000, _num("integer", 1))
    peer_events_per_second: int = _opt(0, _num("integer", 0))
    peer_bytes_per_second: int = _opt(0, _num("size", 0))


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceConfig(_Section):
    """``[performance]``: ``worker_threads`` caps concurrent handlers per node; batches hold at most
    ``batch_size`` events and wait at most ``flush_interval`` seconds (the adaptive batching window).
    """

    _key: ClassVar[str] = "performance"
    worker_threads: int = _opt(4, _num("integer", 1))
    batch_size: int = _opt(100, _num("integer", 1))
    flush_interval: float = _opt(0.1, _num("duration", 0))


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpConfig(_Section):
    """``[monitoring.http]``: if ``enabled``, serve /health, /metrics and the dashboard on ``host:port``
    (0 = ephemeral); /health turns 503 when a subscription backlog is ``max_queue_percent`` % full.

    Attributes:
        workers: threads answering complete requests (the server never starts more).
        max_connections: most connections open at once; a new one beyond that evicts the oldest
            connection still sending its request.
        read_timeout: seconds a connection may take to send its whole request before it is closed.
        max_request_bytes: longest request (request line and headers) accepted; longer ones get 431.
        token: the secret the dashboard and ``/api/*`` need (``?token=`` or ``Authorization: Bearer``);
            empty = ``token_file``, else one generated at start and logged once (loopback only).
        token_file: a 0600 file whose first line is the token; empty = none.
        open: endpoints served without the token: ``"health"``, ``"metrics"`` (both by default).
    """

    _key: ClassVar[str] = "monitoring.http"
    enabled: bool = _opt(False, _bool)
    host: str = _opt("127.0.0.1", _str())
    port: int = _opt(0, _num("integer", 0, 65535))
    max_queue_percent: int = _opt(90, _num("integer", 1, 100))
    workers: int = _opt(4, _num("integer", 1, 64))
    max_connections: int = _opt(64, _num("integer", 1, 4096))
    read_timeout: float = _opt(5.0, _positive_duration)
    max_request_bytes: int = _opt(8 * _KIB, _num("size", 256, _MIB, "in 256..1MiB"))
    token: str = _opt("", _str(pattern=r"|[A-Za-z0-9_.~-]{16,256}", expected="16-256 of [A-Za-z0-9_.~-]"))
    token_file: str = _opt("", _str(pattern=".*", expected="a file path, or empty"))
    open: tuple[str, ...] = _opt(("health", "metrics"), _strs("health|metrics", "a list of health, metrics"))


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig(_Section):
    """``[monitoring.metrics]``: if ``enabled``, collect Prometheus metrics (monitoring.http serves them)."""

    _key: ClassVar[str] = "monitoring.metrics"
    enabled: bool = _opt(True, _bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshViewConfig(_Section):
    """``[monitoring.mesh]``: while some node watches (a dashboard, ``zbus top``), every node shares a
    stats summary on ``$zbus.stats`` every ``interval`` seconds (0 = never); a watcher keeps ``window``
    seconds of history for its charts."""

    _key: ClassVar[str] = "monitoring.mesh"
    interval: float = _opt(2.0, _num("duration", 0))
    window: float = _opt(600.0, _positive_duration)


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitoringConfig(_Section):
    """``[monitoring]``: holds the tables ``[monitoring.http]``, ``[monitoring.metrics]`` and
    ``[monitoring.mesh]``."""

    http: HttpConfig = field(default_factory=HttpConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    mesh: MeshViewConfig = field(default_factory=MeshViewConfig)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig(_Section):
    """``[logging]``, used by the ``zbus`` CLI (the library only adds a ``NullHandler``).

    Attributes:
        level: ``"debug"``, ``"info"``, ``"warning"`` or ``"error"``, any case (stored lowercase).
        format: ``"text"`` or ``"json"``; ``output``: ``"stderr"``, ``"stdout"`` or a file path.
    """

    _key: ClassVar[str] = "logging"
    level: str = _opt("info", _str("debug", "info", "warning", "error", lower=True))
    format: str = _opt("text", _str("text", "json"))
    output: str = _opt("stderr", _str(expected='"stderr", "stdout" or a file path'))


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityConfig(_Section):
    """``[security]``: CURVE encryption and authentication of every link, and who may do what
    (docs/SECURITY.md).

    Attributes:
        mode: ``"auto"`` (``"off"`` on ``local`` and ``static`` scope; on ``lan`` scope the node refuses
            to start until you choose), ``"off"`` (no encryption, anyone who reaches the ports is in; a
            warning on every start beyond loopback), ``"allow"`` (CURVE; only the public keys in
            ``allow`` may connect, each with every permission) or ``"mesh"`` (CURVE; any node holding a
            credential signed by the mesh authority ``mesh_key`` may connect, with the credential's
            name and permissions).
        key_dir: where ``zbus keygen``/``mesh init``/``enroll`` write and the node reads keys; empty =
            ``~/.config/zbus/keys``.
        key: the node's key: a name in ``key_dir`` (``NAME.secret``) or a path to a ``.secret`` file;
            empty = the node's name.
        allow: ``allow`` mode: the Z85 public keys (40 characters, from ``.key`` files) that may connect.
        mesh_key: ``mesh`` mode: the mesh authority's verify key, Z85 text or a path to ``mesh.pub``.
        credential: ``mesh`` mode: this node's credential file; empty = ``KEY.cred`` beside the key.
        revocations: ``mesh`` mode: a signed revocation list file (``zbus mesh revoke``) watched for
            changes; empty = ``revoked`` in ``key_dir``. Lists also spread from node to node.
    """

    _key: ClassVar[str] = "security"
    mode: str = _opt("auto", _str("auto", "off", "allow", "mesh"))
    key_dir: str = _opt("", _str(pattern=".*", expected="a directory path, or empty for the default"))
    key: str = _opt("", _str(pattern=".*", expected="a key name or a .secret file path, or empty"))
    allow: tuple[str, ...] = _opt((), _strs(r"\S{40}", "a list of Z85 public keys (40 characters each)"))
    mesh_key: str = _opt("", _str(pattern=".*", expected="a Z85 key or a mesh.pub path, or empty"))
    credential: str = _opt("", _str(pattern=".*", expected="a credential file path, or empty"))
    revocations: str = _opt("", _str(pattern=".*", expected="a revocation list file path, or empty"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Config(_Section):
    """All settings, one frozen section per TOML table; ``Config()`` is the defaults. See load_config."""

    mesh: MeshConfig = field(default_factory=MeshConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    persistence: PersistenceConfig = field(default_factory=PersistenceConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    groups: GroupsConfig = field(default_factory=GroupsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    repair: RepairConfig = field(default_factory=RepairConfig)
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
