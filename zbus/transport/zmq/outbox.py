"""Outbox: adaptive batching of a node's published events onto its XPUB socket.

Theory of operation
-------------------
Rule 1 (idle costs nothing): the first event published in a turn of the event loop is sent at
once, as its own three-frame message. No timer, no added latency.
Rule 2 (backlog batches): further events published in the same loop turn (a publisher that has
not yielded since: a burst, ``publish_batch``, a tight loop) are queued per topic and sent as one
batch message (``wire.encode_batch``) when ``max_events`` or ``max_bytes`` is reached, or when the
publisher yields to the loop (a ``call_soon`` callback closes the turn). ZeroMQ's prefix filter
works per message, so a batch carries events of one topic only.
Rule 3 (order): events of one topic leave in publish order; events of different topics published
in one burst may leave in a different order (zbus orders per stream, i.e. per publisher and topic).
Rule 4 (backpressure): a send that would block (``slow_subscriber = "block"``) is finished by
``send_blocking``; while one is outstanding, the next ``publish`` waits for it, which keeps the
order and paces the publisher like an unbatched blocking send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import zmq

from ...codec import wire
from ...observe.drops import Drops
from ...tasks import TaskGroup

__all__ = ["Outbox", "send_blocking"]

log = logging.getLogger("zbus")

# the defaults of transport.batch_max_events and transport.batch_max_bytes (the mesh passes the
# configured values; these serve an Outbox built without a Config, as in its unit tests)
MAX_EVENTS = 64
MAX_BYTES = 64 * 1024
# a publish blocked by a full XPUB (slow_subscriber="block") retries after this (s), doubling up to
# BLOCK_RETRY_MAX: fast resumption when the reader catches up, little CPU while it does not; how long it
# tries at all is transport.block_timeout
BLOCK_RETRY_FIRST = 0.0005
BLOCK_RETRY_MAX = 0.05


class _Batch:
    __slots__ = ("last_seq", "nbytes", "parts", "topic", "topic_b")

    def __init__(self, topic: str, topic_b: bytes) -> None:
        self.topic = topic
        self.topic_b = topic_b
        self.parts: list[bytes] = []
        self.nbytes = 0
        self.last_seq = 0

    def message(self) -> list[bytes]:
        if len(self.parts) == 2:
            return [self.topic_b, *self.parts]  # one event: the plain three-frame message
        return wire.encode_batch(self.topic_b, self.parts)


class Outbox:
    """Sends published events, batching them while the publisher is backlogged (module rules).

    Args:
        send: sends one message without blocking; raises ``would_block`` when it cannot.
        would_block: the exception ``send`` raises when the socket is full.
        send_blocking: finishes a send that would block; returns False if it gave up (the
            events were dropped and counted by it).
        on_sent: called with (topic, last sequence sent) once events are on the wire.
        max_events: most events per batch message (``transport.batch_max_events``).
        max_bytes: payload bytes at which a batch is sent early (``transport.batch_max_bytes``).
    """

    def __init__(
        self,
        send: Callable[[list[bytes]], None],
        would_block: type[BaseException],
        send_blocking: Callable[[list[bytes], int], Awaitable[bool]],
        on_sent: Callable[[str, int], None],
        *,
        max_events: int = MAX_EVENTS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._send = send
        self._would_block = would_block
        self._send_blocking = send_blocking
        self._on_sent = on_sent
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._turn_open = False
        self._pending: dict[str, _Batch] = {}
        self._stuck: asyncio.Task[None] | None = None  # the blocked send in flight (Rule 4)
        self._tasks = TaskGroup("outbox")
        self.batches_sent = 0

    async def publish(self, topic: str, seq: int, frames: list[bytes]) -> None:
        """Send (Rule 1) or queue (Rule 2) one event's wire frames."""
        while self._stuck is not None:
            await asyncio.shield(self._stuck)  # Rule 4
        if not self._turn_open:
            self._turn_open = True
            asyncio.get_running_loop().call_soon(self._end_turn)
            if not self._pending:
                single = _Batch(topic, frames[0])
                single.parts, single.last_seq = frames[1:], seq
                await self._send_now(single)
                return
        batch = self._pending.get(topic)
        if batch is None:
            batch = self._pending[topic] = _Batch(topic, frames[0])
        batch.parts += frames[1:]
        batch.nbytes += len(frames[1]) + len(frames[2])
        batch.last_seq = seq
        if len(batch.parts) >= 2 * self.max_events or batch.nbytes >= self.max_bytes:
            del self._pending[topic]
            await self._send_now(batch)

    async def _send_now(self, batch: _Batch) -> None:
        message = batch.message()
        try:
            self._send(message)
        except self._would_block:
            if not await self._send_blocking(message, len(batch.parts) // 2):
                return
        self._sent(batch)

    def _sent(self, batch: _Batch) -> None:
        if len(batch.parts) > 2:
            self.batches_sent += 1
        self._on_sent(batch.topic, batch.last_seq)

    def _end_turn(self) -> None:
        """The publisher yielded to the loop: the turn is over, send what it queued."""
        self._turn_open = False
        self.flush()

    def flush(self) -> None:
        """Send every queued batch now; what would block is finished by a task (Rule 4)."""
        batches = list(self._pending.values())
        self._pending.clear()
        for i, batch in enumerate(batches):
            try:
                self._send(batch.message())
            except self._would_block:
                previous = self._stuck
                self._stuck = self._tasks.spawn(self._finish(batches[i:], previous), "outbox-blocked-send")
                return
            self._sent(batch)

    async def _finish(self, batches: list[_Batch], previous: asyncio.Task[None] | None) -> None:
        try:
            if previous is not None:
                await previous
            for batch in batches:
                if await self._send_blocking(batch.message(), len(batch.parts) // 2):
                    self._sent(batch)
        finally:
            if self._stuck is asyncio.current_task():
                self._stuck = None

    async def close(self) -> None:
        """Send everything queued (waiting for a blocked send to finish first)."""
        self.flush()
        while self._stuck is not None:
            await self._stuck


async def send_blocking(send: Callable[[], None], timeout: float, dropped: Drops, events: int = 1) -> bool:
    """Only with ``slow_subscriber = "block"`` (XPUB_NODROP): retry ``send`` until the slowest
    subscriber makes room, giving up after ``timeout`` s (``transport.block_timeout``) without
    progress, with the ``events`` counted as dropped (``slow_subscriber``). Returns whether it was sent."""
    deadline = time.monotonic() + timeout
    delay = BLOCK_RETRY_FIRST
    while True:
        await asyncio.sleep(delay)
        try:
            send()
            return True
        except zmq.Again:
            if time.monotonic() > deadline:
                dropped.drop("slow_subscriber", count=events)
                log.warning(
                    "dropped %d event(s): a subscriber has not read for %g s (slow_subscriber=block)",
                    events,
                    timeout,
                )
                return False
            delay = min(delay * 2, BLOCK_RETRY_MAX)
