"""The per-node LMDB journal: one environment, six named databases, every lmdb error mapped once.

Theory of operation
-------------------
``events`` holds the exact wire frames of each journaled event (one msgpack array of three ``bytes``), keyed
by stream and sequence so a repair is one cursor walk (:mod:`.keys` has the layouts). ``by_time`` indexes the
same events by timestamp for ``since=`` reads and retention. ``streams`` keeps each stream's names, last
sequence and epoch; it is what a restart reads to continue sequences, and it outlives the events retention
deletes. ``meta`` holds the schema version, the node epoch counter and the node id. ``checkpoints`` and
``deadletters`` belong to :mod:`.checkpoints` and :mod:`.deadletters`.

Every stored event (and dead letter) is sealed in an envelope with a CRC-32 over its key and bytes
(:mod:`.envelope`); reads check it and skip a damaged record, counting it (``corrupt_records``) and
logging its stream and sequence, so a flipped byte is never replayed as data. Since schema 3 each event
also carries the digest of its stream's previous record (a BLAKE2b hash chain, :mod:`.chain`; the newest
digest is in the stream's state), which ``zbus journal verify`` follows to detect a changed, removed or
reordered record. Journals of schema 1 (bare values, no checksum) and 2 (no chain) stay readable;
opening one writable upgrades it to schema 3, whose new records are chained. Before LMDB maps
``data.mdb``, :func:`.datafile.check_data_file` compares its size with its header: a truncated file
raises :class:`~zbus.errors.JournalCorruptError` instead of crashing with SIGBUS.

Every batch is one write transaction, so a crash (kill -9 included) leaves either all of a batch or none of
it, and ``streams`` always agrees with ``events``. Appends are idempotent: a ``(stream, seq)`` already
stored is kept, not replaced. A full map aborts the transaction and raises :class:`JournalFullError`; the
environment stays usable (reads, deletes, retention). Durability: ``"sync"`` opens the environment with
LMDB's per-commit fsync; ``"async"`` and ``"none"`` open it without (a process crash loses nothing committed,
an OS crash or power loss can lose the latest commits); :meth:`Journal.sync` forces an fsync.

Thread use: one Journal may be shared by threads (LMDB serialises writers; read transactions are per call).
Calls block on disk I/O, so from asyncio go through :class:`~.commit.GroupCommitter`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import lmdb
import msgpack

from zbus.errors import JournalError, UsageError

from . import chain, keys
from .datafile import check_data_file
from .envelope import seal_linked
from .reads import JournalReads
from .records import (
    JournalRecord,
    JournalStatistics,
    RecordLike,
    StreamState,
    check_record,
    full_error,
)

__all__ = [
    "DURABILITIES",
    "SCHEMA_VERSION",
    "Journal",
    "JournalRecord",
    "JournalStatistics",
    "RecordLike",
    "StreamState",
]

#: 3: events carry their stream's hash chain (chain.py); 2: values are sealed (envelope.py); 1: bare
#: values. 1 and 2 are still read, and upgraded when opened writable (their old records stay as they are)
SCHEMA_VERSION: Final = 3
DURABILITIES: Final = ("none", "async", "sync")
_DB_NAMES: Final = ("events", "by_time", "streams", "checkpoints", "deadletters", "meta")
_EPOCH_KEY: Final = b"epoch"
_SCHEMA_KEY: Final = b"schema"
_NODE_ID_KEY: Final = b"node_id"


def _put_pending(
    txn: lmdb.Transaction[bytes],
    events: lmdb._Database,
    by_time: lmdb._Database,
    put_events: list[tuple[bytes, bytes]],
    put_times: list[tuple[bytes, bytes]],
) -> None:
    """Put the records of ``append_batch``'s fast path (one C loop per database), then forget them."""
    if put_events:
        txn.cursor(db=events).putmulti(put_events)
        put_events.clear()
    if put_times:
        txn.cursor(db=by_time).putmulti(put_times)
        put_times.clear()


