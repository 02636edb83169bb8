"""Durable subscriptions across kill -9, on loopback with real processes and real journals: the
subscriber killed mid-stream resumes from its checkpoint (redelivering at most what finished after
the last checkpoint), the publisher killed mid-stream continues its sequences, and nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "lab" / "chaos_node.py"
TOTAL = 20_000
RATE = 5_000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Proc:
    """A chaos_node.py process; stdout lines collected by a thread; waits are deadline-bounded."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        log = Path(env["ZBUS_PERSISTENCE__PATH"] + ".log")
        with open(log, "ab") as stderr:  # the node's log, for failure messages
            self.popen = subprocess.Popen(
                [sys.executable, str(SCRIPT), *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        self.log = log
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._cond:
                self.lines.append(raw.decode().strip())
                self._cond.notify_all()

    def wait(self, predicate: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.lines):  # type: ignore[operator]
                left = deadline - time.monotonic()
                assert left > 0, (
                    f"{what}: not within {timeout} s (last lines {self.lines[-3:]})\n"
                    + self.log.read_text(errors="replace")[-3000:]
                )
                self._cond.wait(left)

    def count(self) -> int:
        counts = [int(line.split()[1]) for line in self.lines if line.startswith("count ")]
        return counts[-1] if counts else 0

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()

    def kill9(self) -> None:
        self.popen.kill()  # SIGKILL by PID
        self.popen.wait(5)
        self.stop()


def environment(tmp: Path, mesh: str, who: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZBUS_")}
    env.update(
        PYTHONUNBUFFERED="1",
        ZBUS_MESH__NAME=mesh,
        ZBUS_DISCOVERY__HEARTBEAT_INTERVAL="0.2",
        ZBUS_DISCOVERY__PEER_TIMEOUT="2",
        ZBUS_PERSISTENCE__ENABLED="true",
        ZBUS_PERSISTENCE__PATH=str(tmp / f"journal-{who}"),
    )
    return env


def delivered(outfile: Path) -> dict[str, list[int]]:
    streams: dict[str, list[int]] = defaultdict(list)
    for line in outfile.read_text().splitlines():
        source, i = line.split()
        streams[source].append(int(i))
    return streams


def crash_run(tmp: Path, mesh: str, victim: str) -> tuple[list[int], int]:
    """A durable subscriber and a journaled publisher of TOTAL events; once a quarter is delivered,
    ``victim`` ("sub" or "pub") is killed -9 and restarted with the same journal. Returns what the
    subscriber delivered, in order, and how many lines the file had at the kill."""
    out = tmp / "delivered.txt"
    sub_env, pub_env = environment(tmp, mesh, "sub"), environment(tmp, mesh, "pub")
    sub_args = ("subscribe", "sub", "crash.*", str(out))
    pub_args = ("publish", "pub", "crash.p", str(TOTAL), str(RATE))
    sub = Proc(sub_env, *sub_args)
    pub = None
    try:
        sub.wait(lambda lines: "ready" in lines, 30, "subscriber ready")
        pub = Proc(pub_env, *pub_args)
        sub.wait(lambda lines: sub.count() >= TOTAL // 4, 60, "a quarter delivered")
        if victim == "sub":
            sub.kill9()
            before = len(out.read_text().splitlines())
            sub = Proc(sub_env, *sub_args)
        else:
            pub.kill9()
            before = len(out.read_text().splitlines())
            pub = Proc(pub_env, *pub_args)
        pub.wait(lambda lines: any(line.startswith("done") for line in lines), 60, "all published")
        sub.wait(lambda lines: len(set(delivered(out).get("pub", []))) == TOTAL, 60, "everything delivered")
    finally:
        sub.stop()
        if pub is not None:
            pub.stop()
    return delivered(out)["pub"], before


def test_a_durable_subscriber_killed_9_resumes_from_its_checkpoint(tmp_path: Path, mesh_name: str) -> None:
    seen, before = crash_run(tmp_path, mesh_name, "sub")
    twice = len(seen) - len(set(seen))
    print(f"\nsubscriber kill -9 after {before} events: {len(set(seen))} delivered, {twice} redelivered")
    assert set(seen) == set(range(TOTAL))
    assert twice <= RATE  # only what finished after the last checkpoint (every 0.2 s) comes again
    first_pass, second_pass = seen[:before], seen[before:]
    assert first_pass == sorted(first_pass) and second_pass == sorted(second_pass)  # each run in order


def test_a_publisher_killed_9_continues_and_nothing_is_lost(tmp_path: Path, mesh_name: str) -> None:
    seen, _ = crash_run(tmp_path, mesh_name, "pub")
    print(f"\npublisher kill -9: {len(seen)} delivered, {len(seen) - len(set(seen))} twice")
    assert seen == list(range(TOTAL))  # exactly once, in order: the restarted publisher continued its stream
