"""The networked zbus commands (pub, sub, request, peers, node start) as real subprocesses.

Every test uses its own mesh name; background commands are read line by line against a
deadline and stopped by their own PID only.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

import zbus
from zbus.tools import node as node_tool

from .conftest import Proc

ZBUS = [sys.executable, "-m", "zbus.tools.cli"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ZBUS, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


class Cli:
    """A ``zbus`` command running in the background, with deadline-bounded line reading."""

    def __init__(self, *args: str) -> None:
        self.popen = subprocess.Popen(
            [*ZBUS, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.buffers = {"out": b"", "err": b""}
        self.lines: dict[str, list[str]] = {"out": [], "err": []}

    def _fd(self, stream: str) -> int:
        pipe = self.popen.stdout if stream == "out" else self.popen.stderr
        assert pipe is not None
        return pipe.fileno()

    def expect(self, prefix: str, stream: str = "out", timeout: float = 20.0) -> str:
        """The next line of ``stream`` starting with ``prefix``; fails after ``timeout`` s or EOF."""
        deadline = time.monotonic() + timeout
        fd = self._fd(stream)
        while True:
            while b"\n" in self.buffers[stream]:
                raw, self.buffers[stream] = self.buffers[stream].split(b"\n", 1)
                line = raw.decode()
                self.lines[stream].append(line)
                if line.startswith(prefix):
                    return line
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                raise AssertionError(
                    f"no {stream} line starting {prefix!r} within {timeout} s (exit code "
                    f"{self.popen.poll()}); got {self.lines[stream][-5:]}"
                )
            self.buffers[stream] += chunk

    def finish(self, timeout: float = 30.0) -> tuple[int, list[str], str]:
        """Wait for the exit; return the code, all stdout lines and the whole stderr."""
        out, err = self.popen.communicate(timeout=timeout)
        stdout = (self.buffers["out"] + out).decode().splitlines()
        stderr = "\n".join(self.lines["err"]) + "\n" + (self.buffers["err"] + err).decode()
        return self.popen.returncode, self.lines["out"] + stdout, stderr

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.communicate(timeout=10)


def test_sub_receives_whole_events_from_pub(mesh: str, background: type[Cli]) -> None:
    sub = background("sub", "order.*", "--count", "3", "--json", "--duration", "30", "--mesh", mesh)
    payload = {"order": 17, "items": ["a", "b"], "note": "café"}
    pub = run("pub", "order.placed", json.dumps(payload), "--count", "3", "--priority", "8",
              "--name", "shop", "--timeout", "20", "--mesh", mesh)  # fmt: skip
    assert pub.returncode == 0, pub.stderr
    ids = pub.stdout.split()
    code, lines, err = sub.finish()
    assert code == 0, err
    events = [json.loads(line) for line in lines]
    assert [e["id"] for e in events] == ids
    assert [e["seq"] for e in events] == [1, 2, 3]
    for event in events:
        assert event["payload"] == payload
        assert (event["type"], event["topic"], event["source"]) == ("order.placed", "order.placed", "shop")
        assert event["priority"] == 8 and event["target"] is None
        assert list(event["headers"]) == ["traceparent"]  # W3C trace context, stamped on publish
        assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
        assert {"node_id", "epoch", "correlation_id", "tags", "max_attempts"} <= event.keys()


def test_sub_filter_and_human_lines(mesh: str, background: type[Cli]) -> None:
    sub = background("sub", "sensor.**", "--filter", '{"payload.c": {"$gte": 30}}', "--count", "1",
                     "--duration", "30", "--mesh", mesh)  # fmt: skip
    for c in (20, 35):
        out = run("pub", "sensor.room.temp", json.dumps({"c": c}), "--timeout", "20", "--mesh", mesh)
        assert out.returncode == 0, out.stderr
    code, lines, err = sub.finish()
    assert code == 0, err
    assert len(lines) == 1
    assert "sensor.room.temp" in lines[0] and "seq=1" in lines[0] and '{"c": 35}' in lines[0]


def test_pub_json_output_and_target(mesh: str, background: type[Cli]) -> None:
    sub = background("sub", "job.*", "--name", "worker-a", "--count", "1", "--json", "--duration", "30",
                     "--mesh", mesh)  # fmt: skip
    out = run("pub", "job.run", '{"id": 7}', "--target", "worker-a", "--json", "--timeout", "20",
              "--mesh", mesh)  # fmt: skip
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert printed["topic"] == "job.run" and printed["seq"] == 0
    code, lines, err = sub.finish()
    assert code == 0, err
    event = json.loads(lines[0])
    assert (event["id"], event["target"], event["payload"]) == (printed["id"], "worker-a", {"id": 7})


def test_request_prints_the_reply(mesh: str, spawn: type[Proc]) -> None:
    responder = spawn("respond", mesh, "echoer", "echo.test")
    responder.expect("ready")
    out = run("request", "echo.test", '{"a": 1}', "--timeout", "20", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"echo": {"a": 1}, "by": "echoer"}
    out = run("request", "echo.test", "[1, 2]", "--json", "--timeout", "20", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["type"] == "echo.test.reply" and reply["source"] == "echoer"
    assert reply["payload"] == {"echo": [1, 2], "by": "echoer"}


def test_request_without_responders_fails(mesh: str) -> None:
    out = run("request", "nobody.home", "--timeout", "1", "--mesh", mesh)
    assert out.returncode == 1
    assert "NoResponders" in out.stderr and "nobody.home" in out.stderr


def test_node_start_is_listed_by_peers_and_stops_on_sigterm(mesh: str, background: type[Cli]) -> None:
    node = background("node", "start", "--name", "gateway", "--mesh", mesh, "--http", "127.0.0.1:0")
    ready = node.expect("ready ")
    _, name, node_id, pub, router = ready.split()
    assert name == "gateway" and pub.startswith("pub=tcp://") and router.startswith("router=tcp://")
    out = run("peers", "--json", "--wait", "3", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    peers = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(p["name"], p["id"], p["role"]) for p in peers] == [("gateway", node_id, "node")]
    assert peers[0]["address"] == router.removeprefix("router=")
    assert {"epoch", "responders", "patterns"} <= peers[0].keys()
    table = run("peers", "--wait", "3", "--mesh", mesh)
    assert table.returncode == 0 and "gateway" in table.stdout and "ADDRESS" in table.stdout
    os.kill(node.popen.pid, signal.SIGTERM)
    code, lines, err = node.finish(timeout=20)
    assert code == 0, err
    assert "stopped gateway" in lines and "serves /health, /metrics and the dashboard" in err
    assert any(line.startswith("http http://127.0.0.1:") for line in lines)


def test_node_start_with_a_journal_keeps_its_id(mesh: str, background: type[Cli], tmp_path: Path) -> None:
    ids = []
    for _ in range(2):  # the same journal twice: the same node id (sequences continue)
        node = background(
            "node", "start", "--name", "keeper", "--mesh", mesh, "--journal", str(tmp_path / "j")
        )
        ids.append(node.expect("ready ").split()[2])
        os.kill(node.popen.pid, signal.SIGTERM)
        code, _, err = node.finish(timeout=20)
        assert code == 0, err
    assert ids[0] == ids[1]
    assert (tmp_path / "j" / "data.mdb").exists()


def test_sub_stops_cleanly_on_sigint(mesh: str, background: type[Cli]) -> None:
    sub = background("sub", "x.*", "--mesh", mesh)
    sub.expect("subscribed to x.*", stream="err")
    os.kill(sub.popen.pid, signal.SIGINT)
    code, lines, err = sub.finish(timeout=20)
    assert code == 0 and lines == [], err
    assert "Traceback" not in err


def test_sub_duration_exit_codes(mesh: str) -> None:
    out = run("sub", "quiet.*", "--duration", "1", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    out = run("sub", "quiet.*", "--count", "5", "--duration", "1", "--mesh", mesh)
    assert out.returncode == 1
    assert "received 0 of 5" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pub", "a.b", "--bogus"], "No such option"),
        (["pub", "a.b", "{not json"], "not valid JSON"),
        (["request", "a.b", "nope"], "not valid JSON"),
        (["sub", "a.*", "--filter", "{"], "not valid JSON"),
        (["peers", "--scope", "moon"], "'moon' is not one of"),
        (["pub", "a.*"], "InvalidTopicError"),
        (["sub", "a..b", "--duration", "1"], "InvalidTopicError"),
        (["pub", "a.b", "--priority", "11"], "--priority"),
        (["pub", "a.b", "--mesh", "no spaces"], "mesh.name"),
        (["node", "start", "--http", "8080"], "HOST:PORT"),
        (["sub"], "Missing argument"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    out = run(*args, timeout=30)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr


@pytest.mark.parametrize("command", ["pub", "sub", "request", "reply", "peers", "node start"])
def test_help_has_an_example_and_the_common_options(command: str) -> None:
    out = run(*command.split(), "--help")
    assert out.returncode == 0
    assert "Example" in out.stdout and f"zbus {command}" in out.stdout
    for option in ("--mesh", "--scope", "--peer", "--config", "--name"):
        assert option in out.stdout


async def test_node_start_prints_the_peers_that_joined_while_it_started(
    mesh_name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # on the memory transport a peer that is already there is known before start() returns, so
    # before the listener that prints joins: it used to be printed never (seen as a footprint
    # test's "mesh of 3 did not form" under load); the stop signal is the one thing replaced
    stop = asyncio.Event()
    monkeypatch.setattr(node_tool.session, "stop_event", lambda: stop)
    cfg = {"transport": {"kind": "memory"}}
    async with zbus.Node("alpha", mesh=mesh_name, config=cfg) as alpha:
        task = asyncio.create_task(node_tool.run_node(zbus.Node("beta", mesh=mesh_name, config=cfg)))
        out, deadline = "", time.monotonic() + 10
        while "ready beta" not in out and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.01)
            out += capsys.readouterr().out
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
    out += capsys.readouterr().out
    assert f"peer joined alpha {alpha.id}" in out, out
    assert out.count("peer joined alpha") == 1, out  # from the table or from the listener, not both
