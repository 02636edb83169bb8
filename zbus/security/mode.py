"""Mode: what ``security.mode`` means on a node's discovery scope. No cryptography is loaded here, so a node
with security off never imports PyNaCl (``transport/zmq/guard.py`` decides before anything else)."""

from __future__ import annotations

from ..config import Config
from ..errors import UsageError

__all__ = ["effective_mode"]


def effective_mode(config: Config) -> str:
    """``off``, ``allow`` or ``mesh``: ``auto`` is ``off`` on ``local`` scope, and on ``static`` scope (a
    warning says so on every start; a static mesh is secured by choosing ``mesh`` or ``allow`` and
    naming each peer's key in its entry, docs/SECURITY.md).

    Raises:
        UsageError: ``auto`` on ``lan`` scope (the message says what to choose).
    """
    mode, scope = config.security.mode, config.discovery.scope
    if mode != "auto":
        return mode
    if scope == "lan":
        raise UsageError(
            f"discovery.scope = {scope!r} reaches other hosts, and security.mode is not set: set "
            'security.mode = "mesh" (or "allow") to encrypt and authenticate the mesh, or "off" to run '
            "it open on a trusted network (docs/SECURITY.md has the three-command set-up)"
        )
    return "off"
