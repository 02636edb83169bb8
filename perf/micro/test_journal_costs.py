"""Per-event costs of the journal (pytest-benchmark): batch append and the replay scan.

Each sits beside its raw baseline: the same LMDB work with plain ``lmdb`` + ``msgpack`` would be
the floor; here the baseline for the scan is ``Journal.read_range`` (one stream, key order), the
cheapest read the journal offers, against ``read_since`` (time order, what ``Node.replay`` uses).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from pathlib import Path

import lmdb
import msgpack
import pytest

from zbus import Event
from zbus.codec import wire
from zbus.store.journal import Journal, JournalRecord

PAYLOAD = {"order_id": 4711, "customer": "c-1234", "total": 99.95, "items": [{"sku": "A-1", "qty": 2}]}
FRAMES = wire.encode(
    Event("order.placed", PAYLOAD, source="shop"), node_id="0123456789abcdef", seq=1, epoch=1
)
BATCH = 1000
EVENTS = 5000


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal", map_size=1024**3, durability="none")
    try:
        yield j
    finally:
        j.close()


def _records(seqs: Iterator[int], n: int) -> list[JournalRecord]:
    return [
        JournalRecord("0123456789abcdef", "order.placed", seq, 1, 1_700_000_000.0 + seq / 1e3, FRAMES)
        for seq in itertools.islice(seqs, n)
    ]


def test_journal_append_batch_of_1000(benchmark: pytest.FixtureRequest, journal: Journal) -> None:
    """One write transaction of 1,000 ~270-byte events (divide the time by 1,000 per event)."""
    seqs = itertools.count(1)
    benchmark.pedantic(journal.append_batch, setup=lambda: ((_records(seqs, BATCH),), {}), rounds=20)


def test_journal_append_batch_of_1000_checked(benchmark: pytest.FixtureRequest, journal: Journal) -> None:
    """The same batch as the group committer writes it: its records were checked at submit."""
    seqs = itertools.count(1)
    benchmark.pedantic(
        lambda records: journal.append_batch(records, checked=True),
        setup=lambda: ((_records(seqs, BATCH),), {}),
        rounds=20,
    )


def test_baseline_lmdb_putmulti_of_1000(benchmark: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The floor: plain ``lmdb`` storing 1,000 msgpack'd frame arrays under 16-byte keys in one
    transaction (no time index, checksum, chain or stream state)."""
    env = lmdb.open(str(tmp_path / "raw"), map_size=1024**3, sync=False)
    body = msgpack.packb(list(FRAMES), use_bin_type=True)
    seqs = itertools.count(1)

    def put(items: list[tuple[bytes, bytes]]) -> None:
        with env.begin(write=True) as txn:
            txn.cursor().putmulti(items)

    def batch() -> tuple[tuple[list[tuple[bytes, bytes]]], dict[str, object]]:
        return ([(struct.pack(">8sQ", b"stream01", next(seqs)), body) for _ in range(BATCH)],), {}

    try:
        benchmark.pedantic(put, setup=batch, rounds=20)
    finally:
        env.close()


def test_journal_replay_scan_by_time(benchmark: pytest.FixtureRequest, journal: Journal) -> None:
    """``read_since`` over 5,000 events (what ``Node.replay`` reads), frames only."""
    journal.append_batch(_records(itertools.count(1), EVENTS))
    benchmark(lambda: sum(1 for _ in journal.read_since(0.0)))


def test_baseline_journal_read_range(benchmark: pytest.FixtureRequest, journal: Journal) -> None:
    """``read_range`` of the same 5,000 events: one stream walked in key order."""
    journal.append_batch(_records(itertools.count(1), EVENTS))
    benchmark(lambda: len(journal.read_range("0123456789abcdef", "order.placed", 1, EVENTS)))


def test_journal_replay_decoded(benchmark: pytest.FixtureRequest, journal: Journal) -> None:
    """``read_since`` + ``wire.decode`` + payload of 5,000 events: the replay per-event cost."""
    journal.append_batch(_records(itertools.count(1), EVENTS))

    def replay() -> int:
        return sum(1 for f in journal.read_since(0.0) if wire.decode(f).payload)

    benchmark(replay)
