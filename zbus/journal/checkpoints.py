"""Durable checkpoints: where a durable subscription resumes, kept in the subscriber's own journal.

Journal glue over :class:`zbus.store.Checkpoints`. Per durable name and stream (publisher id, topic)
the journal holds the contiguous watermark of finished events, plus one entry, :data:`CREATED`,
holding when the durable subscription was first started (so streams it never saw are replayed from
then). All LMDB work runs on the persistence writer thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..store import Checkpoints
from .persistence import Persistence

__all__ = ["CREATED", "Resume", "checkpoint_names", "load_checkpoint", "save_checkpoint"]

Stream = tuple[str, str]

#: a checkpoint entry holding when the durable subscription began (UNIX µs); not a stream
CREATED: Stream = ("$zbus", "created")


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume:
    """Where durable subscription resumes: after ``start[stream]`` for the streams it saw, and from
    ``since`` (UNIX seconds, when it was first created) for the others."""

    since: float
    start: dict[Stream, int] = field(default_factory=dict)


async def load_checkpoint(persistence: Persistence, name: str) -> Resume:
    """The resume point of durable subscription ``name``: its watermarks, and (for streams it never
    saw) the time it was first created, recorded now if this is its first start."""

    def load(journal: Any) -> dict[Stream, int]:
        checkpoints = Checkpoints(journal)
        marks: dict[Stream, int] = checkpoints.load(name)
        if CREATED not in marks:
            marks[CREATED] = int(time.time() * 1_000_000)
            checkpoints.commit(name, CREATED, marks[CREATED])
        return marks

    marks = await persistence.run(load)
    created = marks.pop(CREATED) / 1_000_000
    return Resume(since=created, start=marks)


async def save_checkpoint(persistence: Persistence, name: str, watermarks: Mapping[Stream, int]) -> None:
    """Commit watermarks of durable subscription ``name`` (one write transaction; none if empty)."""
    if watermarks:
        changed = dict(watermarks)
        await persistence.run(lambda journal: Checkpoints(journal).commit_many(name, changed))


async def checkpoint_names(persistence: Persistence, prefix: str) -> list[str]:
    """The names of the checkpoints in the journal that start with ``prefix``."""
    names: list[str] = await persistence.run(lambda journal: Checkpoints(journal).names())
    return [n for n in names if n.startswith(prefix)]
