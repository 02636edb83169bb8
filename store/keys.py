"""Key layouts of the journal's LMDB databases, as pure functions between values and bytes.

LMDB sorts keys as byte strings, so every integer is big-endian and fixed-width, and every key that
starts with a variable-length part is prefix-free (a length byte first). That makes these reads single
contiguous cursor walks:

=============  ===============================================  ===========================
database       key                                              contiguous range
=============  ===============================================  ===========================
events         stream key (8) + seq (u64)                       one stream, by seq
by_time        ts µs (u64) + stream key (8) + seq (u64)         everything, by time
streams        stream key (8)                                   —
checkpoints    len(name) (u8) + name (UTF-8) + stream key (8)   one durable name
deadletters    ts µs (u64) + counter (u64)                      everything, by time
=============  ===============================================  ===========================

A *stream* is ``(publisher node id, topic)`` (DESIGN §6). Its key is the first 8 bytes of a BLAKE2b
digest of both, so keys stay short and fixed-width whatever the lengths of ids and topics (LMDB keys are
limited to 511 bytes). The ``streams`` database maps the digest back to the names, and the journal refuses
(rather than mixes) the astronomically unlikely second stream with the same digest.

Pure: only the stdlib and :mod:`zbus.errors`.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Final

from zbus.errors import UsageError

__all__ = [
    "DEADLETTER_KEY_SIZE",
    "EVENT_KEY",
    "EVENT_KEY_SIZE",
    "MAX_NAME_BYTES",
    "STREAM_KEY_SIZE",
    "TIME_KEY",
    "TIME_KEY_SIZE",
    "U64_MAX",
    "checkpoint_key",
    "checkpoint_prefix",
    "deadletter_key",
    "event_key",
    "from_micros",
    "parse_checkpoint_key",
    "parse_deadletter_key",
    "parse_event_key",
    "parse_time_key",
    "stream_key",
    "time_floor",
    "time_key",
    "to_micros",
]

STREAM_KEY_SIZE: Final = 8
EVENT_KEY_SIZE: Final = STREAM_KEY_SIZE + 8
TIME_KEY_SIZE: Final = 8 + STREAM_KEY_SIZE + 8
DEADLETTER_KEY_SIZE: Final = 16
MAX_NAME_BYTES: Final = 255
U64_MAX: Final = 2**64 - 1

_U64: Final = struct.Struct(">Q")
_EVENT: Final = struct.Struct(f">{STREAM_KEY_SIZE}sQ")
_TIME: Final = struct.Struct(f">Q{STREAM_KEY_SIZE}sQ")
#: the packers of event and time keys, unchecked: for callers that validated ``seq`` already
EVENT_KEY: Final = _EVENT
TIME_KEY: Final = _TIME
_DEADLETTER: Final = struct.Struct(">QQ")


def stream_key(node_id: str, topic: str) -> bytes:
    """Return the 8-byte key of the stream ``(node_id, topic)``.

    The digest covers the length of ``node_id`` too, so ``("a", "b.c")`` and ``("ab", ".c")`` differ.
    """
    node = node_id.encode()
    digest = hashlib.blake2b(
        len(node).to_bytes(4, "big") + node + topic.encode(), digest_size=STREAM_KEY_SIZE
    )
    return digest.digest()


def _u64(value: int, what: str) -> int:
    if not 0 <= value <= U64_MAX:
        raise UsageError(f"{what}={value!r} is out of range: expected an integer in 0..2**64-1")
    return value


def to_micros(ts: float) -> int:
    """Return UNIX seconds ``ts`` as whole microseconds, clamped to 0..2**64-1 (NaN counts as 0)."""
    if not ts > 0:  # also catches NaN
        return 0
    scaled = ts * 1_000_000
    return int(scaled) if scaled < U64_MAX else U64_MAX


def from_micros(micros: int) -> float:
    """Return microseconds since the epoch as float UNIX seconds."""
    return micros / 1_000_000


def event_key(stream: bytes, seq: int) -> bytes:
    """Return the ``events`` key of sequence ``seq`` in ``stream`` (a :func:`stream_key`).

    Raises:
        UsageError: ``seq`` is not in 0..2**64-1.
    """
    return _EVENT.pack(stream, _u64(seq, "seq"))


def parse_event_key(key: bytes) -> tuple[bytes, int]:
    """Return ``(stream key, seq)`` from an ``events`` key."""
    stream, seq = _EVENT.unpack(key)
    return stream, seq


def time_key(ts: float, stream: bytes, seq: int) -> bytes:
    """Return the ``by_time`` key of an event published at UNIX time ``ts`` (seconds).

    Raises:
        UsageError: ``seq`` is not in 0..2**64-1.
    """
    return _TIME.pack(to_micros(ts), stream, _u64(seq, "seq"))


def parse_time_key(key: bytes) -> tuple[int, bytes, int]:
    """Return ``(ts in microseconds, stream key, seq)`` from a ``by_time`` key."""
    micros, stream, seq = _TIME.unpack(key)
    return micros, stream, seq


def time_floor(ts: float) -> bytes:
    """Return the smallest ``by_time`` key at or after UNIX time ``ts``: where a ``since=ts`` read starts."""
    return _U64.pack(to_micros(ts))


def checkpoint_prefix(name: str) -> bytes:
    """Return the key prefix shared by every checkpoint of the durable subscription ``name``.

    Raises:
        UsageError: ``name`` is empty or longer than 255 bytes in UTF-8.
    """
    raw = name.encode()
    if not 0 < len(raw) <= MAX_NAME_BYTES:
        raise UsageError(
            f"durable name {name!r} is {len(raw)} bytes in UTF-8: expected 1 to {MAX_NAME_BYTES}; "
            "use a short name like 'billing'"
        )
    return bytes((len(raw),)) + raw


def checkpoint_key(name: str, stream: bytes) -> bytes:
    """Return the ``checkpoints`` key of durable subscription ``name`` on ``stream``.

    Raises:
        UsageError: ``name`` is empty or longer than 255 bytes in UTF-8.
    """
    return checkpoint_prefix(name) + stream


def parse_checkpoint_key(key: bytes) -> tuple[str, bytes]:
    """Return ``(durable name, stream key)`` from a ``checkpoints`` key."""
    size = key[0]
    return key[1 : 1 + size].decode(), key[1 + size :]


def deadletter_key(ts: float, counter: int) -> bytes:
    """Return the ``deadletters`` key of the ``counter``-th dead letter, stored at UNIX time ``ts``.

    Raises:
        UsageError: ``counter`` is not in 0..2**64-1.
    """
    return _DEADLETTER.pack(to_micros(ts), _u64(counter, "counter"))


def parse_deadletter_key(key: bytes) -> tuple[int, int]:
    """Return ``(ts in microseconds, counter)`` from a ``deadletters`` key."""
    micros, counter = _DEADLETTER.unpack(key)
    return micros, counter
