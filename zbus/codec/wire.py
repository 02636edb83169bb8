"""Wire codec: Event ↔ ZeroMQ frames (protocol version 1). Pure functions, no I/O.

An event is three frames (docs/PROTOCOL.md has the full table)::

    frame 0  topic    UTF-8 routing topic; ZeroMQ SUB prefix filters match on it
    frame 1  header   msgpack array, positional (faster than a map): see HEADER_FIELDS
    frame 2  payload  msgpack of the payload, decoded only when ``event.payload`` is read

Everything arriving from the network is untrusted: ``decode`` checks the frame count, each
frame's size, the header's version, length and every field's type, and raises only
``WireError`` (never IndexError, TypeError or msgpack's own exceptions). Extra trailing header
fields are ignored so a newer minor revision can add fields without breaking old readers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import msgpack

from ..errors import EventValidationError, WireError, ZbusError
from ..model.event import _UNSET, Event, decode_payload
from ..model.topics import validate_topic

__all__ = [
    "HEADER_FIELDS",
    "MAX_HEADER_BYTES",
    "MAX_TOPIC_BYTES",
    "PROTOCOL_VERSION",
    "batch_parts",
    "check_size",
    "decode",
    "decode_many",
    "decode_parts",
    "decode_payload",
    "encode",
    "encode_batch",
    "encode_payload",
    "encode_run",
    "split_batch",
]

PROTOCOL_VERSION: Final = 1
MAX_TOPIC_BYTES: Final = 255
MAX_HEADER_BYTES: Final = 64 * 1024
DEFAULT_MAX_MESSAGE: Final = 1024 * 1024

#: Header array layout, index → (name, msgpack type). "?" marks a field that may be nil.
HEADER_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("version", "int"),
    ("id", "str"),
    ("type", "str?"),  # nil when equal to the topic frame
    ("node_id", "str"),
    ("source", "str"),
    ("seq", "int"),
    ("epoch", "int"),
    ("ts", "float"),
    ("priority", "int"),
    ("ttl", "float?"),
    ("expires_at", "float?"),
    ("target", "str?"),
    ("correlation_id", "str?"),
    ("causation_id", "str?"),
    ("attempts", "int"),
    ("max_attempts", "int"),
    ("last_error", "str?"),
    ("created_by", "str?"),
    ("tags", "array of str"),
    ("headers", "map str→str"),
)
_N_FIELDS: Final = len(HEADER_FIELDS)


def encode_payload(payload: Any) -> bytes:
    """Encode a payload with msgpack.

    Raises:
        EventValidationError: the payload holds something msgpack cannot encode (the message
            names the type; convert it to str, int, float, bool, None, bytes, list or dict).
    """
    try:
        return msgpack.packb(payload, use_bin_type=True)  # type: ignore[no-any-return]
    except (TypeError, ValueError, OverflowError) as exc:
        raise EventValidationError(
            f"payload cannot be encoded with msgpack ({exc}); use str, int, float, bool, None, "
            "bytes, list and dict (convert datetimes to ISO strings, dataclasses with asdict())"
        ) from exc


def encode(event: Event, *, node_id: str = "", seq: int = 0, epoch: int = 0) -> list[bytes]:
    """Encode ``event`` as the three wire frames, stamping the publisher's stream position.

    Args:
        event: the event to send.
        node_id: the publishing node's id.
        seq: the event's sequence number in the (node, topic) stream.
        epoch: the publishing node's incarnation.

    Returns:
        ``[topic, header, payload]`` frames.

    Raises:
        EventValidationError: the payload cannot be encoded.
    """
    raw = event._payload_raw
    payload = raw if raw is not None and event._payload is _UNSET else encode_payload(event._payload)
    topic = event._topic
    header = msgpack.packb(
        [
            PROTOCOL_VERSION,
            event._id,
            None if event._type == topic else event._type,
            node_id,
            event._source,
            seq,
            epoch,
            event._ts,
            event._priority,
            event._ttl,
            event._expires_at,
            event._target,
            event._correlation_id,
            event._causation_id,
            event._attempts,
            event._max_attempts,
            event._last_error,
            event._created_by,
            event._tags,
            event._headers,
        ],
        use_bin_type=True,
    )
    return [topic.encode(), header, payload]


def encode_run(
    events: list[Event], *, node_id: str, epoch: int, seqs: Mapping[str, int], max_message_size: int
) -> list[tuple[int, list[bytes]]]:
    """Encode and size-check events to be published one after another (``publish_batch``): each gets
    its topic's next sequence number after ``seqs`` and the ones before it in ``events`` (a directed
    event, which carries no stream position, a placeholder). Returns ``(seq, frames)`` per event.

    Raises:
        EventValidationError: an event cannot be encoded or is too large (before anything is sent).
    """
    taken: dict[str, int] = {}
    out: list[tuple[int, list[bytes]]] = []
    for event in events:
        topic = event._topic
        if event._target is not None:
            seq = 2**63
        else:
            seq = taken[topic] = taken.get(topic, seqs.get(topic, 0)) + 1
        frames = encode(event, node_id=node_id, seq=seq, epoch=epoch)
        check_size(frames, max_message_size)
        out.append((seq, frames))
    return out


def check_size(frames: list[bytes], max_message_size: int) -> None:
    """Refuse to send an event receivers would refuse (they drop the whole connection on it).

    Raises:
        EventValidationError: the encoded event is larger than ``max_message_size`` bytes.
    """
    size = len(frames[0]) + len(frames[1]) + len(frames[2])
    if size > max_message_size:
        raise EventValidationError(
            f"event of {size} bytes exceeds transport.max_message_size={max_message_size}; "
            "send large data out of band (a file path or URL in the payload) or raise the limit on every node"
        )


def _bad(field: str, value: object) -> WireError:
    return WireError(f"header field {field!r} has invalid value {value!r:.80}")


def _opt_str(value: object, field: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _bad(field, value)


def _opt_float(value: object, field: str) -> float | None:
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        f = float(value)
        if math.isfinite(f):
            return f
    raise _bad(field, value)


def _int(value: object, field: str, low: int, high: int) -> int:
    if type(value) is int and low <= value <= high:
        return value
    raise _bad(field, value)


_unpackb = msgpack.unpackb
_topics: dict[bytes, str] = {}  # topic frames already validated (bounded by MAX_KNOWN_TOPICS)
MAX_KNOWN_TOPICS: Final = 4096


def _remember_topic(topic_b: bytes) -> str:
    """Validate a topic frame; remember it so the next event of the topic skips the work."""
    topic = validate_topic(topic_b.decode(), allow_system=True)
    if len(_topics) < MAX_KNOWN_TOPICS:
        _topics[topic_b] = topic
    return topic


def decode(frames: list[bytes], *, max_message_size: int = DEFAULT_MAX_MESSAGE) -> Event:
    """Decode three wire frames into an Event whose payload is decoded lazily.

    Args:
        frames: ``[topic, header, payload]`` as received.
        max_message_size: the largest accepted total size in bytes.

    Raises:
        WireError: anything is wrong with the frames; the event must be dropped and counted.
    """
    if type(frames) is not list or len(frames) != 3:
        raise WireError(f"an event has 3 frames, got {len(frames) if isinstance(frames, list) else '?'}")
    topic_b, header_b, payload_b = frames
    if not (type(topic_b) is bytes and type(header_b) is bytes and type(payload_b) is bytes):
        raise WireError("event frames must be bytes")
    if len(topic_b) > MAX_TOPIC_BYTES or not topic_b:
        raise WireError(f"topic frame of {len(topic_b)} bytes (1..{MAX_TOPIC_BYTES} allowed)")
    if len(header_b) > MAX_HEADER_BYTES:
        raise WireError(f"header frame of {len(header_b)} bytes exceeds {MAX_HEADER_BYTES}")
    if len(topic_b) + len(header_b) + len(payload_b) > max_message_size:
        raise WireError(
            f"event of {len(topic_b) + len(header_b) + len(payload_b)} bytes exceeds "
            f"transport.max_message_size={max_message_size}"
        )
    try:
        topic = _topics.get(topic_b) or _remember_topic(topic_b)
        h = _unpackb(header_b, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:
        raise WireError(f"undecodable topic or header ({type(exc).__name__}: {exc})") from None
    if type(h) is not list or len(h) < _N_FIELDS:
        raise WireError(f"header must be an array of at least {_N_FIELDS} fields")
    if h[0] != PROTOCOL_VERSION:
        raise WireError(f"unsupported protocol version {h[0]!r:.20} (this node speaks {PROTOCOL_VERSION})")

    if _plain_header(h):
        return _event_from(topic, h, payload_b)
    return _checked_event(topic, h, payload_b)


_U64: Final = 2**64 - 1
_I31: Final = 2**31
_isfinite = math.isfinite


def _plain_header(h: list[Any]) -> bool:
    """One expression that accepts the common, well-formed header (the fast path of ``decode``).

    False does not mean invalid: ``_checked_event`` then checks field by field (an int ``ts``, a
    ``type`` that differs from the topic, ...) and names the field that is wrong.
    """
    s, f, i, n = str, float, int, None
    return (
        type(h[1]) is s and h[2] is n and type(h[3]) is s and type(h[4]) is s
        and type(h[5]) is i and 0 <= h[5] <= _U64 and type(h[6]) is i and 0 <= h[6] <= _U64
        and type(h[7]) is f and _isfinite(h[7]) and type(h[8]) is i and 1 <= h[8] <= 10
        and h[9] is n and h[10] is n
        and (h[11] is n or type(h[11]) is s) and (h[12] is n or type(h[12]) is s)
        and (h[13] is n or type(h[13]) is s)
        and type(h[14]) is i and 0 <= h[14] <= _I31 and type(h[15]) is i and 1 <= h[15] <= _I31
        and (h[16] is n or type(h[16]) is s) and (h[17] is n or type(h[17]) is s)
        and type(h[18]) is list and not h[18] and type(h[19]) is dict
        and (not h[19] or (len(h[19]) == 1 and type(h[19].get("traceparent")) is s))
    )  # fmt: skip


def _event_from(topic: str, h: list[Any], payload_b: bytes) -> Event:
    """Build the Event of a header ``_plain_header`` accepted (no tags, no TTL, at most a traceparent)."""
    ev = Event.__new__(Event)
    ev._topic = ev._type = topic
    ev._id, ev._node_id, ev._source = h[1], h[3], h[4]
    ev._seq, ev._epoch, ev._ts, ev._priority = h[5], h[6], h[7], h[8]
    ev._ttl = ev._expires_at = None
    ev._target, ev._correlation_id, ev._causation_id = h[11], h[12], h[13]
    ev._attempts, ev._max_attempts, ev._last_error, ev._created_by = h[14], h[15], h[16], h[17]
    ev._tags = ()
    ev._headers = h[19]  # a fresh dict from the decoder: {} or {"traceparent": str}
    ev._payload = _UNSET
    ev._payload_raw = payload_b
    return ev


def _checked_event(topic: str, h: list[Any], payload_b: bytes) -> Event:
    """Build an Event from any header, checking each field and naming the first bad one."""
    ev = Event.__new__(Event)
    ev._topic = topic
    for field, idx in (("id", 1), ("node_id", 3), ("source", 4)):
        if type(h[idx]) is not str:
            raise _bad(field, h[idx])
    ev._id = h[1]
    if h[2] is None:
        ev._type = topic
    else:
        try:
            ev._type = validate_topic(h[2]) if type(h[2]) is str else ""
        except ZbusError:
            ev._type = ""
        if not ev._type:
            raise _bad("type", h[2])
    ev._node_id = h[3]
    ev._source = h[4]
    ev._seq = _int(h[5], "seq", 0, 2**64 - 1)
    ev._epoch = _int(h[6], "epoch", 0, 2**64 - 1)
    ts = _opt_float(h[7], "ts")
    if ts is None:
        raise _bad("ts", None)
    ev._ts = ts
    ev._priority = _int(h[8], "priority", 1, 10)
    ev._ttl = _opt_float(h[9], "ttl")
    ev._expires_at = _opt_float(h[10], "expires_at")
    ev._target = _opt_str(h[11], "target")
    ev._correlation_id = _opt_str(h[12], "correlation_id")
    ev._causation_id = _opt_str(h[13], "causation_id")
    ev._attempts = _int(h[14], "attempts", 0, 2**31)
    ev._max_attempts = _int(h[15], "max_attempts", 1, 2**31)
    ev._last_error = _opt_str(h[16], "last_error")
    ev._created_by = _opt_str(h[17], "created_by")
    tags = h[18]
    if type(tags) is not list or any(type(t) is not str for t in tags):
        raise _bad("tags", tags)
    ev._tags = tuple(tags)
    headers = h[19]
    if type(headers) is not dict or any(type(k) is not str or type(v) is not str for k, v in headers.items()):
        raise _bad("headers", headers)
    ev._headers = headers
    ev._payload = _UNSET
    ev._payload_raw = payload_b
    return ev


def decode_many(messages: list[list[bytes]], *, max_message_size: int = DEFAULT_MAX_MESSAGE) -> list[Event]:
    """:func:`decode` for many events in one call (a replay's chunk), in order: each plain event of a
    topic already seen takes the fast path inline; anything else goes through :func:`decode` itself.

    Raises:
        WireError: as :func:`decode`, for the first bad event (none of the list is returned then).
    """
    out: list[Event] = []
    append, topics, unpackb, plain, event_from = out.append, _topics, _unpackb, _plain_header, _event_from
    for frames in messages:
        if type(frames) is list and len(frames) == 3:
            topic_b, header_b, payload_b = frames
            if type(topic_b) is bytes and type(header_b) is bytes and type(payload_b) is bytes:
                topic = topics.get(topic_b)
                if (
                    topic is not None
                    and len(header_b) <= MAX_HEADER_BYTES
                    and len(topic_b) + len(header_b) + len(payload_b) <= max_message_size
                ):
                    try:
                        h = unpackb(header_b, raw=False, strict_map_key=True, use_list=True)
                    except Exception:
                        h = None
                    if type(h) is list and len(h) >= _N_FIELDS and h[0] == PROTOCOL_VERSION and plain(h):
                        append(event_from(topic, h, payload_b))
                        continue
        append(decode(frames, max_message_size=max_message_size))  # the careful path names any problem
    return out


# -- batches ----------------------------------------------------------------------------------------
#: the most events one batch message may carry (a receiver refuses more)
MAX_BATCH_EVENTS: Final = 4096


def encode_batch(topic: bytes, parts: list[bytes]) -> list[bytes]:
    """Several events of one topic as one ZeroMQ message: ``[topic, body]``.

    ``parts`` alternates each event's header and payload frames (as :func:`encode` made them);
    ``body`` is a msgpack array of those byte strings. A subscriber's ZeroMQ prefix filter sees
    the topic frame as usual, so filtering stays exact: every event of a batch has that topic.
    """
    return [topic, msgpack.packb(parts, use_bin_type=True)]


def batch_parts(frames: list[bytes]) -> list[bytes]:
    """The body of a batch message ``[topic, body]``: each event's header and payload, alternating.

    Raises:
        WireError: the body is not a msgpack array of an even number (2 to 2 x MAX_BATCH_EVENTS)
            of byte strings.
    """
    try:
        parts = _unpackb(frames[1], raw=False, use_list=True, max_array_len=2 * MAX_BATCH_EVENTS)
    except Exception as exc:
        raise WireError(f"undecodable batch body ({type(exc).__name__}: {exc})") from None
    if type(parts) is not list or not parts or len(parts) % 2 or any(type(p) is not bytes for p in parts):
        raise WireError("a batch body must be a msgpack array of header, payload, header, payload, ... bytes")
    return parts


def split_batch(frames: list[bytes]) -> list[list[bytes]]:
    """The events of a batch message, each as its three wire frames for :func:`decode`.

    Raises:
        WireError: as :func:`batch_parts`.
    """
    topic, parts = frames[0], batch_parts(frames)
    return [[topic, parts[i], parts[i + 1]] for i in range(0, len(parts), 2)]


def decode_parts(
    topic_b: bytes, parts: list[bytes], *, max_message_size: int = DEFAULT_MAX_MESSAGE
) -> tuple[list[Event], list[str]]:
    """Decode the events of a batch (``parts`` from :func:`batch_parts`) in one call, in order.

    Each event is judged as if it had come alone (``decode([topic, header, payload])``): the topic is
    checked once, a plain header takes the fast path, anything else goes through :func:`decode`,
    whose error is returned for it. Returns the events and the errors of those dropped.

    Raises:
        WireError: the topic frame is bad (every event of the batch has it).
    """
    if len(topic_b) > MAX_TOPIC_BYTES or not topic_b:
        raise WireError(f"topic frame of {len(topic_b)} bytes (1..{MAX_TOPIC_BYTES} allowed)")
    try:
        topic = _topics.get(topic_b) or _remember_topic(topic_b)
    except Exception as exc:
        raise WireError(f"undecodable topic ({type(exc).__name__}: {exc})") from None
    events: list[Event] = []
    errors: list[str] = []
    room, unpackb, plain, event_from = max_message_size - len(topic_b), _unpackb, _plain_header, _event_from
    for i in range(0, len(parts), 2):
        header_b, payload_b = parts[i], parts[i + 1]
        h: Any = None
        if len(header_b) <= MAX_HEADER_BYTES and len(header_b) + len(payload_b) <= room:
            try:
                h = unpackb(header_b, raw=False, strict_map_key=True, use_list=True)
            except Exception:
                h = None
        if type(h) is list and len(h) >= _N_FIELDS and h[0] == PROTOCOL_VERSION and plain(h):
            events.append(event_from(topic, h, payload_b))
            continue
        try:  # the unusual or the bad: the single-event path checks each field and names the problem
            events.append(decode([topic_b, header_b, payload_b], max_message_size=max_message_size))
        except WireError as exc:
            errors.append(str(exc))
    return events, errors
