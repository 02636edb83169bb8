"""The one place zbus creates ZeroMQ sockets, with every option set on purpose.

Why each option:

- ``LINGER`` = ``transport.linger`` (1 s): close never hangs forever on unsent messages, yet a
  clean shutdown still flushes what is queued (libzmq's default of -1 can hang ``term()``).
- ``SNDHWM``/``RCVHWM`` = ``transport.send_hwm``/``recv_hwm`` (100,000): libzmq's default of 1,000
  drops bursts on PUB silently. Capped by ``bounds.ByteBound`` when the socket is made (1,024 with
  the defaults: ``max_bytes // batch_max_bytes``) so that a queue holds about
  ``transport.send_max_bytes`` (XPUB, DEALER, PUB) or ``recv_max_bytes`` (SUB) per connection;
  :meth:`SocketFactory.send` and ``Link`` show it each event's size, and a larger event lowers the
  mark of sockets made later. A mark is never changed on a live socket (libzmq 4.3 can crash).
- XPUB ``XPUB_VERBOSER``: every subscribe *and* unsubscribe of every peer reaches the node, so
  ``wait_for_subscribers`` can count them (the slow-joiner cure).
- XPUB ``XPUB_NODROP`` only for ``transport.slow_subscriber = "block"``: a full subscriber pipe
  then makes ``send`` fail with EAGAIN and the publisher waits instead of dropping.
- ``RECONNECT_IVL``/``RECONNECT_IVL_MAX`` from config (0.1 s → 2 s): a restarted peer is
  reconnected quickly without hammering a dead address.
- ``MAXMSGSIZE`` = ``transport.max_message_size`` on every socket: libzmq itself refuses
  oversized frames (and drops that connection) before Python sees them.
- DEALER ``RCVHWM`` = 1: DEALERs only send (answers come to our ROUTER), so nothing a peer
  pushes back may pile up.
- ``ROUTER_HANDOVER`` with security off: a new connection presenting a connected identity takes
  over its routing entry, so a node's own reconnects always win (a greeting racing the peer's HELLO,
  a reconnect while the old connection is half-open). Without it a second connection is left unread
  by libzmq for good. The price: without keys, anyone who can reach the port can present a known
  id; it cannot remove that peer or replace its incarnation (``protocol/peers.py`` Rule 6), but it
  can speak as it (docs/ARCHITECTURE.md, "Identity bound to the connection"). With security on it
  is off: the first connection authenticated for an id keeps it, and another key's connection
  claiming that id can neither take it over nor speak (``curve.py``). ZMTP heartbeats (``HEARTBEAT_IVL`` =
  the larger of ``discovery.heartbeat_interval`` and a quarter of ``discovery.peer_timeout``,
  ``HEARTBEAT_TIMEOUT`` = ``discovery.peer_timeout``) on ROUTER and DEALER close dead connections, which
  frees their ids. Each of a node's 2 (N - 1) connections pings both ways, so a PING every second was
  about half of an idle node's libzmq I/O-thread time at N = 30; liveness is the mesh heartbeat's job,
  the ZMTP one only has to notice a dead connection within the timeout (docs/PERFORMANCE.md, "Scale").
- DEALER ``IDENTITY`` = the node id, so a ROUTER knows who sent each message.
- No ``ROUTER_MANDATORY``: a node's ROUTER only receives (every answer travels on the answerer's
  own DEALER to the asker's ROUTER), so there is no ROUTER send whose silent drop it would guard.

- With security on (``curve.Curve``): XPUB and ROUTER are CURVE servers, each in its own ZAP domain,
  the XPUB in ``XPUB_MANUAL`` mode (a subscription applies only once permitted); every ``connect`` makes
  the socket a CURVE client of the key known for that endpoint, and refuses an endpoint without one.
"""

from __future__ import annotations

import os
import resource
import tempfile
from typing import Protocol

import zmq

from ...config import TransportConfig
from ...errors import PeerError, UsageError
from .bounds import ByteBound

__all__ = ["CurveOptions", "SocketFactory", "recv_frames", "send_frames"]

# plain ints: pyzmq's flag enums cost an Enum operation per frame on the hot path
_NOBLOCK = int(zmq.NOBLOCK)
_NOBLOCK_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)


# pyzmq's high-level Socket.send/recv/getsockopt add checks and enum conversions that cost more
# than libzmq itself on the hot path (measured on inproc: 3-frame send 1.9 → 0.5 µs, receive
# 4.4 → 2.9 µs); the backend methods take the same arguments, so the hot path calls them directly
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv
_get = zmq.backend.Socket.get


def send_frames(sock: zmq.Socket[bytes], frames: list[bytes]) -> None:
    """Send a multipart message without blocking (raises ``zmq.Again`` when it would block).

    libzmq queues a multipart message atomically: if the first frame is accepted, so are the rest.
    """
    last = len(frames) - 1
    if last < 0:
        return
    for i in range(last):
        _send(sock, frames[i], _NOBLOCK_MORE)
    _send(sock, frames[last], _NOBLOCK)


