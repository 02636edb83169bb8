"""``zbus request``: send a request and print the reply (or the replies of several responders)."""

from __future__ import annotations

import asyncio

import click

import zbus

from . import output, session
from .body import TEMPLATE_HELP, Body, body_options, headers_option, parse_headers, read_body, render_headers
from .options import NodeOptions, network_options


async def _ask(
    node: zbus.Node,
    type: str,
    body: Body,
    headers: dict[str, str],
    replies: int,
    remaining: float,
    priority: int,
) -> list[asyncio.Task[zbus.Event]]:
    """Start ``replies`` requests at once. ``Node.request`` picks responders round-robin in node-id
    order, so requests started together reach that many different responders (when there are as many)."""
    return [
        asyncio.create_task(
            node.request(
                type,
                body.payload(n),
                timeout=remaining,
                priority=priority,
                headers=render_headers(headers, n) if headers else None,
            )
        )
        for n in range(1, replies + 1)
    ]


async def run_request(
    opts: NodeOptions,
    type: str,
    body: Body,
    headers: dict[str, str],
    timeout: float,
    priority: int,
    replies: int,
    as_json: bool,
) -> int:
    try:  # validate before joining
        zbus.Event(type, body.payload(1), priority=priority, headers=render_headers(headers, 1))
    except zbus.UsageError as exc:
        output.usage(output.error_text(exc))
    stop = session.stop_event()
    loop = asyncio.get_running_loop()
    got = 0
    errors: list[str] = []
    async with opts.node("request") as node:
        deadline = loop.time() + timeout
        mesh = node.config.mesh.name
        # one responder: the whole timeout may go to finding it; several: at most half, so that the
        # replies of the responders there are still have time to come
        find = timeout if replies == 1 else timeout / 2
        try:
            await session.unless_stopped(stop, node.wait_for_responders(type, replies, timeout=find))
        except zbus.WaitTimeout:
            present = sum(1 for p in node.peers if type in p.responders)
            if present == 0:
                output.fail(
                    f"NoResponders: no node in mesh {mesh!r} responds to {type!r} (waited {timeout} s)"
                )
            output.note(
                f"only {present} of {replies} responder(s) of {type!r} in mesh {mesh!r}; asking those"
            )
            replies_now = present
        else:
            replies_now = replies
        remaining = max(0.001, deadline - loop.time())
        tasks = await _ask(node, type, body, headers, replies_now, remaining, priority)
        try:
            for next_reply in asyncio.as_completed(tasks):
                try:
                    reply = await session.unless_stopped(stop, next_reply)
                except zbus.RequestError as exc:  # NoResponders, RequestTimeout, RemoteError
                    errors.append(output.error_text(exc))
                    continue
                got += 1
                output.echo_json(output.event_dict(reply) if as_json else reply.payload)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    if replies == 1 and errors:
        output.fail(errors[0])
    for error in errors:
        output.note(error)
    if got < replies:
        output.fail(f"got {got} of {replies} replies to {type!r}")
    return 0


@click.command("request", epilog=TEMPLATE_HELP)
@click.argument("type")
@click.argument("payload", required=False, metavar="[JSON]")
@body_options
@headers_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds for finding the responders and getting the replies, together.",
)
@click.option(
    "--replies",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Ask N different responders at once and print each reply as it arrives (scatter-gather).",
)
@click.option("--priority", type=click.IntRange(1, 10), default=5, show_default=True, help="1 to 10.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole reply event, not just its payload.")
@network_options
def request(
    node_options: NodeOptions,
    type: str,
    payload: str | None,
    body_file: str | None,
    as_text: bool,
    header: tuple[str, ...],
    timeout: float,
    replies: int,
    priority: int,
    as_json: bool,
) -> None:
    """Send a request of TYPE with a JSON payload and print the reply payload as JSON.

    The payload is the [JSON] argument, '-' or a pipe on stdin, or --file PATH. Waits up to
    --timeout for the responder to appear (with --replies N: half of it for N responders, then
    it asks those there are). Exits 1 when nobody responds, a reply does not arrive in time, or
    the responder raised (the message says which); with --replies N, when fewer than N replies
    arrived (the replies that did are printed).

    \b
    Examples:
      zbus request math.add '{"a": 2, "b": 3}' --timeout 2
      zbus request inventory.count '{}' --replies 3 --json     one reply from each of 3 responders
      echo '{"sku": "A-1"}' | zbus request stock.check
    """
    body = read_body(payload, body_file, as_text=as_text)
    session.run(
        run_request(node_options, type, body, parse_headers(header), timeout, priority, replies, as_json)
    )
