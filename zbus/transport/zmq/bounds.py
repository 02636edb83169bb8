"""ByteBound: a ZeroMQ queue bounded in bytes as well as messages (``transport.send_max_bytes``,
``transport.recv_max_bytes``).

libzmq bounds each connection's queue in messages only (``SNDHWM``/``RCVHWM``): 100,000 messages of
100 KB are 10 GB. A ``ByteBound`` gives each socket, **when it is made** (before it binds or
connects), the mark ``min(hwm, max(MIN_HWM, max_bytes // size))``, where ``size`` is the larger of
the message size a backlog is sent in (``transport.batch_max_bytes``: a burst of small events is
batched into messages of about that size) and the largest message seen so far. So a queue holds
about ``max_bytes`` of messages up to that size; events larger than any seen when the socket was made
can take it to ``mark x their size`` (docs/TROUBLESHOOTING.md, "Memory with large events").

A mark is never changed on a socket that is bound or connected. libzmq 4.3 applies a changed HWM to
the connections a socket already has by sending a command to each connection's other end, and one
that is closing at that moment may already be freed: the I/O thread then crashes (reproduced in
tests/integration/test_hwm_churn.py). Earlier zbus lowered live sockets' marks, and a secured mesh,
whose HELLOs exceed 671 bytes, did so within seconds of starting: one CI run in five or six died.
"""

from __future__ import annotations

import zmq

__all__ = ["MIN_HWM", "ByteBound"]

#: the lowest high-water mark a byte bound sets (a queue of a few huge messages still flows)
MIN_HWM = 16


class ByteBound:
    """The HWM ``option`` (``zmq.SNDHWM`` or ``zmq.RCVHWM``) of the sockets given to :meth:`set_mark`.

    Args:
        option: ``zmq.SNDHWM`` or ``zmq.RCVHWM``.
        hwm: the configured mark in messages (0 = unlimited).
        max_bytes: the bound in bytes (0 = none: only ``hwm`` applies).
        batch_bytes: the size backlogged events are batched to (``transport.batch_max_bytes``).
    """

    __slots__ = ("_configured", "hwm", "largest", "max_bytes", "option")

    def __init__(self, option: int, hwm: int, max_bytes: int, batch_bytes: int) -> None:
        self.option = option
        self.max_bytes = max_bytes
        #: the largest message seen (at least ``batch_bytes``): the mark is sized for it
        self.largest = max(1, batch_bytes)
        self.hwm = self._mark(hwm)
        self._configured = hwm

    def set_mark(self, sock: zmq.Socket[bytes]) -> zmq.Socket[bytes]:
        """Set the mark of ``sock``, a socket not yet bound or connected, to the current one."""
        sock.setsockopt(self.option, self.hwm)
        return sock

    def seen(self, size: int) -> None:
        """A message of ``size`` bytes is being queued (the hot path: one comparison). A larger one
        than any before lowers the mark of the sockets made from now on."""
        if size > self.largest:
            self.largest = size
            self.hwm = self._mark(self._configured)

    def _mark(self, hwm: int) -> int:
        if not self.max_bytes:
            return hwm
        bound = max(MIN_HWM, self.max_bytes // self.largest)
        return min(hwm, bound) if hwm else bound
