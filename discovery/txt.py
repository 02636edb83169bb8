"""TXT record of a zbus node's mDNS service (pure, versioned).

Keys (all ASCII strings, documented in docs/PROTOCOL.md):
``v`` protocol version (``1``), ``id`` node id, ``name`` node name, ``mesh`` mesh name,
``pub`` XPUB port, ``rtr`` ROUTER port, ``role`` (``node``/``monitor``/``forwarder``), ``epoch``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from zbus.errors import WireError

__all__ = ["TXT_VERSION", "NodeRecord", "decode_txt", "encode_txt"]

TXT_VERSION = "1"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeRecord:
    """What a node announces about itself in its TXT record."""

    id: str
    name: str
    mesh: str
    pub_port: int
    router_port: int
    role: str = "node"
    epoch: int = 0


def encode_txt(record: NodeRecord) -> dict[str, str]:
    """The TXT properties for ``record``."""
    return {
        "v": TXT_VERSION,
        "id": record.id,
        "name": record.name,
        "mesh": record.mesh,
        "pub": str(record.pub_port),
        "rtr": str(record.router_port),
        "role": record.role,
        "epoch": str(record.epoch),
    }


def decode_txt(props: Mapping[bytes, bytes | None] | Mapping[str, str]) -> NodeRecord:
    """Parse TXT properties as zeroconf returns them (bytes keys and values).

    Raises:
        WireError: a key is missing, a number is not a number, or the version is unknown.
    """
    txt: dict[str, str] = {}
    items: Iterable[tuple[bytes | str, bytes | str | None]] = props.items()
    for key, value in items:
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        v = value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")
        txt[k] = v
    if txt.get("v") != TXT_VERSION:
        raise WireError(f"TXT version {txt.get('v')!r} is not {TXT_VERSION!r}")
    try:
        return NodeRecord(
            id=txt["id"],
            name=txt["name"],
            mesh=txt["mesh"],
            pub_port=int(txt["pub"]),
            router_port=int(txt["rtr"]),
            role=txt.get("role", "node"),
            epoch=int(txt.get("epoch", "0")),
        )
    except (KeyError, ValueError) as exc:
        raise WireError(f"TXT record is missing or has a bad {exc}") from None
