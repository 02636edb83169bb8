"""Damaged journals on real LMDB files: a truncated ``data.mdb`` is a clear error and exit 1 (never SIGBUS,
exit 135), a changed payload byte is refused on replay and counted, and ``zbus journal verify`` finds both
(docs/ARCHITECTURE.md, "Hostile input")."""

from __future__ import annotations

import asyncio
import os
import urllib.request
from pathlib import Path

import pytest

import zbus
from zbus import Node

from .test_cli_commands import run

EVENTS = 100


async def journal_with_events(path: Path, mesh: str) -> None:
    config = {"persistence": {"enabled": True, "path": str(path)}}
    async with Node("shop", mesh=mesh, config=config) as node:
        for i in range(EVENTS):
            await node.publish("order.placed", {"i": i, "marker": f"PAYLOAD-{i:04d}"}, durable=True)


def flip(data_file: Path, needle: bytes) -> int:
    """Change the first byte of every copy of ``needle`` in the file (LMDB keeps stale copies in free
    pages, so flipping all of them is the way to be sure the live one changed); returns how many."""
    data = bytearray(data_file.read_bytes())
    hits = 0
    start = data.find(needle)
    while start >= 0:
        data[start] ^= 0x01
        hits += 1
        start = data.find(needle, start + 1)
    data_file.write_bytes(bytes(data))
    return hits


async def test_a_changed_payload_byte_is_refused_on_replay_and_counted(
    tmp_path: Path, mesh_name: str
) -> None:
    journal = tmp_path / "journal"
    await journal_with_events(journal, mesh_name)
    copies = flip(journal / "data.mdb", b"PAYLOAD-0042")
    assert copies >= 1
    config = {
        "persistence": {"enabled": True, "path": str(journal)},
        "monitoring": {"http": {"enabled": True}},
    }
    async with Node("shop", mesh=mesh_name, config=config) as node:
        replayed = [e.payload for e in [e async for e in node.replay("order.*")]]
        assert node.http_url is not None
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(node.http_url + "/metrics", timeout=5).read()
        )
    counted = [
        line for line in metrics.decode().splitlines() if line.startswith("zbus_journal_corrupt_records")
    ]
    markers = {p["marker"] for p in replayed}
    print(
        f"\nchanged one byte of event 42's payload ({copies} copies in data.mdb); replay returned "
        f"{len(replayed)} of {EVENTS} events, without event 42; counted: {counted}"
    )
    assert len(replayed) == EVENTS - 1
    assert "PAYLOAD-0042" not in markers and "QAYLOAD-0042" not in markers  # refused, never wrong data
    assert counted == ["zbus_journal_corrupt_records_total 1.0"]

    verify = run("journal", "verify", str(journal))
    print(f"zbus journal verify: exit {verify.returncode}; {verify.stderr.strip()}")
    assert verify.returncode == 1
    assert (
        "seq 43 of stream" in verify.stdout
    )  # i=42 is the 43rd event (sequences start at 1) and "checksum mismatch" in verify.stdout


async def test_a_truncated_data_file_is_a_clear_error_not_sigbus(tmp_path: Path, mesh_name: str) -> None:
    journal = tmp_path / "journal"
    await journal_with_events(journal, mesh_name)
    data = journal / "data.mdb"
    size = data.stat().st_size
    os.truncate(data, size // 2)
    results = {
        "zbus journal stats": run("journal", "stats", "--journal", str(journal)),
        "zbus journal verify": run("journal", "verify", str(journal)),
        "zbus replay": run("replay", "--journal", str(journal)),
        "zbus node start": run(
            "node", "start", "--name", "shop", "--mesh", mesh_name, "--journal", str(journal)
        ),
    }
    print(f"\ntruncated data.mdb from {size} to {size // 2} bytes:")
    for command, result in results.items():
        print(f"  {command}: exit {result.returncode}; {result.stderr.strip().splitlines()[-1][:150]}")
    for result in results.values():
        assert result.returncode == 1, result.stderr
        assert "truncated" in result.stderr and "SIGBUS" in result.stderr
    with pytest.raises(zbus.JournalCorruptError, match="truncated"):
        async with Node(
            "shop", mesh=mesh_name, config={"persistence": {"enabled": True, "path": str(journal)}}
        ):
            pass


async def test_verify_passes_a_healthy_journal(tmp_path: Path, mesh_name: str) -> None:
    journal = tmp_path / "journal"
    await journal_with_events(journal, mesh_name)
    result = run("journal", "verify", "--journal", str(journal), "--json")
    print(f"\nzbus journal verify of a healthy journal: exit {result.returncode}; {result.stdout.strip()}")
    assert result.returncode == 0
    assert '"ok": true' in result.stdout and f'"checksummed": {EVENTS}' in result.stdout
