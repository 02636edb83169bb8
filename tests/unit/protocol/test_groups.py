"""GroupBook: the publisher's queue-group decisions, driven with membership, offers, acks and ``now``.

Each test feeds the book what a publisher sees (members announced, events published, acks, time
passing) and checks what it decides: who gets each event, what waits, what is delivered again and
what is given up on.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from zbus.protocol.groups import TIMERS_SLACK, Actions, GroupBook, Owed
from zbus.protocol.shares import ACK_BATCH_MAX, ack_batch, level, rendezvous


def book(ack_wait: float = 10.0, max_deliver: int = 3) -> GroupBook:
    return GroupBook(ack_wait=ack_wait, max_deliver=max_deliver)


Ads = dict[str, dict[str, tuple[tuple[str, ...], int]]]


def ads(*members: str, credit: int = 2, pattern: str = "task.*", group: str = "w") -> Ads:
    return {m: {group: ((pattern,), credit)} for m in members}


def sent(actions: Actions) -> list[tuple[str, int]]:
    return [(s.member, o.seq) for s in actions.sends for o in s.events]


def offer(b: GroupBook, seq: int, key: str | None = None, now: float = 0.0, topic: str = "task.a") -> Actions:
    return b.offer("w", topic, seq, key, None, now)


def ids_of(actions: Actions, member: str) -> list[int]:
    return [o.id for s in actions.sends if s.member == member for o in s.events]


def test_one_member_per_event_and_least_loaded_first() -> None:
    b = book()
    b.set_members(ads("a", "b", credit=10), 0.0)
    assert b.groups_for("task.a") == ("w",)
    assert b.groups_for("other.a") == ()
    members = [m for seq in range(1, 11) for m, _ in sent(offer(b, seq))]
    assert Counter(members) == {"a": 5, "b": 5}  # equal load: they alternate


def test_credit_bounds_what_a_member_holds_and_acks_release_waiting_events() -> None:
    b = book()
    b.set_members(ads("a", credit=2), 0.0)
    first = [offer(b, seq) for seq in (1, 2, 3, 4)]
    assert [sent(a) for a in first] == [[("a", 1)], [("a", 2)], [], []]
    assert b.waiting == 2 and b.in_flight == 2
    released = b.ack("a", [first[0].sends[0].events[0].id], 1.0)
    assert sent(released) == [("a", 3)]  # oldest waiting first
    assert [o.seq for o in released.finished] == [1]


def test_a_run_goes_out_as_one_send_per_member_least_loaded_first_within_credit() -> None:
    b = book()
    b.set_members(ads("a", "b", "c", credit=4), 0.0)
    assert len(sent(offer(b, 1))) == 1  # one member holds one event
    run = b.offer_run("w", "task.a", [(seq, None, None) for seq in range(2, 12)], 0.0)
    assert len({s.member for s in run.sends}) == len(run.sends) == 3  # one send per member
    assert sorted(c.in_flight for c in b.counts()) == [3, 4, 4]  # 11 events levelled out
    for send in run.sends:
        seqs = [o.seq for o in send.events]
        assert seqs == sorted(seqs)  # each member's share in publish order
    assert b.in_flight == 11 and b.waiting == 0
    more = b.offer_run("w", "task.a", [(seq, None, None) for seq in range(12, 16)], 0.0)
    assert [seq for _, seq in sent(more)] == [12] and b.waiting == 3  # one credit was left
    full = [c.member for c in b.counts()]
    released = b.ack(full[0], [i for i, o in b._in_flight.items() if o.member == full[0]], 1.0)
    assert sent(released) == [(full[0], 13), (full[0], 14), (full[0], 15)]  # in order, where room is


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=6), st.integers(0, 40))
def test_level_gives_the_shares_of_one_event_at_a_time_to_the_least_loaded(
    members: list[tuple[int, int]], n: int
) -> None:
    loads = [min(a, b) for a, b in members]
    caps = [max(a, b) for a, b in members]
    n = min(n, sum(caps) - sum(loads))
    expected, now = [0] * len(loads), list(loads)
    for _ in range(n):  # the rule as stated: each event to the least loaded below its cap, first on ties
        best = min((i for i in range(len(now)) if now[i] < caps[i]), key=lambda i: now[i])
        now[best] += 1
        expected[best] += 1
    assert level(loads, caps, n) == expected


def test_a_member_sends_its_acks_at_half_its_credit() -> None:
    # half: the publisher refills one half while the member works on the other; a credit of 1 or 2
    # acks each event; a huge credit still acks in bounded messages
    assert [ack_batch(c) for c in (1, 2, 3, 64, 256, 100_000)] == [1, 1, 1, 32, 128, ACK_BATCH_MAX]


def test_a_slow_member_gets_fewer() -> None:
    b = book()
    b.set_members(ads("fast", "slow", credit=4), 0.0)
    held: dict[str, list[int]] = {"fast": [], "slow": []}
    got: Counter[str] = Counter()
    for seq in range(1, 201):
        actions = offer(b, seq)
        for member in ("fast", "slow"):
            held[member] += ids_of(actions, member)
            got[member] += len(ids_of(actions, member))
        # fast acks everything at once; slow acks one event every 4th publish
        for member, ack in (("fast", held["fast"]), ("slow", held["slow"][:1] if seq % 4 == 0 else [])):
            released = b.ack(member, list(ack), 0.0)
            held[member] = [i for i in held[member] if i not in ack]
            for m in ("fast", "slow"):
                held[m] += ids_of(released, m)
                got[m] += len(ids_of(released, m))
    assert got["slow"] <= 50 + 4 and got["fast"] + got["slow"] == 200, got  # slow: what it acked + credit


def test_unacked_event_is_delivered_again_after_ack_wait_then_given_up() -> None:
    b = book(ack_wait=5.0, max_deliver=2)
    b.set_members(ads("a", "b", credit=1), 0.0)
    first = sent(offer(b, 1))
    assert b.next_due() == 5.0
    assert sent(b.tick(4.9)) == []
    again = b.tick(5.0)
    assert len(sent(again)) == 1 and sent(again)[0][1] == 1
    assert b.redelivered == 1 and first
    final = b.tick(10.0)
    assert [g.owed.seq for g in final.given_up] == [1] and final.given_up[0].reason == "ack_wait expired"
    assert b.in_flight == 0 and b.waiting == 0 and b.given_up == 1


def test_in_progress_restarts_the_ack_wait() -> None:
    b = book(ack_wait=5.0)
    b.set_members(ads("a", credit=1), 0.0)
    delivery = offer(b, 1).sends[0].events[0].id
    b.in_progress("a", [delivery], 4.0)
    assert not b.tick(8.0)
    assert sent(b.tick(9.0)) == [("a", 1)]


def test_a_member_leaving_gives_its_events_to_another_in_order() -> None:
    b = book()
    b.set_members(ads("a", "b", credit=10), 0.0)
    for seq in range(1, 7):
        offer(b, seq)
    moved = b.set_members(ads("b", credit=10), 1.0)
    assert [seq for _, seq in sent(moved)] == [1, 3, 5] or [seq for _, seq in sent(moved)] == [2, 4, 6]
    assert {m for m, _ in sent(moved)} == {"b"}


def test_an_ack_from_a_member_that_no_longer_holds_the_event_is_stale() -> None:
    b = book(ack_wait=1.0)
    b.set_members(ads("a", "b", credit=1), 0.0)
    first = offer(b, 1)
    holder = first.sends[0].member
    delivery = first.sends[0].events[0].id
    again = b.tick(1.0)
    other = again.sends[0].member
    assert other != holder
    assert not b.ack(holder, [delivery], 1.5).finished and b.stale_acks == 1
    assert [o.seq for o in b.ack(other, [delivery], 1.5).finished] == [1]


def test_nack_with_delay_waits_then_goes_first() -> None:
    b = book()
    b.set_members(ads("a", credit=5), 0.0)
    delivery = offer(b, 1).sends[0].events[0].id
    assert not b.nack("a", delivery, 2.0, 0.5)
    assert b.waiting == 1 and b.next_due() == 2.5
    assert sent(b.tick(2.5)) == [("a", 1)]


def test_keys_go_to_one_member_in_order_and_stick_while_in_flight() -> None:
    b = book()
    b.set_members(ads("a", "b", "c", credit=1000), 0.0)
    owners: dict[str, set[str]] = {}
    for seq in range(1, 301):
        key = f"k{seq % 10}"
        for member, _ in sent(offer(b, seq, key)):
            owners.setdefault(key, set()).add(member)
    assert all(len(m) == 1 for m in owners.values())
    assert len({next(iter(m)) for m in owners.values()}) > 1  # keys spread over members
    # a new member does not take a key that has events in flight
    joined = b.set_members(ads("a", "b", "c", "d", credit=1000), 1.0)
    assert not joined.sends
    for key, members in owners.items():
        assert {m for m, _ in sent(offer(b, 999, key))} == members


def test_a_key_whose_owner_has_no_credit_waits_without_blocking_other_keys() -> None:
    b = book()
    b.set_members(ads("a", "b", credit=1), 0.0)
    keys = {rendezvous(k, "a") > rendezvous(k, "b"): k for k in (f"k{i}" for i in range(20))}
    ka, kb = keys[True], keys[False]  # one key owned by a, one by b
    assert sent(offer(b, 1, ka)) == [("a", 1)]
    assert sent(offer(b, 2, ka)) == []  # a is full: waits, in order
    assert sent(offer(b, 3, kb)) == [("b", 3)]  # not blocked by ka
    assert sent(offer(b, 4, ka)) == []
    done = b.ack("a", [1], 1.0)
    assert sent(done) == [("a", 2)]


def test_membership_change_moves_idle_keys_only_to_the_new_member() -> None:
    keys = [f"order-{i}" for i in range(200)]
    before = {k: max(("a", "b", "c"), key=lambda m, k=k: rendezvous(k, m)) for k in keys}
    after = {k: max(("a", "b", "c", "d"), key=lambda m, k=k: rendezvous(k, m)) for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert moved and all(after[k] == "d" for k in moved)
    assert 20 < len(moved) < 90  # about a quarter


def test_events_wait_for_a_first_member_and_then_go_out() -> None:
    b = book()
    for seq in (1, 2, 3):
        assert not b.offer("w", "task.a", seq, None, None, 0.0).sends
    assert b.waiting == 3
    assert [seq for _, seq in sent(b.set_members(ads("a", credit=10), 1.0))] == [1, 2, 3]


def test_members_with_other_patterns_get_only_their_topics() -> None:
    b = book()
    b.set_members({"a": {"w": (("task.a",), 5)}, "b": {"w": (("task.b",), 5)}}, 0.0)
    assert sent(offer(b, 1, topic="task.a")) == [("a", 1)]
    assert sent(offer(b, 2, topic="task.b")) == [("b", 2)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["offer", "ack", "tick", "leave", "join"]), st.integers(0, 5)), max_size=80
    )
)
def test_every_event_is_finished_exactly_once_whatever_happens(steps: list[tuple[str, int]]) -> None:
    b = book(ack_wait=1.0, max_deliver=3)
    members = {"a", "b"}
    b.set_members(ads(*members, credit=2), 0.0)
    now, seq = 0.0, 0
    finished: Counter[int] = Counter()
    holding: dict[int, str] = {}

    def apply(actions: Actions) -> None:
        for s in actions.sends:
            for o in s.events:
                holding[o.id] = s.member
        for o in actions.finished:
            finished[o.seq] += 1
            holding.pop(o.id, None)

    for op, n in steps:
        now += 0.3
        if op == "offer" and n < 3:
            seq += 1
            apply(b.offer("w", "task.a", seq, f"k{n}" if n % 2 else None, None, now))
        elif op == "offer":  # a run, as a publisher hands over what one loop turn published
            run = [(seq + i, f"k{i}" if (n + i) % 4 == 0 else None, None) for i in range(1, n + 1)]
            seq += n
            apply(b.offer_run("w", "task.a", run, now))
        elif op == "ack" and holding:
            delivery, member = sorted(holding.items())[n % len(holding)]
            apply(b.ack(member, [delivery], now))
        elif op == "tick":
            apply(b.tick(now))
        elif op == "leave" and len(members) > 1:
            members.discard(sorted(members)[n % len(members)])
            apply(b.set_members(ads(*members, credit=2), now))
        elif op == "join":
            members.add(f"m{n}")
            apply(b.set_members(ads(*members, credit=2), now))
    for _ in range(20):  # let everything finish: ack what is held, time passes
        for delivery, member in list(holding.items()):
            apply(b.ack(member, [delivery], now))
        now += 2.0
        apply(b.tick(now))
    assert all(finished[s] == 1 for s in range(1, seq + 1)), (finished, b.waiting, b.in_flight)
    assert b.waiting == 0 and b.in_flight == 0
    assert isinstance(b.owed(), list) and not b.owed()


def test_owed_lists_everything_unfinished() -> None:
    b = book()
    b.set_members(ads("a", credit=1), 0.0)
    offer(b, 1)
    offer(b, 2)
    assert sorted(o.seq for o in b.owed()) == [1, 2]
    assert all(isinstance(o, Owed) for o in b.owed())


def test_announced_patterns_that_do_not_parse_are_left_out_and_counted() -> None:
    b = book()
    b.set_members({"a": {"w": (("re:(.*)*x", "task.*"), 2)}, "b": {"w": (("bad..",), 2)}}, 0.0)
    assert b.bad_patterns == 2
    assert [c.member for c in b.counts()] == ["a"]  # b announced nothing usable
    assert sent(offer(b, 1)) == [("a", 1)]


def test_a_member_restarted_under_its_id_has_its_events_delivered_again_at_once() -> None:
    b = book(ack_wait=30.0)
    b.set_members(ads("a", credit=5), 0.0)
    offer(b, 1)
    offer(b, 2)
    assert not b.restarted("a", 1.0).sends and b.redelivered == 2  # taken back, placed by set_members
    assert sent(b.set_members(ads("a", credit=5), 1.0)) == [("a", 1), ("a", 2)]


def test_a_restarted_member_that_left_the_group_costs_its_events_no_delivery() -> None:
    # restarted() used to place the events again at once, on the member's old announcement: a new
    # incarnation that is no longer in the group then gave them back, one delivery spent for nothing
    b = book(ack_wait=30.0, max_deliver=2)
    b.set_members(ads("a", credit=5), 0.0)
    offer(b, 1)
    b.restarted("a", 1.0)
    again = b.set_members(ads("b", credit=5), 1.0)  # the new "a" announces no group; "b" joined
    assert sent(again) == [("b", 1)] and not again.given_up


def test_a_keyed_event_never_goes_to_a_holder_that_does_not_take_its_topic() -> None:
    # a key held at "a" (task.a, in flight) and an event of that key on task.b, which only "b" takes:
    # it went to "a" (the key's holder), which gave it back, again and again until max_deliver
    b = book()
    b.set_members({"a": {"w": (("task.a",), 5)}, "b": {"w": (("task.b",), 5)}}, 0.0)
    first = offer(b, 1, key="k", topic="task.a")
    assert sent(first) == [("a", 1)]
    assert sent(offer(b, 2, key="k", topic="task.b")) == []  # waits: the key is in flight at "a"
    assert sent(b.ack("a", ids_of(first, "a"), 1.0)) == [("b", 2)]


OPS = ["offer", "ack", "nack", "tick", "leave", "join", "credit"]


@given(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 5)), max_size=120))
@settings(max_examples=200)
def test_nothing_waits_while_a_member_has_credit(steps: list[tuple[str, int]]) -> None:
    # the book keeps a count of members with free credit instead of scanning them per event; whatever
    # happens, an event waits only when every member is at its credit, and none is sent more than that
    b = book(ack_wait=1.0, max_deliver=3)
    credits = {"a": 2, "b": 3}
    b.set_members({m: {"w": (("task.*",), c)} for m, c in credits.items()}, 0.0)
    now, seq = 0.0, 0
    for op, n in steps:
        now += 0.3
        held = list(b._in_flight.values())
        if op == "offer" and n < 2:
            seq += 1
            offer(b, seq, now=now)
        elif op == "offer":
            b.offer_run("w", "task.a", [(seq + i, None, None) for i in range(1, 2 * n + 1)], now)
            seq += 2 * n
        elif op in ("ack", "nack") and held:
            owed = held[n % len(held)]
            assert owed.member is not None
            b.ack(owed.member, [owed.id], now) if op == "ack" else b.nack(owed.member, owed.id, 0.0, now)
        elif op == "tick":
            b.tick(now)
        elif op == "leave" and len(credits) > 1:
            credits.pop(sorted(credits)[n % len(credits)])
            b.set_members({m: {"w": (("task.*",), c)} for m, c in credits.items()}, now)
        elif op == "join":
            credits[f"m{n}"] = 1 + n % 3
            b.set_members({m: {"w": (("task.*",), c)} for m, c in credits.items()}, now)
        elif op == "credit":
            member = sorted(credits)[n % len(credits)]
            credits[member] = 1 + n % 4
            b.set_members({m: {"w": (("task.*",), c)} for m, c in credits.items()}, now)
        counts = b.counts()
        if b.waiting:
            assert all(c.in_flight >= c.credit for c in counts), (op, counts)
        # the kept count is right
        assert b._has_credit("w") == any(c.in_flight < c.credit for c in counts)


def test_timers_of_acknowledged_events_do_not_pile_up() -> None:
    # an acked event's ack_wait timer stayed queued until its deadline: ack_wait x the publish rate
    # of them (1.2 million at 40,000 events/s and 30 s). They are dropped once they outnumber twice
    # the events in flight (plus TIMERS_SLACK), and redelivery still works after
    b = book(ack_wait=30.0)
    b.set_members(ads("a", credit=64), 0.0)
    for first in range(0, 50_048, 64):
        run = b.offer_run("w", "task.a", [(s, None, None) for s in range(first, first + 64)], 0.0)
        b.ack("a", ids_of(run, "a"), 0.0)
    assert b.in_flight == 0 and len(b._timers) <= TIMERS_SLACK + 64
    offer(b, 99_999, now=1.0)
    assert sent(b.tick(31.5)) == [("a", 99_999)] and b.redelivered == 1


def test_a_member_that_nacks_with_a_delay_parks_no_more_than_its_credit() -> None:
    # a nack with a delay freed the member's credit at once: a member that nacked everything with a
    # day's delay was sent more and more, and the parked events (counted as waiting) stopped every
    # publish of the publisher. They now stay charged to the member's credit until due.
    b = book(ack_wait=1000.0)
    b.set_members(ads("a", "b", credit=2), 0.0)
    first = b.offer_run("w", "task.a", [(s, None, None) for s in range(4)], 0.0)
    parked = [seq for member, seq in sent(first) if member == "a"]
    for delivery in ids_of(first, "a"):
        assert not sent(b.nack("a", delivery, 100.0, 0.0))  # parked: nothing sent in its place
    later = b.offer_run("w", "task.a", [(s, None, None) for s in range(4, 10)], 0.0)
    assert sent(later) == []  # both members' credit is used: "a"'s by what it parked
    assert b.waiting == 8 and b.movable == 6  # the parked 2 do not hold back the publisher
    assert [m for m, _ in sent(b.ack("b", ids_of(first, "b"), 1.0))] == ["b", "b"]
    assert sent(b.tick(100.5)) == [("a", seq) for seq in parked]  # due: first, and "a" has credit again


def test_in_progress_repeated_adds_no_timers() -> None:
    # one ACK repeating a held id in "wip" a million times queued a million timers, and every later
    # ack scanned them
    b = book(ack_wait=30.0)
    b.set_members(ads("a", credit=2), 0.0)
    offer(b, 1)
    held = b.owed()[0].id
    b.in_progress("a", [held] * 100_000, 5.0)
    for second in range(6, 1006):
        b.in_progress("a", [held], float(second))
    assert len(b._timers) <= TIMERS_SLACK + 2
    assert sent(b.tick(1005.0 + 30.5)) == [("a", 1)]  # the last refresh still counts
