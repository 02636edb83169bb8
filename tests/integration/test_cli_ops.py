"""The operator commands as real subprocesses: topics, replay, journal, dlq, doctor, and their exit codes.

Journals live in ``tmp_path``; dead letters are written with the store API (as the node will write them).
Background commands are read against deadlines and stopped by their own PID only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import zbus
from zbus.codec import wire
from zbus.store import DeadLetters, Journal, JournalRecord

from .conftest import Proc
from .test_cli_commands import Cli, run

JOURNALING_NODE = """
import asyncio, sys, zbus
async def main():
    config = {"persistence": {"enabled": True, "path": sys.argv[1]}}
    async with zbus.Node("shop", config=config, mesh=sys.argv[2]) as node:
        for i in range(int(sys.argv[3])):
            await node.publish("order.placed" if i % 2 == 0 else "audit.login", {"i": i}, durable=True)
        print("done", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
asyncio.run(main())
"""


@pytest.fixture
def journaling_node(tmp_path: Path, mesh: str) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A node that journaled 40 events (20 order.placed, 20 audit.login) and keeps its journal open."""
    path = tmp_path / "journal"
    proc = subprocess.Popen(
        [sys.executable, "-c", JOURNALING_NODE, str(path), mesh, "40"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the child prints "done" or exits (EOF) on error
        assert line.strip() == "done", proc.stderr.read() if proc.stderr else ""
        yield path, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_replay_reads_a_journal_while_its_node_runs(
    journaling_node: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = journaling_node
    out = run("replay", "order.*", "--journal", str(path), "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["payload"]["i"] for e in events] == list(range(0, 40, 2))
    assert [e["seq"] for e in events] == list(range(1, 21))
    assert {e["topic"] for e in events} == {"order.placed"} and events[0]["source"] == "shop"
    assert proc.poll() is None  # the node kept running (and kept its journal open) meanwhile

    out = run("replay", "--journal", str(path), "--last", "2", "--from-seq", "5", "--json")
    assert out.returncode == 0, out.stderr
    tail = [(e["topic"], e["seq"]) for e in map(json.loads, out.stdout.splitlines())]
    assert sorted(tail) == [
        ("audit.login", 19),
        ("audit.login", 20),
        ("order.placed", 19),
        ("order.placed", 20),
    ]

    out = run("replay", "audit.**", "--journal", str(path), "--since", "1h")  # human lines, like `zbus sub`
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 20 and "audit.login" in lines[0] and "seq=1 " in lines[0]
    assert "20 event(s)" in out.stderr
    future = run("replay", "--journal", str(path), "--since", "2999-01-01T00:00:00+00:00")
    assert future.returncode == 0 and future.stdout == ""


def test_journal_stats_and_export(
    journaling_node: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    path, _ = journaling_node
    out = run("journal", "stats", "--journal", str(path), "--json")
    assert out.returncode == 0, out.stderr
    summary, *streams = map(json.loads, out.stdout.splitlines())
    assert summary["kind"] == "journal" and summary["events"] == 40 and summary["streams"] == 2
    assert summary["bytes"] > 0 and summary["oldest"] <= summary["newest"] and summary["dead_letters"] == 0
    assert sorted((s["topic"], s["last_seq"]) for s in streams) == [("audit.login", 20), ("order.placed", 20)]
    human = run("journal", "stats", "--journal", str(path))
    assert human.returncode == 0 and "events:" in human.stdout and "order.placed" in human.stdout

    target = tmp_path / "export.jsonl"
    out = run("journal", "export", "--journal", str(path), "--output", str(target))
    assert out.returncode == 0, out.stderr
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(exported) == 40 and exported[0]["payload"] == {"i": 0} and "headers" in exported[0]
    out = run("journal", "export", "--journal", str(path), "--pattern", "audit.*")
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 20


def _event_frames(topic: str, i: int, seq: int) -> list[bytes]:
    return wire.encode(zbus.Event(topic, {"i": i}), node_id="feedc0de", seq=seq, epoch=1)


def test_journal_compact_refuses_an_open_journal_then_applies_retention(
    journaling_node: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    path, proc = journaling_node
    refused = run("journal", "compact", "--journal", str(path))
    assert refused.returncode == 1 and "open by a running process" in refused.stderr
    assert proc.stdin is not None
    proc.stdin.write("\n")  # let the node stop and close its journal
    proc.stdin.flush()
    proc.wait(20)
    old = time.time() - 8 * 86_400  # past the 7-day default retention
    with Journal(path, map_size=2**30, durability="sync") as journal:
        records = [
            JournalRecord("feedc0de", "order.old", s, 1, old, _event_frames("order.old", s, s))
            for s in range(1, 501)
        ]
        journal.append_batch(records)
    before = (path / "data.mdb").stat().st_size
    out = run("journal", "compact", "--journal", str(path), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["expired"] == 500 and result["events"] == 40
    assert result["bytes_before"] == before and result["bytes_after"] < before
    stats = run("journal", "stats", "--journal", str(path), "--json")
    summary, *streams = map(json.loads, stats.stdout.splitlines())
    assert summary["events"] == 40
    assert ("order.old", 500) in {(s["topic"], s["last_seq"]) for s in streams}  # stream state is kept
    assert len(run("replay", "--journal", str(path)).stdout.splitlines()) == 40


def _dead_letters(path: Path, n: int) -> list[str]:
    with Journal(path, map_size=2**30, durability="sync") as journal:
        letters = DeadLetters(journal)
        return [
            letters.add(
                frames=_event_frames("job.failed", i, i + 1),
                error_type="ValueError",
                error=f"boom {i}",
                handler="worker.handle",
                subscription="job.*",
                attempts=3,
                ts=time.time(),
            )
            for i in range(n)
        ]


def test_dlq_list_retry_purge(tmp_path: Path, mesh: str, background: type[Cli]) -> None:
    path = tmp_path / "worker"
    ids = _dead_letters(path, 3)
    out = run("dlq", "list", "--journal", str(path), "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ids
    assert (
        rows[0]["error"] == "boom 0" and rows[0]["attempts"] == 3 and rows[0]["event"]["payload"] == {"i": 0}
    )
    human = run("dlq", "list", "--journal", str(path))
    assert human.returncode == 0 and "ValueError" in human.stdout and ids[1] in human.stdout

    sub = background("sub", "job.*", "--json", "--count", "1", "--duration", "30", "--mesh", mesh)
    out = run(
        "dlq",
        "retry",
        "--journal",
        str(path),
        "--id",
        ids[1],
        "--wait-subscribers",
        "1",
        "--json",
        "--timeout",
        "20",
        "--mesh",
        mesh,
    )
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)
    code, lines, err = sub.finish()
    assert code == 0, err
    event = json.loads(lines[0])
    original = rows[1]["event"]
    assert event["id"] == done["republished_as"] != original["id"]
    assert (event["topic"], event["payload"]) == ("job.failed", {"i": 1})
    assert event["headers"]["zbus-retry-of"] == original["id"] == event["causation_id"]
    left = [
        json.loads(line)["id"]
        for line in run("dlq", "list", "--journal", str(path), "--json").stdout.splitlines()
    ]
    assert left == [ids[0], ids[2]]  # deleted only the one republished

    # nobody subscribes: the publish is not attempted, the record stays, exit 1
    kept = run(
        "dlq",
        "retry",
        "--journal",
        str(path),
        "--id",
        ids[0],
        "--wait-subscribers",
        "1",
        "--timeout",
        "0.5",
        "--mesh",
        mesh,
    )
    assert kept.returncode == 1 and "kept" in kept.stderr
    missing = run("dlq", "retry", "--journal", str(path), "--id", ids[1], "--mesh", mesh)
    assert missing.returncode == 1 and "no dead letter" in missing.stderr
    bad = run("dlq", "purge", "--journal", str(path), "--id", "xyz")
    assert bad.returncode == 2 and "32 hex" in bad.stderr

    out = run("dlq", "purge", "--journal", str(path), "--id", ids[0])
    assert out.returncode == 0 and "purged 1" in out.stdout
    out = run("dlq", "purge", "--journal", str(path), "--yes")
    assert out.returncode == 0 and "purged 1" in out.stdout
    assert run("dlq", "list", "--journal", str(path), "--json").stdout == ""


def test_topics_lists_subscriptions_responders_and_published(mesh: str, background: type[Cli]) -> None:
    sub = background("sub", "order.*", "sensor.**", "--name", "shop-sub", "--duration", "30", "--mesh", mesh)
    sub.expect("subscribed", stream="err")
    pub = background(
        "pub",
        "order.placed",
        '{"n": 1}',
        "--count",
        "400",
        "--rate",
        "40",
        "--name",
        "till",
        "--wait-subscribers",
        "1",
        "--timeout",
        "20",
        "--mesh",
        mesh,
    )
    pub.expect("")  # the first event id: publishing has started
    out = run("topics", "--wait", "2", "--json", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    subs = {r["topic"]: r["nodes"] for r in rows if r["kind"] == "subscription"}
    assert subs["order.*"] == ["shop-sub"] and subs["sensor.**"] == ["shop-sub"]
    published = {r["topic"]: r for r in rows if r["kind"] == "published"}
    assert published["order.placed"]["nodes"] == ["till"] and published["order.placed"]["events"] > 0
    human = run("topics", "--wait", "1", "--mesh", mesh)
    assert human.returncode == 0 and "KIND" in human.stdout and "order.*" in human.stdout


def test_topics_shows_responders(mesh: str, spawn: type[Proc]) -> None:
    responder = spawn("respond", mesh, "echoer", "echo.test")
    responder.expect("ready")
    out = run("topics", "--wait", "2", "--json", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {"kind": "responder", "topic": "echo.test", "nodes": ["echoer"], "events": None} in rows


def test_doctor_local_scope(mesh: str, background: type[Cli], tmp_path: Path) -> None:
    node = background("node", "start", "--name", "seen-by-doctor", "--mesh", mesh)
    node.expect("ready")
    out = run("doctor", "--json", "--wait", "5", "--journal", str(tmp_path / "j"), "--mesh", mesh)
    assert out.returncode == 0, out.stdout + out.stderr
    checks = {c["check"]: c for c in map(json.loads, out.stdout.splitlines())}
    assert {
        "python",
        "pyzmq/libzmq",
        "lmdb",
        "interfaces",
        "zmq bind",
        "mdns",
        "peers",
        "journal dir",
    } <= set(checks)
    assert checks["mdns"]["verdict"] == "ok" and "127.0.0.1" in checks["mdns"]["detail"]
    assert checks["zmq bind"]["verdict"] == "ok" and "tcp://127.0.0.1:" in checks["zmq bind"]["detail"]
    assert checks["peers"]["verdict"] == "ok" and "seen-by-doctor" in checks["peers"]["detail"]
    assert checks["journal dir"]["verdict"] == "ok"

    bad = run("doctor", "--wait", "0", "--journal", "/proc/zbus-doctor/journal", "--mesh", mesh)
    assert bad.returncode == 1
    assert "FAIL  journal dir" in bad.stdout and "fix: set persistence.path" in bad.stdout
    assert "warn  peers" in bad.stdout  # nobody else in this mesh within 0 s: a warning, not a failure


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["replay", "--bogus"], 2, "No such option"),
        (["replay", "--since", "yesterday", "--journal", "/tmp"], 2, "expected an ISO time"),
        (["replay", "order.[", "--journal", "/tmp"], 1, "no journal"),
        (["journal", "stats", "--journal", "/nonexistent/zbus"], 1, "no journal at /nonexistent/zbus"),
        (["journal", "frobnicate"], 2, "No such command"),
        (["dlq", "list"], 2, "--journal DIR"),
        (["forwarder", "--bind", "nohost"], 2, "expected HOST:PORT"),
        (["monitor", "--capture", "tcp://127.0.0.1:1", "--stats"], 2, "--stats works on the mesh only"),
        (["doctor", "--scope", "moon"], 2, "Invalid value for '--scope'"),
    ],
)
def test_exit_codes_and_usage_errors(args: list[str], code: int, message: str) -> None:
    out = run(*args)
    assert out.returncode == code, out.stdout + out.stderr
    assert message in out.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["topics"],
        ["replay"],
        ["journal", "stats"],
        ["journal", "export"],
        ["journal", "compact"],
        ["dlq", "list"],
        ["dlq", "retry"],
        ["dlq", "purge"],
        ["doctor"],
        ["forwarder"],
    ],
)
def test_new_commands_have_help_with_an_example(command: list[str]) -> None:
    out = run(*command, "--help")
    assert out.returncode == 0 and "Example" in out.stdout, out.stdout
