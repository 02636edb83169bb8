"""``zbus sub``: print the events that match some patterns as they arrive (and history first, on request)."""

from __future__ import annotations

import asyncio
from typing import Any

import click

import zbus
from zbus.model.filters import compile_filter
from zbus.model.topics import compile_pattern

from . import output, session
from .journals import parse_since
from .options import JSON, NodeOptions, network_options

Replay = str | int | float


def _replay(ctx: click.Context, param: click.Parameter, value: str | None) -> Replay | None:
    """``--replay``: ``all``, a count N (newest N per topic), or a time: a duration ago or ISO time."""
    if value is None:
        return None
    text = value.strip()
    if text.lower() == "all":
        return "all"
    if text.isdigit():
        if int(text) < 1:
            raise click.BadParameter("a count must be at least 1 (or say 'all')")
        return int(text)
    try:
        return parse_since(text)
    except click.BadParameter:
        raise click.BadParameter(
            f"{value!r}: expected 'all', a count N (newest N per topic), a duration ago (10m, 2h) or an ISO "
            "time (2026-05-01T12:00)"
        ) from None


async def run_sub(
    opts: NodeOptions,
    patterns: tuple[str, ...],
    filter: Any,
    count: int | None,
    duration: float | None,
    as_json: bool,
    replay: Replay | None = None,
    durable: str | None = None,
    group: str | None = None,
) -> int:
    try:  # validated before joining: a bad pattern or filter is a usage error
        for pattern in patterns:
            compile_pattern(pattern)
        if filter is not None:
            compile_filter(filter)
    except (zbus.InvalidTopicError, zbus.InvalidFilterError) as exc:
        output.usage(output.error_text(exc))
    stop = session.stop_event()
    node = opts.node("sub")
    received = 0

    async def consume(sub: zbus.Subscription) -> None:
        """Take events one at a time and acknowledge each once printed: a durable subscription
        checkpoints exactly what was printed (events beyond --count stay for the next run), and a
        queue group's event that could not be printed goes to another member."""
        nonlocal received
        while count is None or received < count:
            event = await sub.take()
            received += 1
            try:
                click.echo(output.to_json(output.event_dict(event)) if as_json else output.event_line(event))
            except BrokenPipeError:  # `zbus sub ... | head`
                break
            sub.done(event)
        stop.set()

    history = replay is not None or durable is not None
    sub: zbus.Subscription | None = None
    if not history:  # subscribed before joining: the first HELLO already announces the patterns
        sub = await node.subscribe(*patterns, filter=filter, group=group)
    async with node:
        if sub is None:  # replaying and durable subscriptions need a running node
            sub = await node.subscribe(*patterns, filter=filter, replay=replay, durable=durable)
        how = "" if not history else f" (durable {durable!r})" if durable else f" (replay {replay})"
        how += f" in group {group!r}" if group else ""
        output.note(
            f"subscribed to {' '.join(patterns)}{how} on mesh {node.config.mesh.name!r} as {node.name}"
        )
        reader = asyncio.create_task(consume(sub))
        try:
            stopped = await session.sleep(stop, duration)  # by a signal or by reaching --count
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    if not stopped and count is not None and received < count:
        output.note(f"received {received} of {count} events in {duration} s")
        return 1
    return 0


@click.command("sub")
@click.argument("patterns", nargs=-1, required=True, metavar="PATTERN...")
@click.option(
    "--filter", "filter_", type=JSON, help='Filter on event fields, e.g. \'{"priority": {"$gte": 8}}\'.'
)
@click.option(
    "--replay",
    callback=_replay,
    metavar="all|N|SINCE",
    help="First the history every publisher still holds: all, the newest N per topic, "
    "or since a time (10m, 2h, 2026-05-01T12:00); then live events, no gap or duplicate between.",
)
@click.option(
    "--last",
    type=click.IntRange(min=1),
    metavar="N",
    help="Start with the newest N events of each topic (= --replay N).",
)
@click.option(
    "--durable",
    metavar="NAME",
    help="Resume where subscription NAME left off (checkpoints in a journal: --journal DIR or "
    "persistence.path; default node name zbus-sub-NAME).",
)
@click.option(
    "--journal",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="With --durable: keep the checkpoints in this journal directory.",
)
@click.option(
    "--group",
    metavar="NAME",
    help="Join queue group NAME: each matching event goes to one member of the group (acknowledged "
    "when printed; what is left unprinted at exit is delivered to another member).",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event: the whole event.")
@network_options
def sub(
    node_options: NodeOptions,
    patterns: tuple[str, ...],
    filter_: Any,
    replay: Replay | None,
    last: int | None,
    durable: str | None,
    journal: str | None,
    group: str | None,
    count: int | None,
    duration: float | None,
    as_json: bool,
) -> None:
    """Print events matching PATTERN... as they arrive (`*` one token, `**` any number).

    Runs until --count events, --duration seconds, or Ctrl-C/SIGTERM (exit 0). Exits 1 when
    --count was given and not reached within --duration. --replay/--last first print the
    history the publishers still hold; --durable resumes after a restart where the last run
    stopped (at-least-once).

    \b
    Examples:
      zbus sub 'order.*'
      zbus sub 'sensor.**' --filter '{"payload.c": {"$gt": 30}}' --count 3 --json
      zbus sub 'order.*' --last 1                  the newest order event of each topic, then live
      zbus sub 'order.*' --replay 10m              the last ten minutes, then live
      zbus sub 'order.*' --durable billing         resume where 'billing' stopped
      zbus sub 'task.*' --group workers            one of the workers gets each task
    """
    if last is not None:
        if replay is not None:
            output.usage("--last N is --replay N: give one of them")
        replay = last
    if durable is not None:
        if replay is not None:
            output.usage("--durable resumes from its checkpoint: it cannot be combined with --replay/--last")
        name = node_options.name or f"zbus-sub-{durable}"
        node_options = node_options.with_journal(journal, name=name)
    elif journal is not None:
        output.usage("--journal is for --durable (where its checkpoints are kept)")
    if group is not None and (durable is not None or replay is not None):
        output.usage("--group cannot be combined with --durable, --replay or --last")
    session.run(run_sub(node_options, patterns, filter_, count, duration, as_json, replay, durable, group))
