"""The processes of a ``zbus bench`` run: one ``Child`` per worker, the ``Run`` that owns them, and the
``Sizes`` and ``Workload`` (``--count``, ``--size``, ``--topic``, ``--rate``, ``--nodes``) they run with.

A child talks to the harness with one JSON object per stdout line and takes orders as lines on its
stdin; every read has a deadline, and every child is stopped by its own PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import zbus

__all__ = ["FULL", "QUICK", "BenchError", "Child", "Run", "Sizes", "Workload"]


class BenchError(zbus.ZbusError):
    """A benchmark process failed or did not answer in time (the message has its stderr tail)."""


@dataclass(frozen=True)
class Sizes:
    """Event counts and durations of one mode (``--quick`` or full)."""

    throughput: int
    fanout: int
    rtt: int
    latency_seconds: float
    journaled: int
    durable_acks: int
    replay: int
    recovery: int
    idle_seconds: float
    join_rounds: int
    deadline: float
    #: scale: mesh sizes, and the idle window measured once all nodes have joined (s)
    nodes: tuple[int, ...] = (3,)
    scale_window: float = 2.0


QUICK = Sizes(3_000, 1_500, 200, 0.3, 2_000, 20, 3_000, 20_000, 1.0, 2, 30.0, (3,), 2.0)
FULL = Sizes(100_000, 40_000, 5_000, 3.0, 50_000, 500, 100_000, 1_000_000, 5.0, 10, 120.0, (10, 30, 50), 10.0)


@dataclass(frozen=True)
class Workload:
    """What the user chose on the command line (None / empty: each scenario's own default).

    ``size`` and ``topic`` reach the workers as ``ZBUS_BENCH_SIZE`` / ``ZBUS_BENCH_TOPIC`` (read by
    ``bench_io``), so the zbus and the raw side publish the same payload on the same topic.
    """

    count: int | None = None
    size: int | None = None
    topic: str | None = None
    rate: float | None = None
    nodes: tuple[int, ...] = ()

    def env(self) -> dict[str, str]:
        """The environment that carries ``size`` and ``topic`` to every worker."""
        out = {}
        if self.size is not None:
            out["ZBUS_BENCH_SIZE"] = str(self.size)
        if self.topic is not None:
            out["ZBUS_BENCH_TOPIC"] = self.topic
        return out

    def given(self) -> dict[str, Any]:
        """The options given (for the report)."""
        chosen: dict[str, Any] = {
            "count": self.count,
            "size": self.size,
            "topic": self.topic,
            "rate": self.rate,
        }
        out = {k: v for k, v in chosen.items() if v is not None}
        if self.nodes:
            out["nodes"] = list(self.nodes)
        return out


class Child:
    """One worker process; messages are JSON lines on its stdout, orders lines on its stdin.

    ``command`` replaces the default ``python -m zbus.tools.bench_worker ROLE ARGS`` (the scale
    scenario runs its own script); ``env`` is added to the worker's environment.
    """

    def __init__(
        self,
        role: str,
        args: dict[str, Any],
        tmp: Path,
        *,
        command: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.role = role
        self.log_path = tmp / f"{role}-{os.urandom(3).hex()}.log"
        self._log: IO[bytes] = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop())
        argv = list(command) or [sys.executable, "-m", "zbus.tools.bench_worker"]
        self.proc = subprocess.Popen(
            [*argv, role, json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            # ipc files stay in the run's dir
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp)},
        )
        self.started = time.monotonic()
        self._buffer = b""

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.proc.pid

    def read(self, key: str, timeout: float) -> dict[str, Any]:
        """The next message that has ``key``. Raises BenchError on a worker error, exit or timeout."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                message: dict[str, Any] = json.loads(line)
                if "error" in message:
                    raise self._failure(message["error"])
                if key in message:
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._failure(f"no {key!r} within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.proc.wait(5)
                    raise self._failure(f"exited with code {self.proc.returncode} before sending {key!r}")
                self._buffer += chunk

    def tell(self, order: str) -> None:
        """Send an order line (``go``, ``quit``); a worker that already exited is ignored."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(order.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def _failure(self, what: str) -> BenchError:
        self._log.flush()
        tail = self.log_path.read_text(errors="replace")[-1500:]
        return BenchError(f"bench process {self.role} (pid {self.proc.pid}): {what}\n{tail}")

    def stop(self, timeout: float = 5.0) -> None:
        """Ask it to quit, wait up to ``timeout`` s, then kill it by PID."""
        if self.proc.poll() is None:
            self.tell("quit")
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # an order left unsent to a dead worker: no EPIPE here
                    stream.close()
        self._log.close()


@dataclass
class Run:
    """The temporary directory, the workload and the children of one benchmark run."""

    sizes: Sizes
    tmp: Path
    progress: Callable[[str], None]
    workload: Workload = field(default_factory=Workload)
    #: the scenario running now (workload options apply per scenario)
    scenario: str = ""
    children: list[Child] = field(default_factory=list)

    def start(self, role: str, *, command: Sequence[str] = (), **args: Any) -> Child:
        """Start a worker process for ``role``."""
        child = Child(role, args, self.tmp, command=command, env=self.workload.env())
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        """Stop every child still running (each by its own PID)."""
        for child in self.children:
            child.stop()
        self.children = []

    def mesh(self) -> str:
        """A fresh mesh name, so runs never see each other's nodes."""
        return f"bench-{os.getpid()}-{os.urandom(3).hex()}"
