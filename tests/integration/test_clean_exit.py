"""Processes that use zbus exit without noise: no asyncio warnings, no tracebacks on stderr.

The cause of the old "Task was destroyed but it is pending! ... Zeroconf._async_broadcast_service()"
was the mDNS announcement and goodbye tasks zeroconf starts and zbus never finished; ``asyncio.run``
hid it (it cancels leftover tasks), a ``BlockingNode``'s own loop did not. Real mDNS on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BLOCKING = """
import zbus
with zbus.BlockingNode("a", mesh=MESH) as a, zbus.BlockingNode("b", mesh=MESH) as b:
    a.wait_for_peers(1, timeout=10)
    sub = b.subscribe("x.*")
    a.wait_for_subscribers("x.y", timeout=10)
    a.publish("x.y", {"n": 1})
    print(sub.next(timeout=10).payload["n"])
"""

ASYNC = """
import asyncio, zbus
async def main():
    async with zbus.Node("a", mesh=MESH) as a:
        print(a.name)
asyncio.run(main(), debug=True)
"""


@pytest.mark.parametrize(("script", "printed"), [(BLOCKING, "1"), (ASYNC, "a")], ids=["blocking", "async"])
def test_a_node_closes_without_warnings(script: str, printed: str) -> None:
    mesh = f"clean-{os.getpid()}-{os.urandom(2).hex()}"
    code = f"MESH = {mesh!r}\n{script}"
    out = subprocess.run(
        [sys.executable, "-X", "dev", "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [printed]
    assert out.stderr == ""  # -X dev shows every ResourceWarning and asyncio debug complaint too
