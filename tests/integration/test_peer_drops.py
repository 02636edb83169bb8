"""What a node refused from each peer (issue 12 item 4): a real flooding fake peer, the node's
``/metrics`` over real HTTP and the real ``zbus peers --from`` CLI as a subprocess; the counts go
when the peer leaves (docs/ARCHITECTURE.md, "What one peer may cost")."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request

from zbus import Event, Node
from zbus.codec.control import Kind
from zbus.testing import eventually

from .conftest import FAST
from .rawpeer import FakePeer, Raw

TOKEN = "peer-drops-test-token-0123"
CLI = [sys.executable, "-m", "zbus.tools.cli"]


async def cli(*args: str) -> tuple[int, str, str]:
    """The real CLI, run without blocking the loop (the node answers its HTTP on this loop)."""
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def metrics(url: str) -> str:
    def get() -> str:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
            return str(response.read().decode())

    return await asyncio.to_thread(get)


async def test_a_flooders_refusals_are_shown_per_peer_in_zbus_peers_and_metrics(
    mesh_name: str, raw: Raw
) -> None:
    config = {
        **FAST,
        "limits": {"peer_events_per_second": 200},
        "repair": {"timeout": 0.2, "tick": 0.05},
        "monitoring": {"http": {"enabled": True, "port": 0, "token": TOKEN}},
    }
    async with (
        Node("target", mesh=mesh_name, config=config) as node,
        Node("honest", mesh=mesh_name) as honest,
    ):
        warm: list[Event] = []
        got: list[Event] = []
        await node.subscribe("fake.*", handler=warm.append)
        await node.subscribe("flood.t", handler=got.append)
        fake = FakePeer(raw, "flooder", mesh_name, name="flooder")
        dealer = fake.hello(node)
        await fake.until_heard(lambda: bool(warm))
        await eventually(lambda: {p.name for p in node.peers} >= {"flooder", "honest"})
        fake.publish(fake.event("flood.t", 1, node_id=honest.id))  # another node's stream on our link
        sent = 3000
        for seq in range(1, sent + 1):
            fake.publish(fake.event("flood.t", seq))

        def by_peer() -> dict[str, int]:
            return node.statistics().dropped_by_peer.get("flooder", {})

        await eventually(lambda: by_peer().get("spoofed_source") == 1, timeout=15)
        limited = by_peer()["rate_limited"]
        assert limited == node.statistics().dropped["rate_limited"] and limited > 0
        assert "honest" not in {p: c for p, c in node.statistics().dropped_by_peer.items() if c}
        assert honest.id not in node.statistics().dropped_by_peer

        url = node.http_url
        assert url is not None
        code, out, err = await cli("peers", "--from", url, "--token", TOKEN)
        print(f"\nthe flooder sent {sent} events and 1 forged one; zbus peers --from {url}:\n{out}")
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].split() == ["NAME", "ID", "ROLE", "ADDRESS", "DROPPED", "REFUSED"]
        assert max(len(line) for line in lines) <= 100
        row = next(line.split() for line in lines if line.startswith("flooder"))
        counts = by_peer()
        assert int(row[4]) == sum(counts.values())
        assert row[5].startswith(f"rate_limited={counts['rate_limited']}")
        honest_row = next(line.split() for line in lines if line.startswith("honest"))
        assert honest_row[4] == "0" and honest_row[5] == "-"

        code, out, err = await cli("peers", "--from", url, "--token", TOKEN, "--json")
        assert code == 0, err
        docs = {d["name"]: d for d in map(json.loads, out.splitlines())}
        assert docs["flooder"]["by_reason"] == counts and docs["honest"]["dropped"] == 0

        text = await metrics(url)
        series = [line for line in text.splitlines() if line.startswith("zbus_peer_events_dropped_total{")]
        print("\n".join(series))
        labels = '{name="flooder",peer="flooder",reason="rate_limited"}'
        expected = f"zbus_peer_events_dropped_total{labels} {counts['rate_limited']}.0"
        assert expected in series and len(series) == len(counts)

        dealer.send_multipart([Kind.BYE.value, b""])  # the flooder leaves: its series go with it
        await eventually(lambda: "flooder" not in {p.id for p in node.peers}, timeout=10)
        assert "flooder" not in node.statistics().dropped_by_peer
        assert "zbus_peer_events_dropped_total{" not in await metrics(url)
        assert node.statistics().dropped["rate_limited"] == counts["rate_limited"]  # the totals stay


async def test_zbus_peers_from_a_publisher_shows_the_group_members_it_feeds(mesh_name: str) -> None:
    # a member's in-flight, acked and redelivered counts are its publisher's to know: asked of the
    # publisher, zbus peers --from lists them per member (and per peer with --json)
    config = {**FAST, "monitoring": {"http": {"enabled": True, "port": 0, "token": TOKEN}}}
    async with Node("planner", mesh=mesh_name, config=config) as pub, Node("worker", mesh=mesh_name) as w:
        done: list[int] = []
        await w.subscribe("task.*", handler=lambda e: done.append(e.payload["n"]), group="workers")
        await pub.wait_for_subscribers("task.run", group="workers", timeout=10)
        for n in range(12):
            await pub.publish("task.run", {"n": n})
        await eventually(lambda: len(done) == 12 and pub.group_statistics().in_flight == 0, timeout=10)
        url = pub.http_url
        assert url is not None
        code, out, err = await cli("peers", "--from", url, "--token", TOKEN)
        print(f"\nzbus peers --from the planner:\n{out}")
        assert code == 0, err
        lines = out.splitlines()
        header = lines.index("GROUP    MEMBER  CREDIT  IN FLIGHT  SENT  ACKED  REDELIVERED")
        assert lines[header + 1].split() == ["workers", "worker", "64", "0", "12", "12", "0"]
        code, out, err = await cli("peers", "--from", url, "--token", TOKEN, "--json")
        assert code == 0, err
        docs = {d["name"]: d for d in map(json.loads, out.splitlines())}
        assert docs["worker"]["groups"] == [
            {"group": "workers", "credit": 64, "in_flight": 0, "sent": 12, "acked": 12, "redelivered": 0}
        ]
