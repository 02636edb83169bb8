"""Curve: CURVE on every socket of a node, its ZAP handler, and the per-message checks of ``security.Trust``.

With ``security.mode`` ``allow`` or ``mesh`` (``guard.make_curve`` gives ``guard.Open`` when off):

- every bound socket (XPUB, ROUTER) is a CURVE server with the node's key pair, in a ZAP domain of
  its own (``zbus.pub``, ``zbus.router``); every connecting socket (DEALER, SUB) is a CURVE client that
  expects the server key the peer announced (mDNS ``ck``, a static entry's ``#key=``, or its
  authenticated HELLO), so a spoofed record or a wrong key fails the handshake;
- a ZAP handler (``zap.ZapHandler``, a thread on the node's context) asks ``Trust.may_connect`` for
  each handshake, and can wait for a HELLO still on its way; refusals are audited on the event loop;
- ROUTER and XPUB messages are received with their first frame's ``User-Id`` (the authenticated key
  ZAP returned), which replaces the claimed node id as the binding: a HELLO is admitted only with a
  valid credential for that key, every other ROUTER message only from the key admitted for the node id
  it claims and within its permissions;
- the XPUB runs in ``XPUB_MANUAL`` mode: a subscription is applied only if the subscriber's key may
  subscribe to that prefix (``protocol.permissions``);
- events on a peer's SUB link (authenticated by the server key it connected to) pass only within that
  peer's publish permissions;
- every event's ``source`` (broadcast, directed, request, reply, repaired) must be the name its node's
  key was admitted under (``source_ok``, which the inbound side calls: ``Inbound.authenticate``);
- a peer cut off (revoked, expired) loses its XPUB connections at once: ``evict.Accepted`` follows the
  XPUB's monitor, the ZAP handler records the address each key connected from, and the connections
  from the cut-off key's address are shut down (both monitors report failed handshakes).

Every decision is counted by decision and reason in ``decisions`` (``zbus_security_decisions_total``
in /metrics) and written to the ``zbus.audit`` logger as a structured record (``audit``, ``reason``,
``peer_key`` attributes; one line per decision and key, then DEBUG); refusals are also counted in the
mesh's drops (``security_<reason>``: ``zbus_events_dropped{reason}`` in /metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import msgpack
import zmq

from ...codec.control import KINDS, Kind, decode_hello
from ...config import Config
from ...errors import ConfigError, PeerError, WireError, ZbusError
from ...model.topics import parse_announced
from ...observe.drops import Drops
from ...protocol.permissions import Permissions
from ...security.keys import NodeKeys, public_key, z85_decode, z85_encode
from ...security.settings import load_identity
from ...security.trust import PUB_DOMAIN, Admitted, Trust
from ..base import Inbound
from .evict import Accepted
from .links import Link
from .zap import ZapHandler

__all__ = ["Curve", "secure_curve"]

audit_log = logging.getLogger("zbus.audit")
log = logging.getLogger("zbus")
_RCVMORE, _NOBLOCK = int(zmq.RCVMORE), int(zmq.NOBLOCK)
_recv, _get = zmq.backend.Socket.recv, zmq.backend.Socket.get
_HANDSHAKE = {Kind.HELLO.value, Kind.UPDATE.value}
_REPLY_SUFFIX = ".reply"
#: keys whose XPUB addresses are remembered for eviction (beyond: an eviction shuts down every connection)
MAX_ADDRESSES = 65_536

Handler = Callable[[list[bytes]], Awaitable[None] | None]
LinkHandler = Callable[[list[bytes], Link], Awaitable[None] | None]


class Curve:
    """One node's CURVE keys, ZAP handler, key book and message guards (see the module doc)."""

    secure = True
    trust: Trust
    revocations_path: Path

    def __init__(self, keys: NodeKeys, dropped: Drops) -> None:
        self.keys = keys
        self.dropped = dropped
        #: endpoint -> the server key expected there (from mDNS records and authenticated HELLOs)
        self.book: dict[str, bytes] = {}
        self._zap: ZapHandler | None = None
        self._key: bytes | None = None  # the User-Id of the message being handled
        self._z85: dict[str, bytes] = {}
        self._said: set[tuple[str, str, bytes]] = set()
        #: every security decision by (decision, reason), refusals and admissions alike (``/metrics``)
        self.decisions: Counter[tuple[str, str]] = Counter()
        self._applied: Counter[bytes] = Counter()  # XPUB subscriptions applied, by prefix
        self._refused: Counter[bytes] = Counter()  # and refused (their pipes' unsubscribes are ignored)
        self._revocations_mtime: float = 0.0
        #: a newer revocation list was applied: peers should hear of it (the mesh sends UPDATE)
        self.changed = False
        self.cut_off: list[str] = []  # node ids to disconnect at the next tick
        #: keys whose XPUB connections are shut down at the next tick: (key, who, reason)
        self._evict: list[tuple[bytes, str, str]] = []
        #: the connections accepted on our XPUB and ROUTER, by ZAP domain (``evict.Accepted``)
        self.accepted: dict[str, Accepted] = {}
        #: the peer IP addresses each key passed ZAP from on our XPUB (ZAP thread writes, loop reads)
        self._addresses: dict[bytes, set[str]] = {}

    @property
    def public_text(self) -> str:
        """This node's public key, Z85 (announced in mDNS as ``ck``)."""
        return self.keys.public_text

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self, ctx: zmq.Context[zmq.Socket[bytes]], inbound: Inbound, patience: float = 2.5) -> None:
        """Start the ZAP handler on ``ctx`` (before any socket binds) and have ``inbound`` check every
        event's source (:meth:`source_ok`); a subscriber whose HELLO has not arrived yet is waited for
        up to ``patience`` seconds."""
        loop = asyncio.get_running_loop()
        inbound.authenticate(self.source_ok)

        def refused(domain: str, key: bytes) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.audit, "refused_connection", domain.rsplit(".")[-1], key, "")

        self._zap = ZapHandler(ctx, self.trust.may_connect, refused, patience=patience, admitted=self._passed)
        self.check_revocations()

    def _passed(self, domain: str, key: bytes, address: str) -> None:
        """(ZAP thread) ``key`` passed ZAP on our XPUB from ``address``: where to evict it from later."""
        if domain == PUB_DOMAIN and (key in self._addresses or len(self._addresses) < MAX_ADDRESSES):
            self._addresses.setdefault(key, set()).add(address)

    def stop(self) -> None:
        """Stop the ZAP handler and the socket monitors (before the context is destroyed)."""
        for accepted in self.accepted.values():
            accepted.close()
        if self._zap is not None:
            self._zap.close()
            self._zap = None

    def audit(self, decision: str, reason: str, key: bytes, detail: str) -> None:
        """Record a security decision: counted (refusals) and logged once per decision, reason and key."""
        refusal = decision.startswith(("refused", "denied", "cut_off"))
        self.decisions[decision, reason] += 1
        if refusal:
            self.dropped[f"security_{reason}"] += 1
        first = (decision, reason, key) not in self._said
        if first and len(self._said) < 10_000:
            self._said.add((decision, reason, key))
        level = logging.WARNING if refusal and first else logging.INFO if first else logging.DEBUG
        if audit_log.isEnabledFor(level):
            shown = z85_encode(key) if len(key) == 32 else ""
            audit_log.log(level, "security %s (%s) %s %s", decision, reason, shown, detail,
                          extra={"audit": decision, "reason": reason, "peer_key": shown})  # fmt: skip

    # -- socket options (called by SocketFactory) -----------------------------------------------------
    def server(self, sock: zmq.Socket[bytes], domain: str) -> None:
        """Make ``sock`` a CURVE server in ZAP ``domain``."""
        sock.setsockopt(zmq.ZAP_DOMAIN, domain.encode())
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.keys.secret)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.keys.public)
        kind = domain.rsplit(".")[-1]

        def failed(endpoint: str, code: int) -> None:
            self.audit(
                "refused_connection", "bad_handshake", b"", f"{kind} {endpoint} (ZMTP error {code:#x})"
            )

        self.accepted[domain] = Accepted(sock, failed)

    def client(self, sock: zmq.Socket[bytes], endpoint: str) -> None:
        """Make ``sock`` a CURVE client of the server known at ``endpoint``.

        Raises:
            PeerError: no server key is known for ``endpoint`` (it is never dialled in the clear).
        """
        server = self.book.get(endpoint)
        if server is None:
            raise PeerError(f"no CURVE key known for {endpoint!r} (its mDNS record or HELLO announces it)")
        sock.setsockopt(zmq.CURVE_SERVERKEY, server)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.keys.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.keys.secret)

    def learn(self, endpoint: str, key: str | bytes) -> None:
        """Remember the server key announced for ``endpoint`` (Z85 text from mDNS, or raw bytes)."""
        if isinstance(key, str):
            try:
                key = public_key(key)
            except ConfigError:
                self.audit("refused_record", "bad_record_key", b"", f"endpoint {endpoint[:80]}")
                return
        if endpoint and len(key) == 32:
            self.book[endpoint] = key

    # -- receiving with the authenticated key --------------------------------------------------------
    def recv(self, sock: zmq.Socket[bytes]) -> list[bytes]:
        """``recv_frames`` that also records the first frame's ``User-Id`` (None when it has none)."""
        first = _recv(sock, _NOBLOCK, False)  # backend calls, as sockets.recv_frames (hot path)
        try:
            user: object = first.get("User-Id")
        except zmq.ZMQError:  # no metadata: a message libzmq made itself (a closed pipe's unsubscribe)
            user = None
        frames = [first.bytes]
        while _get(sock, _RCVMORE):
            frames.append(_recv(sock, _NOBLOCK))
        self._key = self._decode_user(user)
        return frames

    def _decode_user(self, user: object) -> bytes | None:
        if not isinstance(user, str) or len(user) != 40:
            return None
        key = self._z85.get(user)
        if key is None:
            if len(self._z85) > 4096:
                self._z85.clear()
            key = self._z85[user] = z85_decode(user)
        return key

    # -- guards ----------------------------------------------------------------------------------------
    def router(self, handle: Handler) -> Handler:
        """Guard the ROUTER's handler: HELLO admits a key, everything else needs the admitted key."""

        def guarded(frames: list[bytes]) -> Awaitable[None] | None:
            key = self._key
            if len(frames) < 3 or key is None:
                return handle(frames) if key is not None else self._refuse("no_user_id")
            if frames[1] in _HANDSHAKE:
                admitted = self._hello(key, frames)
                return None if admitted is None else handle(admitted)
            peer = self.trust.peer(key)
            if peer is None:
                return self._refuse("unauthenticated", key)
            if peer.node_id.encode() != frames[0]:
                return self._refuse("impersonation", key, frames[0][:40].decode("utf-8", "replace"))
            kind = KINDS.get(frames[1])
            if kind in (Kind.EVENT, Kind.REQUEST) and not peer.permissions.may_publish(_topic(frames[2])):
                return self._refuse("publish_denied", key, _topic(frames[2]))
            if kind is Kind.DELIVER and (denied := _unpublishable(peer.permissions, frames[2])) is not None:
                return self._refuse("publish_denied", key, denied)  # a queue group's events: the same rights
            if kind is Kind.REPLY:
                topic = _topic(frames[2])
                asked = topic[: -len(_REPLY_SUFFIX)] if topic.endswith(_REPLY_SUFFIX) else topic
                if not peer.permissions.may_respond(asked):
                    return self._refuse("respond_denied", key, asked)
            return handle(frames)

        return guarded

    def _hello(self, key: bytes, frames: list[bytes]) -> list[bytes] | None:
        try:
            hello = decode_hello(frames[2])
        except WireError:
            return frames  # the mesh counts it as malformed
        if hello.revoked:
            self.apply_revocations(hello.revoked)
        admitted = self.trust.admit(
            key,
            node_id=frames[0].decode("utf-8", "replace"),
            epoch=hello.epoch,
            name=hello.name,
            hello_key=hello.key,
            cred=hello.cred,
            now=time.time(),
        )
        if admitted is None:
            return None
        self.learn(hello.router, key)
        self.learn(hello.pub, key)
        may = admitted.permissions
        offered = tuple(r for r in hello.responders if may.may_respond(r))
        if offered != hello.responders:
            self.audit(
                "denied_respond", "respond_denied", key, ", ".join(set(hello.responders) - set(offered))
            )
        # a pattern it may not subscribe to is never applied on our XPUB: announced, it would count as a
        # subscriber still missing and hold up every wait_for_subscribers on that prefix; a queue group's
        # would get DELIVERs, which bypass the XPUB. Both are trimmed (a group keeps its other patterns)
        wanted = tuple(p for p in hello.patterns if _may_follow(may, p))
        groups = {g: (kept, credit) for g, (ps, credit) in hello.groups.items()
                  if (kept := tuple(p for p in ps if _may_follow(may, p)))}  # fmt: skip
        refused = set(hello.patterns) - set(wanted)
        refused |= {
            p for g, (ps, _) in hello.groups.items() for p in ps if p not in groups.get(g, ((), 0))[0]
        }
        if refused:
            self.audit("denied_subscribe", "subscribe_denied", key, ", ".join(sorted(refused)))
        if offered != hello.responders or refused:
            trimmed = replace(hello, responders=offered, patterns=wanted, groups=groups)
            frames = [frames[0], frames[1], trimmed.encode()]
        return frames

    def _refuse(self, reason: str, key: bytes = b"", detail: str = "") -> Awaitable[None] | None:
        self.audit("refused_message", reason, key, detail)
        return None

    def xpub(self, sock: zmq.Socket[bytes], handle: Handler) -> Handler:
        """Guard the XPUB's subscription messages (``XPUB_MANUAL``): apply only permitted ones."""

        def guarded(frames: list[bytes]) -> Awaitable[None] | None:
            msg = frames[0] if frames else b""
            if not msg or msg[0] not in (0, 1):
                return handle(frames)  # the mesh counts it as malformed
            prefix, key = msg[1:], self._key
            if msg[0] == 1:
                peer = self.trust.peer(key) if key is not None else None
                if peer is None or not peer.permissions.may_subscribe(prefix):
                    self._refused[prefix] += 1
                    self.audit("denied_subscribe", "subscribe_denied", key or b"", repr(prefix[:60]))
                    return None
                sock.setsockopt(zmq.SUBSCRIBE, prefix)
                self._applied[prefix] += 1
                return handle(frames)
            # an unsubscribe: from a live pipe (with its key), or libzmq's for a closed pipe (no key),
            # which cannot be told apart from a refused one's: refused ones are taken first
            if self._refused[prefix] > 0 and (key is None or self.trust.peer(key) is None):
                self._refused[prefix] -= 1
                return None
            if self._applied[prefix] <= 0:
                return None
            self._applied[prefix] -= 1
            if key is not None:
                sock.setsockopt(zmq.UNSUBSCRIBE, prefix)
            return handle(frames)

        return guarded

    def sub(self, handle: LinkHandler) -> LinkHandler:
        """Guard a SUB link's handler: a peer's events pass only within its publish permissions."""

        def guarded(frames: list[bytes], link: Link) -> Awaitable[None] | None:
            if not frames or frames[0][:6] == b"$zbus.":
                return handle(frames, link)  # system topics (heartbeats are checked by the mesh)
            peer = self.trust.by_node(link.peer_id)
            topic = _topic(frames[0])
            if peer is None or not peer.permissions.may_publish(topic):
                self.audit("refused_event", "publish_denied", peer.key if peer else b"", topic)
                return None
            return handle(frames, link)

        return guarded

    def source_ok(self, node_id: str, source: str) -> bool:
        """Whether an event of ``node_id`` may name ``source`` as its sender: the name its admitted key
        was authenticated with (the credential's in ``mesh`` mode, the HELLO's in ``allow`` mode). An
        event of a node that is not our peer (relayed by a forwarder) is judged by the relay's rights.
        A mismatch is refused and counted (``source_mismatch``)."""
        peer = self.trust.by_node(node_id)
        if peer is None or peer.name == source:
            return True
        self.audit("refused_event", "source_mismatch", peer.key, f"source {source[:40]!r} from {peer.name!r}")
        return False

    # -- rotation and revocation ----------------------------------------------------------------------
    def hello_fields(self) -> dict[str, bytes]:
        """What this node's HELLO carries: its key, credential and newest revocation list."""
        self.changed = False  # the list goes out with this HELLO/UPDATE
        t = self.trust
        return {"key": self.keys.public, "cred": t.credential, "revoked": t.revocations_bytes}

    def apply_revocations(self, data: bytes) -> list[Admitted]:
        """Apply a signed list (from a file or a peer's HELLO); return the peers to cut off."""
        gone = self.trust.revoke(data)
        if gone is None:
            return []
        self.changed = True
        for peer in gone:
            self.cut_off.append(peer.node_id)
        # every revoked key that passed ZAP on our XPUB, admitted now or not: its connections end
        names = {p.key: f"node {p.node_id!r} ({p.name})" for p in gone}
        assert self.trust.revocations is not None  # (just applied)
        for key in {*names, *(k for k in list(self._addresses) if k in self.trust.revocations.keys)}:
            self._queue(key, names.get(key, "a former peer"), "revoked")
        return gone

    def check_revocations(self) -> None:
        """Re-read the revocation list file when it changed (called every tick)."""
        try:
            mtime = self.revocations_path.stat().st_mtime
        except OSError:
            return
        if mtime != self._revocations_mtime:
            self._revocations_mtime = mtime
            from ...security.credentials import decode_text

            path = self.revocations_path
            try:
                self.apply_revocations(decode_text(path.read_text(), str(path)))
            except (ConfigError, OSError) as exc:
                self.audit("refused_revocations", "unreadable", b"", str(exc))

    def tick(self, now: float) -> list[str]:
        """Expired credentials and revocations: the node ids to disconnect now."""
        self.check_revocations()
        for peer in self.trust.expire(now):
            self.cut_off.append(peer.node_id)
            self._queue(peer.key, f"node {peer.node_id!r} ({peer.name})", "expired")
        for accepted in self.accepted.values():
            accepted.drain()
        if self._evict:
            self._disconnect()
        out, self.cut_off = self.cut_off, []
        return out

    def _queue(self, key: bytes, who: str, reason: str) -> None:
        """Evict ``key``'s XPUB connections at this tick: if it has any (it passed ZAP there), or if the
        record of who did is full (then every connection is shut down: the safe side)."""
        if key in self._addresses or len(self._addresses) >= MAX_ADDRESSES:
            self._evict.append((key, who, reason))

    def _disconnect(self) -> None:
        """Shut down the XPUB connections of the peers cut off, so their subscriptions end now: those
        from the IP addresses their keys passed ZAP from (every connection when none is known; other
        peers behind those addresses reconnect at once and gap repair covers the blip)."""
        evict, self._evict = self._evict, []
        accepted = self.accepted.get(PUB_DOMAIN)
        if accepted is None:
            return
        addresses: set[str] | None = set()
        for key, _, _ in evict:
            known = self._addresses.pop(key, None)
            if not known or addresses is None:
                addresses = None
            else:
                addresses |= known
        count = accepted.evict(addresses)
        shown = "every address" if addresses is None else ", ".join(sorted(addresses))
        for key, who, reason in evict:
            self.audit(
                "disconnected", reason, key, f"{who}: {count} XPUB connection(s) from {shown} shut down"
            )


