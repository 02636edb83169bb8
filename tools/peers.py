"""``zbus peers``: join the mesh for a moment and list the nodes in it, or, with ``--from URL``, list
the peers one running node knows, what it refused from each and, for the queue-group members it
feeds, their in-flight, acked and redelivered counts (its ``/api/state``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import click

from . import output, session
from .health import fetch
from .options import NodeOptions, network_options

COLUMNS = ["name", "id", "role", "address", "epoch", "responders", "patterns", "groups"]
#: ``--from``: what the node refused from each peer (``dropped``: the total; ``refused``: the reasons)
FROM_COLUMNS = ["name", "id", "role", "address", "dropped", "refused"]
#: the ``refused`` cell's width: the table stays within 100 columns (``--json`` has every reason)
REFUSED_WIDTH = 32
#: ``--from``: the queue-group members the node feeds, as it sees them (it is their publisher)
MEMBER_COLUMNS = ["group", "member", "credit", "in flight", "sent", "acked", "redelivered"]
_COUNTS = ("credit", "in_flight", "sent", "acked", "redelivered")


async def run_peers(opts: NodeOptions, wait: float, as_json: bool) -> int:
    stop = session.stop_event()
    async with opts.node("peers") as node:
        if not as_json:
            node.on_peer(
                lambda c: output.note(f"peer {c.kind}: {c.peer.name}") if c.kind != "updated" else None
            )
        await session.sleep(stop, wait)  # nobody knows how many peers exist: listen for `wait` s
        peers = sorted(node.peers, key=lambda p: (p.name, p.id))
        mesh = node.config.mesh.name
    rows = [output.peer_dict(p) for p in peers]
    output.rows_out(rows, COLUMNS, as_json=as_json, empty=f"no peers in mesh {mesh!r} after {wait} s")
    return 0


def refused_cell(dropped: dict[str, int], width: int = REFUSED_WIDTH) -> str:
    """``reason=count`` pairs, the largest first, cut to ``width`` characters (``...`` when cut)."""
    text = ",".join(f"{r}={n}" for r, n in sorted(dropped.items(), key=lambda rn: (-rn[1], rn[0])))
    return text if len(text) <= width else text[: width - 3] + "..."


def state_url(url: str) -> tuple[str, str]:
    """``URL/api/state`` from ``host:port`` or ``http://host:port[/...][?token=...]``, and the
    token the URL carried (the dashboard URL ``zbus node start`` prints has one)."""
    url, _, query = url.partition("?")
    token = next(iter(parse_qs(query).get("token", [])), "")
    if "://" not in url:
        url = "http://" + url
    base = url.rstrip("/")
    for suffix in ("/api/state", "/health", "/metrics"):
        base = base.removesuffix(suffix)
    return base + "/api/state", token


def peers_of(url: str, token: str, timeout: float, as_json: bool) -> None:
    """Print the peers the node at ``url`` knows, with what it dropped from each, then the queue-group
    members it feeds with their counts (in ``--json``: each peer's ``groups``)."""
    target, url_token = state_url(url)
    status, doc = fetch(target, timeout, token or url_token)
    if status != 200 or "peers" not in doc:
        output.fail(f"{target} answered HTTP {status} without a peer list; is it a zbus node's HTTP address?")
    members = (doc.get("groups") or {}).get("members") or []
    rows: list[dict[str, Any]] = []
    for p in doc["peers"]:
        dropped = {str(k): int(v) for k, v in (p.get("dropped") or {}).items()}
        row = {k: p.get(k) for k in ("name", "id", "role", "address", "epoch", "patterns", "responders")}
        row["address"] = str(row["address"] or "").removeprefix("tcp://")  # (the table stays narrow)
        # the groups it is a member of that this node feeds, with what this node has sent it
        fed = [
            {"group": m["group"], **{k: m[k] for k in _COUNTS}} for m in members if m["member"] == p.get("id")
        ]
        rows.append(row | {"dropped": sum(dropped.values()), "by_reason": dropped, "groups": fed})
    if as_json:
        output.rows_out(rows, FROM_COLUMNS, as_json=True, empty="")
        return
    node = doc.get("node", {}).get("name", "?")
    table = [r | {"refused": refused_cell(r["by_reason"]) if r["dropped"] else "-"} for r in rows]
    output.rows_out(table, FROM_COLUMNS, as_json=False, empty=f"node {node} knows no peers")
    if members:
        click.echo("")
        ordered = sorted(members, key=lambda m: (m["group"], m["name"], m["member"]))
        cells = [[m["group"], m["name"] or m["member"][:16], *(m[k] for k in _COUNTS)] for m in ordered]
        output.table([dict(zip(MEMBER_COLUMNS, c, strict=True)) for c in cells], MEMBER_COLUMNS)


@click.command("peers")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds to listen for peers before printing.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per peer.")
@click.option(
    "--from",
    "from_url",
    metavar="URL",
    help="Ask the node serving HTTP at URL for its peers and what it refused from each, instead of joining.",
)
@click.option(
    "--token",
    envvar="ZBUS_HTTP_TOKEN",
    default="",
    metavar="TOKEN",
    help="With --from: the node's HTTP token (monitoring.http.token) [env ZBUS_HTTP_TOKEN].",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True, help="With --from: seconds."
)
@network_options
def peers(
    node_options: NodeOptions, wait: float, as_json: bool, from_url: str | None, token: str, timeout: float
) -> None:
    """List the nodes of the mesh: name, id, role, address, epoch, responders, patterns, and queue
    groups (group:patterns/credit).

    With --from URL (a node's --http address, or the dashboard URL it printed, token included), list
    the peers that node knows and what it refused or dropped from each, by reason (rate_limited,
    spoofed_source, seq_jump, ...; docs/ARCHITECTURE.md, "Hostile input"), as its /metrics does in
    zbus_peer_events_dropped_total; then the queue-group members it feeds, with the credit each
    announced and the events it has in flight at each, sent, acked and redelivered.

    \b
    Examples:
      zbus peers
      zbus peers --mesh billing --wait 5 --json
      zbus peers --from http://127.0.0.1:8081 --token "$TOKEN"
    """
    if from_url is not None:
        peers_of(from_url, token, timeout, as_json)
        return
    session.run(run_peers(node_options, wait, as_json))
