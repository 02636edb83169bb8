"""A node's HTTP endpoints: ``/health``, ``/metrics``, ``/api/state``, ``/api/mesh`` and the dashboard ``/``.

Switched on by ``monitoring.http.enabled`` (host ``monitoring.http.host``, default 127.0.0.1; port
``monitoring.http.port``, 0 = ephemeral; the bound URL is ``Node.http_url`` and is logged).

Theory of operation
-------------------
The server is :class:`~zbus.monitoring.httpserver.BoundedHTTPServer` on its own threads (one acceptor,
``monitoring.http.workers`` workers), so a slow client or a scrape never blocks the event loop, and slow
or hostile clients cannot multiply threads: connections still sending their request are bounded
(``max_connections``, ``read_timeout``, ``max_request_bytes``) and refusals are counted
(``zbus_http_refused{reason}``). A request thread never reads node state itself: it submits
:func:`~zbus.monitoring.snapshot.take_snapshot` to the node's loop (``run_coroutine_threadsafe``) and waits at
most ``SNAPSHOT_TIMEOUT`` seconds for the result, so every number comes from one consistent moment
and nothing races with the loop. A loop that does not answer in time is itself a finding: /health
says 503 "event loop unresponsive".

Access (:class:`~zbus.monitoring.access.HttpAccess`): the dashboard and ``/api/*`` need the node's token,
``/health`` and ``/metrics`` too unless ``monitoring.http.open`` names them; a refused request gets 401,
is counted (``zbus_http_refused{reason="unauthorized"}``) and audited on ``zbus.audit``.

Health (:func:`evaluate`) is unhealthy, HTTP 503, when any of these holds:

- the node is not running (created, closing or closed), or its transport is closed;
- the journal refuses writes (map full) or cannot report its statistics;
- a subscription backlog is at least ``monitoring.http.max_queue_percent`` % full (default 90):
  at 100 % it drops (or, under ``overflow="block"``, stalls publishers);
- a handler runner task died (a bug: its subscription receives nothing any more);
- the loop did not answer within ``SNAPSHOT_TIMEOUT``.

Otherwise it is healthy, HTTP 200. The JSON follows the seed plan: ``status``, ``timestamp`` and
``checks`` (``transport``, ``persistence``, ``queue``, ``workers``), plus ``node`` and ``problems``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ..config import MonitoringConfig
from ..errors import ConfigError
from .access import HttpAccess
from .dashboard import DASHBOARD_HTML
from .httpserver import BoundedHTTPServer, HeadHandler
from .snapshot import NodeSnapshot, Observation, take_snapshot

__all__ = ["HealthServer", "evaluate", "start_http", "state_json"]

log = logging.getLogger("zbus")
audit_log = logging.getLogger("zbus.audit")
SNAPSHOT_TIMEOUT = 2.0  # seconds a request waits for the node's loop


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def evaluate(s: NodeSnapshot, max_queue_percent: int = 90) -> dict[str, Any]:
    """The /health document for snapshot ``s`` (see the module text for the rules)."""
    problems: list[str] = []
    running = s.stats.state == "running"
    if not running:
        transport = f"not running ({s.stats.state})"
        problems.append(f"the node is {s.stats.state}")
    elif s.transport_closed:
        transport = "closed"
        problems.append("the transport is closed")
    else:
        transport = f"connected ({len(s.peers)} peers)"
    if not s.persistence:
        persistence = "disabled"
    elif s.journal_full:
        persistence = "full"
        problems.append("the journal map is full: raise persistence.map_size or shorten retention")
    elif s.journal_error:
        persistence = f"error: {s.journal_error}"
        problems.append(f"the journal cannot be read: {s.journal_error}")
    else:
        j = s.journal or {}
        used = j.get("map_used", 0) / j["map_size"] if j.get("map_size") else 0.0
        persistence = f"available ({j.get('events', 0)} events, {used:.0%} of map used)"
    percent = round(s.queue_fill * 100)
    queue = f"{percent}% capacity"
    if s.queue_capacity and percent >= max_queue_percent:
        problems.append(
            f"a subscription backlog is {percent}% full (limit {max_queue_percent}%): its consumer is "
            "too slow; speed up the handler, raise concurrency or max_size"
        )
    workers = f"{s.handlers_busy}/{s.workers} busy"
    if s.dead_runners:
        workers += f", {s.dead_runners} handler runner(s) died"
        problems.append(f"{s.dead_runners} handler runner task(s) died; see the log for the traceback")
    return {
        "status": "unhealthy" if problems else "healthy",
        "timestamp": _iso(s.taken_at),
        "checks": {"transport": transport, "persistence": persistence, "queue": queue, "workers": workers},
        "node": {"name": s.stats.name, "id": s.stats.id, "mesh": s.mesh, "version": s.version},
        "problems": problems,
    }


def unresponsive(reason: str) -> dict[str, Any]:
    """The /health document when no snapshot could be taken."""
    unknown = "unknown"
    return {
        "status": "unhealthy",
        "timestamp": _iso(time.time()),
        "checks": {"transport": unknown, "persistence": unknown, "queue": unknown, "workers": unknown},
        "problems": [reason],
    }


def state_json(s: NodeSnapshot, health: dict[str, Any]) -> dict[str, Any]:
    """What the dashboard polls (``/api/state``): counters, peers, topics, queue, queue groups, journal,
    gaps."""
    st = s.stats
    return {
        "taken_at": s.taken_at,
        "health": health,
        "node": {
            "name": st.name,
            "id": st.id,
            "mesh": s.mesh,
            "role": s.role,
            "state": st.state,
            "version": s.version,
            "started_at": s.started_at,
            "transport": s.transport,
        },
        "counters": {
            "published": st.published,
            "received": st.received,
            "delivered": st.delivered,
            "dropped": sum(s.dropped_by_reason.values()),
            "expired": st.expired,
            "gaps": st.gaps,
            "lost": st.lost,
            "dead_letters": st.dead_letters,
        },
        "dropped_by_reason": s.dropped_by_reason,
        "handler_errors": s.handler_errors,
        "queue": {
            "by_priority": {str(k): v for k, v in sorted(s.queue_by_priority.items())},
            "queued": st.queued,
            "capacity": s.queue_capacity,
            "fill": s.queue_fill,
            "busy": s.handlers_busy,
            "workers": s.workers,
        },
        "latency": {
            "p50": s.latency.quantile(0.5),
            "p99": s.latency.quantile(0.99),
            "count": s.latency.count,
        },
        "request_latency": {
            "p50": s.request_latency.quantile(0.5),
            "p99": s.request_latency.quantile(0.99),
            "count": s.request_latency.count,
        },
        "peers": [
            {
                "name": p.name,
                "id": p.id,
                "role": p.role,
                "address": p.address,
                "joined_at": p.joined_at,
                "patterns": sorted(p.patterns),
                "responders": sorted(p.responders),
                "epoch": p.epoch,
                "groups": [f"{g}:{','.join(ps)}/{c}" for g, ps, c in p.groups],
                "dropped": s.stats.dropped_by_peer.get(p.id, {}),
            }
            for p in sorted(s.peers, key=lambda p: p.name)
        ],
        "topics": [
            {
                "topic": t.topic,
                "published": t.published,
                "received": t.received_head,
                "publishers": t.publishers,
            }
            for t in s.topics
        ],
        "subscriptions": [dataclasses.asdict(r) for r in s.subscriptions],
        "groups": dataclasses.asdict(s.groups)
        | {"members": [dataclasses.asdict(m) for m in s.groups.members[:50]]},
        "journal": s.journal,
        "recent_gaps": [
            {"ts": ts, "publisher": node, "topic": topic, "missing": n}
            for ts, node, topic, n in reversed(s.recent_gaps)
        ],
    }


class HealthServer:
    """The HTTP endpoints of one node; created and started by the node when monitoring is enabled."""

    def __init__(
        self,
        name: str,
        cfg: MonitoringConfig,
        observe: Callable[[], Coroutine[Any, Any, Observation]],
        mesh: Callable[[], Coroutine[Any, Any, dict[str, Any]]] | None = None,
    ) -> None:
        self.name = name
        self._observe = observe
        self._mesh = mesh
        self.host, self.port = cfg.http.host, cfg.http.port
        self.http = cfg.http
        self.max_queue_percent = cfg.http.max_queue_percent
        self.metrics_enabled = cfg.metrics.enabled
        self.started_at = time.time()
        self.url = ""
        self.access: HttpAccess | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: BoundedHTTPServer | None = None
        self._metrics: Any = None
        self._lock = threading.Lock()
        #: requests answered per endpoint path (for tests and debugging)
        self.served: dict[str, int] = {}

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            ConfigError: the address cannot be bound (in use, or not an address of this host), or the
                token settings are wrong (see :meth:`HttpAccess.from_config`).
        """
        self.access = HttpAccess.from_config(self.http)
        self._loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        h = self.http
        try:
            self._server = BoundedHTTPServer(
                (self.host, self.port),
                _handler_for(self),
                family=family,
                name=f"zbus-http {self.name}",
                workers=h.workers,
                max_connections=h.max_connections,
                read_timeout=h.read_timeout,
                max_request_bytes=h.max_request_bytes,
            )
        except OSError as exc:
            raise ConfigError(
                f"monitoring.http cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; "
                "choose another monitoring.http.port (0 = any free port) or host"
            ) from exc
        port = self._server.server_address[1]
        shown = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self.url = f"http://{shown}:{port}"
        if self.metrics_enabled:
            from .metrics import NodeMetrics  # prometheus_client loads only when metrics are served

            self._metrics = NodeMetrics(self.snapshot)
        self._server.start()
        generated = self.access.generated
        shown, note = (self.access.token, " (token generated at start)") if generated else ("<token>", "")
        log.info("node %s serves /health, /metrics and the dashboard at %s/?token=%s%s", self.name,
                 self.url, shown, note)  # fmt: skip

    @property
    def dashboard_url(self) -> str:
        """The dashboard's URL with the token (``URL/?token=...``), what a browser opens."""
        return f"{self.url}/?token={self.access.token}" if self.access else ""

    def refuse(self, path: str, client: str) -> None:
        """Count and audit a request refused for want of the token (called on an HTTP thread)."""
        if self._server is None:
            return
        first = self._server.count_quietly("unauthorized")
        level = logging.WARNING if first else logging.DEBUG
        if audit_log.isEnabledFor(level):
            audit_log.log(level, "security refused_http (unauthorized) %s %s", client, path,
                          extra={"audit": "refused_http", "reason": "unauthorized", "peer_key": "",
                                 "client": client, "path": path})  # fmt: skip

    def snapshot(self) -> NodeSnapshot:
        """A snapshot taken on the node's loop (call from the HTTP threads only, never from the loop).

        Raises:
            TimeoutError: the loop did not answer within ``SNAPSHOT_TIMEOUT`` seconds.
            RuntimeError: the loop is closed.
        """
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._observe(), self._loop)
        try:
            observation = future.result(SNAPSHOT_TIMEOUT)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(
                f"the event loop did not answer within {SNAPSHOT_TIMEOUT} s (blocked?)"
            ) from None
        snap = take_snapshot(observation, http_url=self.url, started_at=self.started_at)
        refused = {} if self._server is None else self._server.refusals()
        return dataclasses.replace(snap, extra={**snap.extra, "http_refused": refused})

    def mesh_document(self) -> dict[str, Any]:
        """The mesh view (``/api/mesh``), read on the node's loop like :meth:`snapshot`.

        Raises:
            TimeoutError: the loop did not answer within ``SNAPSHOT_TIMEOUT`` seconds.
        """
        assert self._loop is not None
        if self._mesh is None:
            return {"nodes": [], "edges": [], "topics": [], "series": {"t": [], "topics": {}, "latency": {}}}
        future = asyncio.run_coroutine_threadsafe(self._mesh(), self._loop)
        try:
            return future.result(SNAPSHOT_TIMEOUT)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(
                f"the event loop did not answer within {SNAPSHOT_TIMEOUT} s (blocked?)"
            ) from None

    def metrics_text(self) -> bytes:
        """The Prometheus exposition (``/metrics``)."""
        return bytes(self._metrics.render())

    async def close(self) -> None:
        """Stop serving and release the port; requests in flight finish on their own threads."""
        server, self._server = self._server, None
        if server is None:
            return
        await asyncio.to_thread(server.shutdown)


