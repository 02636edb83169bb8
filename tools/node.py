"""``zbus node start``: a long-lived node that stays up until SIGINT/SIGTERM."""

from __future__ import annotations

import os

import click

import zbus

from . import output, session
from .logopts import LogOptions, logging_options
from .options import NodeOptions, network_options
from .sdnotify import notify


def build_node(
    opts: NodeOptions, http: str | None, log_options: LogOptions, journal: str | None = None
) -> zbus.Node:
    """The node ``--http HOST:PORT`` (monitoring.http), ``--journal DIR`` (persistence) and the common
    options ask for; logging set up."""
    config = opts.config()
    overrides: dict[str, object] = {}
    if http is not None:
        host, _, port = http.rpartition(":")
        overrides["monitoring"] = {"http": {"enabled": True, "host": host.strip("[]"), "port": int(port)}}
    if journal is not None:
        overrides["persistence"] = {"enabled": True, "path": journal}
    if overrides:
        try:
            config = zbus.load_config(config, overrides=overrides)
        except zbus.ConfigError as exc:
            output.usage(str(exc))
    log_options.apply(config)
    name = opts.name or f"zbus-node-{os.getpid()}-{os.urandom(2).hex()}"
    try:
        return zbus.Node(name, config=config)
    except zbus.UsageError as exc:
        output.usage(str(exc))


async def run_node(node: zbus.Node, record: tuple[str, ...] = ()) -> int:
    """Run ``node`` until SIGINT/SIGTERM, recording ``record`` patterns (``Node.record``) if given."""
    stop = session.stop_event()
    recording: zbus.Subscription | None = None
    async with node:
        # peers that joined while the node started came before this listener: printed from the table
        # (no await in between, so none is missed or printed twice)
        for peer in node.peers:
            click.echo(f"peer joined {peer.name} {peer.id}")
        node.on_peer(lambda change: click.echo(f"peer {change.kind} {change.peer.name} {change.peer.id}"))
        if record:
            try:
                recording = await node.record(*record)
            except (zbus.InvalidTopicError, zbus.UsageError) as exc:
                output.usage(output.error_text(exc))
        ends = node.endpoints
        click.echo(f"ready {node.name} {node.id} pub={ends.get('pub', '-')} router={ends.get('router', '-')}")
        if recording is not None:
            click.echo(f"recording {' '.join(record)}")
        if node.dashboard_url is not None:
            click.echo(f"http {node.dashboard_url}")
        notify(f"READY=1\nSTATUS=node {node.name} ({node.id}) running, router {ends.get('router', '-')}")
        await stop.wait()
        recorded = 0 if recording is None else recording.statistics().delivered
        notify("STOPPING=1")
    click.echo(f"stopped {node.name}" + (f" (recorded {recorded} events)" if recording is not None else ""))
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
@click.option(
    "--http",
    metavar="HOST:PORT",
    callback=_host_port,
    help="Serve /health, /metrics and the dashboard here (port 0 = any free port; monitoring.http).",
)
@click.option(
    "--journal",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Keep an LMDB journal here (persistence.enabled): repair, replay, a stable node id.",
)
@click.option(
    "--record",
    multiple=True,
    metavar="PATTERN",
    help="Record the events matching PATTERN in the journal (repeatable; needs --journal): see zbus record.",
)
@logging_options
@network_options
def start(
    node_options: NodeOptions,
    http: str | None,
    journal: str | None,
    record: tuple[str, ...],
    log_options: LogOptions,
) -> None:
    """Run a node until SIGINT/SIGTERM; prints `ready NAME ID pub=... router=...` once joined.

    Under systemd (Type=notify) it also sends READY=1 then, and STOPPING=1 when it stops.

    Peer joins and leaves are printed as they happen. With --http (or monitoring.http.enabled)
    it also prints `http URL/?token=TOKEN`: the dashboard (its token opens /api/* too), with /health
    and /metrics beside it. With --record it keeps the mesh's events matching the patterns in its
    journal and serves their replays.

    \b
    Example:
      zbus node start --name gateway --mesh billing --http 127.0.0.1:8081 --log-format json
      zbus node start --name orders --journal ~/.local/share/zbus/orders
      zbus node start --name archive --journal ./archive --record 'order.*' --record 'audit.**'
    """
    if record and journal is None and not node_options.config().persistence.enabled:
        output.usage("--record keeps events in a journal: add --journal DIR")
    session.run(run_node(build_node(node_options, http, log_options, journal), record))
