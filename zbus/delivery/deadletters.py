"""Dead letters: events whose handler failed ``max_attempts`` times, and where they are kept in memory.

The dispatcher hands each one to the node's dead-letter hook; ``zbus.journal.deadletters`` also keeps
them in the journal (when there is one) and announces them on ``$zbus.dlq``.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from ..model.event import Event

__all__ = ["DeadLetter", "MemoryDeadLetters"]

log = logging.getLogger("zbus")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """An event whose handler failed ``max_attempts`` times.

    Attributes:
        event: the event as last attempted (``attempts`` and ``last_error`` filled in).
        error_type: class name of the last exception.
        error: ``str()`` of the last exception.
        handler: qualified name of the handler that failed.
        subscription: the subscription's patterns, comma-separated.
        ts: when it was dead-lettered, UNIX seconds.
    """

    event: Event
    error_type: str
    error: str
    handler: str
    subscription: str
    ts: float


class MemoryDeadLetters:
    """Dead letters kept in memory (the newest ``limit``) until the LMDB store takes over.

    It says so, once, at the first dead letter: they are lost when the process exits.
    """

    def __init__(self, limit: int = 10_000) -> None:  # a memory bound; the journal keeps them all
        self.limit = limit
        self._letters: deque[DeadLetter] = deque(maxlen=limit)

    def add(self, letter: DeadLetter) -> None:
        """Keep ``letter`` (evicting the oldest beyond ``limit``)."""
        if not self._letters:
            log.warning(
                "dead letters are kept in memory only (the newest %d); they are lost when the process exits",
                self.limit,
            )
        self._letters.append(letter)

    def list(self) -> list[DeadLetter]:
        """All kept dead letters, oldest first."""
        return list(self._letters)

    def clear(self) -> None:
        """Forget every kept dead letter."""
        self._letters.clear()

    def __len__(self) -> int:
        return len(self._letters)
