"""``zbus dlq list|retry|purge``: the dead letters of a node's journal (``zbus.store.DeadLetters``).

``retry`` republishes each stored event into the mesh from a short-lived node and deletes the record
only after that publish succeeded. The republished event is a new event of the retrying node's stream
(new id, new sequence): the original's sequence belongs to its publisher's stream, where subscribers
would drop it as a duplicate. It keeps type, topic, payload, priority, correlation id, tags and headers,
takes the original id as its causation id, and carries header ``zbus-retry-of`` = the original id.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

import zbus
from zbus.codec import wire
from zbus.store import DeadLetterRecord, DeadLetters

from . import output, session
from .journals import journal_options, opened
from .options import NodeOptions, network_options

RETRY_HEADER = "zbus-retry-of"


def _row(record: DeadLetterRecord, event: zbus.Event | None) -> dict[str, Any]:
    return {
        "id": record.id,
        "dead_at": datetime.fromtimestamp(record.ts, UTC).isoformat(),
        "topic": None if event is None else event.topic,
        "event_id": None if event is None else event.id,
        "attempts": record.attempts,
        "handler": record.handler,
        "subscription": record.subscription,
        "error_type": record.error_type,
        "error": record.error,
        "event": None if event is None else output.event_dict(event),
    }


def _decode(record: DeadLetterRecord) -> zbus.Event | None:
    try:
        return wire.decode(list(record.frames), max_message_size=2**62)
    except zbus.WireError:
        return None


def _select(letters: DeadLetters, letter_id: str | None, limit: int) -> list[DeadLetterRecord]:
    if letter_id is None:
        records: list[DeadLetterRecord] = letters.list(limit)
        return records
    try:
        record = letters.get(letter_id)
    except zbus.UsageError as exc:
        output.usage(str(exc))
    if record is None:
        output.fail(f"no dead letter {letter_id!r} in this journal (list them with `zbus dlq list`)")
    return [record]


@click.group("dlq")
def dlq() -> None:
    """List, retry (republish) or purge the dead letters kept in a node's journal."""


@dlq.command("list")
@click.option("--id", "letter_id", metavar="ID", help="Only this dead letter.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True, help="At most N.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dead letter, event included.")
@journal_options
def dlq_list(journal_dir: Path, letter_id: str | None, limit: int, as_json: bool) -> None:
    """Print the dead letters, oldest first: id, topic, attempts, handler and the last error.

    \b
    Example:
      zbus dlq list --journal ~/.local/share/zbus/worker --json
    """
    with opened(journal_dir) as journal:
        records = _select(DeadLetters(journal), letter_id, limit)
    rows = [_row(r, _decode(r)) for r in records]
    columns = ["id", "dead_at", "topic", "attempts", "handler", "error_type", "error"]
    output.rows_out(rows, columns, as_json=as_json, empty=f"no dead letters in {journal_dir}")


async def _retry(
    opts: NodeOptions,
    journal_dir: Path,
    letter_id: str | None,
    wait_subscribers: int,
    timeout: float,
    as_json: bool,
) -> int:
    stop = session.stop_event()
    loop = asyncio.get_running_loop()
    with opened(journal_dir, write=True) as journal:
        letters = DeadLetters(journal)
        records = _select(letters, letter_id, 1_000_000)
        if not records:
            output.note(f"no dead letters in {journal_dir}")
            return 0
        failed = 0
        async with opts.node("dlq") as node:
            for record in records:
                event = _decode(record)
                if event is None:
                    output.note(f"{record.id}: undecodable event frames; kept (purge to drop it)")
                    failed += 1
                    continue
                if wait_subscribers:
                    try:
                        await session.unless_stopped(
                            stop, node.wait_for_subscribers(event.topic, wait_subscribers, timeout=timeout)
                        )
                    except zbus.WaitTimeout:
                        output.note(
                            f"{record.id}: fewer than {wait_subscribers} subscriber(s) of "
                            f"{event.topic!r} within {timeout} s; kept"
                        )
                        failed += 1
                        continue
                new_id = await node.publish(
                    event.type,
                    event.payload,
                    topic=event.topic,
                    priority=event.priority,
                    correlation_id=event.correlation_id,
                    causation_id=event.id,
                    tags=event.tags,
                    headers={**event.headers, RETRY_HEADER: event.id},
                    durable=False,
                )
                await loop.run_in_executor(None, letters.delete, record.id)
                if as_json:
                    output.echo_json(
                        {
                            "id": record.id,
                            "event_id": event.id,
                            "republished_as": new_id,
                            "topic": event.topic,
                        }
                    )
                else:
                    click.echo(f"{record.id} {event.topic} republished as {new_id}")
    return 1 if failed else 0


@dlq.command("retry")
@click.option("--id", "letter_id", metavar="ID", help="Only this dead letter (default: all).")
@click.option(
    "--wait-subscribers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Before each publish, wait for N subscribers of its topic (slow joiners).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to wait for subscribers.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per republished dead letter.")
@journal_options
@network_options
def dlq_retry(
    node_options: NodeOptions,
    journal_dir: Path,
    letter_id: str | None,
    wait_subscribers: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Republish dead letters into the mesh, deleting each only after its publish succeeded.

    Works while the node that owns the journal runs (LMDB serialises the writers).
    Exits 1 if any dead letter was kept (no subscribers in time, undecodable).

    \b
    Example:
      zbus dlq retry --journal ./worker-journal --wait-subscribers 1 --mesh billing
    """
    session.run(_retry(node_options, journal_dir, letter_id, wait_subscribers, timeout, as_json))


@dlq.command("purge")
@click.option("--id", "letter_id", metavar="ID", help="Only this dead letter (default: all).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@journal_options
def dlq_purge(journal_dir: Path, letter_id: str | None, yes: bool) -> None:
    """Delete dead letters for good (all, or --id ID).

    \b
    Examples:
      zbus dlq purge --journal ./worker-journal --id 0005f3c2a1b4c0de0000000000000001
      zbus dlq purge --journal ./worker-journal --yes
    """
    if letter_id is None and not yes:
        click.confirm(f"delete every dead letter in {journal_dir}?", abort=True)
    with opened(journal_dir, write=True) as journal:
        letters = DeadLetters(journal)
        if letter_id is None:
            count = letters.purge()
        else:
            try:
                count = int(letters.delete(letter_id))
            except zbus.UsageError as exc:
                output.usage(str(exc))
            if not count:
                output.fail(f"no dead letter {letter_id!r} in {journal_dir}")
    click.echo(f"purged {count} dead letter(s)")
