"""GroupCommitter: the pure flush policy, then real writer threads on a real event loop and LMDB."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import MiB, make_record

from zbus.config import RetentionConfig
from zbus.errors import ClosedError, JournalError, JournalFullError, UsageError, WouldBlockError
from zbus.store.commit import FlushPolicy, GroupCommitter
from zbus.store.journal import Journal
from zbus.store.retention import sweep
from zbus.testing import eventually

WAIT = 10.0  # generous bound for anything the writer thread must do


def test_policy_by_count_and_time() -> None:
    p = FlushPolicy(batch_size=3, flush_interval=0.5, durability="none")
    assert p.due_in(0, None, 10.0) is None
    assert p.due_in(1, 10.0, 10.1) == pytest.approx(0.4)
    assert p.due_in(2, 10.0, 10.6) == 0.0
    assert p.due_in(3, 10.0, 10.0) == 0.0
    assert FlushPolicy(batch_size=100, flush_interval=0, durability="none").due_in(1, 5.0, 5.0) == 0.0


def test_policy_fsync_only_under_async() -> None:
    assert FlushPolicy(batch_size=1, flush_interval=0, durability="async").fsync_due(0.0, 1.0)
    assert not FlushPolicy(batch_size=1, flush_interval=0, durability="async").fsync_due(0.5, 1.0)
    assert not FlushPolicy(batch_size=1, flush_interval=0, durability="none").fsync_due(0.0, 99.0)
    assert not FlushPolicy(batch_size=1, flush_interval=0, durability="sync").fsync_due(0.0, 99.0)


@asynccontextmanager
async def committer(
    tmp_path: Path, *, durability: str = "none", map_size: int = 16 * MiB, **kwargs: Any
) -> AsyncIterator[GroupCommitter]:
    journal = Journal(tmp_path / "j", map_size=map_size, durability=durability)
    c = GroupCommitter(journal, **kwargs)
    try:
        yield c
    finally:
        await asyncio.wait_for(c.close(), WAIT)
        journal.close()


async def test_batches_by_count(tmp_path: Path) -> None:
    async with committer(tmp_path, batch_size=10, flush_interval=30.0) as c:
        for seq in range(1, 10):
            c.submit(make_record(seq=seq))
        # the 10th record fills the batch: it commits long before the 30 s interval
        await asyncio.wait_for(c.submit_durable(make_record(seq=10)), WAIT)
        stats = c.statistics()
        assert (stats.batches, stats.committed, stats.pending) == (1, 10, 0)
        assert c.journal.stream_heads() == {("n1", "orders.new"): 10}


async def test_batches_by_time(tmp_path: Path) -> None:
    async with committer(tmp_path, batch_size=1000, flush_interval=0.05) as c:
        start = time.monotonic()
        for s in range(1, 4):
            c.submit(make_record(seq=s))
        await eventually(lambda: c.statistics().committed == 3, timeout=WAIT)
        assert time.monotonic() - start >= 0.04
        assert (c.statistics().batches, c.statistics().committed) == (1, 3)


async def test_a_durable_waiter_commits_at_once_with_what_is_pending(tmp_path: Path) -> None:
    """Group commit: a durable record does not wait for flush_interval; the records pending with
    it go in the same batch."""
    async with committer(tmp_path, batch_size=1000, flush_interval=30.0) as c:
        c.submit(make_record(seq=1))
        c.submit(make_record(seq=2))
        await asyncio.wait_for(c.submit_durable(make_record(seq=3)), WAIT)  # not 30 s
        assert (c.statistics().batches, c.statistics().committed) == (1, 3)


async def test_durable_sync_future_means_stored(tmp_path: Path) -> None:
    async with committer(tmp_path, durability="sync", batch_size=2, flush_interval=0.01) as c:
        fut = c.submit_durable(make_record(seq=1))
        await asyncio.wait_for(fut, WAIT)
        assert len(c.journal.read_range("n1", "orders.new", 1, 1)) == 1


async def test_run_follows_submitted_records_on_the_writer_thread(tmp_path: Path) -> None:
    async with committer(tmp_path, batch_size=1000, flush_interval=30.0) as c:
        for seq in range(1, 6):
            c.submit(make_record(seq=seq))
        heads, ident = await asyncio.wait_for(
            c.run(lambda j: (j.stream_heads(), threading.get_ident())), WAIT
        )
        assert heads == {("n1", "orders.new"): 5}, "run() waits for the records submitted before it"
        assert ident != threading.get_ident()
        with pytest.raises(ZeroDivisionError):
            await asyncio.wait_for(c.run(lambda j: 1 / 0), WAIT)


async def test_backpressure(tmp_path: Path) -> None:
    async with committer(tmp_path, batch_size=1000, flush_interval=30.0, max_pending=5) as c:
        for seq in range(1, 6):
            c.submit(make_record(seq=seq))
        with pytest.raises(WouldBlockError, match="max_pending"):
            c.submit(make_record(seq=6))
        waiting = asyncio.ensure_future(c.put(make_record(seq=6), durable=True))
        await asyncio.sleep(0)  # let it try once and park (not synchronisation: asserted below either way)
        await asyncio.wait_for(c.flush(), WAIT)
        durable = await asyncio.wait_for(waiting, WAIT)
        assert durable is not None
        await asyncio.wait_for(durable, WAIT)  # a durable record is committed without a flush()
        assert c.journal.stream_heads() == {("n1", "orders.new"): 6}


async def test_close_flushes_and_refuses_more(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", map_size=4 * MiB, durability="async")
    try:
        c = GroupCommitter(journal, batch_size=1000, flush_interval=30.0)
        for seq in range(1, 4):
            c.submit(make_record(seq=seq))
        await asyncio.wait_for(c.close(), WAIT)
        await asyncio.wait_for(c.close(), WAIT)  # idempotent
        assert journal.stream_heads() == {("n1", "orders.new"): 3}
        assert c.statistics().fsyncs >= 1, "async durability fsyncs on close"
        assert not c._thread.is_alive()
        with pytest.raises(ClosedError):
            c.submit(make_record(seq=4))
        with pytest.raises(ClosedError):
            c.run(lambda j: None)
    finally:
        journal.close()


async def test_bad_record_is_refused_at_submit(tmp_path: Path) -> None:
    async with committer(tmp_path, batch_size=1, flush_interval=0) as c:
        with pytest.raises(UsageError, match="3 wire frames"):
            c.submit_durable(("n", "t", 1, 1, 1.0, [b"x"]))
        with pytest.raises(UsageError, match="seq=-3"):
            c.submit(make_record(seq=-3))
        with pytest.raises(UsageError, match=r"is \(node_id"):
            c.submit(("n", "t"))  # type: ignore[arg-type]
        await asyncio.wait_for(c.submit_durable(make_record(seq=2)), WAIT)
        assert (c.statistics().failed, c.statistics().committed, c.pending) == (0, 1, 0)


async def test_full_map_fails_futures_then_refuses_until_space_freed(tmp_path: Path) -> None:
    errors: list[tuple[JournalError, int]] = []
    async with committer(
        tmp_path,
        map_size=MiB,
        batch_size=50,
        flush_interval=0.0,
        full_retry_interval=60.0,
        on_error=lambda e, n: errors.append((e, n)),
    ) as c:
        seq, failure = 0, None
        for _ in range(200):  # 1 MiB fills within ~50 batches of 50 x 300 bytes: bounded
            batch = [make_record(seq=seq + i, ts=seq + i, size=300) for i in range(50)]
            for r in batch[:-1]:
                c.submit(r)
            try:
                await asyncio.wait_for(c.submit_durable(batch[-1]), WAIT)
            except JournalFullError as exc:
                failure = exc
                break
            seq += 50
        assert failure is not None and "persistence.map_size" in str(failure)
        assert c.statistics().full
        with pytest.raises(JournalFullError):
            c.submit(make_record(seq=seq))  # refused at once: backpressure, not a silent drop
        assert errors and isinstance(errors[0][0], JournalFullError)
        assert c.journal.stream_heads() == {("n1", "orders.new"): seq - 1}, "nothing of the failed batch"
        retention = RetentionConfig(default="1d", by_prefix={}, max_size=c.journal.statistics().map_used // 2)
        result = await asyncio.wait_for(c.run(lambda j: sweep(j, float(seq), retention)), WAIT)
        assert result.evicted > 0
        c.space_freed()
        await asyncio.wait_for(c.submit_durable(make_record(seq=seq, size=300)), WAIT)
        assert c.journal.stream_heads() == {("n1", "orders.new"): seq}


async def test_full_state_expires_after_retry_interval(tmp_path: Path) -> None:
    now = [0.0]
    async with committer(tmp_path, full_retry_interval=5.0, clock=lambda: now[0], flush_interval=0.0) as c:
        c._full, c._full_at = JournalFullError("full"), 0.0
        with pytest.raises(JournalFullError):
            c.submit(make_record(seq=1))
        now[0] = 5.0
        await asyncio.wait_for(c.submit_durable(make_record(seq=1)), WAIT)  # the probe goes through
        assert not c.statistics().full
