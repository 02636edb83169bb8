"""The Event: what zbus carries, with every field of the Event Router V2 model.

An ``Event`` is immutable from the outside: every field is a read-only property, and
``event.evolve(**changes)`` returns a modified copy. Timestamps are kept as float UNIX seconds
internally (cheap to take and to encode) and shown to users as timezone-aware UTC ``datetime``.

The payload may be any value msgpack can encode (usually a dict). An event that came off the wire
keeps its payload as msgpack bytes and decodes them on first access of ``event.payload``, so a
subscriber that routes or filters on header fields only never pays for the payload.

Event ids
---------
``str(uuid4())`` costs about 2.5 µs, more than encoding a whole event. zbus ids are
``<16 hex digits of os.urandom(8)>-<hex counter>``: the random prefix is drawn once per process
(and again in a forked child), the counter never repeats within a process. Two processes collide
only if their 64-bit prefixes are equal: for a mesh with N processes ever started that is a
probability of about N²/2⁶⁵ (one in ~3.7e16 for 1,000 processes). The id is also readable:
every id of one process shares its prefix.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Final, Protocol

import msgpack

from ..errors import EventValidationError, UsageError, WireError
from .topics import validate_topic

__all__ = ["Event", "IdGenerator", "Priority", "Receipt", "batch_of", "new_event_id"]


class Priority(IntEnum):
    """Named priorities. Any int 1..10 is valid; higher is more urgent and dispatched first."""

    LOWEST = 1
    LOW = 3
    NORMAL = 5
    HIGH = 8
    CRITICAL = 10


MIN_PRIORITY: Final = 1
MAX_PRIORITY: Final = 10
DEFAULT_PRIORITY: Final = 5
DEFAULT_MAX_ATTEMPTS: Final = 3


class Receipt(Protocol):
    """How a group delivery answers its publisher (``zbus.inbound.groups``); each returns False once
    the delivery was already answered."""

    def ack(self) -> bool:
        """Done: do not deliver it again."""

    def nack(self, delay: float) -> bool:
        """Deliver it again after ``delay`` seconds."""

    def in_progress(self) -> bool:
        """Still working: restart the ack timer."""


class IdGenerator:
    """Cheap unique ids: a random 64-bit per-process prefix plus a counter (see module docstring)."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = ""
        self._counter = itertools.count()
        self.reseed()

    def reseed(self) -> None:
        """Draw a new random prefix; called automatically in a forked child."""
        self._prefix = os.urandom(8).hex() + "-"
        self._counter = itertools.count(1)

    @property
    def prefix(self) -> str:
        """The random prefix every id of this generator starts with."""
        return self._prefix

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"


_unpackb = msgpack.unpackb
_default_ids = IdGenerator()
os.register_at_fork(after_in_child=_default_ids.reseed)

new_event_id = _default_ids
"""Return a fresh event id (``new_event_id()``); about 0.2 µs."""

_UNSET: Any = object()
_type = type  # the constructor's parameter named ``type`` shadows the builtin


