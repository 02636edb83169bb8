"""Delivery off the happy path, as real processes on loopback: a publisher that exits at once, one that
joins after its subscriber, two nodes with one name, a journal that fails, start-up requests.

Each test prints published / delivered / reported lost / duplicates, so a failure shows the figures.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import zbus
from zbus import JournalFullError, Node
from zbus.testing import eventually

from .conftest import FAST, Proc
from .test_cli_commands import Cli, run

# publish-and-exit is what discovery.settle is for: its default is tested here (tests/conftest.py)
pytestmark = pytest.mark.default_settle


class Tally:
    """What one subscriber got: payload indexes, sequence numbers, and the losses it was told of."""

    def __init__(self) -> None:
        self.got: list[int] = []
        self.seqs: list[int] = []
        self.keys: list[tuple[str, int]] = []  # (publisher id, seq): what duplicates are counted by
        self.lost = 0

    def event(self, event: zbus.Event) -> None:
        self.got.append(event.payload["i"])
        self.seqs.append(event.seq)
        self.keys.append((event.node_id, event.seq))

    def on_lost(self, lost: zbus.LostEvents) -> None:
        self.lost += lost.count

    def report(self, what: str, published: int) -> str:
        line = (
            f"{what}: published {published}, delivered {len(set(self.keys))}, reported lost {self.lost}, "
            f"duplicates {len(self.keys) - len(set(self.keys))}"
        )
        print(line)
        return line


@pytest.mark.parametrize("stay", [0.0, 3.0])
async def test_a_publisher_that_publishes_and_exits_at_once_delivers_everything(
    spawn: type[Proc], mesh_name: str, stay: float
) -> None:
    async with Node("sub", mesh=mesh_name, config=FAST) as node:
        tally = Tally()
        node.on_lost(tally.on_lost)
        await node.subscribe("oneshot.*", handler=tally.event)
        pub = spawn("oneshot", mesh_name, "oneshot", "oneshot.x", "3", str(stay))
        # read the child's output off the loop: the node in this process must keep running meanwhile
        closed = await asyncio.to_thread(pub.expect, "closed", 15)
        await eventually(lambda: len(tally.got) >= 3 or tally.lost > 0, timeout=10)
        tally.report(f"publish 3 and exit after {stay} s ({closed})", 3)
        assert sorted(tally.got) == [0, 1, 2] and tally.seqs == [1, 2, 3]
        assert tally.lost == 0


async def test_a_full_journal_refuses_publishes_without_burning_sequence_numbers(
    mesh_name: str, tmp_path: Path
) -> None:
    cfg = {
        **FAST,
        "persistence": {
            "enabled": True,
            "path": str(tmp_path),
            "map_size": "1MiB",
            "flush_interval": "5ms",
            "retention": {"max_size": "256KiB", "sweep_interval": "1h"},
        },
    }
    async with (
        Node("sub", mesh=mesh_name, config=FAST) as sub,
        Node("pub", mesh=mesh_name, config=cfg) as pub,
    ):
        tally = Tally()
        sub.on_lost(tally.on_lost)
        await sub.subscribe("bulk", handler=tally.event)
        await pub.wait_for_subscribers("bulk", timeout=10)
        published = refused = 0
        for i in range(400):  # 400 x 8 KB exceeds 1 MiB: bounded; stop after 20 refusals
            try:
                await pub.publish("bulk", {"i": i, "pad": "x" * 8000}, durable=True)
                published += 1
            except JournalFullError:
                refused += 1
                if refused == 20:
                    break
        assert refused == 20
        for _attempt in range(200):  # the full map started a sweep: publishing works again (bounded)
            try:
                await pub.publish("bulk", {"i": 10_000}, durable=True)
                published += 1
                break
            except JournalFullError:
                await asyncio.sleep(0.05)
        await eventually(lambda: 10_000 in tally.got, timeout=10)
        tally.report(f"full journal, {refused} publishes refused", published)
        assert tally.seqs == list(range(1, published + 1))  # no hole where the refused ones were
        assert tally.lost == 0


async def test_a_request_right_after_start_waits_for_discovery_to_find_the_responder(
    spawn: type[Proc], mesh_name: str
) -> None:
    server = spawn("respond", mesh_name, "echo-server", "echo")
    await asyncio.to_thread(server.expect, "ready")
    async with Node("client", mesh=mesh_name, config=FAST) as client:
        reply = await client.request("echo", {"n": 1}, timeout=5)  # no wait_for_responders first
        assert reply.payload == {"echo": {"n": 1}, "by": "echo-server"}
        with pytest.raises(zbus.NoResponders, match=r"wait_for_responders\('nobody'\)") as info:
            await client.request("nobody", timeout=5)
        assert "discovery has run" in str(info.value)
        print(f"request after start: answered; unknown type: {info.value}")


async def test_two_live_nodes_with_one_name_are_both_peers_and_lose_nothing(
    spawn: type[Proc], mesh_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with Node("watcher", mesh=mesh_name, config=FAST) as node:
        tally = Tally()
        node.on_lost(tally.on_lost)
        await node.subscribe("twin.*", handler=tally.event)
        twins = [spawn("pub", mesh_name, "twin", "twin.x", "30") for _ in range(2)]
        for twin in twins:
            await asyncio.to_thread(twin.expect, "done", 20)
        await eventually(lambda: len(tally.got) >= 60 or tally.lost > 0, timeout=10)
        tally.report("two nodes named 'twin', 30 events each", 60)
        assert sorted(tally.got) == sorted(list(range(30)) * 2) and tally.lost == 0
        assert [p.name for p in node.peers] == ["twin", "twin"]
        assert any("two live nodes are named 'twin'" in r.getMessage() for r in caplog.records)
        with pytest.raises(zbus.UnknownTargetError, match="names 2 live nodes"):
            await node.publish("hello", {}, target="twin")
        for twin in twins:
            twin.stop()
            assert "two live nodes are named 'twin'" in twin.stderr_text()


async def test_a_monitor_sees_a_one_shot_publish_from_a_process_started_after_it(mesh: str) -> None:
    mon = Cli("monitor", "--count", "3", "--json", "--duration", "30", "--mesh", mesh, "--name", "sniffer")
    try:
        await asyncio.to_thread(mon.expect, "monitoring", "err")
        # a publisher that does not wait for anyone: it starts, publishes 3 and exits at once
        pub = await asyncio.to_thread(run, "pub", "job.x", '{"n": 1}', "--count", "3",
                                      "--wait-subscribers", "0", "--mesh", mesh)  # fmt: skip
        assert pub.returncode == 0, pub.stderr
        code, lines, err = await asyncio.to_thread(mon.finish)
        events = [json.loads(x) for x in lines if '"kind": "event"' in x]
        print(f"monitor + one-shot pub: published 3, seen {len(events)}")
        assert code == 0, err
        assert [e["seq"] for e in events] == [1, 2, 3]
    finally:
        mon.stop()


HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def cpu_hogs() -> Iterator[None]:
    """Two busy processes for the test's length (each stops by itself after 60 s at most)."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG.format(seconds=60)]) for _ in range(2)]
    yield
    for hog in hogs:
        hog.kill()
        hog.wait(5)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("overflow", "drain"),
    [("block", "60s"), ("block", "200ms"), ("drop_oldest", "60s")],
    ids=["block-long-drain", "block-short-drain", "drop-oldest"],
)
async def test_overload_under_cpu_contention_loses_nothing_silently(
    spawn: type[Proc],
    mesh_name: str,
    monkeypatch: pytest.MonkeyPatch,
    cpu_hogs: None,
    overflow: str,
    drain: str,
) -> None:
    """A publisher floods 4,000 events as fast as it can into a subscriber whose handler takes 1 ms,
    with two CPU hogs running, then exits. With ``block`` and a drain long enough, everything arrives;
    with a short drain, what the publisher took with it is reported lost; with a drop policy, every
    drop is counted: delivered + reported lost + counted drops = published, always."""
    n = 4000
    monkeypatch.setenv("ZBUS_TRANSPORT__SLOW_SUBSCRIBER", "block")
    monkeypatch.setenv("ZBUS_TRANSPORT__DRAIN_TIMEOUT", drain)
    monkeypatch.setenv("ZBUS_TRANSPORT__SEND_HWM", "1000")
    cfg = {**FAST, "transport": {"recv_hwm": 1000, "slow_subscriber": "block"}}
    async with Node("slow", mesh=mesh_name, config=cfg) as node:
        tally = Tally()
        node.on_lost(tally.on_lost)

        async def handle(event: zbus.Event) -> None:
            tally.event(event)
            await asyncio.sleep(0.001)

        sub = await node.subscribe("flood", handler=handle, max_size=500, overflow=overflow)
        pub = spawn("pub", mesh_name, "flooder", "flood", str(n))
        await asyncio.to_thread(pub.expect, "done", 60)
        pub.popen.terminate()  # close(): BYE with the final heads, then the drain
        await asyncio.to_thread(pub.popen.wait, 70)

        def settled() -> bool:
            dropped = sum(sub.statistics().dropped.values())
            return len(set(tally.keys)) + tally.lost + dropped >= n and "flooder" not in {
                p.name for p in node.peers
            }

        await eventually(settled, timeout=60)
        dropped = sum(sub.statistics().dropped.values())
        tally.report(f"overload, {overflow}, drain {drain}, counted drops {dropped}", n)
        assert len(set(tally.keys)) + tally.lost + dropped == n
        assert tally.seqs == sorted(tally.seqs)  # in order, no duplicates
        if overflow == "block" and drain == "60s":
            assert (len(tally.got), tally.lost, dropped) == (n, 0, 0)
