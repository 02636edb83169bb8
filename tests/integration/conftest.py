"""Integration fixtures: real nodes on 127.0.0.1 (local scope), peer processes we start and kill."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .rawpeer import Raw

if TYPE_CHECKING:
    from .test_cli_commands import Cli

PEER = Path(__file__).with_name("peer_proc.py")

FAST = {"discovery": {"heartbeat_interval": 0.2, "peer_timeout": 2.0}}


class Proc:
    """A peer_proc.py child with deadline-bounded line reading. Only ever killed by its own PID."""

    def __init__(self, *args: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, str(PEER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._buffer = b""
        self._stderr: str | None = None

    def readline(self, timeout: float) -> str | None:
        """The next stdout line, or None at EOF or after ``timeout`` seconds (raw fd: no hidden buffer)."""
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def expect(self, prefix: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.readline(deadline - time.monotonic())
            if line is None:
                if self.popen.poll() is not None:
                    break
                continue
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        err = self.popen.stderr.read().decode() if self.popen.poll() is not None and self.popen.stderr else ""
        raise AssertionError(
            f"no line starting {prefix!r} within {timeout} s; got {self.lines[-5:]} {err[-2000:]}"
        )

    def stderr_text(self) -> str:
        """Everything the process wrote to stderr (call after it exited, e.g. after ``stop``)."""
        return getattr(self, "_stderr", None) or ""

    def kill9(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(5)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if self.popen.stderr is not None and getattr(self, "_stderr", None) is None:
            self._stderr = self.popen.stderr.read().decode()
        for stream in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def spawn() -> Iterator[type[Proc]]:
    started: list[Proc] = []

    class Tracked(Proc):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for proc in started:
        proc.stop()


@pytest.fixture
def mesh() -> str:
    """A fresh mesh name for CLI tests."""
    return f"test-{os.urandom(4).hex()}"


@pytest.fixture
def background() -> Iterator[type[Cli]]:
    """Start CLI commands in the background (``background("sub", ...)``); each is stopped at the end."""
    from .test_cli_commands import Cli

    started: list[Cli] = []

    class Tracked(Cli):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for cli in started:
        cli.stop()


@pytest.fixture
def raw() -> Iterator[Raw]:
    """Raw ZeroMQ sockets for a hostile or foreign peer (rawpeer.py), all closed at the test's end."""
    sockets = Raw()
    yield sockets
    sockets.close()
