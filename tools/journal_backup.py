"""``zbus journal backup|restore``: a consistent copy of a journal, and putting one back.

``backup`` may run while the node runs: LMDB copies one read snapshot (what later commits add is not
in it), compacted. The copy is the whole journal: events, stream heads (so sequences continue), the
node id, durable checkpoints and dead letters. ``restore`` refuses while a process has the target
open, and swaps the data file in with one rename, so an interruption leaves the old or the new file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

import zbus

from . import output
from .journal import journal
from .journals import journal_options, opened, refuse_if_in_use


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@journal.command("backup")
@click.option(
    "--output",
    "-o",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="A new or empty directory for the copy (it gets data.mdb).",
)
@journal_options
def backup(journal_dir: Path, out: str) -> None:
    """Copy a journal (safe while its node runs) into DIR, compacted.

    \b
    Example:
      zbus journal backup --journal /var/lib/zbus/journal --output /backup/zbus-$(date +%F)
    """
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        output.fail(f"{target} is not empty; back up into a new or empty directory")
    target.mkdir(parents=True, exist_ok=True)
    with opened(journal_dir) as j:
        st = j.statistics()
        try:
            j.copy_to(target, compact=True)
        except zbus.ZbusError as exc:
            output.fail(str(exc))
    data = target / "data.mdb"
    with data.open("rb") as fh:
        os.fsync(fh.fileno())
    _fsync_dir(target)
    size = data.stat().st_size
    click.echo(f"{journal_dir} -> {target}: {st.events} event(s), {st.streams} stream(s), {size:,} bytes")


@journal.command("restore")
@click.argument("source", type=click.Path(file_okay=False, exists=True), metavar="BACKUP_DIR")
@click.option("--force", is_flag=True, help="Replace a journal that is already there.")
@journal_options
def restore(journal_dir: Path, source: str, force: bool) -> None:
    """Put the journal in BACKUP_DIR (made by `zbus journal backup`) at --journal DIR.

    Stop the node first: a journal open by a process is refused. An existing journal at DIR is
    refused unless --force. Start the node on DIR afterwards: it keeps the backup's node id and
    continues its streams after the backup's last sequence numbers.

    \b
    Example:
      zbus journal restore /backup/zbus-2026-12-05 --journal /var/lib/zbus/journal --force
    """
    backup_dir = Path(source)
    with opened(backup_dir) as j:  # a backup that does not open (or is of a newer schema) is refused here
        st = j.statistics()
    journal_dir.mkdir(parents=True, exist_ok=True)
    refuse_if_in_use(journal_dir, "restoring into it")
    data = journal_dir / "data.mdb"
    if data.exists() and not force:
        output.fail(f"{journal_dir} already holds a journal; pass --force to replace it")
    tmp = journal_dir / f".restore-{os.getpid()}.mdb"
    try:
        shutil.copyfile(backup_dir / "data.mdb", tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        refuse_if_in_use(journal_dir, "restoring into it")  # someone opened it while we copied
        os.replace(tmp, data)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(journal_dir)
    click.echo(f"{backup_dir} -> {journal_dir}: {st.events} event(s), {st.streams} stream(s) restored")