def recv_frames(sock: zmq.Socket[bytes]) -> list[bytes]:
    """Receive one whole multipart message without blocking (raises ``zmq.Again`` when none)."""
    frames: list[bytes] = [_recv(sock, _NOBLOCK)]
    while _get(sock, _RCVMORE):
        frames.append(_recv(sock, _NOBLOCK))
    return frames


class CurveOptions(Protocol):
    """What the factory asks of security (``curve.Curve``): the CURVE options of one socket."""

    def server(self, sock: zmq.Socket[bytes], domain: str) -> None:
        """Make ``sock`` a CURVE server in ZAP ``domain``."""

    def client(self, sock: zmq.Socket[bytes], endpoint: str) -> None:
        """Make ``sock`` a CURVE client of the key known at ``endpoint`` (PeerError when none)."""


#: ZMTP PINGs per ``HEARTBEAT_TIMEOUT`` on a connection (not a setting: four chances to answer)
ZMTP_PINGS_PER_TIMEOUT = 4
#: sockets per peer: a DEALER to it, a SUB on it and the SUB's monitor (with its inproc PAIR)
SOCKETS_PER_PEER = 4
#: the node's own sockets (XPUB, ROUTER, ipc, forwarder) and what libzmq keeps for itself, with room
SOCKETS_OWN = 64


def sized_context(max_peers: int, max_greetings: int) -> zmq.Context[zmq.Socket[bytes]]:
    """A context whose socket limit fits ``max_peers`` peers and ``max_greetings`` greetings in flight
    (libzmq's default of 1,023 sockets caps a node at about 255 peers), with the process's soft
    open-file limit raised toward it when the hard limit allows (each socket and connection is a file
    descriptor). What still does not fit is refused with EMFILE, which the mesh counts."""
    sockets = max_peers * SOCKETS_PER_PEER + max_greetings + SOCKETS_OWN
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, max(sockets, 1024))
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 2 * sockets + 256  # a socket's connection is one more descriptor
        if soft != resource.RLIM_INFINITY and soft < wanted:
            top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            if top > soft:
                resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
    except (OSError, ValueError):  # not ours to raise
        pass
    return ctx


