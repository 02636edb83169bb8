"""PeerWatch: turns peer-table changes into PeerEvents, listener calls and wake-ups for waiters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import WaitTimeout
from ..model.peer import PeerInfo

__all__ = ["PeerEvent", "PeerWatch"]

log = logging.getLogger("zbus")
T = TypeVar("T")
#: while discovery settles, ``find`` looks again at least this often (s)
SETTLE_CHECK = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerEvent:
    """A change in the peer table: ``kind`` is ``"joined"``, ``"left"`` or ``"updated"``."""

    kind: str
    peer: PeerInfo


class PeerWatch:
    """Diffs successive peer lists, notifies listeners, and lets coroutines wait for a condition."""

    def __init__(self) -> None:
        self._known: dict[str, PeerInfo] = {}
        self._listeners: list[Callable[[PeerEvent], Any]] = []
        self._changed = asyncio.Event()

    def add_listener(self, callback: Callable[[PeerEvent], Any]) -> Callable[[], None]:
        """Register ``callback``; returns the function that unregisters it."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def update(self, peers: list[PeerInfo]) -> list[PeerEvent]:
        """Take the current peer list; notify listeners of each difference; wake waiters."""
        current = {p.id: p for p in peers}
        changes: list[PeerEvent] = []
        for pid, peer in current.items():
            old = self._known.get(pid)
            if old is None:
                changes.append(PeerEvent(kind="joined", peer=peer))
            elif old != peer:
                changes.append(PeerEvent(kind="updated", peer=peer))
        changes.extend(PeerEvent(kind="left", peer=p) for pid, p in self._known.items() if pid not in current)
        self._known = current
        for change in changes:
            log.info("peer %s (%s) %s", change.peer.name, change.peer.id, change.kind)
            for listener in list(self._listeners):
                try:
                    listener(change)
                except Exception:
                    log.exception("peer listener %r failed", listener)
        self.poke()
        return changes

    def poke(self) -> None:
        """Wake every waiter so it re-checks its condition (subscriptions changed, ...)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def find(
        self, pick: Callable[[], T | None], settled: Callable[[], bool], timeout: float
    ) -> T | None:
        """What ``pick()`` returns once it is not ``None``, waiting (at most ``timeout`` s) while
        discovery has not ``settled()``: someone not met yet may still be there. ``None`` once settled."""
        deadline = time.monotonic() + timeout
        while (found := pick()) is None and not settled():
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            # wake on every peer change; look again at least every SETTLE_CHECK s (settling is a time)
            with contextlib.suppress(WaitTimeout):
                await self.wait_until(lambda: pick() is not None, min(left, SETTLE_CHECK), "a peer")
        return found

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Return once ``predicate()`` holds; re-checked after every change.

        Raises:
            WaitTimeout: it did not hold within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise WaitTimeout(f"timed out after {timeout} s waiting for {what}") from None
