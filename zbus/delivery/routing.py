"""Subscriptions: the node's subscription registry and the fan-out of one event to its subscriptions.

Every event this node delivers passes here, whether it was published locally, arrived from a peer
(after gap repair put it in stream order) or was replayed: ``route_eager`` matches the topic index,
applies each subscription's filter (and replay gate), and offers the event to each backlog, a copy
per extra subscriber so each decodes its own payload. Only a full ``overflow="block"`` backlog makes
the caller wait; then an awaitable comes back (the backpressure), otherwise ``None`` and no
coroutine was made.
"""

from __future__ import annotations

from collections.abc import Awaitable

from ..codec.control import MAX_GROUP_CREDIT, MAX_GROUPS
from ..errors import UsageError
from ..model.event import Event
from ..model.topics import RegexPattern, TopicIndex, TopicPattern
from ..tasks import in_order
from .subscription import Subscription

__all__ = ["Subscriptions", "announced"]


def announced(pattern: TopicPattern | RegexPattern) -> str:
    """How a pattern is announced to peers: topic patterns as is, a regex as its ``cover`` (a topic
    pattern matching all it can match; the regex itself never leaves the node)."""
    return pattern.cover if isinstance(pattern, RegexPattern) else str(pattern.pattern)


class Subscriptions:
    """The open subscriptions of one node, indexed by pattern, and the routing of events to them."""

    def __init__(self) -> None:
        self._index: TopicIndex[Subscription] = TopicIndex()
        self.all: list[Subscription] = []
        self.grouped: list[Subscription] = []  # queue-group members: not in the index (see ``members``)
        self._gated = 0  # subscriptions with a replay gate: the slower routing path

    def add(self, sub: Subscription) -> None:
        """Start routing matching events to ``sub`` (a group member's come from its group instead).

        Raises:
            UsageError: ``sub`` would make this node a member of more queue groups than a HELLO carries.
        """
        if sub.group is not None and len({s.group for s in self.grouped} | {sub.group}) > MAX_GROUPS:
            raise UsageError(
                f"group={sub.group!r}: this node is already in {MAX_GROUPS} queue groups, the most a node "
                "announces; use fewer groups (one group can take several patterns)"
            )
        self.all.append(sub)
        if sub.group is not None:
            self.grouped.append(sub)
            return
        for pattern in sub.patterns:
            self._index.add(pattern, sub)

    def remove(self, sub: Subscription) -> None:
        """Stop routing to ``sub``."""
        if sub in self.all:
            self.all.remove(sub)
            if sub.group is not None:
                self.grouped.remove(sub)
                return
            for pattern in sub.patterns:
                self._index.remove(pattern, sub)

    def groups(self, credit: int) -> dict[str, tuple[tuple[str, ...], int]]:
        """This node's queue-group memberships as announced: group -> (patterns, credit), where a
        group's credit is the sum of its subscriptions' (``Subscription.credit``, ``credit`` where
        ``max_in_flight`` is unset), but at most the smallest backlog among them (a key's events all
        go to one subscription, whichever it is) and what a HELLO may carry (``MAX_GROUP_CREDIT``)."""
        out: dict[str, tuple[tuple[str, ...], int]] = {}
        smallest: dict[str, int] = {}
        for sub in self.grouped:
            assert sub.group is not None
            patterns, total = out.get(sub.group, ((), 0))
            mine = tuple(announced(p) for p in sub.patterns)
            smallest[sub.group] = min(smallest.get(sub.group, MAX_GROUP_CREDIT), sub.max_size)
            total = min(total + sub.credit(credit), smallest[sub.group])
            out[sub.group] = (tuple(sorted({*patterns, *mine})), total)
        return out

    def members(self, group: str, topic: str) -> list[Subscription]:
        """This node's open subscriptions of ``group`` whose patterns match ``topic``."""
        return [s for s in self.grouped if s.group == group and any(p.matches(topic) for p in s.patterns)]

    def gate_changed(self, delta: int) -> None:
        """A replay gate was put in front of a subscription (+1) or removed (-1)."""
        self._gated += delta

    def __len__(self) -> int:
        return len(self.all)

    def interest(self) -> set[str]:
        """Every pattern this node subscribes to, in announcement form."""
        return {announced(p) for sub in self.all if sub.group is None for p in sub.patterns}

    def has_interest(self, topic: str) -> bool:
        """True when a subscription of this node matches ``topic``."""
        return bool(self._index.match(topic))

    def interest_since(self, topic: str) -> float | None:
        """When the oldest subscription matching ``topic`` was made (``time.monotonic()``), or
        ``None`` when none matches."""
        matched = self._index.match(topic)
        return min(sub.created for sub in matched) if matched else None

    async def route(self, event: Event) -> None:
        """Offer ``event`` to every matching subscription; waits only under the ``block`` policy."""
        pending = self.route_eager(event)
        if pending is not None:
            await pending

    def route_eager(self, event: Event) -> Awaitable[None] | None:
        """Offer ``event`` now; returns an awaitable only when a ``block``-policy backlog is full (the
        caller awaits it, which is the backpressure). No coroutine per event otherwise."""
        # every filter sees the event before any handler can touch it (a blocked offer yields)
        matched = self._index.match(event._topic)
        if self._gated:  # replay / durable subscriptions: history first, watermarks kept
            targets = self._gated_targets(event, matched)
        else:
            targets = [s for s in matched if s.predicate is None or s.predicate(event)]
        for i, sub in enumerate(targets):
            ev = event if i == 0 else event._clone()
            if not sub.offer(ev):
                return self._route_blocked(event, targets, i, ev)
        return None

    def route_all(self, events: list[Event]) -> Awaitable[None] | None:
        """Route ``events`` in order; an awaitable only when a ``block`` backlog makes one wait.

        A run of one topic that one subscription wants, unfiltered and ungated (a batch message, a
        repaired range), is matched once and offered in a loop: what ``route_eager`` does per event."""
        sub = self._sole_target(events)
        if sub is None:
            return in_order(events, self.route_eager)
        offer = sub.offer
        for i, event in enumerate(events):
            if not offer(event):
                return in_order([event, *events[i + 1 :]], self.route_eager)  # waits for room in line
        return None

    def _sole_target(self, events: list[Event]) -> Subscription | None:
        """The one unfiltered subscription every event of ``events`` goes to, if that is all routing
        would do (one topic, one match, no predicate, no replay gate anywhere)."""
        if self._gated or not events:
            return None
        topic = events[0]._topic
        matched = self._index.match(topic)
        if len(matched) != 1 or matched[0].predicate is not None:
            return None
        if any(event._topic != topic for event in events):
            return None
        return matched[0]

    def _gated_targets(self, event: Event, matched: list[Subscription]) -> list[Subscription]:
        targets = []
        for s in matched:
            gate = s.gate
            if s.predicate is None or s.predicate(event):
                if gate is None or gate.admit(event):
                    targets.append(s)
            elif gate is not None:
                gate.skip(event)  # filtered out: done at once for a durable watermark
        return targets

    async def _route_blocked(self, event: Event, targets: list[Subscription], i: int, ev: Event) -> None:
        for j in range(i, len(targets)):
            sub = targets[j]
            if j > i:
                ev = event._clone()
            if j > i and sub.offer(ev):
                continue
            await sub.put(ev)
