"""ReplayPull without sockets or asyncio: plans, chunks, lost answers, timeouts, holes, the hold limit.

The property test runs a simulated publisher (a journal with holes, a network that drops pulled events
and REPAIR_DONE answers and delivers late, live events racing the pull) and checks the oracle: per
stream, what the subscription gets is strictly increasing, and got + reported lost is exactly every
sequence from the first planned to the last published.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zbus.errors import LocalProtocolError
from zbus.model.event import Event
from zbus.protocol.pull import (
    NO_ANSWER,
    NOT_HELD,
    Deliver,
    Expect,
    PlanGivenUp,
    PullAction,
    PullState,
    ReplayPull,
    SendRepair,
    SendReplay,
)
from zbus.protocol.repair import LostEvents


def ev(topic: str, seq: int, node: str = "p") -> Event:
    event = Event(topic, {})
    event._node_id, event._seq = node, seq
    return event


def of(actions: list[PullAction], kind: type) -> list:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, kind)]


def seqs(actions: list[PullAction]) -> list[int]:
    return [e._seq for d in of(actions, Deliver) for e in d.events]


def pull(**options: float) -> ReplayPull:
    settings: dict[str, float] = {"plan_timeout": 1.0, "pull_timeout": 1.0} | options
    return ReplayPull("p", ["t"], **settings)  # type: ignore[arg-type]


def test_history_then_held_live_events_without_duplicate_at_the_seam() -> None:
    p = pull()
    assert of(p.start(0), SendReplay) == [SendReplay(pattern="t", since=0.0, last=0, start={})]
    assert not p.live(ev("t", 5)) and not p.live(ev("t", 6))  # live during the replay: held
    actions = p.on_plan({"t": (1, 5)}, 0)  # 5 was in flight when the plan was made
    assert actions == [SendRepair(topic="t", first=1, last=5)]
    for seq in range(1, 6):
        p.on_data(ev("t", seq))
    actions = p.on_done("t", 1, 5, [], 0)
    assert [d.replayed for d in of(actions, Deliver)] == [True, False]
    assert seqs(actions) == [1, 2, 3, 4, 5, 6]  # 6 released after the history, 5 not twice
    assert of(actions, Expect) == [Expect(topic="t", next_seq=6)]
    assert p.state is PullState.DONE and p.held() == 0
    assert not p.live(ev("t", 5))  # replayed already
    assert p.live(ev("t", 7))


def test_a_lost_plan_is_asked_again_then_given_up() -> None:
    p = pull(plan_attempts=2)
    p.start(0)
    assert p.tick(0.5) == []
    assert len(of(p.tick(1.0), SendReplay)) == 1  # second try
    p.live(ev("t", 9))
    actions = p.tick(2.0)
    assert of(actions, PlanGivenUp) == [PlanGivenUp(attempts=2)]
    assert seqs(actions) == [9] and p.done


def test_an_answer_is_due_a_full_timeout_after_it_was_sent() -> None:
    p = pull()
    p.start(0)
    p.sent(5.0)  # the caller was delayed (backpressure) before the ask went out
    assert p.deadline == 6.0 and p.tick(5.5) == []


def test_a_chunk_lost_in_transit_is_asked_again_from_the_first_missing_event() -> None:
    p = pull()
    p.start(0)
    p.on_plan({"t": (1, 4)}, 0)
    for seq in (1, 2, 4):  # 3 dropped in transit
        p.on_data(ev("t", seq))
    actions = p.on_done("t", 1, 4, [], 0)
    assert seqs(actions) == [1, 2]
    assert of(actions, SendRepair) == [SendRepair(topic="t", first=3, last=4)]


def test_answers_that_bring_nothing_give_the_range_up() -> None:
    p = pull(pull_attempts=2)
    p.start(0)
    p.on_plan({"t": (1, 4)}, 0)
    assert of(p.on_done("t", 1, 4, [], 0), SendRepair) == [SendRepair(topic="t", first=1, last=4)]
    actions = p.on_done("t", 1, 4, [], 0)
    assert of(actions, LostEvents) == [LostEvents("p", "t", 1, 4, NOT_HELD)]
    assert p.done and p.heads == {"t": 4}


def test_no_answer_times_out_and_is_reported_lost() -> None:
    p = pull(pull_attempts=2)
    p.start(0)
    p.on_plan({"t": (1, 4), "u": (1, 1)}, 0)
    assert of(p.tick(1.0), SendRepair) == [SendRepair(topic="t", first=1, last=4)]
    actions = p.tick(2.0)
    assert of(actions, LostEvents) == [LostEvents("p", "t", 1, 4, NO_ANSWER)]
    assert of(actions, SendRepair) == [SendRepair(topic="u", first=1, last=1)]  # the next range
    assert p.on_done("t", 1, 4, [], 2.0) == []  # a late answer to the given-up ask is ignored


def test_ranges_the_publisher_does_not_hold_are_reported_lost() -> None:
    p = pull()
    p.start(0)
    p.on_plan({"t": (1, 6)}, 0)
    for seq in (1, 5, 6):
        p.on_data(ev("t", seq))
    actions = p.on_done("t", 1, 6, [(2, 4)], 0)
    assert [type(a).__name__ for a in actions][:3] == ["Deliver", "LostEvents", "Deliver"]
    assert seqs(actions) == [1, 5, 6]
    assert of(actions, LostEvents) == [LostEvents("p", "t", 2, 4, NOT_HELD)]


def test_the_hole_before_the_first_held_event_is_pulled() -> None:
    p = pull()
    p.start(0)
    p.live(ev("t", 8))  # 4..7 were in flight: neither planned nor held
    p.on_plan({"t": (1, 3)}, 0)
    for seq in (1, 2, 3):
        p.on_data(ev("t", seq))
    actions = p.on_done("t", 1, 3, [], 0)
    assert seqs(actions) == [1, 2, 3]
    assert of(actions, SendRepair) == [SendRepair(topic="t", first=4, last=7)]
    assert p.state is PullState.FILLING
    for seq in range(4, 8):
        p.on_data(ev("t", seq))
    actions = p.on_done("t", 4, 7, [], 0)
    assert seqs(actions) == [4, 5, 6, 7, 8] and p.done


def test_live_events_let_go_of_a_full_hold_are_pulled_later() -> None:
    p = pull(hold_limit=2)
    p.start(0)
    for seq in (1, 2, 3, 4):
        p.live(ev("t", seq))
    assert p.held() == 2 and p.let_go == 2
    actions = p.on_plan({}, 0)  # no history: only the let-go events are pulled
    assert of(actions, SendRepair) == [SendRepair(topic="t", first=1, last=2)]
    p.on_data(ev("t", 1))
    p.on_data(ev("t", 2))
    assert seqs(p.on_done("t", 1, 2, [], 0)) == [1, 2, 3, 4]


def test_stop_finishes_at_once() -> None:
    p = pull()
    p.start(0)
    p.live(ev("t", 3))
    assert seqs(p.stop()) == [3] and p.done
    assert p.stop() == []


def test_start_twice_is_a_local_protocol_error() -> None:
    p = pull()
    p.start(0)
    with pytest.raises(LocalProtocolError, match="start in state PLANNING"):
        p.start(0)


def test_answers_before_the_plan_or_for_other_publishers_are_ignored() -> None:
    p = pull()
    p.start(0)
    p.on_data(ev("t", 1, node="q"))
    assert p.on_done("t", 1, 1, [], 0) == []
    p.on_plan({"t": (1, 1)}, 0)
    p.on_data(ev("t", 1, node="q"))  # another publisher's event
    assert seqs(p.on_done("t", 1, 1, [], 0)) == []


def test_live_events_held_before_the_planned_first_are_delivered_not_dropped() -> None:
    # a burst overran the publisher's ring before its plan was made: the plan starts at 8, the
    # subscriber holds 3..10 live; 3..7 come from the hold, in order, nothing is lost or doubled
    p = pull()
    p.start(0)
    for seq in range(3, 11):
        assert not p.live(ev("t", seq))
    assert p.on_plan({"t": (8, 10)}, 0) == [SendRepair(topic="t", first=3, last=10)]
    for seq in (8, 9, 10):
        p.on_data(ev("t", seq))
    actions = p.on_done("t", 3, 10, [(3, 7)], 0)
    assert seqs(actions) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert of(actions, LostEvents) == [] and p.done


def test_a_durable_start_bounds_what_the_hold_adds() -> None:
    p = ReplayPull("p", ["t"], start={"t": 5}, plan_timeout=1.0, pull_timeout=1.0)
    p.start(0)
    for seq in range(4, 8):  # 4 is at or below the checkpoint: never replayed again
        p.live(ev("t", seq))
    assert of(p.on_plan({"t": (6, 7)}, 0), SendRepair) == [SendRepair(topic="t", first=5, last=7)]
    assert seqs(p.on_done("t", 5, 7, [(5, 7)], 0)) == [5, 6, 7]


@pytest.mark.parametrize("window", [{"last": 2}, {"since": 2e9}])
def test_held_events_outside_the_asked_window_stay_out(window: dict[str, float]) -> None:
    # newest 2 per topic, or history since a time after these events were stamped: the held older
    # events (a late sender, say) are not history, as before
    p = ReplayPull("p", ["t"], plan_timeout=1.0, pull_timeout=1.0, **window)  # type: ignore[arg-type]
    p.start(0)
    for seq in range(1, 5):
        p.live(ev("t", seq))
    assert of(p.on_plan({"t": (3, 4)}, 0), SendRepair) == [SendRepair(topic="t", first=3, last=4)]
    p.on_data(ev("t", 3))
    p.on_data(ev("t", 4))
    assert seqs(p.on_done("t", 3, 4, [], 0)) == [3, 4]


def test_events_let_go_below_the_planned_first_are_asked_for_then_reported() -> None:
    p = pull(hold_limit=2)
    p.start(0)
    for seq in range(1, 6):  # 1..3 let go of the full hold, 4 and 5 held
        p.live(ev("t", seq))
    assert of(p.on_plan({"t": (5, 5)}, 0), SendRepair) == [SendRepair(topic="t", first=1, last=5)]
    p.on_data(ev("t", 5))
    actions = p.on_done("t", 1, 5, [(1, 3)], 0)  # the publisher's ring no longer has 1..3
    assert seqs(actions) == [4, 5]
    assert of(actions, LostEvents) == [LostEvents("p", "t", 1, 3, NOT_HELD)]


# -- property: a simulated publisher and a lossy, late network ---------------------------------------
def simulate(seed: int, history: int, live: int, drop: float, hold_limit: int) -> None:
    rng = random.Random(seed)
    topics = ["a", "b"]
    published = dict.fromkeys(topics, history)
    unheld = {t: {s for s in range(1, 10_000) if s % 13 == 0} for t in topics}  # journal holes
    chunk = 7
    p = ReplayPull(
        "p",
        ["*"],
        hold_limit=hold_limit,
        hole_rounds=10_000,  # the oracle needs every hole pulled (bounded by the live events here)
        plan_timeout=1.0,
        pull_timeout=1.0,
        pull_attempts=3,
    )
    got: dict[str, list[int]] = {t: [] for t in topics}
    lost: dict[str, list[int]] = {t: [] for t in topics}
    net: deque[Callable[[float], list[PullAction]]] = deque()  # publisher -> puller, in order
    live_path: deque[Event] = deque()  # live events in flight to the subscriber
    now = 0.0

    def plan_arrives(plan: dict[str, tuple[int, int]]) -> Callable[[float], list[PullAction]]:
        return lambda now: p.on_plan(plan, now)

    def data_arrives(event: Event) -> Callable[[float], list[PullAction]]:
        def step(now: float) -> list[PullAction]:
            p.on_data(event)
            return []

        return step

    def done_arrives(
        topic: str, first: int, last: int, missing: list[tuple[int, int]]
    ) -> Callable[[float], list[PullAction]]:
        return lambda now: p.on_done(topic, first, last, missing, now)

    def execute(actions: list[PullAction]) -> None:
        for a in actions:
            if isinstance(a, Deliver):
                for e in a.events:
                    got[e._topic].append(e._seq)
            elif isinstance(a, LostEvents):
                lost[a.topic].extend(range(a.first, a.last + 1))
            elif isinstance(a, SendReplay):
                plan = {t: (1, published[t]) for t in topics if published[t]}
                net.append(plan_arrives(plan))
            elif isinstance(a, SendRepair):
                last = min(a.last, a.first + chunk - 1)
                for s in range(a.first, last + 1):
                    if s not in unheld[a.topic] and rng.random() >= drop:
                        net.append(data_arrives(ev(a.topic, s)))
                missing = [(s, s) for s in range(a.first, last + 1) if s in unheld[a.topic]]
                if rng.random() >= drop:
                    net.append(done_arrives(a.topic, a.first, last, missing))

    execute(p.start(now))
    for _ in range(50_000):
        if p.done:
            break
        roll = rng.random()
        if roll < 0.3 and live:
            topic = rng.choice(topics)
            published[topic] += 1
            live_path.append(ev(topic, published[topic]))
            live -= 1
        elif roll < 0.5 and live_path:
            event = live_path.popleft()
            if p.live(event):
                got[event._topic].append(event._seq)
        elif roll < 0.9 and net:
            execute(net.popleft()(now))
        else:
            now += 0.5
            execute(p.tick(now))
    assert p.done
    for event in live_path:
        if p.live(event):
            got[event._topic].append(event._seq)
    for topic in topics:
        assert got[topic] == sorted(set(got[topic])), "delivered out of order or twice"
        assert not set(got[topic]) & set(lost[topic]), "an event both delivered and reported lost"
        expected = list(range(1, published[topic] + 1))
        assert sorted(got[topic] + lost[topic]) == expected, "an event neither delivered nor lost"


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    history=st.sampled_from([0, 1, 30, 100]),
    live=st.integers(0, 60),
    drop=st.sampled_from([0.0, 0.1, 0.4]),
    hold_limit=st.sampled_from([1, 3, 1000]),
)
def test_got_plus_lost_is_exactly_the_stream(
    seed: int, history: int, live: int, drop: float, hold_limit: int
) -> None:
    simulate(seed, history, live, drop, hold_limit)
