"""A node that publishes while subscribers connect and leave all the time must not crash.

libzmq 4.3 applies a changed high-water mark to a socket's existing connections by sending a command
to each connection's other end; one that is closing at that moment may already be freed, and the I/O
thread crashes. zbus once lowered live sockets' marks (the byte bound of ``transport.send_max_bytes``)
after any message over 671 bytes and every 64 messages from then on: this node died within about a
second, 3 times in 3 (``Segmentation fault``), and one CI run in five or six died in the secured
forwarder tests. Now a mark is set only on a socket not yet bound or connected (transport/zmq/bounds.py).
The node runs in its own process so that such a crash shows as its exit status."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

PROC = Path(__file__).with_name("hwm_churn_proc.py")
SECONDS = 4


def test_publishing_while_subscribers_connect_and_leave_does_not_crash_the_node() -> None:
    proc = subprocess.run(
        [sys.executable, str(PROC), str(SECONDS)], capture_output=True, text=True, timeout=60
    )
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise AssertionError(f"the node died of {name} (a crash in libzmq?); stderr:\n{proc.stderr[-2000:]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    published, connections = report["published"], report["connections"]
    print(f"\n{SECONDS} s: {published} events published, {connections} SUB connections made and closed")
    assert published > 1000 and connections > 100  # both really happened
