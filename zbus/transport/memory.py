"""In-memory transport: nodes of one process reach each other without sockets.

Select it with ``transport.kind = "memory"``. Nodes with the same mesh name in the same process
form a mesh; events still travel as encoded wire frames and are decoded by each receiver, so they
behave exactly like events that crossed the network (a subscriber cannot mutate the publisher's
payload). Nodes may run on different event loops (for example a ``BlockingNode`` on its own
thread): delivery then hops to the receiver's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine, Iterable
from dataclasses import replace
from typing import Any

from ..codec.control import Kind
from ..errors import ClosedError, LocalProtocolError, PeerLostError
from ..model.peer import PeerInfo
from ..model.topics import parse_announced, patterns_overlap
from ..observe.statistics import TransportStatistics
from .base import GroupAds, Inbound

__all__ = ["MemoryTransport"]

_hubs: dict[str, dict[str, MemoryTransport]] = {}
_hubs_lock = threading.Lock()


class MemoryTransport:
    """A node's attachment to the process-wide in-memory hub of its mesh."""

    def __init__(self, *, node_id: str, name: str, mesh: str, epoch: int, role: str = "node") -> None:
        self.info = PeerInfo(id=node_id, name=name, mesh=mesh, epoch=epoch, role=role, address="memory")
        self._listening: frozenset[str] = frozenset()  # what it receives (a monitor announces none)
        self._inbound: Inbound | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = time.monotonic()

    async def start(self, inbound: Inbound) -> None:
        """Join the hub and tell the other members."""
        self._inbound = inbound
        self._loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        self.info = replace(self.info, joined_at=time.time(), started=self._started, base={})
        with _hubs_lock:
            members = _hubs.setdefault(self.info.mesh, {})
            members[self.info.id] = self
            others = [m for m in members.values() if m is not self]
        for other in others:
            other._notify_changed()

    async def close(self) -> None:
        """Leave the hub and tell the other members."""
        with _hubs_lock:
            members = _hubs.get(self.info.mesh, {})
            members.pop(self.info.id, None)
            others = list(members.values())
            if not members:
                _hubs.pop(self.info.mesh, None)
        for other in others:
            other._notify_changed()
        self._inbound = None

    async def leave(self, heads: dict[str, int], timeout: float) -> None:
        """Nothing to wait for: the hub hands every event over in the publishing call."""

    def settled(self) -> bool:
        """Always: the hub knows every member at once."""
        return True

    def running_for(self) -> float:
        """Seconds since :meth:`start`."""
        return time.monotonic() - self._started

    def _members(self) -> list[MemoryTransport]:
        with _hubs_lock:
            return [m for m in _hubs.get(self.info.mesh, {}).values() if m is not self]

    def _notify_changed(self) -> None:
        inbound, loop = self._inbound, self._loop
        if inbound is None or loop is None:
            return
        try:
            if loop is asyncio.get_running_loop():
                inbound.on_peers_changed()
                return
        except RuntimeError:
            pass
        loop.call_soon_threadsafe(inbound.on_peers_changed)

    async def _deliver(self, coro_factory: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        if loop is None:
            raise ClosedError("peer has left")
        if loop is asyncio.get_running_loop():
            await coro_factory
        else:
            fut: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(coro_factory, loop)
            await asyncio.wrap_future(fut)

    async def publish(self, topic: str, seq: int, frames: list[bytes]) -> None:
        """Hand the frames to every other member that subscribed to a matching pattern."""
        for member in self._members():
            inbound = member._inbound
            if inbound is None or not member._wants(topic):
                continue
            try:
                await member._deliver(inbound.on_event(list(frames)))
            except (ClosedError, RuntimeError):
                continue  # the member left while we were sending: like a dropped connection

    def _wants(self, topic: str) -> bool:
        return any(parse_announced(p).matches(topic) for p in self._listening)

    eager_send = False  # delivery crosses event loops: always awaited

    def send_now(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        """Not available in memory (``eager_send`` is False): ``await send(...)`` instead."""
        raise LocalProtocolError("the memory transport cannot send without awaiting; use await send()")

    def statistics(self) -> TransportStatistics:
        """Nothing is dropped in memory; no endpoints."""
        return TransportStatistics(dropped={}, closed=self._inbound is None, endpoints={})

    async def send(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        """Deliver a point-to-point message to member ``peer_id``."""
        with _hubs_lock:
            member = _hubs.get(self.info.mesh, {}).get(peer_id)
        inbound = None if member is None else member._inbound
        if member is None or inbound is None:
            raise PeerLostError(f"peer {peer_id!r} is not in mesh {self.info.mesh!r} any more")
        try:
            await member._deliver(inbound.on_direct(kind, self.info.id, list(frames)))
        except (ClosedError, RuntimeError) as exc:
            raise PeerLostError(f"peer {peer_id!r} left while we were sending") from exc

    def peers(self) -> list[PeerInfo]:
        """The other members of this mesh."""
        return [m.info for m in self._members()]

    def announce(
        self, *, patterns: Iterable[str], responders: Iterable[str], groups: GroupAds | None = None
    ) -> None:
        """Publish this node's subscriptions, responders and queue groups to the other members."""
        self._listening = frozenset(patterns)
        announced = frozenset() if self.info.role == "monitor" else self._listening
        ads = tuple(sorted((g, p, c) for g, (p, c) in (groups or {}).items()))
        self.info = replace(self.info, patterns=announced, responders=frozenset(responders), groups=ads)
        for other in self._members():
            other._notify_changed()

    def subscriber_count(self, topic: str) -> int:
        """How many other members have a subscription overlapping ``topic`` (a topic or pattern)."""
        query = parse_announced(topic)
        return sum(
            1
            for m in self._members()
            if any(patterns_overlap(parse_announced(p), query) for p in m.info.patterns)
        )
