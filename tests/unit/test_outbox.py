"""Outbox: adaptive batching rules (zbus/outbox.py), with a fake socket that records messages."""

from __future__ import annotations

import asyncio

from zbus import Event
from zbus.codec import wire
from zbus.transport.zmq.outbox import Outbox


class WouldBlock(Exception):
    pass


class FakeSocket:
    """Records sent messages; refuses while ``full`` (like XPUB_NODROP at its high-water mark)."""

    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []
        self.room = asyncio.Event()
        self.room.set()
        self.blocking_calls = 0

    @property
    def full(self) -> bool:
        return not self.room.is_set()

    @full.setter
    def full(self, value: bool) -> None:
        if value:
            self.room.clear()
        else:
            self.room.set()

    def send(self, frames: list[bytes]) -> None:
        if self.full:
            raise WouldBlock
        self.sent.append(frames)

    async def send_blocking(self, frames: list[bytes], events: int) -> bool:
        self.blocking_calls += 1
        await self.room.wait()  # the fake's stand-in for "the subscriber read some"
        self.sent.append(frames)
        return True

    def events(self) -> list[tuple[str, int]]:
        """(topic, seq) of every event sent, batches unpacked, in wire order."""
        out = []
        for message in self.sent:
            singles = wire.split_batch(message) if len(message) == 2 else [message]
            out += [(e.topic, e.seq) for e in map(wire.decode, singles)]
        return out


def frames(topic: str, seq: int) -> list[bytes]:
    return wire.encode(Event(topic, {"n": seq}), node_id="n", seq=seq, epoch=1)


def outbox(sock: FakeSocket, heads: dict[str, int], **kw: int) -> Outbox:
    return Outbox(sock.send, WouldBlock, sock.send_blocking, heads.__setitem__, **kw)


async def test_an_idle_publisher_sends_at_once() -> None:
    sock, heads = FakeSocket(), {}
    box = outbox(sock, heads)
    await box.publish("a.b", 1, frames("a.b", 1))
    assert len(sock.sent) == 1 and len(sock.sent[0]) == 3  # a plain three-frame event, no delay
    assert heads == {"a.b": 1}
    await asyncio.sleep(0)  # the turn ends
    await box.publish("a.b", 2, frames("a.b", 2))
    assert len(sock.sent) == 2 and len(sock.sent[1]) == 3


async def test_a_burst_is_batched_per_topic_and_flushed_when_the_publisher_yields() -> None:
    sock, heads = FakeSocket(), {}
    box = outbox(sock, heads)
    for seq in range(1, 11):
        await box.publish("a", seq, frames("a", seq))
        await box.publish("b", seq, frames("b", seq))
    assert len(sock.sent) == 1  # only the first event so far; the rest waits for the turn's end
    await asyncio.sleep(0)
    events = sock.events()
    assert [s for t, s in events if t == "a"] == list(range(1, 11))  # per-topic order kept
    assert [s for t, s in events if t == "b"] == list(range(1, 11))
    assert all(len(m) == 2 for m in sock.sent[1:]) and box.batches_sent == 2
    assert heads == {"a": 10, "b": 10}


async def test_a_full_batch_goes_out_without_waiting_for_the_turn() -> None:
    sock, heads = FakeSocket(), {}
    box = outbox(sock, heads, max_events=4)
    for seq in range(1, 10):
        await box.publish("a", seq, frames("a", seq))
    assert [len(wire.split_batch(m)) for m in sock.sent if len(m) == 2] == [4, 4]
    await asyncio.sleep(0)
    assert [s for _, s in sock.events()] == list(range(1, 10))


async def test_a_blocked_flush_makes_the_next_publish_wait_and_keeps_order() -> None:
    sock, heads = FakeSocket(), {}
    box = outbox(sock, heads)
    for seq in range(1, 6):
        await box.publish("a", seq, frames("a", seq))
    sock.full = True
    await asyncio.sleep(0)  # the turn ends: the flush would block and is handed to a task
    publishing = asyncio.ensure_future(box.publish("a", 6, frames("a", 6)))
    await asyncio.sleep(0.01)
    assert not publishing.done()  # backpressure: it waits behind the blocked batch
    sock.full = False
    await asyncio.wait_for(publishing, 5)
    await box.close()
    assert [s for _, s in sock.events()] == list(range(1, 7))
    assert sock.blocking_calls >= 1 and heads == {"a": 6}


async def test_close_sends_what_is_queued() -> None:
    sock, heads = FakeSocket(), {}
    box = outbox(sock, heads)
    for seq in range(1, 4):
        await box.publish("a", seq, frames("a", seq))
    await box.close()
    assert [s for _, s in sock.events()] == [1, 2, 3]
