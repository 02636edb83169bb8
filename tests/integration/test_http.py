"""A node's HTTP endpoints over real HTTP: /health (200 and really-unhealthy 503s), /metrics (parsed with
prometheus-client's parser and checked by promtool), /api/state, errors."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import zbus
from zbus import Node
from zbus.testing import eventually, local_mesh

HTTP = {"monitoring": {"http": {"enabled": True}}}
FAST = {"queue": {"retry_base_delay": 0.01, "retry_max_delay": 0.02}}


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


async def get(node: Node, path: str) -> tuple[int, str, str]:
    """GET ``path`` with the node's token (what the dashboard sends)."""
    assert node.http_url is not None and node.dashboard_url is not None
    token = node.dashboard_url.partition("?")[2]
    return await asyncio.to_thread(_get, node.http_url + path + ("&" if "?" in path else "?") + token)


async def health(node: Node) -> tuple[int, dict[str, Any]]:
    status, ctype, body = await get(node, "/health")
    assert ctype == "application/json"
    return status, json.loads(body)


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Any], name: str, **labels: str) -> float:
    family = fams[name]
    for sample in family.samples:
        if sample.labels == labels and sample.name in (name, name + "_total"):
            return float(sample.value)
    raise AssertionError(f"no sample {name}{labels}")


async def test_health_is_200_in_the_seed_shape_and_http_is_off_by_default(mesh_name: str) -> None:
    async with Node("quiet", mesh=mesh_name) as quiet:
        assert quiet.http_url is None
    async with local_mesh(2, mesh=mesh_name, config=HTTP) as (a, _b):
        assert a.http_url is not None and re.fullmatch(r"http://127\.0\.0\.1:\d+", a.http_url)
        status, doc = await health(a)
        assert status == 200
        assert doc["status"] == "healthy" and doc["problems"] == []
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["timestamp"])
        assert doc["checks"] == {
            "transport": "connected (1 peers)",
            "persistence": "disabled",
            "queue": "0% capacity",
            "workers": "0/4 busy",
        }
        assert doc["node"]["name"] == a.name and doc["node"]["mesh"] == mesh_name
        status, _, body = await get(a, "/nope")
        assert status == 404 and "/health" in json.loads(body)["endpoints"]
        status, ctype, page = await get(a, "/")
        assert status == 200 and ctype.startswith("text/html") and "api/state" in page
        assert "<script src" not in page and "http" not in re.sub(r"https?://www\.w3\.org\S*", "", page)


