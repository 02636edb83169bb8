"""``zbus journal backup`` while the node runs, and ``zbus journal restore`` into a stopped node's place."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import zbus

from .test_cli_commands import run
from .test_cli_ops import journaling_node as journaling_node  # the fixture, shared


def export(journal: Path) -> list[str]:
    out = run("journal", "export", "--journal", str(journal), "--quiet")
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_backup_of_a_running_node_restores_everything(
    journaling_node: tuple[Path, subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    journal, node = journaling_node
    assert node.poll() is None  # the node holds its journal open while we copy it
    copy = tmp_path / "backups" / "monday"
    out = run("journal", "backup", "--journal", str(journal), "--output", str(copy))
    assert out.returncode == 0, out.stderr
    assert "40 event(s), 2 stream(s)" in out.stdout
    original = export(journal)
    assert len(original) == 40 and export(copy) == original

    again = run("journal", "backup", "--journal", str(journal), "--output", str(copy))
    assert again.returncode == 1 and "not empty" in again.stderr

    # restoring over the live journal is refused while the node runs, and loses nothing
    busy = run("journal", "restore", str(copy), "--journal", str(journal), "--force")
    assert busy.returncode == 1 and "open by a running process" in busy.stderr
    assert export(journal) == original

    target = tmp_path / "restored"
    out = run("journal", "restore", str(copy), "--journal", str(target))
    assert out.returncode == 0, out.stderr
    assert export(target) == original
    twice = run("journal", "restore", str(copy), "--journal", str(target))
    assert twice.returncode == 1 and "--force" in twice.stderr
    assert run("journal", "restore", str(copy), "--journal", str(target), "--force").returncode == 0
    assert not list(target.glob(".restore-*"))


@pytest.fixture
def stopped_journal(tmp_path: Path, mesh: str) -> Iterator[tuple[Path, str]]:
    path = tmp_path / "journal"

    async def write() -> str:
        async with zbus.Node(
            "shop", config={"persistence": {"enabled": True, "path": str(path)}}, mesh=mesh
        ) as n:
            for i in range(5):
                await n.publish("order.placed", {"i": i}, durable=True)
            return n.id

    yield path, asyncio.run(write())


def test_a_node_started_on_a_restored_journal_keeps_its_id_and_sequences(
    stopped_journal: tuple[Path, str], tmp_path: Path, mesh: str
) -> None:
    journal, node_id = stopped_journal
    copy, target = tmp_path / "copy", tmp_path / "restored"
    assert run("journal", "backup", "--journal", str(journal), "-o", str(copy)).returncode == 0
    assert run("journal", "restore", str(copy), "--journal", str(target)).returncode == 0

    async def resume() -> tuple[str, int]:
        config = {"persistence": {"enabled": True, "path": str(target)}}
        async with zbus.Node("shop", config=config, mesh=mesh) as node:
            await node.publish("order.placed", {"i": 5}, durable=True)
            last = [e async for e in node.replay("order.placed")][-1]
            return node.id, last.seq

    assert asyncio.run(resume()) == (node_id, 6)


def test_restore_refuses_what_is_not_a_journal(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run("journal", "restore", str(empty), "--journal", str(tmp_path / "j"))
    assert out.returncode == 1 and "no journal at" in out.stderr
    assert not (tmp_path / "j" / "data.mdb").exists()
