"""A subscriber that cannot keep up: the configured policy decides, and nothing is lost silently."""

from __future__ import annotations

import asyncio

import pytest

from zbus import Event, Node
from zbus.testing import eventually

N = 20_000
PAYLOAD = "x" * 1000  # big enough that the kernel's socket buffers fill too


def config(policy: str) -> dict[str, object]:
    return {
        "transport": {"send_hwm": 10, "recv_hwm": 10, "slow_subscriber": policy},
        "discovery": {"heartbeat_interval": 0.1, "peer_timeout": 30},
    }


async def run(mesh_name: str, policy: str) -> tuple[list[int], Node]:
    async with (
        Node("pub", mesh=mesh_name, config=config(policy)) as pub,
        Node("sub", mesh=mesh_name, config=config(policy)) as sub,
    ):
        gate = asyncio.Event()
        seen: list[int] = []

        async def slow(event: Event) -> None:
            await gate.wait()
            seen.append(event.payload["i"])

        # a backlog of 1 that blocks: the subscriber stops reading its socket while the handler waits
        await sub.subscribe("flood", handler=slow, max_size=1, overflow="block")
        await pub.wait_for_subscribers("flood", timeout=10)

        async def flood() -> None:
            for i in range(N):
                await pub.publish("flood", {"i": i, "pad": PAYLOAD})

        publishing = asyncio.ensure_future(flood())
        if policy == "drop":
            await asyncio.wait_for(publishing, 60)  # the publisher never waits for the slow one
        else:
            await eventually(lambda: pub.statistics().published > 1000, timeout=30)
        gate.set()
        await asyncio.wait_for(publishing, 60)
        stats = sub.statistics
        what = f"{policy}: every event delivered or counted lost"
        await eventually(lambda: len(seen) + stats().lost == N, timeout=30, what=what)
        return seen, sub


@pytest.mark.slow
async def test_drop_policy_counts_every_lost_event(mesh_name: str) -> None:
    seen, sub = await run(mesh_name, "drop")
    stats = sub.statistics()
    assert stats.lost > 0 and stats.gaps > 0  # the flood really overran the subscriber
    assert seen == sorted(seen)  # what arrived is in order
    assert len(seen) + stats.lost == N  # and everything else is accounted for


@pytest.mark.slow
async def test_block_policy_loses_nothing(mesh_name: str) -> None:
    seen, sub = await run(mesh_name, "block")
    assert seen == list(range(N))
    assert sub.statistics().lost == 0


@pytest.mark.slow
async def test_blocked_publisher_stays_alive_for_healthy_peers(mesh_name: str) -> None:
    """With slow_subscriber="block", a stuck subscriber holds back the XPUB (heartbeats too); the
    publisher then PINGs its peers directly, so a healthy third node does not expire it."""
    cfg = {
        "transport": {"send_hwm": 10, "recv_hwm": 10, "slow_subscriber": "block"},
        "discovery": {"heartbeat_interval": 0.1, "peer_timeout": 1.0},
    }
    async with (
        Node("pub", mesh=mesh_name, config=cfg) as pub,
        Node("stuck", mesh=mesh_name, config=cfg) as stuck,
        Node("healthy", mesh=mesh_name, config=cfg) as healthy,
    ):
        gate = asyncio.Event()

        async def wait_forever(event: Event) -> None:
            await gate.wait()

        await stuck.subscribe("flood", handler=wait_forever, max_size=1, overflow="block")
        await pub.wait_for_subscribers("flood", timeout=10)
        await healthy.wait_for_peers(names=["pub"], timeout=10)

        async def flood() -> None:
            for i in range(N):
                await pub.publish("flood", {"i": i, "pad": PAYLOAD})

        publishing = asyncio.ensure_future(flood())
        try:
            mesh = pub._transport
            await eventually(lambda: getattr(mesh, "blocked_since", None) is not None, timeout=20)
            blocked_at = asyncio.get_running_loop().time()
            # three peer timeouts with the XPUB blocked: healthy must keep pub all along
            while asyncio.get_running_loop().time() - blocked_at < 3.0:
                assert "pub" in {p.name for p in healthy.peers}
                await asyncio.sleep(0.05)  # sampling interval of the property, not synchronisation
        finally:
            gate.set()
            publishing.cancel()
