"""ByteBound: a ZeroMQ queue bounded in bytes as well as messages (``transport.send_max_bytes``,
``transport.recv_max_bytes``).

libzmq bounds each connection's queue in messages only (``SNDHWM``/``RCVHWM``): 100,000 messages of
100 KB are 10 GB. A ``ByteBound`` keeps the largest message size it has been shown; once a message
larger than ``max_bytes / hwm`` passes, the high-water mark of every socket it watches becomes
``max(MIN_HWM, max_bytes // largest)`` (libzmq 4.3 applies a changed HWM to connections already made;
a bound socket's later connections get the mark it had when bound, so once lowered the mark is set
again every :data:`REAPPLY_EVERY` messages: a new subscriber's queue may first take that many more),
so a queue then holds about ``max_bytes`` of messages as large as the largest seen. The mark only goes
down (a node that once sent a 1 MiB event keeps the smaller queue); small events are unaffected
until then, since a burst of them is batched into messages of at most ``transport.batch_max_bytes``.
"""

from __future__ import annotations

import weakref

import zmq

__all__ = ["MIN_HWM", "REAPPLY_EVERY", "ByteBound"]

#: the lowest high-water mark a byte bound sets (a queue of a few huge messages still flows)
MIN_HWM = 16
#: once lowered, the mark is set again after this many messages (for connections accepted since)
REAPPLY_EVERY = 64
_UNBOUNDED = 1 << 62


class ByteBound:
    """The HWM ``option`` (``zmq.SNDHWM`` or ``zmq.RCVHWM``) of the sockets :meth:`watch` was given,
    lowered as larger messages are :meth:`seen` so that ``max_bytes`` stays the bound.

    Args:
        option: ``zmq.SNDHWM`` or ``zmq.RCVHWM``.
        hwm: the configured mark in messages (0 = unlimited).
        max_bytes: the bound in bytes (0 = none: only ``hwm`` applies).
    """

    __slots__ = ("_countdown", "_sockets", "hwm", "largest", "max_bytes", "option")

    def __init__(self, option: int, hwm: int, max_bytes: int) -> None:
        self.option = option
        self.hwm = hwm
        self.max_bytes = max_bytes
        self._countdown = 0  # (0: never lowered; nothing to set again)
        #: messages up to this size fit ``max_bytes`` at the current mark; a larger one lowers it
        self.largest = (max_bytes // hwm if hwm else 0) if max_bytes else _UNBOUNDED
        self._sockets: weakref.WeakSet[zmq.Socket[bytes]] = weakref.WeakSet()

    def watch(self, sock: zmq.Socket[bytes]) -> zmq.Socket[bytes]:
        """Set ``sock``'s mark to the current one, and lower it with the others from now on."""
        sock.setsockopt(self.option, self.hwm)
        self._sockets.add(sock)
        return sock

    def seen(self, size: int) -> None:
        """A message of ``size`` bytes is being queued (the hot path: one comparison)."""
        if size > self.largest:
            self._lower(size)
        elif self._countdown:  # lowered: a connection accepted since got the mark at bind time
            self._countdown -= 1
            if not self._countdown:
                self._apply()

    def _lower(self, size: int) -> None:
        self.largest = size
        hwm = max(MIN_HWM, self.max_bytes // size)
        if self.hwm and hwm >= self.hwm:
            return
        self.hwm = hwm
        self._apply()

    def _apply(self) -> None:
        hwm = self.hwm
        self._countdown = REAPPLY_EVERY
        for sock in list(self._sockets):
            if not sock.closed:
                try:
                    sock.setsockopt(self.option, hwm)
                except zmq.ZMQError:  # (a socket closing under us: nothing left to bound)
                    pass
