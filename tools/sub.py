"""``zbus sub``: print the events that match some patterns as they arrive."""

from __future__ import annotations

from typing import Any

import click

import zbus

from . import output, session
from .options import JSON, NodeOptions, network_options


async def run_sub(
    opts: NodeOptions,
    patterns: tuple[str, ...],
    filter: Any,
    count: int | None,
    duration: float | None,
    as_json: bool,
) -> int:
    stop = session.stop_event()
    node = opts.node("sub")
    received = 0

    def show(event: zbus.Event) -> None:
        nonlocal received
        if count is not None and received >= count:
            return
        received += 1
        try:
            click.echo(output.to_json(output.event_dict(event)) if as_json else output.event_line(event))
        except BrokenPipeError:  # `zbus sub ... | head`
            stop.set()
        if count is not None and received >= count:
            stop.set()

    try:  # validated before joining: a bad pattern or filter is a usage error
        await node.subscribe(*patterns, handler=show, filter=filter)
    except (zbus.InvalidTopicError, zbus.InvalidFilterError) as exc:
        output.usage(output.error_text(exc))
    async with node:
        output.note(f"subscribed to {' '.join(patterns)} on mesh {node.config.mesh.name!r} as {node.name}")
        stopped = await session.sleep(stop, duration)  # by a signal or by reaching --count
    if not stopped and count is not None and received < count:
        output.note(f"received {received} of {count} events in {duration} s")
        return 1
    return 0


@click.command("sub")
@click.argument("patterns", nargs=-1, required=True, metavar="PATTERN...")
@click.option(
    "--filter", "filter_", type=JSON, help='Filter on event fields, e.g. \'{"priority": {"$gte": 8}}\'.'
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event: the whole event.")
@network_options
def sub(
    node_options: NodeOptions,
    patterns: tuple[str, ...],
    filter_: Any,
    count: int | None,
    duration: float | None,
    as_json: bool,
) -> None:
    """Print events matching PATTERN... as they arrive (`*` one token, `**` any number).

    Runs until --count events, --duration seconds, or Ctrl-C/SIGTERM (exit 0). Exits 1 when
    --count was given and not reached within --duration.

    \b
    Examples:
      zbus sub 'order.*'
      zbus sub 'sensor.**' --filter '{"payload.c": {"$gt": 30}}' --count 3 --json
    """
    session.run(run_sub(node_options, patterns, filter_, count, duration, as_json))
