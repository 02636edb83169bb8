"""The seam between discovery and the mesh: what discovery reports and the protocol it implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Discovery", "Found", "Report"]

#: how discovery reports a refused record: ``report(reason, detail)``; the mesh passes its drop counter,
#: so refusals show in ``Node.statistics().dropped`` and ``zbus_events_dropped{reason}``
Report = Callable[[str, str], None]


def ignore(reason: str, detail: str) -> None:
    """The default :data:`Report`: count nothing (tools that browse without a node)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """A node worth greeting: its ROUTER endpoint, and its id when known (mDNS knows it)."""

    router: str
    id: str = ""
    name: str = ""
    mesh: str = ""
    #: its CURVE public key (Z85) when it announced one: the key the greeting's DEALER expects
    key: str = ""


class Discovery(Protocol):
    """Announces this node and suggests others (implemented in ``zbus.discovery``)."""

    async def start(self, on_found: Callable[[Found], None], on_lost: Callable[[str], None]) -> None:
        """Begin announcing and browsing; ``on_lost`` receives a node id."""

    async def close(self) -> None:
        """Stop, saying goodbye where the mechanism has one."""

    @property
    def addresses(self) -> list[str]:
        """The addresses this node announces (empty when the mechanism announces none)."""
