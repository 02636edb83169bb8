"""Accepted: the connections accepted on one bound CURVE socket, so a revoked peer's can be shut down.

libzmq cannot drop one XPUB pipe, so a revoked or expired peer's SUB would keep the subscriptions it
already had and receive our events until it disconnects. This module follows the socket's monitor
(``EVENT_ACCEPTED`` carries the new connection's fd; ``DISCONNECTED``/``CLOSED`` retire it) and, when
asked to evict, calls ``shutdown(SHUT_RDWR)`` on those connections: libzmq sees the connection end and
drops its pipe (and the pipe's subscriptions); a legitimate subscriber's SUB reconnects at once and
passes ZAP again (gap repair covers the blip), a revoked one is refused by ZAP.

Safety with libzmq's fds: an fd is only ever used through a duplicate (``os.dup``; the duplicate is
closed, libzmq's never is), and only when the connection behind it is still the one recorded at accept
(same local and peer address) and its local address is one this socket listens on, so a number libzmq
closed and the kernel gave to another socket is never touched. The same monitor reports failed CURVE
handshakes (a client that expected another server key, or speaks no CURVE), which are audited.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterable

import zmq
from zmq.utils.monitor import recv_monitor_message

__all__ = ["Accepted"]

_EVENTS = (
    zmq.EVENT_LISTENING
    | zmq.EVENT_ACCEPTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CLOSED
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
)
#: monitor events read per drain at most (a bounded loop; the rest wait for the next tick)
MAX_DRAIN = 10_000

#: ``failed(endpoint, code)``: a CURVE handshake on this socket failed (ZMTP protocol error ``code``)
Failed = Callable[[str, int], None]
Address = tuple[object, ...] | str


class Accepted:
    """The live connections accepted on ``sock`` (a bound XPUB or ROUTER), read from its monitor."""

    def __init__(self, sock: zmq.Socket[bytes], failed: Failed) -> None:
        self._monitor: zmq.Socket[bytes] | None = sock.get_monitor_socket(_EVENTS)
        self._sock = sock
        self._failed = failed
        #: fd -> (local address, peer address) when the connection was accepted
        self.fds: dict[int, tuple[Address, Address]] = {}
        self._ports: set[int] = set()  # tcp ports this socket listens on
        self._paths: set[str] = set()  # ipc paths it listens on

    def drain(self) -> None:
        """Apply the monitor's pending events (called every tick and before evicting)."""
        monitor = self._monitor
        for _ in range(MAX_DRAIN):
            if monitor is None:
                return
            try:
                msg = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError:
                return  # closed
            event, value, endpoint = msg["event"], int(msg["value"]), _text(msg["endpoint"])
            if event == zmq.EVENT_LISTENING:
                self._listening(endpoint)
            elif event == zmq.EVENT_ACCEPTED:
                names = _names(value)
                if names is not None and self._ours(names[0]):
                    self.fds[value] = names
            elif event in (zmq.EVENT_DISCONNECTED, zmq.EVENT_CLOSED):
                self.fds.pop(value, None)
            elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                self._failed(endpoint, value)

    def evict(self, addresses: Iterable[str] | None = None) -> int:
        """Shut down the accepted connections from peer ``addresses`` (IP addresses; None: all of them);
        return how many. libzmq then drops their pipes; the peers' sockets reconnect (and meet ZAP)."""
        self.drain()
        wanted = None if addresses is None else set(addresses)
        count = 0
        for fd, recorded in list(self.fds.items()):
            peer = recorded[1]
            if wanted is not None and isinstance(peer, tuple) and peer[0] not in wanted:
                continue
            with _duplicate(fd) as conn:
                if conn is None or _pair(conn) != recorded:
                    self.fds.pop(fd, None)  # gone, or the number now belongs to another socket
                    continue
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                    count += 1
        return count

    def close(self) -> None:
        """Stop monitoring (before the socket's context is destroyed)."""
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            with contextlib.suppress(zmq.ZMQError):
                self._sock.disable_monitor()
            monitor.close(linger=0)

    def _listening(self, endpoint: str) -> None:
        if endpoint.startswith("tcp://"):
            with contextlib.suppress(ValueError):
                self._ports.add(int(endpoint.rsplit(":", 1)[1]))
        elif endpoint.startswith("ipc://"):
            self._paths.add(endpoint[len("ipc://") :])

    def _ours(self, local: Address) -> bool:
        """Whether ``local`` is an address this socket listens on (so the fd is one of its connections)."""
        if isinstance(local, tuple):
            return len(local) >= 2 and local[1] in self._ports
        return local in self._paths


def _text(endpoint: object) -> str:
    return endpoint.decode("utf-8", "replace") if isinstance(endpoint, bytes) else str(endpoint)


class _duplicate(contextlib.AbstractContextManager["socket.socket | None"]):
    """A socket object on a duplicate of ``fd`` (None when ``fd`` is closed or not a socket); the
    duplicate is closed on exit, the original never."""

    def __init__(self, fd: int) -> None:
        self._sock: socket.socket | None = None
        try:
            dup = os.dup(fd)
        except OSError:
            return
        try:
            self._sock = socket.socket(fileno=dup)
        except OSError:
            os.close(dup)

    def __enter__(self) -> socket.socket | None:
        return self._sock

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            self._sock.close()


def _pair(conn: socket.socket) -> tuple[Address, Address] | None:
    try:
        return conn.getsockname(), conn.getpeername()
    except OSError:
        return None


def _names(fd: int) -> tuple[Address, Address] | None:
    """(local, peer) address of the connection on ``fd`` now, None when it is not a connected socket."""
    with _duplicate(fd) as conn:
        return None if conn is None else _pair(conn)
