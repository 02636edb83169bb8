"""deploy/systemd/zbus.service: its hardening, ``systemd-analyze verify``, and the service it starts.

No systemd runs here as PID 1, so the unit's ExecStart runs as a plain child with the unit's
environment (``%S``, ``%H`` expanded to test values) and a ``$NOTIFY_SOCKET`` this test binds: a
unix datagram socket, exactly what systemd listens on for ``Type=notify`` services.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from zbus.tools.sdnotify import notify

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "zbus.service"
ZBUS = Path(sys.executable).with_name("zbus")


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every directive of a unit file, in order (keys may repeat)."""
    out, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def service() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for section, key, value in directives(UNIT.read_text()):
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def test_the_unit_is_hardened_and_restarts() -> None:
    s = service()
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "zbus",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "Restart": "on-failure",
        "Type": "notify",
        "NotifyAccess": "main",
    }.items():
        assert s[f"Service.{key}"] == [value], key
    env = dict(v.split("=", 1) for v in s["Service.Environment"])
    # the journal is inside StateDirectory, the only writable place under ProtectSystem=strict
    assert env["ZBUS_PERSISTENCE__PATH"].startswith("%S/zbus/")
    assert env["ZBUS_PERSISTENCE__ENABLED"] == "true"
    assert s["Install.WantedBy"] == ["multi-user.target"]


def installed_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's zbus (the rest verbatim)."""
    text = UNIT.read_text().replace("/opt/zbus/bin/zbus", str(ZBUS))
    path = tmp_path / "zbus.service"
    path.write_text(text)
    return path


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    out = subprocess.run(
        ["systemd-analyze", "verify", str(installed_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
    # and it would say so: a planted mistake is reported
    bad = tmp_path / "bad.service"
    bad.write_text(
        installed_copy(tmp_path).read_text().replace("ProtectSystem=strict", "ProtectSystem=stric")
    )
    out = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, text=True, timeout=60)
    assert "protect system value" in out.stdout + out.stderr


def receive(sock: socket.socket, wanted: str, timeout: float) -> list[str]:
    """Datagrams until one contains ``wanted`` (a deadline, via the socket timeout)."""
    sock.settimeout(timeout)
    got: list[str] = []
    while not any(wanted in g for g in got):
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            raise AssertionError(f"no {wanted} within {timeout} s; got {got}") from None
    return got


def test_the_service_notifies_ready_and_stopping(tmp_path: Path, mesh: str) -> None:
    state, notify_path = tmp_path / "state", tmp_path / "notify"
    state.mkdir()
    config = tmp_path / "zbus.toml"  # what the guide installs: the production profile
    made = subprocess.run(
        [str(ZBUS), "config", "init", "--profile", "production", "-o", str(config)], timeout=30
    )
    assert made.returncode == 0
    s = service()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZBUS_")}
    for assignment in s["Service.Environment"]:
        key, value = assignment.split("=", 1)
        env[key] = value.replace("%S", str(state))
    env.update(
        ZBUS_CONFIG=str(config),  # /etc/zbus/zbus.toml in the unit
        ZBUS_MESH__NAME=mesh,
        ZBUS_MONITORING__HTTP__PORT="0",  # the profile's 8081 may be taken on a test machine
        NOTIFY_SOCKET=str(notify_path),
    )
    argv = (
        s["Service.ExecStart"][0].replace("/opt/zbus/bin/zbus", str(ZBUS)).replace("%H", "unit-test").split()
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify_path))
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ready = receive(sock, "READY=1", timeout=20)
            assert any("STATUS=node unit-test" in r for r in ready)
            assert (state / "zbus" / "journal" / "data.mdb").is_file()
            proc.send_signal(signal.SIGTERM)
            receive(sock, "STOPPING=1", timeout=20)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            out, err = proc.communicate(timeout=10)
            print(err[-3000:])  # shown when the test fails
    assert "ready unit-test" in out, err


def test_notify_reaches_an_abstract_socket_and_is_quiet_without_one() -> None:
    name = f"zbus-test-{os.getpid()}-{os.urandom(3).hex()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert notify("READY=1", env={"NOTIFY_SOCKET": "@" + name}) is True
        sock.settimeout(5)
        assert sock.recv(100) == b"READY=1"
    assert notify("READY=1", env={}) is False
    assert notify("READY=1", env={"NOTIFY_SOCKET": "vsock:2:1"}) is False
    assert notify("READY=1", env={"NOTIFY_SOCKET": "/nonexistent/notify"}) is False  # warned, not raised
