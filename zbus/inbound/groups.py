"""Groups: a node's queue groups, as publisher (``protocol.groups.GroupBook`` carried out) and as member.

As publisher, every event it publishes goes out as before (XPUB, plain subscribers) and then, for
each queue group whose members match its topic, to one member chosen by the book: a ``DELIVER``
message on that member's DEALER (events gathered per member and group for one turn of the event
loop), or straight to a local subscription when this node is the member. ``ACK`` messages free
credit; a ticker redelivers what was not acknowledged within ``groups.ack_wait``; the peer table
says who left. With a journal, each group's contiguous acknowledged point per topic is checkpointed
(name ``$group:<group>``) and what lies beyond it is delivered again after a restart.

As member, a ``DELIVER``'s events go to this node's subscriptions of that group (the least busy
one), each carrying a receipt: the subscription acknowledges when its consumer is done with the
event (handler returned, iterator came back), and ``event.ack()``/``nack()``/``in_progress()``
answer early. Answers are gathered per publisher into one ``ACK`` per turn of the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..codec import wire
from ..codec.control import Kind
from ..codec.groups import KEY_HEADER, Acks, decode_deliver, encode_deliver_rows, key_of, seq_of
from ..config import GroupsConfig
from ..delivery.deadletters import DeadLetter
from ..delivery.routing import Subscriptions
from ..delivery.subscription import Subscription
from ..errors import PeerLostError, WireError, ZbusError
from ..journal.checkpoints import checkpoint_names, load_checkpoint, save_checkpoint
from ..journal.persistence import Persistence
from ..model.event import Event
from ..model.peer import PeerInfo
from ..observe.drops import Drops
from ..observe.statistics import GroupMemberStatistics, GroupStatistics
from ..protocol.groups import Actions, GroupBook, Owed
from ..protocol.shares import ack_batch
from ..protocol.watermark import Watermarks
from ..tasks import TaskGroup
from ..transport.base import Transport

__all__ = ["ACK_ON_FINISH", "CHECKPOINT_PREFIX", "Groups"]

log = logging.getLogger("zbus")
_decode = wire.decode
_monotonic = time.monotonic

#: journal checkpoint names of a publisher's groups: ``$group:<group name>``
CHECKPOINT_PREFIX = "$group:"
#: most events in one DELIVER message (a member refuses more than ``codec.groups.MAX_DELIVER_EVENTS``)
DELIVER_BATCH = 256
#: bytes of a DELIVER message besides its events' frames (group name, ids; generous)
DELIVER_OVERHEAD = 1024
#: a publisher hands its groups' new events to the book once this many are gathered (else at the end
#: of the loop turn): the book's bookkeeping is done per run, not per event
OFFER_BATCH = 64
#: the ticker's longest sleep (s): redeliveries and checkpoints are at most this late
TICK = 0.1


class _Receipt:
    """The answer owed for one group delivery (``Event.ack``/``nack``/``in_progress``)."""

    __slots__ = ("_batch", "_groups", "_id", "_publisher", "answered")

    def __init__(self, groups: Groups, publisher: str, delivery: int, batch: int) -> None:
        self._groups, self._publisher, self._id, self._batch = groups, publisher, delivery, batch
        self.answered = False

    def ack(self) -> bool:
        if self.answered:
            return False
        self.answered = True
        groups = self._groups
        # an Acks gathered for the publisher means a flush is already due (_answer scheduled it)
        acks = groups._answers.get(self._publisher) or groups._answer(self._publisher)
        acks.ack.append(self._id)
        groups.acked += 1
        if len(acks.ack) >= self._batch:  # long runs of quick handlers: keep the publisher's pipe full
            groups._send_answers(self._publisher)
        return True

    def nack(self, delay: float) -> bool:
        if self.answered:
            return False
        self.answered = True
        self._groups._answer(self._publisher).nack.append((self._id, max(0.0, min(float(delay), 86_400.0))))
        self._groups.nacked += 1
        return True

    def in_progress(self) -> bool:
        if self.answered:
            return False
        self._groups._answer(self._publisher).wip.append(self._id)
        return True


class _AckOnFinish:
    """The ``Admission`` of a group subscription: when the consumer is done with an event, ack it."""

    def admit(self, event: Event) -> bool:
        return True

    def skip(self, event: Event) -> None:
        pass

    def finished(self, event: Event) -> None:
        receipt = getattr(event, "_receipt", None)
        if receipt is not None:
            receipt.ack()


ACK_ON_FINISH = _AckOnFinish()


class Groups:
    """A node's queue groups (see the module docstring).

    Args:
        node_id: this node's id.
        name: this node's name (statistics name it when it is a member of a group it feeds).
        epoch: this incarnation's epoch (delivery ids start from it).
        config: the ``[groups]`` settings.
        transport: to send DELIVER and ACK, and to announce memberships.
        subscriptions: the node's registry (its group subscriptions are the local members).
        persistence: the journal, or ``None``: then unacknowledged work lives in memory only.
        dead_lettered: where events given up on go (the node's dead-letter office).
        max_message_size: the largest DELIVER accepted.
    """

    def __init__(
        self,
        *,
        node_id: str,
        name: str,
        epoch: int,
        config: GroupsConfig,
        transport: Transport,
        subscriptions: Subscriptions,
        persistence: Persistence | None,
        dead_lettered: Callable[[DeadLetter], None],
        max_message_size: int,
    ) -> None:
        self.node_id = node_id
        self.config = config
        self.transport = transport
        self.subscriptions = subscriptions
        #: security on: the transport's check of (node id, source), see ``Router.authenticate``
        self.authentic: Callable[[str, str], bool] | None = None
        self.persistence = persistence
        self._dead_lettered = dead_lettered
        self.max_message_size = max_message_size
        # delivery ids start from the epoch (µs) x 1000: a restarted journaled publisher (same node id)
        # never reuses one that a member may still acknowledge from its last run
        first = (epoch * 1000) % 2**63 + 1
        self.book = GroupBook(ack_wait=config.ack_wait, max_deliver=config.max_deliver, first_id=first)
        self.dropped = Drops("groups")
        #: acks gathered for one publisher before they go (else at the end of the loop turn), per
        #: group this node is a member of: half the credit it announces for the group
        self._ack_batches: dict[str, int] = {}
        self._ack_batch = ack_batch(config.max_in_flight)  # a group not (or no longer) announced
        self._out: dict[tuple[str, str], list[Owed]] = {}  # (member, group) -> events to DELIVER
        self._incoming: list[tuple[tuple[str, ...], str, int, list[bytes]]] = []  # published, not yet offered
        self._answers: dict[str, Acks] = {}  # publisher -> what we owe it
        self._flush_due = False
        self._room = asyncio.Event()
        self._room.set()
        self._marks: dict[str, Watermarks] = {}  # journaled: group -> per-topic acknowledged point
        self._streams: set[tuple[str, str]] = set()  # journaled: (group, topic) pairs seen this run
        self._names: dict[str, str] = {node_id: name}  # member id -> name, for statistics
        self._epochs: dict[str, int] = {}  # peer id -> epoch: a journaled member's restart is noticed
        self._members: dict[tuple[str, str], list[Subscription]] = {}  # (group, topic) -> ours
        self._tasks = TaskGroup("groups")
        self._started = False
        self._turn = 0
        self.received = self.acked = self.nacked = self.refused = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self, heads: Mapping[str, int]) -> None:
        """Start the ticker; with a journal, take back what the last run left unacknowledged."""
        self._started = True
        if self.persistence is not None:
            await self._restore(self.persistence, heads)
        self._tasks.spawn(self._tick(), "groups-ticker")

    async def close(self) -> None:
        """Stop the ticker, send what is gathered and write the last checkpoints."""
        self._flush()
        await self._tasks.close()
        await self._save()

    # -- publisher side ----------------------------------------------------------------------------
    def publish(self, topic: str, seq: int, frames: list[bytes]) -> Awaitable[None]:
        """Send a published event on to the transport (plain subscribers), and gather it for each queue
        group it is for (handed to the book at the end of the loop turn, or once ``OFFER_BATCH`` are
        gathered); waits only while ``groups.max_waiting`` events already wait for credit, and lets the
        loop turn once per run handed to the book (so a tight publishing loop feeds the members as
        it goes). A topic no group wants costs one dict lookup. Either way the transport's own
        awaitable comes back, unless this publish must wait for room or yield."""
        groups = self.book.groups_for(topic)
        if groups:
            incoming = self._incoming
            incoming.append((groups, topic, seq, frames))
            if not self._room.is_set():
                if not self._flush_due:
                    self._schedule()
                return self._publish_waiting(topic, seq, frames)
            if len(incoming) >= OFFER_BATCH:
                self._offer_incoming()
                # let the loop turn once per run: the DELIVERs just made go out, the members' ACKs come in
                # (else a tight loop fills max_waiting while members, out of credit, sit idle)
                return self._publish_yielding(topic, seq, frames)
            if not self._flush_due:
                self._schedule()
        return self.transport.publish(topic, seq, frames)

    async def _publish_waiting(self, topic: str, seq: int, frames: list[bytes]) -> None:
        await self.transport.publish(topic, seq, frames)
        await self._room.wait()

    async def _publish_yielding(self, topic: str, seq: int, frames: list[bytes]) -> None:
        await self.transport.publish(topic, seq, frames)
        await asyncio.sleep(0)
        if not self._room.is_set():
            await self._room.wait()

    def _offer_incoming(self) -> None:
        """Hand the gathered events to the book: each run of one topic (and the same groups) at once."""
        incoming, self._incoming = self._incoming, []
        now = _monotonic()
        book, journaled = self.book, self.persistence is not None
        at, end = 0, len(incoming)
        while at < end:
            groups, topic = incoming[at][0], incoming[at][1]
            stop = at + 1
            while stop < end and incoming[stop][1] == topic and incoming[stop][0] == groups:
                stop += 1
            run = [(seq, key_of(frames), frames) for _, _, seq, frames in incoming[at:stop]]
            at = stop
            try:
                for group in groups:
                    if journaled:
                        for seq, _, _ in run:
                            self._offered(group, topic, seq)
                    actions = book.offer_run(group, topic, run, now)
                    if actions.sends or actions.given_up or actions.finished:
                        self._act(actions)
            except BaseException:
                self._incoming[:0] = incoming[at:]  # the runs after this one are still owed
                raise
        if book.waiting >= self.config.max_waiting and book.movable >= self.config.max_waiting:
            self._room.clear()

    def _offered(self, group: str, topic: str, seq: int) -> None:
        marks = self._marks.get(group)
        if marks is None:
            marks = self._marks[group] = Watermarks()
        stream = (self.node_id, topic)
        if (group, topic) not in self._streams:
            self._streams.add((group, topic))
            if marks.watermark(stream) == 0:  # a new stream for this group: owed from here on, and
                marks.skipped(stream, seq - 1)  # checkpointed even if nothing of it is ever acked
        marks.offered(stream, seq)

    def _act(self, actions: Actions) -> None:
        node_id, pending = self.node_id, self._out
        for send in actions.sends:
            if send.member == node_id:
                batch = self._ack_batches.get(send.group, self._ack_batch)
                for owed in send.events:
                    self._accept(node_id, send.group, owed.id, list(owed.item), batch)  # type: ignore[call-overload]
                continue
            where = (send.member, send.group)
            out = pending.get(where)
            if out is None:
                pending[where] = out = []
            out += send.events
            if len(out) >= DELIVER_BATCH:
                self._send_out(send.member, send.group, pending.pop(where))
        if actions.given_up:
            for given_up in actions.given_up:
                self._give_up(given_up.owed, given_up.reason)
        if actions.finished and self._marks:
            for owed in actions.finished:
                marks = self._marks.get(owed.group)
                if marks is not None:
                    marks.done((node_id, owed.topic), owed.seq)
        if not self._room.is_set():
            # resume once half is left, so a publisher held back wakes once per many events; but at
            # once below max_waiting when these actions moved nothing: what waits may be stuck (delayed
            # nacks) and must not hold back the other groups; a memberless group's events never count
            waiting = self.book.movable
            if waiting <= self.config.max_waiting // 2 or (
                waiting < self.config.max_waiting and not actions.sends
            ):
                self._room.set()
        if not self._flush_due:
            self._schedule()

    def _give_up(self, owed: Owed, reason: str) -> None:
        try:
            event = wire.decode(list(owed.item), max_message_size=2**62)  # type: ignore[call-overload]
        except WireError:
            return
        attempts = f"delivered {owed.attempt} time(s) to group {owed.group!r} without an ack ({reason})"
        log.warning("group event %s dead-lettered: %s", event.id, attempts)
        letter = DeadLetter(
            event=event._derive(attempts=owed.attempt, last_error=f"MaxDeliver: {attempts}"),
            error_type="MaxDeliver",
            error=attempts,
            handler="",
            subscription=f"group {owed.group}",
            ts=time.time(),
        )
        self._dead_lettered(letter)

    def _send_out(self, member: str, group: str, events: list[Owed]) -> None:
        """DELIVER ``events`` to ``member`` in messages it accepts: ``DELIVER_BATCH`` events at most (it
        refuses over 4,096) and ``transport.max_message_size`` bytes less room for its other fields."""
        budget = self.max_message_size - DELIVER_OVERHEAD
        rows: list[list[Any]] = []
        size = 0
        for owed in events:
            frames: list[bytes] = owed.item  # type: ignore[assignment]
            length = len(frames[0]) + len(frames[1]) + len(frames[2]) + 32
            if length > budget:  # fits an event message, not a DELIVER: it cannot reach a member
                self.dropped.drop("too_large_for_group", f"event {owed.topic}#{owed.seq}")
                self._act(self.book.nack(member, owed.id, 0.0, time.monotonic()))  # dead-lettered in the end
                continue
            if rows and (size + length > budget or len(rows) == DELIVER_BATCH):
                self._send(member, Kind.DELIVER, encode_deliver_rows(group, rows))
                rows, size = [], 0
            rows.append([owed.id, owed.attempt, frames[0], frames[1], frames[2]])
            size += length
        if rows:
            self._send(member, Kind.DELIVER, encode_deliver_rows(group, rows))

    def _send(self, peer: str, kind: Kind, body: bytes) -> None:
        transport = self.transport
        try:
            if transport.eager_send:
                transport.send_now(peer, kind, [body])
            else:
                self._tasks.spawn(self._send_later(peer, kind, body), f"groups-{kind.name}")
        except PeerLostError:
            self.dropped.drop("peer_lost")  # a DELIVER comes back after ack_wait or when it leaves

    async def _send_later(self, peer: str, kind: Kind, body: bytes) -> None:
        try:
            await self.transport.send(peer, kind, [body])
        except PeerLostError:
            self.dropped.drop("peer_lost")

    def on_acks(self, sender: str, acks: Acks) -> None:
        """A member answered: acks free its credit, nacks and ``in_progress`` are applied."""
        now = time.monotonic()
        book = self.book
        if acks.wip:
            book.in_progress(sender, acks.wip, now)
        if acks.ack:
            self._act(book.ack(sender, acks.ack, now))
        for delivery, delay in acks.nack:
            self._act(book.nack(sender, delivery, delay, now))

    def members_changed(self, peers: list[PeerInfo]) -> None:
        """The peer table or this node's own group subscriptions changed."""
        ads: dict[str, dict[str, tuple[tuple[str, ...], int]]] = {}
        now = time.monotonic()
        for peer in peers:
            if peer.groups:
                ads[peer.id] = {g: (p, c) for g, p, c in peer.groups}
                self._names[peer.id] = peer.name
            if self._epochs.setdefault(peer.id, peer.epoch) != peer.epoch:
                self._epochs[peer.id] = peer.epoch
                self._act(self.book.restarted(peer.id, now))
        if len(self._epochs) > 4 * len(peers) + 1024:  # forget peers long gone (bounded)
            live = {p.id for p in peers}
            self._epochs = {k: v for k, v in self._epochs.items() if k in live}
            self._names = {k: v for k, v in self._names.items() if k in live or k == self.node_id}
        self._members.clear()  # this node's own group subscriptions may have changed
        own = self.subscriptions.groups(self.config.max_in_flight)
        self._ack_batches = {group: ack_batch(credit) for group, (_, credit) in own.items()}
        if own:
            ads[self.node_id] = own
        self._act(self.book.set_members(ads, now))

    def subscribers(self, topic: str, group: str | None) -> int:
        """``Node.wait_for_subscribers``: the transport's count, or with ``group`` its members'."""
        return self.transport.subscriber_count(topic) if group is None else self.member_count(group, topic)

    def member_count(self, group: str, topic: str) -> int:
        """Members of ``group`` (nodes, this one included) with a pattern matching ``topic``."""
        return sum(1 for c in self.book.counts() if c.group == group and self.book.member_matches(c, topic))

    # -- member side -------------------------------------------------------------------------------
    def on_direct(self, kind: Kind, sender: str, frames: list[bytes]) -> None:
        """A DELIVER or ACK from peer ``sender``.

        Raises:
            WireError: the message is malformed (the router counts it as ``malformed_group``).
        """
        if len(frames) != 1:
            raise WireError(f"{kind.name} has 1 body frame, got {len(frames)}")
        if kind is Kind.ACK:
            self.on_acks(sender, Acks.decode(frames[0]))
            return
        group, events = decode_deliver(frames[0], self.max_message_size)
        accept, batch = self._accept, self._ack_batches.get(group, self._ack_batch)  # once per DELIVER
        for item in events:
            accept(sender, group, item.id, item.frames, batch)

    def _accept(self, publisher: str, group: str, delivery: int, frames: list[bytes], batch: int) -> None:
        """One delivered event (``batch``: acks gathered for ``publisher`` before they go)."""
        try:
            event = _decode(frames, max_message_size=self.max_message_size)
        except WireError:
            self.dropped.drop("malformed")
            self._answer(publisher).ack.append(delivery)  # never deliverable: do not send it again
            return
        if event._node_id != publisher:  # a DELIVER carries its sender's own events only
            detail = f"{event._node_id[:16]} delivered by {publisher[:16]}"
            self.dropped.drop("spoofed_sender", detail, peer=publisher)
            self._answer(publisher).ack.append(delivery)
            return
        if self.authentic is not None and not self.authentic(publisher, event._source):
            self._answer(publisher).ack.append(delivery)  # a forged source (counted): never delivered
            return
        self.received += 1
        receipt = _Receipt(self, publisher, delivery, batch)
        event._receipt = receipt
        members = self._members.get((group, event._topic))
        if members is None:
            members = self.subscriptions.members(group, event._topic)
            if len(self._members) < 10_000:
                self._members[(group, event._topic)] = members
        if len(members) == 1 and members[0].predicate is None and not members[0].closed:
            only = members[0]  # the usual case: one subscription of the group, no filter
            if not (only.has_room() and only.offer(event, publisher != self.node_id)):
                self.refused += 1  # (offer is False when a "block" backlog already has a line)
                receipt.nack(0.0)  # its backlog is full: deliver it elsewhere
            return
        candidates = [s for s in members if not s.closed and (s.predicate is None or s.predicate(event))]
        if not candidates:
            if any(not s.closed for s in members):
                receipt.ack()  # filtered out here: done
            else:
                receipt.nack(0.0)  # no longer a member here: for another member
            return
        key = event._headers.get(KEY_HEADER) if len(candidates) > 1 else None
        if key is not None:  # one key, one subscription (in order), as the publisher does per node
            sub: Subscription | None = candidates[zlib.crc32(key.encode()) % len(candidates)]
            sub = sub if sub is not None and sub.has_room() else None
        else:
            sub = self._least_busy(candidates)
        if sub is None or not sub.offer(event, publisher != self.node_id):
            self.refused += 1
            receipt.nack(0.0)  # its backlog is full: deliver it elsewhere

    def _least_busy(self, subs: list[Subscription]) -> Subscription | None:
        self._turn += 1
        ordered = subs[self._turn % len(subs) :] + subs[: self._turn % len(subs)]
        roomy = [s for s in ordered if s.has_room()]
        return min(roomy, key=lambda s: s.statistics().queued) if roomy else None

    def _answer(self, publisher: str) -> Acks:
        acks = self._answers.get(publisher)
        if acks is None:
            acks = self._answers[publisher] = Acks()
        self._schedule()
        return acks

    # -- sending what was gathered -----------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._flush_due and (self._out or self._answers or self._incoming):
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _send_answers(self, publisher: str) -> None:
        acks = self._answers.pop(publisher, None)
        if acks:
            if publisher == self.node_id:
                self.on_acks(publisher, acks)
            else:
                self._send(publisher, Kind.ACK, acks.encode())

    def _flush(self) -> None:
        try:
            if self._incoming:
                self._offer_incoming()  # before the flag drops: what it sends goes out below
        finally:
            self._flush_due = False  # whatever happened, later turns flush again
        out, self._out = self._out, {}
        for (member, group), events in out.items():
            self._send_out(member, group, events)
        answers, self._answers = self._answers, {}
        for publisher, acks in answers.items():
            if publisher == self.node_id:
                self.on_acks(publisher, acks)
            else:
                self._send(publisher, Kind.ACK, acks.encode())

    # -- time: redelivery and checkpoints ----------------------------------------------------------
    async def _tick(self) -> None:
        saved = time.monotonic()
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            try:  # redelivery must outlive any one failure: a dead ticker would owe work forever
                actions = self.book.tick(now)
                if actions:
                    self._act(actions)
                if self._marks and now - saved >= TICK * 2:
                    saved = now
                    await self._save()
            except ZbusError as exc:
                log.warning("groups: %s (trying again in %.1f s)", exc, TICK)
            except Exception:
                log.exception("groups: redelivery tick failed (trying again in %.1f s)", TICK)

    async def _save(self) -> None:
        if self.persistence is None:
            return
        for group, marks in self._marks.items():
            await save_checkpoint(self.persistence, CHECKPOINT_PREFIX + group, marks.take_changed())

    async def _restore(self, persistence: Persistence, heads: Mapping[str, int]) -> None:
        names = await checkpoint_names(persistence, CHECKPOINT_PREFIX)
        now = time.monotonic()
        restored = 0
        for name in names:
            group = name[len(CHECKPOINT_PREFIX) :]
            resume = await load_checkpoint(persistence, name)
            marks = self._marks[group] = Watermarks(dict(resume.start))
            for (node_id, topic), mark in sorted(resume.start.items()):
                last = heads.get(topic, 0) if node_id == self.node_id else 0
                head = min(last, mark + self.config.max_waiting - restored)
                if head < last:  # the rest stays owed in the journal for the next restart: the
                    marks.hold((node_id, topic), max(head, mark) + 1)  # checkpoint must not pass it
                if head <= mark:
                    continue
                for frames in await persistence.read_range(node_id, topic, mark + 1, head):
                    seq = seq_of(frames)
                    marks.offered((node_id, topic), seq)
                    self._act(self.book.offer(group, topic, seq, key_of(frames), frames, now))
                    restored += 1
        if restored:
            log.info("groups: %d unacknowledged event(s) of the last run owed again", restored)

    # -- views -------------------------------------------------------------------------------------
    def statistics(self) -> GroupStatistics:
        """Publisher and member counters (see ``GroupStatistics``)."""
        book = self.book
        # fmt: off
        members = tuple(
            GroupMemberStatistics(group=c.group, member=c.member, name=self._names.get(c.member, ""),
                                  credit=c.credit, in_flight=c.in_flight, sent=c.sent, acked=c.acked,
                                  redelivered=c.redelivered)
            for c in book.counts()
            if c.member != self.node_id or c.sent  # a member that feeds no group has no view of one
        )
        # published, not yet handed to the book: waiting too (once per group, as the book counts)
        waiting = book.waiting + sum(len(groups) for groups, _, _, _ in self._incoming)
        return GroupStatistics(members=members, waiting=waiting, in_flight=book.in_flight,
                               redelivered=book.redelivered, dead_lettered=book.given_up,
                               stale_acks=book.stale_acks, received=self.received, acked=self.acked,
                               nacked=self.nacked, refused=self.refused)
        # fmt: on
