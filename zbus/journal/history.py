"""History: what a publisher can re-send — a ring of its recent events per topic, and its journal.

Subscribers that miss events ask the publisher for them (REPAIR, DESIGN §6); late joiners and durable
subscriptions ask which ranges exist (REPLAY) and then pull them with REPAIR. The ring answers the
recent past without touching LMDB (and is all a publisher without a journal can offer); the journal
answers the rest. Events neither holds are reported missing, so the subscriber can report them lost.

A recording node (``Node.record``) also keeps other publishers' events in its journal, under their
original streams. Every method that serves takes an ``origin``: the publisher whose stream is meant
(empty: this node's own). Other publishers' streams are served from the journal only (the ring holds
only this node's publishes), and :meth:`History.recorded` says whose streams the journal holds.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from ..codec import wire
from ..model.topics import compile_pattern
from .persistence import Persistence

__all__ = ["History"]

#: events one REPAIR answer carries at most (the subscriber asks again for the rest)
MAX_SERVE = 2000


class History:
    """The events publisher ``node_id`` can still serve.

    Args:
        ring_size: recent events kept in memory per topic (``transport.repair_buffer``; 0 = none).
        ring_bytes: the payload bytes a topic's ring holds at most (``transport.repair_buffer_bytes``):
            large events are kept fewer, so the ring's memory is bounded in bytes too.
        persistence: the node's journal, or ``None``.
    """

    def __init__(
        self, node_id: str, *, ring_size: int, persistence: Persistence | None, ring_bytes: int = 1 << 62
    ) -> None:
        self.node_id = node_id
        self.ring_size = ring_size
        self.ring_bytes = ring_bytes
        self.persistence = persistence
        self._rings: dict[str, deque[tuple[int, float, list[bytes]]]] = {}
        self._bytes: dict[str, int] = {}  # payload bytes per ring
        self.served = 0

    def record(self, topic: str, seq: int, ts: float, frames: list[bytes]) -> None:
        """Remember a just-published event (called once per broadcast publish; O(1) amortized)."""
        if self.ring_size:
            ring = self._rings.get(topic)
            if ring is None:
                ring = self._rings[topic] = deque(maxlen=self.ring_size)
                self._bytes[topic] = 0
            held = self._bytes[topic] + len(frames[-1])
            if len(ring) == self.ring_size:
                held -= len(ring[0][2][-1])  # (the deque lets its oldest go)
            ring.append((seq, ts, frames))
            while held > self.ring_bytes and len(ring) > 1:
                held -= len(ring.popleft()[2][-1])
            self._bytes[topic] = held

    def unrecord(self, topic: str, seq: int) -> None:
        """Forget event ``seq`` of ``topic`` again: its publish failed (the journal refused it)."""
        ring = self._rings.get(topic)
        if ring and ring[-1][0] == seq:
            self._bytes[topic] -= len(ring.pop()[2][-1])

    async def serve(
        self, topic: str, first: int, last: int, origin: str = ""
    ) -> tuple[list[list[bytes]], list[tuple[int, int]]]:
        """The stored events of ``topic`` with ``first <= seq <= last`` (at most ``MAX_SERVE``), and the
        ranges within the served span that neither the ring nor the journal holds. ``origin``: the
        publisher of the stream (empty: this node)."""
        last = min(last, first + MAX_SERVE - 1)
        node_id = origin or self.node_id
        # copy what the ring holds *now*: the journal read below awaits, and meanwhile new publishes
        # push the oldest entries out of the ring
        recent = self._ring_slice(topic, first, last) if node_id == self.node_id else []
        found: list[tuple[int, list[bytes]]] = []
        ring_first = recent[0][0] if recent else last + 1
        if self.persistence is not None and first < ring_first:
            stored = await self.persistence.read_range(node_id, topic, first, ring_first - 1)
            found.extend((wire.decode(frames, max_message_size=2**62)._seq, frames) for frames in stored)
        for seq, frames in recent:
            if not found or seq > found[-1][0]:
                found.append((seq, frames))
        missing: list[tuple[int, int]] = []
        expect = first
        for seq, _frames in found:
            if seq > expect:
                missing.append((expect, seq - 1))
            expect = seq + 1
        if expect <= last:
            missing.append((expect, last))
        self.served += len(found)
        return [frames for _seq, frames in found], missing

    def _ring_slice(self, topic: str, first: int, last: int) -> list[tuple[int, list[bytes]]]:
        """The ring's events of ``topic`` with ``first <= seq <= last``, oldest first (a copy)."""
        ring = self._rings.get(topic)
        if not ring or last < ring[0][0]:
            return []
        # ring sequences are contiguous (one per publish), so index arithmetic finds the slice
        offset = max(0, first - ring[0][0])
        end = min(len(ring), offset + last - max(first, ring[0][0]) + 1)
        window = itertools.islice(ring, offset, end)
        return [(seq, frames) for seq, _ts, frames in window if first <= seq <= last]

    async def plan(
        self, pattern: str, *, since: float, last: int, start: dict[str, int], origin: str = ""
    ) -> dict[str, tuple[int, int]]:
        """For a REPLAY: per matching topic of publisher ``origin`` (empty: this node), the range
        ``(first, head)`` to pull."""
        compiled = compile_pattern(pattern)
        owner = origin or self.node_id
        heads: dict[str, int] = {}
        if self.persistence is not None:
            for (node_id, topic), head in (await self.persistence.stream_heads()).items():
                if node_id == owner:
                    heads[topic] = head
        for topic, ring in self._rings.items() if owner == self.node_id else ():
            if ring:
                heads[topic] = max(heads.get(topic, 0), ring[-1][0])
        plan: dict[str, tuple[int, int]] = {}
        for topic, head in heads.items():
            if not compiled.matches(topic):
                continue
            if topic in start:
                first = start[topic]
            elif last > 0:
                first = max(1, head - last + 1)
            else:
                first = await self._first_since(topic, since, owner)
            if first <= head:
                plan[topic] = (first, head)
        return plan

    async def recorded(self, pattern: str) -> list[str]:
        """The other publishers with a stream matching ``pattern`` in this node's journal (recorded)."""
        if self.persistence is None:
            return []
        compiled = compile_pattern(pattern)
        heads = await self.persistence.stream_heads()
        return sorted({n for n, topic in heads if n != self.node_id and compiled.matches(topic)})

    async def _first_since(self, topic: str, since: float, owner: str) -> int:
        """The first sequence of ``owner``'s ``topic`` still held whose timestamp is at or after ``since``."""
        if self.persistence is not None:
            seq = await self.persistence.first_seq_since(owner, topic, since)
            if seq is not None:
                return seq
        ring = self._rings.get(topic) if owner == self.node_id else None
        for seq, ts, _frames in ring or ():
            if ts >= since:
                return seq
        return 2**63  # nothing at or after since

    def statistics(self) -> dict[str, Any]:
        """Ring occupancy and events served to repairs."""
        return {
            "topics": len(self._rings),
            "ring_events": sum(map(len, self._rings.values())),
            "served": self.served,
        }
