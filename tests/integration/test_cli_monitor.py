"""``zbus monitor``: a passive sniffer. It sees the mesh's events and peers, and is never
counted as a subscriber."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

import zbus
from zbus import Node

from .test_cli_commands import Cli


@pytest.fixture
def mesh_id() -> str:
    return f"test-mon-{os.urandom(3).hex()}"


async def test_monitor_sees_events_and_peers_but_is_not_a_subscriber(mesh_id: str) -> None:
    cfg = {"discovery": {"heartbeat_interval": 0.2, "peer_timeout": 2.0}}
    mon = Cli("monitor", "order.**", "--json", "--count", "3", "--mesh", mesh_id, "--name", "sniffer")
    try:
        async with Node("shop", mesh=mesh_id, config=cfg) as shop:
            await shop.wait_for_peers(names=["sniffer"], timeout=20)
            assert [p.role for p in shop.peers] == ["monitor"]
            with pytest.raises(zbus.WaitTimeout):  # a monitor is not a subscriber
                await shop.wait_for_subscribers("order.placed", timeout=0.5)
            loop = asyncio.get_running_loop()
            joined = await loop.run_in_executor(None, mon.expect, '{"kind": "peer_joined"')
            assert json.loads(joined)["name"] == "shop"
            # the monitor's SUB may still be connecting (slow joiner): publish until it reports one
            first = None
            for i in range(200):
                await shop.publish("order.placed", {"n": i}, priority=7)
                try:
                    first = await asyncio.wait_for(
                        loop.run_in_executor(None, mon.expect, '{"kind": "event"', "out", 0.05), 1
                    )
                    break
                except AssertionError:
                    continue
            assert first is not None
            for i in range(200, 202):
                await shop.publish("order.placed", {"n": i}, priority=7)
            code, lines, err = await loop.run_in_executor(None, mon.finish)
        events = [json.loads(x) for x in lines if '"kind": "event"' in x]
        assert code == 0, err
        assert len(events) == 3 and all(e["type"] == "order.placed" and e["source"] == "shop" for e in events)
        assert events[-1]["payload"] == {"n": 201} and events[-1]["priority"] == 7
    finally:
        mon.stop()
