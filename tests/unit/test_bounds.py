"""ByteBound (transport/zmq/bounds.py): a queue bounded in bytes lowers the HWM of real sockets."""

from __future__ import annotations

import zmq

from zbus.transport.zmq.bounds import MIN_HWM, REAPPLY_EVERY, ByteBound


def test_a_large_message_lowers_every_watched_sockets_mark_and_small_ones_do_not() -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        bound = ByteBound(zmq.SNDHWM, 100_000, 64 * 1024 * 1024)
        socks = [bound.watch(ctx.socket(zmq.PUB)) for _ in range(2)]
        bound.seen(600)  # 600 B x 100,000 fits 64 MiB: nothing changes
        assert [s.getsockopt(zmq.SNDHWM) for s in socks] == [100_000, 100_000]
        bound.seen(100_000)
        assert [s.getsockopt(zmq.SNDHWM) for s in socks] == [671, 671]
        late = bound.watch(ctx.socket(zmq.PUB))  # made after: gets the lowered mark
        assert late.getsockopt(zmq.SNDHWM) == 671
        bound.seen(50_000)  # smaller again: the mark stays
        assert bound.hwm == 671
        bound.seen(64 * 1024 * 1024)  # huge: never below MIN_HWM
        assert socks[0].getsockopt(zmq.SNDHWM) == MIN_HWM
        socks[1].setsockopt(zmq.SNDHWM, 5)  # (as a connection accepted since would have it)
        for _ in range(REAPPLY_EVERY):
            bound.seen(10)
        assert socks[1].getsockopt(zmq.SNDHWM) == MIN_HWM  # set again
        for s in [*socks, late]:
            s.close(linger=0)
    finally:
        ctx.destroy(linger=0)


def test_no_byte_bound_leaves_the_mark_alone() -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        bound = ByteBound(zmq.RCVHWM, 1000, 0)
        sock = bound.watch(ctx.socket(zmq.SUB))
        bound.seen(10 * 1024 * 1024)
        assert sock.getsockopt(zmq.RCVHWM) == 1000
        sock.close(linger=0)
    finally:
        ctx.destroy(linger=0)
