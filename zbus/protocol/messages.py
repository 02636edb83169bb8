"""Control messages on the ROUTER/DEALER link and the heartbeat topic (pure codec).

ROUTER receives ``[sender identity, kind, *body]``; the kinds are in ``Kind``. HELLO, UPDATE and
BYE carry one msgpack map (``PeerHello``); EVENT, REQUEST and REPLY carry the three event frames
of ``zbus.wire``. Heartbeats are published on the XPUB as ``[b"$zbus.hb", msgpack map]``.
Decoders raise only ``WireError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgpack

from ..errors import WireError

__all__ = ["HEARTBEAT_TOPIC", "Heartbeat", "Kind", "PeerHello", "decode_heartbeat", "decode_hello"]

HEARTBEAT_TOPIC: Final = b"$zbus.hb"
CONTROL_VERSION: Final = 1
MAX_CONTROL_BYTES: Final = 256 * 1024


class Kind:
    """The type frame of a ROUTER/DEALER message."""

    HELLO: Final = b"HELLO"  # introduce yourself; answered with HELLO(ack=True) unless ack
    UPDATE: Final = b"UPDATE"  # my subscriptions or responders changed
    BYE: Final = b"BYE"  # I am leaving (clean shutdown)
    PING: Final = b"PING"  # I am alive (sent when a heartbeat could not go out on the XPUB)
    EVENT: Final = b"EVENT"  # a directed event
    REQUEST: Final = b"REQUEST"  # a request for one of my responders
    REPLY: Final = b"REPLY"  # the answer to your request
    ALL: Final = frozenset({HELLO, UPDATE, BYE, PING, EVENT, REQUEST, REPLY})
    EVENT_KINDS: Final = frozenset({EVENT, REQUEST, REPLY})


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
            }
        )


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
    )


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
