"""Static discovery with host names and a peers file, on loopback (names from the real /etc/hosts).

Only names the machine's own /etc/hosts answers (``localhost``) are resolved for real here, so no DNS
query leaves the machine; the failure and change cases use a table resolver. Re-resolution through a
changed /etc/hosts, with real nodes, is tested in namespaces (tests/lab/test_static_names.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

import zbus
from zbus.discovery import Found
from zbus.discovery.static import StaticDiscovery, parse_peers, system_resolver
from zbus.errors import DiscoveryError


def test_parse_peers_reads_lines_commas_and_comments() -> None:
    text = (
        "# the mesh\ntcp://zbus-0.zbus:7001, tcp://10.0.0.5:7001\n\n  tcp://[::1]:7001 # v6\nipc:///run/a\n"
    )
    assert parse_peers(text + "tcp://10.0.0.5:7001\n", "peers") == (
        "tcp://zbus-0.zbus:7001",
        "tcp://10.0.0.5:7001",
        "tcp://[::1]:7001",
        "ipc:///run/a",
    )


def test_parse_peers_names_the_bad_line() -> None:
    with pytest.raises(DiscoveryError, match=r"peers.txt:2: 'zbus-1:7001' is not an endpoint"):
        parse_peers("tcp://a:1\nzbus-1:7001\n", "peers.txt")


async def test_the_system_resolver_reads_etc_hosts() -> None:
    assert await system_resolver("localhost", 7001) == ["127.0.0.1"]


class Collector:
    """Found suggestions, with a wait for one to show up (polled against a deadline)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def found(self, found: Found) -> None:
        self.seen.append(found.router)

    async def wait_for(self, endpoint: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while endpoint not in self.seen:
            assert time.monotonic() < deadline, (
                f"{endpoint} not suggested within {timeout} s: {self.seen[-5:]}"
            )
            await asyncio.sleep(0.02)


async def test_names_resolve_addresses_pass_through_and_the_file_is_re_read(tmp_path: Path) -> None:
    peers = tmp_path / "peers"
    peers.write_text("tcp://localhost:7101\n")
    disc = StaticDiscovery(
        ["tcp://127.0.0.2:7100", "ipc:///tmp/zbus-x"], peers_file=str(peers), host="127.0.0.1",
        retry_interval=0.05, resolve_interval=0.1,
    )  # fmt: skip
    got = Collector()
    await disc.start(got.found, lambda node_id: None)
    try:
        assert disc.endpoints == ["tcp://127.0.0.2:7100", "ipc:///tmp/zbus-x", "tcp://127.0.0.1:7101"]
        peers.write_text("# one more\ntcp://localhost:7101\ntcp://localhost:7102\n")
        await got.wait_for("tcp://127.0.0.1:7102")
        peers.unlink()  # unreadable later: the last list stays
        await asyncio.sleep(0.3)
        assert "tcp://127.0.0.1:7102" in disc.endpoints
    finally:
        await disc.close()


async def test_a_missing_or_bad_file_at_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match=r"cannot read discovery.peers_file .*unset"):
        await StaticDiscovery([], peers_file=str(tmp_path / "nope"), host="127.0.0.1").start(
            lambda f: None, lambda i: None
        )
    bad = tmp_path / "bad"
    bad.write_text("tcp://a:1\nhttp://b:2\n")
    with pytest.raises(DiscoveryError, match=r"bad:2: 'http://b:2'"):
        await StaticDiscovery([], peers_file=str(bad), host="127.0.0.1").start(lambda f: None, lambda i: None)


async def test_a_name_moves_and_a_failing_name_keeps_its_last_addresses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table: dict[str, list[str]] = {"zbus-1.zbus": ["10.1.0.7"], "zbus": ["10.1.0.7", "10.1.0.8"]}

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    disc = StaticDiscovery(
        ["tcp://zbus-1.zbus:7001", "tcp://zbus:7001"], host="127.0.0.1", resolve=resolve, resolve_interval=60
    )
    caplog.set_level(logging.INFO, logger="zbus")
    await disc.refresh()
    assert disc.endpoints == ["tcp://10.1.0.7:7001", "tcp://10.1.0.8:7001"]  # one per address, no repeats
    table["zbus-1.zbus"] = ["10.1.0.9"]  # the pod restarted elsewhere
    await disc.refresh()
    assert disc.endpoints == ["tcp://10.1.0.9:7001", "tcp://10.1.0.7:7001", "tcp://10.1.0.8:7001"]
    assert "zbus-1.zbus resolves to 10.1.0.9 (was tcp://10.1.0.7:7001)" in caplog.text
    del table["zbus-1.zbus"]  # a DNS hiccup: nobody is dropped, one warning
    await disc.refresh()
    await disc.refresh()
    assert disc.endpoints[0] == "tcp://10.1.0.9:7001"
    assert caplog.text.count("zbus-1.zbus does not resolve") == 1


async def test_two_nodes_join_through_a_host_name(mesh_name: str) -> None:
    fast = {"heartbeat_interval": 0.2, "peer_timeout": 2.0}
    b_config = zbus.load_config(
        {"mesh": {"name": mesh_name}, "discovery": {"scope": "static", **fast}}, env={}
    )
    async with zbus.Node("b", config=b_config) as b:
        port = b.endpoints["router"].rsplit(":", 1)[1]
        a_config = zbus.load_config(
            {
                "mesh": {"name": mesh_name},
                "discovery": {"scope": "static", "peers": [f"tcp://localhost:{port}"], **fast},
            },
            env={},
        )
        async with zbus.Node("a", config=a_config) as a:
            await a.wait_for_peers(names=["b"], timeout=10)
            await b.wait_for_peers(names=["a"], timeout=10)
            sub = await b.subscribe("static.*")
            await a.wait_for_subscribers("static.hello", timeout=10)
            await a.publish("static.hello", {"via": "localhost"})
            event = await sub.next(timeout=5)
            assert event.payload == {"via": "localhost"}
