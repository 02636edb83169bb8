"""``zbus forwarder``: an XSUB/XPUB-style relay for large meshes, announced as role ``forwarder``.

Runs a node with role ``forwarder`` (see zbus/forwarding.py): it joins the mesh like any node, takes
every publisher's events on one SUB per publisher, and re-sends them unchanged on its XPUB, which nodes
with ``transport.forwarder = "auto"`` subscribe to instead of one SUB per publisher (N x N links become
2N). Optionally a capture PUB carries a copy of everything relayed, for ``zbus monitor --capture``.
"""

from __future__ import annotations

import time

import click

import zbus

from . import output, session
from .options import NodeOptions, network_options


def _host_port(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.removeprefix("tcp://").rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:7100 (port 0 = ephemeral)")
    return host, int(port)


async def run_forwarder(opts: NodeOptions, bind: tuple[str, int] | None, capture: str | None) -> int:
    stop = session.stop_event()
    transport: dict[str, object] = {}
    if bind is not None:
        transport.update(host=bind[0], pub_port=bind[1])
    if capture is not None:
        transport["forwarder_capture"] = capture
    cfg = zbus.load_config(opts.config(), overrides={"transport": transport} if transport else None)
    name = opts.name or f"zbus-forwarder-{time.time_ns() % 100_000}"
    try:
        node = zbus.Node(name, config=cfg, role="forwarder")
    except zbus.UsageError as exc:
        output.usage(str(exc))
    async with node:
        ends = node.endpoints
        click.echo(
            f"ready {node.name} {node.id} xpub={ends.get('pub', '-')} router={ends.get('router', '-')} "
            f"capture={ends.get('capture', '-')}",
        )
        for peer in node.peers:  # joined while it started, before the listener (see tools/node.py)
            click.echo(f"peer joined {peer.name} {peer.role}")
        node.on_peer(
            lambda c: (
                click.echo(f"peer {c.kind} {c.peer.name} {c.peer.role}") if c.kind != "updated" else None
            )
        )
        await stop.wait()
    click.echo(f"stopped {node.name}")
    return 0


@click.command("forwarder")
@click.option(
    "--bind",
    callback=_host_port,
    metavar="HOST:PORT",
    help="Where the XPUB (what subscribers connect to) listens; default transport.host, port 0.",
)
@click.option(
    "--capture",
    metavar="ENDPOINT",
    help="Also publish a copy of everything relayed on a PUB bound here, e.g. tcp://127.0.0.1:7100.",
)
@network_options
def forwarder(node_options: NodeOptions, bind: tuple[str, int] | None, capture: str | None) -> None:
    """Relay the mesh's events for nodes in forwarder mode, until SIGINT/SIGTERM.

    Nodes use it when configured with transport.forwarder = "auto" (ZBUS_TRANSPORT__FORWARDER=auto)
    and go back to direct links when it stops. Prints `ready NAME ID xpub=... router=... capture=...`.

    \b
    Examples:
      zbus forwarder --mesh billing
      zbus forwarder --bind 127.0.0.1:7000 --capture tcp://127.0.0.1:7100
      zbus monitor --capture tcp://127.0.0.1:7100
    """
    session.run(run_forwarder(node_options, bind, capture))
