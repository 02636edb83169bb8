"""Lab fixtures: a namespace lab per test (netlab.py) and lab_node.py processes inside its hosts.

Every lab test is marked ``lab`` and skipped, with the reason, when not root or when network
namespaces cannot be created. A lab gets a namespace prefix of its own (``zl<pid%1000><2 hex>-<n>-``)
and a subnet off the shared recipe's (10.99.1xx.0/24), so parallel sessions never collide (a clash
fails loudly in NetLab.up, never shares), and is torn down in the fixture finalizer whatever
happens: nodes stopped by PID, then anything left inside killed, namespaces deleted.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from .netlab import NetLab, netns_unavailable_reason

DRIVER = Path(__file__).with_name("lab_node.py")
HEARTBEAT = 0.2
PEER_TIMEOUT = 2.0
_SESSION = f"{os.getpid() % 1000}{os.urandom(1).hex()}"
_SUBNET = f"10.99.{100 + os.getpid() % 150}"  # never the shared recipe's 10.99.0
_labs = itertools.count(1)


@functools.cache
def _unavailable() -> str | None:
    return netns_unavailable_reason()  # probed once per session


class LabNode:
    """A lab_node.py process inside a lab host. Its stdout is read by a thread into ``lines``.

    Waits are deadline-bounded and wake on every new line (a condition variable), never bare sleeps.
    """

    def __init__(self, lab: NetLab, host: int, name: str, env: Mapping[str, str], patterns: tuple[str, ...],
                 log_dir: Path, argv: list[str] | None = None) -> None:  # fmt: skip
        self.host, self.name = host, name
        self.stderr_path = log_dir / f"{name}.stderr"
        command = [sys.executable, str(DRIVER), name, *patterns] if argv is None else [sys.executable, *argv]
        with open(self.stderr_path, "ab") as stderr:
            self.popen = subprocess.Popen(
                lab.exec_argv(host, command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=dict(env),
                cwd=str(DRIVER.parent),
            )
        self.lines: list[tuple[float, str]] = []  # (monotonic time, line)
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, name=f"lab-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:  # ends at EOF: the process exited
            with self._cond:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    # -- reading --------------------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> float:
        """Wait until ``predicate()`` holds (checked on every new line); return the monotonic time it did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise AssertionError(f"{self.name}: {what}: not within {timeout} s{self._context()}")
                self._cond.wait(left)
            return time.monotonic()

    def stays_false(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Watch the output for ``seconds``: True if ``predicate()`` never held (a bounded absence check)."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self._cond.wait(left)
            return False

    def expect(self, prefix: str | tuple[str, ...], timeout: float = 10.0, start: int = 0) -> str:
        """The first line at index ≥ ``start`` starting with ``prefix`` (or one of several)."""
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for _, line in self.lines[start:] if line.startswith(prefix)][:1]
            return bool(found)

        self.wait_for(seen, timeout, f"a line starting {prefix!r}")
        return found[0]

    def peers(self) -> set[str] | None:
        """The peer names of the latest "peers" line (None before the first)."""
        with self._cond:
            latest = [line for _, line in self.lines if line.startswith("peers ")]
        if not latest:
            return None
        names = latest[-1].split(" ", 1)[1]
        return set() if names == "-" else set(names.split(","))

    def wait_peers(self, names: set[str], timeout: float) -> float:
        """Wait until the latest peer set is exactly ``names``; return the monotonic time of that line."""
        at: list[float] = []

        def match() -> bool:
            latest = [(t, line) for t, line in self.lines if line.startswith("peers ")]
            if not latest:
                return False
            t, line = latest[-1]
            listed = line.split(" ", 1)[1]
            current = set() if listed == "-" else set(listed.split(","))
            at[:] = [t]
            return current == names

        self.wait_for(match, timeout, f"peers == {sorted(names)}")
        return at[0]

    def events(self) -> list[dict[str, object]]:
        with self._cond:
            return [json.loads(line[6:]) for _, line in self.lines if line.startswith("event ")]

    def mark(self) -> int:
        """The number of lines so far (for ``expect(start=...)``)."""
        with self._cond:
            return len(self.lines)

    def _context(self) -> str:
        """For failure messages: exit code, the last stdout lines and the end of the zbus log (stderr)."""
        tail = [line for _, line in self.lines[-8:]]
        err = self.stderr_path.read_text(errors="replace")[-3000:]
        return f"; exit code {self.popen.poll()}; last lines {tail}" + (f"\nstderr:\n{err}" if err else "")

    # -- commands and lifecycle ---------------------------------------------------------------------------
    def send(self, command: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(command.encode() + b"\n")
        self.popen.stdin.flush()

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def eof(self) -> bool:
        """The process closed its stdout (it exited or is exiting)."""
        return self._eof

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM by PID, SIGKILL after ``timeout``; close the pipes."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        if self.popen.stdin is not None:
            try:
                self.popen.stdin.close()
            except BrokenPipeError:
                pass
        self._reader.join(timeout)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


class Lab:
    """A NetLab plus the nodes started in it (what the ``lab`` fixture yields)."""

    def __init__(self, net: NetLab, log_dir: Path) -> None:
        self.net = net
        self.mesh = f"lab-{os.urandom(4).hex()}"
        self.log_dir = log_dir
        self.nodes: list[LabNode] = []

    def node_env(self, host: int, scope: str, **extra: str) -> dict[str, str]:
        """The environment of a node in host ``host``: only what the node needs, no ZBUS_* leaking in."""
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ZBUS_")}
        env.update(
            PYTHONUNBUFFERED="1",
            ZBUS_MESH__NAME=self.mesh,
            ZBUS_DISCOVERY__SCOPE=scope,
            ZBUS_DISCOVERY__HEARTBEAT_INTERVAL=str(HEARTBEAT),
            ZBUS_DISCOVERY__PEER_TIMEOUT=str(PEER_TIMEOUT),
            ZBUS_TRANSPORT__RECONNECT_INTERVAL_MAX="0.5",
            ZBUS_TRANSPORT__LINGER="0.25",  # quick exits at teardown, when peers stop at once
            ZBUS_SECURITY__MODE="off",  # the open mesh, said explicitly (lan scope refuses "auto")
        )
        env.update(extra)
        return env

    def start(self, host: int, name: str, env: Mapping[str, str], *patterns: str) -> LabNode:
        """Start lab_node.py NAME PATTERNS... inside host ``host`` with exactly ``env``."""
        node = LabNode(self.net, host, name, env, patterns, self.log_dir)
        self.nodes.append(node)
        return node

    def start_script(self, host: int, name: str, env: Mapping[str, str], script: Path, *args: str) -> LabNode:
        """Start ``python SCRIPT ARGS...`` inside host ``host`` with exactly ``env`` (stdout lines read
        like a lab node's)."""
        node = LabNode(self.net, host, name, env, (), self.log_dir, argv=[str(script), *args])
        self.nodes.append(node)
        return node

    def stop_all(self) -> None:
        """SIGTERM every node at once (each says goodbye in parallel), then reap them one by one."""
        for node in self.nodes:
            if node.alive():
                node.popen.terminate()
        for node in self.nodes:
            node.stop()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Three namespace hosts on a bridge; torn down (processes and namespaces) whatever the test did."""
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    net = NetLab(3, prefix=f"zl{_SESSION}-{next(_labs)}-", subnet=_SUBNET)
    net.up()
    lab = Lab(net, tmp_path)
    try:
        yield lab
    finally:
        try:
            lab.stop_all()
        finally:
            net.down()
