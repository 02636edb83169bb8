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
