"""Static peers by host name, resolved through /etc/hosts inside namespace hosts (root only).

Each node runs with a private /etc/hosts (with_hosts.py: a mount namespace of its own), so the names
resolve as a container's or pod's would, and the test can move a name to another address by
rewriting that file, as DNS does when a pod restarts elsewhere.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import DRIVER, Lab, LabNode
from .test_lab import exchange

pytestmark = pytest.mark.lab

WITH_HOSTS = Path(__file__).with_name("with_hosts.py")
PORT = 7101
JOIN = 10.0  # s; measured: under 1 s


def hosts_file(path: Path, names: dict[str, str]) -> Path:
    """Write (in place: the bind mount follows the inode) an /etc/hosts with ``names`` -> address."""
    lines = ["127.0.0.1 localhost", *(f"{address} {name}" for name, address in names.items())]
    with path.open("w") as fh:  # truncate, never replace: a new inode would not be seen
        fh.write("\n".join(lines) + "\n")
    return path


def start(lab: Lab, host: int, name: str, hosts: Path, patterns: tuple[str, ...] = (), **env: str) -> LabNode:
    base = lab.node_env(
        host,
        "static",
        ZBUS_TRANSPORT__HOST="0.0.0.0",  # as in a container: bind everything, announce the interface
        ZBUS_TRANSPORT__ROUTER_PORT=str(PORT),
        **env,
    )
    node = lab.start_script(
        host, name, base, WITH_HOSTS, str(hosts), sys.executable, str(DRIVER), name, *patterns
    )
    node.expect("ready", timeout=JOIN)
    return node


def test_a_peer_named_in_a_file_is_found_again_at_its_new_address(lab: Lab, tmp_path: Path) -> None:
    h2, h3 = lab.net.addr(2), lab.net.addr(3)
    hosts_a = hosts_file(tmp_path / "hosts-a", {"zbus-b": h2})
    peers = tmp_path / "peers"
    peers.write_text("# the other node, by name\ntcp://zbus-b:7101\n")
    a = start(
        lab, 1, "a", hosts_a, ZBUS_DISCOVERY__PEERS_FILE=str(peers), ZBUS_DISCOVERY__RESOLVE_INTERVAL="0.3"
    )
    # b knows nobody (no peers at all): only a's greeting, to what zbus-b resolves to, can join them
    empty = hosts_file(tmp_path / "hosts-b", {})
    b = start(lab, 2, "b", empty, ("lab.*",))
    a.wait_peers({"b"}, timeout=JOIN)
    b.wait_peers({"a"}, timeout=JOIN)
    exchange(a, [b], "lab.first")

    b.stop()  # the "pod" goes away (BYE) ...
    a.wait_peers(set(), timeout=JOIN)
    hosts_file(hosts_a, {"zbus-b": h3})  # ... and its name now points at another host
    b2 = start(lab, 3, "b", empty, ("lab.*",))
    a.wait_peers({"b"}, timeout=JOIN)
    b2.wait_peers({"a"}, timeout=JOIN)
    exchange(a, [b2], "lab.moved")
    log = a.stderr_path.read_text()
    assert f"zbus-b resolves to {h3} (was tcp://{h2}:{PORT})" in log, log[-2000:]


def test_one_name_for_every_node_like_a_headless_service(lab: Lab, tmp_path: Path) -> None:
    """Every node lists one name that resolves to all three addresses (itself included), from the env."""
    everyone = {"zbus": [lab.net.addr(i) for i in (1, 2, 3)]}
    path = tmp_path / "hosts"
    with path.open("w") as fh:
        fh.write("127.0.0.1 localhost\n" + "".join(f"{a} zbus\n" for a in everyone["zbus"]))
    nodes = [
        start(lab, i, f"n{i}", path, ("lab.*",), ZBUS_DISCOVERY__PEERS=f"tcp://zbus:{PORT}")
        for i in (1, 2, 3)
    ]
    for node in nodes:
        node.wait_peers({"n1", "n2", "n3"} - {node.name}, timeout=JOIN)
        assert f"zbus resolves to {', '.join(everyone['zbus'])}" in node.stderr_path.read_text()
    exchange(nodes[0], nodes[1:], "lab.all")
