"""Dead letters beyond memory: kept in the journal (when the node has one) and announced on ``$zbus.dlq``.

The dispatcher gives up on an event after ``max_attempts`` and hands a ``DeadLetter`` to
:meth:`DeadLetterOffice.dead_lettered`. The office keeps it in memory (this run's, bounded), stores it
in the journal, and publishes a ``zbus.dead_letter`` notice on the system topic ``$zbus.dlq`` so
operators and other nodes can react. ``Node.stored_dead_letters``/``retry_dead_letters``/
``purge_dead_letters`` read and change the journal's records.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from ..codec import wire
from ..delivery.deadletters import DeadLetter, MemoryDeadLetters
from ..errors import UsageError
from ..model.event import Event
from ..store import DeadLetterRecord, DeadLetters, Journal
from ..tasks import TaskGroup
from .persistence import Persistence

__all__ = ["DLQ_TOPIC", "DeadLetterOffice"]

log = logging.getLogger("zbus")

DLQ_TOPIC = "$zbus.dlq"  #: every dead letter is announced here (subscribe to ``"$zbus.dlq"``)


def _delete(journal: Journal, *, letter_id: str) -> bool:
    return DeadLetters(journal).delete(letter_id)


class DeadLetterOffice:
    """Where a node's dead letters go: memory, the journal, and an announcement.

    Args:
        name: the node's name (the notice's source).
        memory: this run's dead letters, kept in memory.
        persistence: the node's journal, or ``None`` (then they stay in memory only).
        send: publishes an event as the node does (the notice, and retried events).
    """

    def __init__(
        self,
        *,
        name: str,
        memory: MemoryDeadLetters,
        persistence: Persistence | None,
        send: Callable[[Event], Awaitable[None]],
    ) -> None:
        self.name = name
        self.memory = memory
        self._persistence = persistence
        self._send = send
        self._tasks = TaskGroup("dead letters")

    def dead_lettered(self, letter: DeadLetter) -> None:
        """The dispatcher gave up on an event: keep it and announce it (in the background)."""
        self.memory.add(letter)
        self._tasks.spawn(self._keep(letter), f"dead-letter-{letter.event.id}")

    async def _keep(self, letter: DeadLetter) -> None:
        if self._persistence is not None:
            frames = wire.encode(letter.event)
            try:
                await self._persistence.run(
                    lambda journal: DeadLetters(journal).add(
                        frames=frames,
                        error_type=letter.error_type,
                        error=letter.error,
                        handler=letter.handler,
                        subscription=letter.subscription,
                        attempts=letter.event.attempts,
                        ts=letter.ts,
                    )
                )
            except Exception:
                log.exception(
                    "could not store dead letter %s in the journal (kept in memory)", letter.event.id
                )
        notice = Event(
            "zbus.dead_letter",
            {
                "event_id": letter.event.id,
                "type": letter.event.type,
                "error_type": letter.error_type,
                "error": letter.error,
                "handler": letter.handler,
                "attempts": letter.event.attempts,
            },
            source=self.name,
            correlation_id=letter.event.correlation_id,
            causation_id=letter.event.id,
        )._derive(topic=DLQ_TOPIC)  # a system topic: only zbus itself publishes there
        try:
            await self._send(notice)
        except Exception as exc:  # the node may be closing
            log.debug("dead letter %s not announced: %s", letter.event.id, exc)

    def _journal(self, what: str) -> Persistence:
        if self._persistence is None:
            raise UsageError(f"{what} reads this node's journal: set persistence.enabled = true")
        return self._persistence

    async def stored(self, limit: int) -> list[DeadLetterRecord]:
        """The journal's dead letters, oldest first, at most ``limit``."""
        persistence = self._journal("stored_dead_letters()")
        return await persistence.run(lambda journal: DeadLetters(journal).list(limit))

    async def retry(self, ids: list[str] | None) -> int:
        """Publish stored dead letters again with attempts reset; returns how many."""
        persistence = self._journal("retry_dead_letters()")
        count = 0
        for record in await self.stored(limit=1_000_000):
            if ids is not None and record.id not in ids:
                continue
            event = wire.decode(list(record.frames))._derive(attempts=0)  # a fresh start for the handlers
            await self._send(event)
            await persistence.run(partial(_delete, letter_id=record.id))
            count += 1
        return count

    async def purge(self) -> int:
        """Delete every stored dead letter (and this run's in-memory ones); returns how many were stored."""
        persistence = self._journal("purge_dead_letters()")
        self.memory.clear()
        return await persistence.run(lambda journal: DeadLetters(journal).purge())

    async def close(self) -> None:
        """Wait for nothing more: cancel storing and announcing in flight."""
        await self._tasks.wait()
        await self._tasks.close()
