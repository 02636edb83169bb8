"""The mesh view's pure half: summaries from observations, their checks, and what a watcher renders."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from zbus.delivery.dispatch import DispatcherStatistics
from zbus.model.peer import PeerInfo
from zbus.monitoring.meshview import BadSummary, MeshView, baseline, check_summary, summarize
from zbus.monitoring.snapshot import Observation
from zbus.observe.latency import Histogram
from zbus.observe.statistics import GroupMemberStatistics, GroupStatistics, NodeStatistics


def observe(
    *,
    node_id: str = "aaaa",
    published: dict[str, int] | None = None,
    heads: dict[tuple[str, str], int] | None = None,
    received: int = 0,
    lost: int = 0,
    latencies: tuple[float, ...] = (),
    histogram: Histogram | None = None,
) -> Observation:
    hist = histogram or Histogram()
    for seconds in latencies:
        hist.observe(seconds)
    stats = NodeStatistics(
        name=f"n-{node_id}", id=node_id, state="running", published=sum((published or {}).values()),
        received=received, delivered=received, dropped={"overflow": 1}, expired=0, gaps=0, lost=lost,
        dead_letters=0, queued=0, subscriptions=1, peers=1, handlers_busy=0,
    )  # fmt: skip
    dispatcher = DispatcherStatistics(workers=4, busy=0, dead_runners=0, errors={}, latency=hist.snapshot())
    return Observation(
        stats=stats, mesh="m", role="node", epoch=1, transport_kind="memory", transport=None,
        subscriptions=[],
        dispatcher=dispatcher, request_latency=Histogram().snapshot(),
        peers=[PeerInfo(id="bbbb", name="n-bbbb", mesh="m")], workers=4, published=published or {},
        received_heads=heads or {}, recent_gaps=[], journal=None,
    )  # fmt: skip


def test_a_summary_has_rates_flows_and_the_latency_of_its_interval_only() -> None:
    hist = Histogram()
    before = baseline(
        observe(published={"a.x": 10, "$zbus.stats": 3}, heads={("p1", "t.y"): 100}, histogram=hist), 100.0
    )
    later = observe(
        published={"a.x": 30, "$zbus.stats": 4, "a.new": 4},
        heads={("p1", "t.y"): 140, ("p2", "t.y"): 7, ("p1", "$zbus.stats"): 9},
        received=60,
        lost=2,
        latencies=(0.0002, 0.0002, 0.003, 0.2),
        histogram=hist,
    )
    summary, after = summarize(later, 102.0, before, interval=2.0, http_url="http://h:1")
    assert summary["topics"] == {"a.x": [10.0, 0.0], "t.y": [0.0, 20.0], "a.new": [2.0, 0.0]}
    assert summary["flows"] == {"p1": 20.0, "p2": 0.0}  # a stream first seen now counts from now on
    assert summary["rates"]["published"] == 12.0  # system topics are not the node's events
    assert summary["rates"]["received"] == 20.0 and summary["rates"]["lost"] == 1.0
    assert summary["counters"]["lost"] == 2 and summary["peers"] == [["bbbb", "n-bbbb"]]
    assert summary["latency"]["count"] == 4 and sum(summary["latency"]["buckets"]) == 4
    assert 0.0001 < summary["latency"]["p50"] <= 0.00025
    assert check_summary(summary) is summary
    hist.observe(5.0)  # the next interval sees only what came after
    nxt, _ = summarize(observe(published={"a.x": 30}, histogram=hist), 104.0, after, interval=2.0)
    assert nxt["latency"]["count"] == 1 and nxt["latency"]["p50"] > 2.5


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.update(v=2),
        lambda s: s.update(node=""),
        lambda s: s.update(node="x" * 200),
        lambda s: s.update(ts=-1),
        lambda s: s.update(peers=[["a"]]),
        lambda s: s.update(topics={"t": [1, "fast"]}),
        lambda s: s.update(topics={f"t{i}": [1, 1] for i in range(40)}),
        lambda s: s.update(flows={"p": float("nan")}),
        lambda s: s["latency"].update(buckets=[1, 2]),
        lambda s: s["latency"].update(p50="<script>"),
        lambda s: s.update(counters=[]),
        lambda s: s.update(groups=[["g", "m", -1, 0, 0]]),
        lambda s: s.update(groups=[["g", "m", 1, 0]]),
        lambda s: s.update(groups=[["g", "m", 0, 0, 0]] * 51),
    ],
)
def test_malformed_summaries_are_refused(damage: Any) -> None:
    summary, _ = summarize(observe(published={"a.x": 1}), 1.0, baseline(observe(), 0.0), interval=1.0)
    bad = copy.deepcopy(summary)
    damage(bad)
    with pytest.raises(BadSummary):
        check_summary(bad)
    view = MeshView(window=60, interval=1)
    assert not view.add(bad, 1.0) and view.dropped == 1 and len(view) == 0
    assert not view.add("not a map", 1.0) and view.dropped == 2


def _summary(
    node_id: str, ts: float, topics: dict[str, list[float]], flows: dict[str, float]
) -> dict[str, Any]:
    summary, _ = summarize(
        observe(node_id=node_id), ts, baseline(observe(node_id=node_id), ts - 1), interval=1
    )
    summary["topics"], summary["flows"] = topics, flows
    return summary


def test_the_view_merges_nodes_into_edges_topics_and_series() -> None:
    view = MeshView(window=10, interval=1)
    for t in (100.0, 101.0, 102.0):
        view.add(_summary("pub1", t, {"a.x": [10.0, 0.0]}, {}), t)
        view.add(_summary("pub2", t, {"a.x": [5.0, 0.0], "b.y": [1.0, 0.0]}, {}), t)
        view.add(_summary("sub1", t, {"a.x": [0.0, 15.0]}, {"pub1": 10.0, "pub2": 5.0}), t)
    doc = view.document(102.5)
    assert [n["name"] for n in doc["nodes"]] == ["n-pub1", "n-pub2", "n-sub1"]
    assert not any(n["stale"] for n in doc["nodes"])
    assert {(e["from_name"], e["to_name"], e["rate"]) for e in doc["edges"]} == {
        ("n-pub1", "n-sub1", 10.0),
        ("n-pub2", "n-sub1", 5.0),
    }
    assert doc["topics"][0] == {"topic": "a.x", "published": 15.0, "received": 15.0}
    assert doc["series"]["t"] == [101.0, 102.0, 103.0]
    assert doc["series"]["topics"] == {"a.x": [15.0, 15.0, 15.0], "b.y": [1.0, 1.0, 1.0]}
    assert set(doc["series"]["latency"]) == {"p50", "p90", "p99"}
    assert [n["stale"] for n in view.document(106.0)["nodes"]] == [True, True, True]
    assert view.document(113.0)["nodes"] == []  # unheard for a whole window: forgotten


def test_a_publishers_view_of_its_queue_group_members_is_in_its_summary() -> None:
    member = GroupMemberStatistics(
        group="workers", member="cccc", name="w1", credit=64, in_flight=3, sent=10, acked=7, redelivered=1
    )
    o = observe()
    with_groups = dataclasses.replace(o, groups=GroupStatistics(members=(member,)))
    summary, _ = summarize(with_groups, 1.0, baseline(o, 0.0), interval=1.0)
    assert summary["groups"] == [["workers", "w1", 3, 7, 1]]
    assert "groups" not in summarize(o, 1.0, baseline(o, 0.0), interval=1.0)[0]  # none: left out
    view = MeshView(window=60, interval=1)
    assert view.add(check_summary(summary), 1.0)
    assert view.document(1.0)["nodes"][0]["groups"] == [["workers", "w1", 3, 7, 1]]
