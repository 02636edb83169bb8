"""systemd readiness: ``sd_notify`` in a few lines of stdlib (a datagram to ``$NOTIFY_SOCKET``).

A unit with ``Type=notify`` starts its dependents only once the service says ``READY=1``; ``zbus
node start`` says it once the node has joined (sockets bound, discovery started), and ``STOPPING=1``
when it begins to shut down. Without ``$NOTIFY_SOCKET`` (not under systemd) nothing is sent.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["notify"]

log = logging.getLogger("zbus")


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to the service manager; True if it was sent.

    ``$NOTIFY_SOCKET`` is a filesystem path or, starting with ``@``, an abstract socket name. Failing
    to notify never stops the node: it is logged as a warning and False is returned.
    """
    path = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    if not path:
        return False
    if path.startswith("@"):
        address = "\0" + path[1:]
    elif path.startswith("/"):
        address = path
    else:
        log.warning("NOTIFY_SOCKET=%r is neither a path nor an abstract socket; not notifying", path)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("cannot notify the service manager at %s: %s", path, exc)
        return False
    return True
