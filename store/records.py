"""Value types and value encodings of the journal: records, stream state, statistics, frames.

Pure: only the stdlib, msgpack and :mod:`zbus.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import msgpack

from zbus.errors import JournalCorruptError, JournalFullError, UsageError

from .envelope import unseal

__all__ = [
    "JournalRecord",
    "JournalStatistics",
    "RecordLike",
    "StreamState",
    "check_record",
    "full_error",
    "pack_frames",
    "pages",
    "topic_matches",
    "unpack_event",
    "unpack_frames",
]


class JournalRecord(NamedTuple):
    """One event to journal: its stream position plus its exact wire frames.

    A plain tuple ``(node_id, topic, seq, epoch, ts, frames)`` works too.
    """

    node_id: str
    topic: str
    seq: int
    epoch: int
    ts: float
    frames: Sequence[bytes]


RecordLike = JournalRecord | tuple[str, str, int, int, float, Sequence[bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamState:
    """What the journal knows about one stream ``(node_id, topic)``.

    Attributes:
        last_seq: the highest sequence ever journaled on it (kept after retention deletes the events).
        epoch: the epoch of the event with ``last_seq``.
    """

    node_id: str
    topic: str
    last_seq: int
    epoch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalStatistics:
    """A snapshot of the journal (see :meth:`Journal.statistics`).

    Attributes:
        events: events stored.
        bytes: bytes of LMDB pages holding them (``events`` and ``by_time``).
        oldest_ts: UNIX seconds of the oldest stored event, ``None`` when empty.
        newest_ts: UNIX seconds of the newest stored event, ``None`` when empty.
        streams: streams ever journaled (including those whose events expired).
        map_used: bytes of pages in use by all databases (free pages excluded).
        map_size: the map size in bytes: the journal cannot grow past it.
        corrupt_records: damaged records reads have skipped since the journal was opened (each counted
            once; ``zbus journal verify`` lists them all).
    """

    events: int
    bytes: int
    oldest_ts: float | None
    newest_ts: float | None
    streams: int
    map_used: int
    map_size: int
    corrupt_records: int = 0


def check_record(record: RecordLike) -> None:
    """Refuse a malformed record before it can fail a whole batch.

    Raises:
        UsageError: not 6 fields, frames not three ``bytes``, or seq out of 0..2**64-1.
    """
    try:
        _node_id, topic, seq, _epoch, _ts, frames = record
        ok = len(frames) == 3 and all(isinstance(f, bytes) for f in frames)
    except (TypeError, ValueError):
        raise UsageError(
            f"a journal record is (node_id, topic, seq, epoch, ts, frames), got {record!r:.100}"
        ) from None
    if not ok:
        raise UsageError(f"an event is 3 wire frames of bytes, got {frames!r:.100} for {topic!r} seq {seq}")
    if not (type(seq) is int and 0 <= seq < 2**64):
        raise UsageError(f"seq={seq!r} for {topic!r}: expected an integer in 0..2**64-1")


def pages(stat: Any) -> int:
    """Return the pages counted in an LMDB stat dict (branch, leaf and overflow)."""
    return int(stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"])


def full_error(path: Path, map_size: int, exc: BaseException | None = None) -> JournalFullError:
    """Return the :class:`JournalFullError` for the journal at ``path`` (shared wording)."""
    detail = f" ({exc})" if exc is not None else ""
    return JournalFullError(
        f"journal {path} is full: its LMDB map of {map_size} bytes is used up{detail}; raise "
        "persistence.map_size or shorten persistence.retention (default / by_prefix / max_size)"
    )


def pack_frames(frames: Sequence[bytes]) -> bytes:
    """Return the ``events`` value for ``frames``: one msgpack array of ``bytes``."""
    return msgpack.packb(list(frames), use_bin_type=True)  # type: ignore[no-any-return]


def unpack_frames(value: bytes) -> list[bytes]:
    """Return the wire frames stored in an ``events`` value."""
    return msgpack.unpackb(value, raw=False, use_list=True)  # type: ignore[no-any-return]


def unpack_event(key: bytes, value: bytes) -> list[bytes]:
    """Return the three wire frames stored in the ``events`` value of ``key``, checked.

    Raises:
        JournalCorruptError: the checksum fails, or the body is not an array of three byte strings
            (a bare schema-1 body is checked for shape only).
    """
    body = unseal(key, value)
    try:
        frames = msgpack.unpackb(body, raw=False, use_list=True)
    except (
        ValueError,
        TypeError,
    ) as exc:  # msgpack raises ValueError subclasses (and TypeError for odd keys)
        raise JournalCorruptError(f"the body is not msgpack ({type(exc).__name__})") from None
    if not (
        type(frames) is list
        and len(frames) == 3
        and type(frames[0]) is bytes
        and type(frames[1]) is bytes
        and type(frames[2]) is bytes
    ):
        raise JournalCorruptError("the body is not three wire frames")
    return frames


def topic_matches(topic: str, prefix: str) -> bool:
    """Return whether ``topic`` is ``prefix`` or below it, token-wise (``audit`` matches ``audit.login``)."""
    return topic == prefix or (topic.startswith(prefix) and topic[len(prefix)] == ".")
