"""The seam between discovery and the mesh: what discovery reports and the protocol it implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Discovery", "Found"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """A node worth greeting: its ROUTER endpoint, and its id when known (mDNS knows it)."""

    router: str
    id: str = ""
    name: str = ""
    mesh: str = ""


class Discovery(Protocol):
    """Announces this node and suggests others (implemented in ``zbus.discovery``)."""

    async def start(self, on_found: Callable[[Found], None], on_lost: Callable[[str], None]) -> None:
        """Begin announcing and browsing; ``on_lost`` receives a node id."""

    async def close(self) -> None:
        """Stop, saying goodbye where the mechanism has one."""

    @property
    def addresses(self) -> list[str]:
        """The addresses this node announces (empty when the mechanism announces none)."""
