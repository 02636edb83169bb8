"""The dashboard in a real headless Chromium, showing a peer that joins while the page is open.

The browser and both nodes run inside a fresh network namespace that has only a loopback interface
(``unshare -n`` + ``ip link set lo up``): nothing can leave the machine, not even mDNS. Needs root
(to create the namespace) and /usr/bin/chromium (``scripts/test-deps.sh`` installs it); skipped with
the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HELPER = Path(__file__).with_name("dashboard_ns.py")
MESH_HELPER = Path(__file__).with_name("mesh_dashboard_ns.py")
PNG = b"\x89PNG\r\n\x1a\n"
CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a loopback-only network namespace"),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="chromium is not installed (run scripts/test-deps.sh as root)"
    ),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) is missing"),
]


def in_namespace(*args: str, timeout: float = 45) -> dict[str, Any]:
    """Run ``python args...`` in a new loopback-only network namespace; its last stdout line as JSON."""
    command = " ".join([sys.executable, *args])
    proc = subprocess.Popen(
        ["unshare", "-n", "--", "sh", "-c", f"ip link set lo up && exec {command}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: on timeout we stop exactly what we started
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=5)
        pytest.fail(f"the dashboard run did not finish in {timeout} s: {err[-2000:]}")
    assert proc.returncode == 0, err[-3000:]
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def test_dashboard_shows_a_peer_that_joins_while_the_page_is_open() -> None:
    shown = in_namespace(str(HELPER))
    assert shown["before"] == []  # alpha alone when the page first rendered
    assert shown["after"] == ["beta"]  # ... and the same page, never reloaded, then listed beta
    assert "demo.tick" in shown["topics"]
    assert shown["polls"] > shown["polls_before"] >= 1
    assert shown["status"] == "healthy"
    assert shown["title"] == "zbus alpha"


def test_dashboard_draws_the_whole_mesh(tmp_path: Path) -> None:
    screenshot = tmp_path / "mesh-dashboard.png"
    shown = in_namespace(str(MESH_HELPER), str(screenshot), timeout=90)
    assert shown["viewport"] == [1280, 800]
    assert (
        shown["nodes"] == ["alpha", "beta", "gamma"] == shown["rows"]
    )  # every node, heard through $zbus.stats
    assert {"order.placed", "sensor.temp", "sensor.humidity"} <= set(shown["rates"])
    assert shown["latency"] == ["p50", "p90", "p99"]
    flows = {(e["from"], e["to"]): e for e in shown["edges"]}
    assert flows[("beta", "gamma")]["rate"] > 0 and flows[("beta", "alpha")]["rate"] > 0
    # gamma takes orders and sensors, alpha only sensors: the wider line is the bigger flow
    assert flows[("beta", "gamma")]["width"] > flows[("beta", "alpha")]["width"]
    for box in shown["boxes"]:  # the three pictures side by side, on screen, at a readable size
        assert box["width"] >= 300 and box["top"] + box["height"] <= 800, box
    assert [p[0] for p in shown["peers"]] == ["beta", "gamma"]
    assert all(p[4] != "-" and p[5].endswith("s ago") for p in shown["peers"])  # joined, last heard
    data = screenshot.read_bytes()
    assert data.startswith(PNG) and len(data) > 20_000
