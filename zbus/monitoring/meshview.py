"""The mesh view: each node's small stats summary, and what a watcher makes of all of them. Pure.

Every node shares a summary on the reserved topic :data:`STATS_TOPIC` (``$zbus.stats``) every
``monitoring.mesh.interval`` seconds while some node watches (sharing.py). :func:`summarize` builds it
from two successive observations of the node: its rates per topic over the last interval, events per
second it received from each publisher (the flows of the mesh graph), its peers, counters (lost,
dropped, ...) and the delivery latency histogram of the interval (bucket deltas, so a watcher can merge
the nodes' histograms into true mesh-wide quantiles).

A watcher (a node serving the dashboard, or ``zbus top``) feeds every summary it hears to
:class:`MeshView`, which keeps each node's latest summary and a bounded history
(``monitoring.mesh.window``), and renders :meth:`MeshView.document`: the nodes, the flows between them,
the topics, and time series of events/s per topic and of latency quantiles. Summaries come from the
network: :func:`check_summary` bounds and type-checks each one; a bad one is counted and dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..observe.latency import LATENCY_BUCKETS, HistogramSnapshot
from .snapshot import Observation

__all__ = ["STATS_TOPIC", "STATS_TYPE", "Baseline", "MeshView", "check_summary", "summarize"]

#: the reserved topic the summaries travel on (``$zbus.`` topics never match ordinary patterns)
STATS_TOPIC = "$zbus.stats"
#: the type of a summary event
STATS_TYPE = "zbus.stats"
SUMMARY_VERSION = 1
MAX_TOPICS = 32  # busiest topics per summary
MAX_FLOWS = 100  # publishers per summary
MAX_PEERS = 100
MAX_GROUP_ROWS = 50  # (group, member) rows per summary: what this node, as publisher, sees of each
MAX_NODES = 500  # nodes a view keeps (the rest are dropped, oldest first)
SERIES_TOPICS = 8  # topics drawn in the events/s chart: the busiest over the window
COUNTERS = ("published", "received", "delivered", "dropped", "lost", "gaps", "repaired", "queued")
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
_BOUNDS = (*LATENCY_BUCKETS, float("inf"))


def _system(topic: str) -> bool:
    return topic.startswith("$")


@dataclass(frozen=True, slots=True)
class Baseline:
    """What :func:`summarize` compares the next observation with (taken at ``ts``)."""

    ts: float
    counters: dict[str, int]
    published: dict[str, int]
    received: dict[tuple[str, str], int]
    latency: tuple[int, ...]


def baseline(o: Observation, ts: float) -> Baseline:
    """The comparison point of observation ``o`` taken at ``ts``."""
    s = o.stats
    counters = {
        "published": sum(v for t, v in o.published.items() if not _system(t)),
        "received": s.received,
        "delivered": s.delivered,
        "dropped": sum(s.dropped.values()),
        "lost": s.lost,
        "gaps": s.gaps,
        "repaired": s.repaired,
        "queued": s.queued,
    }
    latency = () if o.dispatcher is None else o.dispatcher.latency.cumulative
    return Baseline(ts, counters, dict(o.published), dict(o.received_heads), tuple(latency))


def _quantiles(cumulative: list[int]) -> dict[str, float | None]:
    snap = HistogramSnapshot(bounds=_BOUNDS, cumulative=tuple(cumulative), sum=0.0, count=cumulative[-1])
    return {name: snap.quantile(q) for name, q in QUANTILES}


def _cumulate(counts: list[int]) -> list[int]:
    total, out = 0, []
    for n in counts:
        total += n
        out.append(total)
    return out


def summarize(
    o: Observation, ts: float, before: Baseline, *, interval: float, http_url: str = ""
) -> tuple[dict[str, Any], Baseline]:
    """The summary of node observation ``o`` at ``ts`` since ``before``, and the next baseline."""
    now = baseline(o, ts)
    dt = max(ts - before.ts, 1e-6)

    def rate(new: int, old: int) -> float:
        return round(max(new - old, 0) / dt, 3)

    topics: dict[str, list[float]] = {}
    for topic, seq in now.published.items():
        if not _system(topic):
            topics[topic] = [rate(seq, before.published.get(topic, 0)), 0.0]
    flows: dict[str, float] = {}
    for (publisher, topic), seq in now.received.items():
        if _system(topic):
            continue
        got = rate(seq, before.received.get((publisher, topic), seq))  # a new stream: from now on
        topics.setdefault(topic, [0.0, 0.0])[1] += got
        flows[publisher] = flows.get(publisher, 0.0) + got
    busiest = sorted(topics.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))[:MAX_TOPICS]
    deltas = [0] * len(_BOUNDS)
    if len(now.latency) == len(_BOUNDS):
        old = before.latency if len(before.latency) == len(_BOUNDS) else (0,) * len(_BOUNDS)
        cum_new = list(now.latency)
        per_new = [b - a for a, b in zip([0, *cum_new[:-1]], cum_new, strict=True)]
        per_old = [b - a for a, b in zip([0, *old[:-1]], old, strict=True)]
        deltas = [max(n - m, 0) for n, m in zip(per_new, per_old, strict=True)]
    cumulative = _cumulate(deltas)
    summary: dict[str, Any] = {
        "v": SUMMARY_VERSION,
        "node": o.stats.name,
        "id": o.stats.id,
        "role": o.role,
        "mesh": o.mesh,
        "ts": ts,
        "interval": interval,
        "http": http_url,
        "peers": [[p.id, p.name] for p in o.peers[:MAX_PEERS]],
        "counters": now.counters,
        # received/s: application events only (the counter also counts mesh stats and other system events)
        "rates": {k: rate(now.counters[k], before.counters.get(k, 0)) for k in COUNTERS if k != "queued"}
        | {"received": round(sum(flows.values()), 3)},
        "topics": {t: [round(p, 3), round(r, 3)] for t, (p, r) in busiest},
        "flows": dict(sorted(flows.items(), key=lambda kv: -kv[1])[:MAX_FLOWS]),
        "latency": {"buckets": deltas, "count": cumulative[-1], **_quantiles(cumulative)},
    }
    if o.groups is not None and o.groups.members:  # queue groups: left out when this node feeds none
        summary["groups"] = [
            [m.group, m.name or m.member, m.in_flight, m.acked, m.redelivered]
            for m in o.groups.members[:MAX_GROUP_ROWS]
        ]
    return summary, now


class BadSummary(ValueError):
    """A summary that is not what :func:`summarize` makes (from a newer or broken peer)."""


def _num(value: object) -> bool:
    return type(value) in (int, float) and value == value and value >= 0  # type: ignore[operator]


def check_summary(summary: object) -> dict[str, Any]:
    """Return ``summary`` if it has the shape and bounds of :func:`summarize`'s output.

    Raises:
        BadSummary: anything else (the caller counts and drops it).
    """
    if type(summary) is not dict or summary.get("v") != SUMMARY_VERSION:
        raise BadSummary("not a version 1 summary")
    s: dict[str, Any] = summary
    for key in ("node", "id", "role"):
        if type(s.get(key)) is not str or not 0 < len(s[key]) <= 128:
            raise BadSummary(f"{key!r} must be a short str")
    if not _num(s.get("ts")) or not _num(s.get("interval")) or type(s.get("http", "")) is not str:
        raise BadSummary("'ts', 'interval' must be numbers, 'http' a str")
    peers, topics, flows = s.get("peers"), s.get("topics"), s.get("flows")
    if (
        type(peers) is not list
        or len(peers) > MAX_PEERS
        or not all(type(p) is list and len(p) == 2 and all(type(x) is str for x in p) for p in peers)
    ):
        raise BadSummary("'peers' must be [[id, name], ...]")
    if (
        type(topics) is not dict
        or len(topics) > MAX_TOPICS
        or not all(
            type(t) is str and type(v) is list and len(v) == 2 and all(_num(x) for x in v)
            for t, v in topics.items()
        )
    ):
        raise BadSummary("'topics' must map topic to [pub/s, recv/s]")
    if (
        type(flows) is not dict
        or len(flows) > MAX_FLOWS
        or not all(type(k) is str and _num(v) for k, v in flows.items())
    ):
        raise BadSummary("'flows' must map publisher id to events/s")
    for key in ("counters", "rates"):
        table = s.get(key)
        if type(table) is not dict or len(table) > 32 or not all(_num(v) for v in table.values()):
            raise BadSummary(f"{key!r} must map names to numbers")
    groups = s.get("groups", [])
    if (
        type(groups) is not list
        or len(groups) > MAX_GROUP_ROWS
        or not all(
            type(g) is list
            and len(g) == 5
            and all(type(x) is str and 0 < len(x) <= 255 for x in g[:2])
            and all(type(x) is int and x >= 0 for x in g[2:])
            for g in groups
        )
    ):
        raise BadSummary("'groups' must be [[group, member, in flight, acked, redelivered], ...]")
    latency = s.get("latency")
    buckets = latency.get("buckets") if type(latency) is dict else None
    if (
        type(buckets) is not list
        or len(buckets) != len(_BOUNDS)
        or not all(type(b) is int and b >= 0 for b in buckets)
    ):
        raise BadSummary("'latency.buckets' must be the latency bucket counts")
    assert type(latency) is dict
    if not all(latency.get(name) is None or _num(latency.get(name)) for name, _ in QUANTILES) or not _num(
        latency.get("count")
    ):
        raise BadSummary("'latency' quantiles must be numbers or null")
    return s


@dataclass(slots=True)
class _Seen:
    summary: dict[str, Any]
    heard: float  # the watcher's clock
    history: deque[tuple[float, dict[str, float], list[int]]] = field(default_factory=deque)


class MeshView:
    """The mesh as a watcher sees it: every node's latest summary and a bounded history.

    Args:
        window: seconds of history kept (``monitoring.mesh.window``); nodes unheard for that long go.
        interval: the sharing interval (``monitoring.mesh.interval``): the time step of the series.
    """

    def __init__(self, *, window: float, interval: float) -> None:
        self.window = window
        self.interval = interval
        self._nodes: dict[str, _Seen] = {}
        self.dropped = 0  # malformed summaries

    def add(self, summary: object, now: float) -> bool:
        """Take one summary heard at ``now`` (watcher clock); False (counted) when it is malformed."""
        try:
            s = check_summary(summary)
        except BadSummary:
            self.dropped += 1
            return False
        seen = self._nodes.get(s["id"])
        if seen is None:
            if len(self._nodes) >= MAX_NODES:
                oldest = min(self._nodes, key=lambda n: self._nodes[n].heard)
                del self._nodes[oldest]
            seen = self._nodes[s["id"]] = _Seen(s, now)
        seen.summary, seen.heard = s, now
        topics = {t: v[0] for t, v in s["topics"].items() if v[0] > 0}
        seen.history.append((now, topics, list(s["latency"]["buckets"])))
        while seen.history and seen.history[0][0] < now - self.window:
            seen.history.popleft()
        return True

    def forget(self, now: float) -> None:
        """Drop nodes unheard for a whole window."""
        for node_id in [n for n, seen in self._nodes.items() if seen.heard < now - self.window]:
            del self._nodes[node_id]

    def __len__(self) -> int:
        return len(self._nodes)

    def document(self, now: float) -> dict[str, Any]:
        """The mesh for ``/api/mesh`` and ``zbus top --json`` (see docs/API_REFERENCE.md)."""
        self.forget(now)
        stale_after = 3 * self.interval
        names = {node_id: seen.summary["node"] for node_id, seen in self._nodes.items()}
        nodes, edges = [], []
        topics: dict[str, list[float]] = {}
        for node_id, seen in sorted(self._nodes.items(), key=lambda kv: kv[1].summary["node"]):
            s = seen.summary
            age = max(now - seen.heard, 0.0)
            latency = s["latency"]
            nodes.append(
                {
                    "id": node_id,
                    "name": s["node"],
                    "role": s["role"],
                    "http": s.get("http", ""),
                    "age": round(age, 2),
                    "stale": age > stale_after,
                    "peers": len(s["peers"]),
                    "rates": s["rates"],
                    "counters": s["counters"],
                    "latency": {name: latency.get(name) for name, _ in QUANTILES}
                    | {"count": latency["count"]},
                    "topics": s["topics"],
                    "groups": s.get("groups", []),
                }
            )
            for topic, (pub, recv) in s["topics"].items():
                total = topics.setdefault(topic, [0.0, 0.0])
                total[0] += pub
                total[1] += recv
            for publisher, rate in s["flows"].items():
                edges.append(
                    {
                        "from": publisher,
                        "from_name": names.get(publisher, publisher[:8]),
                        "to": node_id,
                        "to_name": s["node"],
                        "rate": rate,
                    }
                )
        return {
            "taken_at": now,
            "interval": self.interval,
            "window": self.window,
            "nodes": nodes,
            "edges": edges,
            "topics": [
                {"topic": t, "published": round(p, 3), "received": round(r, 3)}
                for t, (p, r) in sorted(topics.items(), key=lambda kv: (-kv[1][0] - kv[1][1], kv[0]))
            ],
            "series": self._series(now),
            "dropped": self.dropped,
        }

    def _series(self, now: float) -> dict[str, Any]:
        """Mesh-wide events/s per topic (published, summed over nodes) and latency quantiles (the
        nodes' histograms merged) per time step of ``interval`` over the window."""
        step = self.interval
        slots: dict[int, tuple[dict[str, float], list[int]]] = {}
        for seen in self._nodes.values():
            for heard, topics, buckets in seen.history:
                slot = slots.setdefault(int(heard // step), ({}, [0] * len(_BOUNDS)))
                for topic, value in topics.items():
                    slot[0][topic] = slot[0].get(topic, 0.0) + value
                slot[1][:] = [a + b for a, b in zip(slot[1], buckets, strict=True)]
        keys = sorted(slots)
        totals: dict[str, float] = {}
        for key in keys:
            for topic, value in slots[key][0].items():
                totals[topic] = totals.get(topic, 0.0) + value
        shown = sorted(totals, key=lambda t: (-totals[t], t))[:SERIES_TOPICS]
        latency: dict[str, list[float | None]] = {name: [] for name, _ in QUANTILES}
        for key in keys:
            quantiles = _quantiles(_cumulate(slots[key][1]))
            for name, _ in QUANTILES:
                latency[name].append(quantiles[name])
        return {
            "t": [(key + 1) * step for key in keys],
            "topics": {t: [round(slots[k][0].get(t, 0.0), 3) for k in keys] for t in shown},
            "latency": latency,
        }
