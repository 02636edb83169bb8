"""persistence.enabled: published events are journaled in LMDB and can be replayed, across restarts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import zbus
from zbus import Node


def journaled(tmp_path: Path, mesh: str, **persistence: Any) -> dict[str, Any]:
    return {
        "mesh": {"name": mesh},
        "transport": {"kind": "memory"},  # the journal is what is under test, not the sockets
        "persistence": {"enabled": True, "path": str(tmp_path / "journal"), **persistence},
    }


async def collect(events: Any) -> list[zbus.Event]:
    return [event async for event in events]


async def test_replay_across_a_restart(tmp_path: Path, mesh_name: str) -> None:
    cfg = journaled(tmp_path, mesh_name)
    async with Node("orders", config=cfg) as node:
        for i in range(5):
            await node.publish("order.placed", {"n": i}, priority=3 + i)
        await node.publish("audit.login", {"user": "ada"})
        middle = datetime.now(UTC)
        await node.publish("order.shipped", {"n": 99}, durable=True)
    async with Node("orders", config=cfg) as again:  # a new incarnation reads the same journal
        everything = await collect(again.replay())
        assert [e.type for e in everything] == ["order.placed"] * 5 + ["audit.login", "order.shipped"]
        placed = await collect(again.replay("order.placed"))
        assert [e.payload["n"] for e in placed] == [0, 1, 2, 3, 4]
        assert [e.seq for e in placed] == [1, 2, 3, 4, 5] and placed[4].priority == 7
        assert [e.type for e in await collect(again.replay("order.*", since=middle))] == ["order.shipped"]
        assert [e.payload["n"] for e in await collect(again.replay("order.placed", from_seq=4))] == [3, 4]
        newest = await collect(again.replay("order.*", last=2))
        assert [(e.type, e.payload["n"]) for e in newest] == [
            ("order.placed", 3),
            ("order.placed", 4),
            ("order.shipped", 99),
        ]


async def test_durable_publish_needs_a_journal(mesh_name: str, memory_config: dict[str, Any]) -> None:
    async with Node("plain", config=memory_config | {"mesh": {"name": mesh_name}}) as node:
        with pytest.raises(zbus.UsageError, match=r"persistence\.enabled"):
            await node.publish("x", durable=True)
        with pytest.raises(zbus.UsageError, match=r"persistence\.enabled"):
            node.replay()


async def test_sync_durability_and_many_events(tmp_path: Path, mesh_name: str) -> None:
    cfg = journaled(tmp_path, mesh_name, durability="sync", batch_size=50)
    async with Node("bulk", config=cfg) as node:
        for i in range(1_200):  # more than one read chunk
            await node.publish("metric.cpu", {"i": i})
        await node.publish("metric.cpu", {"i": 1_200}, durable=True)
        got = await collect(node.replay("metric.cpu"))
        assert [e.payload["i"] for e in got] == list(range(1_201))


async def test_a_send_that_raises_never_stalls_the_publishers_behind_it(tmp_path: Path) -> None:
    """Write-ahead sending: publishers wait for the journal's sender once events are committed, so
    a send that raises must neither kill the sender nor leave them waiting; the event stays
    journaled (repairable) and is counted."""
    from zbus.codec import wire
    from zbus.config import load_config
    from zbus.journal.persistence import Persistence

    config = load_config({"persistence": {"enabled": True, "path": str(tmp_path)}}).persistence
    sent: list[int] = []

    async def send(topic: str, seq: int, frames: list[bytes]) -> None:
        if seq == 3:
            raise RuntimeError("the transport refused it")
        sent.append(seq)

    persistence, _ = await Persistence.open(config, "pub", candidate_id="n1", epoch=1, send=send)
    try:
        async with asyncio.timeout(10):
            for seq in range(1, 2001):
                frames = wire.encode(
                    zbus.Event("t", {"i": seq}, source="pub"), node_id="n1", seq=seq, epoch=1
                )
                await persistence.append("n1", "t", seq, 1, time.time(), frames, durable=False)
            await persistence.drain()
        assert sent == [s for s in range(1, 2001) if s != 3]
        assert persistence.send_failed == 1
        assert len(await persistence.read_range("n1", "t", 1, 2000)) == 2000  # all journaled
    finally:
        await persistence.close()


async def test_replay_yields_what_comes_before_a_bad_record_then_says_what_is_wrong(tmp_path: Path) -> None:
    """A replay decodes each chunk in one call; a record whose header is not an event (its envelope and
    checksum are fine: written by something else) still ends the replay with a WireError naming the
    problem, after the events before it."""
    import msgpack

    from zbus.codec import wire
    from zbus.config import load_config
    from zbus.journal.persistence import Persistence, replay_events

    async def send(topic: str, seq: int, frames: list[bytes]) -> None:
        pass

    config = load_config({"persistence": {"enabled": True, "path": str(tmp_path)}}).persistence
    persistence, _ = await Persistence.open(config, "pub", candidate_id="n1", epoch=1, send=send)
    try:
        for seq in range(1, 5):
            frames = wire.encode(zbus.Event("t", {"i": seq}, source="pub"), node_id="n1", seq=seq, epoch=1)
            if seq == 3:
                frames = [frames[0], msgpack.packb([1, "id", None, "n1", "pub", 3]), frames[2]]
            await persistence.append("n1", "t", seq, 1, time.time() + seq * 1e-3, frames, durable=True)
        got: list[int] = []
        with pytest.raises(zbus.WireError, match="at least"):
            async for event in replay_events(persistence, "**", since=None, last=None):
                got.append(event.payload["i"])
        assert got == [1, 2]
    finally:
        await persistence.close()
