"""Choosing a responder for a request: round-robin per request type. Pure.

Rule 1: candidates are ordered by node id, so the rotation is stable while the set of responders
is stable and every node spreads its requests the same fair way.
Rule 2: no candidate means no responder: the caller raises ``NoResponders`` at once instead of
waiting for a timeout.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["RoundRobin"]


class RoundRobin:
    """Remembers, per request type, whose turn is next."""

    def __init__(self) -> None:
        self._turn: dict[str, int] = {}

    def pick(self, request_type: str, candidates: Iterable[str]) -> str | None:
        """The node id that should answer the next ``request_type`` request, or None if nobody can."""
        ordered = sorted(set(candidates))
        if not ordered:
            return None
        turn = self._turn.get(request_type, 0)
        self._turn[request_type] = turn + 1
        return ordered[turn % len(ordered)]
