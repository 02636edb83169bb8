"""Audit over real sockets and real HTTP: each security decision (a connection refused by ZAP, a publish
outside the grants, an expired credential, a revocation applied and the revoked peer cut off, an HTTP
request without the token) is one structured record on ``zbus.audit`` and counted in /metrics, read with
prometheus-client's parser from the node's own HTTP endpoint."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import zmq
from prometheus_client.parser import text_string_to_metric_families

from zbus import Node
from zbus.protocol.permissions import Permissions
from zbus.security.credentials import issue
from zbus.security.keys import generate_keys, load_keys, load_signing_key
from zbus.testing import eventually

from .rawpeer import Raw
from .test_security import FAST, dropped, hello_as, zbus_cli
from .test_security import keys as keys  # the module-wide three-command set-up (a fixture)


def decisions(url: str) -> dict[tuple[str, str], float]:
    """``zbus_security_decisions_total`` from ``url``/metrics, by (decision, reason)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "zbus_security_decisions":
            for s in family.samples:
                found[s.labels["decision"], s.labels["reason"]] = s.value
    return found


def secured(kd: Path, name: str, **extra: Any) -> Node:
    sec = {"mode": "mesh", "key_dir": str(kd), "mesh_key": str(kd / "mesh.pub")}
    return Node(name, mesh="sec", config={"security": sec, "discovery": FAST, **extra})


async def test_every_security_decision_is_audited_and_counted_in_metrics(
    keys: Path,
    raw: Raw,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="zbus.audit")
    kd = tmp_path / "keys"
    shutil.copytree(keys, kd)  # this test's own revocation list
    http = {"monitoring": {"http": {"enabled": True}}}
    async with secured(kd, "boss", **http) as boss, secured(kd, "evil", **http) as evil:
        assert boss.http_url is not None and evil.http_url is not None
        url = boss.http_url
        await boss.wait_for_peers(1, timeout=10)
        seen = await asyncio.to_thread(decisions, url)
        assert seen.get(("admitted", "ok"), 0) >= 1  # evil's HELLO: admitted under its credential

        # a publish outside evil's grants (result.* only), refused by boss, the receiver
        got: list[str] = []
        await boss.subscribe("audit.**", "result.*", handler=lambda e: got.append(e.topic))
        await boss.subscribe("secret.*", handler=lambda e: None)  # outside boss's subscribe grants
        await evil.wait_for_subscribers("audit.x", timeout=5)
        await evil.publish("audit.forged", {})
        await evil.publish("result.fine", {})
        await eventually(lambda: "result.fine" in got and "security_publish_denied" in dropped(boss))
        # a CURVE SUB with a key nobody enrolled: ZAP refuses the connection
        stranger = raw.socket(zmq.SUB, keys=generate_keys(), server=load_keys(kd / "boss.secret").public)
        stranger.setsockopt(zmq.SUBSCRIBE, b"")
        stranger.connect(boss.endpoints["pub"])
        # a credential that expired a second ago, signed by the real authority
        late = generate_keys()
        now = int(time.time())
        grants = Permissions(publish=["**"])
        expired = issue(load_signing_key(kd), mesh="sec", name="late", key=late.public,
                        permissions=grants, issued=now - 100, expires=now - 1)  # fmt: skip
        await hello_as(raw, boss, kd, late, name="late", cred=expired, node_id="late-1")
        # an HTTP request for /api/state without the token
        with pytest.raises(urllib.error.HTTPError, match="401"):
            await asyncio.to_thread(urllib.request.urlopen, url + "/api/state", timeout=10)
        # the authority revokes evil: boss applies the list and cuts evil off
        zbus_cli("mesh", "revoke", str(kd / "evil.key"), "--mesh", "sec", "--key-dir", str(kd))
        await eventually(lambda: not boss.peers, timeout=5, what="revoked evil cut off")

        wanted = {
            ("refused_event", "publish_denied"),
            ("refused_connection", "pub"),
            ("refused_peer", "expired"),
            ("revocations_applied", "ok"),
            ("cut_off", "revoked"),
            ("refused_http", "unauthorized"),
        }

        deadline = time.monotonic() + 10  # scraped from a thread: the node's loop must stay free
        while not wanted <= {k for k, v in seen.items() if v >= 1}:
            assert time.monotonic() < deadline, f"not all of {sorted(wanted)} in /metrics: {seen}"
            seen = await asyncio.to_thread(decisions, url)
            await asyncio.sleep(0.1)  # a scrape's pace, not synchronisation: the deadline bounds it
        print(f"\nzbus_security_decisions_total on boss: {dict(sorted(seen.items()))}")
        # evil's XPUB did not apply boss's subscription to secret.*: a denied subscribe, on evil
        on_evil = await asyncio.to_thread(decisions, evil.http_url)
        assert on_evil.get(("denied_subscribe", "subscribe_denied"), 0) >= 1, on_evil

    # ... and each is a structured record on zbus.audit, the first of each kind at WARNING (refusals)
    records = [r for r in caplog.records if r.name == "zbus.audit"]
    logged = {(getattr(r, "audit", ""), getattr(r, "reason", "")) for r in records}
    assert wanted | {("admitted", "ok"), ("denied_subscribe", "subscribe_denied")} <= logged, logged
    first = {}
    for r in records:
        first.setdefault((r.audit, r.reason), r)  # type: ignore[attr-defined]
    for key in wanted - {("revocations_applied", "ok")}:
        assert first[key].levelno == logging.WARNING, key
    assert first["revocations_applied", "ok"].levelno == logging.INFO
