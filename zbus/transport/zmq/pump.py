"""Pump: drains one ZeroMQ socket into a handler, with as few event-loop turns per message as possible.

Theory of operation
-------------------
Each receiving socket is watched with ``loop.add_reader`` on its ZMQ_FD. ZMQ_FD is edge-triggered
and only says "look at ZMQ_EVENTS", so every wake-up drains the socket with NOBLOCK until EAGAIN
(which re-arms the edge), and a safety poll every ``safety_poll`` seconds (``transport.safety_poll``)
covers a missed edge (Rule 4).

Rule 1: messages are handled inside the reader callback itself when the pump is parked. A handler
that returns ``None`` is done; a message then costs no task wake-up at all, which is what keeps a
request/reply round trip to one loop turn per hop.
Rule 2: a handler that returns an awaitable needs waiting (backpressure, an async handler): the
callback stops, hands the awaitable to the pump's task and the task continues draining after it.
Rule 3: at most ``DRAIN_BATCH`` messages per turn, then the task takes over after yielding to the
loop, so one busy socket cannot starve heartbeats, timers or other sockets.
Rule 4: the safety poll is one timer per event loop (``_Sweep``), not one per pump: every
``safety_poll`` seconds it reads ZMQ_EVENTS of every pump's socket and treats a readable one as a
wake-up. A node has two pumps per peer (SUB and its monitor); with a timeout per parked pump, an idle
node of 30 peers woke a task 240 times a second and tried a receive each time (an exception per
empty socket): that was most of its idle CPU (docs/PERFORMANCE.md, "Scale").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable

import zmq

from .sockets import recv_frames

__all__ = ["DRAIN_BATCH", "Pump"]

log = logging.getLogger("zbus")
# not a setting: it bounds how long one socket holds the loop (Rule 3), far below any interval a user
# sets, and large enough that the hand-over costs nothing measurable at full rate
DRAIN_BATCH = 512
_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)


class _Sweep:
    """Rule 4: the safety poll of every pump on one event loop, as one timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pumps: dict[Pump, None] = {}  # (ordered, for a stable look order)
        self._timer: asyncio.TimerHandle | None = None
        self._looking = False

    def add(self, pump: Pump) -> None:
        self.pumps[pump] = None
        if self._timer is None and not self._looking:
            self._timer = self.loop.call_later(pump.safety_poll, self._look)

    def discard(self, pump: Pump) -> None:
        self.pumps.pop(pump, None)
        if not self.pumps and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _look(self) -> None:
        self._looking = True  # a message handled here may add or stop pumps: one timer still
        try:
            for pump in list(self.pumps):
                try:
                    pump.poke()
                except Exception:  # one socket's trouble never stops the others' safety poll
                    log.exception("zbus: error in the safety poll of a socket")
        finally:
            self._looking = False
            self._timer = None
            if self.pumps:
                interval = min(pump.safety_poll for pump in self.pumps)
                self._timer = self.loop.call_later(interval, self._look)


_SWEEPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweep] = weakref.WeakKeyDictionary()


class Pump:
    """Drains one socket whenever it is readable, calling ``handle(frames)`` for each message.

    Args:
        sock: the socket; its owner closes it.
        handle: called per message; returns an awaitable only when the pump must wait for it (Rule 2).
        name: for the task's name.
        safety_poll: seconds between looks at the socket without a wake-up (``transport.safety_poll``).
        on_batch: called after each drained batch of at least one message.
        recv: receives one message (``Curve.recv`` with security on: it keeps the sender's key).
    """

    def __init__(
        self,
        sock: zmq.Socket[bytes],
        handle: Callable[[list[bytes]], Awaitable[None] | None],
        name: str,
        *,
        safety_poll: float,
        on_batch: Callable[[], object] | None = None,
        recv: Callable[[zmq.Socket[bytes]], list[bytes]] = recv_frames,
    ):
        self.sock = sock
        self.safety_poll = safety_poll
        self.handle = handle
        self.on_batch = on_batch
        self.recv = recv
        self.wake = asyncio.Event()
        self.stopped = False
        self._parked = False  # the task waits for a wake-up: the reader callback may drain inline
        self._handoff: Awaitable[None] | None = None
        loop = asyncio.get_running_loop()
        self.fd = int(sock.getsockopt(zmq.FD))
        loop.add_reader(self.fd, self._on_fd)
        self.task = loop.create_task(self._run(), name=f"zbus-pump-{name}")
        self._sweep = _SWEEPS.get(loop) or _SWEEPS.setdefault(loop, _Sweep(loop))
        self._sweep.add(self)

    def poke(self) -> None:
        """Look at the socket now, as on a wake-up (call it after a ``setsockopt``, which may consume a
        readiness edge)."""
        self._on_fd()

    def _on_fd(self) -> None:
        if self.stopped:
            return
        try:
            readable = int(self.sock.getsockopt(_EVENTS)) & _POLLIN
        except zmq.ZMQError:
            self.wake.set()
            return
        if not readable:
            return
        if self._parked and self._handoff is None and not self.wake.is_set() and not self.stopped:
            self._drain_inline()
        else:
            self.wake.set()

    def _drain_inline(self) -> None:
        """Rule 1 and 2: handle what is queued right here; hand over to the task when needed."""
        n = self._drain(DRAIN_BATCH)
        if n and self.on_batch is not None:
            self.on_batch()
        if self._handoff is not None or n == DRAIN_BATCH:
            self.wake.set()

    def _drain(self, limit: int) -> int:
        """Receive and handle up to ``limit`` messages; stop early at EAGAIN or at an awaitable
        (kept in ``_handoff`` for the task). Returns how many messages were taken."""
        sock, handle, recv = self.sock, self.handle, self.recv
        n = 0
        while n < limit:
            try:
                frames = recv(sock)
            except zmq.Again:
                break
            n += 1
            try:
                result = handle(frames)
            except Exception:
                log.exception("zbus: error handling a message; it was dropped")
                continue
            if result is not None:
                self._handoff = result
                break
        return n

    async def _run(self) -> None:
        sock = self.sock
        while True:
            handoff, self._handoff = self._handoff, None
            if handoff is not None:  # (taken even once stopped: see stop's finish)
                try:
                    await handoff
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("zbus: error handling a message; it was dropped")
            if self.stopped:
                return
            n = self._drain(DRAIN_BATCH)
            if n and self.on_batch is not None:
                self.on_batch()
            if self._handoff is not None:
                continue
            if n == DRAIN_BATCH:
                await asyncio.sleep(0)
                continue
            self.wake.clear()
            if int(sock.getsockopt(_EVENTS)) & _POLLIN:
                continue
            self._parked = True
            try:
                await self.wake.wait()  # set by the reader callback or the loop's safety poll (Rule 4)
            finally:
                self._parked = False

    async def stop(self, *, finish: bool = False) -> None:
        """Stop watching the socket and end the task (the socket itself is closed by its owner).

        ``finish``: messages already being handed on (Rule 2: waiting for room in a ``block``
        backlog) arrive first, instead of being cancelled with the task. Their streams have counted
        them as released, so a cancel would lose them in silence (a departed peer's SUB, whose
        owner then hands on what is still queued: ``links.Link.retire_sub``)."""
        self.stopped = True
        self._sweep.discard(self)
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.fd)
        if finish:
            self.wake.set()  # a parked task looks again and ends
        else:
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        handoff, self._handoff = self._handoff, None
        if asyncio.iscoroutine(handoff):
            handoff.close()  # never awaited: close it so Python does not warn
