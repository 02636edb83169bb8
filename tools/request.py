"""``zbus request``: send one request and print the reply."""

from __future__ import annotations

import asyncio
from typing import Any

import click

import zbus

from . import output, session
from .options import JSON, NodeOptions, network_options


async def run_request(
    opts: NodeOptions, type: str, payload: Any, timeout: float, priority: int, as_json: bool
) -> int:
    try:  # validate before joining
        zbus.Event(type, payload, priority=priority)
    except zbus.UsageError as exc:
        output.usage(output.error_text(exc))
    stop = session.stop_event()
    loop = asyncio.get_running_loop()
    async with opts.node("request") as node:
        deadline = loop.time() + timeout
        try:
            await session.unless_stopped(stop, node.wait_for_responders(type, timeout=timeout))
        except zbus.WaitTimeout:
            output.fail(
                f"NoResponders: no node in mesh {node.config.mesh.name!r} responds to {type!r} "
                f"(waited {timeout} s)"
            )
        remaining = max(0.001, deadline - loop.time())
        try:
            reply = await session.unless_stopped(
                stop, node.request(type, payload, timeout=remaining, priority=priority)
            )
        except zbus.RequestError as exc:  # NoResponders, RequestTimeout, RemoteError
            output.fail(output.error_text(exc))
    output.echo_json(output.event_dict(reply) if as_json else reply.payload)
    return 0


@click.command("request")
@click.argument("type")
@click.argument("payload", type=JSON, required=False, metavar="[JSON]")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds for finding a responder and getting the reply, together.",
)
@click.option("--priority", type=click.IntRange(1, 10), default=5, show_default=True, help="1 to 10.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole reply event, not just its payload.")
@network_options
def request(
    node_options: NodeOptions, type: str, payload: Any, timeout: float, priority: int, as_json: bool
) -> None:
    """Send a request of TYPE with a JSON payload and print the reply payload as JSON.

    Waits up to --timeout for a responder to appear. Exits 1 when nobody responds, the reply
    does not arrive in time, or the responder raised (the message says which).

    \b
    Example:
      zbus request math.add '{"a": 2, "b": 3}' --timeout 2
    """
    session.run(run_request(node_options, type, payload, timeout, priority, as_json))
