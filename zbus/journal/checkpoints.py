"""Durable subscription checkpoints, kept in the subscribing node's own journal (``zbus.store.Checkpoints``).

A durable subscription records, per stream (publisher, topic), the contiguous watermark of events it
finished, and when it was first created; after a restart it resumes every stream after its
watermark (at-least-once), and streams it never saw from its creation time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..store import Checkpoints, Journal
from .persistence import Persistence

__all__ = ["CREATED", "ReplaySpec", "load_checkpoint", "save_checkpoint"]

CREATED = ("$zbus", "created")  # a checkpoint entry holding when the durable subscription began (µs)


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """Where each publisher's history starts: from ``since`` (UNIX s; 0 = all kept), or the newest
    ``last`` per topic, or, for durable subscriptions, after the checkpoint ``start`` per stream."""

    since: float = 0.0
    last: int = 0
    start: dict[tuple[str, str], int] = field(default_factory=dict)


async def load_checkpoint(persistence: Persistence, name: str) -> ReplaySpec:
    """The resume point of durable subscription ``name``: its watermarks, and (for streams it never
    saw) the time it was first created, recorded now if this is its first start."""

    def load(journal: Journal) -> dict[tuple[str, str], int]:
        checkpoints = Checkpoints(journal)
        marks: dict[tuple[str, str], int] = checkpoints.load(name)
        if CREATED not in marks:
            marks[CREATED] = int(time.time() * 1_000_000)
            checkpoints.commit(name, CREATED, marks[CREATED])
        return marks

    marks = await persistence.run(load)
    created = marks.pop(CREATED) / 1_000_000
    return ReplaySpec(since=created, start=marks)


async def save_checkpoint(persistence: Persistence, name: str, changed: dict[tuple[str, str], int]) -> None:
    """Commit the watermarks that moved, in one write transaction."""
    await persistence.run(lambda journal: Checkpoints(journal).commit_many(name, changed))
