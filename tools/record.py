"""``zbus record``: keep the mesh's events in a journal, like a JetStream stream with no server.

A node with a journal whose durable subscription writes every matching event it hears under the
publisher's original stream (``Node.record``): ``zbus replay --journal DIR`` reads it offline, and
``zbus sub --replay``/``subscribe(replay=...)`` get the history of publishers that are gone from it.
After a restart (kill -9 included) it resumes and pulls what it missed from publishers that still hold it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from . import session
from .logopts import LogOptions, logging_options
from .node import _host_port, build_node, run_node
from .options import NodeOptions, network_options


@click.command("record")
@click.argument("patterns", nargs=-1, required=True, metavar="PATTERN...")
@click.option(
    "--journal",
    metavar="DIR",
    required=True,
    type=click.Path(file_okay=False),
    help="The recording's LMDB journal (created if missing; retention: persistence.retention).",
)
@click.option(
    "--http",
    metavar="HOST:PORT",
    callback=_host_port,
    help="Also serve /health, /metrics and the dashboard here (port 0 = any free port).",
)
@logging_options
@network_options
def record(
    node_options: NodeOptions,
    patterns: tuple[str, ...],
    journal: str,
    http: str | None,
    log_options: LogOptions,
) -> None:
    """Record the events matching PATTERN... into the journal at --journal DIR until Ctrl-C.

    Prints `ready NAME ID ...` and `recording PATTERN...` once joined, `stopped NAME (recorded N
    events)` at the end. Events keep their publishers' ids, sources and sequence numbers; the
    recorder answers replays of them, so history outlives its publishers. Restarted on the same
    DIR it resumes where it stopped (default name zbus-record-<DIR's name>).

    \b
    Examples:
      zbus record 'order.*' --journal ./orders-archive
      zbus replay 'order.*' --journal ./orders-archive        read it offline
      zbus sub 'order.*' --replay all                        history (from it), then live
    """
    if node_options.name is None:
        node_options = dataclasses.replace(node_options, name=f"zbus-record-{Path(journal).name}")
    session.run(run_node(build_node(node_options, http, log_options, journal), patterns))
