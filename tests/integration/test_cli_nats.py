"""The everyday commands a NATS user reaches for, as real subprocesses on 127.0.0.1.

``zbus reply`` (template, command, echo), ``zbus request --replies``, ``zbus pub`` bodies (pipe, ``-``,
``--file``, ``--text``), templates, ``--header``/``--ttl``, and ``zbus sub --last/--replay/--durable``.
Each test has its own mesh; background commands are stopped by their own PID only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from .conftest import Proc
from .test_cli_commands import ZBUS, Cli


def run(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A zbus command; stdin is ``input`` (a pipe) or /dev/null, never the test runner's own stdin."""
    stdin = None if input is not None else subprocess.DEVNULL
    return subprocess.run(
        [*ZBUS, *args], input=input, stdin=stdin, capture_output=True, text=True, timeout=timeout
    )


def events(lines: list[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_pub_templates_headers_and_ttl(mesh: str, background: type[Cli]) -> None:
    sub = background("sub", "tick", "--count", "3", "--json", "--duration", "30", "--mesh", mesh)
    template = '{"n": {{Count}}, "at": "{{ TimeStamp }}", "uid": "{{ID}}"}'
    out = run("pub", "tick", template, "--count", "3", "--header", "tenant=acme", "--header", "n={{Count}}",
              "--ttl", "30s", "--timeout", "20", "--mesh", mesh)  # fmt: skip
    assert out.returncode == 0, out.stderr
    code, lines, err = sub.finish()
    assert code == 0, err
    got = events(lines)
    assert [e["payload"]["n"] for e in got] == [1, 2, 3]  # type: ignore[index]
    uids = {e["payload"]["uid"] for e in got}  # type: ignore[index]
    assert len(uids) == 3 and all(re.fullmatch(r"[0-9a-f]{16}", u) for u in uids)
    for n, event in enumerate(got, 1):
        at = datetime.fromisoformat(event["payload"]["at"])  # type: ignore[index]
        assert at.utcoffset() is not None and at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        headers = event["headers"]
        assert headers["tenant"] == "acme" and headers["n"] == str(n)  # type: ignore[index]
        assert event["ttl"] == 30.0


def test_pub_body_from_a_pipe_dash_and_file(mesh: str, background: type[Cli], tmp_path: Path) -> None:
    sub = background("sub", "body.*", "--count", "4", "--json", "--duration", "40", "--mesh", mesh)
    big = {"blob": "x" * 900_000}  # beyond what fits in a command line (MAX_ARG_STRLEN is 128 KiB)
    (tmp_path / "big.json").write_text(json.dumps(big))
    common = ["--timeout", "20", "--mesh", mesh]
    assert run("pub", "body.pipe", *common, input='{"n": 5}\n').returncode == 0
    assert run("pub", "body.dash", "-", *common, input="[1, 2]").returncode == 0
    assert run("pub", "body.text", "--text", "-", *common, input="plain words").returncode == 0
    # last: the subscriber's 900 kB line fills the stdout pipe until finish() reads it
    assert run("pub", "body.file", "--file", str(tmp_path / "big.json"), *common).returncode == 0
    code, lines, err = sub.finish()
    assert code == 0, err
    payloads = {e["topic"]: e["payload"] for e in events(lines)}
    assert payloads["body.pipe"] == {"n": 5}
    assert payloads["body.dash"] == [1, 2]
    assert payloads["body.file"] == big
    assert payloads["body.text"] == "plain words"


def test_pub_bad_bodies_are_usage_errors(mesh: str) -> None:
    common = ["--wait-subscribers", "0", "--mesh", mesh]
    out = run("pub", "x.y", *common, input="not json at all")
    assert (
        out.returncode == 2 and "the body on stdin is not valid JSON" in out.stderr and "--text" in out.stderr
    )
    out = run("pub", "x.y", "-", *common, input="")
    assert out.returncode == 2 and "stdin was empty" in out.stderr
    out = run("pub", "x.y", '{"a": {{Nope}}}', *common)
    assert out.returncode == 2 and "unknown template '{{Nope}}'" in out.stderr
    out = run("pub", "x.y", "{}", "--file", "/nonexistent", *common)
    assert out.returncode == 2 and "not both" in out.stderr
    out = run("pub", "x.y", "--header", "novalue", *common)
    assert out.returncode == 2 and "KEY=VALUE" in out.stderr
    out = run("pub", "x.y", "--ttl", "soon", *common)
    assert out.returncode == 2 and "--ttl" in out.stderr


def test_reply_template_and_request_gathers_replies(mesh: str, background: type[Cli]) -> None:
    template = '{"by": "NAME", "n": {{Count}}, "req": {{Request}}}'
    for name in ("r1", "r2"):
        replier = background("reply", "calc.add", template.replace("NAME", name), "--name", name,
                             "--json", "--mesh", mesh)  # fmt: skip
        replier.expect(f"answering calc.add on mesh '{mesh}' as {name}", stream="err")
    out = run("request", "calc.add", '{"a": 2}', "--replies", "2", "--timeout", "20", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(r["by"] for r in replies) == ["r1", "r2"]
    assert all(r["n"] == 1 and r["req"] == {"a": 2} for r in replies)
    # three asked of two responders: both replies printed, then exit 1 saying what is missing
    out = run("request", "calc.add", "{}", "--replies", "3", "--json", "--timeout", "3", "--mesh", mesh)
    assert out.returncode == 1
    assert len(out.stdout.splitlines()) == 2 and "got 2 of 3 replies" in out.stderr


def test_reply_command_gets_the_request_on_stdin(mesh: str, background: type[Cli]) -> None:
    script = "import json,os,sys; r=json.load(sys.stdin); print(json.dumps({'sum': r['a'] + r['b'], 'type': os.environ['ZBUS_REQUEST_TYPE']}))"  # noqa: E501
    replier = background("reply", "math.add", "--command", f'{sys.executable} -c "{script}"', "--mesh", mesh)
    replier.expect("answering math.add", stream="err")
    out = run("request", "math.add", '{"a": 2, "b": 3}', "--timeout", "20", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"sum": 5, "type": "math.add"}
    assert "math.add" in replier.expect("")  # the request was printed as it arrived


def test_reply_command_failure_reaches_the_requester(mesh: str, background: type[Cli]) -> None:
    failing = f"{sys.executable} -c \"import sys; sys.stderr.write('boom'); sys.exit(3)\""
    replier = background("reply", "bad.op", "--command", failing, "--mesh", mesh)
    replier.expect("answering bad.op", stream="err")
    out = run("request", "bad.op", "{}", "--timeout", "20", "--mesh", mesh)
    assert out.returncode == 1
    assert "RemoteError" in out.stderr and "CommandFailed" in out.stderr and "exited 3: boom" in out.stderr


def test_reply_echo_with_count_exits_after_answering(mesh: str, background: type[Cli]) -> None:
    replier = background("reply", "echo.me", "--count", "1", "--duration", "30", "--mesh", mesh)
    replier.expect("answering echo.me", stream="err")
    out = run("request", "echo.me", '{"hello": "world"}', "--timeout", "20", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"hello": "world"}
    code, lines, err = replier.finish()
    assert code == 0, err
    assert len(lines) == 1 and "echo.me" in lines[0]


def test_sub_last_and_replay_print_history_first(mesh: str, spawn: type[Proc]) -> None:
    publisher = spawn("history", mesh, "hist", "hist.tick", "5")
    publisher.expect("done")
    out = run("sub", "hist.*", "--last", "2", "--count", "2", "--json", "--duration", "30", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    assert [e["seq"] for e in events(out.stdout.splitlines())] == [4, 5]
    assert "(replay 2)" in out.stderr
    out = run(
        "sub", "hist.*", "--replay", "all", "--count", "5", "--json", "--duration", "30", "--mesh", mesh
    )
    assert out.returncode == 0, out.stderr
    got = events(out.stdout.splitlines())
    assert [e["seq"] for e in got] == [1, 2, 3, 4, 5]
    assert [e["payload"] for e in got] == [{"i": i} for i in range(5)]
    out = run("sub", "hist.*", "--replay", "1h", "--count", "5", "--duration", "30", "--mesh", mesh)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 5, out.stderr


def test_sub_durable_resumes_where_it_stopped(
    mesh: str, background: type[Cli], spawn: type[Proc], tmp_path: Path
) -> None:
    journal = str(tmp_path / "sub-journal")
    args = ["sub", "dur.*", "--durable", "billing", "--journal", journal, "--json", "--duration", "30"]
    first = background(*args, "--count", "3", "--mesh", mesh)
    first.expect("subscribed to dur.* (durable 'billing')", stream="err")
    publisher = spawn("history", mesh, "durpub", "dur.tick", "5")
    publisher.expect("done")
    code, lines, err = first.finish()
    assert code == 0, err
    assert [e["seq"] for e in events(lines)] == [1, 2, 3]
    out = run(*args, "--count", "2", "--mesh", mesh)
    assert out.returncode == 0, out.stderr
    assert [e["seq"] for e in events(out.stdout.splitlines())] == [4, 5]  # resumed after the checkpoint


def test_sub_group_member_gets_the_tasks_and_shows_in_peers_and_topics(
    mesh: str, background: type[Cli], spawn: type[Proc]
) -> None:
    member = background(
        "sub", "grp.*", "--group", "w", "--json", "--count", "20", "--duration", "30", "--mesh", mesh
    )
    member.expect("subscribed to grp.* in group 'w'", stream="err")
    peers = run("peers", "--json", "--wait", "1", "--mesh", mesh)
    assert peers.returncode == 0, peers.stderr
    assert [json.loads(line)["groups"] for line in peers.stdout.splitlines()] == [["w:grp.*/64"]]
    topics = run("topics", "--json", "--wait", "1", "--mesh", mesh)
    rows = [json.loads(line) for line in topics.stdout.splitlines()]
    assert {
        "kind": "group",
        "topic": "grp.* (group w)",
        "nodes": [peers_name(peers.stdout)],
        "events": None,
    } in rows
    publisher = spawn("tasks", mesh, "grppub", "grp.x", "20", "w", "0")
    publisher.expect("done")
    code, lines, err = member.finish()
    assert code == 0, err
    assert sorted(e["payload"]["i"] for e in events(lines)) == list(range(20))


def peers_name(stdout: str) -> str:
    return str(json.loads(stdout.splitlines()[0])["name"])


def test_sub_option_conflicts_are_usage_errors() -> None:
    for args, message in (
        (["sub", "a.*", "--last", "1", "--replay", "all"], "give one of them"),
        (["sub", "a.*", "--durable", "x", "--last", "1"], "cannot be combined"),
        (["sub", "a.*", "--journal", "/tmp/x"], "--journal is for --durable"),
        (["sub", "a.*", "--group", "w", "--last", "1"], "--group cannot be combined"),
        (["sub", "a.*", "--replay", "yesterday"], "expected 'all'"),
        (["request", "a.b", "--replies", "0"], "--replies"),
        (["reply", "a.b", "{}", "--command", "cat"], "not both"),
    ):
        out = run(*args, timeout=30)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr, (args, out.stderr)