def _handler_for(owner: HealthServer) -> type[HeadHandler]:
    class Handler(HeadHandler):
        server_version = "zbus"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s %s", self.address_string(), format % args)

        def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for header, text in (extra or {}).items():
                self.send_header(header, text)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, code: int, doc: Any) -> None:
            self._send(code, json.dumps(doc, default=str).encode(), "application/json")

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            route: dict[str, Callable[[], None]] = {
                "/": self._dashboard,
                "/health": self._health,
                "/metrics": self._metrics,
                "/api/state": self._state,
                "/api/mesh": self._mesh,
            }
            key = path.rstrip("/") or "/"
            action = route.get(key)
            if action is None:
                self._json(404, {"error": f"no such endpoint {path!r}", "endpoints": sorted(route)})
                return
            assert owner.access is not None
            if not owner.access.allows(key, query, self.headers.get("Authorization")):
                owner.refuse(key, self.client_address[0])
                error = (
                    f"{key} needs the node's token: add ?token=... to the URL or send "
                    "Authorization: Bearer ... (monitoring.http.token, or the one logged at start)"
                )
                body = json.dumps({"error": error}).encode()
                self._send(401, body, "application/json", {"WWW-Authenticate": 'Bearer realm="zbus"'})
                return
            with owner._lock:
                owner.served[path] = owner.served.get(path, 0) + 1
            try:
                action()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away
            except (TimeoutError, RuntimeError) as exc:  # the loop is stuck or gone
                self._json(503, unresponsive(str(exc)))

        def _dashboard(self) -> None:
            self._send(200, DASHBOARD_HTML.encode(), "text/html; charset=utf-8")

        def _health(self) -> None:
            doc = evaluate(owner.snapshot(), owner.max_queue_percent)
            self._json(200 if doc["status"] == "healthy" else 503, doc)

        def _metrics(self) -> None:
            if owner._metrics is None:
                self._json(404, {"error": "metrics are off: set monitoring.metrics.enabled = true"})
                return
            from .metrics import CONTENT_TYPE

            self._send(200, owner.metrics_text(), CONTENT_TYPE)

        def _mesh(self) -> None:
            self._json(200, owner.mesh_document())

        def _state(self) -> None:
            snap = owner.snapshot()
            self._json(200, state_json(snap, evaluate(snap, owner.max_queue_percent)))

    return Handler


async def start_http(
    name: str,
    cfg: MonitoringConfig,
    observe: Callable[[], Coroutine[Any, Any, Observation]],
    mesh: Callable[[], Coroutine[Any, Any, dict[str, Any]]] | None = None,
) -> HealthServer | None:
    """Start node ``name``'s HTTP endpoints when ``monitoring.http.enabled``; ``None`` otherwise.

    ``observe`` (and ``mesh``, the mesh view for ``/api/mesh``) are coroutine functions that run on the
    node's loop."""
    if not cfg.http.enabled:
        return None
    server = HealthServer(name, cfg, observe, mesh)
    await server.start()
    return server
