"""Every ``zbus_*`` Prometheus metric, built at scrape time from a ``NodeSnapshot`` (snapshot.py).

Nothing here runs on the publish or delivery path. The node keeps plain counters anyway (see
``Node.statistics()``); a custom collector turns one snapshot of them into metric families when
Prometheus scrapes ``/metrics``. Each node has its own ``CollectorRegistry``, so several nodes in one
process (tests, agents) never share or clash. Labels are bounded by construction: ``reason`` and
``error_type`` come from code (drop reasons, exception class names capped at 50), ``priority`` is 1..10;
no event ids and no topics (the dashboard's JSON lists topics instead).

The metric table is in docs/API_REFERENCE.md ("Metrics").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ..observe.latency import HistogramSnapshot
from .snapshot import NodeSnapshot

__all__ = ["CONTENT_TYPE", "NodeMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _histogram(name: str, doc: str, snap: HistogramSnapshot) -> HistogramMetricFamily:
    buckets = [
        ("+Inf" if bound == float("inf") else repr(bound), cum)
        for bound, cum in zip(snap.bounds, snap.cumulative, strict=True)
    ]
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=snap.sum)


def _peer_drops(s: NodeSnapshot) -> CounterMetricFamily:
    """Drops per known peer and reason: series only for peers this node knows now (at most
    ``limits.max_peers``); a peer's series go when it leaves (its counts start again if it returns)."""
    family = CounterMetricFamily(
        "zbus_peer_events_dropped",
        "What each known peer sent that this node refused or dropped, by reason (rate_limited, ...).",
        labels=["peer", "name", "reason"],
    )
    names = {p.id: p.name for p in s.peers}
    for peer, counts in sorted(s.stats.dropped_by_peer.items()):
        for reason, n in sorted(counts.items()):
            family.add_metric([peer, names.get(peer, ""), reason], n)
    return family


def _families(s: NodeSnapshot) -> Iterator[Metric]:
    st = s.stats
    info = InfoMetricFamily("zbus_node", "This node: name, id, mesh, role and zbus version.")
    info.add_metric([], {"name": st.name, "id": st.id, "mesh": s.mesh, "role": s.role, "version": s.version})
    yield info
    yield GaugeMetricFamily(
        "zbus_node_running", "1 while the node is running, else 0.", value=1 if st.state == "running" else 0
    )
    yield GaugeMetricFamily(
        "zbus_node_start_time_seconds", "When the node started, UNIX seconds.", value=s.started_at
    )

    def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
        return CounterMetricFamily(name, doc, value=value)

    yield counter("zbus_events_published", "Events this node published.", st.published)
    yield counter("zbus_events_received", "Events that arrived from peers.", st.received)
    yield counter("zbus_events_delivered", "Events handlers completed or iterators yielded.", st.delivered)
    yield counter("zbus_events_expired", "Events whose TTL ran out before dispatch.", st.expired)
    dropped = CounterMetricFamily("zbus_events_dropped", "Events dropped, by reason.", labels=["reason"])
    for reason, n in sorted(s.dropped_by_reason.items()):
        dropped.add_metric([reason], n)
    yield dropped
    errors = CounterMetricFamily(
        "zbus_handler_errors", "Handler attempts that raised, by exception class.", labels=["error_type"]
    )
    for name, n in sorted(s.handler_errors.items()):
        errors.add_metric([name], n)
    yield errors
    failures = CounterMetricFamily(
        "zbus_background_failures",
        "Failed attempts of background duties (greet, expire, heartbeat, discover, ...), by duty.",
        labels=["duty"],
    )
    for duty, n in sorted(st.failures.items()):
        failures.add_metric([duty], n)
    yield failures
    yield counter("zbus_gaps_detected", "Holes detected in publishers' streams.", st.gaps)
    yield counter(
        "zbus_gaps_repaired",
        "Events recovered by repair from a publisher's ring or journal.",
        st.repaired,
    )
    yield counter("zbus_events_lost", "Events in holes that could not be repaired.", st.lost)

    depth = GaugeMetricFamily(
        "zbus_queue_depth", "Events waiting in subscription backlogs, by priority.", labels=["priority"]
    )
    for prio in range(1, 11):
        depth.add_metric([str(prio)], s.queue_by_priority.get(prio, 0))
    yield depth
    yield GaugeMetricFamily(
        "zbus_queue_capacity", "Sum of the open subscriptions' backlog bounds.", value=s.queue_capacity
    )
    yield GaugeMetricFamily(
        "zbus_queue_fill_ratio", "The fullest subscription backlog, 0 to 1.", value=s.queue_fill
    )
    yield GaugeMetricFamily("zbus_handlers_busy", "Handlers running now.", value=s.handlers_busy)
    yield GaugeMetricFamily("zbus_handler_workers", "Most handlers that may run at once.", value=s.workers)
    yield _histogram(
        "zbus_event_latency_seconds",
        "Publish to handler completed (sampled; clocks of different hosts may differ).",
        s.latency,
    )
    yield _histogram(
        "zbus_request_duration_seconds", "Request to reply round trips of this node.", s.request_latency
    )
    refused = CounterMetricFamily(
        "zbus_http_refused",
        "HTTP requests refused: evicted, timeout, too_large, busy (monitoring.http limits), unauthorized.",
        labels=["reason"],
    )
    for reason, n in sorted(s.extra.get("http_refused", {}).items()):
        refused.add_metric([reason], n)
    yield refused
    decisions = CounterMetricFamily(
        "zbus_security_decisions",
        "Security decisions (docs/SECURITY.md, Audit): admitted, refused_connection, refused_peer, "
        "refused_message, refused_event, denied_subscribe, denied_respond, revocations_applied, cut_off, "
        "refused_http, ... by reason; each is also a record on the zbus.audit logger.",
        labels=["decision", "reason"],
    )
    made = dict(s.extra.get("security", {}))
    if s.extra.get("http_refused", {}).get("unauthorized"):
        made["refused_http", "unauthorized"] = s.extra["http_refused"]["unauthorized"]
    for (decision, reason), n in sorted(made.items()):
        decisions.add_metric([decision, reason], n)
    yield decisions
    yield GaugeMetricFamily("zbus_peers", "Other nodes this node knows.", value=len(s.peers))
    yield _peer_drops(s)
    yield GaugeMetricFamily("zbus_subscriptions", "Open subscriptions.", value=st.subscriptions)
    yield GaugeMetricFamily("zbus_dead_letters", "Events in the dead-letter store.", value=st.dead_letters)

    yield from _group_families(s)
    yield GaugeMetricFamily(
        "zbus_journal_enabled", "1 when this node journals its events.", value=1 if s.persistence else 0
    )
    j = s.journal
    if j is not None:
        yield GaugeMetricFamily(
            "zbus_journal_full",
            "1 while the journal refuses writes (map full).",
            value=1 if s.journal_full else 0,
        )
        yield GaugeMetricFamily(
            "zbus_journal_pending", "Journal writes not yet committed.", value=j["pending"]
        )
        yield counter("zbus_journal_commit_failures", "Journal records whose batch failed.", j["failed"])
        if "events" in j:
            yield GaugeMetricFamily("zbus_journal_events", "Events stored in the journal.", value=j["events"])
            yield GaugeMetricFamily(
                "zbus_journal_size_bytes", "Bytes of journal pages holding events.", value=j["bytes"]
            )
            yield GaugeMetricFamily(
                "zbus_journal_map_used_bytes", "Bytes of the LMDB map in use.", value=j["map_used"]
            )
            yield GaugeMetricFamily(
                "zbus_journal_map_size_bytes", "The LMDB map size: the journal's limit.", value=j["map_size"]
            )
            yield counter(
                "zbus_journal_corrupt_records",
                "Damaged journal records (failed checksum) that reads skipped since the node started.",
                j.get("corrupt_records", 0),
            )


