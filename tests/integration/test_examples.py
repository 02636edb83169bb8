"""The examples in examples/ run as documented (they are what README readers paste)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# the examples run as shipped, with the default discovery.settle (tests/conftest.py)
pytestmark = pytest.mark.default_settle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# the examples use the default mesh; a private one keeps this run apart from anything else here
ENV = dict(os.environ, ZBUS_MESH__NAME=f"examples-{os.getpid()}")


def run(name: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=40, env=ENV
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_publisher_and_subscriber_in_two_processes() -> None:
    sub = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "simple_subscriber.py"), "--count", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert "sent 5 greetings" in run("simple_publisher.py")
        out, err = sub.communicate(timeout=20)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait(5)
    assert sub.returncode == 0, err
    assert out.count("greeting.hello from publisher") == 5


def test_agent_integration() -> None:
    out = run("agent_integration.py")
    assert "calculator says: 30" in out and "priority 8" in out


def test_distributed_workflow() -> None:
    out = run("distributed_workflow.py")
    assert out.count("caused by") == 3 and "'tax': 19.8" in out


def test_monitoring_dashboard() -> None:
    out = run("monitoring_dashboard.py", "--seconds", "2")
    assert "received=200" in out.splitlines()[-1]
