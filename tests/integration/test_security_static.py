"""A secured mesh on ``static`` scope (docs/SECURITY.md, "Static scope"): each static peer entry names the
peer's CURVE key (``tcp://HOST:PORT#key=KEY``), so a node dials it as a CURVE client expecting that key.
Two nodes on loopback exchange events; an entry with the wrong key fails the handshake, refused and counted
by the node dialled; an entry with no key is refused at start with an error saying what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from zbus import Event, Node
from zbus.discovery.static import parse_peers, split_entry
from zbus.errors import DiscoveryError, ZbusError
from zbus.testing import eventually

from .test_security import FAST, dropped
from .test_security import keys as keys  # the module-wide three-command set-up (a fixture)


def static(kd: Path, name: str, *peers: str) -> Node:
    sec = {"mode": "mesh", "key_dir": str(kd), "mesh_key": str(kd / "mesh.pub")}
    disc = {"scope": "static", "peers": list(peers), **FAST}
    return Node(
        name, mesh="sec", config={"security": sec, "discovery": disc, "transport": {"host": "127.0.0.1"}}
    )


def key_of(kd: Path, name: str) -> str:
    return (kd / f"{name}.key").read_text().strip()


async def test_a_secured_static_mesh_exchanges_events(keys: Path) -> None:
    async with static(keys, "worker") as worker:  # lists nobody: boss dials it, it learns boss's key
        entry = f"{worker.endpoints['router']}#key={key_of(keys, 'worker')}"
        async with static(keys, "boss", entry) as boss:
            await boss.wait_for_peers(names=["worker"], timeout=10)
            await worker.wait_for_peers(names=["boss"], timeout=10)
            tasks: list[Event] = []
            results: list[Event] = []
            await worker.subscribe("task.*", handler=tasks.append)
            await boss.subscribe("result.*", handler=results.append)
            await boss.wait_for_subscribers("task.x", timeout=5)
            await worker.wait_for_subscribers("result.x", timeout=5)
            for i in range(5):
                await boss.publish("task.x", {"i": i})
                await worker.publish("result.x", {"i": i})
            await eventually(lambda: len(tasks) == 5 and len(results) == 5, timeout=5)
            assert {e.source for e in tasks} == {"boss"} and {e.source for e in results} == {"worker"}


async def test_a_wrong_key_fails_the_handshake_counted_by_the_node_dialled(keys: Path) -> None:
    async with static(keys, "worker") as worker:
        wrong = f"{worker.endpoints['router']}#key={key_of(keys, 'evil')}"  # another node's key
        async with static(keys, "boss", wrong) as boss:
            await eventually(
                lambda: dropped(worker).get("security_bad_handshake", 0) >= 1,
                timeout=10,
                what="boss's CURVE HELLO, encrypted for another key, refused by worker",
            )
            assert not boss.peers and not worker.peers


async def test_a_static_peer_without_a_key_is_refused_at_start(keys: Path) -> None:
    node = static(keys, "boss", "tcp://127.0.0.1:9")
    with pytest.raises(DiscoveryError, match=r"has no key, and security is on.*#key=KEY"):
        await node.start()
    await node.close()
    assert issubclass(DiscoveryError, ZbusError)


def test_peer_entries_carry_keys_and_comments_still_work(keys: Path) -> None:
    key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"  # Z85 holds '#' and ':' too: a comment needs a space
    hashed = key[:10] + "#" + key[11:]
    text = f"# peers\ntcp://10.0.0.5:7001#key={key}, tcp://b:7001#key={hashed}  # b\nipc:///run/a\n"
    entries = parse_peers(text, "peers")
    assert [split_entry(e) for e in entries] == [
        ("tcp://10.0.0.5:7001", key),
        ("tcp://b:7001", hashed),
        ("ipc:///run/a", ""),
    ]
    with pytest.raises(DiscoveryError, match=r"peers:1: the key of 'tcp://a:1' is not a CURVE public key"):
        parse_peers("tcp://a:1#key=short\n", "peers")
