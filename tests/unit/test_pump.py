"""Pump's safety poll (Rule 4): one timer per event loop looks at every socket; real ZeroMQ sockets."""

from __future__ import annotations

import asyncio

import zmq

from zbus.transport.zmq.pump import _SWEEPS, Pump


async def test_messages_whose_wake_up_was_consumed_arrive_by_the_safety_poll() -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    pairs = []
    try:
        got: list[tuple[int, bytes]] = []
        all_in = asyncio.Event()

        def handle(i: int, frames: list[bytes]) -> None:
            got.append((i, frames[0]))
            if len(got) == 20:
                all_in.set()

        pumps = []
        for i in range(20):
            a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
            a.bind(f"inproc://pump-{i}")
            b.connect(f"inproc://pump-{i}")
            pairs += [a, b]
            pumps.append(Pump(b, lambda frames, i=i: handle(i, frames), f"t{i}", safety_poll=0.05))
        await asyncio.sleep(0.01)  # the pumps park
        loop = asyncio.get_running_loop()
        assert _SWEEPS[loop].pumps.keys() >= set(pumps)
        for i in range(20):
            pairs[2 * i].send(b"x")
            pairs[2 * i + 1].getsockopt(zmq.EVENTS)  # takes the readiness edge before the loop sees it
        async with asyncio.timeout(5):
            await all_in.wait()
        assert sorted(got) == [(i, b"x") for i in range(20)]
        for pump in pumps:
            await pump.stop()
        assert not _SWEEPS[loop].pumps and _SWEEPS[loop]._timer is None  # no timer left behind
    finally:
        for sock in pairs:
            sock.close(linger=0)
        ctx.term()


async def test_a_pump_stopped_with_finish_hands_on_what_waits_for_room_and_reads_nothing_more() -> None:
    """``stop(finish=True)``: a message waiting for room (Rule 2) arrives; a cancel would lose it."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        a.bind("inproc://pump-finish")
        b.connect("inproc://pump-finish")
        room, entered = asyncio.Event(), asyncio.Event()
        got: list[bytes] = []

        async def wait_for_room(frames: list[bytes]) -> None:
            entered.set()
            await room.wait()
            got.append(frames[0])

        pump = Pump(b, wait_for_room, "finish", safety_poll=0.05)
        a.send(b"first")
        a.send(b"second")
        async with asyncio.timeout(5):
            await entered.wait()  # the first message is being handed on
        stopping = asyncio.create_task(pump.stop(finish=True))
        await asyncio.sleep(0.02)
        assert not stopping.done()  # it waits for the hand-over instead of cancelling it
        room.set()
        async with asyncio.timeout(5):
            await stopping
        assert got == [b"first"]  # handed on; the second stays queued for the owner to read
        assert b.recv(zmq.NOBLOCK) == b"second"
    finally:
        a.close(linger=0)
        b.close(linger=0)
        ctx.term()
