"""TXT record of a zbus node's mDNS service (pure, versioned).

Keys (all ASCII strings, documented in docs/PROTOCOL.md):
``v`` protocol version (``1``), ``id`` node id, ``name`` node name, ``mesh`` mesh name,
``pub`` XPUB port, ``rtr`` ROUTER port, ``role`` (``node``/``monitor``/``forwarder``), ``epoch``, and with
security on ``ck``: the node's CURVE public key (Z85, 40 characters), so a record pointing elsewhere fails
the CURVE handshake.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from zbus.errors import WireError

__all__ = ["MAX_TXT_KEYS", "TXT_VERSION", "NodeRecord", "decode_txt", "encode_txt"]

TXT_VERSION = "1"
#: most keys a TXT record may have (zbus writes 8): a bigger one is not a zbus node's
MAX_TXT_KEYS = 32
MAX_PORT = 65535


def _name_ok(value: str) -> bool:
    return 0 < len(value) <= 63 and value.isprintable()


# key -> (check, what it must be): ASCII-digit regexes, so "-5", " 5", "5\n" and non-ASCII digits fail
_RULES: dict[str, tuple[Callable[[str], object], str]] = {
    "id": (re.compile(r"[A-Za-z0-9_-]{1,63}").fullmatch, "1-63 characters of A-Za-z0-9_-"),
    "name": (_name_ok, "1-63 printable characters"),
    "mesh": (re.compile(r"[A-Za-z0-9_-]{1,63}").fullmatch, "1-63 characters of A-Za-z0-9_-"),
    "pub": (re.compile(r"[0-9]{1,5}").fullmatch, "a port number 1-65535"),
    "rtr": (re.compile(r"[0-9]{1,5}").fullmatch, "a port number 1-65535"),
    "role": (re.compile(r"[a-z]{1,16}").fullmatch, "1-16 lowercase letters"),
    "epoch": (re.compile(r"[0-9]{1,19}").fullmatch, "a decimal integer below 2**63"),
    "ck": (re.compile(r"([0-9a-zA-Z.:+=^!/*?&<>()\[\]{}@%$#-]{40})?").fullmatch, "40 Z85 characters"),
}


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
    #: the CURVE public key (Z85) when security is on, else empty
    key: str = ""


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
        **({"ck": record.key} if record.key else {}),
    }


def decode_txt(props: Mapping[bytes, bytes | None] | Mapping[str, str]) -> NodeRecord:
    """Parse and validate TXT properties as zeroconf returns them (bytes keys and values).

    Everything in a TXT record comes from whoever sent the mDNS packet, so every value is checked
    before use: at most ``MAX_TXT_KEYS`` keys; UTF-8 only; ``id`` 1-63 characters of A-Za-z0-9_- (a DNS
    label, as in the instance name); ``name`` 1-63 printable characters; ``mesh`` as ``mesh.name``;
    ``pub`` and ``rtr`` decimal ports 1-65535; ``role`` 1-16 lowercase letters; ``epoch`` a decimal
    integer below 2**63; ``ck`` empty or 40 Z85 characters. Unknown keys are ignored (a newer zbus may
    add some).

    Raises:
        WireError: the version is unknown, a key is missing, or a value breaks its rule (the message
            names the key and the rule).
    """
    if len(props) > MAX_TXT_KEYS:
        raise WireError(f"TXT record has {len(props)} keys, more than {MAX_TXT_KEYS}")
    txt: dict[str, str] = {}
    items: Iterable[tuple[bytes | str, bytes | str | None]] = props.items()
    for key, value in items:
        try:
            k = key.decode() if isinstance(key, bytes) else key
            v = value.decode() if isinstance(value, bytes) else (value or "")
        except UnicodeDecodeError:
            raise WireError(f"TXT key or value {key!r:.40} is not UTF-8") from None
        txt[k] = v
    if txt.get("v") != TXT_VERSION:
        raise WireError(f"TXT version {txt.get('v')!r:.20} is not {TXT_VERSION!r}")
    for key in ("id", "name", "mesh", "pub", "rtr"):
        if key not in txt:
            raise WireError(f"TXT record has no {key!r}")
    txt.setdefault("role", "node")
    txt.setdefault("epoch", "0")
    txt.setdefault("ck", "")
    for key, rule in _RULES.items():
        if not rule[0](txt[key]):
            raise WireError(f"TXT {key}={txt[key]!r:.70} is not {rule[1]}")
    pub_port, router_port, epoch = int(txt["pub"]), int(txt["rtr"]), int(txt["epoch"])
    if not (0 < pub_port <= MAX_PORT and 0 < router_port <= MAX_PORT):
        raise WireError(f"TXT pub={pub_port} / rtr={router_port}: ports must be 1..{MAX_PORT}")
    if epoch >= 2**63:
        raise WireError(f"TXT epoch={epoch} is not below 2**63")
    return NodeRecord(
        id=txt["id"],
        name=txt["name"],
        mesh=txt["mesh"],
        pub_port=pub_port,
        router_port=router_port,
        role=txt["role"],
        epoch=epoch,
        key=txt["ck"],
    )