class SocketFactory:
    """Creates and binds this node's sockets from its ``TransportConfig``."""

    def __init__(
        self,
        context: zmq.Context[zmq.Socket[bytes]],
        config: TransportConfig,
        curve: CurveOptions | None = None,
    ) -> None:
        self.ctx = context
        self.config = config
        self.curve = curve
        self._heartbeat: tuple[int, int] | None = None
        #: the send queues (XPUB, DEALERs, PUB) and the SUBs' receive queues, bounded in bytes
        batch = config.batch_max_bytes
        self.sent = ByteBound(zmq.SNDHWM, config.send_hwm, config.send_max_bytes, batch)
        self.received = ByteBound(zmq.RCVHWM, config.recv_hwm, config.recv_max_bytes, batch)

    def send(self, sock: zmq.Socket[bytes], frames: list[bytes]) -> None:
        """:func:`send_frames` of an event-sized message: its size may lower the send queues' mark."""
        self.sent.seen(len(frames[-1]))
        send_frames(sock, frames)

    def _common(self, sock: zmq.Socket[bytes]) -> zmq.Socket[bytes]:
        c = self.config
        sock.setsockopt(zmq.LINGER, int(c.linger * 1000))
        sock.setsockopt(zmq.SNDHWM, c.send_hwm)
        sock.setsockopt(zmq.RCVHWM, c.recv_hwm)
        sock.setsockopt(zmq.RECONNECT_IVL, max(1, int(c.reconnect_interval * 1000)))
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, max(1, int(c.reconnect_interval_max * 1000)))
        sock.setsockopt(zmq.MAXMSGSIZE, c.max_message_size)
        return sock

    def xpub(self) -> zmq.Socket[bytes]:
        """The event publisher: every subscriber's SUB connects here."""
        sock = self.sent.set_mark(self._common(self.ctx.socket(zmq.XPUB)))
        sock.setsockopt(zmq.XPUB_VERBOSER, 1)
        if self.config.slow_subscriber == "block":
            sock.setsockopt(zmq.XPUB_NODROP, 1)
        if self.curve is not None:
            self.curve.server(sock, "zbus.pub")
            sock.setsockopt(zmq.XPUB_MANUAL, 1)
        return sock

    def sub(self) -> zmq.Socket[bytes]:
        """The event subscriber, connected to every peer's XPUB."""
        return self.received.set_mark(self._common(self.ctx.socket(zmq.SUB)))

    def pub(self) -> zmq.Socket[bytes]:
        """A plain PUB (a forwarder's capture socket): drops for slow readers, never blocks."""
        return self.sent.set_mark(self._common(self.ctx.socket(zmq.PUB)))

    def heartbeats(self, interval: float, timeout: float) -> None:
        """ZMTP heartbeats for ROUTER and DEALER sockets made from now on (see the module docstring):
        a PING every ``interval`` s but no more often than ``ZMTP_PINGS_PER_TIMEOUT`` per ``timeout``."""
        ping = max(interval, timeout / ZMTP_PINGS_PER_TIMEOUT)
        self._heartbeat = (max(1, int(ping * 1000)), max(1, int(timeout * 1000)))

    def _beat(self, sock: zmq.Socket[bytes]) -> zmq.Socket[bytes]:
        heartbeat = self._heartbeat
        if heartbeat is not None:
            sock.setsockopt(zmq.HEARTBEAT_IVL, heartbeat[0])
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, heartbeat[1])
            sock.setsockopt(zmq.HEARTBEAT_TTL, heartbeat[1])
        return sock

    def router(self) -> zmq.Socket[bytes]:
        """The inbox: directed events, requests, replies and HELLO/UPDATE/BYE arrive here."""
        sock = self._beat(self._common(self.ctx.socket(zmq.ROUTER)))
        sock.setsockopt(zmq.ROUTER_HANDOVER, int(self.curve is None))  # (see the module docstring)
        if self.curve is not None:
            self.curve.server(sock, "zbus.router")
        return sock

    def dealer(self, identity: bytes) -> zmq.Socket[bytes]:
        """An outbox to one peer's ROUTER, identified by this node's id."""
        sock = self.sent.set_mark(self._beat(self._common(self.ctx.socket(zmq.DEALER))))
        sock.setsockopt(zmq.IDENTITY, identity)
        sock.setsockopt(zmq.RCVHWM, 1)  # never read: a hostile ROUTER must not fill our memory
        return sock

    def dealer_to(self, identity: bytes, endpoint: str) -> zmq.Socket[bytes]:
        """A :meth:`dealer` connected to ``endpoint``; closed again if the connect fails (no leak).

        Raises:
            PeerError: the endpoint is malformed.
            zmq.ZMQError: no socket could be made (EMFILE: out of sockets or file descriptors).
        """
        sock = self.dealer(identity)
        try:
            self.connect(sock, endpoint)
        except BaseException:
            sock.close(linger=0)
            raise
        return sock

    def bind(self, sock: zmq.Socket[bytes], host: str, port: int) -> str:
        """Bind ``sock`` to ``tcp://host:port`` (port 0 = ephemeral) and return the endpoint bound.

        Raises:
            UsageError: the address is invalid or in use (the message names it and the fix).
        """
        address = f"tcp://{'[' + host + ']' if ':' in host else host}:{port or '*'}"
        try:
            sock.bind(address)
        except zmq.ZMQError as exc:
            hint = (
                "pick another port or 0 for an ephemeral one"
                if exc.errno == zmq.EADDRINUSE
                else ("check transport.host")
            )
            raise UsageError(f"cannot bind {address}: {exc.strerror}; {hint}") from exc
        return sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def bind_ipc(self, sock: zmq.Socket[bytes], name: str) -> str:
        """Also bind ``sock`` to ``ipc://<temp dir>/zbus-ipc-<uid>/<name>`` (``TMPDIR`` decides the
        temp dir); return the endpoint. ``remove_ipc`` deletes the file after the socket closed.

        Raises:
            UsageError: the directory cannot be created or the path is taken or too long.
        """
        folder = os.path.join(tempfile.gettempdir(), f"zbus-ipc-{os.getuid()}")
        address = f"ipc://{folder}/{name}"
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            sock.bind(address)
        except (OSError, zmq.ZMQError) as exc:
            raise UsageError(
                f"cannot bind {address}: {exc}; set transport.ipc = false or point TMPDIR at a short, "
                "writable directory"
            ) from exc
        return address

    @staticmethod
    def remove_ipc(endpoint: str) -> None:
        """Delete the file of an ``ipc://`` endpoint this node bound (a no-op if it is gone)."""
        if endpoint.startswith("ipc://"):
            try:
                os.unlink(endpoint[len("ipc://") :])
            except OSError:
                pass

    def connect(self, sock: zmq.Socket[bytes], endpoint: str) -> None:
        """Connect ``sock`` to a peer's endpoint (as a CURVE client of its key, with security on).

        Raises:
            PeerError: the endpoint is malformed, or security is on and no key is known for it.
        """
        if self.curve is not None:
            self.curve.client(sock, endpoint)
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            raise PeerError(f"cannot connect to {endpoint!r}: {exc.strerror}") from exc

    @staticmethod
    def disconnect(sock: zmq.Socket[bytes], endpoint: str) -> None:
        """Disconnect ``sock`` from ``endpoint``; a no-op when it was not connected."""
        try:
            sock.disconnect(endpoint)
        except zmq.ZMQError:
            pass
