"""Gap repair on real sockets: a subscriber that misses events gets them back from the publisher's
ring or journal, in order; what nobody holds is reported lost (counted, logged, on_lost)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from zbus import Event, LostEvents, Node
from zbus.testing import eventually

PAYLOAD = "x" * 1000  # big enough that the kernel's socket buffers fill too
N = 20_000  # enough to overrun the stalled subscriber even though the publisher batches


def config(**transport: Any) -> dict[str, Any]:
    return {
        "transport": {"send_hwm": 10, "recv_hwm": 10, "slow_subscriber": "drop", **transport},
        "discovery": {"heartbeat_interval": 0.1, "peer_timeout": 30},
    }


async def flood_a_stalled_subscriber(pub: Node, sub: Node, n: int) -> list[int]:
    """Publish ``n`` events while the subscriber's handler (backlog 1, blocking) does not read: the
    publisher's XPUB drops what does not fit. Then let the subscriber go and collect what it gets."""
    gate = asyncio.Event()
    seen: list[int] = []

    async def slow(event: Event) -> None:
        await gate.wait()
        seen.append(event.payload["i"])

    await sub.subscribe("flood", handler=slow, max_size=1, overflow="block")
    await pub.wait_for_subscribers("flood", timeout=10)
    for i in range(n):
        await pub.publish("flood", {"i": i, "pad": PAYLOAD})
    gate.set()
    stats = sub.statistics
    await eventually(lambda: len(seen) + stats().lost == n, timeout=30, what="every event delivered or lost")
    return seen


async def test_missed_events_are_repaired_from_the_ring(mesh_name: str) -> None:
    async with (
        Node("pub", mesh=mesh_name, config=config(repair_buffer=N)) as pub,  # the ring holds the flood
        Node("sub", mesh=mesh_name, config=config()) as sub,
    ):
        seen = await flood_a_stalled_subscriber(pub, sub, N)
        stats = sub.statistics()
    assert stats.gaps > 0 and stats.repaired > 0  # the flood really overran the subscriber
    assert seen == list(range(N))
    assert stats.lost == 0


async def test_missed_events_are_repaired_from_the_journal(mesh_name: str, tmp_path: Path) -> None:
    journaled = config(repair_buffer=0) | {"persistence": {"enabled": True, "path": str(tmp_path)}}
    async with (
        Node("pub", mesh=mesh_name, config=journaled) as pub,
        Node("sub", mesh=mesh_name, config=config()) as sub,
    ):
        seen = await flood_a_stalled_subscriber(pub, sub, N)
        stats = sub.statistics()
    assert stats.repaired > 0
    assert seen == list(range(N))
    assert stats.lost == 0


async def test_what_nobody_holds_is_reported_lost(mesh_name: str) -> None:
    bare = config(repair_buffer=0)  # no ring, no journal: nothing can be repaired
    async with (
        Node("pub", mesh=mesh_name, config=bare) as pub,
        Node("sub", mesh=mesh_name, config=config()) as sub,
    ):
        reports: list[LostEvents] = []
        sub.on_lost(reports.append)
        seen = await flood_a_stalled_subscriber(pub, sub, N)
        stats = sub.statistics()
    assert stats.lost > 0
    assert seen == sorted(seen)
    assert sum(r.count for r in reports) == stats.lost
    assert {(r.topic, r.reason) for r in reports} == {("flood", "not in the publisher's journal")}
    lost = {s for r in reports for s in range(r.first, r.last + 1)}
    assert {s - 1 for s in lost}.isdisjoint(seen)  # seq = i + 1: the reported ranges are exactly the holes
    assert len(lost) + len(seen) == N


async def test_a_journaled_publisher_keeps_its_id_and_sequence_across_a_restart(
    mesh_name: str, tmp_path: Path
) -> None:
    cfg = {"persistence": {"enabled": True, "path": str(tmp_path)}, "discovery": {"heartbeat_interval": 0.1}}
    async with Node("sub", mesh=mesh_name) as sub:
        got = await sub.subscribe("tick")
        async with Node("pub", mesh=mesh_name, config=cfg) as pub:
            first_id, first_epoch = pub.id, pub.epoch
            await pub.wait_for_subscribers("tick", timeout=10)
            for i in range(5):
                await pub.publish("tick", {"i": i})
            for _ in range(5):
                await got.next(timeout=10)
        async with Node("pub", mesh=mesh_name, config=cfg) as pub:
            assert pub.id == first_id and pub.epoch > first_epoch
            for i in range(5, 10):  # at once: the subscriber is not connected yet, so these are missed live
                await pub.publish("tick", {"i": i})
            events = [await got.next(timeout=10) for _ in range(5)]
        assert [e.payload["i"] for e in events] == [5, 6, 7, 8, 9]
        assert [e.seq for e in events] == [6, 7, 8, 9, 10]  # the sequence continued across the restart
        assert sub.statistics().lost == 0


async def test_a_duplicate_is_dropped_and_counted(mesh_name: str) -> None:
    from zbus.codec import wire

    async with Node("pub", mesh=mesh_name) as pub, Node("sub", mesh=mesh_name) as sub:
        got = await sub.subscribe("dup")
        event = zbus_event("dup")
        frames = wire.encode(event, node_id=pub.id, seq=1, epoch=pub.epoch)
        await sub._router.on_event(frames)  # the same event arriving twice (two paths, a resend)
        await sub._router.on_event(frames)
        assert (await got.next(timeout=5)).seq == 1
        assert sub.statistics().dropped.get("duplicate") == 1
        assert got.statistics().queued == 0


def zbus_event(topic: str) -> Event:
    return Event(topic, {"n": 1}, source="pub")
