"""A revoked peer is disconnected, not just ignored (issue 13, item 5), over real sockets: an enrolled
attacker's CURVE SUB holds a permitted subscription on a node's XPUB and receives its events; once the
mesh authority revokes its key, the node shuts that connection down (``evict.Accepted``), so nothing
published afterwards reaches it, while a legitimate subscriber, reconnected at once, loses nothing (gap
repair). The eviction is counted in /metrics and audited; a failed CURVE handshake is counted too."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from zbus import Event, Node
from zbus.protocol.permissions import Permissions
from zbus.security.credentials import issue
from zbus.security.keys import NodeKeys, generate_keys, load_keys, load_signing_key
from zbus.testing import eventually
from zbus.transport.zmq.evict import Accepted

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


async def listening(raw: Raw, worker: Node, kd: Path, keys: NodeKeys) -> tuple[zmq.Socket[bytes], int]:
    """A raw CURVE SUB with ``keys`` (admitted by a HELLO) on worker's XPUB, subscribed to ``result.``, once
    it hears worker's events (the slow joiner: published until it does); returns it and the next ``i``."""
    sub = raw.socket(zmq.SUB, keys=keys, server=load_keys(kd / "worker.secret").public)
    sub.setsockopt(zmq.SUBSCRIBE, b"result.")
    sub.connect(worker.endpoints["pub"])
    i = 0
    async with asyncio.timeout(10):
        while not seen_by(sub):
            await worker.publish("result.x", {"i": i})
            i += 1
            await asyncio.sleep(0.02)
    return sub, i


async def disconnected(url: str, reason: str, timeout: float = 10) -> None:
    """Until worker's /metrics counts a ``disconnected`` decision for ``reason`` (scraped from a thread:
    the node's loop serves it)."""
    deadline = time.monotonic() + timeout
    while (await asyncio.to_thread(decisions, url)).get(("disconnected", reason), 0) < 1:
        assert time.monotonic() < deadline, f"no ('disconnected', {reason!r}) in /metrics"
        await asyncio.sleep(0.05)  # a scrape's pace


async def nothing_after(worker: Node, boss: Node, got: list[Event], sub: zmq.Socket[bytes], i: int) -> int:
    """Publish 50 more events: the legitimate subscriber gets every event so far (repaired where its
    reconnect lost some), and the disconnected SUB none of the new ones; returns the next ``i``."""
    after = i
    for _ in range(50):
        await worker.publish("result.x", {"i": i})
        i += 1
    await eventually(lambda: len(got) == i, timeout=15, what=f"the legitimate subscriber gets all {i} events")
    assert sorted(e.payload["i"] for e in got) == list(range(i))
    late = [n for n in seen_by(sub) if n >= after]  # boss has them all: so would the SUB, if connected
    assert not late, f"the disconnected subscriber received {late}"
    # and the legitimate one's SUB reconnected: a new event arrives live, not by repair
    repaired = boss.statistics().repaired
    await boss_hears(worker, got, i, boss)
    assert boss.statistics().repaired == repaired and worker.statistics().id in {p.id for p in boss.peers}
    print(f"\nthe legitimate subscriber: {repaired} event(s) repaired, none lost")
    return i + 1


async def boss_hears(worker: Node, got: list[Event], i: int, boss: Node) -> None:
    await worker.publish("result.x", {"i": i})
    await eventually(lambda: len(got) == i + 1, timeout=5, what="a live event after the reconnect")


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
        sub, i = await listening(raw, worker, kd, evil)
        # the authority revokes evil's key: worker applies the list at its next tick and evicts it
        started = time.monotonic()
        zbus_cli("mesh", "revoke", str(kd / "evil.key"), "--mesh", "sec", "--key-dir", str(kd))
        await eventually(
            lambda: worker.statistics().dropped.get("security_revoked", 0) >= 1, timeout=5, what="revoked"
        )
        await disconnected(worker.http_url, "revoked")
        took = time.monotonic() - started
        await nothing_after(worker, boss, got, sub, i)
        print(
            f"\nrevoked subscriber disconnected {took:.2f} s after `zbus mesh revoke` started (CLI included)"
        )
        assert took < 5
    logged = {(getattr(r, "audit", ""), getattr(r, "reason", "")) for r in caplog.records}
    assert ("disconnected", "revoked") in logged


async def test_an_expired_subscriber_is_disconnected(keys: Path, raw: Raw) -> None:
    async with secured(keys, "worker", **HTTP) as worker, secured(keys, "boss") as boss:
        assert worker.http_url is not None
        await worker.wait_for_peers(1, timeout=10)
        got: list[Event] = []
        await boss.subscribe("result.*", handler=got.append)
        await worker.wait_for_subscribers("result.x", timeout=5)
        # a node enrolled for 3 seconds (by the real authority), subscribed on worker's XPUB
        late = generate_keys()
        now = int(time.time())
        cred = issue(load_signing_key(keys), mesh="sec", name="late", key=late.public,
                     permissions=Permissions(subscribe=["**"]), issued=now, expires=now + 3)  # fmt: skip
        await hello_as(raw, worker, keys, late, name="late", cred=cred, node_id="late-1")
        sub, i = await listening(raw, worker, keys, late)
        while time.time() < now + 3:  # it keeps receiving until its credential expires
            await worker.publish("result.x", {"i": i})
            i += 1
            await asyncio.sleep(0.05)
        await disconnected(worker.http_url, "expired")
        await nothing_after(worker, boss, got, sub, i)


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


def test_eviction_shuts_down_the_xpub_connection_and_never_a_reused_fd() -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    a, b = socket.socketpair()
    try:
        xpub = ctx.socket(zmq.XPUB)
        xpub.setsockopt(zmq.LINGER, 0)
        accepted = Accepted(xpub, lambda endpoint, code: None)
        port = xpub.bind_to_random_port("tcp://127.0.0.1")
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"t.")
        sub.connect(f"tcp://127.0.0.1:{port}")
        assert xpub.poll(5000) and xpub.recv() == b"\x01t."  # (accepted before: its event is queued)
        accepted.drain()
        assert len(accepted.fds) == 1
        # a number recorded as an XPUB connection that now belongs to another socket: left alone
        accepted.fds[a.fileno()] = (("127.0.0.1", port), ("127.0.0.1", 1))
        assert accepted.evict() == 1
        assert a.fileno() not in accepted.fds
        a.sendall(b"x")
        assert b.recv(1) == b"x"  # still open and working
        # libzmq dropped the pipe (its subscription ends), and the SUB reconnects and subscribes again
        deadline = time.monotonic() + 5
        for expected in (b"\x00t.", b"\x01t."):
            while not xpub.poll(50):
                assert time.monotonic() < deadline, f"no {expected!r} on the XPUB"
                sub.poll(0)  # a SUB handles its reconnect when used (a node's pump reads it)
            assert xpub.recv() == expected
        accepted.close()
    finally:
        a.close()
        b.close()
        ctx.destroy(linger=0)
