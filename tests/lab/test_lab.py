"""Multi-host tests: zbus nodes as processes in network-namespace hosts on one bridge (see netlab.py).

Root only; skipped with the reason otherwise. Each test gets a fresh three-host lab and tears it down.
Every wait is a deadline on the nodes' output (conftest.LabNode), never a bare sleep.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator

import pytest

from .conftest import PEER_TIMEOUT, Lab, LabNode

pytestmark = pytest.mark.lab

NAMES = ("n1", "n2", "n3")
JOIN = 10.0  # s for a fresh mesh to form (measured: 0.3-0.6 s)
GONE_MARGIN = 2.0  # s beyond peer_timeout for a cut peer to be reported gone (measured: ~0.1 s)
REJOIN = 10.0  # s after restore for the peers to report each other again
STATIC_PORT = 7101  # the same fixed ROUTER port on every host, as a deployment would configure it

# the mesh's greeting settings, compressed so that a "long" partition takes seconds: the long-partition
# cut outlasts several greeting rounds and unanswered-HELLO timeouts, as a cut of minutes does with the
# defaults (2.5 s, 3 s doubling up to 30 s)
COMPRESSED = {
    "ZBUS_DISCOVERY__HELLO_TIMEOUT": "0.5",  # an unanswered HELLO's DEALER is closed after this
    "ZBUS_DISCOVERY__REGREET_BASE": "0.5",  # greeting backoff (protocol/greetings.py) ...
    "ZBUS_DISCOVERY__REGREET_CAP": "1",  # ... up to this
}
HOLD = 3.0  # s the cable stays out after the peers expired: several compressed greeting rounds

EnvFor = Callable[[Lab, int], dict[str, str]]


def lan_env(lab: Lab, host: int) -> dict[str, str]:
    """lan scope. The three hosts spell the same intent three ways, all of which must work."""
    addr = lab.net.addr(host)
    variants = {
        1: {"ZBUS_TRANSPORT__HOST": "0.0.0.0", "ZBUS_DISCOVERY__INTERFACES": "lan0"},
        2: {"ZBUS_TRANSPORT__HOST": addr, "ZBUS_DISCOVERY__INTERFACES": "lan0"},
        3: {"ZBUS_TRANSPORT__HOST": "0.0.0.0", "ZBUS_DISCOVERY__INTERFACES": addr},
    }
    return lab.node_env(host, "lan", **variants[host])


def static_env(lab: Lab, host: int) -> dict[str, str]:
    """static scope: one peer list for every node (its own endpoint included), one fixed port."""
    peers = ",".join(f"tcp://{lab.net.addr(i)}:{STATIC_PORT}" for i in range(1, lab.net.n + 1))
    return lab.node_env(
        host,
        "static",
        ZBUS_TRANSPORT__HOST=lab.net.addr(host),
        ZBUS_TRANSPORT__ROUTER_PORT=str(STATIC_PORT),
        ZBUS_DISCOVERY__PEERS=peers,
    )


def start_mesh(
    lab: Lab, env_for: EnvFor, patterns: dict[str, tuple[str, ...]], *, one_by_one: bool = False
) -> list[LabNode]:
    """One node per host (n1 in h1, ...); returns them once each sees the other two.

    All start at once, or ``one_by_one``: each after the previous printed "ready" (registered its mDNS
    service and started browsing), so every node's mDNS browser has seen every other node by the
    time the mesh is complete (a later node's announcement reaches the earlier browsers, its own
    first query finds them), not only learned of it through a HELLO.
    """
    nodes = []
    for host, name in enumerate(NAMES, start=1):
        nodes.append(lab.start(host, name, env_for(lab, host), *patterns.get(name, ())))
        if one_by_one:
            nodes[-1].expect("ready", timeout=JOIN)
    for node in nodes:
        node.expect("ready", timeout=JOIN)
    for node in nodes:
        node.wait_peers(set(NAMES) - {node.name}, timeout=JOIN)
    return nodes


def endpoints(node: LabNode) -> tuple[str, str]:
    """(pub, router) from the node's ready line."""
    _, _, pub, router = node.expect("ready").split()
    return pub, router


def on_topic(node: LabNode, topic: str) -> list[dict[str, object]]:
    """The events ``node`` received on ``topic`` (a hostile host's events on other topics may interleave)."""
    return [e for e in node.events() if e["type"] == topic]


