"""Control messages on the ROUTER/DEALER link and the heartbeat topic (pure codec).

ROUTER receives ``[sender identity, kind, *body]``; the kinds are in ``Kind``. HELLO, UPDATE and
BYE carry one msgpack map (``PeerHello``); EVENT, REQUEST and REPLY carry the three event frames
of ``zbus.codec.wire``. Heartbeats are published on the XPUB as ``[b"$zbus.hb", msgpack map]``.
Decoders raise only ``WireError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

import msgpack

from ..errors import WireError

__all__ = [
    "DIRECT_KINDS",
    "GROUP_KINDS",
    "HANDSHAKE_KINDS",
    "HEARTBEAT_TOPIC",
    "KINDS",
    "MAX_GROUPS",
    "MAX_GROUP_CREDIT",
    "ROUTED_KINDS",
    "Bye",
    "Heartbeat",
    "Kind",
    "PeerHello",
    "RepairAsk",
    "RepairDone",
    "ReplayAsk",
    "ReplayPlan",
    "decode_heartbeat",
    "decode_hello",
]

HEARTBEAT_TOPIC: Final = b"$zbus.hb"
CONTROL_VERSION: Final = 1
MAX_CONTROL_BYTES: Final = 256 * 1024
#: the largest credit a HELLO announces for one group (a node sums its subscriptions' up to this)
MAX_GROUP_CREDIT: Final = 1_000_000
#: the most queue groups one node is a member of (each multiplies what its publishers do per event)
MAX_GROUPS: Final = 64


class Kind(bytes, Enum):
    """The type frame of a ROUTER/DEALER message: one vocabulary for the mesh, the router and repair.

    Members are ``bytes``, so a member goes on the wire as it is. Parse an inbound type frame with
    :data:`KINDS` (``KINDS.get(frame)``: ``None`` for an unknown kind), never by comparing strings.
    """

    #: introduce yourself; answered with HELLO(ack=True) unless ack
    HELLO = b"HELLO"
    #: my subscriptions or responders changed
    UPDATE = b"UPDATE"
    #: I am leaving (clean shutdown); the body (``Bye``) lists my final stream heads
    BYE = b"BYE"
    #: I have the tail your BYE announced (or reported what I could not get): you may go
    DRAINED = b"DRAINED"
    #: I am alive (sent when a heartbeat could not go out on the XPUB)
    PING = b"PING"
    #: a directed event
    EVENT = b"EVENT"
    #: a request for one of my responders
    REQUEST = b"REQUEST"
    #: the answer to your request
    REPLY = b"REPLY"
    #: send me events first..last of your stream <topic> (RepairAsk)
    REPAIR = b"REPAIR"
    #: some of them: request id (u64) + the three event frames, or a batch
    REPAIR_DATA = b"REPAIR_DATA"
    #: that was all I have of first..last (RepairDone)
    REPAIR_DONE = b"REPAIR_DONE"
    #: which of your streams match <pattern>, from where (ReplayAsk)
    REPLAY = b"REPLAY"
    #: these streams, these ranges (ReplayPlan)
    REPLAY_PLAN = b"REPLAY_PLAN"
    #: events of a queue group for you to handle and acknowledge (``codec.groups.Deliver``)
    DELIVER = b"DELIVER"
    #: acks, nacks and "still working" for events I was delivered (``codec.groups.Acks``)
    ACK = b"ACK"


#: type frame -> kind, for parsing (a dict lookup: the inbound hot path pays no Enum call)
KINDS: Final[dict[bytes, Kind]] = {kind.value: kind for kind in Kind}
#: the peer handshake, handled by the transport itself
HANDSHAKE_KINDS: Final = frozenset({Kind.HELLO, Kind.UPDATE, Kind.BYE, Kind.DRAINED, Kind.PING})
#: kinds handed to the node's inbound router as they are (everything but the handshake)
ROUTED_KINDS: Final = frozenset(set(Kind) - HANDSHAKE_KINDS)
#: point-to-point event traffic (the router's own); the rest of ROUTED_KINDS is repair and replay
DIRECT_KINDS: Final = frozenset({Kind.EVENT, Kind.REQUEST, Kind.REPLY})
#: queue-group traffic (``zbus.inbound.groups``)
GROUP_KINDS: Final = frozenset({Kind.DELIVER, Kind.ACK})


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerHello:
    """A node's self-description, sent in HELLO and UPDATE."""

    id: str
    name: str
    mesh: str
    epoch: int
    role: str = "node"
    pub: str = ""
    router: str = ""
    patterns: tuple[str, ...] = ()
    responders: tuple[str, ...] = ()
    ack: bool = False
    #: the endpoint the greeter dialled (HELLO), echoed in the ack, so the greeter can tie it to us
    via: str = ""
    #: I keep a journal: my id and sequences survive my restarts, so what I owe is still owed
    journal: bool = False
    #: seconds since this incarnation started (``None`` from senders that predate it): the receiver
    #: places my start on its own clock, free of clock skew, for the join rule
    age: float | None = None
    #: a journaled node's last sequence per topic when this incarnation started (its new streams'
    #: events start right after); ``None`` when not sent (too many topics): then the join rule does not
    #: apply to my streams. A node without a journal starts every stream at 1 and sends ``{}``.
    base: dict[str, int] | None = None
    #: security on: my CURVE public key (32 bytes; the receiver checks it is the key that authenticated the
    #: connection), my credential signed by the mesh authority, and the newest signed revocation list I
    #: hold (so lists spread through the mesh); all empty with security off (docs/PROTOCOL.md)
    key: bytes = b""
    cred: bytes = b""
    revoked: bytes = b""
    #: queue groups I am a member of: group -> (patterns, credit); sent only when not empty
    groups: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)

    def encode(self) -> bytes:
        """msgpack map of the fields plus ``v``, the control protocol version."""
        return msgpack.packb(  # type: ignore[no-any-return]
            {
                "v": CONTROL_VERSION,
                "id": self.id,
                "name": self.name,
                "mesh": self.mesh,
                "epoch": self.epoch,
                "role": self.role,
                "pub": self.pub,
                "router": self.router,
                "patterns": list(self.patterns),
                "responders": list(self.responders),
                "ack": self.ack,
                "via": self.via,
                "journal": self.journal,
                **({} if self.age is None else {"age": self.age}),
                **({} if self.base is None else {"base": self.base}),
                **{k: v for k, v in (("key", self.key), ("cred", self.cred), ("revoked", self.revoked)) if v},
                **(
                    {"groups": {g: {"patterns": list(p), "credit": c} for g, (p, c) in self.groups.items()}}
                    if self.groups
                    else {}
                ),
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Bye:
    """BYE: I am leaving; ``heads`` are my final stream heads (topic -> last sequence sent), so a
    subscriber knows the tail it must have (or report lost) before it lets me go (DRAINED)."""

    heads: dict[str, int] = field(default_factory=dict)

    def encode(self) -> bytes:
        """msgpack map."""
        return _pack({"heads": self.heads})

    @classmethod
    def decode(cls, data: bytes) -> Bye:
        """An empty body (senders that predate heads) is a BYE without heads. Raises ``WireError``."""
        if not data:
            return cls()
        body = _load_map(data, "BYE")
        return cls(heads=_heads(body.get("heads", {}), "BYE"))


def _load_map(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_CONTROL_BYTES:
        raise WireError(f"{what} of {len(data)} bytes exceeds {MAX_CONTROL_BYTES}")
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:
        raise WireError(f"undecodable {what} ({type(exc).__name__})") from None
    if type(body) is not dict:
        raise WireError(f"{what} must be a msgpack map")
    if body.get("v") != CONTROL_VERSION:
        raise WireError(f"{what} has unsupported version {body.get('v')!r:.20}")
    return body


def _str(body: dict[str, Any], key: str, what: str, *, required: bool = True) -> str:
    value = body.get(key, None if required else "")
    if type(value) is not str or (required and not value) or len(value) > 1024:
        raise WireError(f"{what} field {key!r} must be a non-empty str")
    return value


def _strs(body: dict[str, Any], key: str, what: str) -> tuple[str, ...]:
    value = body.get(key, [])
    if type(value) is not list or len(value) > 10_000 or any(type(v) is not str for v in value):
        raise WireError(f"{what} field {key!r} must be a list of str")
    return tuple(value)


def decode_hello(data: bytes) -> PeerHello:
    """Decode a HELLO/UPDATE body. Raises ``WireError`` on anything malformed."""
    body = _load_map(data, "HELLO")
    epoch = body.get("epoch")
    if type(epoch) is not int or epoch < 0:
        raise WireError("HELLO field 'epoch' must be an int ≥ 0")
    return PeerHello(
        id=_str(body, "id", "HELLO"),
        name=_str(body, "name", "HELLO"),
        mesh=_str(body, "mesh", "HELLO"),
        epoch=epoch,
        role=_str(body, "role", "HELLO"),
        pub=_str(body, "pub", "HELLO"),
        router=_str(body, "router", "HELLO"),
        patterns=_strs(body, "patterns", "HELLO"),
        responders=_strs(body, "responders", "HELLO"),
        ack=body.get("ack") is True,
        via=_str(body, "via", "HELLO", required=False),
        journal=body.get("journal") is True,
        age=_age(body.get("age")),
        base=None if body.get("base") is None else _heads(body["base"], "HELLO"),
        key=_bin(body, "key"),
        cred=_bin(body, "cred"),
        revoked=_bin(body, "revoked"),
        groups=_groups(body.get("groups", {})),
    )


def _bin(body: dict[str, Any], key: str) -> bytes:
    value = body.get(key, b"")
    if type(value) is not bytes:
        raise WireError(f"HELLO field {key!r} must be bytes")
    return value


def _groups(value: Any) -> dict[str, tuple[tuple[str, ...], int]]:
    """HELLO ``groups``: group name -> ``{"patterns": [str], "credit": int}``, checked."""
    if type(value) is not dict or len(value) > MAX_GROUPS:
        raise WireError(
            f"HELLO field 'groups' must map at most {MAX_GROUPS} group names to {{patterns, credit}}"
        )
    out = {}
    for name, ad in value.items():
        if type(name) is not str or not 0 < len(name) <= 255 or type(ad) is not dict:
            raise WireError("HELLO field 'groups' must map a group name to {patterns, credit}")
        credit = ad.get("credit")
        if type(credit) is not int or not 1 <= credit <= MAX_GROUP_CREDIT:
            raise WireError(f"HELLO group {name!r:.40}: 'credit' must be an int in 1..{MAX_GROUP_CREDIT}")
        out[name] = (_strs(ad, "patterns", "HELLO group"), credit)
    return out


def _age(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not 0 <= value < 10**10:
        raise WireError("HELLO field 'age' must be a number of seconds >= 0")
    return float(value)


def _heads(value: Any, what: str) -> dict[str, int]:
    """A map topic -> sequence number, checked."""
    if type(value) is not dict or any(
        type(k) is not str or type(v) is not int or not 0 <= v < 2**64 for k, v in value.items()
    ):
        raise WireError(f"{what} heads must map str to an int in 0..2**64-1")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """Published every ``discovery.heartbeat_interval``: I am alive, and my recent stream heads."""

    id: str
    epoch: int
    heads: dict[str, int] = field(default_factory=dict)

    def encode(self) -> list[bytes]:
        """The two frames published on the XPUB."""
        body = msgpack.packb({"v": CONTROL_VERSION, "id": self.id, "epoch": self.epoch, "heads": self.heads})
        return [HEARTBEAT_TOPIC, body]


def decode_heartbeat(frames: list[bytes]) -> Heartbeat:
    """Decode heartbeat frames. Raises ``WireError`` on anything malformed."""
    if len(frames) != 2:
        raise WireError(f"a heartbeat has 2 frames, got {len(frames)}")
    body = _load_map(frames[1], "heartbeat")
    epoch, heads = body.get("epoch"), body.get("heads", {})
    if type(epoch) is not int or type(heads) is not dict:
        raise WireError("heartbeat needs int 'epoch' and map 'heads'")
    if any(type(k) is not str or type(v) is not int for k, v in heads.items()):
        raise WireError("heartbeat 'heads' must map str to int")
    return Heartbeat(id=_str(body, "id", "heartbeat"), epoch=epoch, heads=heads)


def _int(body: dict[str, Any], key: str, what: str) -> int:
    value = body.get(key)
    if type(value) is not int or not 0 <= value < 2**64:
        raise WireError(f"{what} field {key!r} must be an int in 0..2**64-1")
    return value


def _pack(body: dict[str, Any]) -> bytes:
    return msgpack.packb({"v": CONTROL_VERSION, **body})  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairAsk:
    """REPAIR: send events ``first``..``last`` of your stream ``topic``; answers carry ``id``.

    ``origin`` (optional): not your own stream but the one of publisher ``origin`` that you recorded
    (``Node.record``); empty means your own.
    """

    id: int
    topic: str
    first: int
    last: int
    origin: str = ""

    def encode(self) -> bytes:
        """msgpack map (``origin`` only when set)."""
        body: dict[str, Any] = {"id": self.id, "topic": self.topic, "first": self.first, "last": self.last}
        if self.origin:
            body["origin"] = self.origin
        return _pack(body)

    @classmethod
    def decode(cls, data: bytes) -> RepairAsk:
        """Raises ``WireError`` on anything malformed."""
        body = _load_map(data, "REPAIR")
        ask = cls(
            id=_int(body, "id", "REPAIR"),
            topic=_str(body, "topic", "REPAIR"),
            first=_int(body, "first", "REPAIR"),
            last=_int(body, "last", "REPAIR"),
            origin=_str(body, "origin", "REPAIR", required=False),
        )
        if ask.last < ask.first:
            raise WireError("REPAIR needs first <= last")
        return ask


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairDone:
    """REPAIR_DONE: the events of ``first``..``last`` I had were sent before this; ``missing`` I lack."""

    id: int
    topic: str
    first: int
    last: int
    missing: tuple[tuple[int, int], ...] = ()

    def encode(self) -> bytes:
        """msgpack map."""
        return _pack(
            {
                "id": self.id,
                "topic": self.topic,
                "first": self.first,
                "last": self.last,
                "missing": [list(r) for r in self.missing],
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> RepairDone:
        """Raises ``WireError`` on anything malformed."""
        body = _load_map(data, "REPAIR_DONE")
        missing = body.get("missing", [])
        if (
            type(missing) is not list
            or len(missing) > 10_000
            or not all(
                type(r) is list and len(r) == 2 and all(type(x) is int and 0 <= x < 2**64 for x in r)
                for r in missing
            )
        ):
            raise WireError("REPAIR_DONE field 'missing' must be a list of [first, last] pairs")
        return cls(
            id=_int(body, "id", "REPAIR_DONE"),
            topic=_str(body, "topic", "REPAIR_DONE"),
            first=_int(body, "first", "REPAIR_DONE"),
            last=_int(body, "last", "REPAIR_DONE"),
            missing=tuple((r[0], r[1]) for r in missing),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayAsk:
    """REPLAY: which of your streams match ``pattern``, and from which sequence should I read each?

    ``start`` names the first wanted sequence per topic (a durable checkpoint + 1); other streams
    start at the first event at or after ``since`` (UNIX seconds; 0 = everything kept), or at the
    newest ``last`` events when ``last`` > 0. ``origin`` (optional) asks instead about the streams of
    publisher ``origin`` that you recorded (``Node.record``); empty means your own.
    """

    id: int
    pattern: str
    since: float = 0.0
    last: int = 0
    start: dict[str, int] = field(default_factory=dict)
    origin: str = ""

    def encode(self) -> bytes:
        """msgpack map (``origin`` only when set)."""
        body: dict[str, Any] = {
            "id": self.id,
            "pattern": self.pattern,
            "since": self.since,
            "last": self.last,
            "start": self.start,
        }
        if self.origin:
            body["origin"] = self.origin
        return _pack(body)

    @classmethod
    def decode(cls, data: bytes) -> ReplayAsk:
        """Raises ``WireError`` on anything malformed."""
        body = _load_map(data, "REPLAY")
        since, start = body.get("since", 0.0), body.get("start", {})
        if type(since) not in (int, float) or since < 0:
            raise WireError("REPLAY field 'since' must be a number >= 0")
        if (
            type(start) is not dict
            or len(start) > 100_000
            or any(type(k) is not str or type(v) is not int or v < 0 for k, v in start.items())
        ):
            raise WireError("REPLAY field 'start' must map str to int")
        return cls(
            id=_int(body, "id", "REPLAY"),
            pattern=_str(body, "pattern", "REPLAY"),
            since=float(since),
            last=_int(body, "last", "REPLAY") if "last" in body else 0,
            start=start,
            origin=_str(body, "origin", "REPLAY", required=False),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayPlan:
    """REPLAY_PLAN: the answer to REPLAY ``id``: per topic, the ``[first, head]`` to pull with REPAIR.

    ``origins`` (optional, answering a REPLAY without ``origin``): other publishers whose streams
    matching the pattern I recorded; ask me for their plans with ``ReplayAsk(origin=...)``.
    """

    id: int
    streams: dict[str, tuple[int, int]] = field(default_factory=dict)
    origins: tuple[str, ...] = ()

    def encode(self) -> bytes:
        """msgpack map (``origins`` only when there are some)."""
        body: dict[str, Any] = {"id": self.id, "streams": {t: list(r) for t, r in self.streams.items()}}
        if self.origins:
            body["origins"] = list(self.origins)
        return _pack(body)

    @classmethod
    def decode(cls, data: bytes) -> ReplayPlan:
        """Raises ``WireError`` on anything malformed."""
        body = _load_map(data, "REPLAY_PLAN")
        streams = body.get("streams", {})
        if (
            type(streams) is not dict
            or len(streams) > 100_000
            or not all(
                type(k) is str
                and type(r) is list
                and len(r) == 2
                and all(type(x) is int and 0 <= x < 2**64 for x in r)
                for k, r in streams.items()
            )
        ):
            raise WireError("REPLAY_PLAN field 'streams' must map topic to [first, head]")
        return cls(
            id=_int(body, "id", "REPLAY_PLAN"),
            streams={k: (r[0], r[1]) for k, r in streams.items()},
            origins=_strs(body, "origins", "REPLAY_PLAN"),
        )
