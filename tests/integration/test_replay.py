"""History for late joiners (subscribe(replay=...)) and durable subscriptions that resume after a
restart, on real sockets and real LMDB journals."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from zbus import Event, Node
from zbus.inbound.replay import ReplayGate
from zbus.testing import eventually


def journaled(path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "persistence": {"enabled": True, "path": str(path)},
        "discovery": {"heartbeat_interval": 0.1},
    } | extra


async def _late_joiner_gets_history_then_live(mesh_name: str, config: dict[str, Any]) -> None:
    """50 events before anyone subscribes, then a late joiner replays while 50 more race it."""
    async with Node("pub", mesh=mesh_name, config=config) as pub:
        for i in range(50):
            await pub.publish("order.created", {"i": i})
        async with Node("late", mesh=mesh_name) as late:
            await late.wait_for_peers(names=["pub"], timeout=10)
            sub = await late.subscribe("order.*", replay="all")

            async def keep_publishing() -> None:  # live events race the replay: the seam must hold
                for i in range(50, 100):
                    await pub.publish("order.created", {"i": i})
                    await asyncio.sleep(0)

            publishing = asyncio.ensure_future(keep_publishing())
            got = [(await sub.next(timeout=10)).payload["i"] for _ in range(100)]
            await publishing
            assert got == list(range(100))
            assert late.statistics().lost == 0


async def test_a_late_joiner_gets_history_then_live_without_gap_or_duplicate(
    mesh_name: str, tmp_path: Path
) -> None:
    await _late_joiner_gets_history_then_live(mesh_name, journaled(tmp_path / "pub"))


async def test_a_late_joiner_gets_the_ring_of_a_publisher_nobody_heard_then_live_without_gap(
    mesh_name: str,
) -> None:
    # nobody subscribed while the first 50 went out: the mesh did not hand them to ZeroMQ at all
    # (protocol.interest Rule 4), yet the ring kept them
    await _late_joiner_gets_history_then_live(mesh_name, {})


async def test_replay_last_n_per_topic(mesh_name: str, tmp_path: Path) -> None:
    async with Node("pub", mesh=mesh_name, config=journaled(tmp_path / "pub")) as pub:
        for i in range(20):
            await pub.publish("a.x", {"i": i})
            await pub.publish("a.y", {"i": i})
        async with Node("late", mesh=mesh_name) as late:
            await late.wait_for_peers(names=["pub"], timeout=10)
            sub = await late.subscribe("a.*", replay=3)
            got = sorted((e.topic, e.payload["i"]) for e in [await sub.next(timeout=10) for _ in range(6)])
            assert got == [("a.x", 17), ("a.x", 18), ("a.x", 19), ("a.y", 17), ("a.y", 18), ("a.y", 19)]


async def test_a_durable_subscription_resumes_after_its_restart(mesh_name: str, tmp_path: Path) -> None:
    seen: list[int] = []

    def handle(event: Event) -> None:
        seen.append(event.payload["i"])

    async with Node("pub", mesh=mesh_name, config=journaled(tmp_path / "pub")) as pub:
        async with Node("worker", mesh=mesh_name, config=journaled(tmp_path / "worker")) as worker:
            await worker.subscribe("job.*", handler=handle, durable="jobs")
            await pub.wait_for_subscribers("job.*", timeout=10)
            for i in range(30):
                await pub.publish("job.run", {"i": i})
            await eventually(lambda: len(seen) == 30, timeout=10)
        # the worker is down: these are published while nobody listens
        for i in range(30, 60):
            await pub.publish("job.run", {"i": i})
        async with Node("worker", mesh=mesh_name, config=journaled(tmp_path / "worker")) as worker:
            await worker.subscribe("job.*", handler=handle, durable="jobs")
            for i in range(60, 70):
                await pub.publish("job.run", {"i": i})
            await eventually(lambda: len(seen) >= 70, timeout=15, what="missed and new events delivered")
            assert seen == list(range(70))  # nothing lost, nothing twice (the last checkpoint was clean)
            assert worker.statistics().lost == 0


async def test_dead_letters_are_kept_announced_retried_and_purged(mesh_name: str, tmp_path: Path) -> None:
    fail = True
    handled: list[int] = []

    def flaky(event: Event) -> None:
        if fail:
            raise ValueError("not yet")
        handled.append(event.payload["i"])

    cfg = journaled(tmp_path / "n", queue={"max_attempts": 2, "retry_base_delay": 0.01})
    async with Node("n", mesh=mesh_name, config=cfg) as node:
        notices = await node.subscribe("$zbus.dlq")
        await node.subscribe("task", handler=flaky)
        await node.publish("task", {"i": 1})
        notice = await notices.next(timeout=10)
        assert notice.payload["error_type"] == "ValueError" and notice.payload["attempts"] == 2
        stored = await node.stored_dead_letters()
        assert len(stored) == 1 and stored[0].error == "not yet"
        fail = False
        assert await node.retry_dead_letters() == 1
        await eventually(lambda: handled == [1], timeout=10)
        assert await node.stored_dead_letters() == []
        fail = True
        await node.publish("task", {"i": 2})
        await notices.next(timeout=10)
        await eventually(lambda: len(node.dead_letters()) == 2, timeout=10)
        assert await node.purge_dead_letters() == 1
        assert await node.stored_dead_letters() == []


async def test_directed_events_reach_a_replaying_subscription(mesh_name: str, tmp_path: Path) -> None:
    async with (
        Node("pub", mesh=mesh_name, config=journaled(tmp_path / "pub")) as pub,
        Node("late", mesh=mesh_name) as late,
    ):
        await late.wait_for_peers(names=["pub"], timeout=10)
        sub = await late.subscribe("note.*", replay="all")
        await pub.wait_for_peers(names=["late"], timeout=10)
        await pub.publish("note.direct", {"to": "late"}, target="late")
        event = await sub.next(timeout=10)
        assert event.payload == {"to": "late"} and event.target == "late"


async def test_a_full_hold_during_replay_loses_nothing(mesh_name: str, tmp_path: Path) -> None:
    hold = {"repair": {"hold_limit": 5}}  # live events beyond 5 are let go and pulled later
    async with Node("pub", mesh=mesh_name, config=journaled(tmp_path / "pub")) as pub:
        for i in range(200):
            await pub.publish("order.created", {"i": i})
        async with Node("late", mesh=mesh_name, config=hold) as late:
            await late.wait_for_peers(names=["pub"], timeout=10)
            sub = await late.subscribe("order.*", replay="all", max_size=100_000)
            for i in range(200, 400):  # live events while the history is being pulled
                await pub.publish("order.created", {"i": i})
            got = [(await sub.next(timeout=10)).payload["i"] for _ in range(400)]
            assert got == list(range(400))
            assert late.statistics().lost == 0
            gate = sub.gate
            assert isinstance(gate, ReplayGate) and gate.let_go > 0  # the hold really overflowed
