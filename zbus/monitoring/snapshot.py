"""One consistent picture of a node for /health, /metrics and the dashboard, taken on its event loop.

Everything the HTTP thread shows is read here, by a coroutine running *on the node's loop* (the HTTP
thread submits it with ``asyncio.run_coroutine_threadsafe``): the counters are plain ints and dicts the
loop mutates, so reading them anywhere else would race. The journal's statistics are read on the
journal's writer thread (``GroupCommitter.run``), never on the loop. The hot path pays nothing: this
only reads counters the node keeps anyway.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..model.peer import PeerInfo
from ..observe.latency import Histogram, HistogramSnapshot
from ..observe.statistics import NodeStatistics

if TYPE_CHECKING:
    from ..node import Node

__all__ = ["NodeSnapshot", "SubscriptionRow", "TopicRow", "take_snapshot"]

MAX_TOPICS = 100  # dashboard rows; the busiest first
MAX_SUBSCRIPTIONS = 50
JOURNAL_STATS_TIMEOUT = 1.0  # seconds; a writer busy with a huge batch reports "unknown", not a hang


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
    extra: dict[str, Any] = field(default_factory=dict)


def _topics(node: Node) -> list[TopicRow]:
    published = dict(node._seqs)
    heads: dict[str, list[int]] = {}
    recovery = node._router.recovery
    for (_, topic), seq in (recovery.sync.delivered_heads() if recovery is not None else {}).items():
        heads.setdefault(topic, []).append(seq)
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


async def _journal(node: Node) -> tuple[dict[str, Any] | None, bool, str]:
    persistence = node._persistence
    committer = getattr(persistence, "_committer", None)
    if persistence is None or committer is None:
        return None, False, ""
    c = committer.statistics()
    out: dict[str, Any] = {
        "path": str(persistence.path),
        "pending": c.pending,
        "committed": c.committed,
        "batches": c.batches,
        "failed": c.failed,
    }
    error = ""
    try:
        stats = await asyncio.wait_for(
            committer.run(lambda journal: journal.statistics()), JOURNAL_STATS_TIMEOUT
        )
        out.update(
            events=stats.events,
            bytes=stats.bytes,
            oldest_ts=stats.oldest_ts,
            newest_ts=stats.newest_ts,
            streams=stats.streams,
            map_used=stats.map_used,
            map_size=stats.map_size,
        )
    except Exception as exc:  # a closed or failing journal is reported, not raised
        error = f"{type(exc).__name__}: {exc}"
    return out, bool(c.full), error


async def take_snapshot(node: Node, *, http_url: str = "", started_at: float = 0.0) -> NodeSnapshot:
    """Read everything the endpoints show. Must run on ``node``'s event loop."""
    stats = node.statistics()
    by_priority: dict[int, int] = {}
    capacity, fill = 0, 0.0
    rows: list[SubscriptionRow] = []
    for sub in node._router.subscriptions:
        s = sub.statistics()
        for prio, n in s.queued_by_priority.items():
            by_priority[prio] = by_priority.get(prio, 0) + n
        size = sub._buffer.max_size
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
    dispatcher = node._dispatcher
    transport = node._transport
    journal, full, error = await _journal(node)
    empty = Histogram().snapshot()
    return NodeSnapshot(
        taken_at=time.time(),
        version=__version__,
        mesh=node.config.mesh.name,
        role=node.role,
        epoch=node.epoch,
        started_at=started_at,
        http_url=http_url,
        transport=node.config.transport.kind,
        transport_closed=transport is None or bool(getattr(transport, "_closed", False)),
        stats=stats,
        dropped_by_reason=dict(stats.dropped),
        queue_by_priority=by_priority,
        queue_capacity=capacity,
        queue_fill=fill,
        workers=node.config.performance.worker_threads,
        handlers_busy=stats.handlers_busy,
        dead_runners=0 if dispatcher is None else dispatcher.dead_runners(),
        handler_errors={} if dispatcher is None else dict(dispatcher.errors),
        latency=empty if dispatcher is None else dispatcher.latency.snapshot(),
        request_latency=node._router.request_latency.snapshot(),
        peers=node.peers,
        topics=_topics(node),
        subscriptions=rows,
        recent_gaps=list(node._router.recent_gaps),
        persistence=node._persistence is not None,
        journal=journal,
        journal_full=full,
        journal_error=error,
    )
