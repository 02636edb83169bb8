"""Discovery: how a node learns whom to greet. mDNS (``local``/``lan`` scope) or a static list.

Discovery only *suggests* peers (``Found``: a ROUTER endpoint to send HELLO to); the mesh adds a
peer to its table only when the peer answers. ``make_discovery`` picks the implementation for
``discovery.scope``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from zbus.config import Config

__all__ = ["Discovery", "Found", "make_discovery"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """A node worth greeting: its ROUTER endpoint, and its id when known (mDNS knows it)."""

    router: str
    id: str = ""
    name: str = ""
    mesh: str = ""


class Discovery(Protocol):
    """Announces this node and reports others."""

    async def start(self, on_found: Callable[[Found], None], on_lost: Callable[[str], None]) -> None:
        """Begin announcing and browsing; ``on_lost`` receives a node id."""

    async def close(self) -> None:
        """Stop, saying goodbye where the mechanism has one."""


def make_discovery(
    config: Config, *, node_id: str, name: str, epoch: int, role: str, pub_port: int, router_port: int
) -> Discovery:
    """The discovery for ``config.discovery.scope`` (``local``, ``lan`` or ``static``)."""
    scope = config.discovery.scope
    if scope == "static":
        from .static import StaticDiscovery

        return StaticDiscovery(config.discovery.peers)
    from .mdns import MdnsDiscovery
    from .txt import NodeRecord

    record = NodeRecord(
        id=node_id, name=name, mesh=config.mesh.name, pub_port=pub_port, router_port=router_port,
        role=role, epoch=epoch,
    )
    return MdnsDiscovery(record, scope=scope, interfaces=config.discovery.interfaces, host=config.transport.host)
