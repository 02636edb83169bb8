"""``zbus config init`` and ``zbus config show --toml`` as real subprocesses, and ``python -m zbus``."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import zbus
from zbus.config.profiles import PROFILES, profile_path

ZBUS = [sys.executable, "-m", "zbus"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZBUS_")}
    return subprocess.run(
        [*ZBUS, *args], capture_output=True, text=True, timeout=30, env={**clean, **(env or {})}
    )


def test_python_dash_m_zbus_is_the_cli() -> None:
    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"zbus, version {zbus.__version__}"


@pytest.mark.parametrize("profile", PROFILES)
def test_config_init_writes_the_profile_with_every_key(tmp_path: Path, profile: str) -> None:
    target = tmp_path / "etc" / "zbus.toml"
    out = run("config", "init", "--profile", profile, "--output", str(target))
    assert out.returncode == 0, out.stderr
    assert f"wrote {target}" in out.stderr
    text = target.read_text()
    assert text.startswith(f"# zbus {zbus.__version__} configuration, written by `zbus config init")
    assert zbus.load_config(target, env={}) == zbus.load_config(profile_path(profile), env={})
    assert run("config", "validate", str(target)).returncode == 0
    with profile_path("default").open("rb") as fh:
        every = tomllib.load(fh)
    written = tomllib.loads(text)
    assert {s: set(v) for s, v in written.items()} == {s: set(v) for s, v in every.items()}


def test_config_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "zbus.toml"
    target.write_text("# mine\n")
    out = run("config", "init", "--output", str(target))
    assert out.returncode == 1 and "--force" in out.stderr
    assert target.read_text() == "# mine\n"  # nothing lost
    out = run("config", "init", "--profile", "development", "--output", str(target), "--force")
    assert out.returncode == 0, out.stderr
    assert zbus.load_config(target, env={}).logging.level == "debug"


def test_config_init_to_stdout_and_a_bad_profile() -> None:
    out = run("config", "init")
    assert out.returncode == 0
    assert zbus.load_config(tomllib.loads(out.stdout), env={}) == zbus.Config()
    out = run("config", "init", "--profile", "staging")
    assert out.returncode == 2 and "development" in out.stderr


def test_config_show_toml_is_the_effective_configuration(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[mesh]\nname = "orders"\n')
    env = {
        "ZBUS_QUEUE__MAX_SIZE": "500",
        "ZBUS_DISCOVERY__PEERS": "tcp://zbus-0.zbus:7001,tcp://zbus-1.zbus:7001",
    }
    out = run("config", "show", "--toml", "--config", str(path), env=env)
    assert out.returncode == 0, out.stderr
    shown = zbus.load_config(tomllib.loads(out.stdout), env={})
    assert shown == zbus.load_config(path, env=env)
    assert shown.queue.max_size == 500 and shown.mesh.name == "orders"
    assert 'name = "orders"' in out.stdout and "max_size = 500" in out.stdout
    bad = run("config", "show", "--toml", env={"ZBUS_QUEUE__MAX_SIZE": "lots"})
    assert bad.returncode == 1 and "ZBUS_QUEUE__MAX_SIZE" in bad.stderr


@pytest.mark.parametrize(("host", "asked"), [("0.0.0.0", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")])
def test_health_without_url_asks_loopback_for_a_wildcard_host(
    monkeypatch: pytest.MonkeyPatch, host: str, asked: str
) -> None:
    from zbus.tools.health import health_url

    monkeypatch.setenv("ZBUS_MONITORING__HTTP__HOST", host)
    monkeypatch.setenv("ZBUS_MONITORING__HTTP__PORT", "8081")
    assert health_url(None, None) == f"http://{asked}:8081/health"
