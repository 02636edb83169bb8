"""Retention runs in the background of a journaled node; a full journal is a clear error and
backpressure (never corruption), and retention makes room again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from zbus import JournalFullError, Node
from zbus.testing import eventually


async def count(node: Node) -> int:
    return len([e async for e in node.replay("**")])


async def test_expired_events_are_swept_in_the_background(mesh_name: str, tmp_path: Path) -> None:
    cfg = {
        "persistence": {
            "enabled": True,
            "path": str(tmp_path),
            "flush_interval": "5ms",
            "retention": {"default": "1s", "by_prefix": {"audit": "1h"}, "sweep_interval": "200ms"},
        }
    }
    async with Node("n", mesh=mesh_name, config=cfg) as node:
        for i in range(10):
            await node.publish("debug.trace", {"i": i}, durable=True)
            await node.publish("audit.login", {"i": i}, durable=True)
        deadline = asyncio.get_running_loop().time() + 10
        while await count(node) != 10:  # poll with a deadline: the sweep runs on its own timer
            assert asyncio.get_running_loop().time() < deadline, "retention never ran"
            await asyncio.sleep(0.1)
        assert {e.topic async for e in node.replay("**")} == {"audit.login"}  # audit kept 1 h


async def test_a_full_journal_refuses_clearly_then_retention_makes_room(
    mesh_name: str, tmp_path: Path
) -> None:
    cfg = {
        "persistence": {
            "enabled": True,
            "path": str(tmp_path),
            "map_size": "1MiB",
            "flush_interval": "5ms",
            # only a full map triggers a sweep here
            "retention": {"max_size": "256KiB", "sweep_interval": "1h"},
        }
    }
    async with Node("n", mesh=mesh_name, config=cfg) as node:
        error: JournalFullError | None = None
        for i in range(400):  # 400 x 8 KB exceeds 1 MiB: bounded
            try:
                await node.publish("bulk", {"i": i, "pad": "x" * 8000}, durable=True)
            except JournalFullError as exc:
                error = exc
                break
        assert error is not None and "map_size" in str(error)
        deadline = asyncio.get_running_loop().time() + 10
        while True:  # the full map started a sweep; publishing works again once it made room
            try:
                await node.publish("bulk", {"after": True}, durable=True)
                break
            except JournalFullError:
                assert asyncio.get_running_loop().time() < deadline, "retention never made room"
                await asyncio.sleep(0.05)
        assert node._persistence is not None and node._persistence.swept > 0
        await eventually(lambda: node.state.value == "running", timeout=1)
        events = [e async for e in node.replay("bulk")]
        assert events[-1].payload == {"after": True}
        seqs = [e.seq for e in events]
        assert seqs == sorted(seqs)  # the journal is intact and ordered
