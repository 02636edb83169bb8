"""The HTTP endpoints' token over real HTTP on 127.0.0.1: /api/* and the dashboard need it (query or
Bearer), /health and /metrics are open unless monitoring.http.open leaves them out, refusals are 401,
counted and audited, and a node refuses to serve beyond loopback without a configured token."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import zbus
from zbus import Node

from .test_cli import run

TOKEN = "s3cret-token_for.tests~0123"


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def config(mesh: str, **http: object) -> dict[str, object]:
    return {
        "monitoring": {"http": {"enabled": True, **http}},
        "transport": {"kind": "memory"},
        "mesh": {"name": mesh},
    }


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(fetch, url, headers)


async def test_a_generated_token_guards_the_api_and_the_dashboard(
    mesh_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="zbus")
    async with Node("guarded", config=config(mesh_name)) as node:
        url, dashboard = node.http_url, node.dashboard_url
        assert url is not None and dashboard is not None and dashboard.startswith(url + "/?token=")
        token = dashboard.partition("?token=")[2]
        assert len(token) >= 32
        # logged once, with the URL a browser opens
        said = [r.getMessage() for r in caplog.records if "serves /health" in r.getMessage()]
        assert len(said) == 1 and dashboard in said[0] and "generated" in said[0]

        for path in ("/api/state", "/api/mesh", "/"):
            status, headers, body = await get(url + path)
            assert status == 401, path
            assert headers["WWW-Authenticate"].startswith("Bearer")
            assert "token" in json.loads(body)["error"]
            status, _, _ = await get(url + path + "?token=" + "x" * len(token))
            assert status == 401, path
            status, _, _ = await get(url + path, {"Authorization": "Bearer wrong-token-0123456789abcdef"})
            assert status == 401, path

        status, _, body = await get(url + "/api/state?token=" + token)
        assert status == 200 and json.loads(body)["node"]["name"] == "guarded"
        status, _, body = await get(url + "/api/mesh", {"Authorization": f"Bearer {token}"})
        assert status == 200 and "nodes" in json.loads(body)
        status, headers, page = await get(dashboard)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'get("token")' in page and b"Bearer" in page  # the page passes its token on to its fetches

        # open by default: probes and scrapers need no token
        assert (await get(url + "/health"))[0] == 200
        status, _, metrics = await get(url + "/metrics")
        assert status == 200
        # 9 refusals above, counted by the server and audited on zbus.audit
        assert 'zbus_http_refused_total{reason="unauthorized"} 9.0' in metrics.decode()
        audited = [r for r in caplog.records if r.name == "zbus.audit"]
        assert audited and all(getattr(r, "audit", "") == "refused_http" for r in audited)
        assert audited[0].levelno == logging.WARNING and audited[0].path == "/api/state"  # type: ignore[attr-defined]
        assert all(r.levelno == logging.DEBUG for r in audited[1:])  # a flood costs one line


async def test_a_configured_token_and_closed_health_and_metrics(mesh_name: str) -> None:
    cfg = config(mesh_name, token=TOKEN, open=[])
    async with Node("closed", config=cfg) as node:
        url = node.http_url
        assert url is not None and node.dashboard_url == f"{url}/?token={TOKEN}"
        for path in ("/health", "/metrics", "/api/state"):
            assert (await get(url + path))[0] == 401, path
            assert (await get(url + path, {"Authorization": f"Bearer {TOKEN}"}))[0] == 200, path
        assert (await get(url + "/nope"))[0] == 404  # an unknown path reveals nothing either way
    only_health = config(mesh_name, token=TOKEN, open=["health"])
    async with Node("half", config=only_health) as node:
        assert node.http_url is not None
        assert (await get(node.http_url + "/health"))[0] == 200
        assert (await get(node.http_url + "/metrics"))[0] == 401


async def test_a_token_file_is_read_and_must_be_private(tmp_path: Path, mesh_name: str) -> None:
    path = tmp_path / "http.token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    async with Node("filed", config=config(mesh_name, token_file=str(path))) as node:
        assert node.http_url is not None
        assert (await get(node.http_url + "/api/state?token=" + TOKEN))[0] == 200
    path.chmod(0o644)
    loose = Node("loose", config=config(mesh_name, token_file=str(path)))
    with pytest.raises(zbus.ConfigError, match="chmod 600"):
        await loose.start()
    assert loose.state is zbus.NodeState.CLOSED
    with pytest.raises(zbus.ConfigError, match="token_file"):
        await Node("missing", config=config(mesh_name, token_file=str(tmp_path / "none"))).start()
    with pytest.raises(zbus.ConfigError, match="not both"):
        await Node("both", config=config(mesh_name, token=TOKEN, token_file=str(path))).start()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
async def test_no_bind_beyond_loopback_without_a_configured_token(host: str, mesh_name: str) -> None:
    node = Node("exposed", config=config(mesh_name, host=host))
    with pytest.raises(zbus.ConfigError, match=r"set monitoring\.http\.token .*token_file.*127\.0\.0\.1"):
        await node.start()
    assert node.state is zbus.NodeState.CLOSED and node.http_url is None


async def test_beyond_loopback_with_a_token_still_needs_it(mesh_name: str) -> None:
    # bound on every interface; asked only over 127.0.0.1 (tests send nothing else anywhere)
    async with Node("wide", config=config(mesh_name, host="0.0.0.0", token=TOKEN)) as node:
        assert node.http_url is not None
        local = node.http_url.replace("0.0.0.0", "127.0.0.1")
        assert (await get(local + "/api/state"))[0] == 401
        assert (await get(local + f"/api/state?token={TOKEN}"))[0] == 200


def test_a_short_or_odd_token_is_a_config_error() -> None:
    with pytest.raises(zbus.ConfigError, match=r"monitoring\.http\.token"):
        zbus.load_config({"monitoring": {"http": {"token": "short"}}})
    with pytest.raises(zbus.ConfigError, match=r"monitoring\.http\.open"):
        zbus.load_config({"monitoring": {"http": {"open": ["state"]}}})
    cfg = zbus.load_config(None, env={"ZBUS_MONITORING__HTTP__OPEN": "metrics"})
    assert cfg.monitoring.http.open == ("metrics",)


async def test_zbus_health_sends_the_token_when_health_is_closed(mesh_name: str) -> None:
    async with Node("probed", config=config(mesh_name, token=TOKEN, open=[])) as node:
        url = node.http_url
        assert url is not None
        refused = await asyncio.to_thread(run, "health", url, timeout=30)
        assert refused.returncode == 1 and "--token" in refused.stderr
        by_option = await asyncio.to_thread(run, "health", url, "--token", TOKEN, timeout=30)
        assert by_option.returncode == 0 and json.loads(by_option.stdout)["status"] == "healthy"
        printed = f"{url}/?token={TOKEN}"  # the line `zbus node start` prints works as it is
        by_url = await asyncio.to_thread(run, "health", printed, "--json", timeout=30)
        assert by_url.returncode == 0, by_url.stderr


def test_doctor_reports_the_http_guard(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ZBUS_")}
    wide = {**base, "ZBUS_MONITORING__HTTP__ENABLED": "true", "ZBUS_MONITORING__HTTP__HOST": "0.0.0.0"}
    checks = _doctor(wide)
    assert checks["http"]["verdict"] == "fail" and "monitoring.http.token" in checks["http"]["detail"]
    token_file = tmp_path / "http.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    checks = _doctor({**wide, "ZBUS_MONITORING__HTTP__TOKEN_FILE": str(token_file)})
    assert checks["http"]["verdict"] == "ok", checks["http"]
    assert (
        f"token_file {token_file}" in checks["http"]["detail"]
        and "/health, /metrics" in checks["http"]["detail"]
    )
    assert _doctor(base)["http"]["detail"].startswith("off")


def _doctor(env: dict[str, str]) -> dict[str, dict[str, str]]:
    out = run("doctor", "--json", "--wait", "0", "--mesh", f"doc-{os.getpid()}", env=env, timeout=60)
    return {c["check"]: c for c in map(json.loads, out.stdout.splitlines())}


async def test_zbus_health_reads_the_token_file_of_its_config(tmp_path: Path, mesh_name: str) -> None:
    token_file = tmp_path / "http.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    async with Node("filed", config=config(mesh_name, token_file=str(token_file), open=[])) as node:
        assert node.http_url is not None
        conf = tmp_path / "node.toml"
        conf.write_text(f'[monitoring.http]\ntoken_file = "{token_file}"\n')
        out = await asyncio.to_thread(run, "health", node.http_url, "--config", str(conf), timeout=30)
        assert out.returncode == 0, out.stderr
