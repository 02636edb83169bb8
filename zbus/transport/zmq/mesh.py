"""MeshTransport: the ZeroMQ I/O loop of one node. Moves bytes; the protocol lives elsewhere.

Sockets (all made by ``sockets.SocketFactory``; with security on, all CURVE, guarded by ``curve.py``):

- XPUB, bound: events and heartbeats go out; subscriptions come back (counted for ``wait_for_subscribers``).
- ROUTER, bound: the inbox (HELLO, UPDATE, BYE, DRAINED, directed EVENT, REQUEST, REPLY, repairs).
- per peer, a ``Link`` (links.py): a DEALER (identity = our node id) to the peer's ROUTER, and a SUB on
  the peer's XPUB with a socket monitor that reports a dropped connection, so a killed peer is
  noticed within ``disconnect_grace`` seconds. One SUB per peer (dropping a peer closes its socket):
  ``zmq_disconnect`` on a shared SUB aborts libzmq on a half-queued multipart message (issue 2163).

Join sequence: discovery suggests a ROUTER endpoint → we connect a DEALER and send HELLO →
the peer adds us, connects back (DEALER + SUB) and answers HELLO(ack) → we add it and connect
our SUB to its XPUB. Either side may start it; both end with the same links.

Each receiving socket has a ``pump.Pump``. Links: ``links.py``; forwarder mode: ``forwarding.py``;
batching: ``outbox.py``; leaving with a drain: ``leaving.py``.

Decisions are made by the pure ``protocol`` modules (greetings, peers, heads, interest, forwarder); this
module feeds them input and ``now`` and carries out their answers. Background work runs in one
``TaskGroup``, each ticker duty guarded by ``tasks.Duties`` (counted, never fatal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Iterable

import zmq

from ...codec import wire
from ...codec.control import (
    HEARTBEAT_TOPIC,
    KINDS,
    ROUTED_KINDS,
    Heartbeat,
    Kind,
    PeerHello,
    decode_heartbeat,
)
from ...config import Config
from ...discovery import Discovery, Found, make_discovery
from ...errors import LocalProtocolError, PeerError, PeerLostError, WireError
from ...model.peer import PeerInfo
from ...model.topics import parse_announced
from ...observe.drops import Drops
from ...observe.statistics import TransportStatistics
from ...protocol.heads import Heads
from ...protocol.interest import Audience, confirmed_subscribers
from ...protocol.peers import LEFT, PeerChange, PeerTable
from ...protocol.ratelimit import PeerRateLimits
from ...tasks import DONE, Duties, TaskGroup
from ..base import GroupAds, Inbound
from .admission import Admission
from .forwarding import Forwarding
from .greeter import Greeter
from .guard import Open, make_curve
from .leaving import LEAVING_POLL, Departures
from .links import Link, LinkServices
from .outbox import Outbox, send_blocking
from .pump import Pump
from .sockets import SocketFactory, send_frames, sized_context

__all__ = ["MeshTransport"]

log = logging.getLogger("zbus")
SYSTEM_PREFIX = b"$zbus."
#: system topics that are events (mesh stats, monitoring/sharing.py); other ``$zbus.`` ones but hb are dropped
ROUTED_SYSTEM_TOPICS = frozenset({b"$zbus.stats"})
# Not settings: a dropped SUB connection is trusted this long (s) before its peer expires (reconnects)
MIN_DISCONNECT_GRACE = 0.5
# a closing node waits at most this long (s) for unsent messages, whatever transport.linger says
CLOSE_LINGER_CAP = 1.0
# a HELLO carries the start sequences (the join rule's base) of at most this many topics (documented)
MAX_BASE_TOPICS = 1024


class MeshTransport:
    """A node's links to its peers over ZeroMQ, fed by discovery."""

    def __init__(
        self,
        *,
        node_id: str,
        name: str,
        epoch: int,
        config: Config,
        role: str = "node",
        base: dict[str, int] | None = None,
    ) -> None:
        self.node_id = node_id
        self.name = name
        self.epoch = epoch
        self.config = config
        self.role = role
        d = config.discovery
        self.table = PeerTable(
            self_id=node_id,
            mesh=config.mesh.name,
            peer_timeout=d.peer_timeout,
            disconnect_grace=max(2 * d.heartbeat_interval, MIN_DISCONNECT_GRACE),
            max_peers=config.limits.max_peers,
            handshake_timeout=d.handshake_timeout,
        )
        t = config.transport
        self.dropped = Drops("mesh", known=self.table.__contains__)  # (by_peer: pruned as peers go)
        self.curve = make_curve(config, name, self.dropped)  # security: CURVE, ZAP and guards (curve.py)
        self.admission = Admission(
            node_id=node_id,
            name=name,
            mesh=config.mesh.name,
            table=self.table,
            max_patterns=config.limits.max_patterns_per_peer,
            dropped=self.dropped,
        )
        #: when a publish started waiting for a full XPUB (slow_subscriber="block"), else None
        self.blocked_since: float | None = None
        self.pub_endpoint = self.router_endpoint = ""
        self._inbound: Inbound | None = None
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._links: dict[str, Link] = {}
        self.forwarding = Forwarding(
            node_id=node_id,
            role=role,
            forwarder=t.forwarder,
            capture=t.forwarder_capture,
            links=lambda: self._links,
            interest=lambda: self._sub_prefixes,
            send=lambda frames: self._factory.send(self.xpub, frames),
            dropped=self.dropped,
        )
        lim = config.limits
        self._limits = PeerRateLimits(events=lim.peer_events_per_second, bytes=lim.peer_bytes_per_second)
        self._tasks = TaskGroup("mesh")  # the ticker and the closing of links
        self._duties = Duties("mesh")  # the ticker's duties and discovery's callbacks, each guarded
        self.greeter = Greeter(
            node_id=node_id,
            config=d,
            is_peer=self._is_peer,
            send_hello=lambda dealer, via: self._send_hello(dealer, ack=False, via=via),
            dropped=self.dropped,
            duties=self._duties,
        )
        self._sub_prefixes: set[bytes] = {HEARTBEAT_TOPIC}
        self._audience = Audience()  # the XPUB's subscriptions
        self._patterns: tuple[str, ...] = ()
        self._responders: tuple[str, ...] = ()
        self._groups: GroupAds = {}
        # heads go in only once on the wire: a heartbeat never announces an event still unsent
        self._heads = Heads(memory=t.heads_memory, max_topics=t.heads_max_topics)
        self._pumps: list[Pump] = []
        self._outbox: Outbox | None = None
        self._ipc_pub = ""  # with transport.ipc on local scope: the XPUB's ipc:// endpoint, announced
        self._ticker: asyncio.Task[None] | None = None
        self._discovery: Discovery | None = None
        self._closed = False
        base = {} if base is None else base  # the join rule's input (HELLO ``base``); too many: unknown
        self._base: dict[str, int] | None = base if len(base) <= MAX_BASE_TOPICS else None
        self.departures = Departures(
            table=self.table, links=lambda: self._links, apply=self._apply, dropped=self.dropped
        )

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self, inbound: Inbound) -> None:
        """Bind, start pumps and discovery."""
        self._inbound = inbound
        t = self.config.transport
        d = self.config.discovery
        self._ctx = sized_context(self.config.limits.max_peers, d.max_pending_greetings)
        self.curve.start(self._ctx, inbound)  # (with security on it checks every event's source)
        self._factory = SocketFactory(self._ctx, t, None if isinstance(self.curve, Open) else self.curve)
        self._factory.heartbeats(d.heartbeat_interval, d.peer_timeout)
        self.greeter.start(self._factory)
        self._link_services = LinkServices(
            factory=self._factory,
            on_frames=self.curve.sub(self._on_sub),
            on_alive=lambda peer_id: self.table.confirm(peer_id, time.monotonic()),
            on_dropped=self._on_link_dropped,
            tasks=self._tasks,
            safety_poll=t.safety_poll,
        )
        scope = self.config.discovery.scope
        host = "127.0.0.1" if scope == "local" else t.host
        if scope == "lan" and host.startswith("127."):
            host = "0.0.0.0"  # lan scope means reachable from the LAN; we announce the interface address
        self.xpub = self._factory.xpub()
        self.pub_endpoint = self._factory.bind(self.xpub, host, t.pub_port)
        self._outbox = Outbox(
            lambda frames: self._factory.send(self.xpub, frames),
            zmq.Again,
            self._send_blocking,
            self._heads.sent,
            max_events=t.batch_max_events,
            max_bytes=t.batch_max_bytes,
        )
        if t.ipc and scope == "local":  # same host by definition: peers' SUBs read our events over ipc
            self._ipc_pub = self._factory.bind_ipc(self.xpub, f"{self.node_id}.pub")
        self.router = self._factory.router()
        self.router_endpoint = self._factory.bind(self.router, host, t.router_port)
        self.forwarding.start(self._factory)
        c = self.curve  # with security on, both pumps receive each message's key and guard it
        self._pumps = [
            Pump(self.xpub, c.xpub(self.xpub, self._on_xpub), "xpub", safety_poll=t.safety_poll, recv=c.recv),
            Pump(self.router, c.router(self._on_router), "router", safety_poll=t.safety_poll, recv=c.recv),
        ]
        self._ticker = self._tasks.spawn(self._tick(), "ticker")
        self._discovery = disc = make_discovery(
            self.config,
            node_id=self.node_id,
            name=self.name,
            epoch=self.epoch,
            role=self.role,
            pub_port=_port(self.pub_endpoint),
            router_port=_port(self.router_endpoint),
            report=self.dropped.drop,
            duties=self._duties,
            key=self.curve.public_text,
        )
        if disc is not None:
            await disc.start(self._on_found, self._on_lost)
            addresses = disc.addresses
            if addresses and host in ("0.0.0.0", "*", ""):
                self.pub_endpoint = self.pub_endpoint.replace(host, addresses[0])
                self.router_endpoint = self.router_endpoint.replace(host, addresses[0])

    async def leave(self, heads: dict[str, int], timeout: float) -> None:
        """Say BYE with our final stream heads and wait, still answering repairs, until every peer
        that follows one of those topics has the tail (see ``leaving.py``), at most ``timeout`` s."""
        if self._closed:
            return
        if self._outbox is not None:
            await self._outbox.close()  # events queued by a burst go out before the goodbye
        await self.departures.leave(heads, timeout, self.settled)

    def settled(self) -> bool:
        return self.greeter.settled()

    def running_for(self) -> float:
        """Seconds since :meth:`start`."""
        return self.greeter.running_for()

    async def close(self) -> None:
        """Say BYE to every peer (if :meth:`leave` did not), stop discovery (mDNS goodbye) and close
        all sockets."""
        if self._closed:
            return
        if not self.departures.said_bye:
            await self.leave({}, 0.0)
        self._closed = True
        self._inbound = None  # from here on nothing is handed in (the node's side is closing)
        if self._discovery is not None:
            await self._discovery.close()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for pump in self._pumps:
            await pump.stop()
        for link in self._links.values():
            await link.stop_reading()
        await self._tasks.wait()  # links being closed finish closing
        await self._tasks.close()
        ctx = self._ctx
        if ctx is not None:
            linger = int(min(self.config.transport.linger, CLOSE_LINGER_CAP) * 1000)
            self.curve.stop()
            await asyncio.get_running_loop().run_in_executor(None, ctx.destroy, linger)
            SocketFactory.remove_ipc(self._ipc_pub)
        self._inbound = None

    # -- discovery input ---------------------------------------------------------------------------
    def _on_found(self, found: Found) -> None:
        closed_or_us = self._closed or found.id == self.node_id
        if closed_or_us or not found.router or found.router == self.router_endpoint:
            return
        self.curve.learn(found.router, found.key)
        self.greeter.found(found)

    def _is_peer(self, endpoint: str, node_id: str) -> bool:
        if node_id == self.node_id:
            return True  # that endpoint is us: never greet it again
        known = bool(node_id) and node_id in self.table
        return known or any(link.router == endpoint for link in self._links.values())

    def _on_lost(self, peer_id: str) -> None:
        # mDNS says goodbye: trust it only as a hint; heartbeats decide (Rule 3 of PeerTable)
        self.table.disconnected(peer_id, time.monotonic())
        self.greeter.greetings.lost(peer_id)

    # -- inbound messages ----------------------------------------------------------------------------
    def _on_xpub(self, frames: list[bytes]) -> None:
        msg = frames[0] if frames else b""
        if not msg or msg[0] not in (0, 1):
            self.dropped.drop("malformed_subscription")
            return
        prefix = msg[1:]
        self._audience.subscribed(msg[0] == 1, prefix)
        if self.forwarding.relay:
            self.forwarding.downstream_subscription(msg[0] == 1, prefix)
        if self._inbound is not None:
            self._inbound.on_peers_changed()

    def _on_sub(self, frames: list[bytes], link: Link) -> Awaitable[None] | None:
        source = None if link.role == "forwarder" else link.peer_id  # (whose events this link may carry)
        if frames and frames[0].startswith(SYSTEM_PREFIX) and frames[0] not in ROUTED_SYSTEM_TOPICS:
            if frames[0] != HEARTBEAT_TOPIC:
                self.dropped.drop("unknown_system_topic")
                return None
            self._on_heartbeat(frames, link, source)
            if not self.forwarding.relay:
                return None
        if self.forwarding.relay:
            self.forwarding.forward(frames)
            return None
        if self._inbound is None:
            return None
        if len(frames) == 2:
            return self._on_batch(frames, source, link.peer_id)
        if self._limits.enabled and not self._within_rate(link.peer_id, 1, len(frames[2])):
            return None
        return self._inbound.on_event_eager(frames, source)

    def _within_rate(self, peer_id: str, count: int, size: int) -> bool:
        if not (taken := self._limits.take(peer_id, count, size, time.monotonic())):
            self.dropped.drop("rate_limited", f"{peer_id[:16]}: limits.peer_*_per_second", count, peer_id)
        return taken

    def _on_batch(self, frames: list[bytes], source: str | None, peer_id: str) -> Awaitable[None] | None:
        """Several events of one topic in one message (see ``outbox``): route each in order."""
        try:
            parts = wire.batch_parts(frames)
        except WireError:
            self.dropped.drop("malformed_batch", peer=peer_id)
            return None
        if self._limits.enabled and not self._within_rate(peer_id, len(parts) // 2, len(frames[1])):
            return None
        assert self._inbound is not None
        return self._inbound.on_batch_eager(frames[0], parts, source)

    def _on_heartbeat(self, frames: list[bytes], link: Link, source: str | None) -> None:
        try:
            hb = decode_heartbeat(frames)
        except WireError:
            self.dropped.drop("malformed_heartbeat")
            return
        if source is not None and hb.id != source:
            self.dropped.drop("spoofed_heartbeat", f"{hb.id[:16]} on {source[:16]}'s link", peer=source)
            return
        if link.sub is not None:  # (not a retired SUB being drained)
            self.forwarding.heartbeat(link, hb.id)
        # heard on its own XPUB (or relayed by a forwarder): the handshake is complete, it is alive
        if self.table.confirm(hb.id, time.monotonic(), hb.epoch) and self._inbound is not None and hb.heads:
            self._inbound.on_heartbeat(hb.id, hb.epoch, hb.heads)

    def _on_router(self, frames: list[bytes]) -> Awaitable[None] | None:
        kind = KINDS.get(frames[1]) if len(frames) >= 2 else None
        if kind is None:
            self.dropped.drop("malformed_direct" if len(frames) < 2 else "unknown_kind")
            return None
        sender = frames[0].decode("utf-8", "replace")
        if kind in ROUTED_KINDS:
            if sender not in self.table:
                self.dropped.drop("unknown_sender")
                return None
            self.table.seen(sender, time.monotonic())
            if self._inbound is None:
                return None
            return self._inbound.on_direct_eager(kind, sender, frames[2:])
        if kind is Kind.BYE:
            self.departures.on_bye(sender, frames[2] if len(frames) > 2 else b"", self._inbound)
            return None
        if kind is Kind.DRAINED:
            self.departures.on_drained(sender)
            return None
        if kind is Kind.PING:
            if not self.table.seen(sender, time.monotonic()):
                self.dropped.drop("unknown_sender")
            return None
        hello = self.admission.decode(sender, frames)
        if hello is None:
            return None
        if hello.id == self.node_id:  # our own endpoint under another name: greet it no more
            if hello.via:
                self.greeter.greetings.answered(hello.via, self.node_id)
            return None
        self._on_hello(hello, reply=kind is Kind.HELLO and not hello.ack)
        return None

    def _on_hello(self, hello: PeerHello, *, reply: bool) -> None:
        info = self.admission.info(hello)
        if hello.ack and hello.via:
            self.greeter.greetings.answered(hello.via, hello.id)
        link = self._links.get(hello.id)
        known = self.table.get(hello.id)
        if link is not None and known is not None and hello.epoch > known.epoch:
            self._drop_links(known)  # restarted with its journal's id: its endpoints are new
            self.forwarding.left(known.id)
            link = None
        if new := link is None:
            dealer = self.greeter.take(hello.via if hello.ack else "", hello.router)
            if dealer is None:
                try:  # (a HELLO's endpoints are the peer's words: a bad one refuses the peer, no leak)
                    dealer = self._factory.dealer_to(self.node_id.encode(), hello.router)
                except (PeerError, zmq.ZMQError) as exc:  # (ZMQError: EMFILE, see limits.max_peers)
                    self.dropped.drop(
                        "bad_endpoint" if isinstance(exc, PeerError) else "no_sockets", str(exc)
                    )
                    return
            link = Link(hello.id, dealer, hello.router, self._link_services, pub=hello.pub, role=hello.role)
            self._links[hello.id] = link
            try:
                self.forwarding.added(link)  # (opens its SUB)
            except (PeerError, zmq.ZMQError) as exc:
                self.dropped.drop("bad_endpoint" if isinstance(exc, PeerError) else "no_sockets", str(exc))
                del self._links[hello.id]
                self._tasks.spawn(link.close(), f"unlink-{hello.name}")
                return
        if reply or (new and hello.ack):  # (the ack of our HELLO: an UPDATE gives what changed since)
            self._send_hello(link.dealer, ack=True, via=hello.via, kind=Kind.HELLO if reply else Kind.UPDATE)
        self._apply(self.table.hello(info, time.monotonic()))
        self.admission.warn_twins(info)

    def _on_link_dropped(self, peer_id: str) -> None:
        self.table.disconnected(peer_id, time.monotonic())
        self.departures.link_dropped(peer_id)  # (a peer that said BYE and has our DRAINED goes now)
        self.forwarding.link_dropped(peer_id)

    def _apply(self, changes: list[PeerChange]) -> None:
        if not changes:
            return
        for change in changes:
            if change.kind == LEFT:
                with self._duties.guard("peer_left"):  # one peer's clean-up failing never skips another's
                    peer = change.peer
                    left = self.departures.left(peer.id) or change.reason != "timeout"
                    self.forwarding.left(peer.id)
                    self._limits.forget(peer.id)
                    log.info("peer %s left (%s)", peer.name, change.reason)
                    # a peer that went silent (partition, crash) keeps its streams: the gap when it comes
                    # back is repaired or reported (keep_away); one that left ends them, unless it keeps
                    # a journal and so still owes what we miss
                    self._drop_links(peer, ended=left and not peer.journaled)
        if self._inbound is not None:
            self._inbound.on_peers_changed()  # (inside the caller's guard: the ticker's, or the pump's)

    def _drop_links(self, peer: PeerInfo, *, ended: bool = False) -> None:
        link = self._links.pop(peer.id, None)
        if link is not None or ended:
            self._tasks.spawn(self._unlink(peer, link, ended), f"unlink-{peer.name}")

    async def _unlink(self, peer: PeerInfo, link: Link | None, ended: bool) -> None:
        """Close a departed peer's link after handing on what its SUB still queued (never dropped
        unread), then, if its streams ended, let the inbound side report what is still missing."""
        if link is not None:
            await link.close()
        if ended and self._inbound is not None:
            self._inbound.on_peer_gone(peer.id)

    # -- timers ----------------------------------------------------------------------------------------
    async def _tick(self) -> None:
        d = self.config.discovery
        interval, greet_every = d.heartbeat_interval, d.greet_interval
        sleep = min(interval, self.config.transport.safety_poll)
        next_beat = 0.0
        next_greet = time.monotonic() + greet_every
        while True:
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + interval
                with self._duties.guard("heartbeat"):
                    self._heartbeat()
            if now >= next_greet:
                next_greet = now + greet_every
                with self._duties.guard("greet"):
                    self.greeter.greet_due()
            with self._duties.guard("expire"):
                self._apply(self.table.expire(now))
                for peer_id in self.curve.tick(time.time()):  # revoked or expired credentials
                    self._apply(self.table.bye(peer_id))
                if self.curve.changed:  # a newer revocation list: peers hear it in an UPDATE
                    self.announce(patterns=self._patterns, responders=self._responders)
            self.greeter.expire(now)
            with self._duties.guard("leaving"):
                self.departures.check(self._inbound)
            await asyncio.sleep(LEAVING_POLL if self.departures.leaving else sleep)

    def _heartbeat(self) -> None:
        heads = self._heads.heads(time.monotonic())  # sticky: see protocol/heads.py
        try:
            send_frames(self.xpub, Heartbeat(id=self.node_id, epoch=self.epoch, heads=heads).encode())
        except zmq.ZMQError:
            # the XPUB refused it (slow_subscriber="block" and a subscriber is stuck): tell every
            # peer directly that we are alive, so healthy peers do not expire us while we wait
            for link in self._links.values():
                with contextlib.suppress(zmq.ZMQError):
                    send_frames(link.dealer, [Kind.PING.value, b""])

    # -- outbound --------------------------------------------------------------------------------------
    def _hello(self, *, ack: bool, via: str = "") -> PeerHello:
        return PeerHello(
            id=self.node_id,
            name=self.name,
            mesh=self.config.mesh.name,
            epoch=self.epoch,
            role=self.role,
            pub=self._ipc_pub or self.pub_endpoint,
            router=self.router_endpoint,
            patterns=() if self.role == "monitor" else self._patterns,  # monitors are not counted
            responders=self._responders,
            ack=ack,
            via=via,
            journal=self.config.persistence.enabled,
            age=self.greeter.running_for(),
            base=self._base,
            **self.curve.hello_fields(),
            groups=dict(self._groups),
        )

    def _send_hello(
        self, dealer: zmq.Socket[bytes], *, ack: bool, via: str = "", kind: Kind = Kind.HELLO
    ) -> None:
        with contextlib.suppress(zmq.ZMQError):
            send_frames(dealer, [kind.value, self._hello(ack=ack, via=via).encode()])

    def publish(self, topic: str, seq: int, frames: list[bytes]) -> Awaitable[None]:
        """Send an event on the XPUB (ZeroMQ filters by subscriber prefix), batched while the
        publisher is backlogged (``outbox.Outbox``). A topic no subscription reaches (only queue
        groups want it, or nobody) is not handed to ZeroMQ, which would drop it: it counts as sent."""
        assert self._outbox is not None, "publish before start"
        if self._audience.hears(topic):
            return self._outbox.publish(topic, seq, frames)
        self._heads.sent(topic, seq)  # as if sent (Rule 4 of protocol.interest)
        return DONE

    async def _send_blocking(self, frames: list[bytes], events: int = 1) -> bool:
        self.blocked_since = self.blocked_since or time.monotonic()
        try:
            timeout = self.config.transport.block_timeout
            return await send_blocking(lambda: send_frames(self.xpub, frames), timeout, self.dropped, events)
        finally:
            self.blocked_since = None

    async def send(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        """Send EVENT/REQUEST/REPLY to one peer's ROUTER through our DEALER to it."""
        self.send_now(peer_id, kind, frames)

    def send_now(self, peer_id: str, kind: Kind, frames: list[bytes]) -> None:
        """``send`` without a coroutine (it never waits: a full peer queue raises PeerLostError)."""
        if kind not in ROUTED_KINDS:
            raise LocalProtocolError(f"{kind.name} is part of the handshake; the mesh sends it itself")
        link = self._links.get(peer_id)
        if link is None:
            raise PeerLostError(f"peer {peer_id!r} is not connected (it left or has not joined yet)")
        try:
            self._factory.send(link.dealer, [kind.value, *frames])
        except zmq.Again as exc:
            raise PeerLostError(
                f"peer {peer_id!r} is not reading (its queue of {self.config.transport.send_hwm} is full)"
            ) from exc

    eager_send = True

    def statistics(self) -> TransportStatistics:
        """Drops by reason, whether closed, and the endpoints (``pub``, ``router``, forwarder ``capture``)."""
        endpoints = {"pub": self.pub_endpoint, "router": self.router_endpoint} if self.pub_endpoint else {}
        if self.forwarding.capture_endpoint:
            endpoints["capture"] = self.forwarding.capture_endpoint
        failures, security, by_peer = dict(self._duties.failures), dict(self.curve.decisions), self.dropped
        return TransportStatistics(dropped=dict(self.dropped), closed=self._closed, endpoints=endpoints,
                                   failures=failures, security=security, by_peer=by_peer.peers())  # fmt: skip

    def peers(self) -> list[PeerInfo]:
        """Live peers (monitors and forwarders included; check ``role``)."""
        return self.table.peers()

    def announce(
        self, *, patterns: Iterable[str], responders: Iterable[str], groups: GroupAds | None = None
    ) -> None:
        """Subscribe the SUB socket to what the node needs and tell peers (UPDATE)."""
        self._patterns, self._responders = tuple(sorted(patterns)), tuple(sorted(responders))
        self._groups = {} if groups is None or self.role == "monitor" else dict(groups)
        self._sub_prefixes = {parse_announced(p).prefix.encode() for p in self._patterns} | {HEARTBEAT_TOPIC}
        self.forwarding.refresh()
        body = self._hello(ack=True).encode()
        for link in self._links.values():
            with contextlib.suppress(zmq.ZMQError):
                send_frames(link.dealer, [Kind.UPDATE.value, body])

    def subscriber_count(self, topic: str) -> int:
        """Peers sure to receive ``topic`` (a topic or a pattern): see ``protocol.interest``."""
        return confirmed_subscribers(self.table.peers(), self._audience.counts, topic)


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])
