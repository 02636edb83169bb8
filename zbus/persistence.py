"""Persistence: a node's LMDB journal and its group committer, switched on by ``persistence.enabled``.

The node appends the exact wire frames of every event it publishes (before sending them), so they
can be replayed later (``Node.replay``) and, with the repair protocol still to come, re-sent to
subscribers that missed them. All LMDB work happens on the committer's one writer thread: the
event loop never waits for a commit, an fsync or a read (DESIGN §7, STYLE rule 14).
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from . import wire
from .config import PersistenceConfig
from .errors import WouldBlockError
from .event import Event
from .topics import compile_pattern

__all__ = ["Persistence", "replay_events"]

READ_CHUNK = 2000


class Persistence:
    """The journal of one node (``zbus.store``), opened in :meth:`open`, closed in :meth:`close`."""

    def __init__(self, config: PersistenceConfig, node_name: str) -> None:
        self.config = config
        self.path = config.journal_path(node_name)
        # zbus.store lives in the top-level store/ folder, installed as a subpackage: import by name
        self._store: Any = importlib.import_module("zbus.store")
        self._journal: Any = None
        self._committer: Any = None

    async def open(self) -> None:
        """Open (or create) the journal and start its writer thread.

        Raises:
            JournalError: the journal cannot be opened (the message names the path).
        """
        c = self.config
        loop = asyncio.get_running_loop()
        self._journal = await loop.run_in_executor(
            None, lambda: self._store.Journal(self.path, map_size=c.map_size, durability=c.durability)
        )
        self._committer = self._store.GroupCommitter(
            self._journal, batch_size=c.batch_size, flush_interval=c.flush_interval
        )

    async def append(
        self, node_id: str, topic: str, seq: int, epoch: int, ts: float, frames: list[bytes], *, durable: bool
    ) -> None:
        """Journal one published event; waits only when the writer is backlogged, or, with
        ``durable``, until the event's batch is committed (fsynced under ``durability = "sync"``).

        Raises:
            JournalFullError: the map is full (raise persistence.map_size or shorten retention).
        """
        record = self._store.JournalRecord(node_id, topic, seq, epoch, ts, frames)
        if not durable:
            try:
                self._committer.submit(record)  # the common case: no coroutine, no wait
                return
            except WouldBlockError:
                pass  # the writer is backlogged: put() below waits for room
        waiter = await self._committer.put(record, durable=durable)
        if waiter is not None:
            await waiter

    async def read_since(self, since: float, topic_prefix: str | None) -> AsyncIterator[list[list[bytes]]]:
        """Yield journaled events (as wire frames) from ``since`` on, oldest first, in chunks read on
        the writer thread; the next chunk is read while the caller works through the current one."""
        journal = self._journal
        iterator = journal.read_since(since, topic_prefix=topic_prefix)

        def read_chunk(_journal: Any) -> list[list[bytes]]:
            return list(itertools.islice(iterator, READ_CHUNK))

        pending: asyncio.Future[list[list[bytes]]] = self._committer.run(read_chunk)
        while True:
            chunk = await pending
            if len(chunk) == READ_CHUNK:
                pending = self._committer.run(read_chunk)  # prefetch: overlaps the caller's decoding
            yield chunk
            if len(chunk) < READ_CHUNK:
                return

    async def close(self) -> None:
        """Commit what is pending and close the journal."""
        if self._committer is not None:
            await self._committer.close()
            self._committer = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None


async def replay_events(
    persistence: Persistence, pattern: str, *, since: float | None, last: int | None
) -> AsyncIterator[Event]:
    """The journaled events matching ``pattern`` (see ``Node.replay``), oldest first."""
    compiled = compile_pattern(pattern)
    prefix = compiled.prefix.rstrip(".") or None  # pattern prefixes end on a token boundary
    tails: dict[str, deque[Event]] = {}
    everything = pattern == "**"
    decode = wire.decode
    async for chunk in persistence.read_since(since or 0.0, prefix):
        for frames in chunk:
            event = decode(frames, max_message_size=2**62)
            if not everything and not compiled.matches(event._topic):
                continue
            if last is None:
                yield event
            else:
                tails.setdefault(event._topic, deque(maxlen=last)).append(event)
    if last is not None:
        for event in sorted((e for tail in tails.values() for e in tail), key=lambda e: (e.ts, e.seq)):
            yield event
