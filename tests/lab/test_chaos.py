"""Chaos in the namespace lab: 100,000 events from two journaled publishers (h1, h2) to a durable
subscriber (h3) while (a) a publisher is killed -9 and restarted, (b) the subscriber's host is cut off
for 10 s, (c) h3 drops 5 % of its packets and delays the rest by 20 ms. Each run must end with every
event delivered, none twice, in per-stream order. Root only (skipped otherwise); everything is
bounded in count and time and lives inside the lab's namespaces.
"""

from __future__ import annotations

import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from .conftest import Lab, LabNode
from .netlab import impairment_unavailable_reason

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).with_name("chaos_node.py")
PER_PUBLISHER = 50_000
RATE = 5_000  # events/s per publisher: about 10 s of publishing
FINISH = 150.0  # s for everything to arrive after the publishers are done (bounded)


def env(lab: Lab, host: int, tmp: Path) -> dict[str, str]:
    return lab.node_env(
        host,
        "lan",
        ZBUS_TRANSPORT__HOST="0.0.0.0",
        ZBUS_DISCOVERY__INTERFACES="lan0",
        ZBUS_PERSISTENCE__ENABLED="true",
        ZBUS_PERSISTENCE__PATH=str(tmp / f"journal-h{host}"),
    )


def start_publisher(lab: Lab, host: int, tmp: Path) -> LabNode:
    name = f"p{host}"
    args = ("publish", name, f"chaos.{name}", str(PER_PUBLISHER), str(RATE))
    return lab.start_script(host, name, env(lab, host, tmp), SCRIPT, *args)


def progress(node: LabNode) -> int:
    lines = [line for _, line in node.lines if line.startswith(("progress ", "done "))]
    return int(lines[-1].split()[1]) if lines else 0


def check_and_report(outfile: Path, sub: LabNode, label: str, seconds: float) -> None:
    streams: dict[str, list[int]] = defaultdict(list)
    for line in outfile.read_text().splitlines():
        source, i = line.split()
        streams[source].append(int(i))
    last = [line for _, line in sub.lines if line.startswith("count ")][-1].split()
    lost, gaps, repaired = int(last[3]), int(last[5]), int(last[7])
    delivered = sum(len(v) for v in streams.values())
    print(
        f"\nchaos {label}: published {2 * PER_PUBLISHER}, delivered {delivered}, lost {lost}, "
        f"gaps detected {gaps}, events repaired {repaired}, in {seconds:.1f} s"
    )
    assert sorted(streams) == ["p1", "p2"]
    for source, seen in streams.items():
        assert seen == sorted(seen), f"{source}: out of order"
        assert len(seen) == len(set(seen)), f"{source}: duplicates"
        assert seen == list(range(PER_PUBLISHER)), f"{source}: missing {PER_PUBLISHER - len(seen)}"
    assert lost == 0


def run(lab: Lab, tmp: Path, fault: str) -> None:
    outfile = tmp / "delivered.txt"
    began = time.monotonic()
    impairment: subprocess.Popen[bytes] | None = None
    if fault == "lossy":
        impairment = lab.net.impair(3, delay_ms=20, loss=0.05, seconds=FINISH + 60)
    sub = lab.start_script(3, "sub", env(lab, 3, tmp), SCRIPT, "subscribe", "sub", "chaos.*", str(outfile))
    sub.expect("ready", timeout=20)
    p1, p2 = start_publisher(lab, 1, tmp), start_publisher(lab, 2, tmp)
    for p in (p1, p2):
        p.expect("start", timeout=30)
    if fault == "kill":
        p1.wait_for(lambda: progress(p1) >= 15_000, timeout=60, what="15,000 published")
        p1.popen.kill()  # SIGKILL by PID: no goodbye, no flush
        p1.popen.wait(5)
        p1 = start_publisher(lab, 1, tmp)  # same journal: same id, sequences continue
        p1.expect("start", timeout=30)
    elif fault == "cut":
        p1.wait_for(lambda: progress(p1) >= 10_000, timeout=60, what="10,000 published")
        lab.net.cut(3)
        time.sleep(10.0)  # the fault itself: the cable stays out for 10 s
        lab.net.restore(3)
    for p in (p1, p2):
        p.expect("done", timeout=120)
    sub.wait_for(
        lambda: any(line.startswith(f"count {2 * PER_PUBLISHER} ") for _, line in sub.lines),
        timeout=FINISH,
        what=f"{2 * PER_PUBLISHER} events delivered",
    )
    if impairment is not None:
        lab.net.unimpair(3, impairment)
    sub.stop()  # flushes the file
    check_and_report(outfile, sub, fault, time.monotonic() - began)


def test_publisher_killed_and_restarted(lab: Lab, tmp_path: Path) -> None:
    run(lab, tmp_path, "kill")


def test_subscriber_cut_off_for_10_seconds(lab: Lab, tmp_path: Path) -> None:
    run(lab, tmp_path, "cut")


def test_packet_loss_and_delay(lab: Lab, tmp_path: Path) -> None:
    reason = impairment_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    run(lab, tmp_path, "lossy")