def decode_payload(frame: bytes) -> Any:
    """Decode a payload frame (msgpack); ``zbus.codec.wire`` re-exports it.

    Raises:
        WireError: the bytes are not one valid msgpack value.
    """
    try:
        return _unpackb(frame, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types; all mean "bad bytes"
        raise WireError(f"payload is not valid msgpack ({type(exc).__name__}: {exc})") from None


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _to_ts(value: datetime | float | int, field: str) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise EventValidationError(
                f"{field}={value!r} is a naive datetime; pass a timezone-aware one, "
                "e.g. datetime.now(timezone.utc)"
            )
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EventValidationError(f"{field}={value!r}: expected an aware datetime or UNIX seconds")
    return float(value)


def _check_priority(priority: object) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise EventValidationError(
            f"priority={priority!r}: expected an int from 1 (lowest) to 10 (most urgent), e.g. Priority.HIGH"
        )
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise EventValidationError(
            f"priority={priority} is out of range; use 1 (lowest) to 10 (most urgent), default 5"
        )
    return int(priority)


def _check_opt_str(value: object, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise EventValidationError(f"{field}={value!r}: expected a str or None")


def _check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    if not headers:
        return {}
    if not isinstance(headers, Mapping):
        raise EventValidationError(f"headers={headers!r}: expected a mapping of str to str")
    out: dict[str, str] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise EventValidationError(
                f"headers[{key!r}]={value!r}: header names and values must be str; "
                f"convert it, e.g. headers={{{key!r}: str(value)}}"
            )
        out[key] = value
    return out


def _check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tags, str):
        raise EventValidationError(f"tags={tags!r}: expected a list of str, e.g. tags=[{tags!r}]")
    out = tuple(tags)
    for tag in out:
        if not isinstance(tag, str):
            raise EventValidationError(f"tags contains {tag!r}: every tag must be a str")
    return out


class Event:
    """One event: a typed, prioritised, traceable message with a payload.

    Create events through ``Node.publish`` in normal use; construct one directly to pass to
    ``publish_batch`` or in tests. Fields are read-only; use ``evolve`` to change one.

    Args:
        type: the event type, a dot-separated topic such as ``"order.placed"``.
        payload: any msgpack-encodable value (usually a dict). Default ``{}``.
        id: unique id; generated (cheaply) when omitted.
        source: who published it; the node name when published through a node.
        target: a node name or id for a directed event; ``None`` broadcasts.
        topic: the routing topic when it should differ from ``type``; defaults to ``type``.
        timestamp: creation time, an aware ``datetime`` or UNIX seconds; default now.
        correlation_id: groups events of one conversation (request → reply share it).
        causation_id: the id of the event that caused this one.
        priority: 1 (lowest) to 10 (most urgent), default 5; higher is dispatched first.
        ttl: seconds the event stays deliverable; sets ``expires_at`` when that is omitted.
        expires_at: absolute expiry (aware ``datetime`` or UNIX seconds); expired events are
            counted and never delivered.
        attempts: handler attempts so far (maintained by the dispatcher).
        max_attempts: attempts before the event goes to the dead-letter store, default 3.
        last_error: the last handler error, ``"ExcType: message"``.
        created_by: the user or service on whose behalf it was created (audit).
        tags: free-form labels.
        headers: str → str metadata (trace context lives here as ``traceparent``).

    Raises:
        EventValidationError: a field is out of range or of the wrong type (the message says which).
        InvalidTopicError: ``type`` or ``topic`` breaks the topic grammar.
    """

    __slots__ = (
        "_attempts",
        "_causation_id",
        "_correlation_id",
        "_created_by",
        "_epoch",
        "_expires_at",
        "_headers",
        "_id",
        "_last_error",
        "_max_attempts",
        "_node_id",
        "_payload",
        "_payload_raw",
        "_priority",
        "_receipt",
        "_seq",
        "_source",
        "_tags",
        "_target",
        "_topic",
        "_ts",
        "_ttl",
        "_type",
    )
    _receipt: Receipt  # set only on a queue-group delivery (read it with getattr)

    def __init__(
        self,
        type: str,
        payload: Any = _UNSET,
        *,
        id: str | None = None,
        source: str = "",
        target: str | None = None,
        topic: str | None = None,
        timestamp: datetime | float | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        priority: int = DEFAULT_PRIORITY,
        ttl: float | None = None,
        expires_at: datetime | float | None = None,
        attempts: int = 0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        last_error: str | None = None,
        created_by: str | None = None,
        tags: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._type = validate_topic(type)
        self._topic = self._type if topic is None or topic == type else validate_topic(topic)
        self._payload = {} if payload is _UNSET or payload is None else payload
        self._payload_raw: bytes | None = None
        self._id = id if id is not None else _default_ids()
        if not self._id or not isinstance(self._id, str):
            raise EventValidationError(f"id={id!r}: expected a non-empty str")
        if _type(source) is not str and not isinstance(source, str):
            raise EventValidationError(f"source={source!r}: expected a str")
        self._source = source
        self._ts = time.time() if timestamp is None else _to_ts(timestamp, "timestamp")
        # the common case (no optional field set, plain int priority) costs one test per group
        if target is None and correlation_id is None and causation_id is None:
            self._target = self._correlation_id = self._causation_id = None
        else:
            self._target = _check_opt_str(target, "target")
            self._correlation_id = _check_opt_str(correlation_id, "correlation_id")
            self._causation_id = _check_opt_str(causation_id, "causation_id")
        if _type(priority) is int and MIN_PRIORITY <= priority <= MAX_PRIORITY:
            self._priority = priority
        else:
            self._priority = _check_priority(priority)
        if ttl is None and expires_at is None:
            self._ttl: float | None = None
            self._expires_at: float | None = None
        else:
            self._set_expiry(ttl, expires_at)
        if _type(attempts) is not int and (isinstance(attempts, bool) or not isinstance(attempts, int)):
            raise EventValidationError(f"attempts={attempts!r}: expected an int ≥ 0")
        if attempts < 0:
            raise EventValidationError(f"attempts={attempts!r}: expected an int ≥ 0")
        if _type(max_attempts) is not int and (
            isinstance(max_attempts, bool) or not isinstance(max_attempts, int)
        ):
            raise EventValidationError(f"max_attempts={max_attempts!r}: expected an int ≥ 1")
        if max_attempts < 1:
            raise EventValidationError(f"max_attempts={max_attempts!r}: expected an int ≥ 1")
        self._attempts = attempts
        self._max_attempts = max_attempts
        if last_error is None and created_by is None:
            self._last_error = self._created_by = None
        else:
            self._last_error = _check_opt_str(last_error, "last_error")
            self._created_by = _check_opt_str(created_by, "created_by")
        self._tags = _check_tags(tags) if tags else ()
        self._headers = _check_headers(headers) if headers else {}
        self._node_id = ""
        self._seq = 0
        self._epoch = 0

    def _set_expiry(self, ttl: float | None, expires_at: datetime | float | None) -> None:
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
                raise EventValidationError(f"ttl={ttl!r}: expected a positive number of seconds or None")
            ttl = float(ttl)
        self._ttl = ttl
        if expires_at is not None:
            self._expires_at = _to_ts(expires_at, "expires_at")
        else:
            self._expires_at = None if ttl is None else self._ts + ttl

    # -- read-only fields -------------------------------------------------------------------
    @property
    def id(self) -> str:
        """Unique event id."""
        return self._id

    @property
    def type(self) -> str:
        """Event type, e.g. ``"order.placed"``."""
        return self._type

    @property
    def topic(self) -> str:
        """Routing topic that subscription patterns match; equals ``type`` unless set."""
        return self._topic

    @property
    def payload(self) -> Any:
        """The payload, decoded from msgpack on first access for events that came off the wire.

        Raises:
            WireError: the publisher sent bytes that are not valid msgpack.
        """
        if self._payload is _UNSET:
            self._payload = decode_payload(self._payload_raw or b"")
        return self._payload

    @property
    def source(self) -> str:
        """Who published the event (the publishing node's name unless set explicitly)."""
        return self._source

    @property
    def target(self) -> str | None:
        """Node name or id for directed events; ``None`` when broadcast."""
        return self._target

    @property
    def timestamp(self) -> datetime:
        """Creation time, timezone-aware UTC."""
        return datetime.fromtimestamp(self._ts, UTC)

    @property
    def ts(self) -> float:
        """Creation time as UNIX seconds (cheaper than ``timestamp``)."""
        return self._ts

    @property
    def correlation_id(self) -> str | None:
        """Conversation id shared by related events (request and reply)."""
        return self._correlation_id

    @property
    def causation_id(self) -> str | None:
        """Id of the event that caused this one."""
        return self._causation_id

    @property
    def priority(self) -> int:
        """1 (lowest) to 10 (most urgent)."""
        return self._priority

    @property
    def ttl(self) -> float | None:
        """Time to live in seconds, if one was given."""
        return self._ttl

    @property
    def expires_at(self) -> datetime | None:
        """Absolute expiry (aware UTC) or ``None``."""
        return _utc(self._expires_at)

    @property
    def expires_ts(self) -> float | None:
        """Absolute expiry as UNIX seconds or ``None``."""
        return self._expires_at

    @property
    def attempts(self) -> int:
        """Handler attempts made so far."""
        return self._attempts

    @property
    def max_attempts(self) -> int:
        """Attempts before the event goes to the dead-letter store."""
        return self._max_attempts

    @property
    def last_error(self) -> str | None:
        """The last handler error as ``"ExcType: message"``."""
        return self._last_error

    @property
    def created_by(self) -> str | None:
        """The user or service on whose behalf the event was created."""
        return self._created_by

    @property
    def tags(self) -> tuple[str, ...]:
        """Free-form labels."""
        return self._tags

    @property
    def headers(self) -> Mapping[str, str]:
        """str → str metadata, including ``traceparent`` when tracing."""
        return self._headers

    @property
    def node_id(self) -> str:
        """Id of the node that published the event ("" before it is published)."""
        return self._node_id

    @property
    def seq(self) -> int:
        """Sequence number in the publisher's stream for this topic (0 before publishing)."""
        return self._seq

    @property
    def epoch(self) -> int:
        """Incarnation of the publishing node; changes when that node restarts."""
        return self._epoch

    # -- queue groups -------------------------------------------------------------------------
    def ack(self) -> bool:
        """Acknowledge this event now, before the handler returns (a group delivery only: the
        publisher will not deliver it again). Returns False for an event that came through no group
        (nothing to acknowledge), or one already answered."""
        receipt: Receipt | None = getattr(self, "_receipt", None)
        return receipt is not None and receipt.ack()

    def nack(self, delay: float = 0.0) -> bool:
        """Give this group delivery back: the publisher delivers it again (perhaps to another member)
        after ``delay`` seconds. Returns False for an event that came through no group, or one
        already answered."""
        receipt: Receipt | None = getattr(self, "_receipt", None)
        return receipt is not None and receipt.nack(delay)

    def in_progress(self) -> bool:
        """Still working on this group delivery: its publisher restarts the ``groups.ack_wait``
        clock (call it periodically during long work). Returns False when there is nothing to extend."""
        receipt: Receipt | None = getattr(self, "_receipt", None)
        return receipt is not None and receipt.in_progress()

    @property
    def key(self) -> str | None:
        """The ordering key given to ``publish(..., key=)`` (the ``zbus-key`` header), else None."""
        return self._headers.get("zbus-key")

    # -- behaviour ----------------------------------------------------------------------------
    def is_expired(self, now: float | None = None) -> bool:
        """True when ``expires_at`` has passed (``now`` in UNIX seconds, default the clock)."""
        exp = self._expires_at
        return exp is not None and (time.time() if now is None else now) >= exp

    def evolve(self, **changes: Any) -> Event:
        """Return a copy with some fields changed, validated like the constructor.

        Example: ``event.evolve(priority=9, tags=["urgent"])``.
        """
        fields = self.to_dict()
        fields.pop("node_id"), fields.pop("seq"), fields.pop("epoch")
        fields["timestamp"] = self._ts
        fields["expires_at"] = self._expires_at
        fields.update(changes)
        if "ttl" in changes and "expires_at" not in changes:
            fields["expires_at"] = None
        return Event(**fields)

    def _clone(self) -> Event:
        """A shallow copy sharing the raw payload, so another subscriber decodes its own payload."""
        clone = Event.__new__(Event)
        for name in _FIELDS:
            setattr(clone, name, getattr(self, name))
        receipt = getattr(self, "_receipt", None)
        if receipt is not None:  # a retry of a group delivery still answers for it
            clone._receipt = receipt
        if self._payload_raw is not None:
            clone._payload = _UNSET
        clone._headers = dict(self._headers)
        return clone

    def _derive(
        self, *, topic: str | None = None, attempts: int | None = None, last_error: str = ""
    ) -> Event:
        """A copy for zbus's own use, built before anyone else sees it (events are never mutated once
        shared): a retry's ``attempts``/``last_error``, or a system topic (``$zbus.``, which the public
        constructor refuses)."""
        clone = self._clone()
        if topic is not None:
            clone._topic = topic
        if attempts is not None:
            clone._attempts = attempts
            clone._last_error = last_error or None
        return clone

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (timestamps as aware datetimes); used by the CLI's JSON output."""
        return {
            "id": self._id,
            "type": self._type,
            "payload": self.payload,
            "source": self._source,
            "target": self._target,
            "topic": self._topic,
            "timestamp": self.timestamp,
            "correlation_id": self._correlation_id,
            "causation_id": self._causation_id,
            "priority": self._priority,
            "ttl": self._ttl,
            "expires_at": _utc(self._expires_at),
            "attempts": self._attempts,
            "max_attempts": self._max_attempts,
            "last_error": self._last_error,
            "created_by": self._created_by,
            "tags": list(self._tags),
            "headers": dict(self._headers),
            "node_id": self._node_id,
            "seq": self._seq,
            "epoch": self._epoch,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self._id)

    def __repr__(self) -> str:
        extra = f" seq={self._seq}" if self._seq else ""
        return (
            f"<zbus.Event {self._type!r} id={self._id!r} source={self._source!r} "
            f"priority={self._priority}{extra}>"
        )


#: the slots that are always set (``_receipt`` is set only on group deliveries)
_FIELDS: Final = tuple(name for name in Event.__slots__ if name != "_receipt")


def batch_of(items: Iterable[Event | tuple[str, Any]], *, source: str, max_attempts: int) -> list[Event]:
    """The events of a ``publish_batch`` call: an ``Event`` is copied (given ``source`` when it has
    none), a ``(type, payload)`` pair becomes one from ``source`` with ``max_attempts``.

    Raises:
        UsageError: an item is neither (so nothing of the batch is published).
    """
    batch: list[Event] = []
    for i, item in enumerate(items):
        if isinstance(item, Event):
            batch.append(item._clone() if item.source else item.evolve(source=source))
        elif isinstance(item, tuple) and len(item) == 2:
            batch.append(Event(item[0], item[1], source=source, max_attempts=max_attempts))
        else:
            raise UsageError(f"publish_batch item {i} is {item!r:.60}; pass Event objects or (type, payload)")
    return batch
