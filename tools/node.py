"""``zbus node start``: a long-lived node that stays up until SIGINT/SIGTERM."""

from __future__ import annotations

import click

from . import output, session
from .options import NodeOptions, network_options


async def run_node(opts: NodeOptions) -> int:
    stop = session.stop_event()
    async with opts.node("node") as node:
        node.on_peer(lambda change: click.echo(f"peer {change.kind} {change.peer.name} {change.peer.id}"))
        ends = node.endpoints
        click.echo(f"ready {node.name} {node.id} pub={ends.get('pub', '-')} router={ends.get('router', '-')}")
        await stop.wait()
    click.echo(f"stopped {node.name}")
    return 0


def _host_port(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise click.BadParameter(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return value


@click.group("node")
def node() -> None:
    """Run a zbus node."""


@node.command("start")
@click.option("--http", metavar="HOST:PORT", callback=_host_port, help="HTTP endpoints (planned).")
@network_options
def start(node_options: NodeOptions, http: str | None) -> None:
    """Run a node until SIGINT/SIGTERM; prints `ready NAME ID pub=... router=...` once joined.

    Peer joins and leaves are printed as they happen.

    \b
    Example:
      zbus node start --name gateway --mesh billing
    """
    if http is not None:
        output.note("HTTP endpoints arrive with the monitoring work; --http is ignored for now")
    session.run(run_node(node_options))
