"""ZapHandler: the node's ZAP handler (RFC 27), a small thread that may answer a handshake later.

libzmq asks the ZAP handler bound at ``inproc://zeromq.zap.01`` of a context whether each CURVE client
may complete its handshake. pyzmq's authenticators answer in order, at once; a zbus node sometimes
needs to wait: a peer's SUB may reach our XPUB a moment before the HELLO that admits its key, and a
refused handshake is final (libzmq does not reconnect after a ZAP error). So this handler is a ROUTER
(every handshake is its own ZAP connection, so answers may go out of order) and ``decide(domain, key)``
returns True, False, or None for "not yet": the request is asked again every ``POLL`` seconds and
refused after ``patience`` seconds. Decisions read the node's ``Trust`` from this thread; they only
look up dicts and sets, which is safe under the GIL, and refusals are reported on the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import zmq

from ...security.keys import z85_encode

__all__ = ["ZAP_ENDPOINT", "ZapHandler"]

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_VERSION = b"1.0"
#: seconds between looks at the requests waiting for a decision (not a setting: far below a HELLO's time)
POLL = 0.02

Decide = Callable[[str, bytes], bool | None]
#: ``admitted(domain, key, address)``: a handshake passed, from the peer IP ``address`` (ZAP's)
Admitted = Callable[[str, bytes, str], None]
#: a request waiting for a decision: (deadline, reply envelope, domain, key, peer address)
Waiting = tuple[float, list[bytes], str, bytes, str]


class ZapHandler:
    """Answers ZAP requests for one context (CURVE only; any other mechanism is refused)."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        decide: Decide,
        refused: Callable[[str, bytes], None],
        *,
        patience: float,
        admitted: Admitted | None = None,
    ) -> None:
        self._decide = decide
        self._refused = refused
        self._admitted = admitted
        self._patience = patience
        self._stop = threading.Event()
        # bound here, before any CURVE server binds, and from now on used by the thread alone
        self._sock = ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(ZAP_ENDPOINT)
        self._thread = threading.Thread(target=self._run, name="zbus-zap", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and close the socket (before the context is destroyed)."""
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        sock = self._sock
        waiting: list[Waiting] = []
        try:
            while not self._stop.is_set():
                if sock.poll(int(POLL * 1000)):
                    while True:
                        try:
                            frames = sock.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._request(frames, waiting)
                now = time.monotonic()
                still = []
                for item in waiting:
                    deadline, envelope, domain, key, address = item
                    verdict = self._decide(domain, key)
                    if verdict is None and now < deadline:
                        still.append(item)
                    else:
                        self._answer(envelope, domain, key, address, bool(verdict))
                waiting[:] = still
        finally:
            sock.close(linger=0)

    def _request(self, frames: list[bytes], waiting: list[Waiting]) -> None:
        # [routing id, b"", version, request id, domain, address, identity, mechanism, credentials...]
        if len(frames) < 8 or frames[1] != b"" or frames[2] != ZAP_VERSION:
            return  # not a ZAP request from libzmq: nothing to answer
        envelope = [frames[0], b"", ZAP_VERSION, frames[3]]
        domain = frames[4].decode("utf-8", "replace")
        address = frames[5].decode("utf-8", "replace")
        if frames[7] != b"CURVE" or len(frames) != 9 or len(frames[8]) != 32:
            self._reply(envelope, b"400", b"CURVE only", b"")
            return
        key = frames[8]
        verdict = self._decide(domain, key)
        if verdict is None:
            waiting.append((time.monotonic() + self._patience, envelope, domain, key, address))
        else:
            self._answer(envelope, domain, key, address, verdict)

    def _answer(self, envelope: list[bytes], domain: str, key: bytes, address: str, ok: bool) -> None:
        if ok:
            if self._admitted is not None:
                self._admitted(domain, key, address)
            self._reply(envelope, b"200", b"OK", _z85(key))
        else:
            self._reply(envelope, b"400", b"refused", b"")
            self._refused(domain, key)

    def _reply(self, envelope: list[bytes], status: bytes, text: bytes, user: bytes) -> None:
        try:
            self._sock.send_multipart([*envelope, status, text, user, b""], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the handshake's connection is gone


def _z85(key: bytes) -> bytes:
    return z85_encode(key).encode()  # the User-Id libzmq attaches to every message of the connection
