"""``zbus journal stats|export|compact|verify``: inspect, dump, shrink and check a node's journal offline."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click

import zbus
from zbus.store import DeadLetters, sweep

from . import output
from .journals import Progress, journal_options, opened, quiet_option, refuse_if_in_use, since_option


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


@click.group("journal")
def journal() -> None:
    """Inspect, export, compact and verify a journal directory (a node's persistence.path)."""


@journal.command("stats")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: the journal, then one per stream.")
@journal_options
def stats(journal_dir: Path, as_json: bool) -> None:
    """Events, bytes, oldest/newest event, dead letters and the head of every stream.

    Safe while the node runs (a read-only snapshot).

    \b
    Example:
      zbus journal stats --journal ~/.local/share/zbus/shop --json
    """
    with opened(journal_dir) as j:
        st = j.statistics()
        streams = j.streams()
        dead = len(DeadLetters(j))
    summary = {
        "kind": "journal",
        "path": str(journal_dir),
        "events": st.events,
        "bytes": st.bytes,
        "oldest": _iso(st.oldest_ts),
        "newest": _iso(st.newest_ts),
        "streams": st.streams,
        "dead_letters": dead,
        "map_used": st.map_used,
        "map_size": st.map_size,
        "file_bytes": os.path.getsize(journal_dir / "data.mdb"),
    }
    rows = [
        {"kind": "stream", "node_id": s.node_id, "topic": s.topic, "last_seq": s.last_seq, "epoch": s.epoch}
        for s in streams
    ]
    if as_json:
        output.echo_json(summary)
        for row in rows:
            output.echo_json(row)
        return
    for key, value in summary.items():
        if key != "kind":
            click.echo(f"{key + ':':<14}{'-' if value is None else value}")
    if rows:
        click.echo("")
        output.table(rows, ["node_id", "topic", "last_seq", "epoch"])


@journal.command("export")
@click.option("--pattern", default="**", show_default=True, help="Only topics matching this pattern.")
@click.option(
    "--since", callback=since_option, metavar="T", help="From this time: ISO time or 10m/2h/1d ago."
)
@click.option(
    "--output",
    "-o",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write to FILE instead of stdout.",
)
@quiet_option
@journal_options
def export(journal_dir: Path, pattern: str, since: float | None, out: str | None, quiet: bool) -> None:
    """Write every journaled event as JSON lines (the whole event, payload included), oldest first.

    Progress (a counter) goes to stderr on a terminal unless --quiet.

    \b
    Examples:
      zbus journal export --journal ./journal -o events.jsonl
      zbus journal export --journal ./journal --pattern 'audit.**' --since 1d | gzip > audit.jsonl.gz
    """
    from .replay import journal_events

    progress = Progress("exported", enabled=not quiet)

    def write(sink: IO[str]) -> None:
        for event in journal_events(
            journal_dir, pattern, since=since, from_seq=None, last=None, progress=progress
        ):
            sink.write(output.to_json(output.event_dict(event)) + "\n")

    try:
        if out:
            with Path(out).open("w", encoding="utf-8") as sink:
                write(sink)
        else:
            write(sys.stdout)
    except BrokenPipeError:
        return
    progress.done()
    if out:
        output.note(f"exported {progress.count} event(s) to {out}")


@journal.command("compact")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="TOML config whose [persistence.retention] applies (default: $ZBUS_CONFIG, defaults).",
)
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
@journal_options
def compact(journal_dir: Path, config_file: str | None, as_json: bool) -> None:
    """Apply retention now, then rewrite the data file without free pages.

    Refuses (exit 1) while a process, such as the node, has the journal open: stop the node
    first. The compacted copy is written next to the journal and swapped in with one atomic
    rename, so an interruption leaves either the old or the new file, never a mix.

    \b
    Example:
      zbus journal compact --journal ~/.local/share/zbus/shop --config prod.toml
    """
    refuse_if_in_use(journal_dir, "compacting it")
    try:
        cfg = zbus.load_config(config_file)
    except zbus.ConfigError as exc:
        output.fail(str(exc))
    data = journal_dir / "data.mdb"
    before = os.path.getsize(data) if data.is_file() else 0
    expired = evicted = 0
    tmp = journal_dir / f".compact-{os.getpid()}"
    with opened(journal_dir, write=True, map_size=max(cfg.persistence.map_size, before)) as j:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            result = sweep(j, time.time(), cfg.persistence.retention)
            expired, evicted = expired + result.expired, evicted + result.evicted
            if result.complete or result.deleted == 0:
                break
        events = j.statistics().events
        tmp.mkdir()
        try:
            j.copy_to(tmp, compact=True)
        except zbus.ZbusError as exc:
            _remove(tmp)
            output.fail(str(exc))
    refuse_if_in_use(journal_dir, "compacting it")  # someone opened it while we copied
    os.replace(tmp / "data.mdb", data)
    _remove(tmp)
    dir_fd = os.open(journal_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    after = os.path.getsize(data)
    result_row: dict[str, Any] = {
        "path": str(journal_dir),
        "expired": expired,
        "evicted": evicted,
        "events": events,
        "bytes_before": before,
        "bytes_after": after,
    }
    if as_json:
        output.echo_json(result_row)
    else:
        click.echo(
            f"{journal_dir}: deleted {expired} expired + {evicted} over-size event(s), {events} kept; "
            f"data file {before:,} -> {after:,} bytes"
        )


def _remove(directory: Path) -> None:
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


@journal.command("verify")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option(
    "--journal", "journal_opt", metavar="DIR", type=click.Path(file_okay=False), help="Same as DIRECTORY."
)
@click.option("--json", "as_json", is_flag=True, help="JSON lines: a summary, then one per damaged item.")
def verify(directory: str | None, journal_opt: str | None, as_json: bool) -> None:
    """Check every record of a journal: checksums, hash chains, frames, indexes, streams, dead letters.

    DIRECTORY is a node's persistence.path (default: --journal, else persistence.path from
    config/env). The data file's size is checked against its header before it is opened. Exits 0
    when nothing is damaged and 1 otherwise, listing each damaged item with its stream and sequence.
    Reads only (safe while a node runs, but then checks a snapshot).

    \b
    Examples:
      zbus journal verify ~/.local/share/zbus/shop
      zbus journal verify --journal ./journal --json
    """
    from zbus.codec import wire
    from zbus.store import verify as check

    from .journals import resolve

    text_rows = 20  # damaged items printed as a table; --json lists up to store.verify.MAX_LISTED
    journal_dir = Path(directory).expanduser() if directory else resolve(journal_opt)

    def read_event(frames: list[bytes]) -> tuple[str, str, int, float]:
        event = wire.decode(frames, max_message_size=2**62)
        return event.node_id, event.topic, event.seq, event.ts

    with opened(journal_dir) as j:
        report = check(j, read_event)
    summary = {
        "kind": "verify",
        "path": str(journal_dir),
        "ok": report.ok,
        "schema": report.schema,
        "events": report.events,
        "checksummed": report.sealed,
        "without_checksum": report.bare,
        "hash_chained": report.chained,
        "index_entries": report.index_entries,
        "streams": report.streams,
        "dead_letters": report.dead_letters,
        "checkpoints": report.checkpoints,
        "damaged": report.damaged,
    }
    rows = [
        {"kind": "damage", "database": d.database, "item": d.item, "reason": d.reason} for d in report.damage
    ]
    if as_json:
        output.echo_json(summary)
        for row in rows:
            output.echo_json(row)
    else:
        for key, value in summary.items():
            if key != "kind":
                click.echo(f"{key + ':':<18}{value}")
        if rows:
            click.echo("")
            output.table(rows[:text_rows], ["database", "item", "reason"])
            if len(rows) > text_rows:
                click.echo(f"... and {report.damaged - text_rows} more (--json lists up to {len(rows)})")
    if not report.ok:
        shown = "" if len(rows) == report.damaged else f" ({len(rows)} listed)"
        output.fail(
            f"journal {journal_dir}: {report.damaged} damaged item(s){shown}; reads skip damaged events "
            "(they are reported lost to subscribers). Restore the directory from a backup to get them back"
        )
