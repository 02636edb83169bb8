"""The zbus command run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import zbus

ZBUS = [sys.executable, "-m", "zbus.tools.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ZBUS, *args], capture_output=True, text=True, timeout=timeout, env=env)


def processes_mentioning(text: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(pid))
    return found


def test_version_and_help() -> None:
    out = run("--version")
    assert out.returncode == 0 and zbus.__version__ in out.stdout
    out = run("--help")
    assert out.returncode == 0 and "demo" in out.stdout and "config" in out.stdout


def test_unknown_option_is_a_usage_error() -> None:
    out = run("--bogus")
    assert out.returncode == 2 and "No such option" in out.stderr


def test_config_show_and_validate(tmp_path: Path) -> None:
    env = dict(os.environ, ZBUS_QUEUE__MAX_SIZE="500")
    out = run("config", "show", env=env)
    assert out.returncode == 0 and '"max_size": 500' in out.stdout
    for name in ("default", "development", "production"):
        assert run("config", "validate", str(ROOT / "config" / f"{name}.toml")).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[queue]\nmax_sise = 5\n")
    out = run("config", "validate", str(bad))
    assert out.returncode == 1 and "max_size" in out.stderr  # the suggestion


def test_demo_runs_to_the_end_and_leaves_nothing_behind() -> None:
    mesh = f"demo-test-{os.getpid()}"
    out = run("demo", "--duration", "4", "--mesh", mesh, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "peer worker-1 joined" in out.stdout and "task.done" in out.stdout
    assert "all 4 agents stopped" in out.stdout
    assert processes_mentioning(mesh) == []


def test_api_reference_shows_the_real_help() -> None:
    doc = (ROOT / "docs" / "API_REFERENCE.md").read_text()
    start = doc.index("$ zbus --help\n") + len("$ zbus --help\n")
    assert doc[start : doc.index("```", start)] == run("--help").stdout
