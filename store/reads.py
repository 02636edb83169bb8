"""The read half of :class:`~.journal.Journal`: range, time and tail reads, stream state, statistics.

Reads run in short read-only LMDB transactions and never block writers (MVCC). Kept apart from
:mod:`.journal` only to keep modules small; use it through ``Journal``.

Every event read is checked (:func:`.records.unpack_event`): a damaged one is skipped, never returned,
counted once in ``statistics().corrupt_records`` and logged with its stream and sequence (the first
``_LOUD_DAMAGE`` at WARNING, later ones at DEBUG).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Final

import lmdb
import msgpack

from zbus.errors import JournalCorruptError

from . import keys
from .records import JournalStatistics, StreamState, pages, topic_matches, unpack_event

__all__ = ["JournalReads"]

_READ_CHUNK: Final = 512
_LOUD_DAMAGE: Final = 10  # damaged records logged at WARNING; the rest at DEBUG (verify lists them all)
_REMEMBERED_DAMAGE: Final = 100_000  # distinct damaged keys remembered for counting each once
log = logging.getLogger("zbus")


class JournalReads:
    """Read methods mixed into :class:`~.journal.Journal`, which supplies the plumbing below."""

    _dbs: dict[str, lmdb._Database]
    _names: dict[bytes, tuple[str, str]]
    _damaged: set[bytes]
    path: Path

    def transaction(self, *, write: bool = False) -> AbstractContextManager[lmdb.Transaction[bytes]]:
        """One LMDB transaction with errors mapped (implemented by Journal)."""
        raise NotImplementedError

    @property
    def map_size(self) -> int:
        """The LMDB map size in bytes (implemented by Journal)."""
        raise NotImplementedError

    def stream_names(self, txn: lmdb.Transaction[bytes], stream: bytes) -> tuple[str, str] | None:
        """Return ``(node_id, topic)`` of a stream key (cached), or ``None`` if it was never journaled."""
        names = self._names.get(stream)
        if names is None:
            raw = txn.get(stream, db=self._dbs["streams"])
            if raw is None:
                return None
            state = msgpack.unpackb(raw, raw=False)
            names = self._names[stream] = (state["node_id"], state["topic"])
        return names

    def describe(self, txn: lmdb.Transaction[bytes], key: bytes) -> str:
        """Name the event of ``events`` key ``key`` for messages: its stream's names and sequence."""
        stream, seq = keys.parse_event_key(key)
        try:
            names = self.stream_names(txn, stream)
        except (ValueError, TypeError, KeyError):  # the stream's own record is damaged too
            names = None
        where = f"({names[0]!r}, {names[1]!r})" if names else f"{stream.hex()} (names unknown)"
        return f"seq {seq} of stream {where}"

    def _in_prefix(self, txn: lmdb.Transaction[bytes], event_key: bytes, prefix: str) -> bool:
        names = self.stream_names(txn, event_key[: keys.STREAM_KEY_SIZE])
        return names is not None and topic_matches(names[1], prefix)

    def _frames(self, txn: lmdb.Transaction[bytes], key: bytes, value: bytes) -> list[bytes] | None:
        """The checked frames of one stored event, or None (counted and logged) when it is damaged."""
        try:
            return unpack_event(key, value)
        except JournalCorruptError as exc:
            if key not in self._damaged and len(self._damaged) < _REMEMBERED_DAMAGE:
                self._damaged.add(key)
                loud = len(self._damaged) <= _LOUD_DAMAGE
                log.log(
                    logging.WARNING if loud else logging.DEBUG,
                    "journal %s: skipped the damaged record %s: %s; run `zbus journal verify --journal %s`%s",
                    self.path,
                    self.describe(txn, key),
                    exc,
                    self.path,
                    " (further damaged records are logged at DEBUG)"
                    if len(self._damaged) == _LOUD_DAMAGE
                    else "",
                )
            return None

    # -- public API ------------------------------------------------------------------------------------

    def read_range(
        self, node_id: str, topic: str, first_seq: int, last_seq: int = keys.U64_MAX, *, limit: int = 1000
    ) -> list[list[bytes]]:
        """Return the stored events of one stream with ``first_seq <= seq <= last_seq``, oldest first.

        Missing sequences (never journaled or expired) are simply absent: compare each event's ``seq`` with
        the range to find out what a repair cannot serve.

        Args:
            limit: at most this many events (the first ones).

        Raises:
            JournalError: the journal is closed or LMDB failed.
        """
        stream = keys.stream_key(node_id, topic)
        end = keys.event_key(stream, min(max(last_seq, 0), keys.U64_MAX))
        out: list[list[bytes]] = []
        if limit <= 0 or last_seq < first_seq:
            return out
        with self.transaction() as txn:
            cursor = txn.cursor(db=self._dbs["events"])
            ok = cursor.set_range(keys.event_key(stream, max(first_seq, 0)))
            while ok and len(out) < limit:
                key = cursor.key()
                if key > end:
                    break
                frames = self._frames(txn, key, cursor.value())
                if frames is not None:
                    out.append(frames)
                ok = cursor.next()
        return out

    def first_seq(self, node_id: str, topic: str) -> int | None:
        """Return the lowest sequence still stored for the stream, or ``None`` if none is.

        Together with :meth:`stream_heads`, this tells a repair which ranges are out of retention.
        """
        stream = keys.stream_key(node_id, topic)
        with self.transaction() as txn:
            cursor = txn.cursor(db=self._dbs["events"])
            if cursor.set_range(keys.event_key(stream, 0)):
                key_stream, seq = keys.parse_event_key(cursor.key())
                if key_stream == stream:
                    return seq
        return None

    def last(self, node_id: str, topic: str, n: int) -> list[list[bytes]]:
        """Return the newest ``n`` stored events of one stream, oldest first.

        Raises:
            JournalError: the journal is closed or LMDB failed.
        """
        stream = keys.stream_key(node_id, topic)
        top = keys.event_key(stream, keys.U64_MAX)
        out: list[list[bytes]] = []
        if n <= 0:
            return out
        with self.transaction() as txn:
            cursor = txn.cursor(db=self._dbs["events"])
            # position on the stream's newest key: set_range lands on the next stream (or nowhere)
            ok = cursor.key() == top or cursor.prev() if cursor.set_range(top) else cursor.last()
            while ok and len(out) < n and cursor.key()[: keys.STREAM_KEY_SIZE] == stream:
                frames = self._frames(txn, cursor.key(), cursor.value())
                if frames is not None:
                    out.append(frames)
                ok = cursor.prev()
        out.reverse()
        return out

    def read_since(
        self, ts: float, *, topic_prefix: str | None = None, limit: int | None = None
    ) -> Iterator[list[bytes]]:
        """Yield stored events with a timestamp at or after ``ts`` (UNIX seconds), oldest first.

        Reads in short transactions of a few hundred events, so a slow consumer holds no LMDB reader for
        long; events appended while iterating may or may not be seen.

        Args:
            topic_prefix: only topics equal to it or below it token-wise (``"orders"`` matches
                ``"orders.new"``, not ``"ordersx"``); ``None`` for all.
            limit: stop after this many events; ``None`` for no limit.

        Raises:
            JournalError: the journal is closed or LMDB failed (raised from the iteration).
        """
        start = keys.time_floor(ts)
        inclusive = True
        left = limit
        events, by_time = self._dbs["events"], self._dbs["by_time"]
        cut = keys.TIME_KEY_SIZE - keys.EVENT_KEY_SIZE  # a time key ends with its event's key
        while left is None or left > 0:
            chunk: list[list[bytes]] = []
            with self.transaction() as txn:
                cursor = txn.cursor(db=by_time)
                ok = cursor.set_range(start)
                if ok and not inclusive and cursor.key() == start:
                    ok = cursor.next()
                wanted: list[bytes] = []
                if ok:
                    ok = False  # unless the loop stops before the end of the index
                    for scanned, time_key in enumerate(cursor.iternext(keys=True, values=False), 1):
                        start = time_key
                        event_key = time_key[cut:]
                        if topic_prefix is None or self._in_prefix(txn, event_key, topic_prefix):
                            wanted.append(event_key)
                        if scanned >= _READ_CHUNK * 8 or len(wanted) >= _READ_CHUNK:
                            ok = True
                            break
                # one C call fetches the chunk's values (an index entry without its event is skipped)
                for key, value in txn.cursor(db=events).getmulti(wanted):
                    frames = self._frames(txn, key, value)
                    if frames is not None:
                        chunk.append(frames)
            inclusive = False
            if left is not None:
                chunk = chunk[:left]
                left -= len(chunk)
            yield from chunk
            if not ok:
                return

    def stream_heads(self) -> dict[tuple[str, str], int]:
        """Return ``{(node_id, topic): last_seq}`` for every stream ever journaled (the restart state).

        Raises:
            JournalError: the journal is closed or LMDB failed.
        """
        return {(s.node_id, s.topic): s.last_seq for s in self.streams()}

    def streams(self) -> list[StreamState]:
        """Return the state of every stream ever journaled, in stream-key order."""
        out = []
        with self.transaction() as txn:
            for stream, raw in txn.cursor(db=self._dbs["streams"]):
                s = msgpack.unpackb(raw, raw=False)
                self._names.setdefault(stream, (s["node_id"], s["topic"]))
                names = {"node_id": s["node_id"], "topic": s["topic"]}
                out.append(StreamState(**names, last_seq=s["last_seq"], epoch=s["epoch"]))
        return out

    def statistics(self) -> JournalStatistics:
        """Return a :class:`JournalStatistics` snapshot (cheap: page counts, not a scan).

        Raises:
            JournalError: the journal is closed or LMDB failed.
        """
        with self.transaction() as txn:
            psize = txn.stat()["psize"]
            events, by_time = txn.stat(self._dbs["events"]), txn.stat(self._dbs["by_time"])
            streams = txn.stat(self._dbs["streams"])["entries"]
            cursor = txn.cursor(db=self._dbs["by_time"])
            oldest = keys.parse_time_key(cursor.key())[0] if cursor.first() else None
            newest = keys.parse_time_key(cursor.key())[0] if cursor.last() else None
            used = self.used_bytes(txn)
            map_size = self.map_size
        return JournalStatistics(
            events=events["entries"],
            bytes=(pages(events) + pages(by_time)) * psize,
            oldest_ts=None if oldest is None else keys.from_micros(oldest),
            newest_ts=None if newest is None else keys.from_micros(newest),
            streams=streams,
            map_used=used,
            map_size=map_size,
            corrupt_records=len(self._damaged),
        )

    def used_bytes(self, txn: lmdb.Transaction[bytes]) -> int:
        """Return the bytes of pages in use by every database as ``txn`` sees them (free pages excluded).

        This is what ``persistence.retention.max_size`` limits; it shrinks when events are deleted, unlike
        the data file, which LMDB never truncates (freed pages are reused).
        """
        total = pages(txn.stat()) + sum(pages(txn.stat(db)) for db in self._dbs.values())
        return total * txn.stat()["psize"]

    stats = statistics
