"""MeshSharing: a node's part in the mesh view: it shares its summary, and, as a watcher, keeps the others'.

Every ``monitoring.mesh.interval`` seconds, **only while some node watches** (a peer subscribes to
``$zbus.stats``, or this node does), the node takes an observation (the one ``/health`` reads, on its
loop, without the journal's statistics) and publishes :func:`~zbus.monitoring.meshview.summarize`'s
summary on ``$zbus.stats``: the first one an interval after the first observation, so a new watcher
hears every node within two intervals. Nobody watching costs a check per interval and no traffic. A
watching node (one that serves the dashboard, or ``zbus top``) gives every summary it hears to its
:class:`~.meshview.MeshView`, its own included (local delivery).

Summaries are not journaled and not counted as published events: they are the node's state, not
application data, and a restarted node simply starts a new series.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import MeshViewConfig
from ..model.event import Event
from ..tasks import TaskGroup
from .meshview import STATS_TOPIC, STATS_TYPE, Baseline, MeshView, baseline, summarize
from .snapshot import Observation

__all__ = ["MeshSharing", "stats_event"]

log = logging.getLogger("zbus")
#: the longest close() waits for the sharing loop to end (s)
CLOSE_WAIT = 1.0


def stats_event(source: str, summary: dict[str, Any]) -> Event:
    """The event that carries ``summary`` on the reserved topic ``$zbus.stats``."""
    return Event(STATS_TYPE, summary, source=source)._derive(topic=STATS_TOPIC)


class MeshSharing:
    """Shares this node's summary while someone watches; keeps the mesh view when ``watch``.

    Args:
        config: ``[monitoring.mesh]``: ``interval`` and ``window`` (seconds).
        node_id: this node's id (its own summaries are delivered locally, not received).
        observe: reads the node (on its loop), as ``/health`` does.
        publish: sends a summary (not journaled).
        watchers: ``(local, remote)``: whether this node subscribes to a topic, and how many others do
            (``Subscriptions.has_interest``, ``Transport.subscriber_count``); summaries are shared only
            while one of them is watching ``$zbus.stats``.
        http_url: shown in the summary so a watcher can link to this node's dashboard.
        watch: keep a :class:`MeshView` of the summaries heard (:meth:`heard` feeds it).
    """

    def __init__(
        self,
        config: MeshViewConfig,
        *,
        node_id: str,
        observe: Callable[[], Awaitable[Observation]],
        publish: Callable[[dict[str, Any]], Awaitable[None]],
        watchers: tuple[Callable[[str], bool], Callable[[str], int]],
        http_url: Callable[[], str] = lambda: "",
        watch: bool = False,
    ) -> None:
        self.config = config
        self._observe, self._publish, self._http_url = observe, publish, http_url
        self._local, self._remote = watchers
        self.view = MeshView(window=config.window, interval=config.interval) if watch else None
        self.node_id = node_id
        self.shared = 0
        #: summaries received from other nodes: the node's ``received`` counter leaves them out
        self.received = 0
        self._started = False
        self._tasks = TaskGroup("mesh-stats")

    def start(self) -> None:
        """Begin the sharing loop (idempotent)."""
        if self.config.interval > 0 and not self._started:
            self._started = True
            self._tasks.spawn(self._loop(), "mesh-stats")

    def heard(self, event: Event) -> None:
        """A summary arrived (the handler of the ``$zbus.stats`` subscription)."""
        self.received += event.node_id != self.node_id
        if self.view is not None:
            self.view.add(event.payload, time.time())

    def document(self) -> dict[str, Any]:
        """The mesh view for ``/api/mesh`` (an empty one when this node does not watch)."""
        view = self.view or MeshView(window=self.config.window, interval=self.config.interval)
        return view.document(time.time())

    async def read(self) -> dict[str, Any]:
        """:meth:`document`, as a coroutine the HTTP thread runs on the node's loop."""
        return self.document()

    async def _loop(self) -> None:
        interval = self.config.interval
        before: Baseline | None = None
        while True:
            await asyncio.sleep(interval)
            if not (self._local(STATS_TOPIC) or self._remote(STATS_TOPIC) > 0):
                before = None  # nobody watches: no observation, no traffic
                continue
            observation = await self._observe()
            now = time.time()
            if before is None:  # a watcher appeared: rates need a first interval to compare with
                before = baseline(observation, now)
                continue
            summary, before = summarize(
                observation, now, before, interval=interval, http_url=self._http_url()
            )
            try:
                await self._publish(summary)
                self.shared += 1
            except Exception as exc:  # the node is closing, or the summary is refused: try next time
                log.debug("mesh stats not shared: %s", exc)

    async def close(self) -> None:
        """Stop sharing. Bounded: the sharing loop was seen (rarely, under a production profile) not
        to end on cancellation within seconds; close() must not hang on it, so it waits at most
        ``CLOSE_WAIT`` s and says so."""
        closing = asyncio.ensure_future(self._tasks.close())
        done, _ = await asyncio.wait({closing}, timeout=CLOSE_WAIT)
        if not done:
            log.warning("the mesh-stats loop did not stop within %g s; closing without it", CLOSE_WAIT)
