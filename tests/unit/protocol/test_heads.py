"""Heads: sent-only, sticky for ``memory`` seconds, at most ``max_topics`` topics."""

from __future__ import annotations

from zbus.protocol.heads import Heads


def test_nothing_sent_nothing_announced() -> None:
    assert Heads().heads(now=0) == {}


def test_a_head_is_the_last_sequence_sent() -> None:
    h = Heads()
    h.sent("a", 1)
    h.sent("a", 2)
    h.sent("b", 7)
    assert h.heads(now=0) == {"a": 2, "b": 7}


def test_heads_stick_for_memory_seconds_after_the_last_publish() -> None:
    h = Heads(memory=30, max_topics=256)
    h.sent("a", 1)
    assert h.heads(now=100) == {"a": 1}
    assert h.heads(now=110) == {"a": 1}, "no publish since: still announced"
    assert h.heads(now=130) == {"a": 1}, "exactly memory seconds old: still announced"
    assert h.heads(now=130.5) == {}, "past memory: forgotten"


def test_a_new_publish_renews_the_memory() -> None:
    h = Heads(memory=30)
    h.sent("a", 1)
    h.heads(now=0)
    h.sent("a", 5)
    assert h.heads(now=20) == {"a": 5}
    assert h.heads(now=45) == {"a": 5}, "30 s counted from the second publish"
    assert h.heads(now=51) == {}


def test_at_most_max_topics_collected_between_heartbeats_but_known_ones_update() -> None:
    h = Heads(max_topics=2)
    h.sent("a", 1)
    h.sent("b", 1)
    h.sent("c", 1)  # a third topic before the heartbeat: not collected
    h.sent("a", 9)  # a collected topic always updates
    assert h.heads(now=0) == {"a": 9, "b": 1}


def test_only_the_most_recently_published_topics_are_announced() -> None:
    h = Heads(memory=30, max_topics=2)
    for now, topic in enumerate(["old", "mid", "new"]):
        h.sent(topic, 1)
        announced = h.heads(now=float(now))
    assert announced == {"mid": 1, "new": 1}


def test_zero_memory_announces_only_what_was_sent_since_the_last_heartbeat_at_the_same_instant() -> None:
    h = Heads(memory=0)
    h.sent("a", 3)
    assert h.heads(now=5) == {"a": 3}
    assert h.heads(now=5.001) == {}
