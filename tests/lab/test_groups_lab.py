"""A queue group across namespace hosts (root only): a planner on h1, workers on h2 and h3; the h3
worker is killed -9 mid-run and every task is still handled, duplicates only for what it held.

Workers and planner are tests/integration/peer_proc.py roles (``worker``, ``tasks``) run inside the
lab's hosts on ``lan`` scope (mDNS on the lab bridge). Bounded in count and time.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from .conftest import Lab, LabNode

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]

PEER = Path(__file__).resolve().parents[1] / "integration" / "peer_proc.py"
TASKS = 3_000
CREDIT = 32


def lan(lab: Lab, host: int) -> dict[str, str]:
    return lab.node_env(host, "lan", ZBUS_TRANSPORT__HOST="0.0.0.0", ZBUS_DISCOVERY__INTERFACES="lan0")


def handled(node: LabNode) -> list[int]:
    return [json.loads(line)["i"] for _, line in list(node.lines) if line.startswith("{")]


def test_a_group_across_hosts_survives_a_killed_worker(lab: Lab) -> None:
    args = ("task.*", "workers", "1", str(CREDIT))  # 1 ms of work per task
    workers = {
        host: lab.start_script(host, f"w{host}", lan(lab, host), PEER, "worker", lab.mesh, f"w{host}", *args)
        for host in (2, 3)
    }
    for worker in workers.values():
        worker.expect("ready", timeout=20)
    planner = lab.start_script(
        1, "planner", lan(lab, 1), PEER, "tasks", lab.mesh, "planner", "task.x", str(TASKS), "workers", "0"
    )
    planner.expect("ready", timeout=20)
    workers[3].wait_for(lambda: len(handled(workers[3])) >= 300, 30, "h3's worker handling tasks")
    os.kill(workers[3].popen.pid, signal.SIGKILL)  # our own child, by PID
    killed_at = len(handled(workers[3]))
    planner.expect("done", timeout=30)

    def every_task() -> bool:
        return len(set(handled(workers[2])) | set(handled(workers[3]))) >= TASKS

    workers[2].wait_for(every_task, 60, "every task handled")
    counts = Counter(handled(workers[2]) + handled(workers[3]))
    duplicates = sum(counts.values()) - len(counts)
    print(
        f"\ngroup across hosts: {TASKS} tasks, h3 killed after {killed_at}; handled {len(counts)} "
        f"(h2 {len(handled(workers[2]))}, h3 {len(handled(workers[3]))}), duplicates {duplicates}",
        file=sys.stderr,
    )
    assert set(counts) == set(range(TASKS))
    assert duplicates <= CREDIT  # only what h3 held unacknowledged when it died
