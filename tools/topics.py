"""``zbus topics``: what the mesh talks about: subscriptions, responders, and topics seen published.

Joins as a monitor (passive: never counted as a subscriber, publishes nothing) for ``--wait``
seconds. Subscription patterns and responders come from each peer's HELLO/UPDATE
(``PeerInfo.patterns`` / ``responders``); published topics are those of the events seen flowing
during the wait, with their sources and counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import click

import zbus

from . import output, session
from .options import NodeOptions, network_options

COLUMNS = ["kind", "topic", "nodes", "events"]


async def run_topics(opts: NodeOptions, wait: float, as_json: bool) -> int:
    stop = session.stop_event()
    node = opts.node("monitor")
    published: Counter[str] = Counter()
    sources: dict[str, set[str]] = defaultdict(set)

    def seen(event: zbus.Event) -> None:
        published[event.topic] += 1
        sources[event.topic].add(event.source)

    await node.subscribe("**", handler=seen, max_size=100_000)
    async with node:
        await session.sleep(stop, wait)
        peers = [p for p in node.peers if p.role != "monitor"]
    subscriptions: dict[str, set[str]] = defaultdict(set)
    responders: dict[str, set[str]] = defaultdict(set)
    groups: dict[str, set[str]] = defaultdict(set)  # "pattern (group NAME)" -> members
    for peer in peers:
        for group, patterns, _credit in peer.groups:
            for pattern in patterns:
                groups[f"{pattern} (group {group})"].add(peer.name)
        for pattern in peer.patterns:
            subscriptions[pattern].add(peer.name)
        for kind in peer.responders:
            responders[kind].add(peer.name)
    rows: list[dict[str, Any]] = []
    for kind, table in (("subscription", subscriptions), ("group", groups), ("responder", responders)):
        rows += [
            {"kind": kind, "topic": t, "nodes": sorted(n), "events": None} for t, n in sorted(table.items())
        ]
    rows += [
        {"kind": "published", "topic": t, "nodes": sorted(sources[t]), "events": n}
        for t, n in sorted(published.items())
    ]
    empty = f"no topics in mesh {node.config.mesh.name!r} after {wait} s ({len(peers)} peer(s))"
    output.rows_out(rows, COLUMNS, as_json=as_json, empty=empty)
    return 0


@click.command("topics")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds to listen before printing.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per topic: kind (subscription/group/responder/published), topic, nodes, events.",
)
@network_options
def topics(node_options: NodeOptions, wait: float, as_json: bool) -> None:
    """List the mesh's topics: patterns each node subscribes to (alone, or as a member of a queue
    group), request types it answers, and topics seen published while listening (with their sources
    and event counts).

    \b
    Examples:
      zbus topics
      zbus topics --wait 5 --json --mesh billing
    """
    session.run(run_topics(node_options, wait, as_json))
