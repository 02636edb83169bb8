"""Rendering for the zbus commands: JSON lines, event lines, tables, and the exit codes.

Exit codes: 0 success, 1 failure (``fail``), 2 usage error (``usage``, and click's own checks).
JSON output is one object per line; datetimes are ISO-8601 strings, bytes are base64 strings,
sets and frozensets are sorted lists.
"""

from __future__ import annotations

import base64
import enum
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import click

import zbus

PREVIEW = 60


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def to_json(value: Any) -> str:
    """One line of JSON (compact, UTF-8 kept) for any value zbus hands out."""
    return json.dumps(value, default=_default, ensure_ascii=False)


def echo_json(value: Any) -> None:
    click.echo(to_json(value))


def event_dict(event: zbus.Event) -> dict[str, Any]:
    """The whole event, payload included (``Event.to_dict()``)."""
    return event.to_dict()


def preview(payload: Any, width: int = PREVIEW) -> str:
    text = to_json(payload)
    return text if len(text) <= width else text[: width - 3] + "..."


def event_line(event: zbus.Event, t0: float | None = None) -> str:
    """``time  source  topic  seq  priority  payload-preview``.

    ``t0`` (a ``time.monotonic()`` value) shows seconds since then; without it, the event's own
    timestamp in local time.
    """
    if t0 is not None:
        when = f"{time.monotonic() - t0:6.2f}s"
    else:
        when = event.timestamp.astimezone().strftime("%H:%M:%S.%f")[:-3]
    return (
        f"{when}  {event.source:<9} {event.topic:<14} seq={event.seq:<4} "
        f"p={event.priority:<2} {preview(event.payload)}"
    )


def peer_dict(peer: zbus.PeerInfo) -> dict[str, Any]:
    return {
        "name": peer.name,
        "id": peer.id,
        "role": peer.role,
        "address": peer.address,
        "epoch": peer.epoch,
        "mesh": peer.mesh,
        "responders": sorted(peer.responders),
        "patterns": sorted(peer.patterns),
        "groups": [f"{g}:{','.join(p)}/{c}" for g, p, c in peer.groups],  # group:patterns/credit
        "joined_at": peer.joined_at,
    }


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` as left-aligned columns under an upper-case header; lists joined by commas."""

    def cell(value: Any) -> str:
        if isinstance(value, (list, tuple, set, frozenset)):
            return ",".join(str(v) for v in value) or "-"
        return "-" if value is None or value == "" else str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    header = [c.upper() for c in columns]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(columns))]
    for r in [header, *cells]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def rows_out(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, as_json: bool, empty: str) -> None:
    """Print data rows: one JSON object per row with ``--json``, else a table; ``empty`` (a note on
    stderr) when there are none."""
    if as_json:
        for row in rows:
            echo_json(row)
    elif rows:
        table(rows, columns)
    else:
        note(empty)


def note(message: str) -> None:
    """A diagnostic on stderr (never mixed with the data on stdout)."""
    click.echo(message, err=True)


def fail(message: str) -> NoReturn:
    """Stop the command with exit code 1 and ``Error: message`` on stderr."""
    raise click.ClickException(message)


def usage(message: str) -> NoReturn:
    """Stop the command with exit code 2 (a usage error) and the message on stderr."""
    raise click.UsageError(message)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
