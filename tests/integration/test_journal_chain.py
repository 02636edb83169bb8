"""Tamper evidence on real LMDB journals written by a real node: a payload byte changed (with its CRC
recomputed, as a deliberate editor would), a middle record removed, two records swapped, the newest
record changed — ``zbus journal verify`` names the stream and sequence of each and exits 1; an untouched
journal and one after retention verify clean."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lmdb
import pytest

from zbus import Node
from zbus.config import RetentionConfig
from zbus.store import Journal, keys, sweep
from zbus.store.envelope import chain_parts, seal

from .test_cli_commands import run

PLACED, PAID = 20, 5
MiB = 1024**2


@pytest.fixture
async def journal(tmp_path: Path, mesh_name: str) -> tuple[Path, str]:
    """A journal of PLACED events on order.placed and PAID on order.paid, interleaved; (path, node id)."""
    path = tmp_path / "journal"
    config = {"persistence": {"enabled": True, "path": str(path)}, "transport": {"kind": "memory"}}
    async with Node("shop", mesh=mesh_name, config=config) as node:
        for i in range(PLACED):
            await node.publish("order.placed", {"marker": f"PAYLOAD-{i + 1:04d}"}, durable=True)
            if i % 4 == 0:
                await node.publish("order.paid", {"i": i}, durable=True)
        return path, node.id


def verify(path: Path) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    result = run("journal", "verify", "--journal", str(path), "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    print(f"\nzbus journal verify: exit {result.returncode}; {result.stdout.strip()}")
    return result.returncode, lines[0], lines[1:]


def tamper(path: Path, edit: Callable[[Any, Any, Any], None]) -> None:
    """Run ``edit(txn, events, by_time)`` in one raw LMDB write transaction (no zbus code involved)."""
    env = lmdb.open(str(path), max_dbs=8, map_size=64 * MiB)
    try:
        with env.begin(write=True) as txn:
            edit(txn, env.open_db(b"events", txn=txn), env.open_db(b"by_time", txn=txn))
    finally:
        env.close()


def key_of(node_id: str, seq: int, topic: str = "order.placed") -> bytes:
    return keys.event_key(keys.stream_key(node_id, topic), seq)


def resealed(key: bytes, value: bytes, body: Callable[[bytes], bytes]) -> bytes:
    """``value`` with its body changed and its CRC recomputed: only the hash chain can tell."""
    parts = chain_parts(value)
    assert parts is not None, "a record written since schema 3 carries a chain link"
    link, old = parts
    return seal(key, body(old), link)


def where(node_id: str, seq: int, topic: str = "order.placed") -> str:
    return f"seq {seq} of stream ({node_id!r}, {topic!r})"


async def test_an_untouched_journal_verifies_clean(journal: tuple[Path, str]) -> None:
    path, _ = journal
    code, summary, damage = verify(path)
    assert code == 0 and summary["ok"] and damage == []
    assert summary["hash_chained"] == summary["events"] == PLACED + PAID and summary["schema"] == 3


async def test_a_changed_payload_byte_breaks_the_chain_after_it(journal: tuple[Path, str]) -> None:
    path, node_id = journal

    def edit(txn: Any, events: Any, _: Any) -> None:
        key = key_of(node_id, 7)
        value = resealed(key, txn.get(key, db=events), lambda b: b.replace(b"PAYLOAD-0007", b"PAYLOAD-0070"))
        txn.put(key, value, db=events)

    tamper(path, edit)
    code, summary, damage = verify(path)
    assert code == 1 and summary["damaged"] == 1
    (row,) = damage
    assert row["item"] == where(node_id, 8) and "the record before it (seq 7) was changed" in row["reason"]


async def test_a_removed_middle_record_is_named(journal: tuple[Path, str]) -> None:
    path, node_id = journal
    stream = keys.stream_key(node_id, "order.placed")

    def edit(txn: Any, events: Any, by_time: Any) -> None:
        assert txn.delete(key_of(node_id, 10), db=events)
        for key in txn.cursor(db=by_time).iternext(values=False):  # its index entry too: a careful editor
            if keys.parse_time_key(key)[1:] == (stream, 10):
                assert txn.delete(key, db=by_time)
                return
        raise AssertionError("no index entry for seq 10")

    tamper(path, edit)
    code, summary, damage = verify(path)
    assert code == 1 and summary["damaged"] == 1 and summary["events"] == PLACED + PAID - 1
    assert damage[0]["item"] == where(node_id, 11) and "(seq 9) was changed or removed" in damage[0]["reason"]


async def test_two_swapped_records_are_named(journal: tuple[Path, str]) -> None:
    path, node_id = journal

    def edit(txn: Any, events: Any, _: Any) -> None:
        k5, k6 = key_of(node_id, 5), key_of(node_id, 6)
        v5, v6 = txn.get(k5, db=events), txn.get(k6, db=events)
        p5, p6 = chain_parts(v5), chain_parts(v6)
        assert p5 is not None and p6 is not None
        txn.put(k5, seal(k5, p6[1], p6[0]), db=events)  # each one's body and link under the other's key,
        txn.put(k6, seal(k6, p5[1], p5[0]), db=events)  # CRCs recomputed

    tamper(path, edit)
    code, _, damage = verify(path)
    chain_breaks = {row["item"] for row in damage if "hash chain" in row["reason"]}
    assert code == 1 and chain_breaks == {where(node_id, 5), where(node_id, 7)}


async def test_a_changed_newest_record_is_named(journal: tuple[Path, str]) -> None:
    path, node_id = journal

    def edit(txn: Any, events: Any, _: Any) -> None:
        key = key_of(node_id, PLACED)
        value = resealed(key, txn.get(key, db=events), lambda b: b.replace(b"PAYLOAD", b"PAYL0AD"))
        txn.put(key, value, db=events)

    tamper(path, edit)
    code, _, damage = verify(path)
    assert code == 1 and [row["item"] for row in damage] == [where(node_id, PLACED)]
    assert "newest record was changed or removed" in damage[0]["reason"]


async def test_a_journal_after_retention_verifies_clean(journal: tuple[Path, str]) -> None:
    path, node_id = journal
    with Journal(path, map_size=64 * MiB, durability="none") as j:
        result = sweep(j, time.time() + 30 * 86_400, RetentionConfig(), max_delete=8)  # the 8 oldest
        assert result.deleted == 8
    code, summary, damage = verify(path)
    assert code == 0 and damage == [] and summary["events"] == PLACED + PAID - 8
    # ... and a record removed after retention is still found
    tamper(path, lambda txn, events, _: txn.delete(key_of(node_id, 15), db=events))
    code, _, damage = verify(path)
    assert code == 1 and any(row["item"] == where(node_id, 16) for row in damage)
