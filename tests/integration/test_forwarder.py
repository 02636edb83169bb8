"""Forwarder mode end to end, every piece a real process: publisher -> forwarder -> subscriber.

The subscriber runs with ``transport.forwarder = "auto"``. The test proves the events take the forwarder
path (its capture socket sees them, and freezing the forwarder with SIGSTOP stops them), then kills the
forwarder with SIGKILL and sees events keep flowing over direct links, then starts a new forwarder and
sees the subscriber go through it again. Gaps at each switch are measured and printed.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from .test_cli_commands import ZBUS, Cli, run


class EnvCli(Cli):
    """A background ``zbus`` command with extra environment variables."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.popen = subprocess.Popen(
            [*ZBUS, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self.buffers = {"out": b"", "err": b""}
        self.lines = {"out": [], "err": []}

    def lines_within(self, seconds: float) -> list[str]:
        """Every stdout line that arrives within ``seconds`` (a bounded observation window)."""
        deadline = time.monotonic() + seconds
        fd = self._fd("out")
        got: list[str] = []
        while True:
            while b"\n" in self.buffers["out"]:
                raw, self.buffers["out"] = self.buffers["out"].split(b"\n", 1)
                got.append(raw.decode())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return got
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return got
                self.buffers["out"] += chunk


@pytest.fixture
def procs() -> Iterator[type[EnvCli]]:
    started: list[EnvCli] = []

    class Tracked(EnvCli):
        def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
            super().__init__(*args, env=env)
            started.append(self)

    yield Tracked
    for proc in started:
        if proc.popen.poll() is None:
            os.kill(proc.popen.pid, signal.SIGCONT)  # in case the test stopped it
        proc.stop()


def seqs(lines: list[str]) -> list[int]:
    return [json.loads(line)["seq"] for line in lines if line.startswith("{")]


def missing(seen: list[int]) -> int:
    return sum(b - a - 1 for a, b in itertools.pairwise(seen) if b > a + 1)


def test_forwarder_mode_end_to_end(procs: type[EnvCli]) -> None:
    mesh = f"test-{os.urandom(4).hex()}"
    fwd = procs("forwarder", "--mesh", mesh, "--name", "fwd-1", "--capture", "tcp://127.0.0.1:0")
    ready = fwd.expect("ready")
    capture = ready.split("capture=")[1].split()[0]
    auto = {"ZBUS_TRANSPORT__FORWARDER": "auto"}
    sub = procs("sub", "tick.*", "--json", "--name", "via-fwd", "--duration", "55", "--mesh", mesh, env=auto)
    fwd.expect("peer joined via-fwd")
    pub = procs("pub", "tick.t", "{}", "--count", "3000", "--rate", "100", "--name", "ticker",
                "--wait-subscribers", "1", "--timeout", "20", "--mesh", mesh)  # fmt: skip
    pub.expect("")  # publishing has started

    # 1. events arrive, and they pass through the forwarder (its capture socket relays them)
    first = seqs([sub.expect("{", timeout=20) for _ in range(30)])
    captured = run("monitor", "--capture", capture, "tick.*", "--count", "3", "--json", "--duration", "20")
    assert captured.returncode == 0, captured.stderr
    assert all(json.loads(line)["source"] == "ticker" for line in captured.stdout.splitlines())

    # 2. freeze the forwarder: once in-flight events are in, nothing arrives (no direct SUB is left)
    got = seqs(sub.lines_within(1.0))
    assert got, "events stopped before the forwarder was frozen"
    os.kill(fwd.popen.pid, signal.SIGSTOP)
    sub.lines_within(0.5)  # what the forwarder had sent before it froze
    frozen = sub.lines_within(1.5)
    os.kill(fwd.popen.pid, signal.SIGCONT)
    assert frozen == [], f"events arrived while the forwarder was frozen: {frozen[:3]}"
    resumed = seqs([sub.expect("{", timeout=20) for _ in range(20)])

    # 3. kill the forwarder: events keep flowing over direct links
    before_kill = seqs(sub.lines_within(0.3))
    os.kill(fwd.popen.pid, signal.SIGKILL)
    fwd.popen.wait(10)
    after_kill = seqs([sub.expect("{", timeout=20) for _ in range(100)])
    assert after_kill[-1] > (before_kill or resumed)[-1] + 50
    around_kill = (before_kill or resumed[-1:]) + after_kill
    assert around_kill == sorted(set(around_kill)), "duplicates or disorder at the switch to direct"

    # 4. a new forwarder: the subscriber goes through it again (its capture sees the events)
    fwd2 = procs("forwarder", "--mesh", mesh, "--name", "fwd-2", "--capture", "tcp://127.0.0.1:0")
    capture2 = fwd2.expect("ready").split("capture=")[1].split()[0]
    fwd2.expect("peer joined via-fwd")
    captured = run("monitor", "--capture", capture2, "tick.*", "--count", "3", "--json", "--duration", "20")
    assert captured.returncode == 0, captured.stderr
    back = seqs([sub.expect("{", timeout=20) for _ in range(50)])
    everything = first + got + resumed + around_kill + back
    assert everything == sorted(set(everything)), "a duplicate or out-of-order event reached the subscriber"
    print(
        f"\nforwarder switchover at 100 ev/s: lost {missing(around_kill)} at SIGKILL -> direct, "
        f"{missing(first + got)} while switching to the forwarder, {missing(resumed)} after SIGSTOP/SIGCONT, "
        f"{missing(after_kill + back)} switching to the new forwarder"
    )
