"""Recordings: ``zbus record`` / ``node start --record`` / ``Node.record`` keep the mesh's events in a journal
under their original streams, answer replays of them, and survive a kill -9.

Real processes on 127.0.0.1 for the CLI; the in-process tests use real LMDB journals in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import zbus
from zbus.store import Journal
from zbus.testing import eventually

from .conftest import Proc
from .test_cli_commands import ZBUS, Cli

N = 400  # events the publisher streams while the recorder is killed and restarted


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ZBUS, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


def journal_events(journal: Path) -> list[dict[str, Any]]:
    """What ``zbus replay`` (offline) reads from the journal, as whole events."""
    out = run("replay", "**", "--journal", str(journal), "--json", "--quiet")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def wait_for_journal(journal: Path, count: int, timeout: float = 40.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        got = journal_events(journal) if (journal / "data.mdb").exists() else []
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.2)  # polling a file another process writes, against the deadline above


def test_record_survives_kill_9_and_replays_complete(
    mesh: str, background: type[Cli], spawn: type[Proc], tmp_path: Path
) -> None:
    journal = tmp_path / "archive"
    recorder = background("record", "rec.*", "--journal", str(journal), "--mesh", mesh)
    recorder.expect("recording rec.*")
    publisher = spawn("stream", mesh, "streamer", "rec.tick", str(N), "100")
    publisher_id = publisher.expect("ready").split()[1]
    publisher.expect("sent 100", timeout=30)
    os.kill(recorder.popen.pid, signal.SIGKILL)  # mid-stream, without a chance to checkpoint or flush
    recorder.popen.wait(10)
    again = background("record", "rec.*", "--journal", str(journal), "--mesh", mesh)
    ready = again.expect("ready ")
    again.expect("recording rec.*")
    publisher.expect("done", timeout=60)
    recorded = wait_for_journal(journal, N)
    assert [e["seq"] for e in recorded] == list(range(1, N + 1))  # complete, in order, no duplicate
    assert {(e["node_id"], e["source"], e["topic"]) for e in recorded} == {
        (publisher_id, "streamer", "rec.tick")
    }
    assert [e["payload"]["i"] for e in recorded] == list(range(N))
    assert ready.split()[2] not in {e["node_id"] for e in recorded}  # stored under the publisher's id
    publisher.stop()  # the publisher (and its ring) is gone: only the recording holds its history
    out = run("sub", "rec.*", "--replay", "all", "--count", str(N), "--json", "--duration", "40",
              "--mesh", mesh)  # fmt: skip
    assert out.returncode == 0, out.stderr
    replayed = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(e["node_id"], e["seq"], e["id"]) for e in replayed] == [
        (e["node_id"], e["seq"], e["id"]) for e in recorded
    ]
    os.kill(again.popen.pid, signal.SIGTERM)
    code, lines, err = again.finish(timeout=20)
    assert code == 0, err
    assert "stopped zbus-record-archive (recorded" in lines[-1]


def test_node_start_record_needs_a_journal_and_records(
    mesh: str, background: type[Cli], spawn: type[Proc], tmp_path: Path
) -> None:
    out = run("node", "start", "--record", "x.*", "--mesh", mesh, timeout=30)
    assert out.returncode == 2 and "--journal" in out.stderr
    node = background("node", "start", "--name", "archive", "--journal", str(tmp_path / "j"),
                      "--record", "keep.*", "--record", "also.**", "--mesh", mesh)  # fmt: skip
    node.expect("recording keep.* also.**")
    publisher = spawn("history", mesh, "hist", "keep.this", "3")
    publisher.expect("done")
    got = wait_for_journal(tmp_path / "j", 3)
    assert [(e["topic"], e["seq"], e["source"]) for e in got] == [("keep.this", s, "hist") for s in (1, 2, 3)]


MEMORY = {"transport": {"kind": "memory"}}


def journaled(path: Path, **retention: Any) -> dict[str, Any]:
    persistence: dict[str, Any] = {"enabled": True, "path": str(path)}
    if retention:
        persistence["retention"] = retention
    return {**MEMORY, "persistence": persistence}


async def test_a_recording_serves_the_history_of_a_publisher_that_left(tmp_path: Path) -> None:
    mesh = f"rec-{os.getpid()}-{os.urandom(2).hex()}"
    async with zbus.Node("archive", mesh=mesh, config=journaled(tmp_path / "archive")) as archive:
        recording = await archive.record("order.*")
        async with zbus.Node("shop", mesh=mesh, config=MEMORY) as shop:
            await shop.wait_for_subscribers("order.placed", timeout=5)
            ids = [await shop.publish("order.placed", {"n": n}) for n in range(5)]
            shop_id = shop.id
            await eventually(lambda: recording.statistics().delivered == 5, timeout=5)
        # the shop (no journal) is gone; a newcomer replays its history from the recording
        async with zbus.Node("late", mesh=mesh, config=MEMORY) as late:
            history = await late.subscribe("order.*", replay="all")
            got = [await history.next(timeout=5) for _ in range(5)]
            assert [(e.id, e.node_id, e.source, e.seq) for e in got] == [
                (i, shop_id, "shop", s) for i, s in zip(ids, range(1, 6), strict=True)
            ]
            replay_last = await late.subscribe("order.*", replay=2)
            assert [(await replay_last.next(timeout=5)).seq for _ in range(2)] == [4, 5]
        assert [e.seq async for e in archive.replay("order.*")] == [1, 2, 3, 4, 5]  # its journal holds them
    with Journal(tmp_path / "archive", map_size=2**20, durability="none", readonly=True) as journal:
        heads = journal.stream_heads()
    assert heads == {(shop_id, "order.placed"): 5}


async def test_a_recording_keeps_a_burst_larger_than_the_publishers_ring(tmp_path: Path) -> None:
    # the burst is published before the recorder's replay plan arrives and overruns the publisher's
    # ring (transport.repair_buffer, 4,096): the live events the recorder held fill the history
    mesh = f"rec-{os.getpid()}-{os.urandom(2).hex()}"
    async with zbus.Node("archive", mesh=mesh, config=journaled(tmp_path / "burst")) as archive:
        recording = await archive.record("burst.*")
        async with zbus.Node("pub", mesh=mesh, config=MEMORY) as pub:
            await pub.wait_for_subscribers("burst.x", timeout=5)
            for n in range(6000):
                await pub.publish("burst.x", {"n": n})
            await eventually(
                lambda: recording.statistics().delivered == 6000, timeout=30, what="all recorded"
            )
        assert archive.statistics().lost == 0
        assert [e.seq async for e in archive.replay("burst.*")] == list(range(1, 6001))


async def test_retention_applies_to_recorded_events(tmp_path: Path) -> None:
    mesh = f"rec-{os.getpid()}-{os.urandom(2).hex()}"
    config = journaled(tmp_path / "short", default="1s", sweep_interval="0.2s", by_prefix={})
    async with zbus.Node("archive", mesh=mesh, config=config) as archive:
        recording = await archive.record("tmp.*")
        async with zbus.Node("pub", mesh=mesh, config=MEMORY) as pub:
            await pub.wait_for_subscribers("tmp.x", timeout=5)
            for n in range(3):
                await pub.publish("tmp.x", {"n": n})
            await eventually(lambda: recording.statistics().delivered == 3, timeout=5)

            async def stored() -> int:
                return len([e async for e in archive.replay("tmp.*")])

            assert await stored() == 3
            await eventually(lambda: _none(stored), timeout=10, interval=0.1, what="recorded events swept")


async def test_record_needs_a_journal() -> None:
    async with zbus.Node("plain", mesh=f"rec-{os.getpid()}", config=MEMORY) as node:
        with pytest.raises(zbus.UsageError, match=r"persistence\.enabled"):
            await node.record("a.*")


async def _none(count: Any) -> bool:
    return bool(await count() == 0)
