"""ByteBound (transport/zmq/bounds.py): the high-water mark a new socket gets, bounded in bytes; a
socket's mark is never changed once made (libzmq 4.3 crashes when a live socket's changes under
connection churn: tests/integration/test_hwm_churn.py)."""

from __future__ import annotations

import zmq

from zbus.transport.zmq.bounds import MIN_HWM, ByteBound

MIB = 1024 * 1024


def test_a_new_socket_gets_the_mark_for_the_batch_size_and_then_for_the_largest_message_seen() -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        bound = ByteBound(zmq.SNDHWM, 100_000, 64 * MIB, 64 * 1024)
        first = bound.set_mark(ctx.socket(zmq.PUB))
        assert first.getsockopt(zmq.SNDHWM) == 1024  # 64 MiB of 64 KiB batches
        bound.seen(600)  # smaller than a batch: nothing changes
        assert bound.hwm == 1024
        bound.seen(100_000)
        assert bound.hwm == 671
        assert first.getsockopt(zmq.SNDHWM) == 1024  # a socket already made keeps its mark
        late = bound.set_mark(ctx.socket(zmq.PUB))  # made after: gets the lowered mark
        assert late.getsockopt(zmq.SNDHWM) == 671
        bound.seen(50_000)  # smaller again: the mark stays
        assert bound.hwm == 671
        bound.seen(64 * MIB)  # huge: never below MIN_HWM
        assert bound.hwm == MIN_HWM
        for s in (first, late):
            s.close(linger=0)
    finally:
        ctx.destroy(linger=0)


def test_the_configured_mark_caps_the_byte_bound_and_zero_means_unlimited() -> None:
    assert ByteBound(zmq.SNDHWM, 500, 64 * MIB, 64 * 1024).hwm == 500  # 500 < 1024: the configured one
    assert ByteBound(zmq.SNDHWM, 0, 64 * MIB, 64 * 1024).hwm == 1024  # unlimited in messages, not in bytes


def test_no_byte_bound_leaves_the_configured_mark() -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        bound = ByteBound(zmq.RCVHWM, 1000, 0, 64 * 1024)
        bound.seen(10 * MIB)
        sock = bound.set_mark(ctx.socket(zmq.SUB))
        assert sock.getsockopt(zmq.RCVHWM) == 1000
        sock.close(linger=0)
    finally:
        ctx.destroy(linger=0)
