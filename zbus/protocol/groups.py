"""GroupBook: a publisher's queue groups, sans I/O: which member gets each event, credit, acks, redelivery.

The publisher chooses. Members announce, per group, their patterns and their credit (how many
events they take at once from one publisher); for every event whose topic a group's members match,
the book picks one member and says so (:class:`Send`), or keeps the event waiting until a member has
credit. Rules:

1. **Least loaded first.** Without a key, the member with free credit and the fewest events in
   flight gets the event (ties rotate). A member with no free credit gets nothing, so a slow member
   is sent fewer events and no member is sent more than its credit.
2. **A key sticks while it has work in flight.** With a key, the member that holds unacknowledged
   events of that key gets the next one too; a key with nothing in flight goes to the member with the
   highest rendezvous score (hash of key and member id), so keys spread evenly and only the keys of
   a member that joins or leaves move. Events of one key leave in publish order, and a key never has
   events at two members at once, except when a member's events are redelivered (it left, or an
   ack timed out).
3. **At least once.** An event is in flight until its member acknowledges it. No ack within
   ``ack_wait`` (refreshed by ``in_progress``), a ``nack``, or the member leaving puts it back at
   the head of the queue for the next member. After ``max_deliver`` deliveries it is given up on
   (:class:`GivenUp`): the caller dead-letters it.
4. **Only the holder acknowledges.** An ack from a member that no longer holds the event (it was
   redelivered meanwhile) is ignored and counted as stale.

Nothing here reads a clock: every method that needs the time takes ``now``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import InvalidTopicError
from ..model.topics import TopicPattern, parse_announced
from .shares import level, rendezvous

__all__ = ["Actions", "GivenUp", "GroupBook", "GroupCounts", "Owed", "Send"]

#: timers of finished events kept before they are dropped at once (beyond twice those in flight)
TIMERS_SLACK = 4096


@dataclass(slots=True, eq=False)
class Owed:
    """One event owed to one group (the book's record; ``item`` is the caller's, e.g. the frames)."""

    id: int
    group: str
    topic: str
    seq: int
    key: str | None
    item: object
    #: deliveries made so far
    attempt: int = 0
    #: the member holding it now (``None`` while it waits)
    member: str | None = None
    deadline: float = 0.0


@dataclass(slots=True)
class Send:
    """Deliver these events of ``group`` to ``member`` (one message)."""

    member: str
    group: str
    events: list[Owed]


@dataclass(frozen=True, slots=True)
class GivenUp:
    """An event delivered ``max_deliver`` times without an ack: the caller dead-letters it."""

    owed: Owed
    reason: str


@dataclass(slots=True)
class Actions:
    """What the caller must do now: sends, and events given up on."""

    sends: list[Send] = field(default_factory=list)
    given_up: list[GivenUp] = field(default_factory=list)
    #: events finished for good (acknowledged or given up): a journal's watermark may advance
    finished: list[Owed] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sends or self.given_up or self.finished)


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupCounts:
    """One member of one group as this publisher sees it."""

    group: str
    member: str
    credit: int
    in_flight: int
    sent: int
    acked: int
    redelivered: int


@dataclass(slots=True, eq=False)
class _Member:
    id: str
    patterns: tuple[TopicPattern, ...]
    credit: int
    in_flight: int = 0
    sent: int = 0
    acked: int = 0
    redelivered: int = 0
    seen: dict[str, bool] = field(default_factory=dict)  # topic -> matches (patterns never change here)

    def matches(self, topic: str) -> bool:
        cache = self.seen
        found = cache.get(topic)
        if found is None:
            found = any(p.matches(topic) for p in self.patterns)
            if len(cache) < 10_000:
                cache[topic] = found
        return found


class GroupBook:
    """The groups one publisher delivers to: members, events in flight, and events waiting.

    Args:
        ack_wait: seconds a member has to acknowledge an event before it is delivered again.
        max_deliver: deliveries of one event before it is given up on (≥ 1).
        first_id: the first delivery id. A publisher that keeps its node id across restarts must
            not reuse ids (a member may still ack the last run's): it starts from its epoch.
    """

    def __init__(self, *, ack_wait: float, max_deliver: int, first_id: int = 1) -> None:
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self._groups: dict[str, dict[str, _Member]] = {}
        self._order: dict[str, list[_Member]] = {}  # group -> its members (the rotation of rule 1)
        self._free: dict[str, int] = {}  # group -> members with free credit (kept by _place/_release)
        self._by_topic: dict[str, tuple[str, ...]] = {}  # topic -> groups with a matching member
        self._in_flight: dict[int, Owed] = {}
        self._timers: deque[tuple[float, int]] = deque()  # (deadline, id), in send order
        # nacked with a delay: (due, id, owed, the member it stays charged to until due)
        self._late: list[tuple[float, int, Owed, _Member | None]] = []
        self._retry: dict[str, deque[Owed]] = {}  # taken back from a member: go first
        self._waiting: dict[str, deque[Owed]] = {}
        self._queued = 0  # events in _retry and _waiting (``waiting`` adds the delayed ones)
        self._keys: dict[tuple[str, str], list[object]] = {}  # (group, key) -> [member, in flight]
        self._turn = 0
        self._next_id = first_id
        self.stale_acks = 0
        self.given_up = 0
        self.redelivered = 0
        self.bad_patterns = 0

    # -- membership ------------------------------------------------------------------------------
    def set_members(self, ads: Mapping[str, Mapping[str, tuple[Iterable[str], int]]], now: float) -> Actions:
        """The live members: ``{member id: {group: (patterns, credit)}}`` (this node included when it
        is a member). Members that left give their events in flight back; new ones get waiting ones."""
        actions = Actions()
        new: dict[str, dict[str, _Member]] = {}
        for member_id, groups in ads.items():
            for group, (patterns, credit) in groups.items():
                compiled = self._patterns(patterns)
                if not compiled:
                    continue
                old = self._groups.get(group, {}).get(member_id)
                if old is None:
                    old = _Member(member_id, compiled, max(1, credit))
                else:
                    if old.patterns != compiled:
                        old.seen = {}
                    old.patterns, old.credit = compiled, max(1, credit)
                new.setdefault(group, {})[member_id] = old
        gone = {(g, m) for g, members in self._groups.items() for m in members if m not in new.get(g, {})}
        self._take_back(gone, "member left", actions)
        self._groups = new
        self._order = {group: list(members.values()) for group, members in new.items()}
        self._free = {g: sum(m.in_flight < m.credit for m in ms.values()) for g, ms in new.items()}
        self._by_topic.clear()
        self._assign_all(now, actions)
        return actions

    def restarted(self, member: str, now: float) -> Actions:
        """``member`` restarted under the same id (a journaled node, new epoch): what it held is gone
        with its old process, so it is taken back now rather than after ``ack_wait``, and delivered
        again by the :meth:`set_members` that follows with what the new process announced (placed now,
        it could go back to the old announcement and cost a delivery for nothing)."""
        actions = Actions()
        held = {(group, member) for group, members in self._groups.items() if member in members}
        self._take_back(held, "member restarted", actions)
        return actions

    def _patterns(self, announced: Iterable[str]) -> tuple[TopicPattern, ...]:
        """Announced patterns come from the network: topic patterns only (a regex would run here);
        a bad one is left out and counted."""
        out = []
        for pattern in announced:
            try:
                out.append(parse_announced(pattern))
            except InvalidTopicError:
                self.bad_patterns += 1
        return tuple(out)

    def groups_for(self, topic: str) -> tuple[str, ...]:
        """The groups that have a member for ``topic`` (cached until membership changes)."""
        found = self._by_topic.get(topic)
        if found is None:
            found = tuple(
                sorted(
                    g
                    for g, members in self._groups.items()
                    if any(m.matches(topic) for m in members.values())
                )
            )
            if len(self._by_topic) < 10_000:
                self._by_topic[topic] = found
        return found

    # -- events ----------------------------------------------------------------------------------
    def offer(self, group: str, topic: str, seq: int, key: str | None, item: object, now: float) -> Actions:
        """A new event for ``group``: sent at once to a member with credit, or queued."""
        owed = Owed(self._next_id, group, topic, seq, key, item)
        self._next_id += 1
        actions = Actions()
        waiting = self._waiting.get(group)
        if not waiting and not self._retry.get(group) and self._place(owed, now, actions):
            return actions
        if waiting is None:
            waiting = self._waiting[group] = deque()
        waiting.append(owed)
        self._queued += 1
        if self._has_credit(group):
            self._assign(group, now, actions)
        return actions

    def offer_run(
        self, group: str, topic: str, items: Iterable[tuple[int, str | None, object]], now: float
    ) -> Actions:
        """Several new events of ``topic`` for ``group``, ``(seq, key, item)`` in publish order: the
        same as :meth:`offer` for each in turn, with the bookkeeping done once for the run."""
        first = self._next_id
        run = [Owed(first + i, group, topic, seq, key, item) for i, (seq, key, item) in enumerate(items)]
        self._next_id = first + len(run)
        waiting = self._waiting.get(group)
        if waiting is None:
            waiting = self._waiting[group] = deque()
        waiting += run
        self._queued += len(run)
        actions = Actions()
        if self._has_credit(group):
            self._assign(group, now, actions)
        return actions

    def ack(self, member: str, ids: Iterable[int], now: float) -> Actions:
        """``member`` acknowledged these deliveries: they are done; its credit frees up."""
        actions = Actions()
        finished = actions.finished
        in_flight, release = self._in_flight, self._release
        groups: set[str] = set()
        group: str | None = None
        holder: _Member | None = None
        for delivery in ids:
            owed = in_flight.get(delivery)
            if owed is None or owed.member != member or owed.key is not None:
                owed = release(member, delivery)  # stale, or keyed: the general case
                if owed is None:
                    continue
                if owed.group != group:
                    group = owed.group
                    holder = self._groups.get(group, {}).get(member)
                    groups.add(group)
            else:  # the common case, as _release does it
                del in_flight[delivery]
                owed.member = None
                if owed.group != group:
                    group = owed.group
                    holder = self._groups.get(group, {}).get(member)
                    groups.add(group)
                if holder is not None:
                    holder.in_flight -= 1
                    if holder.in_flight == holder.credit - 1:
                        self._free[owed.group] = self._free.get(owed.group, 0) + 1
            if holder is not None:
                holder.acked += 1
            finished.append(owed)
        for freed in groups:
            self._assign(freed, now, actions)
        if len(self._timers) > 2 * len(in_flight) + TIMERS_SLACK:
            self._compact_timers()
        return actions

    def nack(self, member: str, delivery: int, delay: float, now: float) -> Actions:
        """``member`` gives the event back: deliver it again (to any member) after ``delay`` s. Until
        then it stays charged to the member's credit: a member cannot park more events than that."""
        actions = Actions()
        owed = self._release(member, delivery)
        if owed is not None:
            if delay > 0 and owed.attempt < self.max_deliver:
                holder = self._groups.get(owed.group, {}).get(member)
                if holder is not None:
                    self._charge(owed.group, holder, 1)
                heapq.heappush(self._late, (now + delay, owed.id, owed, holder))
            else:
                self._requeue(owed, "nacked", actions)
            self._assign(owed.group, now, actions)
        return actions

    def in_progress(self, member: str, ids: Iterable[int], now: float) -> None:
        """``member`` is still working on these: their ``ack_wait`` starts again (once per ``now``)."""
        deadline = now + self.ack_wait
        for delivery in ids:
            owed = self._in_flight.get(delivery)
            if owed is not None and owed.member == member and owed.deadline != deadline:
                owed.deadline = deadline
                self._timers.append((deadline, delivery))
        if len(self._timers) > 2 * len(self._in_flight) + TIMERS_SLACK:
            self._compact_timers()

    def tick(self, now: float) -> Actions:
        """Deliver again what was not acknowledged in time, and nacked events whose delay is over."""
        actions = Actions()
        groups: set[str] = set()
        timers = self._timers
        while timers and timers[0][0] <= now:
            deadline, delivery = timers.popleft()
            owed = self._in_flight.get(delivery)
            if owed is None or owed.deadline != deadline or owed.member is None:
                continue  # acknowledged, or its deadline moved (in_progress)
            self._release(owed.member, delivery)
            self._requeue(owed, "ack_wait expired", actions)
            groups.add(owed.group)
        while self._late and self._late[0][0] <= now:
            _, _, owed, holder = heapq.heappop(self._late)
            if holder is not None:
                self._charge(owed.group, holder, -1)
            self._requeue(owed, "nacked", actions)
            groups.add(owed.group)
        for group in groups:
            self._assign(group, now, actions)
        return actions

    def next_due(self) -> float | None:
        """When :meth:`tick` next has something to do (``None``: nothing in flight or delayed)."""
        due = [self._late[0][0]] if self._late else []
        if self._timers:
            due.append(self._timers[0][0])
        return min(due) if due else None

    # -- views -----------------------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        """Events waiting for a member with credit (delayed nacks included)."""
        return self._queued + len(self._late)

    @property
    def movable(self) -> int:
        """:attr:`waiting`, less the events of groups that have no member now (they move only when one
        joins, and must not hold back a publisher's other groups)."""
        queues = (*self._retry.items(), *self._waiting.items())  # (delayed nacks are charged to members)
        return self._queued - sum(len(q) for g, q in queues if q and g not in self._groups)

    @property
    def in_flight(self) -> int:
        """Events delivered and not yet acknowledged."""
        return len(self._in_flight)

    def owed(self) -> list[Owed]:
        """Every event not finished: in flight, waiting and delayed."""
        out = list(self._in_flight.values()) + [late[2] for late in self._late]
        for queues in (self._retry, self._waiting):
            for q in queues.values():
                out.extend(q)
        return out

    def counts(self) -> list[GroupCounts]:
        """Per group and member: credit, in flight, sent, acknowledged, redelivered (by this publisher)."""
        return [
            GroupCounts(
                group=g,
                member=m.id,
                credit=m.credit,
                in_flight=m.in_flight,
                sent=m.sent,
                acked=m.acked,
                redelivered=m.redelivered,
            )
            for g, members in sorted(self._groups.items())
            for m in sorted(members.values(), key=lambda m: m.id)
        ]

    def member_matches(self, counts: GroupCounts, topic: str) -> bool:
        """Whether the member ``counts`` describes has a pattern of its group matching ``topic``."""
        member = self._groups.get(counts.group, {}).get(counts.member)
        return member is not None and member.matches(topic)

    # -- internals -------------------------------------------------------------------------------
    def _compact_timers(self) -> None:
        """Drop the timers of events no longer in flight. An acked event's timer otherwise stays until
        its deadline: a publisher would hold ``ack_wait`` times its rate of them (1.2 million at 40,000
        events/s). Deadlines are appended in time order, so the kept ones stay in order."""
        in_flight = self._in_flight
        kept = [(d, i) for d, i in self._timers if (o := in_flight.get(i)) is not None and o.deadline == d]
        self._timers = deque(kept)

    def _release(self, member: str, delivery: int) -> Owed | None:
        owed = self._in_flight.get(delivery)
        if owed is None or owed.member != member:
            self.stale_acks += 1
            return None
        del self._in_flight[delivery]
        owed.member = None
        holder = self._groups.get(owed.group, {}).get(member)
        if holder is not None:
            holder.in_flight -= 1
            if holder.in_flight == holder.credit - 1:  # it has credit again
                self._free[owed.group] = self._free.get(owed.group, 0) + 1
        if owed.key is not None:
            sticky = self._keys.get((owed.group, owed.key))
            if sticky is not None and sticky[0] == member:
                sticky[1] -= 1  # type: ignore[operator]
                if sticky[1] == 0:
                    del self._keys[(owed.group, owed.key)]
        return owed

    def _take_back(self, gone: set[tuple[str, str]], reason: str, actions: Actions) -> None:
        """Take back what each (group, member) in ``gone`` holds, in one pass over what is in flight."""
        back = [(o.id, o.member, o) for o in self._in_flight.values() if (o.group, o.member) in gone]
        for delivery, member, owed in sorted(back, key=lambda b: b[0]):
            self._release(member or "", delivery)
            self._requeue(owed, reason, actions)
        for gk in [gk for gk, sticky in self._keys.items() if (gk[0], sticky[0]) in gone]:
            del self._keys[gk]

    def _charge(self, group: str, member: _Member, n: int) -> None:
        """Add ``n`` to what ``member`` holds of ``group``, keeping the count of members with credit."""
        had = member.in_flight < member.credit
        member.in_flight += n
        has = member.in_flight < member.credit
        if had != has and self._groups.get(group, {}).get(member.id) is member:
            self._free[group] = self._free.get(group, 0) + (1 if has else -1)

    def _requeue(self, owed: Owed, reason: str, actions: Actions) -> None:
        if owed.attempt >= self.max_deliver:
            self.given_up += 1
            actions.given_up.append(GivenUp(owed, reason))
            actions.finished.append(owed)
            return
        self.redelivered += 1
        self._queued += 1
        retry = self._retry.setdefault(owed.group, deque())
        if retry and retry[-1].id > owed.id:  # keep id (publish) order among those taken back
            items = sorted([*retry, owed], key=lambda o: o.id)
            retry.clear()
            retry.extend(items)
        else:
            retry.append(owed)

    def _place(self, owed: Owed, now: float, actions: Actions) -> bool:
        members = self._groups.get(owed.group)
        if not members:
            return False
        member = self._pick(owed, members)
        if member is None:
            return False
        owed.attempt += 1
        owed.member = member.id
        owed.deadline = now + self.ack_wait
        if owed.attempt > 1:
            member.redelivered += 1
        member.in_flight += 1
        if member.in_flight == member.credit:  # its credit is used up
            self._free[owed.group] -= 1
        member.sent += 1
        self._in_flight[owed.id] = owed
        self._timers.append((owed.deadline, owed.id))
        if owed.key is not None:
            sticky = self._keys.setdefault((owed.group, owed.key), [member.id, 0])
            sticky[1] += 1  # type: ignore[operator]
        sends = actions.sends
        if sends and sends[-1].member == member.id and sends[-1].group == owed.group:
            sends[-1].events.append(owed)
        else:
            sends.append(Send(member.id, owed.group, [owed]))
        return True

    def _pick(self, owed: Owed, members: dict[str, _Member]) -> _Member | None:
        topic = owed.topic
        if owed.key is not None:
            sticky = self._keys.get((owed.group, owed.key))
            if sticky is not None:
                holder = members.get(sticky[0])  # type: ignore[call-overload]
                if holder is not None:  # (one that does not take this topic: wait until the key drains)
                    return holder if holder.in_flight < holder.credit and holder.matches(topic) else None
            eligible = [m for m in members.values() if m.matches(topic)]
            if not eligible:
                return None
            best = max(eligible, key=lambda m: rendezvous(owed.key or "", m.id))
            return best if best.in_flight < best.credit else None
        best_member: _Member | None = None
        ordered = self._order.get(owed.group) or list(members.values())
        count = len(ordered)
        self._turn += 1
        start = self._turn % count
        for i in range(start, start + count):
            m = ordered[i - count if i >= count else i]
            free = m.in_flight < m.credit and (best_member is None or m.in_flight < best_member.in_flight)
            if free and m.matches(topic):  # the topic is looked at only for a better candidate
                best_member = m
        return best_member

    def _has_credit(self, group: str) -> bool:
        return self._free.get(group, 0) > 0

    def _assign(self, group: str, now: float, actions: Actions) -> None:
        """Send what waits for ``group`` (taken-back events first), keeping each key's order."""
        blocked: set[str] = set()
        for queue in (self._retry.get(group), self._waiting.get(group)):
            if not queue:
                continue
            skipped: list[Owed] = []
            # credit is looked at only when an event found no member (not before each event)
            while queue:
                head = queue[0]
                if (
                    head.key is None
                    and head.attempt == 0
                    and self._spread(group, head.topic, queue, now, actions)
                ):
                    continue  # a run of new unkeyed events of one topic went out at once
                owed = queue.popleft()
                self._queued -= 1
                if owed.key is not None and owed.key in blocked:
                    skipped.append(owed)
                elif not self._place(owed, now, actions):
                    skipped.append(owed)  # no member of its topic has credit: later ones may fit
                    if owed.key is not None:
                        blocked.add(owed.key)  # the key's later events wait behind it
                    if not self._has_credit(group):
                        break
            queue.extendleft(reversed(skipped))
            self._queued += len(skipped)

    def _spread(self, group: str, topic: str, queue: deque[Owed], now: float, actions: Actions) -> int:
        """Place the run of new unkeyed events of ``topic`` at the head of ``queue`` (as many as the
        members' free credit takes) as :meth:`_place` would one by one: each to the least loaded
        member with credit, ties rotating. Each member's share is one :class:`Send`, in queue order.
        Returns how many were placed (0: none; the caller goes on one event at a time)."""
        members = self._order.get(group)
        if not members:
            return 0
        self._turn += 1
        count = len(members)
        start = self._turn % count
        ring = members[start:] + members[:start]
        open_ = [m for m in ring if m.in_flight < m.credit and m.matches(topic)]
        if not open_:
            return 0
        loads = [m.in_flight for m in open_]
        room = sum(m.credit for m in open_) - sum(loads)
        run: list[Owed] = []
        while queue and len(run) < room:
            owed = queue[0]
            if owed.key is not None or owed.attempt or owed.topic != topic:
                break
            run.append(queue.popleft())
        if len(run) < 2:  # one event: the general path is as cheap
            queue.extendleft(reversed(run))
            return 0
        self._queued -= len(run)
        shares = level(loads, [m.credit for m in open_], len(run))
        deadline = now + self.ack_wait
        in_flight, timers, sends = self._in_flight, self._timers, actions.sends
        at = 0
        for member, share in zip(open_, shares, strict=True):
            if not share:
                continue
            chunk = run[at : at + share]
            at += share
            member_id = member.id
            for owed in chunk:
                owed.attempt = 1
                owed.member = member_id
                owed.deadline = deadline
                in_flight[owed.id] = owed
                timers.append((deadline, owed.id))
            member.in_flight += share
            member.sent += share
            if member.in_flight == member.credit:  # its credit is used up
                self._free[group] -= 1
            if sends and sends[-1].member == member_id and sends[-1].group == group:
                sends[-1].events += chunk
            else:
                sends.append(Send(member_id, group, chunk))
        return len(run)

    def _assign_all(self, now: float, actions: Actions) -> None:
        for group in {*self._retry, *self._waiting}:
            self._assign(group, now, actions)
