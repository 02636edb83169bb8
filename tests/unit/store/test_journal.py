"""The LMDB journal on real files in tmp_path: appends, reads, stream state, epochs, statistics, map full."""

from __future__ import annotations

import gc
from pathlib import Path

import msgpack
import pytest
from conftest import MiB, RecordFactory, make_record

from zbus.codec import wire
from zbus.config import RetentionConfig
from zbus.errors import JournalError, JournalFullError, UsageError
from zbus.model.event import Event
from zbus.store.journal import Journal, JournalRecord
from zbus.store.retention import sweep


def payloads(frames_list: list[list[bytes]]) -> list[bytes]:
    return [f[2].rstrip(b".") for f in frames_list]


def test_append_and_read_range(journal: Journal, rec: RecordFactory) -> None:
    journal.append_batch([rec("n1", "a", s) for s in range(1, 11)] + [rec("n1", "b", s) for s in range(1, 4)])
    journal.append_batch([rec("n2", "a", s) for s in range(1, 6)])
    assert payloads(journal.read_range("n1", "a", 3, 5)) == [b"n1|a|3", b"n1|a|4", b"n1|a|5"]
    assert len(journal.read_range("n1", "a", 1)) == 10
    assert payloads(journal.read_range("n1", "a", 8, limit=2)) == [b"n1|a|8", b"n1|a|9"]
    assert payloads(journal.read_range("n1", "b", 0)) == [b"n1|b|1", b"n1|b|2", b"n1|b|3"]
    assert journal.read_range("n1", "a", 11) == []
    assert journal.read_range("n1", "a", 5, 4) == []
    assert journal.read_range("nobody", "a", 0) == []
    assert journal.first_seq("n1", "a") == 1
    assert journal.first_seq("nobody", "a") is None


def test_exact_wire_frames_round_trip(journal: Journal) -> None:
    event = Event("orders.new", {"id": 7, "blob": b"\x00\xff"}, headers={"x": "y"})
    frames = wire.encode(event, node_id="n1", seq=42, epoch=3)
    journal.append_batch([JournalRecord("n1", "orders.new", 42, 3, event.ts, frames)])
    (stored,) = journal.read_range("n1", "orders.new", 42, 42)
    assert stored == frames
    back = wire.decode(stored)
    assert (back.node_id, back.seq, back.epoch, back.payload) == ("n1", 42, 3, {"id": 7, "blob": b"\x00\xff"})


def test_appends_are_idempotent_and_heads_track_max(journal: Journal, rec: RecordFactory) -> None:
    journal.append_batch([rec("n1", "a", 5, epoch=2), rec("n1", "a", 3, epoch=2)])
    journal.append_batch([rec("n1", "a", 5, epoch=9, size=50)])  # same seq again: first write wins
    (five,) = journal.read_range("n1", "a", 5, 5)
    assert five[2] == b"n1|a|5..", "an existing (stream, seq) is kept"
    assert journal.stream_heads() == {("n1", "a"): 5}
    (state,) = journal.streams()
    assert (state.last_seq, state.epoch) == (5, 2)
    assert journal.statistics().events == 2


def test_last(journal: Journal, rec: RecordFactory) -> None:
    journal.append_batch([rec("n1", "a", s) for s in range(1, 8)] + [rec("n1", "b", 1), rec("n0", "a", 1)])
    assert payloads(journal.last("n1", "a", 3)) == [b"n1|a|5", b"n1|a|6", b"n1|a|7"]
    assert len(journal.last("n1", "a", 100)) == 7
    assert payloads(journal.last("n1", "b", 5)) == [b"n1|b|1"]
    assert journal.last("n1", "a", 0) == []
    assert journal.last("nobody", "zz", 3) == []


def test_last_at_u64_max(journal: Journal, rec: RecordFactory) -> None:
    journal.append_batch([rec("n1", "a", 2**64 - 1), rec("n1", "a", 2**64 - 2)])
    assert [f[1] for f in journal.last("n1", "a", 1)] == [f"h{2**64 - 1}".encode()]


def test_read_since_orders_by_time_and_filters_by_prefix(journal: Journal, rec: RecordFactory) -> None:
    journal.append_batch(
        [
            rec("n1", "audit.login", 1, ts=100.0),
            rec("n1", "orders.new", 1, ts=101.0),
            rec("n2", "auditing", 1, ts=102.0),
            rec("n1", "audit", 1, ts=103.0),
            rec("n1", "orders.new", 2, ts=99.0),
        ]
    )
    assert payloads(list(journal.read_since(100.0))) == [
        b"n1|audit.login|1",
        b"n1|orders.new|1",
        b"n2|auditing|1",
        b"n1|audit|1",
    ]
    audit = list(journal.read_since(0, topic_prefix="audit"))
    assert payloads(audit) == [b"n1|audit.login|1", b"n1|audit|1"]
    assert payloads(list(journal.read_since(0, limit=2))) == [b"n1|orders.new|2", b"n1|audit.login|1"]
    assert list(journal.read_since(104.0)) == []


