"""Journal integrity on real LMDB files: sealed records, damage skipped and counted once, schema-1 journals
still read, truncated data files refused before mapping, and ``verify`` finding every kind of damage."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import lmdb
import msgpack
import pytest
from conftest import MiB, RecordFactory

from zbus.errors import JournalCorruptError
from zbus.store import DeadLetters, Journal, keys, verify
from zbus.store.datafile import check_data_file
from zbus.store.envelope import is_sealed, seal, unseal
from zbus.store.journal import SCHEMA_VERSION

KEY = keys.event_key(keys.stream_key("n1", "a"), 7)


def test_every_flipped_bit_and_a_wrong_key_fail_the_checksum() -> None:
    value = seal(KEY, b"\x93\xc4\x01a\xc4\x01b\xc4\x01c")
    assert is_sealed(value) and unseal(KEY, value) == b"\x93\xc4\x01a\xc4\x01b\xc4\x01c"
    for i in range(len(value)):
        for bit in range(8):
            damaged = bytearray(value)
            damaged[i] ^= 1 << bit
            if i == 0:
                assert not is_sealed(bytes(damaged))  # the mark itself: read as a (bad) bare body
                continue
            with pytest.raises(JournalCorruptError):
                unseal(KEY, bytes(damaged))
    with pytest.raises(JournalCorruptError, match="checksum mismatch"):
        unseal(keys.event_key(keys.stream_key("n1", "a"), 8), value)  # moved under another key
    with pytest.raises(JournalCorruptError, match="cut short"):
        unseal(KEY, value[:5])
    assert unseal(KEY, b"\x93bare") == b"\x93bare"  # a schema-1 body: no envelope, passed through


def test_an_extension_is_covered_by_the_checksum() -> None:
    value = seal(KEY, b"body", link=b"chain-hash-16-by")
    assert unseal(KEY, value) == b"body"
    damaged = value.replace(b"chain-hash-16-by", b"chain-hasH-16-by")
    with pytest.raises(JournalCorruptError):
        unseal(KEY, damaged)


def _damage(journal_dir: Path, seq: int) -> None:
    """Change one byte of the stored value of (n1, a, seq) with raw LMDB (as a disk error would)."""
    env = lmdb.open(str(journal_dir), max_dbs=8, map_size=16 * MiB)
    try:
        db = env.open_db(b"events")
        with env.begin(write=True) as txn:
            key = keys.event_key(keys.stream_key("n1", "a"), seq)
            value = bytearray(txn.get(key, db=db))
            value[-1] ^= 0x20
            txn.put(key, bytes(value), db=db)
    finally:
        env.close()


def test_a_damaged_record_is_skipped_counted_once_and_logged(
    tmp_path: Path, rec: RecordFactory, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j"
    with Journal(path, map_size=16 * MiB, durability="none") as j:
        j.append_batch([rec("n1", "a", s) for s in range(1, 11)])
    _damage(path, 5)
    with Journal(path, map_size=16 * MiB, durability="none") as j:
        for _ in range(3):
            assert [int(f[1][1:]) for f in j.read_range("n1", "a", 1)] == [1, 2, 3, 4, 6, 7, 8, 9, 10]
        assert len(j.last("n1", "a", 10)) == 9 and len(list(j.read_since(0))) == 9
        assert j.statistics().corrupt_records == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "seq 5 of stream ('n1', 'a')" in warnings[0]


def test_a_schema_1_journal_is_still_read_and_upgraded_when_written(
    tmp_path: Path, rec: RecordFactory
) -> None:
    path = tmp_path / "j"
    with Journal(path, map_size=16 * MiB, durability="none") as j:
        j.append_batch([rec("n1", "a", s) for s in range(1, 4)])
    env = lmdb.open(str(path), max_dbs=8, map_size=16 * MiB)  # make it what an older zbus wrote
    with env.begin(write=True) as txn:
        events = env.open_db(b"events", txn=txn)
        for key, value in list(txn.cursor(db=events)):
            txn.put(key, unseal(key, value), db=events)
        txn.put(b"schema", (1).to_bytes(4, "big"), db=env.open_db(b"meta", txn=txn))
    env.close()
    with Journal(path, map_size=16 * MiB, durability="none", readonly=True) as j:
        assert j.schema == 1 and len(j.read_range("n1", "a", 1)) == 3
        report = verify(j)
        assert report.ok and (report.bare, report.sealed) == (3, 0)
    with Journal(path, map_size=16 * MiB, durability="none") as j:
        assert j.schema == SCHEMA_VERSION
        j.append_batch([rec("n1", "a", 4)])
        assert len(j.read_range("n1", "a", 1)) == 4
        report = verify(j)
        assert report.ok and (report.bare, report.sealed) == (3, 1)
        assert report.chained == 1  # the new record starts the stream's chain


def test_a_schema_2_journal_without_chains_opens_and_its_new_records_are_chained(
    tmp_path: Path, rec: RecordFactory
) -> None:
    path = tmp_path / "j"
    with Journal(path, map_size=16 * MiB, durability="none") as j:
        j.append_batch([rec("n1", "a", s) for s in range(1, 4)])
    env = lmdb.open(str(path), max_dbs=8, map_size=16 * MiB)  # what zbus wrote before hash chains
    with env.begin(write=True) as txn:
        events, streams = env.open_db(b"events", txn=txn), env.open_db(b"streams", txn=txn)
        for key, value in list(txn.cursor(db=events)):
            txn.put(key, seal(key, unseal(key, value)), db=events)  # envelope version 1: no link
        for key, value in list(txn.cursor(db=streams)):
            state = msgpack.unpackb(value, raw=False)
            del state["hash"]
            txn.put(key, msgpack.packb(state), db=streams)
        txn.put(b"schema", (2).to_bytes(4, "big"), db=env.open_db(b"meta", txn=txn))
    env.close()
    with Journal(path, map_size=16 * MiB, durability="none", readonly=True) as j:
        assert j.schema == 2 and len(j.read_range("n1", "a", 1)) == 3
        report = verify(j)
        assert report.ok and (report.sealed, report.chained) == (3, 0)
    with Journal(path, map_size=16 * MiB, durability="none") as j:
        assert j.schema == SCHEMA_VERSION == 3
        j.append_batch([rec("n1", "a", s) for s in (4, 5)])
        assert len(j.read_range("n1", "a", 1)) == 5
        report = verify(j)
        assert report.ok and (report.sealed, report.chained) == (5, 2)


def test_verify_finds_each_kind_of_damage(tmp_path: Path, rec: RecordFactory) -> None:
    path = tmp_path / "j"
    with Journal(path, map_size=16 * MiB, durability="none") as j:
        j.append_batch([rec("n1", "a", s) for s in range(1, 6)])
        DeadLetters(j).add(
            frames=rec().frames, error_type="E", error="e", handler="h", subscription="s", attempts=3, ts=1.0
        )
    _damage(path, 2)
    env = lmdb.open(str(path), max_dbs=8, map_size=16 * MiB)
    with env.begin(write=True) as txn:
        by_time = env.open_db(b"by_time", txn=txn)
        txn.put(keys.time_key(5.0, keys.stream_key("n1", "a"), 99), b"", db=by_time)  # an orphan index entry
        dead = env.open_db(b"deadletters", txn=txn)
        key, value = next(iter(txn.cursor(db=dead)))
        txn.put(key, value[:-1] + bytes([value[-1] ^ 0x20]), db=dead)
    env.close()
    with Journal(path, map_size=16 * MiB, durability="none", readonly=True) as j:
        report = verify(j)
    found = {(d.database, d.reason.split(" (")[0]) for d in report.damage}
    print(f"\nverify found: {sorted(found)}")
    assert not report.ok and report.damaged == 3 and report.events == 5
    assert ("events", "checksum mismatch") in found
    assert ("deadletters", f"dead letter {key.hex()} is damaged: checksum mismatch") in found
    assert any(db == "by_time" and "not stored" in reason for db, reason in found)


def test_a_truncated_data_file_is_refused_before_it_is_mapped(tmp_path: Path, rec: RecordFactory) -> None:
    path = tmp_path / "j"
    with Journal(path, map_size=16 * MiB, durability="none") as j:
        j.append_batch([rec("n1", "a", s, size=2000) for s in range(1, 200)])
    data = path / "data.mdb"
    info = check_data_file(data)
    assert info is not None and info.needed == data.stat().st_size
    cut = tmp_path / "cut"
    for size in (0, 100, info.page_size, 2 * info.page_size, info.needed // 2, info.needed - 1):
        shutil.rmtree(cut, ignore_errors=True)
        shutil.copytree(path, cut)
        os.truncate(cut / "data.mdb", size)
        if size == 0:
            assert check_data_file(cut / "data.mdb") is None  # empty: LMDB starts a new journal
            continue
        with pytest.raises(JournalCorruptError, match="truncated"):
            Journal(cut, map_size=16 * MiB, durability="none", readonly=True)
    (cut / "data.mdb").write_bytes(b"\x00" * 8192)
    with pytest.raises(JournalCorruptError, match="not an LMDB data file"):
        Journal(cut, map_size=16 * MiB, durability="none")
