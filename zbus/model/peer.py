"""PeerInfo: what a node knows about another node of its mesh (a value; the peer table keeps them)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PeerInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerInfo:
    """What this node knows about another node of its mesh.

    Attributes:
        id: the peer's node id (kept across restarts when the peer keeps a journal, else new each time).
        name: the peer's node name.
        mesh: the mesh name.
        epoch: the peer's incarnation number (changes on restart).
        role: ``"node"``, ``"monitor"`` or ``"forwarder"``.
        address: how to reach it: its ROUTER endpoint, or ``"memory"``.
        responders: request types the peer answers.
        patterns: subscription patterns the peer announced.
        journaled: the peer keeps a journal, so it can repair and replay its events even after a restart.
        joined_at: when it joined (UNIX seconds, local clock).
        started: when its incarnation started, on this node's ``time.monotonic()`` clock (from the
            age it announced; ``None`` when it did not say). Used by the join rule: a stream of a
            peer that started after our subscription is followed from its first event.
        base: its last sequence per topic when this incarnation started (``{}``: every stream starts
            at 1; ``None``: unknown, the join rule does not apply).
        groups: the queue groups it is a member of, as ``(group, patterns, credit)`` sorted by group:
            publishers give each event of a group to one member (``subscribe(..., group=)``).
    """

    id: str
    name: str
    mesh: str
    epoch: int = 0
    role: str = "node"
    address: str = ""
    responders: frozenset[str] = field(default_factory=frozenset)
    patterns: frozenset[str] = field(default_factory=frozenset)
    journaled: bool = False
    joined_at: float = 0.0
    started: float | None = field(default=None, compare=False)
    base: dict[str, int] | None = field(default=None, compare=False, repr=False)
    groups: tuple[tuple[str, tuple[str, ...], int], ...] = ()
