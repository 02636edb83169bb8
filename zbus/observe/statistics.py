"""NodeState and NodeStatistics: a node's lifecycle and the snapshot ``Node.statistics()`` returns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .drops import Drops

__all__ = [
    "GroupMemberStatistics",
    "GroupStatistics",
    "JournalObservation",
    "NodeState",
    "NodeStatistics",
    "TransportStatistics",
    "merge_counts",
    "per_peer",
]


class NodeState(Enum):
    """Lifecycle of a Node: CREATED → RUNNING → CLOSING → CLOSED (never reopened)."""

    CREATED = "created"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


def merge_counts(*counters: Mapping[str, int]) -> dict[str, int]:
    """Add up several ``reason -> count`` mappings (router, transport, each subscription)."""
    total: Counter[str] = Counter()
    for counts in counters:
        total.update(counts)
    return dict(total)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStatistics:
    """A snapshot of a node's counters.

    Attributes:
        name: node name. id: node id. state: lifecycle state.
        published: events this node published. received: events that arrived from peers.
        delivered: events handlers completed or iterators yielded, over all subscriptions.
        dropped: events dropped by reason (``overflow``, ``malformed``, ``bad_payload``, ...).
        expired: events whose TTL ran out before dispatch.
        gaps: holes detected in publishers' streams (sequence jumps, or heads in heartbeats); each
            one is asked for from the publisher (REPAIR).
        lost: events that could not be repaired (not in the publisher's ring or journal, publisher
            gone, no answer): published to us and never delivered. Each range is reported to
            ``Node.on_lost`` callbacks and logged.
        repaired: events recovered by repair.
        dead_letters: events given up on after ``max_attempts``.
        queued: events waiting in all subscription backlogs. subscriptions: open subscriptions.
        peers: known peers. handlers_busy: handlers running right now.
        failures: failed attempts of background duties by duty (``greet``, ``expire``, ``heartbeat``,
            ``discover``, ...): each was logged (once per kind) and skipped; the others went on.
        dropped_by_peer: what each known peer had refused or dropped, by reason (``rate_limited``,
            ``spoofed_source``, ``seq_jump``, ...), summed over components; a peer that leaves is
            forgotten (``observe.drops``).
    """

    name: str
    id: str
    state: str
    published: int
    received: int
    delivered: int
    dropped: dict[str, int]
    expired: int
    gaps: int
    lost: int
    dead_letters: int
    repaired: int = 0
    queued: int
    subscriptions: int
    peers: int
    handlers_busy: int
    failures: dict[str, int] = field(default_factory=dict)
    dropped_by_peer: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalObservation:
    """What /health and the dashboard show of a journal: committer counters and ``JournalStatistics``
    fields in ``numbers``, whether the map is full, and the error if its statistics could not be read."""

    numbers: dict[str, Any]
    full: bool
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportStatistics:
    """A transport's counters: what it dropped (by reason), whether it is closed, where it listens
    (``pub``, ``router``, a forwarder's ``capture``; empty in memory), its background duties'
    failures by duty, and its security decisions by (decision, reason) (docs/SECURITY.md, "Audit")."""

    dropped: dict[str, int]
    closed: bool
    endpoints: dict[str, str]
    failures: dict[str, int] = field(default_factory=dict)
    security: dict[tuple[str, str], int] = field(default_factory=dict)
    #: drops by known peer and reason (``observe.drops.Drops.by_peer``)
    by_peer: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMemberStatistics:
    """One member of one queue group, as this node (a publisher) sees it.

    Attributes:
        group: the group's name.
        member: the member's node id.
        name: the member's node name (``""`` when not known).
        credit: events it takes at once from this publisher.
        in_flight: events delivered to it and not acknowledged yet.
        sent: events delivered to it (redeliveries included).
        acked: events it acknowledged.
        redelivered: deliveries to it of events another member (or it, earlier) had not acknowledged.
    """

    group: str
    member: str
    name: str = ""
    credit: int
    in_flight: int
    sent: int
    acked: int
    redelivered: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupStatistics:
    """A node's queue groups: as publisher (``members``, ``waiting`` ... ``stale_acks``) and as
    member (``received`` ... ``refused``).

    Attributes:
        members: every member of every group this node delivers to.
        waiting: events waiting for a member with credit (just published ones not yet handed over included).
        in_flight: events delivered and not acknowledged.
        redelivered: events taken back (ack timeout, nack, member gone) to deliver again.
        dead_lettered: events given up on after ``groups.max_deliver`` deliveries.
        stale_acks: acks from a member that no longer held the event.
        received: group events delivered to this node's member subscriptions.
        acked: of those, acknowledged.
        nacked: of those, given back (``nack``, or not wanted here any more).
        refused: of those, given back because the member's backlog was full.
    """

    members: tuple[GroupMemberStatistics, ...] = ()
    waiting: int = 0
    in_flight: int = 0
    redelivered: int = 0
    dead_lettered: int = 0
    stale_acks: int = 0
    received: int = 0
    acked: int = 0
    nacked: int = 0
    refused: int = 0


def per_peer(
    known: Collection[str], *sources: Drops | Mapping[str, Mapping[str, int]]
) -> dict[str, dict[str, int]]:
    """Drops by peer and reason, summed over components, for the peers in ``known`` only (the others
    are pruned from each ``Drops``: a departed peer's counts and series go with it)."""
    total: dict[str, Counter[str]] = {}
    for source in sources:
        if isinstance(source, Drops):
            source.prune(known.__contains__)
            source = source.peers()
        for peer, counts in source.items():
            if peer in known:
                total.setdefault(peer, Counter()).update(counts)
    return {peer: dict(counts) for peer, counts in total.items()}