def _topic(frame: bytes) -> str:
    return frame.decode("utf-8", "replace")


def _unpublishable(may: Permissions, body: bytes) -> str | None:
    """The first topic among a DELIVER's events that its sender may not publish (``None``: none, or
    the body does not decode, which the queue groups then count as ``malformed_group``)."""
    try:
        topics = {row[2] for row in msgpack.unpackb(body, raw=False)["events"]}
    except Exception:
        return None
    return next((_topic(t) for t in topics if type(t) is bytes and not may.may_publish(_topic(t))), None)


def _may_follow(may: Permissions, pattern: str) -> bool:
    """Whether an announced ``pattern`` is one the peer may subscribe to (its literal prefix is granted)."""
    try:
        return may.may_subscribe(parse_announced(pattern).prefix.encode())
    except ZbusError:  # not a pattern at all: the mesh judges it as it does without security
        return True


def secure_curve(config: Config, name: str, dropped: Drops) -> Curve:
    """The node's CURVE set-up from ``[security]`` (security on: see ``guard.make_curve``).

    Raises:
        ConfigError: a key, credential or allow-list entry is missing or invalid.
    """
    identity = load_identity(config, name)
    curve = Curve(identity.keys, dropped)
    curve.trust = identity.trust(config.mesh.name, curve.audit)
    curve.revocations_path = identity.revocations
    return curve
