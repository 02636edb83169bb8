"""A revoked peer is disconnected, not just ignored (issue 13, item 5), over real sockets: an enrolled
attacker's CURVE SUB holds a permitted subscription on a node's XPUB and receives its events; once the
mesh authority revokes its key, the node shuts that connection down (``evict.Accepted``), so nothing
published afterwards reaches it, while a legitimate subscriber, reconnected at once, loses nothing (gap
repair). The eviction is counted in /metrics and audited; a failed CURVE handshake is counted too."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from zbus import Event
from zbus.security.keys import load_keys
from zbus.testing import eventually

from .rawpeer import Raw
from .test_security import _cred, hello_as, zbus_cli
from .test_security import keys as keys  # the module-wide three-command set-up (a fixture)
from .test_security_audit import decisions, secured

HTTP = {"monitoring": {"http": {"enabled": True}}}


def seen_by(sub: zmq.Socket[bytes]) -> list[int]:
    """The ``i`` of every event queued on a raw SUB (without waiting)."""
    out = []
    while sub.poll(0):
        frames = sub.recv_multipart()
        if len(frames) == 3:
            out.append(msgpack.unpackb(frames[2])["i"])
    return out


async def test_a_revoked_subscriber_is_disconnected_and_a_legitimate_one_loses_nothing(
    keys: Path, raw: Raw, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zbus.audit")
    kd = tmp_path / "keys"
    shutil.copytree(keys, kd)  # this test's own revocation list
    async with secured(kd, "worker", **HTTP) as worker, secured(kd, "boss") as boss:
        assert worker.http_url is not None
        await worker.wait_for_peers(1, timeout=10)
        got: list[Event] = []
        await boss.subscribe("result.*", handler=got.append)
        await worker.wait_for_subscribers("result.x", timeout=5)
        # evil (enrolled: subscribe **) introduces itself to worker and subscribes on its XPUB with a raw
        # CURVE SUB: a permitted subscription, applied
        evil = load_keys(kd / "evil.secret")
        await hello_as(raw, worker, kd, evil, name="evil", cred=_cred(kd, "evil"), node_id="evil-1")
        sub = raw.socket(zmq.SUB, keys=evil, server=load_keys(kd / "worker.secret").public)
        sub.setsockopt(zmq.SUBSCRIBE, b"result.")
        sub.connect(worker.endpoints["pub"])
        i, evil_got = 0, []
        async with asyncio.timeout(10):
            while not evil_got:  # the slow joiner: publish until evil's SUB hears one
                await worker.publish("result.x", {"i": i})
                i += 1
                await asyncio.sleep(0.02)
                evil_got += seen_by(sub)
        # the authority revokes evil's key: worker applies the list at its next tick and evicts it
        zbus_cli("mesh", "revoke", str(kd / "evil.key"), "--mesh", "sec", "--key-dir", str(kd))
        started = time.monotonic()
        await eventually(
            lambda: worker.statistics().dropped.get("security_revoked", 0) >= 1, timeout=5, what="revoked"
        )
        url = worker.http_url
        deadline = time.monotonic() + 10  # the disconnection is counted (and done) at the same tick
        while (await asyncio.to_thread(decisions, url)).get(("disconnected", "revoked"), 0) < 1:
            assert time.monotonic() < deadline, "no ('disconnected', 'revoked') in /metrics"
            await asyncio.sleep(0.05)  # a scrape's pace (from a thread: the loop serves it)
        took = time.monotonic() - started
        evil_got += seen_by(sub)  # what was sent before the connection was shut down
        after = i
        for _ in range(50):
            await worker.publish("result.x", {"i": i})
            i += 1
        # the legitimate subscriber gets every event, before, during and after the eviction (repaired)
        await eventually(lambda: len(got) == i, timeout=15, what=f"boss gets all {i} events")
        assert sorted(e.payload["i"] for e in got) == list(range(i))
        late = [n for n in seen_by(sub) if n >= after]  # boss has them all: so would evil, if connected
        assert not late, f"the revoked subscriber received {late} after its eviction"
        print(f"\nrevoked subscriber disconnected {took:.2f} s after the list was written")
        assert took < 5
    logged = {(getattr(r, "audit", ""), getattr(r, "reason", "")) for r in caplog.records}
    assert ("disconnected", "revoked") in logged


async def test_a_client_expecting_another_server_key_is_refused_and_counted(keys: Path, raw: Raw) -> None:
    async with secured(keys, "boss") as boss:
        wrong = load_keys(keys / "worker.secret").public  # not boss's key
        dealer = raw.socket(zmq.DEALER, keys=load_keys(keys / "evil.secret"), server=wrong)
        dealer.connect(boss.endpoints["router"])
        await eventually(
            lambda: boss.statistics().dropped.get("security_bad_handshake", 0) >= 1,
            timeout=10,
            what="a CURVE handshake with the wrong server key refused and counted",
        )
