"""Group commit: batch journal writes by count or time on one writer thread, off the event loop.

Theory of operation
-------------------
The asyncio side only appends to a bounded in-memory list under a short lock; it never waits for LMDB.
One dedicated writer thread takes everything pending when :class:`FlushPolicy` says a batch is due
(``batch_size`` records pending, or ``flush_interval`` seconds since the first of them), commits it as one
LMDB transaction and completes the batch's futures on the loop with ``call_soon_threadsafe``.

Rule 1: a record is committed at most once, and records commit in submission order.
Rule 2: functions given to :meth:`GroupCommitter.run` run on the writer thread after every record submitted
before them is committed, so checkpoints and dead letters never overtake the events they refer to.
Rule 3: a full map fails the batch (its futures raise :class:`JournalFullError`, ``on_error`` is told how
many records were lost) and then :meth:`GroupCommitter.submit` raises JournalFullError at once until
``full_retry_interval`` has passed or :meth:`GroupCommitter.space_freed` is called; the next batch is the
probe. Nothing half-written ever reaches the journal (Journal aborts the transaction).
Rule 4: at most ``max_pending`` records wait (pending plus in flight); past that, ``submit`` raises
WouldBlockError and ``await put(...)`` waits for room.

Durability (``journal.durability``): ``"sync"``: the environment fsyncs every commit, so a batch's futures
complete only once it is on disk. ``"async"``: commits are not fsynced; the writer fsyncs at most every
``async_sync_interval`` seconds after a batch (off the hot path) and on close. ``"none"``: never fsyncs;
the OS writes pages back when it likes. All three survive a process crash; only ``"sync"`` survives power
loss without losing committed batches.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from zbus.errors import ClosedError, JournalError, JournalFullError, WouldBlockError

from .journal import Journal, RecordLike
from .records import check_record

__all__ = ["CommitterStatistics", "FlushPolicy", "GroupCommitter"]

log = logging.getLogger("zbus")
T = TypeVar("T")
_Settle = tuple["asyncio.Future[Any]", Any, BaseException | None]


class FlushPolicy:
    """When a batch is due and when to fsync. Pure: the caller passes ``now`` (monotonic seconds).

    Args:
        batch_size: flush as soon as this many records are pending (``persistence.batch_size``).
        flush_interval: flush at most this many seconds after the first pending record arrived
            (``persistence.flush_interval``); 0 flushes at once.
        durability: ``"none"``, ``"async"`` or ``"sync"``.
        async_sync_interval: under ``"async"``, the least seconds between two background fsyncs.
    """

    __slots__ = ("async_sync_interval", "batch_size", "durability", "flush_interval")

    def __init__(
        self, *, batch_size: int, flush_interval: float, durability: str, async_sync_interval: float = 1.0
    ) -> None:
        self.batch_size = max(1, batch_size)
        self.flush_interval = max(0.0, flush_interval)
        self.durability = durability
        self.async_sync_interval = async_sync_interval

    def due_in(self, pending: int, first_at: float | None, now: float) -> float | None:
        """Return ``None`` if nothing is pending, 0.0 if a batch is due, else the seconds until it is."""
        if pending <= 0 or first_at is None:
            return None
        if pending >= self.batch_size:
            return 0.0
        return max(0.0, first_at + self.flush_interval - now)

    def fsync_due(self, last_sync: float, now: float) -> bool:
        """Return whether the writer should fsync after a commit (only ever under ``"async"``)."""
        return self.durability == "async" and now - last_sync >= self.async_sync_interval


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitterStatistics:
    """A snapshot of a :class:`GroupCommitter`.

    Attributes:
        pending: records submitted and not yet committed or failed (waiting plus in flight).
        committed: records committed since start.
        batches: transactions committed since start.
        failed: records whose batch failed (lost from the journal, not from the wire).
        fsyncs: background fsyncs done (``"async"`` durability).
        full: whether ``submit`` currently refuses records because the map was full.
    """

    pending: int
    committed: int
    batches: int
    failed: int
    fsyncs: int
    full: bool


def _settle_all(items: list[_Settle]) -> None:
    for fut, result, exc in items:
        if fut.done():
            continue  # the caller cancelled it (a timeout around the await)
        if exc is None:
            fut.set_result(result)
        else:
            fut.set_exception(exc)


class GroupCommitter:
    """Batches journal appends on one writer thread; create it inside the running event loop.

    Args:
        journal: an open, writable :class:`~.journal.Journal` (not closed by the committer).
        batch_size: see :class:`FlushPolicy`; the seed default is 100 records.
        flush_interval: see :class:`FlushPolicy`; the seed default is 0.1 s.
        max_pending: the most records waiting or in flight; default 10,000.
        async_sync_interval: see :class:`FlushPolicy`; default 1 s.
        full_retry_interval: seconds ``submit`` keeps refusing after a full map before trying again; 1 s.
        on_error: called on the loop with ``(error, records_lost)`` when a batch fails; default logs.
        on_committed: called on the loop with the records of each committed batch, in submission
            order and before the batch's futures complete (write-ahead senders use it).
        clock: monotonic seconds; injectable for tests.

    Raises:
        RuntimeError: no event loop is running.
    """

    def __init__(
        self,
        journal: Journal,
        *,
        batch_size: int = 100,
        flush_interval: float = 0.1,
        max_pending: int = 10_000,
        async_sync_interval: float = 1.0,
        full_retry_interval: float = 1.0,
        on_error: Callable[[JournalError, int], None] | None = None,
        on_committed: Callable[[list[RecordLike]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.journal = journal
        self.policy = FlushPolicy(
            batch_size=batch_size,
            flush_interval=flush_interval,
            durability=journal.durability,
            async_sync_interval=async_sync_interval,
        )
        self.max_pending = max_pending
        self.full_retry_interval = full_retry_interval
        self._on_error = on_error or self._log_error
        self._on_committed = on_committed
        self._clock = clock
        self._lock = threading.Lock()  # taken directly on the hot path (Condition's own __enter__ is Python)
        self._cond = threading.Condition(self._lock)
        self._records: list[RecordLike] = []
        self._waiters: list[asyncio.Future[Any]] = []  # of the records in _records
        self._calls: list[tuple[Callable[[Journal], Any], asyncio.Future[Any]]] = []
        self._first_at: float | None = None
        self._in_flight = 0
        self._closing = False
        self._full: JournalFullError | None = None
        self._full_at = 0.0
        self._room = asyncio.Event()
        self._stopped: asyncio.Future[None] = self._loop.create_future()
        self._committed = self._batches = self._failed = self._fsyncs = 0
        self._thread = threading.Thread(target=self._run, name="zbus-journal-writer", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        state = "closing" if self._closing else "running"
        return f"<zbus.store.GroupCommitter {str(self.journal.path)!r} {state} pending={self.pending}>"

    @property
    def committed(self) -> int:
        """Records committed since start (updated by the writer thread as each batch commits, before
        ``on_committed`` is called for it on the loop)."""
        return self._committed

    @property
    def pending(self) -> int:
        """Records submitted and not yet committed or failed."""
        return len(self._records) + self._in_flight

    def statistics(self) -> CommitterStatistics:
        """Return a :class:`CommitterStatistics` snapshot."""
        return CommitterStatistics(
            pending=self.pending,
            committed=self._committed,
            batches=self._batches,
            failed=self._failed,
            fsyncs=self._fsyncs,
            full=self._full is not None,
        )

    # -- loop side ------------------------------------------------------------------------------------

    def _admit(self, record: RecordLike, trusted: bool = False) -> None:
        if not trusted:
            check_record(record)
        if self._closing:
            raise ClosedError(f"the journal committer for {self.journal.path} is closed; start a new one")
        full = self._full
        if full is not None:
            if self._clock() - self._full_at < self.full_retry_interval:
                raise JournalFullError(str(full))
            self._full = None  # let the next batch probe whether space came back
        if len(self._records) + self._in_flight >= self.max_pending:
            raise WouldBlockError(
                f"{self.max_pending} journal writes are pending (max_pending); the disk is slower than the "
                "publish rate: await put() to wait, or raise persistence.batch_size"
            )

    def submit(self, record: RecordLike, *, trusted: bool = False) -> None:
        """Queue ``record`` for the next batch; never waits. ``trusted`` skips the shape check, for
        records the caller built from values it already validated (the node's own publishes).

        Raises:
            UsageError: the record is malformed (see :func:`~.records.check_record`).
            JournalFullError: the map was full at the last batch; shorten retention or wait and retry.
            WouldBlockError: ``max_pending`` records are waiting; use :meth:`put` to wait for room.
            ClosedError: :meth:`close` was called.
        """
        with self._lock:
            self._admit(record, trusted)
            self._enqueue(record)

    def submit_durable(self, record: RecordLike) -> asyncio.Future[None]:
        """Like :meth:`submit`, and return a future that completes when the record's batch is committed.

        Under ``"sync"`` durability that means fsynced. Awaiting it raises the batch's JournalError
        (JournalFullError if the map filled up). Cancelling it does not un-queue the record.

        Raises:
            UsageError, JournalFullError, WouldBlockError, ClosedError: as :meth:`submit`.
        """
        fut: asyncio.Future[None] = self._loop.create_future()
        with self._cond:
            self._admit(record)
            self._waiters.append(fut)
            self._enqueue(record)
            self._cond.notify()  # due now (see _take)
        return fut

    def _enqueue(self, record: RecordLike) -> None:
        self._records.append(record)
        if self._first_at is None:
            self._first_at = self._clock()
            self._cond.notify()
        elif len(self._records) == self.policy.batch_size:
            self._cond.notify()

    async def put(self, record: RecordLike, *, durable: bool = False) -> asyncio.Future[None] | None:
        """Submit ``record``, waiting while ``max_pending`` records are pending (backpressure).

        Returns:
            the :meth:`submit_durable` future if ``durable``, else ``None``.

        Raises:
            UsageError, JournalFullError, ClosedError: as :meth:`submit`.
        """
        while True:
            try:
                if durable:
                    return self.submit_durable(record)
                self.submit(record)
                return None
            except WouldBlockError:
                self._room.clear()
                await self._room.wait()

    def run(self, fn: Callable[[Journal], T]) -> asyncio.Future[T]:
        """Run ``fn(journal)`` on the writer thread, after every record submitted so far is committed.

        Use it for blocking journal work from the loop: checkpoints, dead letters, retention sweeps.

        Returns:
            a future with ``fn``'s result or exception.

        Raises:
            ClosedError: :meth:`close` was called.
        """
        fut: asyncio.Future[T] = self._loop.create_future()
        with self._cond:
            if self._closing:
                raise ClosedError(f"the journal committer for {self.journal.path} is closed; start a new one")
            self._calls.append((fn, fut))
            self._cond.notify()
        return fut

    async def flush(self) -> None:
        """Commit everything submitted so far now, without waiting for the policy, and wait for it.

        Failed batches do not raise here; their futures and ``on_error`` report them.
        """
        await self.run(lambda journal: None)

    def space_freed(self) -> None:
        """Accept records again at once after a full map (call it after retention deleted events)."""
        self._full = None

    async def close(self) -> None:
        """Commit what is pending, fsync unless durability is ``"none"``, and stop the writer thread.

        Idempotent. The journal stays open: close it afterwards.
        """
        with self._cond:
            self._closing = True
            self._cond.notify()
        await asyncio.shield(self._stopped)
        self._thread.join(timeout=1.0)  # it has already left its loop: this returns at once

    # -- writer thread --------------------------------------------------------------------------------

    def _log_error(self, exc: JournalError, lost: int) -> None:
        log.error("journal write of %d events failed: %s", lost, exc)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass

    def _take(self) -> tuple[list[RecordLike], list[asyncio.Future[Any]], Any]:
        """Wait for work; return (records, waiters, call). Called with the condition held."""
        while True:
            due = self.policy.due_in(len(self._records), self._first_at, self._clock())
            # a durable waiter makes the batch due at once: its publisher is waiting for the commit,
            # and whatever arrives while this commit runs joins the next one (group commit)
            if self._records and (due == 0.0 or self._waiters or self._calls or self._closing):
                records, waiters = self._records, self._waiters
                self._records, self._waiters, self._first_at = [], [], None
                self._in_flight = len(records)
                return records, waiters, None
            if self._calls:
                return [], [], self._calls.pop(0)
            if self._closing:
                return [], [], None
            self._cond.wait(due)

    def _run(self) -> None:
        last_sync = self._clock()
        try:
            while True:
                with self._cond:
                    records, waiters, call = self._take()
                if records:
                    self._commit(records, waiters)
                    if self.policy.fsync_due(last_sync, self._clock()):
                        last_sync = self._clock()
                        self._fsync()
                elif call is not None:
                    fn, fut = call
                    try:
                        self._post(_settle_all, [(fut, fn(self.journal), None)])
                    except BaseException as exc:
                        self._post(_settle_all, [(fut, None, exc)])
                else:
                    break
            if self.journal.durability != "none" and not self.journal.closed:
                self._fsync()
        finally:
            self._post(_settle_all, [(self._stopped, None, None)])

    def _commit(self, records: list[RecordLike], waiters: list[asyncio.Future[Any]]) -> None:
        error: Exception | None = None
        try:
            self.journal.append_batch(records, checked=True)  # each was checked (or trusted) at submit
        except Exception as exc:  # JournalError, or UsageError for a malformed record: fail the batch
            error = exc
        with self._cond:
            self._in_flight = 0
            if error is None:
                self._committed += len(records)
                self._batches += 1
            else:
                self._failed += len(records)
                if isinstance(error, JournalFullError):
                    self._full, self._full_at = error, self._clock()
        if error is not None:  # reported before the waiters wake, so they can rely on it
            journal_error = error if isinstance(error, JournalError) else JournalError(str(error))
            self._post(self._on_error, journal_error, len(records))
        elif self._on_committed is not None:
            self._post(self._on_committed, records)
        settle: list[_Settle] = [(fut, None, error) for fut in waiters]
        self._post(_settle_all, settle)
        self._post(self._room.set)

    def _fsync(self) -> None:
        try:
            self.journal.sync()
            self._fsyncs += 1
        except JournalError as exc:
            log.warning("journal fsync failed: %s", exc)
