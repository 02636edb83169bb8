"""``zbus pub``: publish events from the shell."""

from __future__ import annotations

import asyncio

import click

import zbus
from zbus.config import parse_duration

from . import output, session
from .body import TEMPLATE_HELP, Body, body_options, headers_option, parse_headers, read_body, render_headers
from .options import NodeOptions, network_options


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


def _ttl(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except zbus.ConfigError:
        raise click.BadParameter(
            f"{value!r}: expected seconds or a duration such as 500ms, 30s, 5m"
        ) from None
    if seconds <= 0:
        raise click.BadParameter(f"{value!r}: a TTL must be longer than 0 s")
    return seconds


async def run_pub(
    opts: NodeOptions,
    topic: str,
    body: Body,
    headers: dict[str, str],
    ttl: float | None,
    priority: int,
    target: str | None,
    count: int,
    rate: float | None,
    subscribers: int,
    timeout: float,
    as_json: bool,
) -> int:
    try:  # validate before joining: a bad topic, payload, header or priority is a usage error
        zbus.Event(topic, body.payload(1), priority=priority, ttl=ttl, headers=render_headers(headers, 1))
    except zbus.UsageError as exc:
        output.usage(output.error_text(exc))
    stop = session.stop_event()
    loop = asyncio.get_running_loop()
    fixed = None if body.templated else body.payload(1)
    async with opts.node("pub") as node:
        await session.unless_stopped(stop, _wait_for_audience(node, topic, target, subscribers, timeout))
        start = last_note = loop.time()
        sent = 0
        while sent < count and not stop.is_set():
            if rate is not None and await session.sleep(stop, start + sent / rate - loop.time()):
                break
            if sent % 100 == 99:
                await asyncio.sleep(0)  # let SIGINT/SIGTERM in during long unthrottled runs
            number = sent + 1
            payload = body.payload(number) if body.templated else fixed
            event_id = await node.publish(
                topic,
                payload,
                priority=priority,
                target=target,
                ttl=ttl,
                headers=render_headers(headers, number) if headers else None,
            )
            sent = number
            seq = 0 if target is not None else sent  # a fresh node: its stream for `topic` starts at 1
            click.echo(output.to_json({"id": event_id, "topic": topic, "seq": seq}) if as_json else event_id)
            if loop.time() - last_note >= 1:
                last_note = loop.time()
                output.note(f"published {sent}/{count} ({sent / (last_note - start):.0f}/s)")
    if sent < count:
        output.note(f"interrupted after {sent} of {count} events")
        return 1
    return 0


@click.command("pub", epilog=TEMPLATE_HELP)
@click.argument("topic")
@click.argument("payload", required=False, metavar="[JSON]")
@body_options
@headers_option
@click.option(
    "--ttl", callback=_ttl, metavar="DURATION", help="Drop the event if not delivered in time (30s, 5m)."
)
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
    help="First wait for N subscribers of TOPIC (0: publish at once; subscriptions made before pub "
    "started still get every event).",
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
    payload: str | None,
    body_file: str | None,
    as_text: bool,
    header: tuple[str, ...],
    ttl: float | None,
    priority: int,
    target: str | None,
    count: int,
    rate: float | None,
    subscribers: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Publish an event of type TOPIC with a JSON payload and print its id.

    The payload is the [JSON] argument, '-' or a pipe on stdin, or --file PATH (no size limit
    but transport.max_message_size); without one the event has no payload ({}). It first waits
    up to --timeout for a subscriber of TOPIC, so a pub typed after a sub is never lost; when
    none appears it warns on stderr and publishes anyway.

    \b
    Examples:
      zbus pub order.placed '{"order": 17, "amount": 99.5}' --priority 8
      zbus pub sensor.temp '{"n": {{Count}}, "at": "{{TimeStamp}}"}' --count 1000 --rate 100
      echo '{"n": 5}' | zbus pub job.run --header tenant=acme --ttl 30s
      zbus pub blob.upload --file big.json --target worker-1
    """
    body = read_body(payload, body_file, as_text=as_text)
    headers = parse_headers(header)
    session.run(
        run_pub(
            node_options,
            topic,
            body,
            headers,
            ttl,
            priority,
            target,
            count,
            rate,
            subscribers,
            timeout,
            as_json,
        )
    )
