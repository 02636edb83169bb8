"""``zbus peers``: join the mesh for a moment and list the nodes in it."""

from __future__ import annotations

import click

from . import output, session
from .options import NodeOptions, network_options

COLUMNS = ["name", "id", "role", "address", "epoch", "responders", "patterns", "groups"]


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


@click.command("peers")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds to listen for peers before printing.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per peer.")
@network_options
def peers(node_options: NodeOptions, wait: float, as_json: bool) -> None:
    """List the nodes of the mesh: name, id, role, address, epoch, responders, patterns, and queue
    groups (group:patterns/credit).

    \b
    Examples:
      zbus peers
      zbus peers --mesh billing --wait 5 --json
    """
    session.run(run_peers(node_options, wait, as_json))
