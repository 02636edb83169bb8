"""``zbus pub``: publish events from the shell."""

from __future__ import annotations

import asyncio
from typing import Any

import click

import zbus

from . import output, session
from .options import JSON, NodeOptions, network_options


async def _wait_for_audience(
    node: zbus.Node, topic: str, target: str | None, subscribers: int, timeout: float
) -> None:
    if target is not None:
        if target in (node.name, node.id):
            return
        try:
            await node.wait_for_peers(names=[target], timeout=timeout)
        except zbus.WaitTimeout:
            output.fail(f"no node named {target!r} in mesh {node.config.mesh.name!r} within {timeout} s")
    elif subscribers > 0:
        try:
            await node.wait_for_subscribers(topic, subscribers, timeout=timeout)
        except zbus.WaitTimeout:
            output.note(
                f"warning: fewer than {subscribers} subscriber(s) of {topic!r} in mesh "
                f"{node.config.mesh.name!r} after {timeout} s; publishing anyway"
            )


async def run_pub(
    opts: NodeOptions,
    topic: str,
    payload: Any,
    priority: int,
    target: str | None,
    count: int,
    rate: float | None,
    subscribers: int,
    timeout: float,
    as_json: bool,
) -> int:
    try:  # validate before joining: a bad topic, payload or priority is a usage error
        zbus.Event(topic, payload, priority=priority)
    except zbus.UsageError as exc:
        output.usage(output.error_text(exc))
    stop = session.stop_event()
    loop = asyncio.get_running_loop()
    async with opts.node("pub") as node:
        await session.unless_stopped(stop, _wait_for_audience(node, topic, target, subscribers, timeout))
        start = last_note = loop.time()
        sent = 0
        while sent < count and not stop.is_set():
            if rate is not None and await session.sleep(stop, start + sent / rate - loop.time()):
                break
            if sent % 100 == 99:
                await asyncio.sleep(0)  # let SIGINT/SIGTERM in during long unthrottled runs
            event_id = await node.publish(topic, payload, priority=priority, target=target)
            sent += 1
            seq = 0 if target is not None else sent  # a fresh node: its stream for `topic` starts at 1
            click.echo(output.to_json({"id": event_id, "topic": topic, "seq": seq}) if as_json else event_id)
            if loop.time() - last_note >= 1:
                last_note = loop.time()
                output.note(f"published {sent}/{count} ({sent / (last_note - start):.0f}/s)")
    if sent < count:
        output.note(f"interrupted after {sent} of {count} events")
        return 1
    return 0


@click.command("pub")
@click.argument("topic")
@click.argument("payload", type=JSON, required=False, metavar="[JSON]")
@click.option("--priority", type=click.IntRange(1, 10), default=5, show_default=True, help="1 to 10.")
@click.option("--target", metavar="NODE", help="Send to this node (name or id) only.")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True, help="Events to publish.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="At most R events per second.")
@click.option(
    "--wait-subscribers",
    "subscribers",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="First wait for N subscribers of TOPIC (0: publish at once; events sent before a "
    "subscription arrives are lost).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Longest wait for the subscribers (or --target) in seconds.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "topic", "seq"} per event.')
@network_options
def pub(
    node_options: NodeOptions,
    topic: str,
    payload: Any,
    priority: int,
    target: str | None,
    count: int,
    rate: float | None,
    subscribers: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Publish an event of type TOPIC with a JSON payload and print its id.

    It first waits up to --timeout for a subscriber of TOPIC, so a pub typed after a sub is
    never lost; when none appears it warns on stderr and publishes anyway.

    \b
    Examples:
      zbus pub order.placed '{"order": 17, "amount": 99.5}' --priority 8
      zbus pub sensor.temp '{"c": 21}' --count 1000 --rate 100
    """
    session.run(
        run_pub(node_options, topic, payload, priority, target, count, rate, subscribers, timeout, as_json)
    )
