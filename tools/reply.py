"""``zbus reply``: answer requests of one type from the shell, with a JSON template or a command.

Each request is printed as it arrives (like ``zbus sub``). The reply is, in this order of choice:

- the output of ``--command CMD``: run with ``/bin/sh -c`` per request, the request's payload as one
  JSON line on its stdin and ``ZBUS_REQUEST_TYPE``, ``ZBUS_REQUEST_ID``, ``ZBUS_REQUEST_SOURCE`` and
  ``ZBUS_REQUEST_COUNT`` in its environment; its stdout, parsed as JSON when it is JSON and sent as a
  string otherwise, is the reply. A non-zero exit (or running longer than ``--command-timeout``) makes the
  requester's ``request`` raise ``RemoteError`` (``CommandFailed``) with the command's stderr;
- the [JSON] template (or ``--file``), rendered per request (``{{Count}}``, ``{{TimeStamp}}``, ``{{ID}}``,
  ``{{Request}}``: the request's payload as JSON);
- without either, the request's own payload (an echo).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import click

import zbus
from zbus.model.topics import validate_topic

from . import output, session
from .body import Body, body_options, read_body
from .options import NodeOptions, network_options

NAMES = ("Count", "TimeStamp", "ID", "Request")
#: bytes of a failed command's stderr sent back in the RemoteError message
STDERR_TAIL = 500
#: seconds between the --count-th answer and stopping: the node sends a reply after the responder
#: returns, and closing cancels answers still in flight
REPLY_GRACE = 0.2


class CommandFailed(Exception):
    """``--command`` exited non-zero or ran too long (the requester sees ``RemoteError``)."""


async def run_command(command: str, request: zbus.Event, number: int, timeout: float) -> Any:
    """Run ``command`` for ``request``; its stdout is the reply (JSON if it parses, else a string).

    Raises:
        CommandFailed: it exited non-zero or did not finish within ``timeout`` seconds (then it is killed).
    """
    env = dict(
        os.environ,
        ZBUS_REQUEST_TYPE=request.type,
        ZBUS_REQUEST_ID=request.id,
        ZBUS_REQUEST_SOURCE=request.source,
        ZBUS_REQUEST_COUNT=str(number),
    )
    proc = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    stdin = (output.to_json(request.payload) + "\n").encode()
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(stdin)
    except TimeoutError:
        proc.kill()  # the process we started, by its own handle
        await proc.wait()
        raise CommandFailed(f"--command did not finish within {timeout} s (killed)") from None
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
        raise CommandFailed(f"--command exited {proc.returncode}: {tail or '(no stderr)'}")
    text = out.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.rstrip("\n")


async def run_reply(
    opts: NodeOptions,
    type: str,
    body: Body,
    command: str | None,
    command_timeout: float,
    count: int | None,
    duration: float | None,
    as_json: bool,
) -> int:
    try:
        validate_topic(type)
    except zbus.InvalidTopicError as exc:
        output.usage(output.error_text(exc))
    stop = session.stop_event()
    node = opts.node("reply")
    answered = 0

    async def answer(request: zbus.Event) -> Any:
        nonlocal answered
        answered += 1
        number = answered
        if count is not None and number >= count:
            asyncio.get_running_loop().call_later(REPLY_GRACE, stop.set)
        try:
            click.echo(output.to_json(output.event_dict(request)) if as_json else output.event_line(request))
        except BrokenPipeError:
            stop.set()
        if command is not None:
            return await run_command(command, request, number, command_timeout)
        if body.text is None:
            return request.payload
        return body.payload(number, {"Request": output.to_json(request.payload)})

    node.respond(type)(answer)
    async with node:
        output.note(f"answering {type} on mesh {node.config.mesh.name!r} as {node.name}")
        stopped = await session.sleep(stop, duration)
    if not stopped and count is not None and answered < count:
        output.note(f"answered {answered} of {count} requests in {duration} s")
        return 1
    return 0


@click.command("reply")
@click.argument("type")
@click.argument("payload", required=False, metavar="[JSON]")
@body_options
@click.option(
    "--command",
    metavar="CMD",
    help="Run CMD (sh -c) per request: the request payload as JSON on its stdin, its stdout the reply.",
)
@click.option(
    "--command-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds a --command may run before it is killed and the request fails.",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after answering N requests.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print each request as a whole JSON event.")
@network_options
def reply(
    node_options: NodeOptions,
    type: str,
    payload: str | None,
    body_file: str | None,
    as_text: bool,
    command: str | None,
    command_timeout: float,
    count: int | None,
    duration: float | None,
    as_json: bool,
) -> None:
    """Answer requests of TYPE until Ctrl-C: with a JSON template, a command's output, or an echo.

    Prints each request as it arrives. The reply is the output of --command (run per request with
    the request payload as JSON on stdin), else the [JSON] template (or --file) rendered per
    request, else the request's own payload. Templates: {{Count}}, {{TimeStamp}}, {{ID}} and
    {{Request}} (the request payload as JSON). Several `zbus reply` of one TYPE share the requests
    round-robin.

    \b
    Examples:
      zbus reply math.add --command 'jq "{sum: (.a + .b)}"'
      zbus reply time.now '{"now": "{{TimeStamp}}", "n": {{Count}}}'
      zbus reply echo.test                        reply with the request payload
      zbus reply shout.up --command 'tr a-z A-Z' --count 1
    """
    if command is not None and (payload is not None or body_file is not None):
        output.usage("give either --command or a reply template ([JSON] / --file), not both")
    body = read_body(payload, body_file, as_text=as_text, names=NAMES, stdin=False)
    session.run(run_reply(node_options, type, body, command, command_timeout, count, duration, as_json))
