"""`zbus node start --http`, `zbus health` and `zbus demo`'s dashboard URL, as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.request

from .test_cli import ZBUS, run


def test_node_start_serves_http_and_zbus_health_reports_it(mesh_name: str) -> None:
    node = subprocess.Popen(
        [
            *ZBUS,
            "node",
            "start",
            "--name",
            "web",
            "--mesh",
            mesh_name,
            "--http",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert node.stdout is not None
        ready = node.stdout.readline()
        assert ready.startswith("ready web "), ready
        http = node.stdout.readline().strip()
        assert re.fullmatch(r"http http://127\.0\.0\.1:\d+/\?token=[\w-]{32}", http), http
        dashboard = http.split()[1]
        url = dashboard.partition("?")[0]
        with urllib.request.urlopen(dashboard.replace("/?", "/api/state?"), timeout=10) as response:
            assert json.loads(response.read())["node"]["name"] == "web"  # the printed token opens /api/*

        out = run("health", url, timeout=30)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["status"] == "healthy" and doc["node"]["name"] == "web"
        assert set(doc["checks"]) == {"transport", "persistence", "queue", "workers"}

        one_line = run("health", url.removeprefix("http://").rstrip("/") + "/health", "--json", timeout=30)
        assert one_line.returncode == 0 and len(one_line.stdout.splitlines()) == 1
    finally:
        node.send_signal(signal.SIGTERM)
        out_rest, err = node.communicate(timeout=20)
    assert node.returncode == 0, err
    assert "stopped web" in out_rest
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("serves /health" in x["message"] for x in logs), err
    assert all(x["logger"].startswith("zbus") for x in logs)

    gone = run("health", url, timeout=30)  # the node is gone: unreachable is a failure, with a reason
    assert gone.returncode == 1 and "cannot reach" in gone.stderr and gone.stdout == ""


def test_health_usage_errors() -> None:
    out = run("health", timeout=30, env={**os.environ, "ZBUS_MONITORING__HTTP__PORT": "0"})
    assert out.returncode == 2 and "pass the URL" in out.stderr
    out = run("node", "start", "--http", "nonsense", timeout=30)
    assert out.returncode == 2 and "HOST:PORT" in out.stderr


def test_demo_serves_the_dashboard_it_prints() -> None:
    mesh = f"demo-health-{os.getpid()}"
    demo = subprocess.Popen(
        [*ZBUS, "demo", "--duration", "3", "--mesh", mesh],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None
        lines = [demo.stdout.readline() for _ in range(2)]
        match = re.search(r"^dashboard: (http://127\.0\.0\.1:\d+)/(\?token=\S+)", "".join(lines), re.M)
        assert match, lines
        with urllib.request.urlopen(match.group(1) + "/health", timeout=10) as response:
            assert response.status == 200 and json.loads(response.read())["node"]["name"] == "observer"
        with urllib.request.urlopen(match.group(1) + "/" + match.group(2), timeout=10) as response:
            assert b"api/state" in response.read()
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate(timeout=10)
    assert demo.returncode in (0, 1), err  # 1 only when no task finished within 3 s
    assert "summary:" in out
