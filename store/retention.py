"""Retention: which journaled events expire (a pure policy) and the sweep that deletes them.

Age: an event expires ``ttl`` seconds after its timestamp, where ``ttl`` is the ``by_prefix`` entry of the
longest prefix matching its topic token-wise (``audit`` covers ``audit.login``) or else ``default``.
Size: when the pages in use exceed ``max_size`` bytes (0 = no limit), the oldest events go first whatever
their topic. Stream state (last sequence, epoch) is never deleted, so sequences continue after retention
emptied a stream.

:func:`sweep` blocks on disk I/O and takes LMDB's write lock a chunk at a time: run it on the committer's
writer thread (``await committer.run(lambda j: sweep(j, time.time(), config.persistence.retention))``), then
call ``committer.space_freed()`` if it deleted anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import lmdb

from zbus.config import RetentionConfig
from zbus.errors import JournalFullError

from . import keys
from .journal import Journal
from .records import topic_matches

__all__ = ["SweepResult", "is_expired", "sweep", "ttl_for"]


def ttl_for(topic: str, retention: RetentionConfig) -> float:
    """Return how many seconds events on ``topic`` are kept: the longest matching prefix wins."""
    best, ttl = -1, retention.default
    for prefix, seconds in retention.by_prefix.items():
        if len(prefix) > best and topic_matches(topic, prefix):
            best, ttl = len(prefix), seconds
    return ttl


def is_expired(topic: str, ts: float, now: float, retention: RetentionConfig) -> bool:
    """Return whether an event on ``topic`` stamped ``ts`` (UNIX seconds) has expired at ``now``."""
    return now >= ts + ttl_for(topic, retention)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult:
    """What one :func:`sweep` did.

    Attributes:
        expired: events deleted because of their age.
        evicted: events deleted because the journal exceeded ``max_size``.
        scanned: index entries read.
        complete: ``False`` if a limit stopped it early: sweep again soon.
    """

    expired: int
    evicted: int
    scanned: int
    complete: bool

    @property
    def deleted(self) -> int:
        """Events deleted in total."""
        return self.expired + self.evicted


def _delete_here(txn: lmdb.Transaction[bytes], cursor: lmdb.Cursor[bytes], journal: Journal) -> None:
    """Delete the event the ``by_time`` cursor is on, and the index entry (the cursor moves to the next)."""
    _, stream, seq = keys.parse_time_key(cursor.key())
    txn.delete(keys.event_key(stream, seq), db=journal.db("events"))
    cursor.delete()


def _age_chunk(
    journal: Journal, start: bytes, horizon: bytes, now: float, retention: RetentionConfig, budget: int
) -> tuple[bytes | None, int, int]:
    """Delete expired events from ``start`` (inclusive) while the key is below ``horizon``.

    Returns ``(next start or None when done, deleted, scanned)``.
    """
    deleted = scanned = 0
    with journal.transaction(write=True) as txn:
        cursor = txn.cursor(db=journal.db("by_time"))
        ok = cursor.set_range(start)
        while ok and deleted < budget and scanned < budget * 8:
            key = cursor.key()
            if key >= horizon:
                return None, deleted, scanned
            scanned += 1
            micros, stream, _ = keys.parse_time_key(key)
            names = journal.stream_names(txn, stream)
            if names is None or is_expired(names[1], keys.from_micros(micros), now, retention):
                _delete_here(txn, cursor, journal)
                deleted += 1
                ok = cursor.key() != b""
            else:
                ok = cursor.next()
        return (cursor.key() if ok else None), deleted, scanned


def _size_chunk(journal: Journal, max_size: int, budget: int) -> tuple[bool, int]:
    """Delete up to ``budget`` oldest events while over ``max_size``; return (still over, deleted)."""
    deleted = 0
    with journal.transaction(write=True) as txn:
        cursor = txn.cursor(db=journal.db("by_time"))
        ok = cursor.first()
        while ok and deleted < budget:
            if deleted % 64 == 0 and journal.used_bytes(txn) <= max_size:
                return False, deleted
            _delete_here(txn, cursor, journal)
            deleted += 1
            ok = cursor.key() != b""
        return ok and journal.used_bytes(txn) > max_size, deleted


def sweep(
    journal: Journal,
    now: float,
    retention: RetentionConfig,
    *,
    max_delete: int = 10_000,
    chunk: int = 1_000,
) -> SweepResult:
    """Delete expired events, then the oldest events while the journal is over ``retention.max_size``.

    Works in transactions of at most ``chunk`` deletions so writers wait briefly; if the map is so full
    that even a deletion fails, it retries with smaller chunks down to one event.

    Args:
        now: UNIX seconds (``time.time()``).
        retention: ``config.persistence.retention``.
        max_delete: stop after deleting this many events (``complete=False`` then); scans stop after 8x.

    Raises:
        JournalFullError: not even a one-event deletion fits in the map (raise persistence.map_size).
        JournalError: the journal is closed or LMDB failed.
    """
    shortest = min([retention.default, *retention.by_prefix.values()])
    horizon = keys.time_floor(now - shortest)  # nothing newer than this can have expired
    expired = evicted = scanned = 0
    start: bytes | None = b""
    while start is not None and expired < max_delete and scanned < max_delete * 8:
        budget = min(chunk, max_delete - expired)
        try:
            start, deleted, seen = _age_chunk(journal, start, horizon, now, retention, budget)
        except JournalFullError:
            if chunk == 1:
                raise
            chunk = max(1, chunk // 4)
            continue
        expired += deleted
        scanned += seen
    complete = start is None
    over = retention.max_size > 0
    while over and expired + evicted < max_delete:
        try:
            over, deleted = _size_chunk(
                journal, retention.max_size, min(chunk, max_delete - expired - evicted)
            )
        except JournalFullError:
            if chunk == 1:
                raise
            chunk = max(1, chunk // 4)
            continue
        evicted += deleted
        if deleted == 0:
            break
    if expired + evicted:
        _release(journal, now)
    return SweepResult(expired=expired, evicted=evicted, scanned=scanned, complete=complete and not over)


def _release(journal: Journal, now: float) -> None:
    """Commit one small write so the pages freed by the last deletion become reusable.

    LMDB reuses a page only once a later transaction has committed after the one that freed it, and an
    empty transaction commits nothing; without this, a map that was full stays full until the next write.
    """
    with journal.transaction(write=True) as txn:
        txn.put(b"swept_at", keys.to_micros(now).to_bytes(8, "big"), db=journal.db("meta"))