class Journal(JournalReads):
    """One node's LMDB journal. Use as a context manager or call :meth:`close`.

    Args:
        path: the journal directory (created if missing), e.g. ``PersistenceConfig.journal_path(name)``.
        map_size: the most bytes the journal may take (``persistence.map_size``); also reserves that much
            address space, not disk.
        durability: ``"none"``, ``"async"`` or ``"sync"`` (``persistence.durability``): see the module text.
        readonly: open for reading only (tools inspecting a live node's journal); writes raise UsageError.

    Raises:
        UsageError: ``durability`` is not one of the three modes, or ``map_size`` < 1 MiB.
        JournalCorruptError: ``data.mdb`` is truncated or its header inconsistent (checked before mapping).
        JournalError: the directory cannot be created or opened, or holds a newer schema.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, map_size: int, durability: str, readonly: bool = False
    ) -> None:
        self._env: lmdb.Environment | None = None
        if durability not in DURABILITIES:
            raise UsageError(f"durability={durability!r}: expected one of {', '.join(DURABILITIES)}")
        if map_size < 1024**2:
            raise UsageError(f"map_size={map_size!r}: expected at least 1 MiB (1048576 bytes)")
        self.path = Path(path)
        self.durability = durability
        self.readonly = readonly
        self._names: dict[bytes, tuple[str, str]] = {}
        self._damaged: set[bytes] = set()
        #: the journal's schema as found on disk (1: no checksums; 2: sealed records; 3: hash-chained)
        self.schema = SCHEMA_VERSION
        check_data_file(self.path / "data.mdb")  # before mapping: a truncated file would SIGBUS
        try:
            if not readonly:
                self.path.mkdir(parents=True, exist_ok=True)
            env = lmdb.open(
                str(self.path),
                map_size=map_size,
                max_dbs=len(_DB_NAMES) + 2,
                readonly=readonly,
                sync=durability == "sync",
                create=not readonly,
            )
        except (OSError, lmdb.Error) as exc:
            raise JournalError(
                f"cannot open journal {self.path}: {exc}; check persistence.path and its permissions"
            ) from exc
        self._env = env
        self._map_size = map_size
        # packs event bodies inside append_batch's write transaction, which LMDB lets one thread hold
        # at a time, so sharing it is safe (a Packer is three times cheaper than msgpack.packb)
        self._pack = msgpack.Packer(use_bin_type=True).pack
        try:
            env.reader_check()  # free reader slots of processes that died (kill -9) holding old snapshots
            self._dbs = {name: env.open_db(name.encode(), create=not readonly) for name in _DB_NAMES}
            self._check_schema()
        except lmdb.Error as exc:
            self.close()
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
        except JournalError:
            self.close()
            raise

    def __repr__(self) -> str:
        state = "closed" if self._env is None else "open"
        return f"<zbus.store.Journal {str(self.path)!r} {self.durability} {state}>"

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_env", None) is not None:
            warnings.warn(f"unclosed {self!r}; call close() or use 'with'", ResourceWarning, stacklevel=1)
            self.close()

    @property
    def map_size(self) -> int:
        """The LMDB map size in bytes: the most the journal can hold."""
        return self._map_size

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._env is None

    def close(self) -> None:
        """Close the environment (idempotent). Committed data is kept; a ``"none"`` journal is not fsynced."""
        env, self._env = self._env, None
        if env is not None:
            env.close()

    def _check_schema(self) -> None:
        with self.transaction(write=not self.readonly) as txn:
            raw = txn.get(_SCHEMA_KEY, db=self._dbs["meta"])
            found = SCHEMA_VERSION if raw is None else int.from_bytes(raw, "big")
            if not 1 <= found <= SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path} has schema version {found}, this zbus reads versions 1 to "
                    f"{SCHEMA_VERSION}; upgrade zbus or point persistence.path at another directory"
                )
            self.schema = found
            if not self.readonly and (raw is None or found < SCHEMA_VERSION):
                # older records stay as they are (schema 1: no check; 2: no chain); new ones are chained
                txn.put(_SCHEMA_KEY, SCHEMA_VERSION.to_bytes(4, "big"), db=self._dbs["meta"])
                self.schema = SCHEMA_VERSION

    # -- package-internal plumbing (checkpoints, deadletters, retention) ------------------------------

    def db(self, name: str) -> lmdb._Database:
        """Return the handle of the named database (one of ``events``, ``by_time``, ``streams``,
        ``checkpoints``, ``deadletters``, ``meta``). For the modules of this package."""
        return self._dbs[name]

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[lmdb.Transaction[bytes]]:
        """Run the ``with`` body in one LMDB transaction, committed if it returns and aborted if it raises.

        Raises:
            UsageError: ``write`` on a read-only journal.
            JournalFullError: the map is full; nothing of this transaction was written.
            JournalError: the journal is closed, or any other LMDB failure.
        """
        env = self._env
        if env is None:
            raise JournalError(f"journal {self.path} is closed; open a new Journal")
        if write and self.readonly:
            raise UsageError(f"journal {self.path} was opened readonly=True; open it writable to change it")
        try:
            with env.begin(write=write) as txn:
                yield txn
        except lmdb.MapFullError as exc:
            raise full_error(self.path, self._map_size, exc) from exc
        except lmdb.Error as exc:
            raise JournalError(f"journal {self.path}: {type(exc).__name__}: {exc}") from exc

    def sync(self) -> None:
        """Flush committed transactions to disk (fsync), whatever the durability mode.

        Raises:
            JournalError: the journal is closed or the fsync failed.
        """
        env = self._env
        if env is None:
            raise JournalError(f"journal {self.path} is closed; open a new Journal")
        try:
            env.sync(True)
        except lmdb.Error as exc:
            raise JournalError(f"journal {self.path}: fsync failed: {exc}") from exc

    def copy_to(self, path: str | os.PathLike[str], *, compact: bool = True) -> None:
        """Write a consistent copy of the environment into the empty directory ``path`` (``data.mdb`` only).

        With ``compact``, free pages are left out and the copy is renumbered: the way to give back the disk
        space deleted events took (LMDB never shrinks its data file). Runs in one read transaction, so
        writers keep going; the copy does not contain what they commit meanwhile.

        Raises:
            JournalError: the journal is closed, ``path`` is not an empty directory, or the copy failed.
        """
        env = self._env
        if env is None:
            raise JournalError(f"journal {self.path} is closed; open a new Journal")
        try:
            env.copy(str(path), compact=compact)
        except lmdb.Error as exc:
            raise JournalError(f"cannot copy journal {self.path} to {path}: {exc}") from exc

    def append_batch(self, records: Iterable[RecordLike], *, checked: bool = False) -> None:
        """Store a batch of events in one write transaction: all of them, or (on error) none.

        An event whose ``(node_id, topic, seq)`` is already stored is skipped (appends are idempotent).
        Each stream's ``last_seq`` becomes the highest sequence seen and its ``epoch`` that event's epoch.

        Args:
            records: ``(node_id, topic, seq, epoch, ts, frames)`` tuples; ``ts`` in UNIX seconds, ``frames``
                the three wire frames exactly as sent.
            checked: the caller already checked every record's shape (``check_record``; the group
                committer does at submit), so it is not checked again here.

        Raises:
            JournalFullError: the map is full; retention or a larger ``persistence.map_size`` will help.
            JournalError: the journal is closed or LMDB failed; two streams share a key (never in practice).
            UsageError: a record is malformed (seq out of 0..2**64-1, not three frames).
        """
        dbs = self._dbs
        events, by_time = dbs["events"], dbs["by_time"]
        if not checked:
            records = list(records)
            for record in records:
                check_record(record)
        with self.transaction(write=True) as txn:
            # the fast path (a node's own publishes): a sequence past the stream's head cannot be stored
            # yet, so its record goes into one putmulti per database; anything else is put one by one,
            # first-write-wins, after the pending ones (a duplicate within the batch is seen)
            heads: dict[tuple[str, str], list[Any]] = {}
            put_events: list[tuple[bytes, bytes]] = []
            put_times: list[tuple[bytes, bytes]] = []
            event_pack, time_pack, micros, digest = (
                keys.EVENT_KEY.pack,
                keys.TIME_KEY.pack,
                keys.to_micros,
                chain.digest,
            )
            pack = self._pack
            for node_id, topic, seq, epoch, ts, frames in records:
                head = heads.get((node_id, topic))
                if head is None:
                    stream = keys.stream_key(node_id, topic)
                    head = heads[node_id, topic] = [stream, *self._head(txn, stream, node_id, topic)]
                stream, link = head[0], head[5]
                key = event_pack(stream, seq)
                body = pack(frames)  # = records.pack_frames(frames)
                value = seal_linked(key, body, link)
                last = head[3]
                if last is None or seq > last:
                    put_events.append((key, value))
                    head[3], head[4] = seq, epoch
                else:
                    _put_pending(txn, events, by_time, put_events, put_times)
                    if not txn.put(key, value, overwrite=False, db=events):
                        continue  # already stored: the first write wins, the head already counts it
                    if seq == last:
                        head[4] = epoch
                head[5] = digest(link, key, body)  # the stream's next record links to this one
                put_times.append((time_pack(micros(ts), stream, seq), b""))
            _put_pending(txn, events, by_time, put_events, put_times)
            streams = dbs["streams"]
            for stream, node_id, topic, last_seq, epoch, link in heads.values():
                state = {
                    "node_id": node_id,
                    "topic": topic,
                    "last_seq": last_seq,
                    "epoch": epoch,
                    "hash": link,
                }
                txn.put(stream, msgpack.packb(state), db=streams)

    def _head(self, txn: lmdb.Transaction[bytes], stream: bytes, node_id: str, topic: str) -> list[Any]:
        raw = txn.get(stream, db=self._dbs["streams"])
        if raw is None:
            return [node_id, topic, None, 0, chain.ZERO]
        state = msgpack.unpackb(raw, raw=False)
        if (state["node_id"], state["topic"]) != (node_id, topic):
            raise JournalError(
                f"stream ({node_id!r}, {topic!r}) has the same key as ({state['node_id']!r}, "
                f"{state['topic']!r}) in journal {self.path}; rename the topic (a 64-bit hash collision)"
            )
        return [node_id, topic, state["last_seq"], state["epoch"], state.get("hash", chain.ZERO)]

    def next_epoch(self, *, at_least: int = 0) -> int:
        """Advance and return this node's persisted epoch: call once per start of the node.

        The result is greater than every epoch returned before by this journal, and at least ``at_least``
        (pass ``time.time_ns() // 1000`` to keep epochs growing even if the journal is deleted).

        Raises:
            UsageError: the journal is read-only.
            JournalError: the journal is closed or LMDB failed (JournalFullError if the map is full).
        """
        meta = self._dbs["meta"]
        with self.transaction(write=True) as txn:
            raw = txn.get(_EPOCH_KEY, db=meta)
            epoch = max((int.from_bytes(raw, "big") if raw else 0) + 1, at_least)
            txn.put(_EPOCH_KEY, epoch.to_bytes(8, "big"), db=meta)
        return epoch

    def node_id(self, candidate: str) -> str:
        """Return the node id stored in the journal, storing ``candidate`` first if there is none.

        A node that restarts with its journal keeps its id, so its streams continue their sequences.

        Raises:
            UsageError: the journal is read-only and holds no node id.
            JournalError: the journal is closed or LMDB failed.
        """
        meta = self._dbs["meta"]
        with self.transaction() as txn:
            raw = txn.get(_NODE_ID_KEY, db=meta)
        if raw is not None:
            return raw.decode()
        with self.transaction(write=True) as txn:
            raw = txn.get(_NODE_ID_KEY, db=meta)
            if raw is not None:
                return raw.decode()
            txn.put(_NODE_ID_KEY, candidate.encode(), db=meta)
        return candidate