def exchange(publisher: LabNode, receivers: list[LabNode], topic: str, count: int = 5) -> None:
    """``publisher`` waits for the receivers' subscriptions, publishes ``count`` events; all must arrive."""
    start = publisher.mark()
    publisher.send(f"subs {topic} {len(receivers)} 10")
    answer = publisher.expect(("subs ", "error "), timeout=12, start=start)
    assert answer == f"subs {topic} {len(receivers)}", f"{publisher.name}: {answer}"
    before = {r.name: len(on_topic(r, topic)) for r in receivers}
    publisher.send(f"pub {topic} {count}")
    answer = publisher.expect((f"published {topic}", "error "), timeout=5, start=start)
    assert answer.startswith("published"), f"{publisher.name}: {answer}"
    for receiver in receivers:
        n = before[receiver.name] + count
        receiver.wait_for(lambda r=receiver, n=n: len(on_topic(r, topic)) >= n, 5, f"{n} events on {topic}")
        got = on_topic(receiver, topic)[before[receiver.name] :]
        assert [(e["type"], e["source"], e["payload"]) for e in got] == [
            (topic, publisher.name, {"i": i, "from": publisher.name}) for i in range(count)
        ], f"{receiver.name} received {got}"


@contextlib.contextmanager
def precondition(what: str) -> Iterator[None]:
    """An AssertionError here is a broken setup, reported as such rather than as the property under test."""
    try:
        yield
    except AssertionError as exc:
        pytest.fail(f"precondition failed: {what}: {exc}")


def _started_or_refused(nodes: list[LabNode]) -> bool:
    """Wait until each node printed "ready" or exited; True if all exited naming transport.host."""

    def up_or_gone(node: LabNode) -> bool:
        return node.eof or any(line.startswith("ready ") for _, line in node.lines)

    for node in nodes:
        node.wait_for(functools.partial(up_or_gone, node), timeout=JOIN, what="ready or exit")
    exited = [node for node in nodes if node.eof]
    for node in exited:
        node.popen.wait(5)
        assert node.popen.returncode != 0
        assert "transport.host" in node.stderr_path.read_text(), node.stderr_path.read_text()[-2000:]
    return len(exited) == len(nodes)


def test_lan_scope_nodes_discover_each_other_and_exchange_events(lab: Lab) -> None:
    n1, n2, n3 = start_mesh(lab, lan_env, {"n2": ("lab.*",), "n3": ("lab.*",)})

    for host, node in enumerate((n1, n2, n3), start=1):
        addr = lab.net.addr(host)
        pub, router = endpoints(node)
        assert pub.startswith(f"tcp://{addr}:") and router.startswith(f"tcp://{addr}:"), (
            f"{node.name} announces {pub} {router}, not its lan0 address {addr}"
        )
        # mDNS really ran on the lab link: zeroconf joined 224.0.0.251 on lan0
        assert "224.0.0.251" in lab.net.multicast_groups(host)

    exchange(n1, [n2, n3], "lab.hello")


def test_static_scope_joins_without_multicast(lab: Lab) -> None:
    for host in range(1, lab.net.n + 1):
        lab.net.no_multicast(host)
        assert lab.net.run(host, "ip", "route", "show", "224.0.0.0/4").stdout.strip() == ""
        assert "MULTICAST" not in lab.net.link_state(host)

    n1, n2, n3 = start_mesh(lab, static_env, {"n1": ("lab.*",), "n3": ("lab.*",)})

    for host, node in enumerate((n1, n2, n3), start=1):
        assert endpoints(node)[1] == f"tcp://{lab.net.addr(host)}:{STATIC_PORT}"
        # no mDNS socket anywhere: nothing joined the mDNS group
        assert "224.0.0.251" not in lab.net.multicast_groups(host)
    exchange(n2, [n1, n3], "lab.static")


@pytest.mark.parametrize("scope", ["static", "lan"])
def test_cut_link_peers_report_gone_and_restore_brings_it_back(lab: Lab, scope: str) -> None:
    env_for = static_env if scope == "static" else lan_env
    nodes = start_mesh(lab, env_for, {"n3": ("lab.*",)}, one_by_one=True)
    n1, n2, n3 = nodes
    pids = [node.popen.pid for node in nodes]

    cut_at = time.monotonic()
    lab.net.cut(3)
    for node in (n1, n2):
        gone_at = node.wait_peers({"n1", "n2"} - {node.name}, timeout=PEER_TIMEOUT + GONE_MARGIN)
        assert gone_at - cut_at <= PEER_TIMEOUT + GONE_MARGIN
    n3.wait_peers(set(), timeout=PEER_TIMEOUT + GONE_MARGIN)

    lab.net.restore(3)
    for node in nodes:
        node.wait_peers(set(NAMES) - {node.name}, timeout=REJOIN)

    # the same processes, never restarted, and the links work again
    assert [node.popen.pid for node in nodes] == pids and all(node.alive() for node in nodes)
    assert [sum(line.startswith("ready ") for _, line in node.lines) for node in nodes] == [1, 1, 1]
    exchange(n1, [n3], "lab.after")


