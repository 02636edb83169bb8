"""BoundedHTTPServer: an HTTP/1.1 server whose threads, connections and request sizes are all bounded.

The stdlib ``ThreadingHTTPServer`` starts a thread per connection and reads each request on it without
a deadline, so 400 clients that connect and never finish their request hold 400 threads forever. Here a
slow client costs a socket and a small buffer, never a thread.

Theory of operation
-------------------
One **acceptor** thread owns the listening socket and every connection that is still sending its
request head (request line and headers), all non-blocking under one selector:

- at most ``max_connections`` such connections: a new one beyond that evicts the oldest (the slowest
  sender), so a flood of idle connections cannot lock out a new ``/health`` request;
- each has ``read_timeout`` seconds from its connect to send the whole head, else it is closed;
- a head longer than ``max_request_bytes`` gets ``431`` and is closed.

A complete head goes to a queue read by ``workers`` threads, started once with the server, which run
the request handler (a ``BaseHTTPRequestHandler``) on it with a socket timeout of ``read_timeout`` for
the response, and close the connection after one response (``Connection: close``). Request bodies are
never read: the endpoints are GET/HEAD only. Every refusal is counted by reason in ``refused``
(``evicted``, ``timeout``, ``too_large``, ``busy``; ``unauthorized`` for those the handler refuses)
and logged once per reason.
"""

from __future__ import annotations

import io
import logging
import queue
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

__all__ = ["BoundedHTTPServer", "HeadHandler"]

log = logging.getLogger("zbus")
_TICK = 0.25  # longest the acceptor sleeps: how late a timeout may be noticed (not a setting)
_ACCEPT_BURST = 64  # connections accepted per wake-up before reading the pending ones (fairness)


