"""Shared plumbing of the offline journal commands (replay, journal, dlq): which directory, opening it,
time arguments, and progress lines on stderr.

The journal directory is ``--journal DIR`` or else the configuration's ``persistence.journal_path(name)``
(``persistence.path``, or the default data directory of node ``--name``). Reading while a node runs is
safe: LMDB readers never block the writer. Changing a journal (``compact``, ``dlq retry/purge``) while a
node holds it open is refused where that matters (see :func:`in_use`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

import zbus
from zbus.config import parse_duration
from zbus.store import Journal

from . import output

F = TypeVar("F", bound=Callable[..., Any])

_DURATION = re.compile(r"^\d+(\.\d+)?\s*(ms|s|m|h|d)$", re.IGNORECASE)


def journal_options(func: F) -> F:
    """Add ``--journal DIR``; the command receives ``journal_dir: Path``.

    Without it: ``persistence.path`` of the configuration (``$ZBUS_CONFIG``, ``ZBUS_PERSISTENCE__PATH``).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, journal: str | None, **kwargs: Any) -> Any:
        return func(*args, journal_dir=resolve(journal), **kwargs)

    option = click.option(
        "--journal",
        metavar="DIR",
        type=click.Path(file_okay=False),
        help="Journal directory: a node's persistence.path (default: persistence.path from config/env).",
    )
    return option(wrapper)  # type: ignore[return-value]


def resolve(journal: str | None) -> Path:
    """The journal directory: ``journal`` or the configured ``persistence.path``."""
    if journal is not None:
        return Path(journal).expanduser()
    try:
        cfg = zbus.load_config(None)
    except zbus.ConfigError as exc:
        output.fail(str(exc))
    if not cfg.persistence.path:
        output.usage("say which journal: --journal DIR (a node's persistence.path)")
    return Path(cfg.persistence.path).expanduser()


@contextlib.contextmanager
def opened(path: Path, *, write: bool = False, map_size: int | None = None) -> Iterator[Journal]:
    """Open the journal at ``path`` (read-only unless ``write``); exit 1 with the reason if it cannot be."""
    if not (path / "data.mdb").is_file():
        output.fail(f"no journal at {path} (no data.mdb); pass the node's persistence.path with --journal")
    size = map_size or max(os.path.getsize(path / "data.mdb"), 1024**3 if write else 1024**2)
    try:
        journal = Journal(path, map_size=size, durability="sync" if write else "none", readonly=not write)
    except zbus.ZbusError as exc:
        output.fail(str(exc))
    try:
        yield journal
    finally:
        journal.close()


def in_use(path: Path) -> bool:
    """Whether another process has the LMDB environment at ``path`` open (a running node).

    LMDB keeps a shared ``fcntl`` lock on byte 0 of ``lock.mdb`` while an environment is open: if an
    exclusive test lock on it fails, someone holds it. Call before opening the journal yourself (a
    process's own locks never conflict with each other, and closing this test descriptor would drop them).
    """
    lock = path / "lock.mdb"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0, os.SEEK_SET)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, 0, os.SEEK_SET)
        return False
    finally:
        os.close(fd)


def refuse_if_in_use(path: Path, what: str) -> None:
    """Exit 1 when a node has the journal open: ``what`` would race its writer."""
    if in_use(path):
        output.fail(
            f"journal {path} is open by a running process (a node?); stop it before {what}, "
            "or run the command against a copy"
        )


def parse_since(text: str) -> float:
    """``--since``: an ISO-8601 time (naive means local time) or a duration ago (``10m``, ``2h``, ``1d``)."""
    text = text.strip()
    if _DURATION.match(text):
        return time.time() - parse_duration(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected an ISO time (2026-05-01T12:00:00) or a duration ago (90s, 10m, 2h, 1d)"
        ) from None
    return when.timestamp() if when.tzinfo else when.astimezone().timestamp()


def since_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    return None if value is None else parse_since(value)


class Progress:
    """A counter line on stderr at most every ``interval`` s; silent unless stderr is a tty and enabled."""

    def __init__(self, what: str, *, enabled: bool, interval: float = 0.5) -> None:
        self.what = what
        self.enabled = enabled and sys.stderr.isatty()
        self.interval = interval
        self.count = 0
        self._next = time.monotonic() + interval
        self._shown = False

    def step(self, n: int = 1) -> None:
        self.count += n
        if self.enabled and time.monotonic() >= self._next:
            click.echo(f"\r{self.what}: {self.count:,}", err=True, nl=False)
            self._shown = True
            self._next = time.monotonic() + self.interval

    def done(self) -> None:
        if self._shown:
            click.echo(f"\r{self.what}: {self.count:,} done", err=True)


def quiet_option(func: F) -> F:
    """``--quiet``: no progress lines."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")(func)