def test_lan_scope_long_partition_heals_after_restore(lab: Lab) -> None:
    """A cut that outlasts many greeting rounds must still heal once the cable is back.

    mDNS gives no help here: python-zeroconf reports a service only when its records are new to the
    cache, and the returning node's records never left it. So the mesh itself must keep greeting the
    endpoints it discovered (an older zbus gave up after a few unanswered greetings, and a partition
    of about a minute split a lan mesh until a node restarted).
    """

    def env(lab: Lab, host: int) -> dict[str, str]:
        return {**lan_env(lab, host), **COMPRESSED}

    nodes = start_mesh(lab, env, {"n3": ("lab.*",)}, one_by_one=True)
    n1, n2, n3 = nodes
    lab.net.cut(3)
    for node in (n1, n2):
        node.wait_peers({"n1", "n2"} - {node.name}, timeout=PEER_TIMEOUT + GONE_MARGIN)
    n3.wait_peers(set(), timeout=PEER_TIMEOUT + GONE_MARGIN)
    # the partition lasts HOLD more seconds; meanwhile n1 must not see n3 (a bounded check, not a sleep)
    assert n1.stays_false(lambda: "n3" in (n1.peers() or set()), HOLD)

    lab.net.restore(3)
    for node in nodes:
        node.wait_peers(set(NAMES) - {node.name}, timeout=REJOIN)
    exchange(n1, [n3], "lab.healed")


def test_static_scope_with_wildcard_host_announces_a_reachable_endpoint(lab: Lab) -> None:
    """transport.host = 0.0.0.0 (bind every interface: the usual container setting) in static scope.

    The node must announce an address its peers can reach in HELLO (it once announced tcp://0.0.0.0:PORT:
    every peer then connected its SUB and DEALER to itself, heartbeats never arrived and the mesh
    flapped), and must not take its own listed endpoint for a peer.
    """

    def env(lab: Lab, host: int) -> dict[str, str]:
        return {**static_env(lab, host), "ZBUS_TRANSPORT__HOST": "0.0.0.0"}

    n1, n2, n3 = start_mesh(lab, env, {"n1": ("lab.*",), "n2": ("lab.*",)})
    for host, node in enumerate((n1, n2, n3), start=1):
        assert endpoints(node)[1] == f"tcp://{lab.net.addr(host)}:{STATIC_PORT}"
        assert endpoints(node)[0].startswith(f"tcp://{lab.net.addr(host)}:")
    exchange(n3, [n1, n2], "lab.wild")
    # still joined 1.5 peer timeouts later: heartbeats flow both ways (no flapping)
    assert n1.stays_false(lambda: n1.peers() != {"n2", "n3"}, 1.5 * PEER_TIMEOUT)


def test_lan_scope_with_default_host_is_reachable_or_refused(lab: Lab) -> None:
    """lan scope, discovery.interfaces = lan0, transport.host left at its default (127.0.0.1).

    Acceptable: the node refuses to start, naming transport.host, or it is reachable. zbus binds all
    interfaces in lan scope when the host is left at loopback, and announces lan0's address.
    """
    nodes = [
        lab.start(h, NAMES[h - 1], lab.node_env(h, "lan", ZBUS_DISCOVERY__INTERFACES="lan0")) for h in (1, 2)
    ]
    if _started_or_refused(nodes):
        return
    for node in nodes:
        pub, router = endpoints(node)
        assert "127.0.0.1" not in pub + router, (
            f"{node.name}: lan scope on lan0 but listening on {pub} {router}; mDNS announces lan0's address"
        )
    nodes[0].wait_peers({"n2"}, timeout=JOIN)


def test_static_scope_node_listed_under_another_name_does_not_greet_itself(lab: Lab) -> None:
    """One peer list for every node names each node by hostname (k8s StatefulSet style).

    Here h1's list holds tcp://localhost:7101, its own ROUTER (bound on 127.0.0.1 inside h1). The mesh
    compares endpoints as strings, so it greets itself once; it must recognise its own HELLO (counted as
    self_hello), never link to itself, and deliver each of its events to its own subscriptions once.
    """
    env = lab.node_env(
        1,
        "static",
        ZBUS_TRANSPORT__HOST="127.0.0.1",
        ZBUS_TRANSPORT__ROUTER_PORT=str(STATIC_PORT),
        ZBUS_DISCOVERY__PEERS=f"tcp://localhost:{STATIC_PORT}",
    )
    node = lab.start(1, "n1", env, "lab.*")
    with precondition("the node starts"):
        node.expect("ready", timeout=JOIN)
    for k in range(6):  # bounded: each round publishes one event and watches 0.25 s for a second copy
        topic = f"lab.self{k}"

        def copies(topic: str = topic) -> int:
            return sum(e["type"] == topic for e in node.events())

        with precondition(f"{topic} is delivered once"):
            node.send(f"pub {topic} 1")
            node.wait_for(lambda: copies() > 0, 5, f"{topic} delivered")
        once = node.stays_false(lambda: copies() > 1, 0.25)
        assert once, f"{topic} reached the publisher's own subscription twice: {node.events()}"
