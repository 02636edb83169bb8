"""The introspection methods of ``Node``: endpoints, HTTP address, callbacks, statistics.

Kept apart from node.py only to keep that file small; ``Node`` mixes this in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .observe.statistics import NodeState, NodeStatistics, merge_counts
from .protocol.repair import LostEvents

if TYPE_CHECKING:
    from .delivery.dispatch import Dispatcher, MemoryDeadLetters
    from .delivery.subscription import SubscriptionStatistics
    from .inbound.peerwatch import PeerEvent, PeerWatch
    from .inbound.router import Router
    from .model.peer import PeerInfo
    from .monitoring.health import HealthServer
    from .transport.base import Transport

__all__ = ["IntrospectionMixin"]


class IntrospectionMixin:
    """Mixed into ``Node``."""

    name: str
    id: str
    _state: NodeState
    _published: int
    _router: Router
    _transport: Transport | None
    _dispatcher: Dispatcher | None
    _dead_letters: MemoryDeadLetters
    _closed_subs: list[SubscriptionStatistics]
    _watch: PeerWatch
    _http: HealthServer | None
    _lost_listeners: list[Callable[[LostEvents], Any]]

    if TYPE_CHECKING:

        @property
        def peers(self) -> list[PeerInfo]: ...

    @property
    def http_url(self) -> str | None:
        """``http://host:port`` of /health, /metrics and the dashboard (``monitoring.http``), else None."""
        return self._http.url if self._http is not None else None

    @property
    def endpoints(self) -> dict[str, str]:
        """This node's ZeroMQ endpoints (``pub``, ``router``, a forwarder's ``capture``); empty in memory."""
        transport = self._transport
        pub, router = getattr(transport, "pub_endpoint", ""), getattr(transport, "router_endpoint", "")
        capture = getattr(getattr(transport, "forwarding", None), "capture_endpoint", "")
        return ({"pub": pub, "router": router} | ({"capture": capture} if capture else {})) if pub else {}

    def on_lost(self, callback: Callable[[LostEvents], Any]) -> Callable[[], None]:
        """Call ``callback(LostEvents)`` (sync or async) for every range of events that could not be
        repaired: ``node_id``, ``topic``, ``first``..``last``, ``count``, ``reason``. Returns an
        unregister function. Losses are also counted (``statistics().lost``) and logged."""
        self._lost_listeners.append(callback)
        return lambda: self._lost_listeners.remove(callback) if callback in self._lost_listeners else None

    def on_peer(self, callback: Callable[[PeerEvent], Any]) -> Callable[[], None]:
        """Call ``callback(PeerEvent)`` on every join, leave and update; returns an unregister function."""
        return self._watch.add_listener(callback)

    # -- introspection --------------------------------------------------------------------------------
    def statistics(self) -> NodeStatistics:
        """A snapshot of this node's counters (see ``NodeStatistics``)."""
        open_subs = [s.statistics() for s in self._router.subscriptions]
        subs = open_subs + self._closed_subs
        transport_drops = getattr(self._transport, "dropped", {})
        recovery = self._router.recovery
        repeats = {"duplicate": recovery.duplicates} if recovery is not None and recovery.duplicates else {}
        dropped = merge_counts(self._router.dropped, transport_drops, repeats, *(s.dropped for s in subs))
        return NodeStatistics(
            name=self.name,
            id=self.id,
            state=self._state.value,
            published=self._published,
            received=self._router.received,
            delivered=sum(s.delivered for s in subs),
            dropped=dropped,
            expired=sum(s.expired for s in subs),
            gaps=self._router.gaps,
            lost=self._router.lost,
            repaired=0 if self._router.recovery is None else self._router.recovery.repaired,
            dead_letters=len(self._dead_letters),
            queued=sum(s.queued for s in open_subs),
            subscriptions=len(open_subs),
            peers=len(self.peers),
            handlers_busy=0 if self._dispatcher is None else self._dispatcher.busy,
        )
