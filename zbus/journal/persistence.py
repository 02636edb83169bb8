"""Persistence: a node's LMDB journal and its group committer, switched on by ``persistence.enabled``.

The node appends the exact wire frames of every event it publishes and sends them only once they
are committed (write-ahead), so they can be replayed (``Node.replay``, REPLAY) and re-sent to
subscribers that missed them (REPAIR), and a restart continues the sequences. Retention runs in
the background. All LMDB work happens on the committer's one writer thread: the event loop never
waits for a commit, an fsync or a read (DESIGN §7, STYLE rule 14).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from ..codec import wire
from ..config import PersistenceConfig
from ..errors import JournalFullError, WireError, WouldBlockError
from ..model.event import Event
from ..model.topics import compile_pattern
from ..observe.statistics import JournalObservation
from ..store import GroupCommitter, Journal, sweep
from ..store.journal import RecordLike
from ..tasks import TaskGroup

__all__ = ["Identity", "Persistence", "replay_events"]

#: journal records read per writer-thread call when replaying or serving history: big enough to
#: amortise the thread hop, small enough that other journal work is never held up long (no tuning)
READ_CHUNK = 2000
#: seconds ``close`` waits for committed events to go out before it closes the journal anyway; a
#: shutdown bound, not a tuning knob (what is left unsent stays in the journal for repair)
CLOSE_DRAIN_TIMEOUT = 5.0
log = logging.getLogger("zbus")
T = TypeVar("T")
_Record = tuple[str, str, int, int, float, list[bytes]]  # (node_id, topic, seq, epoch, ts, frames)


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who the node is, as its journal knows it (see :meth:`Persistence.open`)."""

    node_id: str
    epoch: int
    seqs: dict[str, int]


