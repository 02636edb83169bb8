"""Greetings: backoff, ties by 'via', forgetting only on discovery's word."""

from __future__ import annotations

import itertools

from zbus.protocol.greetings import Greetings


def test_greet_now_then_back_off_to_the_cap() -> None:
    g = Greetings(base=3, cap=30)
    g.found("tcp://a:1", "", now=0)
    never = lambda endpoint, node_id: False  # noqa: E731
    times = [t for t in range(200) if g.due(t, never)]
    assert times[:5] == [0, 3, 9, 21, 45] and all(b - a == 30 for a, b in itertools.pairwise(times[4:]))


def test_live_peer_is_not_greeted_and_resets_backoff() -> None:
    g = Greetings(base=3, cap=30)
    g.found("tcp://a:1", "", now=0)
    assert g.due(0, lambda e, n: False) == ["tcp://a:1"]
    g.answered("tcp://a:1", "peer-a")
    peers = {"peer-a"}
    assert g.due(100, lambda e, n: n in peers) == []
    peers.clear()  # partitioned: greeted again, starting from the short interval
    assert g.due(103, lambda e, n: n in peers) == ["tcp://a:1"]
    assert g.due(106, lambda e, n: n in peers) == ["tcp://a:1"]


def test_only_discovery_forgets() -> None:
    g = Greetings()
    g.found("tcp://a:1", "id-a", now=0)
    g.found("tcp://b:1", "id-b", now=0)
    for t in range(0, 10_000, 7):
        g.due(t, lambda e, n: False)
    assert len(g) == 2
    g.lost("id-a")
    assert "tcp://a:1" not in g and "tcp://b:1" in g


def test_repeated_suggestions_keep_the_backoff_but_a_new_node_resets_it() -> None:
    g = Greetings(base=3, cap=30)
    never = lambda endpoint, node_id: False  # noqa: E731
    g.found("tcp://a:1", "", now=0)
    assert g.due(0, never) == ["tcp://a:1"]
    for t in (1, 2, 3):
        g.found("tcp://a:1", "", now=t)  # static discovery repeats itself every few seconds
    assert g.due(3, never) == ["tcp://a:1"] and g.due(8, never) == []  # next one only at 9
    g.found("tcp://a:1", "new-id", now=8)  # mDNS: another node (a restart) behind the endpoint
    assert g.due(8, never) == ["tcp://a:1"]


def test_hostile_discovery_is_bounded_rule_4() -> None:
    g = Greetings(base=3, cap=30, max_endpoints=3)
    never = lambda endpoint, node_id: False  # noqa: E731
    assert all(g.found(f"tcp://h:{i}", f"id-{i}", now=0) for i in range(3))
    assert not g.found("tcp://h:99", "id-99", now=0)  # refused: the caller counts discovery_full
    assert g.found("tcp://h:0", "id-0", now=1)  # a known endpoint is never refused
    assert len(g) == 3
    assert g.due(0, never, limit=2) == ["tcp://h:0", "tcp://h:1"]  # at most `limit` at once ...
    assert g.due(0, never, limit=2) == ["tcp://h:2"]  # ... the rest stay due, untouched
    g.forget("tcp://h:1")  # it cannot be connected to at all
    assert "tcp://h:1" not in g and g.found("tcp://h:99", "id-99", now=5)  # room again
