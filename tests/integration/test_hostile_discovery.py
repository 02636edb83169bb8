"""Hostile discovery data against a node, with real zeroconf on 127.0.0.1 and real peer processes:
forged records are counted and ignored, a flood is bounded, and EMFILE is survived — and in every
case the node's ticker keeps going, so a peer's kill -9 is still noticed (docs/ARCHITECTURE.md,
"Hostile input")."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from zbus import Node
from zbus.testing import eventually

from .conftest import FAST, Proc
from .fake_mdns import FakeAnnouncer, Forged, node_record

STARVED = Path(__file__).with_name("starved_node.py")


def bad_records(mesh: str) -> dict[str, Forged]:
    ok = node_record(mesh)
    return {
        'rtr="-5"': node_record(mesh, rtr="-5"),
        'rtr="70000"': node_record(mesh, rtr="70000"),
        'pub="abc"': node_record(mesh, pub="abc"),
        'rtr="\\u0665"': node_record(mesh, rtr="\u0665"),  # ARABIC-INDIC DIGIT FIVE: a digit, not ASCII
        "no id": node_record(mesh, id=None),
        "id not the instance name's": node_record(mesh, id="0123456789abcdef"),
        'epoch="-1"': node_record(mesh, epoch="-1"),
        "a 100-character name": node_record(mesh, name="x" * 100),
        "a name that is not UTF-8": node_record(mesh, name=b"\xff\xfe"),
        'v="2"': node_record(mesh, v="2"),
        "40 TXT keys": node_record(mesh, **{f"k{i}": "x" for i in range(40)}),
        "address 0.0.0.0": Forged(
            ok.label + "a", {**ok.properties, "id": ok.label + "a"}, addresses=("0.0.0.0",)
        ),
        "address 224.0.0.251": Forged(
            ok.label + "b", {**ok.properties, "id": ok.label + "b"}, addresses=("224.0.0.251",)
        ),
        "address 10.9.8.7 in local scope": Forged(
            ok.label + "c", {**ok.properties, "id": ok.label + "c"}, addresses=("10.9.8.7",)
        ),
    }


class Starved(Proc):
    """starved_node.py in a child process, read like a peer_proc.py child (only killed by its PID)."""

    def __init__(self, *args: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, str(STARVED), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._buffer = b""


async def left_within(node: Node, proc: Proc, name: str) -> float:
    """kill -9 ``proc`` (peer ``name``) and return how long ``node`` took to notice it left."""
    started = time.monotonic()
    proc.kill9()
    await eventually(
        lambda: name not in {p.name for p in node.peers}, timeout=10, what=f"{name} noticed gone"
    )
    return time.monotonic() - started


async def test_forged_records_are_counted_ignored_and_the_ticker_survives(
    mesh_name: str, spawn: type[Proc]
) -> None:
    async with Node("target", mesh=mesh_name, config=FAST) as node:
        first = spawn("idle", mesh_name, "first")
        first.expect("ready")
        await node.wait_for_peers(1, timeout=10)
        records = bad_records(mesh_name)
        async with FakeAnnouncer() as fake:
            await fake.announce(list(records.values()))
            await eventually(
                lambda: node.statistics().dropped.get("bad_record", 0) >= len(records),
                timeout=10,
                what="every forged record counted",
            )
            took = await left_within(node, first, "first")
            second = spawn("idle", mesh_name, "second")
            second.expect("ready")
            await node.wait_for_peers(1, timeout=10)
        stats = node.statistics()
        print(f"\nforged mDNS records: {', '.join(records)}")
        print(
            f"refused and counted: bad_record={stats.dropped.get('bad_record')}; duty failures: "
            f"{stats.failures or 'none'}; a peer's kill -9 noticed after {took:.2f} s; "
            "a new peer joined after"
        )
        assert stats.dropped.get("bad_record") == len(records)
        assert not stats.failures  # nothing bad reached the ticker
        assert "second" in {p.name for p in node.peers}


async def test_1100_fake_records_are_bounded_and_the_ticker_survives(
    mesh_name: str, spawn: type[Proc]
) -> None:
    limits = {"discovery": {**FAST["discovery"], "max_nodes": 256, "max_pending_greetings": 32}}
    async with Node("target", mesh=mesh_name, config=limits) as node:
        first = spawn("idle", mesh_name, "first")
        first.expect("ready")
        await node.wait_for_peers(1, timeout=10)
        transport: Any = node._transport  # type: ignore[attr-defined]
        pending: list[int] = []
        # distinct endpoints on other loopback addresses, port 9 (discard): nobody answers there
        flood = [node_record(mesh_name, rtr="9") for _ in range(1100)]
        flood = [
            Forged(r.label, r.properties, addresses=(f"127.3.{i // 250}.{i % 250 + 1}",))
            for i, r in enumerate(flood)
        ]
        async with FakeAnnouncer() as fake:
            await fake.announce(flood)

            def full() -> bool:
                pending.append(len(transport.greeter.candidates))
                return node.statistics().dropped.get("discovery_full", 0) > 0

            await eventually(full, timeout=10, what="records beyond max_nodes refused")
            took = await left_within(node, first, "first")
            second = spawn("idle", mesh_name, "second")
            second.expect("ready")
            await node.wait_for_peers(1, timeout=10)
            pending.append(len(transport.greeter.candidates))
            followed = len(transport.greeter.greetings)
        stats = node.statistics()
        print(
            f"\n1,100 forged records of the mesh (each a distinct endpoint); discovery_full="
            f"{stats.dropped.get('discovery_full')}, endpoints followed {followed} "
            f"(max_nodes 256), unanswered HELLOs at most {max(pending)} (max_pending_greetings 32); "
            f"failures: {stats.failures or 'none'}; a peer's kill -9 noticed after {took:.2f} s; "
            "a new peer joined"
        )
        assert followed <= 256
        assert max(pending) <= 32
        assert "second" in {p.name for p in node.peers}


async def test_out_of_file_descriptors_the_ticker_survives(mesh_name: str, spawn: type[Proc]) -> None:
    victim = Starved(mesh_name, "6")
    try:
        first = spawn("idle", mesh_name, "first")
        first.expect("ready")
        victim.expect("ready", timeout=20)
        state: dict[str, Any] = {}

        def latest() -> dict[str, Any]:
            while (line := victim.readline(0.05)) is not None:
                state.update(json.loads(line))
            return state

        async with FakeAnnouncer() as fake:
            records = [node_record(mesh_name, rtr="9") for _ in range(30)]
            await fake.announce(
                [
                    Forged(r.label, r.properties, addresses=(f"127.4.0.{i + 1}",))
                    for i, r in enumerate(records)
                ]
            )
            await eventually(lambda: latest().get("failures", {}).get("greet", 0) > 0, timeout=10)
            failures = dict(state["failures"])
            started = time.monotonic()
            first.kill9()
            await eventually(lambda: "first" not in latest().get("peers", ["first"]), timeout=10)
            took = time.monotonic() - started
        print(
            f"\na node limited to 6 spare file descriptors greeted 30 forged endpoints: greetings failed "
            f"with EMFILE and were counted ({failures}); a peer's kill -9 was still noticed after "
            f"{took:.2f} s"
        )
    finally:
        victim.stop()
