"""A forwarder in a secured mesh (mode "mesh", CURVE on every link), real nodes on loopback in one
process: it is an enrolled peer like any other. A subscriber behind it gets every event, through it
(the direct SUB is closed); the forwarder's own XPUB applies its subscribers' grants (a node not
granted the topic gets nothing, neither through the forwarder nor directly); and a forwarder whose
credential does not grant what it relays is refused by the subscribers, which check the forwarder's
publish grant (docs/SECURITY.md, "The forwarder")."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from zbus import Event, Node
from zbus.testing import eventually

from .test_security import zbus_cli

MESH = "fsec"
FAST = {"heartbeat_interval": 0.2, "peer_timeout": 2.0}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kd = tmp_path_factory.mktemp("fwd-keys")
    zbus_cli("mesh", "init", "--key-dir", str(kd))
    grants = {
        "pub": ["--publish", "sensor.*"],
        "sub": ["--subscribe", "sensor.**"],
        "nosy": ["--subscribe", "other.**"],
        "fwd": ["--publish", "**", "--subscribe", "**"],  # it relays everything: it needs both
        "narrow": ["--publish", "other.*", "--subscribe", "**"],  # may take sensor.*, not pass it on
    }
    for name, flags in grants.items():
        zbus_cli("keygen", name, "--key-dir", str(kd))
        key = str(kd / f"{name}.key")
        zbus_cli("enroll", name, "--key", key, "--mesh", MESH, "--key-dir", str(kd), *flags)
    return kd


def secured(kd: Path, name: str, forwarder: str = "off", role: str = "node") -> Node:
    sec = {"mode": "mesh", "key_dir": str(kd), "mesh_key": str(kd / "mesh.pub")}
    config: dict[str, Any] = {"security": sec, "discovery": FAST, "transport": {"forwarder": forwarder}}
    return Node(name, mesh=MESH, config=config, role=role)


def denied(node: Node, reason: str) -> int:
    return node.statistics().dropped.get(f"security_{reason}", 0)


async def test_a_secured_forwarder_relays_within_the_grants(keys: Path) -> None:
    async with (
        secured(keys, "fwd", role="forwarder") as fwd,
        secured(keys, "sub", forwarder="auto") as sub,
        secured(keys, "nosy", forwarder="auto") as nosy,
        secured(keys, "pub") as pub,
    ):
        got: dict[str, list[Event]] = {"sub": [], "nosy": []}
        await sub.subscribe("sensor.*", handler=got["sub"].append)
        await nosy.subscribe("sensor.*", handler=got["nosy"].append)  # outside nosy's grants
        await pub.wait_for_peers(3, timeout=10)
        assert {p.name: p.role for p in pub.peers}["fwd"] == "forwarder"
        # sub switches to the forwarder once a heartbeat of pub reaches it through the forwarder
        forwarding = sub._transport.forwarding  # type: ignore[union-attr]
        await eventually(lambda: forwarding.via == fwd.id and pub.id in forwarding.confirmed, timeout=10)
        links = sub._transport._links  # type: ignore[union-attr]
        await eventually(lambda: links[pub.id].sub is None, timeout=5, what="sub's direct SUB closed")
        assert await pub.wait_for_subscribers("sensor.temp", timeout=10) >= 1
        for i in range(100):
            await pub.publish("sensor.temp", {"i": i})
        await eventually(lambda: len(got["sub"]) == 100, timeout=10, what="100 events through fwd")
        assert [e.payload["i"] for e in got["sub"]] == list(range(100))
        assert {e.source for e in got["sub"]} == {"pub"} and sub.statistics().lost == 0
        assert fwd._transport.forwarding.relayed > 0  # type: ignore[union-attr]
        # nosy's subscription was refused by the forwarder's XPUB (and by pub's, directly)
        await eventually(lambda: denied(fwd, "subscribe_denied") >= 1, what="fwd refused nosy")
        assert got["nosy"] == [] and denied(pub, "subscribe_denied") >= 1
        assert denied(sub, "publish_denied") == 0


async def test_a_forwarder_without_the_publish_grant_is_refused_by_its_subscribers(keys: Path) -> None:
    async with (
        secured(keys, "narrow", role="forwarder") as narrow,
        secured(keys, "sub", forwarder="auto") as sub,
        secured(keys, "pub") as pub,
    ):
        got: list[Event] = []
        await sub.subscribe("sensor.*", handler=got.append)
        await pub.wait_for_peers(2, timeout=10)
        forwarding = sub._transport.forwarding  # type: ignore[union-attr]
        await eventually(lambda: forwarding.via == narrow.id and pub.id in forwarding.confirmed, timeout=10)
        for i in range(20):
            await pub.publish("sensor.temp", {"i": i})
        # narrow relays sensor.* (it may subscribe to it) but may not publish it: sub drops each
        await eventually(lambda: denied(sub, "publish_denied") >= 1, timeout=10, what="relay refused")
        assert narrow._transport.forwarding.relayed > 0  # type: ignore[union-attr]
        assert os.environ.get("ZBUS_TRANSPORT__FORWARDER") is None  # (no environment override)
        print(f"\nthrough a forwarder without the grant: {len(got)} of 20 delivered, "
              f"{denied(sub, 'publish_denied')} refused")  # fmt: skip


async def test_a_queue_group_member_without_the_grant_gets_no_deliveries(keys: Path) -> None:
    # not the forwarder's business, but the same rule: a node may only receive what it may subscribe to.
    # DELIVERs go to a member over the ROUTER, past the XPUB, so its group announcement is trimmed
    async with secured(keys, "pub") as pub, secured(keys, "sub") as sub, secured(keys, "nosy") as nosy:
        got: dict[str, list[Event]] = {"sub": [], "nosy": []}
        await sub.subscribe("sensor.*", group="workers", handler=got["sub"].append)
        await nosy.subscribe("sensor.*", group="workers", handler=got["nosy"].append)
        await pub.wait_for_peers(2, timeout=10)
        await pub.wait_for_subscribers("sensor.temp", group="workers", timeout=10)
        for i in range(40):
            await pub.publish("sensor.temp", {"i": i})
        # at least once: under load a slow ack may bring a redelivery, so compare the set
        every = set(range(40))
        await eventually(
            lambda: {e.payload["i"] for e in got["sub"]} == every,
            timeout=20,
            what="all 40 to the granted member",
        )
        assert got["nosy"] == [] and denied(pub, "subscribe_denied") >= 1
