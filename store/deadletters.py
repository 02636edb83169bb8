"""The dead-letter store: events whose handler failed ``max_attempts`` times, kept until retried or purged.

Each record keeps the exact wire frames of the event as last attempted, so a retry republishes it without
re-encoding. Ids are the hex of the key (store time in µs + a persisted counter): unique, and sorting them
sorts by time. Values are sealed with a checksum (:mod:`.envelope`); :meth:`DeadLetters.list` skips a
damaged one (logged with its id) and :meth:`DeadLetters.get` raises ``JournalCorruptError`` for it.
Calls block on disk I/O: from asyncio, go through :meth:`~.commit.GroupCommitter.run`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import msgpack

from zbus.errors import JournalCorruptError, UsageError

from . import keys
from .envelope import seal, unseal
from .journal import Journal
from .records import pack_frames, unpack_frames

log = logging.getLogger("zbus")

__all__ = ["DeadLetterRecord", "DeadLetters", "decode_letter"]

_COUNTER_KEY: Final = b"deadletter_counter"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterRecord:
    """One stored dead letter (the persistent form of ``zbus.delivery.dispatch.DeadLetter``).

    Attributes:
        id: 32 hex characters; pass it to :meth:`DeadLetters.get` or :meth:`DeadLetters.delete`.
        frames: the event's three wire frames, ``wire.decode(list(frames))`` gives the Event back.
        error_type: class name of the last exception.
        error: ``str()`` of the last exception.
        handler: qualified name of the handler that failed.
        subscription: the subscription's patterns, comma-separated.
        attempts: how many times the handler was tried.
        ts: when it was dead-lettered, UNIX seconds.
    """

    id: str
    frames: tuple[bytes, ...]
    error_type: str
    error: str
    handler: str
    subscription: str
    attempts: int
    ts: float


def decode_letter(key: bytes, value: bytes) -> DeadLetterRecord:
    """The dead letter stored as ``value`` under ``key``.

    Raises:
        JournalCorruptError: the value fails its checksum or does not decode (the message names the id).
    """
    try:
        frames, error_type, error, handler, subscription, attempts, ts = msgpack.unpackb(
            unseal(key, value), raw=False
        )
        frames = unpack_frames(frames)
    except JournalCorruptError as exc:
        raise JournalCorruptError(f"dead letter {key.hex()} is damaged: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise JournalCorruptError(f"dead letter {key.hex()} is damaged: {type(exc).__name__}") from None
    return DeadLetterRecord(
        id=key.hex(),
        frames=tuple(frames),
        error_type=error_type,
        error=error,
        handler=handler,
        subscription=subscription,
        attempts=attempts,
        ts=ts,
    )


def _key_of(letter_id: str) -> bytes:
    try:
        key = bytes.fromhex(letter_id)
    except (TypeError, ValueError):
        key = b""
    if len(key) != keys.DEADLETTER_KEY_SIZE:
        raise UsageError(f"dead letter id {letter_id!r}: expected 32 hex characters as returned by add()")
    return key


class DeadLetters:
    """The dead letters of one :class:`~.journal.Journal`, oldest first.

    Args:
        journal: an open journal (writable for :meth:`add`, :meth:`delete` and :meth:`purge`).
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def add(
        self,
        *,
        frames: Sequence[bytes],
        error_type: str,
        error: str,
        handler: str,
        subscription: str,
        attempts: int,
        ts: float,
    ) -> str:
        """Store a dead letter and return its id.

        Args:
            frames: the event's wire frames (``wire.encode`` of ``DeadLetter.event``).
            ts: when it was dead-lettered (``DeadLetter.ts``), UNIX seconds.

        Raises:
            JournalFullError: the map is full.
            JournalError: the journal is closed or LMDB failed.
        """
        value = msgpack.packb(
            [pack_frames(frames), error_type, error, handler, subscription, attempts, ts], use_bin_type=True
        )
        meta = self.journal.db("meta")
        with self.journal.transaction(write=True) as txn:
            raw = txn.get(_COUNTER_KEY, db=meta)
            counter = int.from_bytes(raw, "big") + 1 if raw else 1
            txn.put(_COUNTER_KEY, counter.to_bytes(8, "big"), db=meta)
            key = keys.deadletter_key(ts, counter)
            txn.put(key, seal(key, value), db=self.journal.db("deadletters"))
        return key.hex()

    def list(self, limit: int = 100, *, after: str | None = None) -> list[DeadLetterRecord]:
        """Return up to ``limit`` dead letters, oldest first, starting after id ``after`` (for paging).

        Raises:
            UsageError: ``after`` is not an id.
            JournalError: the journal is closed or LMDB failed.
        """
        out: list[DeadLetterRecord] = []
        if limit <= 0:
            return out
        with self.journal.transaction() as txn:
            cursor = txn.cursor(db=self.journal.db("deadletters"))
            if after is None:
                ok = cursor.first()
            else:
                start = _key_of(after)
                ok = cursor.set_range(start) and (cursor.key() != start or cursor.next())
            while ok and len(out) < limit:
                try:
                    out.append(decode_letter(cursor.key(), cursor.value()))
                except JournalCorruptError as exc:
                    log.warning("journal %s: skipped: %s", self.journal.path, exc)
                ok = cursor.next()
        return out

    def get(self, letter_id: str) -> DeadLetterRecord | None:
        """Return the dead letter with this id, or ``None`` if there is none (deleted or purged).

        Raises:
            UsageError: ``letter_id`` is not an id.
            JournalCorruptError: the stored dead letter is damaged.
        """
        key = _key_of(letter_id)
        with self.journal.transaction() as txn:
            value = txn.get(key, db=self.journal.db("deadletters"))
        return None if value is None else decode_letter(key, value)

    def delete(self, letter_id: str) -> bool:
        """Delete one dead letter (after a successful retry); return whether it existed.

        Raises:
            UsageError: ``letter_id`` is not an id.
        """
        key = _key_of(letter_id)
        with self.journal.transaction(write=True) as txn:
            return txn.delete(key, db=self.journal.db("deadletters"))

    def purge(self) -> int:
        """Delete every dead letter; return how many there were."""
        db = self.journal.db("deadletters")
        with self.journal.transaction(write=True) as txn:
            count = txn.stat(db)["entries"]
            txn.drop(db, delete=False)
        return count

    def __len__(self) -> int:
        with self.journal.transaction() as txn:
            return txn.stat(self.journal.db("deadletters"))["entries"]