class _Writer(io.BufferedIOBase):
    """Writes go straight to the socket, whole (``sendall``): no buffer to flush, no partial writes."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.sendall(data)
        return len(data)


class HeadHandler(BaseHTTPRequestHandler):
    """A request handler fed an already-read request head instead of reading it from the socket."""

    def __init__(self, request: socket.socket, client_address: Any, server: Any, head: bytes) -> None:
        self._head = head
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        """Read the request from the head the acceptor collected; write to the socket."""
        self.connection = self.request
        self.rfile = io.BytesIO(self._head)
        self.wfile = _Writer(self.connection)

    def finish(self) -> None:
        """Nothing is buffered; the server closes the socket."""

    def end_headers(self) -> None:
        """One response per connection: say so, then end the headers."""
        self.send_header("Connection", "close")
        self.close_connection = True
        super().end_headers()


@dataclass(slots=True)
class _Pending:
    deadline: float
    address: Any
    buffer: bytearray


class BoundedHTTPServer:
    """Serve ``handler`` (a :class:`HeadHandler` subclass) on ``address`` within the bounds given.

    Args:
        address: ``(host, port)``; port 0 picks a free one (``server_address`` has the bound one).
        family: ``socket.AF_INET`` or ``socket.AF_INET6``.
        workers: threads running the handler (``monitoring.http.workers``).
        max_connections: most connections still sending their request (``http.max_connections``).
        read_timeout: seconds to send a whole request head, and per write of the response.
        max_request_bytes: longest request head accepted.

    Raises:
        OSError: the address cannot be bound.
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[HeadHandler],
        *,
        family: int = socket.AF_INET,
        name: str = "zbus-http",
        workers: int = 4,
        max_connections: int = 64,
        read_timeout: float = 5.0,
        max_request_bytes: int = 8192,
    ) -> None:
        self.handler = handler
        self.name = name
        self.workers = workers
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.max_request_bytes = max_request_bytes
        #: connections refused by reason: evicted, timeout, too_large, busy (read it with refusals())
        self.refused: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(address)
            self._listener.listen(max(128, max_connections))
            self._listener.setblocking(False)
        except OSError:
            self._listener.close()
            raise
        self.server_address: tuple[Any, ...] = self._listener.getsockname()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        # room for max_connections heads plus one stop sentinel per worker
        self._queue: queue.Queue[tuple[socket.socket, bytes, Any] | None] = queue.Queue(
            maxsize=max_connections + workers
        )
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    def refusals(self) -> dict[str, int]:
        """A copy of ``refused`` (safe from any thread)."""
        with self._lock:
            return dict(self.refused)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the acceptor and the worker threads (daemon threads; they never multiply)."""
        acceptor = threading.Thread(target=self._accept_loop, name=f"{self.name} acceptor", daemon=True)
        self._threads = [acceptor] + [
            threading.Thread(target=self._work, name=f"{self.name} worker {i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def shutdown(self) -> None:
        """Stop accepting, close every connection not yet handed to a worker and release the port.

        Waits for the acceptor (at most ~``_TICK`` s); workers finish the request they are on by
        themselves (a request waiting on a blocked loop must not hold up a close).
        """
        self._stopped.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._threads:
            self._threads[0].join(timeout=5)
        while True:  # heads not yet taken by a worker are not answered
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].close()
        for _ in range(self.workers):
            self._queue.put_nowait(None)  # the queue has room for these (see __init__)
        self._wake_r.close()
        self._wake_w.close()

    # -- the acceptor ----------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        sel = selectors.DefaultSelector()
        pending: dict[socket.socket, _Pending] = {}  # insertion order = arrival order
        sel.register(self._listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopped.is_set():
                for key, _ in sel.select(_TICK):
                    if key.fileobj is self._listener:
                        self._accept(sel, pending)
                    elif key.fileobj is self._wake_r:
                        continue
                    else:
                        self._read(sel, pending, key.fileobj)  # type: ignore[arg-type]
                now = time.monotonic()
                while pending:  # arrival order is deadline order: the expired ones come first
                    conn, state = next(iter(pending.items()))
                    if state.deadline > now:
                        break
                    self._refuse(sel, pending, conn, "timeout", b"408 Request Timeout")
        except Exception:
            log.exception("%s: the acceptor failed; the HTTP endpoints are down", self.name)
        finally:
            for conn in list(pending):
                self._close(sel, pending, conn)
            sel.close()
            self._listener.close()

    def _accept(self, sel: selectors.BaseSelector, pending: dict[socket.socket, _Pending]) -> None:
        for _ in range(_ACCEPT_BURST):
            try:
                conn, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: count, let the backlog wait
                self._count("accept_failed", str(exc))
                return
            if len(pending) >= self.max_connections:
                oldest = next(iter(pending))
                self._refuse(sel, pending, oldest, "evicted", b"503 Service Unavailable")
            conn.setblocking(False)
            pending[conn] = _Pending(time.monotonic() + self.read_timeout, address, bytearray())
            sel.register(conn, selectors.EVENT_READ)

    def _read(
        self, sel: selectors.BaseSelector, pending: dict[socket.socket, _Pending], conn: socket.socket
    ) -> None:
        state = pending.get(conn)
        if state is None:
            return
        try:
            data = conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._close(sel, pending, conn)
            return
        state.buffer += data
        end = _head_end(state.buffer)
        if end < 0 and len(state.buffer) <= self.max_request_bytes:
            return
        if end < 0 or end > self.max_request_bytes:
            self._refuse(sel, pending, conn, "too_large", b"431 Request Header Fields Too Large")
            return
        if self._queue.qsize() >= self.max_connections:  # workers far behind (a blocked loop?)
            self._refuse(sel, pending, conn, "busy", b"503 Service Unavailable")
            return
        sel.unregister(conn)
        del pending[conn]
        self._queue.put_nowait((conn, bytes(state.buffer[:end]), state.address))  # only this thread puts

    def _refuse(
        self,
        sel: selectors.BaseSelector,
        pending: dict[socket.socket, _Pending],
        conn: socket.socket,
        reason: str,
        status: bytes,
    ) -> None:
        self._count(reason, str(pending[conn].address))
        try:  # best effort, never blocking: a client that does not read just loses the explanation
            conn.send(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError:
            pass
        self._close(sel, pending, conn)

    @staticmethod
    def _close(
        sel: selectors.BaseSelector, pending: dict[socket.socket, _Pending], conn: socket.socket
    ) -> None:
        pending.pop(conn, None)
        try:
            sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def count_quietly(self, reason: str) -> bool:
        """Count a refusal the handler made (``unauthorized``), logged by the caller; True the first time."""
        with self._lock:
            first = reason not in self.refused
            self.refused[reason] += 1
        return first

    def _count(self, reason: str, detail: str) -> None:
        with self._lock:
            first = reason not in self.refused
            self.refused[reason] += 1
        if first:
            log.warning(
                "%s refused a connection (%s: %s); further refusals of this kind are logged at DEBUG",
                self.name,
                reason,
                detail,
            )
        else:
            log.debug("%s refused a connection (%s: %s)", self.name, reason, detail)

    # -- the workers -----------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            conn, head, address = item
            try:
                conn.setblocking(True)
                conn.settimeout(self.read_timeout)  # a client that does not read cannot hold a worker
                self.handler(conn, address, self, head)
            except Exception as exc:  # a broken connection: nothing to answer
                log.debug("%s: request from %s failed: %s", self.name, address, exc)
            finally:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()


def _head_end(buffer: bytearray) -> int:
    """The length of the request head in ``buffer`` (through its blank line), or -1 if incomplete."""
    crlf = buffer.find(b"\r\n\r\n")
    lf = buffer.find(b"\n\n")
    ends = [i + 4 for i in (crlf,) if i >= 0] + [i + 2 for i in (lf,) if i >= 0]
    return min(ends) if ends else -1
