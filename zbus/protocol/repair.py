"""StreamSync: per-stream order, gap repair and loss accounting on the receiving side. Pure.

Rule 1: a stream is (publisher node id, topic) with 64-bit sequence numbers (DESIGN §6). A journaled
publisher keeps its node id and continues its sequences across restarts, so the epoch does not reset a
stream; only a new epoch whose sequence goes *backwards* does (a publisher that lost its journal).
Rule 2: a stream's baseline is, in this order: the one :meth:`StreamSync.expect` set (a replay or a
checkpoint); the one the ``baseline`` callback gives when the stream is first seen (the caller's
join rule: a publisher that started after our subscription is followed from its first event); else
the first event seen (what was published before we subscribed is history, asked for with ``replay``,
not a loss).
Rule 3: events are released in sequence order. An event beyond the next expected one waits in a bounded
reorder window (``max_pending`` events past the next expected) while the missing range is requested
from the publisher (a :class:`RepairRequest`); repaired events enter through :meth:`observe` like live
ones, duplicates are dropped. An event beyond the window is not held but not lost either: it raises
the known head and is asked for again when the repairs get there, so a subscriber far behind catches
up from the publisher's history at its own pace, one request at a time, and rejoins live delivery at
the seam.
Rule 4: a range the publisher cannot serve (:meth:`answered` lists it as missing), a repair that fails
``max_attempts`` times, or a publisher that is gone for good turn the range into a
:class:`LostEvents` — the explicit "events lost" signal — and the stream moves on. Never silence.
After a range lost for want of an answer, the stream's next hole is asked for once before it is lost
too (until the publisher answers or the stream is whole again): a silent publisher's holes are reported
one timeout apart.
Rule 5: a heartbeat's stream head beyond what we hold is tail loss: it is requested like any gap.
Rule 6: an unanswered request counts against a publisher only if the caller says it could answer
(:meth:`StreamSync.tick` takes the set of answerable peers as data); waiting for one that is away is
the caller's call (it ends the wait with :meth:`StreamSync.forget_node`).
Rule 7: one event cannot poison a stream. An event more than ``max_jump`` past both the next expected
sequence and the highest known one is refused (``Actions.refused``), not taken as the new head; only
the publisher's own heartbeat head can vouch for such a jump (then the range is repaired). A publisher
gets at most ``max_streams`` streams; events of more topics are refused.

The caller owns sockets and clocks: every method takes ``now`` and returns :class:`Actions`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Actions", "LostEvents", "RepairRequest", "StreamSync"]

T = TypeVar("T")

#: the default of ``max_span`` (config ``repair.max_span``): the most events one repair request asks
#: for; the rest is asked for when it is answered
MAX_REPAIR_SPAN = 2000


@dataclass(frozen=True, slots=True)
class RepairRequest:
    """Ask publisher ``node_id`` for events ``first``..``last`` of ``topic``."""

    node_id: str
    topic: str
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class LostEvents:
    """Events ``first``..``last`` of stream (``node_id``, ``topic``) will never be delivered."""

    node_id: str
    topic: str
    first: int
    last: int
    reason: str

    @property
    def count(self) -> int:
        """How many events were lost."""
        return self.last - self.first + 1


@dataclass(slots=True)
class Actions(Generic[T]):
    """What the caller must do: deliver these items in order, send these requests, report these losses."""

    deliver: list[T] = field(default_factory=list)
    repairs: list[RepairRequest] = field(default_factory=list)
    lost: list[LostEvents] = field(default_factory=list)
    duplicate: bool = False
    #: not taken, and why: ``seq_jump`` (too far past the stream's head, unconfirmed) or
    #: ``stream_limit`` (a new stream of a publisher that has ``max_streams`` already)
    refused: str = ""


@dataclass(slots=True)
class _Stream(Generic[T]):
    epoch: int
    next: int  # the next sequence number to release
    head: int = 0  # the highest sequence number known to exist (events or heartbeats)
    pending: dict[int, T] = field(default_factory=dict)  # waiting for a hole before them
    gone: list[tuple[int, int]] = field(default_factory=list)  # lost ranges ahead of ``next``
    want: tuple[int, int] | None = None  # the outstanding repair request
    deadline: float = 0.0
    attempts: int = 0


class StreamSync(Generic[T]):
    """Orders every stream's events, asks for the missing ones and reports what cannot be had.

    Args:
        max_pending: the reorder window: events further than this past the next expected one are not
            held (memory stays bounded) but asked for again later (Rule 3).
        repair_timeout: seconds to wait for an answer before asking again (``repair.timeout``).
        max_attempts: requests for one hole before it is reported lost.
        max_span: the most events one request asks for (``repair.max_span``).
        clock: seconds, read by :meth:`observe` only when it is not given ``now``.
        baseline: called with (publisher id, topic) when a stream is first seen; returns the first
            sequence number to expect, or ``None`` to start at what is seen (Rule 2).
        max_jump: an event more than this past both the next expected sequence and the highest
            one known (from events or heartbeats) is refused, not taken as the new head: a single
            event must not make every later one look like a duplicate. The publisher's heartbeat
            head vouches for such a jump, and the events up to it are then repaired (Rule 7).
        max_streams: most streams followed per publisher; events of a new topic beyond it are
            refused (memory per peer stays bounded).
    """

    def __init__(
        self,
        *,
        max_pending: int = 10_000,
        repair_timeout: float = 1.0,
        max_attempts: int = 3,
        max_span: int = MAX_REPAIR_SPAN,
        clock: Callable[[], float] | None = None,
        baseline: Callable[[str, str], int | None] | None = None,
        max_jump: int = 1 << 62,
        max_streams: int = 1 << 62,
    ) -> None:
        self._clock = clock or (lambda: 0.0)  # for ``observe`` without ``now`` (the hot path)
        self._baseline = baseline or (lambda node_id, topic: None)
        self.max_jump = max_jump
        self.max_streams = max_streams
        self._per_node: Counter[str] = Counter()  # streams followed per publisher
        self.max_pending = max_pending
        self.repair_timeout = repair_timeout
        self.max_attempts = max_attempts
        self.max_span = max_span
        self._streams: dict[tuple[str, str], _Stream[T]] = {}
        self._waiting: set[tuple[str, str]] = set()  # streams with a request outstanding

    # -- inputs -------------------------------------------------------------------------------------
    def observe(
        self, node_id: str, epoch: int, topic: str, seq: int, item: T, now: float | None = None
    ) -> Actions[T] | None:
        """An event arrived (live or repaired). Returns what to release, request and report, or
        ``None`` for the common case "release just this item" (no allocation on the hot path).
        ``now`` defaults to the injected clock, read only when a request may be sent."""
        key = (node_id, topic)
        s = self._streams.get(key)
        if s is None:
            if self._per_node[node_id] >= self.max_streams:
                return Actions(refused="stream_limit")
            first = self._baseline(node_id, topic)
            if first is None or first >= seq:
                self._add(key, _Stream(epoch, seq + 1, seq))
                return None
            if seq - first > self.max_jump:
                return Actions(refused="seq_jump")
            s = self._add(key, _Stream(epoch, first, first - 1))
        if seq == s.next and not s.pending and s.want is None:  # the common case, kept cheap
            s.next = seq + 1
            if seq > s.head:
                s.head = seq
            if epoch > s.epoch:
                s.epoch = epoch
            return None
        actions: Actions[T] = Actions()
        if now is None:
            now = self._clock()
        if epoch > s.epoch:
            if seq < s.next:  # the publisher restarted without its journal: a new sequence
                self._give_up(key, s, "publisher restarted without its journal", actions)
                self._streams[key] = _Stream(epoch, seq + 1, seq)  # (replaces s: the count stays)
                actions.deliver.append(item)
                return actions
            s.epoch = epoch
        if seq < s.next or seq in s.pending:
            actions.duplicate = True
            return actions
        if seq - max(s.next, s.head) > self.max_jump:  # Rule 7: only its heartbeat vouches for a jump
            actions.refused = "seq_jump"
            return actions
        if seq > s.head:
            s.head = seq
        if seq - s.next <= self.max_pending:  # within the window: held until the hole before it fills
            s.pending[seq] = item
            self._release(s, actions)
        self._ask(key, s, now, actions)
        return actions

    def take_run(self, node_id: str, epoch: int, topic: str, first: int, count: int) -> bool:
        """The batch case of :meth:`observe`: ``count`` live events ``first .. first + count - 1`` of
        one epoch arrived together. True when they are simply the next ones of a stream in order with
        nothing held or asked (they are then taken, as ``observe`` would take each); False changes
        nothing, and the caller observes them one by one."""
        s = self._streams.get((node_id, topic))
        if s is None or first != s.next or s.pending or s.want is not None or epoch < s.epoch:
            return False
        s.next = last = first + count
        last -= 1
        if last > s.head:
            s.head = last
        s.epoch = epoch
        return True

    def expect(self, node_id: str, topic: str, next_seq: int, epoch: int = 0) -> None:
        """Set a stream's baseline before its first live event (after a replay or a checkpoint):
        events from ``next_seq`` on are expected, so a later first live event reveals a gap."""
        key = (node_id, topic)
        if key not in self._streams:
            self._add(key, _Stream(epoch, next_seq, next_seq - 1))

    def heartbeat(
        self, node_id: str, epoch: int, topic: str, head: int, now: float, *, ask: bool = True
    ) -> Actions[T]:
        """A heartbeat says the publisher's stream ``topic`` reached ``head``: request any tail we miss
        (``ask=False``: only remember the head, so ``forget_node`` reports what never came as lost)."""
        actions: Actions[T] = Actions()
        key = (node_id, topic)
        s = self._streams.get(key)
        if s is None:
            first = self._baseline(node_id, topic)
            if first is None or head < first or self._per_node[node_id] >= self.max_streams:
                return actions
            s = self._add(key, _Stream(epoch, first, first - 1))
        if head < s.next:
            return actions
        if epoch > s.epoch:
            s.epoch = epoch
        s.head = max(s.head, head)
        if ask:
            self._ask(key, s, now, actions)
        return actions

    def answered(
        self,
        node_id: str,
        topic: str,
        first: int,
        last: int,
        missing: Iterable[tuple[int, int]],
        now: float,
    ) -> Actions[T]:
        """The publisher answered our request for ``first``..``last``: the events it had came before
        this answer; ``missing`` lists the ranges it does not have (out of retention, never journaled)."""
        actions: Actions[T] = Actions()
        key = (node_id, topic)
        s = self._streams.get(key)
        if s is None:
            return actions
        for a, b in sorted(missing):
            a, b = max(a, s.next), min(b, last)
            if a <= b:
                self._lose(key, s, a, b, "not in the publisher's journal", actions)
        self._release(s, actions)
        if s.want is not None and s.want[0] == first:
            s.want = None
            self._waiting.discard(key)
        if s.next > last:  # the range is settled: the next hole starts with a fresh count
            s.attempts = 0
        self._ask(key, s, now, actions)
        return actions

    def tick(self, now: float, answerable: Container[str]) -> Actions[T]:
        """Time passed: re-send requests that got no answer, give up on those tried too often.

        Args:
            now: the caller's clock, in seconds.
            answerable: the publishers whose silence counts (connected, and we are reading). One
                not in it (crashed, restarting, or we are stalled) is not asked and its attempts do
                not count: a journaled publisher that comes back still owes its events.
                ``forget_node`` ends the wait when it is gone for good.
        """
        actions: Actions[T] = Actions()
        for key in [k for k in self._waiting if self._streams[k].deadline <= now]:
            s = self._streams[key]
            if key[0] not in answerable:
                s.deadline = now + self.repair_timeout
                continue
            s.want = None
            self._waiting.discard(key)
            self._ask(key, s, now, actions)
        return actions

    def forget_node(self, node_id: str) -> Actions[T]:
        """The publisher is gone for good: what it still owed is lost; held events are released."""
        actions: Actions[T] = Actions()
        for key in [k for k in self._streams if k[0] == node_id]:
            self._give_up(key, self._remove(key), "publisher left", actions)
            self._waiting.discard(key)
        return actions

    def forget_topics(self, unwanted: Callable[[str], bool]) -> None:
        """Drop every stream whose topic is no longer subscribed (nothing is owed to nobody)."""
        for key in [k for k in self._streams if unwanted(k[1])]:
            self._remove(key)
            self._waiting.discard(key)

    def _add(self, key: tuple[str, str], stream: _Stream[T]) -> _Stream[T]:
        self._streams[key] = stream
        self._per_node[key[0]] += 1
        return stream

    def _remove(self, key: tuple[str, str]) -> _Stream[T]:
        count = self._per_node[key[0]] - 1
        if count > 0:
            self._per_node[key[0]] = count
        else:
            del self._per_node[key[0]]
        return self._streams.pop(key)

    # -- queries ------------------------------------------------------------------------------------
    def next_seq(self, node_id: str, topic: str) -> int:
        """The next sequence number the stream expects (0 when the stream is unknown)."""
        s = self._streams.get((node_id, topic))
        return 0 if s is None else s.next

    def expected(self, node_id: str) -> dict[str, int]:
        """The next sequence number each of ``node_id``'s known streams expects, by topic."""
        return {topic: s.next for (node, topic), s in self._streams.items() if node == node_id}

    def delivered_heads(self) -> dict[tuple[str, str], int]:
        """Per stream, the last sequence number released."""
        return {key: s.next - 1 for key, s in self._streams.items()}

    def held(self) -> int:
        """Events held back in reorder buffers."""
        return sum(len(s.pending) for s in self._streams.values())

    def outstanding(self) -> int:
        """Repair requests awaiting an answer."""
        return len(self._waiting)

    def overdue(self, now: float) -> set[str]:
        """The publishers with a request whose answer is late at ``now`` (what :meth:`tick` would
        re-send or, for a publisher not answerable, wait for)."""
        return {key[0] for key in self._waiting if self._streams[key].deadline <= now}

    def __len__(self) -> int:
        return len(self._streams)

    # -- internals ----------------------------------------------------------------------------------
    def _release(self, s: _Stream[T], actions: Actions[T]) -> None:
        pending, gone = s.pending, s.gone
        while True:
            item = pending.pop(s.next, None)
            if item is not None:
                actions.deliver.append(item)
                s.next += 1
            elif gone and gone[0][0] <= s.next:
                s.next = max(s.next, gone.pop(0)[1] + 1)
            else:
                return

    def _hole(self, s: _Stream[T]) -> tuple[int, int] | None:
        """The first range we lack, if any."""
        end = (min(s.pending) - 1) if s.pending else s.head
        if s.gone:
            end = min(end, s.gone[0][0] - 1)
        return (s.next, min(end, s.next + self.max_span - 1)) if end >= s.next else None

    def _ask(self, key: tuple[str, str], s: _Stream[T], now: float, actions: Actions[T]) -> None:
        if s.want is not None:
            return
        hole = self._hole(s)
        if hole is None:
            s.attempts = 0
            return
        s.attempts += 1
        if s.attempts > self.max_attempts:
            # the next hole gets one request: a publisher that ignored max_attempts of them is taken
            # not to answer until it does (an answer starts the count afresh), so n holes cost
            # max_attempts + n - 1 timeouts, not n x max_attempts
            s.attempts = self.max_attempts - 1
            self._lose(key, s, hole[0], hole[1], "the publisher did not answer repair requests", actions)
            self._release(s, actions)
            self._ask(key, s, now, actions)
            return
        s.want, s.deadline = hole, now + self.repair_timeout
        self._waiting.add(key)
        actions.repairs.append(RepairRequest(key[0], key[1], hole[0], hole[1]))

    def _lose(
        self, key: tuple[str, str], s: _Stream[T], a: int, b: int, why: str, actions: Actions[T]
    ) -> None:
        """Record ``a``..``b`` as lost (skipping parts already held) and let ``next`` pass it."""
        held = sorted(q for q in s.pending if a <= q <= b)
        start = a
        for q in [*held, b + 1]:
            if start <= q - 1:
                actions.lost.append(LostEvents(key[0], key[1], start, q - 1, why))
                s.gone.append((start, q - 1))
            start = q + 1
        s.gone.sort()
        if s.want is not None and s.want[0] <= b:
            s.want = None
            self._waiting.discard(key)

    def _give_up(self, key: tuple[str, str], s: _Stream[T], why: str, actions: Actions[T]) -> None:
        """Release everything held, reporting each hole before it as lost."""
        while s.pending:
            first = min(s.pending)
            if first > s.next:
                self._lose(key, s, s.next, first - 1, why, actions)
            self._release(s, actions)
        for a, b in [*s.gone, (s.head + 1, s.head + 1)]:  # the known tail, around ranges already lost
            if a > s.next and s.next <= s.head:
                actions.lost.append(LostEvents(key[0], key[1], s.next, min(a - 1, s.head), why))
            s.next = max(s.next, b + 1)
        s.gone.clear()