class Persistence:
    """The journal of one node (``zbus.store``), built open by :meth:`open`, closed by :meth:`close`."""

    def __init__(
        self,
        config: PersistenceConfig,
        path: Path,
        journal: Journal,
        send: Callable[[str, int, list[bytes]], Awaitable[None]],
    ) -> None:
        """Use :meth:`open`; this wires an already opened journal (its writer thread starts here)."""
        self.config = config
        self.path = path
        self._journal = journal
        self._ready: deque[_Record] = deque()  # committed, to send
        self._sent = 0  # events the sender has handed to the transport
        self._queued: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.set_result(None)  # what append returns when it did not have to wait
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._sweep_now = asyncio.Event()
        self.unsent_failed = 0  # events not journaled (full map), hence not sent
        self.send_failed = 0  # journaled events whose send raised (logged; repair can still serve them)
        self.swept = 0  # events deleted by retention
        self._committer = GroupCommitter(
            journal,
            batch_size=config.batch_size,
            flush_interval=config.flush_interval,
            on_committed=self._committed,
            on_error=self._failed,
        )
        self._closed = False
        self._tasks = TaskGroup("journal")
        self._tasks.spawn(self._send_loop(send), "journal-sender")
        self._tasks.spawn(self._sweep_loop(), "retention")

    @classmethod
    async def open(
        cls,
        config: PersistenceConfig,
        node_name: str,
        *,
        candidate_id: str,
        epoch: int,
        send: Callable[[str, int, list[bytes]], Awaitable[None]],
    ) -> tuple[Persistence, Identity]:
        """Open (or create) node ``node_name``'s journal and start its writer thread.

        Events given to :meth:`append` are handed to ``send(topic, seq, frames)`` once committed, in
        order: a kill -9 can never leave a sent event out of the journal, so a restart continues the
        sequences without reusing a number a subscriber has already seen.

        Returns the persistence and the node's identity as the journal knows it: the node id
        (``candidate_id`` on first use, the stored one after), a new epoch greater than every earlier
        one (at least ``epoch``), and the last sequence number of each of the node's topics.

        Raises:
            JournalError: the journal cannot be opened (the message names the path).
        """
        path = config.journal_path(node_name)

        def opened() -> tuple[Journal, Identity]:
            journal = Journal(path, map_size=config.map_size, durability=config.durability)
            try:
                node_id = journal.node_id(candidate_id)
                new_epoch = journal.next_epoch(at_least=epoch)
                seqs = {topic: seq for (nid, topic), seq in journal.stream_heads().items() if nid == node_id}
            except BaseException:
                journal.close()
                raise
            return journal, Identity(node_id=node_id, epoch=new_epoch, seqs=seqs)

        journal, identity = await asyncio.get_running_loop().run_in_executor(None, opened)
        return cls(config, path, journal, send), identity

    async def _sweep_loop(self) -> None:
        """Apply retention every ``retention.sweep_interval`` s, and at once when the map is full."""
        retention = self.config.retention
        while True:
            with contextlib.suppress(TimeoutError):  # (asyncio.timeout: see observe() on wait_for)
                async with asyncio.timeout(retention.sweep_interval):
                    await self._sweep_now.wait()
            self._sweep_now.clear()
            try:
                result = await self.sweep()
            except Exception as exc:  # a full map that even deletions cannot fix, or a closed journal
                log.warning("journal retention sweep failed: %s", exc)
                continue
            if not result.complete:
                self._sweep_now.set()  # more to delete: go on after letting writers in

    async def sweep(self) -> Any:
        """Apply retention now (age, topic prefix, size); returns ``zbus.store.SweepResult``."""
        retention = self.config.retention
        result = await self._committer.run(lambda journal: sweep(journal, time.time(), retention))
        self.swept += result.deleted
        if result.deleted:
            self._committer.space_freed()
            log.info("journal retention deleted %d event(s)", result.deleted)
        return result

    def append(
        self, node_id: str, topic: str, seq: int, epoch: int, ts: float, frames: list[bytes], *, durable: bool
    ) -> Awaitable[None]:
        """Journal one published event and return what to await: an already completed future when
        the writer had room (the common case: no coroutine, no wait); else a wait for room, or, with
        ``durable``, until the event's batch is committed (fsynced under ``durability = "sync"``).
        The event is sent once committed (write-ahead).

        Raises (from the call or the await):
            JournalFullError: the map is full (raise persistence.map_size or shorten retention).
        """
        record = (node_id, topic, seq, epoch, ts, frames)
        if not durable:
            try:
                # the frames were just encoded and checked by the node: no shape check again
                committer = self._committer
                committer.submit(record, trusted=True)
                # a publisher that never has to wait would never let the sender run: committed events
                # would pile up unsent until max_pending; so once some are committed, it waits for them
                return self._queued if committer.committed == self._sent else self._let_sender_run()
            except WouldBlockError:
                pass  # the writer is backlogged: _wait_and_append waits for room
            except JournalFullError:
                self._sweep_now.set()  # retention may make room; the publisher gets the error meanwhile
                raise
        return self._wait_and_append(record, durable)

    async def _let_sender_run(self) -> None:
        """Wait until the events committed so far are sent (the writer thread has moved on meanwhile)."""
        target = self._committer.committed
        while self._sent < target and not self._closed:
            self._idle.clear()
            await self._idle.wait()

    async def _wait_and_append(self, record: RecordLike, durable: bool) -> None:
        try:
            waiter = await self._committer.put(record, durable=durable)
        except JournalFullError:
            self._sweep_now.set()
            raise
        if waiter is not None:
            await waiter

    # -- write-ahead sending: an event leaves the node only once it is in the journal ----------------------
    def _committed(self, records: list[RecordLike]) -> None:
        """A batch committed (called on the loop, in order): send its events."""
        self._ready.extend(cast("list[_Record]", records))  # the tuples append() made
        self._idle.clear()
        self._wake.set()

    def _failed(self, error: Exception, count: int) -> None:
        """A batch failed (full map): its events are not sent; counted and logged, never silent."""
        self.unsent_failed += count
        self._sweep_now.set()
        log.error("%d published event(s) were not journaled and not sent: %s", count, error)

    async def _send_loop(self, send: Callable[[str, int, list[bytes]], Awaitable[None]]) -> None:
        ready = self._ready
        while True:
            await self._wake.wait()
            self._wake.clear()
            while ready:
                _, topic, seq, _, _, frames = ready.popleft()
                try:
                    await send(topic, seq, frames)
                except Exception as exc:  # the sender must live on: publishers wait for it (append)
                    self.send_failed += 1  # journaled, so a subscriber's repair can still fetch it
                    log.error("a journaled event (%s seq %d) could not be sent: %s", topic, seq, exc)
                finally:
                    self._sent += 1
            self._idle.set()

    async def drain(self) -> None:
        """Wait until every appended event is committed and sent (used on close)."""
        await self._committer.flush()  # its completion follows every on_committed callback
        while self._ready:
            await self._idle.wait()

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

    async def read_range(self, node_id: str, topic: str, first: int, last: int) -> list[list[bytes]]:
        """One stream's journaled events ``first..last`` (wire frames), read on the writer thread
        after everything submitted before this call is committed."""
        return await self._committer.run(
            lambda journal: journal.read_range(node_id, topic, first, last, limit=last - first + 1)
        )

    async def stream_heads(self) -> dict[tuple[str, str], int]:
        """The last journaled sequence of every stream: ``{(node_id, topic): seq}``."""
        return await self._committer.run(lambda journal: journal.stream_heads())

    async def first_seq_since(self, node_id: str, topic: str, since: float) -> int | None:
        """The first journaled sequence of stream (``node_id``, ``topic``) stamped at or after ``since``."""

        def find(journal: Any) -> int | None:
            for frames in journal.read_since(since, topic_prefix=topic):
                event = wire.decode(frames, max_message_size=2**62)
                if event._topic == topic and event._node_id == node_id:
                    return event._seq
            return None

        return await self._committer.run(find)

    async def run(self, fn: Callable[[Journal], T]) -> T:
        """Run ``fn(journal)`` on the writer thread (checkpoints, dead letters, sweeps)."""
        return await self._committer.run(fn)

    def queue(self, fn: Callable[[Journal], T]) -> asyncio.Future[T]:
        """Queue ``fn(journal)`` on the writer thread now, without waiting (recordings): it runs after
        everything queued before this call and before everything queued after it.

        Raises:
            ClosedError: the journal is closing.
        """
        return self._committer.run(fn)

    def sweep_soon(self) -> None:
        """Apply retention now rather than at the next interval (a writer saw the map full)."""
        self._sweep_now.set()

    async def observe(self, timeout: float) -> JournalObservation:
        """The journal's numbers for /health and the dashboard; read on the writer thread, so a writer
        busy with a huge batch for longer than ``timeout`` seconds reports an error, not a hang."""
        committer = self._committer
        c = committer.statistics()
        numbers: dict[str, Any] = {
            "path": str(self.path),
            "pending": c.pending,
            "committed": c.committed,
            "batches": c.batches,
            "failed": c.failed,
        }
        error = ""
        try:
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for can swallow a cancellation that arrives
            # as the read completes, and a caller being closed would then never end
            async with asyncio.timeout(timeout):
                stats = await committer.run(lambda journal: journal.statistics())
            numbers.update(
                events=stats.events,
                bytes=stats.bytes,
                oldest_ts=stats.oldest_ts,
                newest_ts=stats.newest_ts,
                streams=stats.streams,
                map_used=stats.map_used,
                map_size=stats.map_size,
                corrupt_records=stats.corrupt_records,
            )
        except Exception as exc:  # a closed or failing journal is reported, not raised
            error = f"{type(exc).__name__}: {exc}"
        return JournalObservation(numbers=numbers, full=bool(c.full), error=error)

    async def flush(self) -> None:
        """Commit and send what is pending (at most ``CLOSE_DRAIN_TIMEOUT`` seconds; then warn)."""
        try:
            async with asyncio.timeout(CLOSE_DRAIN_TIMEOUT):
                await self.drain()
        except TimeoutError:
            log.warning(
                "closing the journal with %d event(s) unsent", len(self._ready) + self._committer.pending
            )

    async def close(self) -> None:
        """Commit and send what is pending, then close the journal. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.flush()
        await self._tasks.close()
        self._idle.set()  # a publisher waiting for the sender gives up (what is left stays journaled)
        await self._committer.close()
        self._journal.close()


async def replay_events(
    persistence: Persistence,
    pattern: str,
    *,
    since: float | None,
    last: int | None,
    from_seq: int | None = None,
) -> AsyncIterator[Event]:
    """The journaled events matching ``pattern`` (see ``Node.replay``), oldest first."""
    compiled = compile_pattern(pattern)
    prefix = compiled.prefix.rstrip(".") or None  # pattern prefixes end on a token boundary
    tails: dict[str, deque[Event]] = {}
    everything = pattern == "**"
    async for chunk in persistence.read_since(since or 0.0, prefix):
        events: Iterable[Event]
        try:
            events = wire.decode_many(chunk, max_message_size=2**62)  # the whole chunk in one call
        except WireError:  # one bad record: decoded one by one, so what comes before it is still yielded
            events = _decoded_one_by_one(chunk)
        for event in events:
            if not everything and not compiled.matches(event._topic):
                continue
            if from_seq is not None and event._seq < from_seq:
                continue
            if last is None:
                yield event
            else:
                tails.setdefault(event._topic, deque(maxlen=last)).append(event)
    if last is not None:
        for event in sorted((e for tail in tails.values() for e in tail), key=lambda e: (e.ts, e.seq)):
            yield event


def _decoded_one_by_one(chunk: list[list[bytes]]) -> Iterator[Event]:
    for frames in chunk:
        yield wire.decode(frames, max_message_size=2**62)
