"""``zbus replay``: print the events of a journal directory, offline (no mesh), like ``zbus sub``."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

import click

import zbus
from zbus.codec import wire
from zbus.model.topics import compile_pattern

from . import output
from .journals import Progress, journal_options, opened, quiet_option, since_option


def journal_events(
    journal_dir: Path,
    pattern: str,
    *,
    since: float | None,
    from_seq: int | None,
    last: int | None,
    progress: Progress,
) -> Iterator[zbus.Event]:
    """The journaled events matching ``pattern``, oldest first (``last``: the newest N per topic)."""
    try:
        compiled = compile_pattern(pattern)
    except zbus.InvalidTopicError as exc:
        output.usage(output.error_text(exc))
    prefix = compiled.prefix.rstrip(".") or None
    tails: dict[str, deque[zbus.Event]] = {}
    with opened(journal_dir) as journal:
        for frames in journal.read_since(since or 0.0, topic_prefix=prefix):
            progress.step()
            try:
                event = wire.decode(frames, max_message_size=2**62)
            except zbus.WireError as exc:
                output.note(f"skipped an undecodable journal entry: {exc}")
                continue
            if not compiled.matches(event.topic) or (from_seq is not None and event.seq < from_seq):
                continue
            if last is None:
                yield event
            else:
                tails.setdefault(event.topic, deque(maxlen=last)).append(event)
    if last is not None:
        yield from sorted((e for tail in tails.values() for e in tail), key=lambda e: (e.ts, e.seq))


@click.command("replay")
@click.argument("pattern", default="**")
@click.option(
    "--since",
    callback=since_option,
    metavar="T",
    help="From this time on: ISO time (2026-05-01T12:00) or a duration ago (10m, 2h, 1d).",
)
@click.option("--from-seq", type=click.IntRange(min=0), metavar="N", help="Only events with seq >= N.")
@click.option("--last", type=click.IntRange(min=1), metavar="N", help="Only the newest N per topic.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event: the whole event.")
@quiet_option
@journal_options
def replay(
    journal_dir: Path,
    pattern: str,
    since: float | None,
    from_seq: int | None,
    last: int | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Print the journaled events matching PATTERN (default: all), oldest first.

    Reads a journal directory (a node's persistence.path) directly; safe while the node runs.
    Progress goes to stderr on a terminal (not with --json or --quiet).

    \b
    Examples:
      zbus replay 'order.*' --journal ~/.local/share/zbus/shop --since 10m
      zbus replay '**' --journal ./journal --last 5 --json
    """
    progress = Progress("read", enabled=not (quiet or as_json))
    shown = 0
    try:
        for event in journal_events(
            journal_dir, pattern, since=since, from_seq=from_seq, last=last, progress=progress
        ):
            click.echo(output.to_json(output.event_dict(event)) if as_json else output.event_line(event))
            shown += 1
    except BrokenPipeError:  # `zbus replay ... | head`
        return
    progress.done()
    if not as_json:
        output.note(f"{shown} event(s) from {journal_dir}")
