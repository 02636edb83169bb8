"""Guard: what stands between the mesh's sockets and its handlers, by ``security.mode``. With security off it
is :class:`Open` (every call a no-op), and ``curve.py`` with PyNaCl is never imported; with it on, a
``curve.Curve`` (CURVE, the ZAP handler and the per-message checks).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import zmq

from ...config import Config
from ...observe.drops import Drops
from ...security.mode import effective_mode
from ..base import Inbound
from .links import Link
from .sockets import recv_frames

if TYPE_CHECKING:
    from .curve import Curve

__all__ = ["Open", "make_curve"]

log = logging.getLogger("zbus")

Handler = Callable[[list[bytes]], Awaitable[None] | None]
LinkHandler = Callable[[list[bytes], Link], Awaitable[None] | None]


def make_curve(config: Config, name: str, dropped: Drops) -> Curve | Open:
    """The node's CURVE set-up from ``[security]``, or :class:`Open` when security is off.

    Raises:
        UsageError: ``mode = "auto"`` on ``lan`` scope (the message says what to choose).
        ConfigError: a key, credential or allow-list entry is missing or invalid.
    """
    mode, scope = effective_mode(config), config.discovery.scope
    if mode == "off":
        if scope != "local":
            log.warning("security.mode = 'off' on %s scope: anyone who reaches this node's ports can read, "
                        "publish and answer as anyone (docs/SECURITY.md)", scope)  # fmt: skip
        return Open()
    from .curve import secure_curve  # PyNaCl loads only for nodes that use it

    return secure_curve(config, name, dropped)


class Open:
    """Security off: the same calls as :class:`Curve`, each doing nothing, so the mesh has no branches."""

    secure = False
    changed = False
    decisions: Counter[tuple[str, str]] = Counter()  # none are made (never written)

    def start(self, ctx: zmq.Context[zmq.Socket[bytes]], inbound: Inbound) -> None:
        """Nothing to start; sources are not checked (names are unauthenticated)."""

    def stop(self) -> None:
        """Nothing to stop."""

    def learn(self, endpoint: str, key: str | bytes) -> None:
        """Keys are not needed."""

    def router(self, handle: Handler) -> Handler:
        """No guard."""
        return handle

    def xpub(self, sock: zmq.Socket[bytes], handle: Handler) -> Handler:
        """No guard."""
        return handle

    def sub(self, handle: LinkHandler) -> LinkHandler:
        """No guard."""
        return handle

    @staticmethod
    def recv(sock: zmq.Socket[bytes]) -> list[bytes]:
        """Plain receive."""
        return recv_frames(sock)

    def hello_fields(self) -> dict[str, bytes]:
        """No key, credential or revocation list."""
        return {}

    def tick(self, now: float) -> list[str]:
        """Nobody to cut off."""
        return []

    @property
    def public_text(self) -> str:
        """No key to announce."""
        return ""
