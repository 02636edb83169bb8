"""The journal-facing methods of ``Node``: replay, replaying/durable subscriptions, dead letters.

Kept apart from node.py only to keep that file small; ``Node`` mixes this in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .codec import wire
from .delivery.dispatch import DeadLetter, MemoryDeadLetters
from .errors import UsageError
from .inbound.replay import ReplayGate, ReplaySpec
from .journal.checkpoints import load_checkpoint
from .journal.persistence import Persistence, replay_events
from .model.event import Event
from .store import DeadLetters

if TYPE_CHECKING:
    from .delivery.subscription import Subscription
    from .inbound.router import Router
    from .model.peer import PeerInfo

__all__ = ["DLQ_TOPIC", "JournalMixin", "Replay"]

log = logging.getLogger("zbus")

DLQ_TOPIC = "$zbus.dlq"  #: every dead letter is announced here (subscribe to ``"$zbus.dlq"``)
Replay = str | int | float | datetime  #: ``"all"``, newest N per topic, or since a time


class JournalMixin:
    """Mixed into ``Node``."""

    name: str
    id: str
    _router: Router
    _persistence: Persistence | None
    _dead_letters: MemoryDeadLetters
    _dlq_tasks: set[asyncio.Task[Any]]

    if TYPE_CHECKING:

        @property
        def peers(self) -> list[PeerInfo]: ...

        async def publish_batch(self, events: Any) -> list[str]: ...

        async def _send(self, event: Event, *, durable: bool = False) -> None: ...

    def replay(
        self,
        pattern: str = "**",
        *,
        since: datetime | float | None = None,
        last: int | None = None,
        from_seq: int | None = None,
    ) -> AsyncIterator[Event]:
        """The events this node journaled (``persistence.enabled``) that match ``pattern``, oldest first.

        ``since`` (aware datetime or UNIX seconds) starts at a time; ``from_seq=N`` skips each
        stream's events below sequence N; ``last=N`` keeps the newest N per topic. Journaled events
        of earlier runs of the same node name (same journal) are included.

        Raises:
            UsageError: persistence is not enabled.
        """
        if self._persistence is None:
            raise UsageError("replay() reads this node's journal: set persistence.enabled = true")
        start = since.timestamp() if isinstance(since, datetime) else since
        return replay_events(self._persistence, pattern, since=start, last=last, from_seq=from_seq)

    # -- replaying and durable subscriptions -----------------------------------------------------------
    async def _replay_spec(self, replay: Replay | None, durable: str | None) -> ReplaySpec | None:
        if durable is not None:
            if self._persistence is None:
                raise UsageError(
                    f"durable={durable!r} keeps its checkpoints in this node's journal: "
                    "set persistence.enabled = true"
                )
            if not isinstance(durable, str) or not durable or len(durable.encode()) > 200:
                raise UsageError(f"durable={durable!r}: expected a name of 1 to 200 bytes")
            resume = await load_checkpoint(self._persistence, durable)
            return ReplaySpec(since=resume.since, start=resume.start)
        if replay is None:
            return None
        if replay == "all":
            return ReplaySpec()
        if isinstance(replay, bool) or not isinstance(replay, (int, float, datetime)):
            raise UsageError(
                f"replay={replay!r}: expected 'all', a count N (newest N per topic), "
                "a datetime or UNIX seconds (history since then)"
            )
        if isinstance(replay, int):
            if replay <= 0:
                raise UsageError(f"replay={replay}: a count must be at least 1")
            return ReplaySpec(last=replay)
        return ReplaySpec(since=replay.timestamp() if isinstance(replay, datetime) else float(replay))

    def _attach_gate(self, sub: Subscription, spec: ReplaySpec, durable: str | None) -> None:
        recovery = self._router.recovery
        if recovery is None:
            raise UsageError(
                "replay and durable subscriptions need a running node: use 'async with Node(...)'"
            )
        gate = ReplayGate(
            sub,
            recovery=recovery,
            config=recovery.config,
            own_id=self.id,
            spec=spec,
            durable=durable,
            persistence=self._persistence,
        )
        sub._gate = gate
        self._router.gated += 1
        gate.peers_changed(self.peers)
        gate.start_saving()

    async def _detach_gate(self, sub: Subscription) -> None:
        if sub._gate is not None:
            gate, sub._gate = sub._gate, None
            self._router.gated -= 1
            await gate.close()

    def _gates_see_peers(self) -> None:
        peers = self.peers
        for sub in self._router.subscriptions:
            if sub._gate is not None:
                sub._gate.peers_changed(peers)

    # -- dead letters ---------------------------------------------------------------------------------
    def _dead_lettered(self, letter: DeadLetter) -> None:
        """The dispatcher gave up on an event: keep it (memory, and the journal when enabled) and
        announce it on ``$zbus.dlq`` so operators and other nodes can react."""
        self._dead_letters.add(letter)
        task = asyncio.get_running_loop().create_task(self._keep_dead_letter(letter))
        self._dlq_tasks.add(task)
        task.add_done_callback(self._dlq_tasks.discard)

    async def _keep_dead_letter(self, letter: DeadLetter) -> None:
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
                        attempts=letter.event._attempts,
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
                "attempts": letter.event._attempts,
            },
            source=self.name,
            correlation_id=letter.event.correlation_id,
            causation_id=letter.event.id,
        )
        notice._topic = DLQ_TOPIC  # a system topic: only zbus itself publishes there
        try:
            await self._send(notice)
        except Exception as exc:  # the node may be closing
            log.debug("dead letter %s not announced: %s", letter.event.id, exc)

    def dead_letters(self) -> list[DeadLetter]:
        """Events whose handlers failed ``max_attempts`` times, oldest first (this run's, in memory;
        ``await stored_dead_letters()`` reads the journal's, across restarts)."""
        return self._dead_letters.list()

    async def stored_dead_letters(self, limit: int = 100) -> list[Any]:
        """The dead letters in this node's journal (``DeadLetterRecord``: id, event frames, error,
        handler, attempts, ts), oldest first, at most ``limit``.

        Raises:
            UsageError: persistence is not enabled.
        """
        persistence = self._journal_for("stored_dead_letters()")
        return await persistence.run(lambda journal: DeadLetters(journal).list(limit))  # type: ignore[no-any-return]

    async def retry_dead_letters(self, ids: list[str] | None = None) -> int:
        """Publish stored dead letters again (all, or those with these ids) with their attempts reset,
        deleting each record once republished. Returns how many were republished."""
        persistence = self._journal_for("retry_dead_letters()")
        records = await self.stored_dead_letters(limit=1_000_000)
        count = 0
        for record in records:
            if ids is not None and record.id not in ids:
                continue
            event = wire.decode(list(record.frames))
            event._attempts = 0  # a fresh start for the handlers
            await self._send(event)
            await persistence.run(lambda journal, rid=record.id: DeadLetters(journal).delete(rid))
            count += 1
        return count

    async def purge_dead_letters(self) -> int:
        """Delete every stored dead letter (and this run's in-memory list). Returns how many were stored."""
        persistence = self._journal_for("purge_dead_letters()")
        self._dead_letters = MemoryDeadLetters()
        return await persistence.run(lambda journal: DeadLetters(journal).purge())  # type: ignore[no-any-return]

    def _journal_for(self, what: str) -> Persistence:
        if self._persistence is None:
            raise UsageError(f"{what} reads this node's journal: set persistence.enabled = true")
        return self._persistence
