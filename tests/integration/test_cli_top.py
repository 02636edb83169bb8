"""``zbus top``: a 3-node mesh seen whole, as real processes on 127.0.0.1, through ``$zbus.stats``."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import Proc
from .test_cli_commands import ZBUS, Cli


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ZBUS, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(autouse=True)
def fast_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process of the test (they inherit the environment) shares its stats every 0.5 s."""
    monkeypatch.setenv("ZBUS_MONITORING__MESH__INTERVAL", "0.5s")


def test_top_once_json_sees_a_three_node_mesh(mesh: str, background: type[Cli], spawn: type[Proc]) -> None:
    subscriber = background("sub", "flow.*", "--name", "sink", "--mesh", mesh)
    subscriber.expect("subscribed to flow.*", stream="err")
    idle = background("node", "start", "--name", "idle", "--mesh", mesh)
    idle.expect("ready ")
    source = spawn("stream", mesh, "source", "flow.tick", "3000", "100")  # 30 s at 100 events/s
    source_id = source.expect("ready").split()[1]
    source.expect("sent 100", timeout=30)
    out = run("top", "--once", "--json", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert sorted(nodes) == ["idle", "sink", "source"]  # zbus top's own node is left out
    assert nodes["source"]["id"] == source_id
    assert all(n["peers"] >= 2 and not n["stale"] for n in nodes.values())
    assert nodes["source"]["rates"]["published"] > 20
    assert nodes["sink"]["rates"]["received"] > 20
    assert nodes["sink"]["counters"]["lost"] == 0
    assert {"p50", "p90", "p99", "count"} <= nodes["sink"]["latency"].keys()
    flows = [(e["from_name"], e["to_name"]) for e in doc["edges"] if e["rate"] > 0]
    assert flows == [("source", "sink")]
    assert doc["topics"][0]["topic"] == "flow.tick" and doc["topics"][0]["published"] > 20
    assert doc["series"]["t"] and "flow.tick" in doc["series"]["topics"]
    table = run("top", "--once", "--mesh", mesh)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"zbus top  mesh {mesh}  3 node(s)")
    assert lines[1].split()[:3] == ["NODE", "ROLE", "PEERS"]
    assert {line.split()[0] for line in lines[2:5]} == {"idle", "sink", "source"}
    assert any(line.split()[:2] == ["source", "sink"] for line in lines)  # the flows table


def test_top_live_refreshes_until_its_duration(mesh: str, background: type[Cli]) -> None:
    other = background("node", "start", "--name", "lonely", "--mesh", mesh)
    other.expect("ready ")
    out = run("top", "--json", "--duration", "3", "--refresh", "0.5", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(docs) >= 4
    assert [n["name"] for n in docs[-1]["nodes"]] == ["lonely"]


def test_top_without_sharing_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, mesh: str) -> None:
    monkeypatch.setenv("ZBUS_MONITORING__MESH__INTERVAL", "0")
    out = run("top", "--once", "--mesh", mesh)
    assert out.returncode == 2 and "monitoring.mesh.interval is 0" in out.stderr


def test_top_shows_queue_group_members_as_their_publisher_sees_them(mesh: str, spawn: type[Proc]) -> None:
    worker = spawn("worker", mesh, "w", "task.*", "workers", "5", "4")  # 5 ms a task, credit 4
    worker.expect("ready")
    planner = spawn("tasks", mesh, "planner", "task.x", "2000", "workers", "0")  # 10 s of work
    planner.expect("done", timeout=30)
    out = run("top", "--once", "--json", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    nodes = {n["name"]: n for n in json.loads(out.stdout)["nodes"]}
    ((group, member, in_flight, acked, redelivered),) = nodes["planner"]["groups"]
    assert (group, member, redelivered) == ("workers", "w", 0) and 0 < in_flight <= 4 and acked > 0
    assert nodes["w"]["groups"] == []  # a member that publishes to no group has no view of one
    table = run("top", "--once", "--mesh", mesh).stdout.splitlines()
    header = [line for line in table if line.startswith("GROUP")]
    assert header and header[0].split()[:3] == ["GROUP", "MEMBER", "PUBLISHER"]
    assert any(line.split()[:3] == ["workers", "w", "planner"] for line in table)
