"""mDNS discovery with python-zeroconf: service type ``_zbus._tcp.local.``.

Scopes:

- ``local`` (default): zeroconf binds 127.0.0.1 only, so announcements and queries never leave
  the machine, and the announced address is 127.0.0.1.
- ``lan``: zeroconf binds the interfaces named in ``discovery.interfaces`` (addresses or names),
  or all of them when the list is empty; the node announces every address it listens on.

Each node registers ``<node id>._zbus._tcp.local.`` without the probing phase
(``cooperating_responders``): node ids are 64 random bits, so names cannot clash, and skipping
the ~750 ms of probes is what makes a local join take well under a second.

Registering and unregistering each start a zeroconf task that repeats the announcement (or the
goodbye) over the next quarter second. Both are kept and finished in :meth:`MdnsDiscovery.close`:
the announcements still running are cancelled, and the goodbye runs until its first packet is out.
A task left pending would be destroyed with its event loop ("Task was destroyed but it is pending!"
on every ``BlockingNode`` exit, whose loop is not ``asyncio.run``'s, which cancels leftovers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterable

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from zbus.errors import DiscoveryError, WireError
from zbus.tasks import TaskGroup

from .addresses import reachable_addresses
from .base import Found
from .txt import NodeRecord, decode_txt, encode_txt

__all__ = ["SERVICE_TYPE", "MdnsDiscovery"]

SERVICE_TYPE = "_zbus._tcp.local."
log = logging.getLogger("zbus")


def _specific(host: str) -> bool:
    return bool(host) and host not in ("0.0.0.0", "*", "127.0.0.1")


class MdnsDiscovery:
    """Announces this node over mDNS and reports the other zbus nodes it sees."""

    def __init__(
        self, record: NodeRecord, *, scope: str, interfaces: Iterable[str] = (), host: str = ""
    ) -> None:
        self.record = record
        self.scope = scope
        if scope == "local":
            self._bind: list[str] | InterfaceChoice = ["127.0.0.1"]
            self._addresses = ["127.0.0.1"]
        else:
            named = list(interfaces)
            self._addresses = reachable_addresses(named) if named or not _specific(host) else [host]
            self._bind = self._addresses if named else InterfaceChoice.All
        self._azc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._info: AsyncServiceInfo | None = None
        self._announcing: object = None  # zeroconf's announcement task (an asyncio future)
        self._tasks = TaskGroup("mdns")
        self._on_found: Callable[[Found], None] = lambda found: None
        self._on_lost: Callable[[str], None] = lambda node_id: None

    @property
    def addresses(self) -> list[str]:
        """The IPv4 addresses this node announces."""
        return list(self._addresses)

    async def start(self, on_found: Callable[[Found], None], on_lost: Callable[[str], None]) -> None:
        """Register this node and browse for others.

        Raises:
            DiscoveryError: zeroconf could not open its sockets or register.
        """
        self._on_found, self._on_lost = on_found, on_lost
        try:
            self._azc = AsyncZeroconf(interfaces=self._bind, ip_version=IPVersion.V4Only)
            self._info = AsyncServiceInfo(
                SERVICE_TYPE,
                f"{self.record.id}.{SERVICE_TYPE}",
                addresses=[socket.inet_aton(a) for a in self._addresses],
                port=self.record.router_port,
                properties=encode_txt(self.record),
                server=f"zbus-{self.record.id}.local.",
            )
            self._announcing = await self._azc.async_register_service(self._info, cooperating_responders=True)
            self._browser = AsyncServiceBrowser(self._azc.zeroconf, SERVICE_TYPE, handlers=[self._on_change])
        except (OSError, Exception) as exc:
            await self.close()
            raise DiscoveryError(
                f"mDNS discovery could not start on {self._bind!r}: {exc}; "
                "try discovery.scope = 'static' with a peer list"
            ) from exc

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        node_id = name.split(".", 1)[0]
        if node_id == self.record.id:
            return
        if state_change is ServiceStateChange.Removed:
            self._on_lost(node_id)
            return
        self._tasks.spawn(self._resolve(name), f"mdns-resolve-{node_id[:8]}")

    async def _resolve(self, name: str) -> None:
        if self._azc is None:
            return
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(self._azc.zeroconf, 3000):
            log.debug("mDNS: no answer resolving %s", name)
            return
        try:
            record = decode_txt(info.properties)
        except WireError as exc:
            log.debug("mDNS: ignoring %s: %s", name, exc)
            return
        if record.mesh != self.record.mesh or record.id == self.record.id:
            return
        addresses = info.parsed_addresses(IPVersion.V4Only)
        if self.scope == "local":
            addresses = [a for a in addresses if a.startswith("127.")]
        for address in addresses[:1]:
            self._on_found(
                Found(
                    router=f"tcp://{address}:{record.router_port}",
                    id=record.id,
                    name=record.name,
                    mesh=record.mesh,
                )
            )

    async def close(self) -> None:
        """Say goodbye (unregister) and close zeroconf."""
        await self._tasks.close()
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await self._browser.async_cancel()
            self._browser = None
        await _finish(self._announcing)
        self._announcing = None
        if self._azc is not None:
            if self._info is not None:
                goodbye = None
                with contextlib.suppress(Exception):
                    goodbye = await asyncio.wait_for(self._azc.async_unregister_service(self._info), 2.0)
                await asyncio.sleep(0)  # the goodbye task's first step sends the first goodbye packet
                await _finish(goodbye)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._azc.async_close(), 2.0)
            self._azc = None


async def _finish(task: object) -> None:
    """Cancel a zeroconf broadcast task (an announcement or goodbye repeat) and wait for it to end."""
    if isinstance(task, asyncio.Future) and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
