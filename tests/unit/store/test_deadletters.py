"""The dead-letter store in a real journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MiB

from zbus.codec import wire
from zbus.errors import UsageError
from zbus.model.event import Event
from zbus.store.deadletters import DeadLetters
from zbus.store.journal import Journal


def add(dl: DeadLetters, n: int, ts: float) -> str:
    return dl.add(
        frames=[b"t", b"h", f"p{n}".encode()],
        error_type="ValueError",
        error=f"bad {n}",
        handler="mod.handle",
        subscription="orders.*",
        attempts=3,
        ts=ts,
    )


def test_add_get_list_delete_purge(journal: Journal) -> None:
    dl = DeadLetters(journal)
    ids = [add(dl, n, ts=100.0 + n) for n in range(5)]
    assert len(set(ids)) == 5 and ids == sorted(ids), "ids sort by time"
    assert len(dl) == 5
    got = dl.get(ids[2])
    assert got is not None
    assert (got.id, got.frames, got.error, got.attempts, got.ts) == (
        ids[2],
        (b"t", b"h", b"p2"),
        "bad 2",
        3,
        102.0,
    )
    assert (got.error_type, got.handler, got.subscription) == ("ValueError", "mod.handle", "orders.*")
    assert [r.error for r in dl.list(limit=2)] == ["bad 0", "bad 1"]
    assert [r.error for r in dl.list(limit=10, after=ids[1])] == ["bad 2", "bad 3", "bad 4"]
    assert dl.list(limit=0) == []
    assert dl.delete(ids[0]) and not dl.delete(ids[0])
    assert dl.get(ids[0]) is None
    assert dl.purge() == 4
    assert len(dl) == 0 and dl.list() == []


def test_same_timestamp_gets_distinct_ids(journal: Journal) -> None:
    dl = DeadLetters(journal)
    a, b = add(dl, 1, ts=5.0), add(dl, 2, ts=5.0)
    assert a != b and [r.error for r in dl.list()] == ["bad 1", "bad 2"]


def test_wire_event_round_trip_and_reopen(tmp_path: Path) -> None:
    event = Event("orders.new", {"id": 1})
    frames = wire.encode(event, node_id="n1", seq=4, epoch=2)
    with Journal(tmp_path / "j", map_size=4 * MiB, durability="sync") as j:
        letter_id = DeadLetters(j).add(
            frames=frames,
            error_type="KeyError",
            error="'x'",
            handler="h",
            subscription="orders.*",
            attempts=3,
            ts=1.0,
        )
    with Journal(tmp_path / "j", map_size=4 * MiB, durability="sync") as j:
        record = DeadLetters(j).get(letter_id)
        assert record is not None
        back = wire.decode(list(record.frames))
        assert (back.seq, back.payload) == (4, {"id": 1})


def test_bad_ids(journal: Journal) -> None:
    dl = DeadLetters(journal)
    for bad in ("", "zz", "00" * 15):
        with pytest.raises(UsageError, match="dead letter id"):
            dl.get(bad)
