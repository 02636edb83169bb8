"""One consistent picture of a node for /health, /metrics and the dashboard, taken on its event loop.

Everything the HTTP thread shows is read here, by a coroutine running *on the node's loop* (the HTTP
thread submits it with ``asyncio.run_coroutine_threadsafe``): the counters are plain ints and dicts the
loop mutates, so reading them anywhere else would race. The journal's statistics are read on the
journal's writer thread (``GroupCommitter.run``), never on the loop. The hot path pays nothing: this
only reads counters the node keeps anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .._version import __version__
from ..delivery.dispatch import DispatcherStatistics
from ..delivery.subscription import SubscriptionStatistics
from ..model.peer import PeerInfo
from ..observe.latency import Histogram, HistogramSnapshot
from ..observe.statistics import GroupStatistics, JournalObservation, NodeStatistics, TransportStatistics

__all__ = ["NodeSnapshot", "Observation", "SubscriptionRow", "TopicRow", "take_snapshot"]

MAX_TOPICS = 100  # dashboard rows; the busiest first
MAX_SUBSCRIPTIONS = 50  # dashboard rows of subscriptions (the page stays readable; totals count all)
JOURNAL_STATS_TIMEOUT = 1.0  # seconds; a writer busy with a huge batch reports an error, not a hang


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicRow:
    """One topic: events this node published on it, and the summed stream heads of the peers publishing
    it that this node follows (a sequence number grows by one per event, so its rate is the topic's)."""

    topic: str
    published: int
    received_head: int
    publishers: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRow:
    """One open subscription's patterns, backlog and counters."""

    patterns: str
    queued: int
    max_size: int
    delivered: int
    dropped: int
    failed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSnapshot:
    """What the HTTP endpoints render. Built by :func:`take_snapshot` on the node's loop."""

    taken_at: float
    version: str
    mesh: str
    role: str
    epoch: int
    started_at: float
    http_url: str
    transport: str
    transport_closed: bool
    stats: NodeStatistics
    dropped_by_reason: dict[str, int]
    queue_by_priority: dict[int, int]
    queue_capacity: int
    queue_fill: float  # the fullest subscription backlog, 0..1
    workers: int
    handlers_busy: int
    dead_runners: int
    handler_errors: dict[str, int]
    latency: HistogramSnapshot
    request_latency: HistogramSnapshot
    peers: list[PeerInfo]
    topics: list[TopicRow]
    subscriptions: list[SubscriptionRow]
    recent_gaps: list[tuple[float, str, str, int]]
    persistence: bool
    journal: dict[str, Any] | None = None  # JournalStatistics fields + committer counters
    journal_full: bool = False
    journal_error: str = ""
    groups: GroupStatistics = field(default_factory=GroupStatistics)  # queue groups (publisher and member)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What a node hands to :func:`take_snapshot`: its components' ``statistics()`` values, read on its loop.

    The node builds it (``Node`` is the only module that knows every component); the snapshot never
    reads a node's internals, so renaming one cannot silently break ``/health``.
    """

    stats: NodeStatistics
    mesh: str
    role: str
    epoch: int
    transport_kind: str
    transport: TransportStatistics | None
    subscriptions: list[SubscriptionStatistics]
    dispatcher: DispatcherStatistics | None
    request_latency: HistogramSnapshot
    peers: list[PeerInfo]
    workers: int
    published: dict[str, int]  # topic -> last sequence number this node published
    received_heads: dict[tuple[str, str], int]  # (publisher, topic) -> last delivered sequence number
    recent_gaps: list[tuple[float, str, str, int]]
    journal: JournalObservation | None
    groups: GroupStatistics | None = None


def _topics(o: Observation) -> list[TopicRow]:
    heads: dict[str, list[int]] = {}
    for (_, topic), seq in o.received_heads.items():
        if not topic.startswith("$"):  # mesh stats and other system traffic are not the node's topics
            heads.setdefault(topic, []).append(seq)
    published = {t: n for t, n in o.published.items() if not t.startswith("$")}
    rows = [
        TopicRow(
            topic=t,
            published=published.get(t, 0),
            received_head=sum(heads.get(t, ())),
            publishers=len(heads.get(t, ())),
        )
        for t in published.keys() | heads.keys()
    ]
    rows.sort(key=lambda r: (-(r.published + r.received_head), r.topic))
    return rows[:MAX_TOPICS]


def take_snapshot(o: Observation, *, http_url: str = "", started_at: float = 0.0) -> NodeSnapshot:
    """Turn an observation into what the endpoints render."""
    stats = o.stats
    by_priority: dict[int, int] = {}
    capacity, fill = 0, 0.0
    rows: list[SubscriptionRow] = []
    for s in o.subscriptions:
        for prio, n in s.queued_by_priority.items():
            by_priority[prio] = by_priority.get(prio, 0) + n
        size = s.max_size
        capacity += size
        fill = max(fill, s.queued / size if size else 0.0)
        if len(rows) < MAX_SUBSCRIPTIONS:
            rows.append(
                SubscriptionRow(
                    patterns=", ".join(s.patterns),
                    queued=s.queued,
                    max_size=size,
                    delivered=s.delivered,
                    dropped=sum(s.dropped.values()),
                    failed=s.failed,
                )
            )
    d = o.dispatcher
    journal = o.journal
    empty = Histogram().snapshot()
    return NodeSnapshot(
        taken_at=time.time(),
        version=__version__,
        mesh=o.mesh,
        role=o.role,
        epoch=o.epoch,
        started_at=started_at,
        http_url=http_url,
        transport=o.transport_kind,
        transport_closed=o.transport is None or o.transport.closed,
        stats=stats,
        dropped_by_reason=dict(stats.dropped),
        queue_by_priority=by_priority,
        queue_capacity=capacity,
        queue_fill=fill,
        workers=o.workers,
        handlers_busy=stats.handlers_busy,
        dead_runners=0 if d is None else d.dead_runners,
        handler_errors={} if d is None else dict(d.errors),
        latency=empty if d is None else d.latency,
        request_latency=o.request_latency,
        peers=o.peers,
        topics=_topics(o),
        subscriptions=rows,
        recent_gaps=list(o.recent_gaps),
        persistence=journal is not None,
        journal=None if journal is None else journal.numbers,
        journal_full=False if journal is None else journal.full,
        journal_error="" if journal is None else journal.error,
        groups=o.groups or GroupStatistics(),
        extra={"security": {} if o.transport is None else dict(o.transport.security)},
    )
