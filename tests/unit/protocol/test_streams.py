"""StreamTracker against a fake lossy link (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zbus.protocol.streams import StreamTracker, Verdict


def test_in_order_gap_duplicate() -> None:
    t = StreamTracker()
    assert t.observe("n", 1, "a", 5).verdict is Verdict.DELIVER  # late join: baseline
    assert t.observe("n", 1, "a", 6).verdict is Verdict.DELIVER
    gap = t.observe("n", 1, "a", 9)
    assert gap.verdict is Verdict.GAP and (gap.first_missing, gap.last_missing, gap.missing) == (7, 8, 2)
    assert t.observe("n", 1, "a", 9).verdict is Verdict.DUPLICATE
    assert t.observe("n", 1, "a", 3).verdict is Verdict.DUPLICATE
    assert t.observe("n", 1, "b", 1).verdict is Verdict.DELIVER  # streams are per topic
    assert t.observe("n", 2, "a", 1).verdict is Verdict.DELIVER  # a restart resets the stream
    assert t.observe("n", 1, "a", 10).verdict is Verdict.DUPLICATE  # the old incarnation is over
    t.forget_node("n")
    assert len(t) == 0


@given(st.lists(st.tuples(st.sampled_from("ab"), st.booleans(), st.booleans()), max_size=80))
def test_delivered_plus_lost_equals_published(script: list[tuple[str, bool, bool]]) -> None:
    """Publish per-topic sequences over a link that drops or duplicates; every event is either
    delivered once, in order, or counted as lost (except a lost tail, which heartbeats report)."""
    t = StreamTracker()
    seqs: dict[str, int] = {}
    delivered: dict[str, list[int]] = {"a": [], "b": []}
    lost: dict[str, int] = {"a": 0, "b": 0}
    for topic, drop, dup in script:
        seqs[topic] = seqs.get(topic, 0) + 1
        if drop:
            continue
        for _ in range(2 if dup else 1):
            obs = t.observe("n", 1, topic, seqs[topic])
            if obs.verdict is not Verdict.DUPLICATE:
                delivered[topic].append(seqs[topic])
                lost[topic] += obs.missing
    for topic, got in delivered.items():
        assert got == sorted(set(got))
        if got:
            assert len(got) + lost[topic] == got[-1] - got[0] + 1


def test_forget_topics() -> None:
    t = StreamTracker()
    t.observe("n", 1, "a", 1)
    t.observe("n", 1, "b", 1)
    t.forget_topics(lambda topic: topic == "a")
    assert t.head("n", "a") == 0 and t.head("n", "b") == 1
