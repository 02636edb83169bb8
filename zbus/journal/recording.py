"""Recordings: other publishers' events kept in this node's journal, under their original streams.

``Node.record(*patterns)`` is a durable subscription (named by :func:`recording_name`) whose handler,
:meth:`Recorder.keep`, writes each event's wire frames to the journal with its publisher's node id,
topic, sequence number and epoch, exactly as that publisher's own journal would hold it. So the
recording is replayed like a publisher's journal: ``zbus replay`` reads it offline, and the node answers
REPLAY/REPAIR for those streams (``History`` with an ``origin``), which ``subscribe(replay=...)`` uses for
publishers it cannot ask any more. Retention applies to recorded events like to any other.

Theory of operation. ``keep`` never waits: it adds the record to a pending batch and, when no write is
queued, queues one on the journal's writer thread (``Persistence.queue``), which takes every record pending
when it runs. Writer-thread calls run in order, so the write holding an event is queued before the
handler returns, hence before any checkpoint that counts that event (checkpoints go through the same
queue): after a kill -9 the durable subscription resumes at or before the first event not written, and
a re-delivered event is skipped (appends are idempotent per stream and sequence). A write that fails
(a full map) keeps its records for the next write and makes ``keep`` raise ``JournalFullError`` until a
write succeeds, so the dispatcher retries those events and dead-letters them if it never can: loud,
never silent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Sequence

from ..codec import wire
from ..errors import JournalFullError
from ..model.event import Event
from ..store import Journal, JournalRecord
from .persistence import Persistence

__all__ = ["Recorder", "recording_name"]

log = logging.getLogger("zbus")
#: seconds between retries of a failed recording write (the full map that failed it triggers retention)
RETRY_WRITE = 1.0


def recording_name(patterns: Sequence[str]) -> str:
    """The durable subscription name of the recording of ``patterns`` (order and repeats ignored):
    ``record:`` + the sorted patterns, or a digest of them when that would be longer than 200 bytes."""
    name = "record:" + " ".join(sorted(set(patterns)))
    if len(name.encode()) <= 200:
        return name
    return "record:" + hashlib.blake2b(name.encode(), digest_size=16).hexdigest()


class Recorder:
    """Writes the events a recording hears to the journal, in batches (see the module docstring)."""

    def __init__(self, persistence: Persistence) -> None:
        self._persistence = persistence
        self._lock = threading.Lock()  # the pending batch is shared with the writer thread
        self._pending: list[JournalRecord] = []
        self._queued = False  # a write is queued and has not taken the pending records yet
        self._failing: BaseException | None = None
        self.recorded = 0  # events written
        self.failed_writes = 0

    def keep(self, event: Event) -> None:
        """Record ``event`` (the handler of the recording subscription).

        Raises:
            JournalFullError: the last write failed (full map); the event is retried by the dispatcher.
        """
        if self._failing is not None:
            raise JournalFullError(f"the recording cannot write to its journal: {self._failing}")
        frames = wire.encode(event, node_id=event._node_id, seq=event._seq, epoch=event._epoch)
        record = JournalRecord(event._node_id, event._topic, event._seq, event._epoch, event._ts, frames)
        with self._lock:
            self._pending.append(record)
            if self._queued:
                return  # the queued write has not run yet: it takes this record too
            self._queued = True
        future = self._persistence.queue(self._write)
        future.add_done_callback(self._written)

    def _write(self, journal: Journal) -> int:
        """On the writer thread: append every pending record in one transaction."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._queued = False
        try:
            journal.append_batch(batch)
        except BaseException:
            with self._lock:
                self._pending[:0] = batch  # kept for the next write, in order
            raise
        return len(batch)

    def _written(self, future: asyncio.Future[int]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            self.recorded += future.result()
            self._failing = None
            return
        self.failed_writes += 1
        if self._failing is None:
            log.error("a recording could not write to its journal (events kept, retried): %s", error)
        self._failing = error
        self._persistence.sweep_soon()
        with self._lock:
            retry = bool(self._pending) and not self._queued
            self._queued = self._queued or retry
        if retry:  # try again after the retention sweep the full map triggers (each write waits its turn)
            asyncio.get_running_loop().call_later(RETRY_WRITE, self._retry)

    def _retry(self) -> None:
        try:
            future = self._persistence.queue(self._write)
        except Exception as exc:  # the journal is closing: what is pending is lost with the node's exit
            log.error("a recording lost %d pending event(s): %s", len(self._pending), exc)
            return
        future.add_done_callback(self._written)
