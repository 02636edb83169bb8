"""Nodes in separate processes: discovery, pub/sub, request/reply, kill -9 and restart."""

from __future__ import annotations

import json
import time

import zbus
from zbus import Node
from zbus.testing import eventually

from .conftest import FAST, Proc


async def test_publisher_and_subscriber_processes(spawn: type[Proc], mesh_name: str) -> None:
    sub = spawn("sub", mesh_name, "subscriber", "sensor.*")
    sub.expect("ready")
    pub = spawn("pub", mesh_name, "publisher", "sensor.temp", "200")
    pub.expect("ready")
    pub.expect("done", timeout=20)
    seen = [json.loads(sub.expect("{")) for _ in range(200)]
    assert [s["payload"]["i"] for s in seen] == list(range(200))
    assert [s["seq"] for s in seen] == list(range(1, 201))
    assert {s["source"] for s in seen} == {"publisher"}


async def test_request_to_another_process(spawn: type[Proc], mesh_name: str) -> None:
    server = spawn("respond", mesh_name, "echo-server", "echo")
    server.expect("ready")
    async with Node("client", mesh=mesh_name, config=FAST) as client:
        await client.wait_for_peers(names=["echo-server"], timeout=10)
        await client.wait_for_responders("echo", timeout=10)
        reply = await client.request("echo", {"hi": 1}, timeout=5)
        assert reply.payload == {"echo": {"hi": 1}, "by": "echo-server"}


async def test_killed_peer_is_noticed_and_restart_rejoins(spawn: type[Proc], mesh_name: str) -> None:
    async with Node("watcher", mesh=mesh_name, config=FAST) as watcher:
        events: list[zbus.PeerEvent] = []
        watcher.on_peer(events.append)
        victim = spawn("idle", mesh_name, "victim")
        _, first_id, first_epoch = victim.expect("ready").split()
        await watcher.wait_for_peers(names=["victim"], timeout=10)
        t0 = time.monotonic()
        victim.kill9()
        await eventually(lambda: watcher.peers == [], timeout=10)
        noticed = time.monotonic() - t0
        assert noticed < FAST["discovery"]["peer_timeout"] + 1  # the dropped connection, or at worst expiry
        again = spawn("idle", mesh_name, "victim")
        _, second_id, second_epoch = again.expect("ready").split()
        peers = await watcher.wait_for_peers(names=["victim"], timeout=10)
        assert peers[0].id == second_id != first_id
        assert peers[0].epoch == int(second_epoch) > int(first_epoch)
        kinds = [(e.kind, e.peer.id) for e in events]
        assert kinds[:2] == [("joined", first_id), ("left", first_id)]
        assert ("joined", second_id) in kinds
