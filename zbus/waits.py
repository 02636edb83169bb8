"""The ``wait_for_*`` methods of ``Node``: waits on the peer table, re-checked on every change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .model.topics import compile_pattern, validate_topic

if TYPE_CHECKING:
    from .inbound.peerwatch import PeerWatch
    from .inbound.router import Router
    from .model.peer import PeerInfo
    from .transport.base import Transport

__all__ = ["WaitsMixin"]


class WaitsMixin:
    """Mixed into ``Node`` (kept apart only to keep node.py small)."""

    _watch: PeerWatch
    _router: Router
    _transport: Transport | None

    @property
    def peers(self) -> list[PeerInfo]:
        """The other nodes of the mesh this node currently knows."""
        return [] if self._transport is None else self._transport.peers()

    def _check_running(self) -> None:
        raise NotImplementedError

    async def wait_for_peers(
        self, count: int = 1, *, timeout: float = 10.0, names: Iterable[str] = ()
    ) -> list[PeerInfo]:
        """Wait until at least ``count`` peers (and every name in ``names``) are known.

        Raises:
            RequestTimeout: not reached within ``timeout`` seconds.
        """
        wanted = set(names)

        def ready() -> bool:
            peers = self.peers
            return len(peers) >= count and wanted <= {p.name for p in peers}

        self._check_running()
        await self._watch.wait_until(ready, timeout, f"{count} peer(s) {sorted(wanted) or ''}".strip())
        return self.peers

    async def wait_for_responders(self, type: str, count: int = 1, *, timeout: float = 10.0) -> int:
        """Wait until ``count`` nodes (this one included) respond to requests of ``type``.

        Returns:
            The number of responders when the wait ended.

        Raises:
            RequestTimeout: fewer than ``count`` responders within ``timeout`` seconds.
        """
        validate_topic(type)
        self._check_running()

        def responders() -> int:
            local = 1 if type in self._router.responders else 0
            return local + sum(1 for p in self.peers if type in p.responders)

        what = f"{count} responder(s) of {type!r}"
        await self._watch.wait_until(lambda: responders() >= count, timeout, what)
        return responders()

    async def wait_for_subscribers(self, topic: str, count: int = 1, *, timeout: float = 10.0) -> int:
        """Wait until ``count`` other nodes subscribe to something matching ``topic``.

        The cure for ZeroMQ's slow-joiner loss: call it before publishing to a subscriber that
        has just started. ``topic`` may also be a pattern (``"order.*"``): then nodes whose
        subscriptions overlap it count. This node's own subscriptions are not counted.

        Returns:
            The number of remote subscribers when the wait ended.

        Raises:
            RequestTimeout: fewer than ``count`` subscribers within ``timeout`` seconds.
        """
        compile_pattern(topic)  # a topic or a pattern; raises InvalidTopicError with the fix
        self._check_running()
        assert self._transport is not None
        transport = self._transport
        await self._watch.wait_until(
            lambda: transport.subscriber_count(topic) >= count, timeout, f"{count} subscriber(s) of {topic!r}"
        )
        return transport.subscriber_count(topic)
