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

import pytest

HELPER = Path(__file__).with_name("dashboard_ns.py")
CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a loopback-only network namespace"),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="chromium is not installed (run scripts/test-deps.sh as root)"
    ),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) is missing"),
]


def test_dashboard_shows_a_peer_that_joins_while_the_page_is_open() -> None:
    proc = subprocess.Popen(
        ["unshare", "-n", "--", "sh", "-c", f"ip link set lo up && exec {sys.executable} {HELPER}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: on timeout we stop exactly what we started
    )
    try:
        out, err = proc.communicate(timeout=45)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=5)
        pytest.fail(f"the dashboard run did not finish in 45 s: {err[-2000:]}")
    assert proc.returncode == 0, err[-3000:]
    shown = json.loads(out.strip().splitlines()[-1])
    assert shown["before"] == []  # alpha alone when the page first rendered
    assert shown["after"] == ["beta"]  # ... and the same page, never reloaded, then listed beta
    assert "demo.tick" in shown["topics"]
    assert shown["polls"] > shown["polls_before"] >= 1
    assert shown["status"] == "healthy"
    assert shown["title"] == "zbus alpha"
