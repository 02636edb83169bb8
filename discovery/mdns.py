"""mDNS discovery with python-zeroconf: service type ``_zbus._tcp.local.``.

Scopes:

- ``local`` (default): zeroconf binds 127.0.0.1 only, so announcements and queries never leave
  the machine, and the announced address is 127.0.0.1.
- ``lan``: zeroconf binds the interfaces named in ``discovery.interfaces`` (addresses or names),
  or all of them when the list is empty; the node announces every address it listens on.

Each node registers ``<node id>._zbus._tcp.local.`` without the probing phase
(``cooperating_responders``): node ids are 64 random bits, so names cannot clash, and skipping
the ~750 ms of probes is what makes a local join take well under a second.

Every record is hostile until checked: its TXT properties (``txt.decode_txt``), that its ``id`` is the
instance name's, and its addresses (``addresses.usable_address``). A bad record is reported
(``bad_record``) and ignored. At most ``max_nodes`` records are followed at once (more are reported as
``discovery_full`` until some go away), and at most ``RESOLVE_AT_ONCE`` are queried over the network at
once, so a flood of fake records costs bounded memory, tasks and sockets. A failure in the callback
(the mesh's ``on_found``) is counted as a ``discover`` failure in ``Duties`` and never stops browsing.

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
from zbus.tasks import Duties, TaskGroup

from .addresses import reachable_addresses, usable_address
from .base import Found, Report, ignore
from .txt import NodeRecord, decode_txt, encode_txt

__all__ = ["RESOLVE_AT_ONCE", "SERVICE_TYPE", "MdnsDiscovery"]

SERVICE_TYPE = "_zbus._tcp.local."
#: records resolved over the network concurrently (not a setting: it bounds queries in flight during a
#: flood of incomplete records; a complete record, the usual case, resolves from zeroconf's cache
#: without waiting for a slot)
RESOLVE_AT_ONCE = 16
#: the longest close() waits for one of its background tasks to end (s)
FINISH_WAIT = 1.0
log = logging.getLogger("zbus")


def _specific(host: str) -> bool:
    return bool(host) and host not in ("0.0.0.0", "*", "127.0.0.1")


class MdnsDiscovery:
    """Announces this node over mDNS and reports the other zbus nodes it sees."""

    def __init__(
        self,
        record: NodeRecord,
        *,
        scope: str,
        interfaces: Iterable[str] = (),
        host: str = "",
        max_nodes: int = 1024,
        report: Report = ignore,
        duties: Duties | None = None,
    ) -> None:
        self.record = record
        self.scope = scope
        self.max_nodes = max_nodes
        self._report = report
        self.duties = duties or Duties("mdns")
        self._followed: set[str] = set()  # node ids of records resolved or being resolved (≤ max_nodes)
        self._pending: set[str] = set()  # node ids being resolved now
        self._resolving = asyncio.Semaphore(RESOLVE_AT_ONCE)
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
        with self.duties.guard("discover"):  # called by zeroconf: nothing may escape into its loop
            node_id = name.split(".", 1)[0]
            if node_id == self.record.id:
                return
            if state_change is ServiceStateChange.Removed:
                self._followed.discard(node_id)
                self._on_lost(node_id)  # a hint only: the mesh trusts heartbeats, not goodbyes
                return
            if node_id in self._pending:
                return  # a resolve of this record is under way; it reads the newest data
            if node_id not in self._followed and len(self._followed) >= self.max_nodes:
                self._report("discovery_full", f"more than discovery.max_nodes={self.max_nodes} records")
                return
            self._followed.add(node_id)
            self._pending.add(node_id)
            self._tasks.spawn(self._resolve(name, node_id), f"mdns-resolve-{node_id[:8]}")

    async def _resolve(self, name: str, node_id: str) -> None:
        found: Found | None = None
        try:
            with self.duties.guard("discover"):
                found = await self._lookup(name, node_id)
        finally:
            self._pending.discard(node_id)
        if found is None:
            self._followed.discard(node_id)  # looked at again when its record changes
            return
        with self.duties.guard("discover"):
            self._on_found(found)

    async def _lookup(self, name: str, node_id: str) -> Found | None:
        """The endpoint to greet for the record ``name``, or None (no answer, other mesh, or bad)."""
        if self._azc is None:
            return None
        zc = self._azc.zeroconf
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not info.load_from_cache(zc):  # usually complete: announcements carry SRV, TXT and A
            async with self._resolving:
                if not await info.async_request(zc, 3000):
                    log.debug("mDNS: no answer resolving %s", name)
                    return None
        try:
            record = decode_txt(info.properties)
        except WireError as exc:
            self._report("bad_record", f"{name[:80]}: {exc}")
            return None
        if record.mesh != self.record.mesh or record.id == self.record.id:
            return None
        if record.id != node_id:
            self._report("bad_record", f"{name[:80]}: TXT id {record.id!r} differs from the instance name")
            return None
        local = self.scope == "local"
        candidates = info.parsed_addresses(IPVersion.V4Only)
        usable = [a for a in (usable_address(c, loopback_only=local) for c in candidates) if a]
        if not usable:
            self._report("bad_record", f"{name[:80]}: no usable address in {candidates[:4]!r}")
            return None
        return Found(
            router=f"tcp://{usable[0]}:{record.router_port}",
            id=record.id,
            name=record.name,
            mesh=record.mesh,
            key=record.key,
        )

    async def close(self) -> None:
        """Say goodbye (unregister) and close zeroconf."""
        closing = asyncio.ensure_future(self._tasks.close())
        await asyncio.wait({closing}, timeout=FINISH_WAIT)
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
    """Cancel a zeroconf broadcast task (an announcement or goodbye repeat) and wait, at most
    ``FINISH_WAIT`` s, for it to end (close() must never hang on a task that does not stop)."""
    if isinstance(task, asyncio.Future) and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=FINISH_WAIT)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a failed broadcast is not worth a warning at exit