#: (group, member) series at most: group and member names come from the network
MAX_GROUP_SERIES = 50


def _group_families(s: NodeSnapshot) -> Iterator[Metric]:
    """Queue groups: per member (as this publisher sees it) and this node's totals as publisher and member."""
    g = s.groups
    who = ["group", "member"]
    per_member: list[GaugeMetricFamily | CounterMetricFamily] = [
        GaugeMetricFamily("zbus_group_in_flight", "Group events delivered, not yet acked.", labels=who),
        CounterMetricFamily("zbus_group_sent", "Group events delivered to a member.", labels=who),
        CounterMetricFamily("zbus_group_acked", "Group events a member acked.", labels=who),
        CounterMetricFamily("zbus_group_redelivered", "Deliveries of events not acked before.", labels=who),
    ]
    for m in g.members[:MAX_GROUP_SERIES]:
        labels = [m.group, m.name or m.member]
        for family, value in zip(per_member, (m.in_flight, m.sent, m.acked, m.redelivered), strict=True):
            family.add_metric(labels, value)
    yield from per_member
    yield GaugeMetricFamily(
        "zbus_group_waiting", "Group events waiting for a member with credit.", value=g.waiting
    )
    totals = (
        (
            "zbus_group_dead_lettered",
            "Group events given up on after groups.max_deliver deliveries.",
            g.dead_lettered,
        ),
        ("zbus_group_received", "Group events delivered to this node's member subscriptions.", g.received),
        ("zbus_group_nacked", "Of those, given back (nack, or refused: backlog full).", g.nacked),
    )
    for name, doc, value in totals:
        yield CounterMetricFamily(name, doc, value=value)


class _SnapshotCollector(Collector):
    def __init__(self, provider: Callable[[], NodeSnapshot]) -> None:
        self._provider = provider

    def collect(self) -> Iterator[Metric]:
        yield from _families(self._provider())


class NodeMetrics:
    """A node's own Prometheus registry. ``provider`` returns a fresh snapshot (called per scrape).

    ``registry`` can also be served by any prometheus-client exporter
    (``prometheus_client.start_http_server(port, registry=metrics.registry)``).
    """

    def __init__(self, provider: Callable[[], NodeSnapshot]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_SnapshotCollector(provider))

    def render(self) -> bytes:
        """The Prometheus text exposition of every ``zbus_*`` metric, from one snapshot."""
        return generate_latest(self.registry)
