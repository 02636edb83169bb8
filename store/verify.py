"""Checking a whole journal offline (``zbus journal verify``): every record, index entry and stream.

:func:`verify` walks every database of an open :class:`~.journal.Journal` in one read transaction and
reports what it finds damaged instead of stopping at the first problem:

- ``events``: each value's envelope checksum (:mod:`.envelope`) and shape (three wire frames); schema-1
  values, which carry no checksum, are checked for shape only and counted as ``bare``. With
  ``read_event`` (the CLI passes one built on the wire codec, which this package may not import) each
  event's own header must name the stream and sequence of its key, and its ``by_time`` entry must exist.
- ``by_time``: each entry's event exists.
- ``streams``: each state decodes and its key is the digest of its names; each event's sequence is at
  most its stream's ``last_seq``.
- the hash chain of each stream (:mod:`.chain`): every chained event links to a present one except the
  oldest left, and the stream's newest digest is a present event's; a break is reported as damage of
  ``events`` at the stream and sequence where it shows.
- ``deadletters`` and ``checkpoints``: each value decodes (dead letters: checksum too).

The data file's header was already checked when the journal was opened (:mod:`.datafile`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack

from zbus.errors import JournalCorruptError

from . import chain, keys
from .deadletters import decode_letter
from .envelope import chain_parts, is_sealed
from .journal import Journal
from .records import unpack_event

__all__ = ["Damage", "EventFacts", "VerifyReport", "verify"]

#: damaged items listed in a report (all are counted); a journal damaged beyond that needs a restore anyway
MAX_LISTED: Final = 1000

#: what ``read_event`` returns for an event's frames: its (node_id, topic, seq, ts) as its header says
EventFacts = tuple[str, str, int, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Damage:
    """One damaged item: the database, which item (stream and sequence where known), and why."""

    database: str
    item: str
    reason: str


@dataclass(slots=True, kw_only=True)
class VerifyReport:
    """What :func:`verify` found. ``ok`` when nothing is damaged."""

    schema: int
    events: int = 0
    sealed: int = 0
    bare: int = 0
    chained: int = 0
    index_entries: int = 0
    streams: int = 0
    dead_letters: int = 0
    checkpoints: int = 0
    damaged: int = 0
    damage: list[Damage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every item checked out."""
        return self.damaged == 0

    def add(self, database: str, item: str, reason: str) -> None:
        """Count a damaged item (and list it while fewer than ``MAX_LISTED`` are listed)."""
        self.damaged += 1
        if len(self.damage) < MAX_LISTED:
            self.damage.append(Damage(database=database, item=item, reason=reason))


def verify(journal: Journal, read_event: Callable[[list[bytes]], EventFacts] | None = None) -> VerifyReport:
    """Check every item of ``journal`` (see the module text) and return the report.

    Args:
        read_event: decodes an event's frames into (node_id, topic, seq, ts), raising on failure.

    Raises:
        JournalError: the journal is closed or LMDB failed.
    """
    report = VerifyReport(schema=journal.schema)
    with journal.transaction() as txn:
        heads: dict[bytes, int] = {}
        newest: dict[bytes, bytes | None] = {}
        for key, raw in txn.cursor(db=journal.db("streams")):
            report.streams += 1
            try:
                state: Any = msgpack.unpackb(raw, raw=False)
                names = (state["node_id"], state["topic"])
                heads[key] = int(state["last_seq"])
                newest[key] = state.get("hash")
                if keys.stream_key(*names) != key:
                    report.add("streams", key.hex(), f"its key is not the digest of {names!r}")
            except (ValueError, TypeError, KeyError) as exc:
                report.add("streams", key.hex(), f"the state does not decode ({type(exc).__name__})")
        by_time = journal.db("by_time")
        links: list[tuple[int, bytes, bytes]] = []  # the current stream's chained events, by sequence
        corrupt: set[int] = set()  # ... and those already reported damaged (no second report after them)
        current = b""

        def check_chain() -> None:
            for seq, before, reason in chain.breaks(links, newest.get(current)):
                if before not in corrupt:
                    report.add("events", journal.describe(txn, keys.event_key(current, seq)), reason)
            links.clear()
            corrupt.clear()

        for key, value in txn.cursor(db=journal.db("events")):
            report.events += 1
            if len(key) != keys.EVENT_KEY_SIZE:
                report.add("events", key.hex(), f"a key of {len(key)} bytes, not {keys.EVENT_KEY_SIZE}")
                continue
            stream, seq = keys.parse_event_key(key)
            if stream != current:
                check_chain()
                current = stream
            parts = chain_parts(value)
            if parts is not None:
                links.append((seq, parts[0], chain.digest(parts[0], key, parts[1])))
                report.chained += 1
            what = journal.describe(txn, key)
            try:
                frames = unpack_event(key, value)
            except JournalCorruptError as exc:
                report.add("events", what, str(exc))
                corrupt.add(seq)
                continue
            report.sealed += is_sealed(value)
            report.bare += not is_sealed(value)
            if stream not in heads:
                report.add("events", what, "its stream has no state in 'streams'")
            elif seq > heads[stream]:
                report.add("events", what, f"beyond its stream's last_seq {heads[stream]}")
            if read_event is not None:
                _check_event(report, txn, by_time, key, what, frames, read_event)
        check_chain()
        events = journal.db("events")
        for key in txn.cursor(db=by_time).iternext(values=False):
            report.index_entries += 1
            if len(key) != keys.TIME_KEY_SIZE:
                report.add("by_time", key.hex(), f"a key of {len(key)} bytes, not {keys.TIME_KEY_SIZE}")
                continue
            _, stream, seq = keys.parse_time_key(key)
            if txn.get(keys.event_key(stream, seq), db=events) is None:
                report.add("by_time", key.hex(), f"points to seq {seq} of stream {stream.hex()}, not stored")
        for key, value in txn.cursor(db=journal.db("deadletters")):
            report.dead_letters += 1
            try:
                decode_letter(key, value)
            except JournalCorruptError as exc:
                report.add("deadletters", key.hex(), str(exc))
        for key, value in txn.cursor(db=journal.db("checkpoints")):
            report.checkpoints += 1
            try:
                node_id, topic, seq = msgpack.unpackb(value, raw=False)
                if not (type(node_id) is str and type(topic) is str and type(seq) is int):
                    raise TypeError("fields of the wrong type")
            except (ValueError, TypeError) as exc:
                report.add("checkpoints", key.hex(), f"the checkpoint does not decode ({exc})")
    return report


def _check_event(
    report: VerifyReport,
    txn: Any,
    by_time: Any,
    key: bytes,
    what: str,
    frames: list[bytes],
    read_event: Callable[[list[bytes]], EventFacts],
) -> None:
    stream, seq = keys.parse_event_key(key)
    try:
        node_id, topic, event_seq, ts = read_event(frames)
    except Exception as exc:  # whatever the codec raises for undecodable frames
        report.add("events", what, f"the frames do not decode: {exc}")
        return
    if keys.stream_key(node_id, topic) != stream or event_seq != seq:
        report.add("events", what, f"its header says seq {event_seq} of ({node_id!r}, {topic!r})")
    elif txn.get(keys.time_key(ts, stream, seq), db=by_time) is None:
        report.add("events", what, "it has no 'by_time' index entry")
