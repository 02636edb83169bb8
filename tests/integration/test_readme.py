"""Every Python block in README.md and docs/API_REFERENCE.md runs when pasted (docs that work)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

# the README runs as pasted, with the default discovery.settle (tests/conftest.py)
pytestmark = pytest.mark.default_settle

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
REFERENCE = README.parent / "docs" / "API_REFERENCE.md"
REFERENCE_BLOCKS = re.findall(r"```python\n(.*?)```", REFERENCE.read_text(), re.S)


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert text.index("make demo") < text.index("```python")


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_python_block_runs(code: str) -> None:
    # DASHBOARD_SECONDS: the dashboard example serves until Ctrl-C unless told a duration
    env = dict(os.environ, ZBUS_MESH__NAME=f"readme-{os.getpid()}", DASHBOARD_SECONDS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


@pytest.mark.parametrize(
    "code", REFERENCE_BLOCKS, ids=[f"reference{i}" for i in range(len(REFERENCE_BLOCKS))]
)
def test_api_reference_block_runs(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_dashboard_example_serves_until_ctrl_c() -> None:
    (code,) = [b for b in BLOCKS if "monitoring" in b and "dashboard:" in b]
    env = {k: v for k, v in os.environ.items() if k != "DASHBOARD_SECONDS"}
    env["ZBUS_MESH__NAME"] = f"readme-dash-{os.getpid()}"
    env["PYTHONFAULTHANDLER"] = "1"  # a hang after Ctrl-C is then shown with every thread's stack
    env["ZBUS_DEBUG_TASKS"] = "1"  # ... and every asyncio task's chain of awaits (on SIGUSR1)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "the example printed no dashboard URL within 20 s"
        line = proc.stdout.readline().decode()
        url = re.search(r"(http://\S+)/", line)
        assert url is not None, line
        with pytest.raises(subprocess.TimeoutExpired):  # the old example exited right after printing
            proc.wait(2)
        with urllib.request.urlopen(url.group(1) + "/health", timeout=5) as reply:
            assert json.load(reply)["status"] == "healthy"
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # the tasks and what each waits for (a hang seen once)
            with contextlib.suppress(subprocess.TimeoutExpired):  # (the dump is read meanwhile)
                proc.communicate(timeout=3)
            proc.send_signal(signal.SIGABRT)  # faulthandler prints the threads, then it dies
            _, err = proc.communicate(timeout=10)
            text = err.decode()
            tasks = text[text.find("--- zbus:") : text.find("--- end of tasks ---")]  # whole: it says where
            raise AssertionError(f"still running 20 s after Ctrl-C:\n{tasks}\n{text[-4000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()
    assert err.decode() == ""  # no traceback, no asyncio warning