def test_read_since_crosses_chunks(journal: Journal, rec: RecordFactory) -> None:
    journal.append_batch([rec("n1", "t.x" if s % 3 else "u", s, ts=1000.0 + s / 1000) for s in range(3000)])
    got = list(journal.read_since(0, topic_prefix="u"))
    assert len(got) == 1000
    assert len(list(journal.read_since(0))) == 3000
    assert len(list(journal.read_since(0, limit=1234))) == 1234


def test_epoch_increments_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal(path, map_size=MiB * 4, durability="sync") as j:
        assert j.next_epoch() == 1
        assert j.next_epoch() == 2
        assert j.node_id("abc") == "abc"
        j.append_batch([make_record("abc", "a", 7, epoch=2)])
    with Journal(path, map_size=MiB * 4, durability="sync") as j:
        assert j.next_epoch() == 3
        assert j.next_epoch(at_least=1_000) == 1_000
        assert j.next_epoch() == 1_001
        assert j.node_id("other") == "abc", "a restarted node keeps its id"
        assert j.stream_heads() == {("abc", "a"): 7}


def test_statistics(journal: Journal, rec: RecordFactory) -> None:
    empty = journal.statistics()
    assert (empty.events, empty.oldest_ts, empty.newest_ts, empty.streams) == (0, None, None, 0)
    journal.append_batch(
        [rec("n1", "a", s, ts=50.0 + s, size=200) for s in range(1, 101)] + [rec("n2", "b", 1, ts=10)]
    )
    stats = journal.stats()
    assert stats.events == 101 and stats.streams == 2
    assert (stats.oldest_ts, stats.newest_ts) == (10.0, 150.0)
    assert 101 * 200 < stats.bytes <= stats.map_used < stats.map_size == 16 * MiB


def test_readonly(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal(path, map_size=MiB * 4, durability="none") as j:
        j.append_batch([make_record()])
    with Journal(path, map_size=MiB * 4, durability="none", readonly=True) as ro:
        assert ro.stream_heads() == {("n1", "orders.new"): 1}
        with pytest.raises(UsageError, match="readonly"):
            ro.append_batch([make_record(seq=2)])


def test_errors_are_mapped(tmp_path: Path, journal: Journal) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(JournalError, match="cannot open journal"):
        Journal(tmp_path / "file" / "sub", map_size=MiB * 4, durability="none")
    with pytest.raises(JournalError, match="cannot open journal"):
        Journal(tmp_path / "missing", map_size=MiB * 4, durability="none", readonly=True)
    with pytest.raises(UsageError, match="durability='fast'"):
        Journal(tmp_path / "x", map_size=MiB * 4, durability="fast")
    with pytest.raises(UsageError, match="3 wire frames"):
        journal.append_batch([JournalRecord("n", "t", 1, 1, 1.0, [b"t"])])
    with pytest.raises(UsageError, match="seq=-1"):
        journal.append_batch([make_record(seq=-1)])
    assert journal.statistics().events == 0, "a failed batch writes nothing"
    journal.close()
    journal.close()
    assert journal.closed and "closed" in repr(journal)
    with pytest.raises(JournalError, match="is closed"):
        journal.stream_heads()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal(path, map_size=MiB * 4, durability="none") as j, j.transaction(write=True) as txn:
        txn.put(b"schema", (99).to_bytes(4, "big"), db=j.db("meta"))
    with pytest.raises(JournalError, match="schema version 99"):
        Journal(path, map_size=MiB * 4, durability="none")


def test_stream_key_collision_is_refused(journal: Journal) -> None:
    from zbus.store import keys

    fake = msgpack.packb({"node_id": "other", "topic": "x", "last_seq": 1, "epoch": 1})
    with journal.transaction(write=True) as txn:
        txn.put(keys.stream_key("n1", "a"), fake, db=journal.db("streams"))
    with pytest.raises(JournalError, match="hash collision"):
        journal.append_batch([make_record("n1", "a", 1)])


def test_unclosed_journal_warns(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j", map_size=MiB * 4, durability="none")
    with pytest.warns(ResourceWarning, match="unclosed"):
        del j
        gc.collect()


def test_map_full_raises_and_journal_stays_usable(tmp_path: Path) -> None:
    with Journal(tmp_path / "j", map_size=MiB, durability="none") as j:
        seq = 0
        with pytest.raises(
            JournalFullError, match=r"raise persistence\.map_size or shorten persistence\.retention"
        ):
            for _ in range(1000):  # 1 MiB holds a few thousand 300-byte events: bounded
                j.append_batch([make_record("n1", "a", seq + i, ts=seq + i, size=300) for i in range(50)])
                seq += 50
        assert seq > 0
        assert j.stream_heads() == {("n1", "a"): seq - 1}, "the failed batch left nothing behind"
        assert len(j.read_range("n1", "a", 0, limit=10_000)) == seq
        result = sweep(
            j, 3000.0, RetentionConfig(default="1d", by_prefix={}, max_size=j.statistics().map_used // 2)
        )
        assert result.evicted > 0 and result.expired == 0
        j.append_batch([make_record("n1", "a", seq + i, size=300) for i in range(50)])
        assert j.stream_heads() == {("n1", "a"): seq + 49}
        assert j.first_seq("n1", "a") == result.evicted, "the oldest events went first"
