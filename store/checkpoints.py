"""Durable-subscription checkpoints: per durable name and stream, the contiguous watermark processed.

A watermark is the highest sequence such that it and every sequence before it were handled (DESIGN §6):
the dispatcher computes it, this module only stores it. A restarted subscriber resumes each stream after
its watermark, so it may see again what it handled after the last commit (at-least-once).

The value stores the stream's names next to the sequence, because a subscriber's journal holds no
``streams`` record for other publishers' streams. Writes block on disk I/O: from asyncio, call them through
:meth:`~.commit.GroupCommitter.run`.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgpack

from zbus.errors import UsageError

from . import keys
from .journal import Journal

__all__ = ["Checkpoints", "Stream"]

Stream = tuple[str, str]
"""A stream: ``(publisher node id, topic)``."""


class Checkpoints:
    """The checkpoint store of one :class:`~.journal.Journal`.

    Args:
        journal: an open journal (writable for :meth:`commit` and :meth:`delete`).
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def commit(self, name: str, stream: Stream, contiguous_seq: int) -> None:
        """Store the watermark of durable subscription ``name`` on ``stream``; see :meth:`commit_many`."""
        self.commit_many(name, {stream: contiguous_seq})

    def commit_many(self, name: str, watermarks: Mapping[Stream, int]) -> None:
        """Store several watermarks of durable subscription ``name`` in one transaction.

        A watermark replaces the stored one even if lower (the publisher may have lost its journal and
        restarted its sequences); the dispatcher decides what is contiguous.

        Raises:
            UsageError: ``name`` is empty or over 255 UTF-8 bytes, or a sequence is out of 0..2**64-1.
            JournalFullError: the map is full.
            JournalError: the journal is closed or LMDB failed.
        """
        db = self.journal.db("checkpoints")
        items = []
        for (node_id, topic), seq in watermarks.items():
            if not (type(seq) is int and 0 <= seq <= keys.U64_MAX):
                raise UsageError(f"checkpoint seq={seq!r} for ({node_id!r}, {topic!r}): expected 0..2**64-1")
            key = keys.checkpoint_key(name, keys.stream_key(node_id, topic))
            items.append((key, msgpack.packb([node_id, topic, seq])))
        with self.journal.transaction(write=True) as txn:
            for key, value in items:
                txn.put(key, value, db=db)

    def load(self, name: str) -> dict[Stream, int]:
        """Return ``{(node_id, topic): watermark}`` of durable subscription ``name`` (empty if new).

        Raises:
            UsageError: ``name`` is empty or over 255 UTF-8 bytes.
            JournalError: the journal is closed or LMDB failed.
        """
        prefix = keys.checkpoint_prefix(name)
        out: dict[Stream, int] = {}
        with self.journal.transaction() as txn:
            cursor = txn.cursor(db=self.journal.db("checkpoints"))
            ok = cursor.set_range(prefix)
            while ok and cursor.key().startswith(prefix):
                node_id, topic, seq = msgpack.unpackb(cursor.value(), raw=False)
                out[(node_id, topic)] = seq
                ok = cursor.next()
        return out

    def names(self) -> list[str]:
        """Return every durable name with a checkpoint, ordered by UTF-8 length, then bytes."""
        out: list[str] = []
        with self.journal.transaction() as txn:
            for key in txn.cursor(db=self.journal.db("checkpoints")).iternext(values=False):
                name, _ = keys.parse_checkpoint_key(key)
                if not out or out[-1] != name:
                    out.append(name)
        return out

    def delete(self, name: str) -> int:
        """Forget every checkpoint of durable subscription ``name``; return how many were deleted.

        Raises:
            UsageError: ``name`` is empty or over 255 UTF-8 bytes.
            JournalError: the journal is closed or LMDB failed.
        """
        prefix = keys.checkpoint_prefix(name)
        deleted = 0
        with self.journal.transaction(write=True) as txn:
            cursor = txn.cursor(db=self.journal.db("checkpoints"))
            ok = cursor.set_range(prefix)
            while ok and cursor.key().startswith(prefix):
                cursor.delete()  # moves to the next entry
                deleted += 1
                ok = cursor.key() != b""
        return deleted
