"""Greetings: which discovered endpoints to send HELLO to, and when. Pure: ``now`` is an argument.

Rule 1: discovery suggests endpoints; an endpoint is greeted at once, then again with backoff
(``base`` · 2^misses, at most ``cap`` seconds) for as long as it is not a live peer. A partition of
any length heals without discovery having to notice anything.
Rule 2: an endpoint is forgotten only when discovery says its node is gone (mDNS goodbye or
record expiry); static endpoints are never forgotten.
Rule 3: an answered greeting ties the endpoint to the peer id that answered (HELLO ``via``), so an
endpoint spelled differently from the peer's own (a hostname, a NAT address) is not greeted again
while that peer lives.
Rule 4: discovery data is hostile until answered: at most ``max_endpoints`` endpoints are remembered
(a new one beyond that is refused, and the caller counts it), an endpoint that cannot be connected to
at all is forgotten, and ``due`` hands out at most ``limit`` endpoints per call (the rest stay due).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Greetings"]


@dataclass(slots=True)
class _Entry:
    node_id: str
    misses: int
    next_at: float


class Greetings:
    """The greeting schedule of one node."""

    def __init__(self, *, base: float = 3.0, cap: float = 30.0, max_endpoints: int = 1024) -> None:
        self.base = base
        self.cap = cap
        self.max_endpoints = max_endpoints
        self._entries: dict[str, _Entry] = {}

    def __contains__(self, endpoint: object) -> bool:
        return endpoint in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def found(self, endpoint: str, node_id: str, now: float) -> bool:
        """Discovery suggested ``endpoint`` (``node_id`` when known): greet it now.

        Returns False, remembering nothing, when it is new and ``max_endpoints`` are remembered already.
        """
        entry = self._entries.get(endpoint)
        if entry is None:
            if len(self._entries) >= self.max_endpoints:
                return False
            self._entries[endpoint] = _Entry(node_id, 0, now)
        elif node_id and node_id != entry.node_id:  # a new node behind it (restart): greet at once
            entry.node_id, entry.misses, entry.next_at = node_id, 0, now
        # the same suggestion again (static lists repeat themselves) keeps the backoff running
        return True

    def answered(self, endpoint: str, node_id: str) -> None:
        """The node behind ``endpoint`` answered as ``node_id``."""
        entry = self._entries.get(endpoint)
        if entry is not None:
            entry.node_id, entry.misses = node_id, 0

    def forget(self, endpoint: str) -> None:
        """Stop greeting ``endpoint`` (it cannot be connected to: malformed)."""
        self._entries.pop(endpoint, None)

    def lost(self, node_id: str) -> None:
        """Discovery says ``node_id`` is gone: stop greeting its endpoints."""
        for endpoint in [e for e, entry in self._entries.items() if entry.node_id == node_id]:
            del self._entries[endpoint]

    def due(self, now: float, is_peer: Callable[[str, str], bool], limit: int | None = None) -> list[str]:
        """Endpoints to greet now, at most ``limit`` (None: all); the others stay due for a later call.

        ``is_peer(endpoint, node_id)`` says whether it is already a peer.
        """
        out: list[str] = []
        for endpoint, entry in self._entries.items():
            if is_peer(endpoint, entry.node_id):
                entry.misses, entry.next_at = 0, now + self.base
            elif now >= entry.next_at and (limit is None or len(out) < limit):
                out.append(endpoint)
                entry.next_at = now + min(self.cap, self.base * 2**entry.misses)
                entry.misses += 1
        return out
