"""The hostile-peer suite on namespace hosts (issue 12, item 9; docs/ARCHITECTURE.md, "Hostile input").

Host 1 runs the node attacked (n1), host 2 a legitimate node (n2), both in ``lan`` scope with
``security.mode = "off"`` said explicitly (this is the no-crypto part of the hardening); host 3 is the
hostile host (hostile_host.py: the raw fake peer of tests/integration/rawpeer.py and the forged mDNS
records of tests/integration/fake_mdns.py, on the lab LAN). Each test runs one row of the issue's
table, then asserts that n1 still exchanges events with n2 both ways and that the refusal was counted
(n1's ``Node.statistics()``, read with lab_node.py's ``stats`` command), and prints what it tried and
what was refused. Root only; skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import PEER_TIMEOUT, Lab, LabNode
from .test_lab import JOIN, endpoints, exchange

pytestmark = pytest.mark.lab

HOSTILE = Path(__file__).with_name("hostile_host.py")
COUNTED = 15.0  # s for a refusal to show in the attacked node's counters


def lan(lab: Lab, host: int, **extra: str) -> dict[str, str]:
    return lab.node_env(
        host, "lan", ZBUS_TRANSPORT__HOST="0.0.0.0", ZBUS_DISCOVERY__INTERFACES="lan0", **extra
    )


def start(
    lab: Lab, victim: dict[str, str] | None = None, legit: dict[str, str] | None = None
) -> tuple[LabNode, LabNode, LabNode]:
    """n1 (attacked) on host 1, n2 (legitimate) on host 2, joined; the hostile host on host 3."""
    n1 = lab.start(1, "n1", lan(lab, 1, **(victim or {})), "lab.*", "fake.*")
    n2 = lab.start(2, "n2", lan(lab, 2, **(legit or {})), "lab.*")
    for node in (n1, n2):
        node.expect("ready", timeout=JOIN)
    n1.wait_peers({"n2"}, timeout=JOIN)
    n2.wait_peers({"n1"}, timeout=JOIN)
    env = lab.node_env(3, "lan")
    hostile = lab.start_script(3, "hostile", env, HOSTILE, lab.mesh, lab.net.addr(3))
    hostile.expect("ready", timeout=JOIN)
    return n1, n2, hostile


def attack(hostile: LabNode, command: str) -> str:
    mark = hostile.mark()
    hostile.send(command)
    line = hostile.expect(("done ", "error "), timeout=30, start=mark)
    assert line.startswith("done "), line
    print(f"hostile host: {line[5:]}")
    return line


def stats(node: LabNode) -> dict[str, Any]:
    mark = node.mark()
    node.send("stats")
    doc: dict[str, Any] = json.loads(node.expect("stats ", timeout=10, start=mark)[6:])
    return doc


def counted(node: LabNode, check: Any, what: str) -> dict[str, Any]:
    """Poll ``stats`` until ``check(doc)`` holds (deadline ``COUNTED``)."""
    deadline = time.monotonic() + COUNTED
    while True:
        doc = stats(node)
        if check(doc):
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"{node.name}: {what}: not counted within {COUNTED} s: {doc}")
        node.stays_false(lambda: False, 0.2)  # (a bounded pause between polls, on the node's output)


def still_exchanging(n1: LabNode, n2: LabNode, topic: str) -> None:
    exchange(n2, [n1], f"lab.{topic}")
    exchange(n1, [n2], f"lab.{topic}-back")


def warm(n1: LabNode, peer: str) -> None:
    """Wait until n1 hears the fake peer's warm-up events (its SUB is connected to the fake's PUB)."""
    n1.wait_for(lambda: any(e["type"] == "fake.warm" and e["source"] == peer for e in n1.events()),
                JOIN, f"warm-up events of {peer}")  # fmt: skip


def test_forged_mdns_records_are_counted_and_the_node_keeps_working(lab: Lab) -> None:
    n1, n2, hostile = start(lab, victim={"ZBUS_DISCOVERY__MAX_NODES": "64"})
    attack(hostile, "mdns 4 300")

    def refused(d: dict[str, Any]) -> bool:
        return d["dropped"].get("bad_record", 0) >= 4 and d["dropped"].get("discovery_full", 0) > 0

    doc = counted(n1, refused, "bad_record and discovery_full")
    dropped = doc["dropped"]
    print(f"n1 (discovery.max_nodes=64) refused bad_record={dropped['bad_record']}, discovery_full="
          f"{dropped['discovery_full']}; duty failures {doc['failures']}; peers {doc['peers']}")  # fmt: skip
    assert doc["peers"] == ["n2"]
    still_exchanging(n1, n2, "after-mdns")


def test_fake_peers_beyond_max_peers_are_refused_and_expire(lab: Lab) -> None:
    n1, n2, hostile = start(
        lab, victim={"ZBUS_LIMITS__MAX_PEERS": "3", "ZBUS_DISCOVERY__HANDSHAKE_TIMEOUT": "3"}
    )
    _, router = endpoints(n1)
    started = time.monotonic()
    attack(hostile, f"ghosts {router} 8")
    doc = counted(n1, lambda d: d["dropped"].get("max_peers", 0) >= 6, "max_peers")
    print(
        f"n1 with limits.max_peers=3 and n2 joined: max_peers={doc['dropped']['max_peers']}, "
        f"peers {doc['peers']}"
    )
    still_exchanging(n1, n2, "with-ghosts")
    expired = n1.wait_peers({"n2"}, timeout=3 + PEER_TIMEOUT + JOIN)  # (never heard on their XPUB)
    print(
        f"the 2 admitted ghosts expired {expired - started:.1f} s after the attack "
        "(handshake_timeout 3 s); n1 keeps n2"
    )
    still_exchanging(n1, n2, "after-ghosts")


def test_events_claiming_another_host_s_node_are_refused(lab: Lab) -> None:
    n1, n2, hostile = start(lab)
    n2_id, _, _ = n2.expect("ready").split()[1:4]
    _, router = endpoints(n1)
    attack(hostile, f"hello forger {router}")
    warm(n1, "forger")
    attack(hostile, f"forge forger lab.x {n2_id} 6")
    doc = counted(
        n1, lambda d: d["by_peer"].get("forger", {}).get("spoofed_source", 0) == 6, "spoofed_source"
    )
    print(
        f"n1 refused spoofed_source={doc['dropped']['spoofed_source']} "
        f"(all from forger: {doc['by_peer']['forger']})"
    )
    exchange(n2, [n1], "lab.x")  # n2's own stream is intact: its events 1..5 arrive, in order
    assert not [e for e in n1.events() if e["type"] == "lab.x" and e["source"] == "forger"]
    assert stats(n1)["lost"] == 0
    still_exchanging(n1, n2, "after-spoof")


def test_a_flood_from_another_host_is_rate_limited(lab: Lab) -> None:
    n1, n2, hostile = start(lab, victim={"ZBUS_LIMITS__PEER_EVENTS_PER_SECOND": "500",
                                         "ZBUS_REPAIR__TIMEOUT": "0.2"})  # fmt: skip
    _, router = endpoints(n1)
    attack(hostile, f"hello flooder {router}")
    warm(n1, "flooder")
    attack(hostile, "flood flooder fake.flood 5000")
    doc = counted(n1, lambda d: d["by_peer"].get("flooder", {}).get("rate_limited", 0) > 0, "rate_limited")
    limited = doc["by_peer"]["flooder"]["rate_limited"]
    taken = len([e for e in n1.events() if e["type"] == "fake.flood"])
    print(
        f"n1 with limits.peer_events_per_second=500: took {taken}, rate_limited={limited} (per peer: flooder)"
    )
    assert doc["dropped"]["rate_limited"] == limited and limited > 1000
    still_exchanging(n1, n2, "after-flood")


def test_a_reply_from_a_third_host_never_settles_a_request(lab: Lab) -> None:
    n1, n2, hostile = start(lab, legit={"LAB_RESPOND": "sum", "LAB_RESPOND_DELAY": "2"})
    n2_id = n2.expect("ready").split()[1]
    _, router = endpoints(n1)
    attack(hostile, f"hello forger {router}")
    warm(n1, "forger")
    mark = n1.mark()
    n1.send("req sum 20")
    request_id = n2.expect("asked ", timeout=JOIN).split()[1]  # the forger's best case: it guessed the id
    attack(hostile, f"reply forger {request_id} {n2_id}")
    doc = counted(n1, lambda d: d["dropped"].get("spoofed_sender") == d["dropped"].get("foreign_reply") == 1,
                  "spoofed_sender and foreign_reply")  # fmt: skip
    answer = n1.expect(("reply ", "error "), timeout=20, start=mark)
    print(
        f"n1 refused spoofed_sender=1, foreign_reply=1 ({doc['by_peer'].get('forger')}); "
        f"its request got: {answer}"
    )
    assert answer == "reply n2 6"
    still_exchanging(n1, n2, "after-replies")


def test_another_host_presenting_a_nodes_id_cannot_remove_or_replace_it(lab: Lab) -> None:
    n1, n2, hostile = start(lab)
    exchange(n2, [n1], "lab.before")  # n1 has heard n2 on its own XPUB
    n2_id = n2.expect("ready").split()[1]
    assert stats(n1)["peers"] == ["n2"]
    _, router = endpoints(n1)
    attack(hostile, f"impostor {n2_id} {2**62} {router}")
    doc = counted(n1, lambda d: d["by_peer"].get(n2_id, {}).get("takeover", 0) >= 1, "takeover")
    print(f"n1 refused takeover={doc['dropped']['takeover']} (counted for n2: {doc['by_peer'][n2_id]})")
    assert n1.stays_false(lambda: n1.peers() != {"n2"}, PEER_TIMEOUT + 0.5), "n1 dropped n2"
    print(f"n1 kept n2 for {PEER_TIMEOUT + 0.5} s (past peer_timeout) after the forged BYE and HELLO")
    still_exchanging(n1, n2, "after-impostor")
