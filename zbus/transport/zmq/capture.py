"""Reading a forwarder's capture socket (``transport.forwarder_capture``) for ``zbus monitor --capture``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import zmq
import zmq.asyncio

from ...codec.wire import decode
from ...errors import PeerError, WireError
from ...model.event import Event

__all__ = ["read_capture"]


async def read_capture(endpoint: str, prefix: str = "") -> AsyncIterator[Event]:
    """Yield the events a forwarder relays, read from its capture socket (``zbus monitor --capture``).

    Heartbeats and undecodable messages are skipped. Runs until the consumer stops iterating.

    Raises:
        PeerError: ``endpoint`` is malformed.
    """
    ctx: zmq.asyncio.Context = zmq.asyncio.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    try:
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            raise PeerError(f"cannot connect to capture endpoint {endpoint!r}: {exc.strerror}") from exc
        while True:
            frames = await sock.recv_multipart()
            if frames and frames[0].startswith(b"$zbus."):
                continue
            try:
                yield decode(frames, max_message_size=2**62)  # a monitor shows whatever was relayed
            except WireError:
                continue
    finally:
        sock.close(0)
        ctx.term()
