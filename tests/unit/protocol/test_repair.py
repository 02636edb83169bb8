"""StreamSync against random losses, duplicates, reordering, dropped answers and retention limits.

The oracle: per stream, what is delivered is strictly increasing, and delivered + reported lost is
exactly every sequence number from the baseline (the first delivered) to the last published.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from zbus.protocol.repair import MAX_REPAIR_SPAN, Actions, StreamSync

T = tuple[str, int]


def drive(
    seed: int, n: int, loss: float, dup: float, answer_loss: float, floor: int, runs: bool = False
) -> None:
    rng = random.Random(seed)
    sync: StreamSync[T] = StreamSync(max_pending=50, repair_timeout=1.0, max_attempts=3)
    topics = ["a", "b"]
    delivered: dict[str, list[int]] = {t: [] for t in topics}
    lost: dict[str, list[int]] = {t: [] for t in topics}
    now = 0.0
    epoch = 1  # a journaled publisher that restarts keeps its id and continues its sequences
    inbox: list[tuple[str, int, int]] = []

    def apply(actions: Actions[T] | None, item: T | None = None) -> None:
        if actions is None:
            assert item is not None
            delivered[item[0]].append(item[1])
            return
        for topic, seq in actions.deliver:
            delivered[topic].append(seq)
        for r in actions.lost:
            lost[r.topic].extend(range(r.first, r.last + 1))
        for req in actions.repairs:
            assert req.last - req.first < MAX_REPAIR_SPAN
            if rng.random() < answer_loss:
                continue  # the request or its answer got lost: the timeout must recover
            for seq in range(max(req.first, floor), req.last + 1):
                if rng.random() < loss / 2:
                    continue  # a repaired event dropped in transit: noticed at the answer
                apply(sync.observe("p", epoch, req.topic, seq, (req.topic, seq), now), (req.topic, seq))
            missing = [(req.first, min(req.last, floor - 1))] if req.first < floor else []
            apply(sync.answered("p", req.topic, req.first, req.last, missing, now))

    def take_run(inbox: list[tuple[str, int, int]]) -> None:
        """What Recovery.observe_batch does with a batch message: the head of the inbox and the items
        right behind it of one topic and epoch with consecutive seqs, taken at once when take_run
        agrees, otherwise observed one by one."""
        topic, first, e = inbox[0]
        count = 1
        while count < len(inbox) and inbox[count] == (topic, first + count, e):
            count += 1
        del inbox[:count]
        if sync.take_run("p", e, topic, first, count):
            delivered[topic].extend(range(first, first + count))
            return
        for seq in range(first, first + count):
            apply(sync.observe("p", e, topic, seq, (topic, seq), now), (topic, seq))

    for seq in range(1, n + 1):
        if rng.random() < 0.02:
            epoch += 1  # restart: events of the old epoch may still be in flight
        for topic in topics:
            if rng.random() >= loss:
                inbox.append((topic, seq, epoch))
                if rng.random() < dup:
                    inbox.append((topic, seq, epoch))
        if rng.random() < 0.3:
            rng.shuffle(inbox)  # reordering within a small window
        while len(inbox) > 3:
            if runs and rng.random() < 0.5:
                take_run(inbox)
                continue
            topic, s, e = inbox.pop(0)
            apply(sync.observe("p", e, topic, s, (topic, s), now), (topic, s))
        if seq % 7 == 0:
            for topic in topics:
                apply(sync.heartbeat("p", epoch, topic, seq, now))
        now += 0.1
        apply(sync.tick(now, {"p"}))
    for topic, s, e in inbox:
        apply(sync.observe("p", e, topic, s, (topic, s), now), (topic, s))
    for topic in topics:
        apply(sync.heartbeat("p", epoch, topic, n, now))
    for _ in range(4 * n):  # let every outstanding request be answered or time out (bounded)
        if not sync.outstanding():
            break
        now += 1.0
        apply(sync.tick(now, {"p"}))
    assert sync.outstanding() == 0
    assert sync.held() == 0
    for topic in topics:
        got = delivered[topic]
        if not got:
            continue
        assert got == sorted(set(got)), "delivered out of order or twice"
        assert not set(got) & set(lost[topic]), "an event both delivered and reported lost"
        assert sorted(got + lost[topic]) == list(range(got[0], n + 1)), "an event neither delivered nor lost"
        if floor <= 1:
            # with everything still journaled, losses come only from unanswered requests
            assert len(lost[topic]) <= n


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 300),
    loss=st.sampled_from([0.0, 0.05, 0.3]),
    dup=st.sampled_from([0.0, 0.1]),
    answer_loss=st.sampled_from([0.0, 0.2, 1.0]),
    floor=st.sampled_from([0, 50]),
    runs=st.booleans(),
)
def test_delivered_plus_lost_is_exactly_the_published_stream(
    seed: int, n: int, loss: float, dup: float, answer_loss: float, floor: int, runs: bool
) -> None:
    """``runs``: events also arrive as batch messages (``take_run``, then one by one if it declines)."""
    drive(seed, n, loss, dup, answer_loss, floor, runs)


def observe(
    sync: StreamSync[int], node: str, epoch: int, topic: str, seq: int, item: int, now: float
) -> Actions[int]:
    actions = sync.observe(node, epoch, topic, seq, item, now)
    return Actions([item]) if actions is None else actions


def test_a_gap_is_repaired_in_order() -> None:
    sync: StreamSync[int] = StreamSync()
    assert observe(sync, "p", 1, "t", 1, 1, 0).deliver == [1]
    actions = observe(sync, "p", 1, "t", 4, 4, 0)
    assert actions.deliver == []
    assert [(r.first, r.last) for r in actions.repairs] == [(2, 3)]
    assert observe(sync, "p", 1, "t", 2, 2, 0).deliver == [2]
    assert observe(sync, "p", 1, "t", 3, 3, 0).deliver == [3, 4]
    assert sync.answered("p", "t", 2, 3, [], 0).repairs == []
    assert observe(sync, "p", 1, "t", 3, 3, 0).duplicate


def test_an_unservable_range_is_reported_lost_and_the_stream_moves_on() -> None:
    sync: StreamSync[int] = StreamSync()
    observe(sync, "p", 1, "t", 10, 10, 0)
    observe(sync, "p", 1, "t", 15, 15, 0)
    actions = sync.answered("p", "t", 11, 14, [(11, 14)], 0)
    assert [(r.first, r.last, r.reason) for r in actions.lost] == [(11, 14, "not in the publisher's journal")]
    assert actions.deliver == [15]


def test_no_answer_gives_up_after_max_attempts() -> None:
    sync: StreamSync[int] = StreamSync(repair_timeout=1.0, max_attempts=2)
    observe(sync, "p", 1, "t", 1, 1, 0)
    assert len(observe(sync, "p", 1, "t", 3, 3, 0).repairs) == 1
    assert len(sync.tick(1.0, {"p"}).repairs) == 1  # second attempt
    actions = sync.tick(2.0, {"p"})
    assert [(r.first, r.last) for r in actions.lost] == [(2, 2)]
    assert actions.deliver == [3]
    assert sync.outstanding() == 0


def test_tail_loss_from_a_heartbeat_is_requested() -> None:
    sync: StreamSync[int] = StreamSync()
    observe(sync, "p", 1, "t", 1, 1, 0)
    assert [(r.first, r.last) for r in sync.heartbeat("p", 1, "t", 5, 0).repairs] == [(2, 5)]


def test_a_publisher_restart_that_continues_its_sequence_is_one_stream() -> None:
    sync: StreamSync[int] = StreamSync()
    observe(sync, "p", 1, "t", 7, 7, 0)
    actions = observe(sync, "p", 2, "t", 9, 9, 0)  # new epoch, sequence continues: 8 is missing
    assert [(r.first, r.last) for r in actions.repairs] == [(8, 8)]


def test_a_publisher_that_lost_its_journal_starts_a_new_stream() -> None:
    sync: StreamSync[int] = StreamSync()
    observe(sync, "p", 1, "t", 7, 7, 0)
    actions = observe(sync, "p", 2, "t", 1, 1, 0)
    assert actions.deliver == [1]
    assert sync.next_seq("p", "t") == 2


def test_a_publisher_that_leaves_owes_its_holes_as_losses() -> None:
    sync: StreamSync[int] = StreamSync()
    observe(sync, "p", 1, "t", 1, 1, 0)
    observe(sync, "p", 1, "t", 4, 4, 0)
    actions = sync.forget_node("p")
    assert actions.deliver == [4]
    assert [(r.first, r.last, r.reason) for r in actions.lost] == [(2, 3, "publisher left")]


def test_a_head_remembered_without_asking_is_reported_lost_when_the_publisher_leaves() -> None:
    """A BYE read while our backlog stalls our reading: its head is kept, nothing is asked for yet,
    and what never came is lost (not missing in silence) once the publisher is gone."""
    sync: StreamSync[int] = StreamSync()
    observe(sync, "p", 1, "t", 1, 1, 0)
    assert sync.heartbeat("p", 0, "t", 5, 0.0, ask=False).repairs == []
    assert sync.outstanding() == 0
    observe(sync, "p", 1, "t", 2, 2, 0)
    actions = sync.forget_node("p")
    assert [(r.first, r.last, r.reason) for r in actions.lost] == [(3, 5, "publisher left")]


def test_expect_sets_the_baseline_before_the_first_live_event() -> None:
    sync: StreamSync[int] = StreamSync()
    sync.expect("p", "t", 5)
    actions = observe(sync, "p", 1, "t", 8, 8, 0)
    assert [(r.first, r.last) for r in actions.repairs] == [(5, 7)]


def test_events_beyond_the_reorder_window_are_asked_for_again_not_lost() -> None:
    sync: StreamSync[int] = StreamSync(max_pending=3, max_span=100)
    observe(sync, "p", 1, "t", 1, 1, 0)
    delivered: list[int] = []
    lost: list[tuple[int, int]] = []
    for seq in range(3, 9):  # 3, 4, 5 fit the window after the hole at 2; 6, 7, 8 do not
        actions = observe(sync, "p", 1, "t", seq, seq, 0)
        delivered += actions.deliver
        lost += [(r.first, r.last) for r in actions.lost]
    assert (delivered, lost, sync.held()) == ([], [], 3)
    # the repair of the hole brings 2; the window is released, and the rest is asked for at once
    actions = observe(sync, "p", 1, "t", 2, 2, 0)
    assert actions.deliver == [2, 3, 4, 5]
    answer = sync.answered("p", "t", 2, 2, [], 0)
    assert [(r.first, r.last) for r in answer.repairs] == [(6, 8)]
    for seq in (6, 7, 8):
        delivered += observe(sync, "p", 1, "t", seq, seq, 0).deliver
    assert delivered == [6, 7, 8] and sync.held() == 0 and lost == []


def test_a_far_behind_subscriber_catches_up_one_span_at_a_time() -> None:
    """A publisher 10,000 events ahead: requests of max_span, each after the last is answered."""
    sync: StreamSync[int] = StreamSync(max_pending=100, max_span=1000)
    observe(sync, "p", 1, "t", 1, 1, 0)
    asked = sync.heartbeat("p", 1, "t", 10_001, 0).repairs
    delivered = 0
    rounds = 0
    while asked:
        (req,) = asked
        assert req.last - req.first + 1 <= 1000
        for seq in range(req.first, req.last + 1):
            delivered += len(observe(sync, "p", 1, "t", seq, seq, 0).deliver)
        asked = sync.answered("p", "t", req.first, req.last, [], 0).repairs
        rounds += 1
    assert (delivered, rounds, sync.next_seq("p", "t")) == (10_000, 10, 10_002)


def test_the_baseline_callback_starts_a_new_stream_at_the_publishers_first_event() -> None:
    sync: StreamSync[int] = StreamSync(baseline=lambda node, topic: 1 if node == "new" else None)
    actions = observe(sync, "new", 1, "t", 3, 3, 0)
    assert (actions.deliver, [(r.first, r.last) for r in actions.repairs]) == ([], [(1, 2)])
    assert observe(sync, "old", 1, "t", 3, 3, 0).deliver == [3]  # no baseline: starts at what it sees
    # a heartbeat may be the first sign of a stream (its events were all dropped by the slow join)
    assert [(r.first, r.last) for r in sync.heartbeat("new", 1, "u", 2, 0).repairs] == [(1, 2)]
    assert sync.heartbeat("old", 1, "u", 2, 0).repairs == []


def test_each_answered_hole_starts_a_fresh_attempt_count() -> None:
    sync: StreamSync[int] = StreamSync(max_attempts=2)
    sync.observe("p", 1, "t", 1, 1, 0)
    for k in range(5):  # five separate holes, each answered "missing": never "did not answer"
        base = 10 * k + 1
        sync.observe("p", 1, "t", base + 5, base + 5, 0)
        actions = sync.answered(
            "p", "t", sync.next_seq("p", "t"), base + 4, [(sync.next_seq("p", "t"), base + 4)], 0
        )
        assert {r.reason for r in actions.lost} == {"not in the publisher's journal"}


def test_the_holes_of_a_publisher_that_does_not_answer_are_reported_one_timeout_apart() -> None:
    # (they used to take max_attempts timeouts each: a silent peer's 100 holes took 5 minutes)
    sync: StreamSync[int] = StreamSync(repair_timeout=1.0, max_attempts=3)
    observe(sync, "p", 1, "t", 1, 1, 0)
    for seq in (3, 5, 7, 9):  # four holes: 2, 4, 6, 8
        observe(sync, "p", 1, "t", seq, seq, 0)
    lost: list[tuple[float, int]] = []
    now = 0.0
    while len(lost) < 4:
        now += 1.0
        assert now <= 20, lost
        lost += [(now, r.first) for r in sync.tick(now, {"p"}).lost]
    # the first hole after max_attempts requests, each later one after a single request
    assert lost == [(3.0, 2), (4.0, 4), (5.0, 6), (6.0, 8)]
    assert sync.next_seq("p", "t") == 10
    # a hole that opens once the stream was whole again gets max_attempts requests once more
    assert observe(sync, "p", 1, "t", 10, 10, now).deliver == [10]
    observe(sync, "p", 1, "t", 12, 12, now)
    start, gone = now, []
    while not gone:
        now += 1.0
        gone = sync.tick(now, {"p"}).lost
    assert now - start == 3.0 and [(r.first, r.last) for r in gone] == [(11, 11)]


def test_a_publisher_that_cannot_answer_is_waited_for_without_counting_attempts() -> None:
    sync: StreamSync[int] = StreamSync(repair_timeout=1.0, max_attempts=2)
    observe(sync, "p", 1, "t", 1, 1, 0)
    observe(sync, "p", 1, "t", 3, 3, 0)
    assert sync.overdue(0.5) == set()
    for now in (1.0, 2.0, 3.0, 4.0):  # away: no re-send, no give-up
        assert sync.overdue(now) == {"p"}
        actions = sync.tick(now, frozenset())
        assert (actions.repairs, actions.lost) == ([], [])
    assert len(sync.tick(5.0, {"p"}).repairs) == 1  # back: the second attempt
    assert [(r.first, r.last) for r in sync.tick(6.0, {"p"}).lost] == [(2, 2)]


def test_max_span_caps_each_request() -> None:
    sync: StreamSync[int] = StreamSync(max_span=10)
    observe(sync, "p", 1, "t", 1, 1, 0)
    assert [(r.first, r.last) for r in sync.heartbeat("p", 1, "t", 100, 0).repairs] == [(2, 11)]


def test_take_run_takes_only_the_next_run_of_a_stream_in_order() -> None:
    sync: StreamSync[int] = StreamSync(max_pending=50, repair_timeout=1.0, max_attempts=3)
    assert not sync.take_run("p", 1, "t", 1, 4)  # an unknown stream: its first event sets the baseline
    assert sync.observe("p", 1, "t", 1, 1, 0.0) is None
    assert sync.take_run("p", 1, "t", 2, 4)  # 2..5: next in order
    assert sync.next_seq("p", "t") == 6
    assert not sync.take_run("p", 1, "t", 8, 2)  # a hole (6, 7) before it: observed one by one
    assert not sync.take_run("p", 1, "t", 3, 2)  # already had: duplicates, observed one by one
    actions = sync.observe("p", 1, "t", 8, 8, 0.0)  # the hole is asked for ...
    assert actions is not None and [(r.first, r.last) for r in actions.repairs] == [(6, 7)]
    assert not sync.take_run("p", 1, "t", 6, 2)  # ... and while it is, nothing bypasses the repair
    assert sync.next_seq("p", "t") == 6
    assert not sync.take_run("p", 0, "t", 6, 1)  # an older epoch's events take the careful path