async def test_metrics_cover_the_issue_list_with_bounded_labels(mesh_name: str) -> None:
    config = {**HTTP, **FAST}
    async with local_mesh(2, mesh=mesh_name, config=config) as (a, b):
        got: list[zbus.Event] = []

        def handler(event: zbus.Event) -> None:
            if event.payload.get("fail"):
                raise ValueError("bad order")
            got.append(event)

        await a.subscribe("order.*", handler=handler)
        await b.wait_for_subscribers("order.*")
        for i in range(30):
            await b.publish("order.placed", {"n": i}, priority=1 + i % 10)
        await b.publish("order.placed", {"fail": True}, max_attempts=2)
        await eventually(lambda: len(got) == 30 and len(a.dead_letters()) == 1, what="deliveries")

        @b.respond("math.add")
        def add(event: zbus.Event) -> int:
            return int(event.payload["x"]) + 1

        await a.wait_for_responders("math.add")
        assert (await a.request("math.add", {"x": 1})).payload == 2

        status, ctype, text = await get(a, "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        fams = families(text)
        expected = {
            "zbus_node_info",
            "zbus_node_running",
            "zbus_events_published",
            "zbus_events_received",
            "zbus_events_delivered",
            "zbus_events_dropped",
            "zbus_events_expired",
            "zbus_handler_errors",
            "zbus_queue_depth",
            "zbus_queue_capacity",
            "zbus_queue_fill_ratio",
            "zbus_handlers_busy",
            "zbus_event_latency_seconds",
            "zbus_request_duration_seconds",
            "zbus_peers",
            "zbus_subscriptions",
            "zbus_gaps_detected",
            "zbus_gaps_repaired",
            "zbus_events_lost",
            "zbus_dead_letters",
            "zbus_journal_enabled",
        }
        assert expected <= set(fams), expected - set(fams)
        stats = a.statistics()
        assert value(fams, "zbus_events_received") == stats.received == 32  # 31 events + 1 reply
        assert value(fams, "zbus_events_delivered") == stats.delivered == 30
        assert value(fams, "zbus_handler_errors", error_type="ValueError") == 2  # two attempts
        assert value(fams, "zbus_dead_letters") == 1
        assert value(fams, "zbus_peers") == 1 and value(fams, "zbus_subscriptions") == 1
        assert value(fams, "zbus_gaps_detected") == 0 and value(fams, "zbus_events_lost") == 0
        assert {s.labels["priority"] for s in fams["zbus_queue_depth"].samples} == {
            str(p) for p in range(1, 11)
        }
        latency = {s.name: s.value for s in fams["zbus_event_latency_seconds"].samples if not s.labels}
        assert latency["zbus_event_latency_seconds_count"] >= 1
        requests = {s.name: s.value for s in fams["zbus_request_duration_seconds"].samples if not s.labels}
        assert requests["zbus_request_duration_seconds_count"] == 1
        info = next(s for s in fams["zbus_node_info"].samples)
        assert info.labels["name"] == a.name and info.labels["mesh"] == mesh_name
        # bounded labels: no series names an event, a topic or a payload
        allowed = {"reason", "error_type", "priority", "le", "name", "id", "mesh", "role", "version"}
        for fam in fams.values():
            for sample in fam.samples:
                assert set(sample.labels) <= allowed, (fam.name, sample.labels)
                assert "order.placed" not in sample.labels.values()

        # another node in the same process has its own registry and numbers
        _, _, text_b = await get(b, "/metrics")
        fams_b = families(text_b)
        assert next(iter(fams_b["zbus_node_info"].samples)).labels["name"] == b.name
        assert value(fams_b, "zbus_events_published") == 31


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool missing (run scripts/test-deps.sh as root)"
)
async def test_promtool_accepts_the_exposition(tmp_path: Path, mesh_name: str) -> None:
    config = {
        **HTTP,
        "persistence": {"enabled": True, "path": str(tmp_path / "j")},
        "mesh": {"name": mesh_name},
    }
    async with Node("scraped", config=config) as node:
        await node.subscribe("x.*", handler=lambda e: None)
        for i in range(5):
            await node.publish("x.y", {"i": i}, durable=True)
        await eventually(lambda: node.statistics().delivered == 5)
        _, _, text = await get(node, "/metrics")
    assert "zbus_journal_events 5.0" in text
    out = await asyncio.to_thread(
        subprocess.run,
        ["promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "" and out.stderr.strip() == "", out.stdout + out.stderr  # no lint warnings


async def test_health_is_503_while_a_backlog_is_nearly_full(mesh_name: str) -> None:
    config = {**HTTP, "transport": {"kind": "memory"}, "mesh": {"name": mesh_name}}
    async with Node("slow", config=config) as node:
        sub = await node.subscribe("job.*", max_size=10)  # nobody reads it yet
        for i in range(9):
            await node.publish("job.new", {"i": i})
        status, doc = await health(node)
        assert status == 503 and doc["status"] == "unhealthy"
        assert doc["checks"]["queue"] == "90% capacity"
        assert "backlog is 90% full" in doc["problems"][0]
        _, _, state = await get(node, "/api/state")
        assert json.loads(state)["queue"]["by_priority"] == {"5": 9}
        for _ in range(9):
            await sub.next(timeout=1)
        status, doc = await health(node)
        assert status == 200 and doc["checks"]["queue"] == "0% capacity"


async def test_health_is_503_when_the_journal_is_full(tmp_path: Path, mesh_name: str) -> None:
    journal = {"enabled": True, "path": str(tmp_path / "j"), "map_size": "1MiB", "batch_size": 10}
    config = {**HTTP, "transport": {"kind": "memory"}, "mesh": {"name": mesh_name}, "persistence": journal}
    async with Node("hoarder", config=config) as node:
        status, doc = await health(node)
        assert status == 200 and doc["checks"]["persistence"].startswith("available (0 events")
        blob = "x" * 30_000
        deadline = time.monotonic() + 20
        with pytest.raises(zbus.JournalFullError):
            for i in range(200):  # 200 x 30 kB = 6 MB: well past a 1 MiB map
                assert time.monotonic() < deadline
                await node.publish("blob.put", {"i": i, "blob": blob}, durable=True)
        status, doc = await health(node)
        assert status == 503 and doc["checks"]["persistence"] == "full"
        assert "persistence.map_size" in doc["problems"][0]
        _, _, text = await get(node, "/metrics")
        assert value(families(text), "zbus_journal_full") == 1


async def test_a_blocked_event_loop_is_reported_not_waited_for(mesh_name: str) -> None:
    config = {**HTTP, "transport": {"kind": "memory"}, "mesh": {"name": mesh_name}}
    async with Node("stuck", config=config) as node:
        assert node.http_url is not None
        answers: list[tuple[int, str, str]] = []
        client = threading.Thread(target=lambda: answers.append(_get(f"{node.http_url}/health")))
        client.start()  # asks while the loop is stuck below
        time.sleep(3.5)  # noqa: ASYNC251  (the thing under test: the loop blocked > SNAPSHOT_TIMEOUT, 2 s)
        client.join(10)
        status, _, body = answers[0]
        doc = json.loads(body)
        assert status == 503 and "did not answer" in doc["problems"][0]
        assert doc["checks"]["transport"] == "unknown"
        status, _ = await health(node)  # and it recovers once the loop runs again
        assert status == 200


async def test_a_taken_port_is_a_config_error_and_leaves_nothing_open(mesh_name: str) -> None:
    async with Node("first", mesh=mesh_name, config=HTTP) as first:
        assert first.http_url is not None
        port = int(first.http_url.rsplit(":", 1)[1])
        clash = {"monitoring": {"http": {"enabled": True, "port": port}}}
        second = Node("second", mesh=mesh_name, config=clash)
        with pytest.raises(zbus.ConfigError, match=rf"127\.0\.0\.1:{port}.*monitoring\.http\.port"):
            await second.start()
        assert second.state is zbus.NodeState.CLOSED
        assert (await health(first))[0] == 200


async def test_api_state_lists_peers_topics_and_gaps(mesh_name: str) -> None:
    async with local_mesh(2, mesh=mesh_name, config=HTTP) as (a, b):
        await a.subscribe("tick.*", handler=lambda e: None)
        await b.wait_for_subscribers("tick.*")
        for i in range(7):
            await b.publish("tick.tock", {"i": i})
        await eventually(lambda: a.statistics().delivered == 7)
        # a heartbeat claiming 3 more than b published: a asks b for them, b has none, 3 are lost
        a._router.on_heartbeat(b.id, b.epoch, {"tick.tock": 10})
        await eventually(lambda: a.statistics().lost == 3, timeout=10)
        _, _, body = await get(a, "/api/state")
        state = json.loads(body)
        assert [p["name"] for p in state["peers"]] == [b.name]
        assert state["topics"] == [{"topic": "tick.tock", "published": 0, "received": 10, "publishers": 1}]
        assert state["counters"]["delivered"] == 7 and state["counters"]["lost"] == 3
        assert state["recent_gaps"][0]["missing"] == 3 and state["recent_gaps"][0]["topic"] == "tick.tock"
        assert state["health"]["status"] == "healthy"


async def test_metrics_can_be_switched_off_and_head_works(mesh_name: str) -> None:
    config = {
        "monitoring": {"http": {"enabled": True}, "metrics": {"enabled": False}},
        "transport": {"kind": "memory"},
        "mesh": {"name": mesh_name},
    }
    async with Node("private", config=config) as node:
        status, _, body = await get(node, "/metrics")
        assert status == 404 and "monitoring.metrics.enabled" in json.loads(body)["error"]
        assert (await health(node))[0] == 200
        assert node.http_url is not None
        request = urllib.request.Request(node.http_url + "/health", method="HEAD")
        with await asyncio.to_thread(urllib.request.urlopen, request, timeout=10) as response:
            assert response.status == 200 and response.read() == b""
            assert int(response.headers["Content-Length"]) > 0
    assert node.http_url is None  # closed: the port is released
