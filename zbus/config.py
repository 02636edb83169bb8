"""Typed, frozen zbus settings, loaded from defaults, a TOML file, the environment and keywords.

Precedence, lowest first: defaults < TOML file or mapping (or the file named by ``ZBUS_CONFIG``) <
``ZBUS_<SECTION>__<KEY>`` environment variables < ``overrides``. Each layer is checked on its own, so an error
names its source, the dotted key, the bad value and what is expected. ``config/default.toml`` lists every key.
Pure: only the stdlib and :mod:`zbus.errors`; reads only the file and the environment mapping it is given.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from .errors import ConfigError

# fmt: off
__all__ = ["Config", "DiscoveryConfig", "HttpConfig", "LoggingConfig", "MeshConfig", "MetricsConfig",
           "MonitoringConfig", "PerformanceConfig", "PersistenceConfig", "QueueConfig", "RepairConfig",
           "RetentionConfig", "SecurityConfig", "TransportConfig", "default_journal_path", "load_config",
           "parse_duration", "parse_size"]
_DAY, _KIB, _MIB, _GIB = 86_400.0, 1024, 1024**2, 1024**3
_DURATION_UNITS = {"": (1, 1), "ms": (1, 1000), "s": (1, 1), "m": (60, 1), "h": (3600, 1), "d": (86_400, 1)}
_SIZE_UNITS = {"": 1, "b": 1, "k": _KIB, "kib": _KIB, "kb": 1000, "m": _MIB, "mib": _MIB, "mb": 10**6,
               "g": _GIB, "gib": _GIB, "gb": 10**9, "t": 1024**4, "tib": 1024**4, "tb": 10**12}
_BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True,
               "false": False, "0": False, "no": False, "off": False}
# fmt: on
_NUMBER_UNIT = re.compile(r"\s*(\d[\d_]*(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*")
_DURATION_HINT = "seconds, or a string like 250ms, 1.5s, 5m, 2h, 7d"
_SIZE_HINT = "bytes, or a string like 512KiB, 100MB, 1GiB"
_ENDPOINT = r"tcp://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}|ipc://\S+"


def parse_duration(value: object) -> float:
    """Return float seconds from seconds (a number) or a string like ``"250ms"``, ``"1.5s"``, ``"7d"``.

    Units are ms, s, m, h and d (any case); a bare number string such as ``"0.5"`` is seconds.

    Raises:
        ConfigError: ``value`` is not a duration, is negative or is not finite.
    """
    match = _NUMBER_UNIT.fullmatch(value) if isinstance(value, str) else None
    if match and match[2].lower() in _DURATION_UNITS:
        mul, div = _DURATION_UNITS[match[2].lower()]
        seconds = float(match[1]) * mul / div
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigError(f"invalid duration {value!r}: expected {_DURATION_HINT}")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ConfigError(f"invalid duration {value!r}: expected a finite duration ≥ 0")
    return seconds


def parse_size(value: object) -> int:
    """Return int bytes from bytes (a number) or a string like ``"512KiB"``, ``"100MB"``, ``"1GiB"``.

    KiB/MiB/GiB/TiB and bare K/M/G/T are powers of 1024, KB/MB/GB/TB of 1000 (any case); "1.5K" is 1536.

    Raises:
        ConfigError: ``value`` is not a size or is negative.
    """
    match = _NUMBER_UNIT.fullmatch(value) if isinstance(value, str) else None
    if match and match[2].lower() in _SIZE_UNITS:
        number = float(match[1]) if "." in match[1] else int(match[1])
        return int(number * _SIZE_UNITS[match[2].lower()])
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 and value == int(value):
        return int(value)
    raise ConfigError(f"invalid size {value!r}: expected a non-negative size: {_SIZE_HINT}")


def default_journal_path(node_name: str, env: Mapping[str, str] | None = None) -> Path:
    """Return ``$XDG_DATA_HOME/zbus/<node_name>``, or ``~/.local/share/zbus/<node_name>`` without it.

    ``XDG_DATA_HOME`` (used only if absolute) and ``HOME`` come from ``env``; ``None`` means ``os.environ``.

    Raises:
        ConfigError: ``node_name`` is empty, ``.`` or ``..``, or contains ``/``, ``\\`` or NUL.
    """
    environ = os.environ if env is None else env
    if node_name in {"", ".", ".."} or any(c in node_name for c in "/\\\0"):
        raise ConfigError(f"node name {node_name!r} cannot name a journal directory; use e.g. 'orders-1'")
    base = environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(environ.get("HOME") or str(Path.home()), ".local", "share")
    return Path(base) / "zbus" / node_name


class _Bad(Exception):
    """A converter rejected a value; ``args[0]`` says what was expected."""


_Conv = Callable[[Any, bool], Any]  # (value, value_is_environment_text) -> normalised value
_Order = tuple[tuple[str, str, str], ...]  # (low, high, advice): high ≥ low, or high > low if advice


def _need(ok: object, expected: str) -> None:
    if not ok:
        raise _Bad(expected)


def _num(kind: str, lo: float, hi: float | None = None, bounds: str = "", gt: bool = False) -> _Conv:
    """Converter for an ``"integer"``, ``"duration"`` or ``"size"`` in ``lo..hi`` (``> lo`` if ``gt``)."""
    parse: Callable[[Any], float] = {"duration": parse_duration, "size": parse_size}.get(kind, int)
    bounds = bounds or (f"> {lo:g}" if gt else f"≥ {lo:g}" if hi is None else f"in {lo:g}..{hi:g}")
    hint = {"integer": "", "duration": f": {_DURATION_HINT}", "size": f": {_SIZE_HINT}"}[kind]
    expected = f"{'an' if kind == 'integer' else 'a'} {kind} {bounds}{hint}"

    def conv(value: Any, text: bool) -> Any:
        try:
            _need(kind != "integer" or type(value) is int or (text and isinstance(value, str)), expected)
            number = parse(value)
        except (ConfigError, ValueError):
            raise _Bad(expected) from None
        _need((number > lo if gt else number >= lo) and (hi is None or number <= hi), expected)
        return number

    return conv


_positive_duration = _num("duration", 0, gt=True)


def _bool(value: Any, text: bool) -> Any:
    if text and isinstance(value, str):
        value = _BOOL_WORDS.get(value.strip().lower(), value)
    _need(isinstance(value, bool), "true or false" + (" (or 1/0, yes/no, on/off)" if text else ""))
    return value


def _str(
    *choices: str, pattern: str = r".*\S.*", expected: str = "a non-blank string", lower: bool = False
) -> _Conv:
    expected = "one of " + ", ".join(json.dumps(c) for c in choices) if choices else expected

    def conv(value: Any, text: bool) -> Any:
        _need(isinstance(value, str), expected)
        value = value.lower() if lower else value
        _need(value in choices if choices else re.fullmatch(pattern, value, re.DOTALL), expected)
        return value

    return conv


def _strs(pattern: str, expected: str) -> _Conv:
    def conv(value: Any, text: bool) -> Any:
        if text and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        _need(isinstance(value, list | tuple), expected)
        _need(all(isinstance(v, str) and re.fullmatch(pattern, v) for v in value), expected)
        return tuple(value)

    return conv


def _ttl_table(value: Any, text: bool) -> Any:
    expected = 'a table of topic prefix = duration > 0, like {audit = "90d"} (env: audit=90d,debug=1d)'
    if text and isinstance(value, str):
        pairs = [part.partition("=") for part in value.split(",") if part.strip()]
        _need(all(sep for _, sep, _ in pairs), expected)
        value = {prefix.strip(): ttl.strip() for prefix, _, ttl in pairs}
    _need(isinstance(value, Mapping), expected)
    _need(all(isinstance(p, str) and re.fullmatch(r"[^.\s]+(\.[^.\s]+)*", p) for p in value), expected)
    try:
        return MappingProxyType({prefix: _positive_duration(ttl, text) for prefix, ttl in value.items()})
    except _Bad:
        raise _Bad(expected) from None


def _curve(value: Any, text: bool) -> Any:
    _need(not _bool(value, text), "false: security.curve is not implemented yet; remove it or set it false")
    return False


def _opt(default: Any, conv: _Conv) -> Any:
    return field(default=default, metadata={"conv": conv})


def _convert(conv: _Conv, value: Any, origin: str, key: str, text: bool) -> Any:
    try:
        return conv(value, text)
    except _Bad as exc:
        shown = json.dumps(value, ensure_ascii=False, default=repr)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ConfigError(f"{origin}{': ' if origin else ''}{key} = {shown}: expected {exc}") from None


class _Section:
    """Base of the settings dataclasses: every field is validated and normalised on construction."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    _key: ClassVar[str] = ""  # dotted section name, for messages
    _ordered: ClassVar[_Order] = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if (conv := f.metadata.get("conv")) is not None:
                value = getattr(self, f.name)
                new = _convert(conv, value, "", f"{self._key}.{f.name}", text=False)
                if new is not value:
                    object.__setattr__(self, f.name, new)
        for low, high, advice in self._ordered:
            a, b, key = getattr(self, low), getattr(self, high), self._key
            if b < a or (b == a and advice):
                rule = "greater than" if advice else "≥"
                raise ConfigError(f"{key}.{high} = {b:g} must be {rule} {key}.{low} = {a:g}{advice}")

    def __reduce__(self) -> tuple[Any, ...]:  # by_prefix's mapping proxy cannot be pickled as is
        return (_build, (type(self), self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        """Return plain nested dicts, lists and scalars (durations in seconds) that load_config accepts."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _Section):
                value = value.to_dict()
            elif isinstance(value, Mapping | tuple):
                value = dict(value) if isinstance(value, Mapping) else list(value)
            out[f.name] = value
        return out


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
        linger: seconds unsent messages are kept when a socket closes.
        max_message_size: largest event frame in bytes; larger frames are dropped.
        slow_subscriber: past the HWM, ``"drop"`` events for that subscriber or ``"block"`` the publisher.
        reconnect_interval: first reconnect delay in seconds, backing off to ``reconnect_interval_max``.
        ipc: also bind ``ipc://`` endpoints so same-host peers skip TCP.
        repair_buffer: recent events kept in memory per published topic to repair subscribers' gaps
            (the journal serves older ones when persistence is enabled); 0 = none.
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
    """

    _key: ClassVar[str] = "transport"
    _ordered: ClassVar[_Order] = (("reconnect_interval", "reconnect_interval_max", ""),)
    kind: str = _opt("zmq", _str("zmq", "memory"))
    host: str = _opt("127.0.0.1", _str())
    pub_port: int = _opt(0, _num("integer", 0, 65535))
    router_port: int = _opt(0, _num("integer", 0, 65535))
    send_hwm: int = _opt(100_000, _num("integer", 0))
    recv_hwm: int = _opt(100_000, _num("integer", 0))
    linger: float = _opt(1.0, _num("duration", 0))
    max_message_size: int = _opt(_MIB, _num("size", _KIB, 256 * _MIB, "in 1KiB..256MiB"))
    slow_subscriber: str = _opt("drop", _str("drop", "block"))
    reconnect_interval: float = _opt(0.1, _positive_duration)
    reconnect_interval_max: float = _opt(2.0, _positive_duration)
    ipc: bool = _opt(False, _bool)
    repair_buffer: int = _opt(4096, _num("integer", 0))
    forwarder: str = _opt("off", _str("off", "auto"))
    forwarder_capture: str = _opt("", _str(pattern=".*", expected="an endpoint such as tcp://127.0.0.1:7100"))
    block_timeout: float = _opt(30.0, _positive_duration)
    batch_max_events: int = _opt(64, _num("integer", 1))
    batch_max_bytes: int = _opt(64 * _KIB, _num("size", 1))
    heads_memory: float = _opt(30.0, _num("duration", 0))
    heads_max_topics: int = _opt(256, _num("integer", 0))
    safety_poll: float = _opt(0.25, _positive_duration)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryConfig(_Section):
    """``[discovery]``: how nodes find each other; LAN discovery is opt-in.

    Attributes:
        scope: ``"local"`` (this host), ``"lan"`` (mDNS on ``interfaces``: names or IPv4s; empty = all)
            or ``"static"`` (connect to ``peers``: endpoints like ``"tcp://10.0.0.5:7001"`` or ``"ipc://..."``).
        peer_timeout: seconds of silence before a peer is dropped; must exceed ``heartbeat_interval``.
        greet_interval: seconds between looks at which discovered endpoints are due a HELLO.
        hello_timeout: seconds an unanswered HELLO's connection is kept before it is closed.
        regreet_base: seconds before a discovered node that is not a peer is greeted again, doubling
            per unanswered greeting up to ``regreet_cap``.
    """

    _key: ClassVar[str] = "discovery"
    _ordered: ClassVar[_Order] = (
        ("heartbeat_interval", "peer_timeout", "; allow several missed heartbeats (defaults: 10s and 1s)"),
        ("regreet_base", "regreet_cap", ""),
    )
    scope: str = _opt("local", _str("local", "lan", "static"))
    interfaces: tuple[str, ...] = _opt((), _strs(r"\S+", "a list of interface names or IPv4 addresses"))
    peers: tuple[str, ...] = _opt((), _strs(_ENDPOINT, 'a list of endpoints like "tcp://10.0.0.5:7001"'))
    heartbeat_interval: float = _opt(1.0, _positive_duration)
    peer_timeout: float = _opt(10.0, _positive_duration)
    greet_interval: float = _opt(1.0, _positive_duration)
    hello_timeout: float = _opt(2.5, _positive_duration)
    regreet_base: float = _opt(3.0, _positive_duration)
    regreet_cap: float = _opt(30.0, _positive_duration)


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


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig(_Section):
    """``[queue]``: per-subscription queues (``max_size`` events) and handler retries.

    Attributes:
        overflow_policy: ``"drop_oldest"``, ``"drop_newest"`` or ``"block"`` when the queue is full.
        priority_levels: always 10 (priorities 1-10); other values are rejected.
        retry_base_delay: seconds before the first retry, doubling up to ``retry_max_delay``.
        max_attempts: handler attempts per event, the first included.
    """

    _key: ClassVar[str] = "queue"
    _ordered: ClassVar[_Order] = (("retry_base_delay", "retry_max_delay", ""),)
    max_size: int = _opt(10_000, _num("integer", 1))
    overflow_policy: str = _opt("drop_oldest", _str("drop_oldest", "drop_newest", "block"))
    priority_levels: int = _opt(10, _num("integer", 10, 10, "equal to 10; only priorities 1-10 exist"))
    retry_base_delay: float = _opt(0.1, _num("duration", 0))
    retry_max_delay: float = _opt(10.0, _num("duration", 0))
    max_attempts: int = _opt(3, _num("integer", 1))


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
    (0 = ephemeral); /health turns 503 when a subscription backlog is ``max_queue_percent`` % full."""

    _key: ClassVar[str] = "monitoring.http"
    enabled: bool = _opt(False, _bool)
    host: str = _opt("127.0.0.1", _str())
    port: int = _opt(0, _num("integer", 0, 65535))
    max_queue_percent: int = _opt(90, _num("integer", 1, 100))


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig(_Section):
    """``[monitoring.metrics]``: if ``enabled``, collect Prometheus metrics (monitoring.http serves them)."""

    _key: ClassVar[str] = "monitoring.metrics"
    enabled: bool = _opt(True, _bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitoringConfig(_Section):
    """``[monitoring]``: holds the tables ``[monitoring.http]`` and ``[monitoring.metrics]``."""

    http: HttpConfig = field(default_factory=HttpConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)


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
    """``[security]``: ``curve`` (CurveZMQ) is not implemented yet, so ``true`` is rejected, not ignored."""

    _key: ClassVar[str] = "security"
    curve: bool = _opt(False, _curve)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config(_Section):
    """All settings, one frozen section per TOML table; ``Config()`` is the defaults. See load_config."""

    mesh: MeshConfig = field(default_factory=MeshConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    persistence: PersistenceConfig = field(default_factory=PersistenceConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    repair: RepairConfig = field(default_factory=RepairConfig)
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)


def _section_of(f: dataclasses.Field[Any]) -> type[_Section] | None:
    factory = f.default_factory
    return factory if isinstance(factory, type) and issubclass(factory, _Section) else None


def _layer(raw: Mapping[Any, Any], cls: type[_Section], prefix: str, origin: str, text: bool) -> Any:
    """Check one source's raw mapping against ``cls``; return the converted values as nested dicts."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        dotted, f = f"{prefix}{key}", fields.get(key)
        if f is None:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            what = "key" if prefix else "section"
            raise ConfigError(f"{origin}: unknown {what} {dotted}{hint} (valid: {', '.join(fields)})")
        if (section := _section_of(f)) is None:
            out[key] = _convert(f.metadata["conv"], value, origin, dotted, text)
        elif isinstance(value, Mapping):
            out[key] = _layer(value, section, dotted + ".", origin, text)
        else:
            raise ConfigError(f"{origin}: {dotted} = {value!r}: expected a table of {dotted}.* settings")
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        merged[key] = _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return merged


def _read_toml(path: str | os.PathLike[str], via: str) -> dict[str, Any]:
    name = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:  # FileNotFoundError, IsADirectoryError, PermissionError
        raise ConfigError(f"cannot read config file {name}{via}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None


def _build(cls: type[_Section], data: Mapping[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if (section := _section_of(f)) is not None:
            kwargs[f.name] = _build(section, data.get(f.name, {}))
        elif f.name in data:
            kwargs[f.name] = data[f.name]
    return cls(**kwargs)


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | Config | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build a :class:`Config`: defaults < ``source`` < ``ZBUS_*`` environment variables < ``overrides``.

    Layers merge key by key, so each changes only what it names (a ``by_prefix`` table is replaced whole).

    Args:
        source: a TOML file path; a nested mapping such as ``{"queue": {"max_size": 500}}``; a ``Config``,
            returned with only ``overrides`` applied (the environment is ignored); or ``None`` for the file
            named by ``ZBUS_CONFIG``, if set.
        env: the environment; ``None`` means ``os.environ``. ``ZBUS_<SECTION>__<KEY>`` sets a key (any case):
            ``ZBUS_QUEUE__MAX_SIZE=500``, ``ZBUS_MONITORING__HTTP__PORT=8081``, ``ZBUS_DISCOVERY__PEERS=
            tcp://a:1,tcp://b:2``, ``ZBUS_PERSISTENCE__RETENTION__BY_PREFIX=audit=90d,debug=1d``; booleans
            take true/false, 1/0, yes/no, on/off. ``ZBUS_*`` names without ``__``, or whose first part
            is not a section name, are not settings and are ignored.
        overrides: a nested mapping applied last, e.g. ``{"persistence": {"enabled": True}}``.

    Raises:
        ConfigError: the file is missing or not TOML; a section or key is unknown (the closest is
            suggested); or a value has the wrong type or range. The message names the source (the file path,
            ``environment variable ZBUS_...`` or ``keyword argument``), the dotted key, value and expectation.
    """
    environ = os.environ if env is None else env
    layers: list[tuple[str, dict[str, Any]]] = []
    if isinstance(source, Config):
        if not overrides:
            return source
        layers.append(("Config", source.to_dict()))
    else:
        via = " (from ZBUS_CONFIG)" if source is None and environ.get("ZBUS_CONFIG") else ""
        source = environ["ZBUS_CONFIG"] if via else source
        if isinstance(source, Mapping):
            layers.append(("config mapping", _layer(source, Config, "", "config mapping", text=False)))
        elif source is not None:
            name = os.fspath(source)
            layers.append((name, _layer(_read_toml(source, via), Config, "", name, text=False)))
        sections = {f.name for f in dataclasses.fields(Config)}
        for var, value in sorted(environ.items()):
            # ZBUS_<SECTION>__<KEY> with a known section is a setting (and a typo in KEY is an error);
            # other ZBUS_X__Y names belong to the application (e.g. ZBUS_ADMIN__TOKEN) and are left alone
            if var.upper().startswith("ZBUS_") and "__" in var and var[5:].split("__")[0].lower() in sections:
                nested: Any = value
                for part in reversed(var[5:].lower().split("__")):
                    nested = {part: nested}
                origin = f"environment variable {var}"
                layers.append(("environment", _layer(nested, Config, "", origin, text=True)))
    if overrides:
        layers.append(("keyword argument", _layer(overrides, Config, "", "keyword argument", text=False)))
    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged = _merge(merged, layer)
    try:
        config: Config = _build(Config, merged)
    except ConfigError as exc:  # a cross-field rule: name every layer that contributed
        raise ConfigError(f"{' + '.join(dict.fromkeys(o for o, _ in layers))}: {exc}") from None
    return config
