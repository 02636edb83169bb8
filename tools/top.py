"""``zbus top``: the whole mesh in a live terminal table, like ``nats top`` or ``htop``.

It joins the mesh and subscribes to ``$zbus.stats``, the reserved topic on which every node shares a
small summary every ``monitoring.mesh.interval`` seconds while someone watches (zbus/monitoring/
sharing.py). It shows one row per node (rates, peers, losses, drops, latency quantiles), the busiest
topics, the flows between nodes and the queue groups' members (in flight, acked, redelivered, as each
publisher sees them); ``--once`` prints one picture (``--json``: the same document as a
dashboard's ``/api/mesh``) and exits. Its own node is left out.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import click

import zbus
from zbus.monitoring.meshview import STATS_TOPIC, MeshView

from . import output, session
from .options import NodeOptions, network_options

NODE_COLUMNS = ["node", "role", "peers", "pub/s", "recv/s", "lost", "dropped", "p50", "p99", "heard"]
TOPIC_COLUMNS = ["topic", "pub/s", "recv/s"]
FLOW_COLUMNS = ["from", "to", "events/s"]
GROUP_COLUMNS = ["group", "member", "publisher", "in flight", "acked", "redelivered"]
TOP_ROWS = 10  # topics and flows shown in the live table (all with --json)
#: how often --once checks whether every peer has reported (a poll of in-memory state)
ONCE_POLL = 0.1
_CLEAR = "\x1b[H\x1b[2J"


def without(doc: dict[str, Any], node_id: str) -> dict[str, Any]:
    """The mesh document without node ``node_id`` (``zbus top``'s own node) and its flows."""
    return {
        **doc,
        "nodes": [n for n in doc["nodes"] if n["id"] != node_id],
        "edges": [e for e in doc["edges"] if node_id not in (e["from"], e["to"])],
    }


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"


def render(doc: dict[str, Any], mesh: str) -> None:
    """The document as tables on stdout."""
    when = time.strftime("%H:%M:%S", time.localtime(doc["taken_at"]))
    click.echo(f"zbus top  mesh {mesh}  {len(doc['nodes'])} node(s)  {when}  (every {doc['interval']:g} s)")
    nodes = [
        {
            "node": n["name"],
            "role": n["role"],
            "peers": n["peers"],
            "pub/s": f"{n['rates'].get('published', 0):.1f}",
            "recv/s": f"{n['rates'].get('received', 0):.1f}",
            "lost": n["counters"].get("lost", 0),
            "dropped": n["counters"].get("dropped", 0),
            "p50": _ms(n["latency"].get("p50")),
            "p99": _ms(n["latency"].get("p99")),
            "heard": f"{n['age']:.1f}s ago" + (" STALE" if n["stale"] else ""),
        }
        for n in doc["nodes"]
    ]
    if not nodes:
        click.echo("no node has reported yet (is monitoring.mesh.interval 0 on the nodes?)")
        return
    output.table(nodes, NODE_COLUMNS)
    topics = [
        {"topic": t["topic"], "pub/s": f"{t['published']:.1f}", "recv/s": f"{t['received']:.1f}"}
        for t in doc["topics"][:TOP_ROWS]
    ]
    if topics:
        click.echo("")
        output.table(topics, TOPIC_COLUMNS)
    flows = sorted(doc["edges"], key=lambda e: -e["rate"])[:TOP_ROWS]
    if flows:
        click.echo("")
        output.table(
            [{"from": e["from_name"], "to": e["to_name"], "events/s": f"{e['rate']:.1f}"} for e in flows],
            FLOW_COLUMNS,
        )
    # queue groups: each publisher's view of each member (in flight, acked, redelivered by it)
    groups = [
        dict(zip(GROUP_COLUMNS, [g, member, n["name"], in_flight, acked, again], strict=True))
        for n in doc["nodes"]
        for g, member, in_flight, acked, again in n.get("groups", [])
    ]
    if groups:
        click.echo("")
        output.table(sorted(groups, key=lambda r: (r["group"], r["member"], r["publisher"])), GROUP_COLUMNS)


async def _wait_for_reports(node: zbus.Node, view: MeshView, stop: asyncio.Event, wait: float) -> None:
    """Until every node peer has reported at least once (after one sharing interval at least, so
    discovery can settle), or ``wait`` seconds, or a stop signal."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    settle = min(wait, 1.5 * node.config.monitoring.mesh.interval)
    while loop.time() - start < wait and not stop.is_set():
        heard = {n["id"] for n in view.document(time.time())["nodes"]}
        peers = {p.id for p in node.peers if p.role == "node"}
        if loop.time() - start >= settle and peers and peers <= heard:
            return
        await session.sleep(stop, ONCE_POLL)


async def run_top(
    opts: NodeOptions,
    once: bool,
    as_json: bool,
    wait: float | None,
    refresh: float | None,
    duration: float | None,
) -> int:
    stop = session.stop_event()
    node = opts.node("top")
    mesh_cfg = node.config.monitoring.mesh
    if mesh_cfg.interval <= 0:
        output.usage("monitoring.mesh.interval is 0: nodes share no stats (set it, e.g. 2s)")
    view = MeshView(window=mesh_cfg.window, interval=mesh_cfg.interval)
    await node.subscribe(STATS_TOPIC, handler=lambda event: view.add(event.payload, time.time()))
    mesh = node.config.mesh.name
    async with node:
        if once:
            await _wait_for_reports(node, view, stop, 2 * mesh_cfg.interval + 3 if wait is None else wait)
            doc = without(view.document(time.time()), node.id)
            if as_json:
                output.echo_json(doc)
            else:
                render(doc, mesh)
            return 0
        loop = asyncio.get_running_loop()
        end = None if duration is None else loop.time() + duration
        tty = sys.stdout.isatty()
        while not stop.is_set():
            doc = without(view.document(time.time()), node.id)
            try:
                if as_json:
                    output.echo_json(doc)
                else:
                    click.echo(_CLEAR if tty else "", nl=not tty)
                    render(doc, mesh)
            except BrokenPipeError:
                break
            step = refresh or mesh_cfg.interval
            if end is not None:
                step = min(step, end - loop.time())
                if step <= 0:
                    break
            await session.sleep(stop, step)
    return 0


@click.command("top")
@click.option("--once", is_flag=True, help="Print one picture of the mesh and exit.")
@click.option(
    "--json", "as_json", is_flag=True, help="The mesh as one JSON object per refresh (as /api/mesh)."
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    metavar="S",
    help="With --once: longest wait for every peer's first report (default 2 intervals + 3 s).",
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=0.1),
    metavar="S",
    help="Seconds between redraws (default monitoring.mesh.interval).",
)
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds.")
@network_options
def top(
    node_options: NodeOptions,
    once: bool,
    as_json: bool,
    wait: float | None,
    refresh: float | None,
    duration: float | None,
) -> None:
    """Watch the whole mesh: every node's rates, peers, losses and latency, topics and flows.

    Every node shares a small stats summary on $zbus.stats every monitoring.mesh.interval
    seconds (default 2) while someone watches; this shows them live until Ctrl-C, redrawing
    the screen on a terminal. --once prints one picture once every peer has reported.

    \b
    Examples:
      zbus top
      zbus top --once --json --mesh billing
    """
    session.run(run_top(node_options, once, as_json, wait, refresh, duration))
