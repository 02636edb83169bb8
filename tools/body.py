"""Event bodies for ``pub``, ``request`` and ``reply``: where the payload comes from, and its templates.

A body is JSON text (or any text with ``--text``) taken from, in this order: the ``[JSON]`` argument
(``-`` means stdin), ``--file PATH``, or stdin when it is a pipe or a file (``echo '{"n": 5}' | zbus pub
x``). A terminal or ``/dev/null`` on stdin is never read. An empty or missing body publishes no payload
(``{}``, as ``Node.publish`` does); a body that is not valid JSON is a usage error (exit 2) that says how
to fix it, never silently replaced.

Templates are replaced in the text before it is parsed, once per event:

- ``{{Count}}``: the event's number in this run, from 1;
- ``{{TimeStamp}}``: now, ISO-8601 in UTC with microseconds (``2026-05-01T12:00:00.123456+00:00``);
- ``{{ID}}``: a fresh unique id (16 hex digits);
- ``{{Request}}`` (``zbus reply`` only): the request's payload as JSON.

Strings are not quoted for you: write ``'{"at": "{{TimeStamp}}", "n": {{Count}}}'``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import click

from . import output

__all__ = ["TEMPLATE_HELP", "Body", "body_options", "headers_option", "read_body"]

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z]+)\s*\}\}")
#: the template names every body knows (``Request`` is added by ``zbus reply``)
NAMES = ("Count", "TimeStamp", "ID")
TEMPLATE_HELP = "Templates: {{Count}} (1, 2, ...), {{TimeStamp}} (ISO-8601 UTC), {{ID}} (a unique id)."


@dataclass(frozen=True)
class Body:
    """The body text and how to turn it into a payload for event number ``count``."""

    text: str | None
    as_text: bool = False
    where: str = "the JSON argument"
    names: tuple[str, ...] = NAMES
    templated: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "templated", self.text is not None and bool(_TEMPLATE.search(self.text)))

    def payload(self, count: int, extra: Mapping[str, str] | None = None) -> Any:
        """The payload of event ``count`` (``None`` when there is no body).

        Raises:
            click.UsageError: an unknown template name, or the result is not valid JSON.
        """
        if self.text is None or not self.text.strip():
            return None
        text = render(self.text, count, self.names, extra) if self.templated else self.text
        if self.as_text:
            return text
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            shown = text if len(text) <= 80 else text[:77] + "..."
            hint = " (after templates)" if self.templated else ""
            output.usage(
                f"{self.where} is not valid JSON{hint} ({exc}): {shown!r}; quote it for the shell, e.g. "
                "'{\"n\": 1}', or pass --text to send it as a string"
            )


def render(text: str, count: int, names: tuple[str, ...], extra: Mapping[str, str] | None = None) -> str:
    """``text`` with every ``{{Name}}`` replaced (see the module docstring).

    Raises:
        click.UsageError: a name that is not one of ``names``.
    """
    values: dict[str, Callable[[], str]] = {
        "Count": lambda: str(count),
        "TimeStamp": lambda: datetime.now(UTC).isoformat(),
        "ID": lambda: os.urandom(8).hex(),
    }
    for key, value in (extra or {}).items():
        values[key] = lambda value=value: value  # type: ignore[misc]

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            known = ", ".join("{{" + n + "}}" for n in names)
            output.usage(f"unknown template {match.group(0)!r}; known: {known}")
        return values[name]()

    return _TEMPLATE.sub(replace, text)


def _stdin_has_data() -> bool:
    """Whether stdin is a pipe or a regular file (never a terminal, /dev/null or a socket)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _read(stream: Any, where: str) -> str:
    try:
        data: bytes = stream.read()
    except OSError as exc:
        output.fail(f"cannot read {where}: {exc}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        output.usage(f"{where} is not UTF-8 text; bodies are JSON (or --text) in UTF-8")


def read_body(
    argument: str | None,
    file: str | None,
    *,
    as_text: bool = False,
    names: tuple[str, ...] = NAMES,
    stdin: bool = True,
) -> Body:
    """The body the command line asks for (see the module docstring), checked before joining.

    Raises:
        click.UsageError: both an argument and ``--file``, an unreadable or non-UTF-8 body, or (with
            ``{{Count}}`` = 1) invalid JSON or an unknown template.
    """
    if argument is not None and file is not None:
        output.usage("give the body either as the [JSON] argument or with --file, not both")
    if argument == "-":
        body = Body(_read(sys.stdin.buffer, "stdin"), as_text, "the body on stdin", names)
        if not (body.text or "").strip():
            output.usage("'-' reads the body from stdin, but stdin was empty")
    elif argument is not None:
        body = Body(argument, as_text, "the JSON argument", names)
    elif file is not None:
        if file == "-":
            return read_body("-", None, as_text=as_text, names=names)
        try:
            with open(file, "rb") as stream:
                text = _read(stream, f"--file {file}")
        except OSError as exc:
            output.usage(f"--file {file}: {exc.strerror or exc}")
        body = Body(text, as_text, f"--file {file}", names)
    elif stdin and _stdin_has_data():
        body = Body(_read(sys.stdin.buffer, "stdin"), as_text, "the body on stdin", names)
    else:
        body = Body(None, as_text, "no body", names)
    body.payload(1, {n: "null" for n in names if n not in NAMES})  # fail now, before joining the mesh
    return body


def body_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--file PATH`` and ``--text``."""
    func = click.option(
        "--text",
        "as_text",
        is_flag=True,
        help="Send the body as a string instead of parsing it as JSON.",
    )(func)
    return click.option(
        "--file",
        "body_file",
        metavar="PATH",
        help="Read the body from PATH ('-': stdin) instead of the [JSON] argument.",
    )(func)


def parse_headers(values: tuple[str, ...]) -> dict[str, str]:
    """``--header K=V`` values as a dict (templates in the values are rendered per event).

    Raises:
        click.UsageError: a value without ``=`` or with an empty key.
    """
    headers: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            output.usage(f"--header {value!r}: expected KEY=VALUE, e.g. --header tenant=acme")
        headers[key.strip()] = text
    return headers


def headers_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--header K=V``, repeatable."""
    return click.option(
        "--header",
        "header",
        multiple=True,
        metavar="K=V",
        help="Add a header (repeatable); templates work in the value.",
    )(func)


def render_headers(headers: Mapping[str, str], count: int) -> dict[str, str]:
    """The headers of event ``count`` (templates rendered)."""
    return {k: render(v, count, NAMES) if "{{" in v else v for k, v in headers.items()}
