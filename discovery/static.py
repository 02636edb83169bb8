"""Static discovery: a fixed list of ROUTER endpoints (docker, k8s, VPNs: no multicast at all).

Every endpoint is suggested at start and again every ``retry_interval`` seconds, so a peer
that starts later, or restarts, is greeted without any configuration change. The mesh ignores
suggestions for endpoints that already belong to a live peer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from zbus.tasks import Duties, TaskGroup

from .addresses import reachable_addresses
from .base import Found

__all__ = ["StaticDiscovery"]


class StaticDiscovery:
    """Suggests each configured endpoint periodically."""

    def __init__(
        self,
        endpoints: Iterable[str],
        *,
        interfaces: Iterable[str] = (),
        host: str = "",
        retry_interval: float = 2.0,
        duties: Duties | None = None,
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.retry_interval = retry_interval
        specific = host and host not in ("0.0.0.0", "*")
        #: what this node announces in HELLO when its sockets are bound to a wildcard address
        self.addresses = [host] if specific else reachable_addresses(interfaces)
        self._tasks = TaskGroup("static discovery")
        self.duties = duties or Duties("static discovery")

    async def start(self, on_found: Callable[[Found], None], on_lost: Callable[[str], None]) -> None:
        """Suggest every endpoint now and keep suggesting them."""

        async def loop() -> None:
            while True:
                for endpoint in self.endpoints:
                    with self.duties.guard("discover"):  # one failing endpoint never stops the others
                        on_found(Found(router=endpoint))
                await asyncio.sleep(self.retry_interval)

        self._tasks.spawn(loop(), "static-discovery")

    async def close(self) -> None:
        """Stop suggesting."""
        await self._tasks.close()
