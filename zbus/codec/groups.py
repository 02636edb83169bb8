"""Queue-group messages on the ROUTER/DEALER link: DELIVER (publisher → member) and ACK (member →
publisher). Pure codec; decoders raise only ``WireError``.

``DELIVER`` body, one msgpack map: ``{"v": 1, "group": str, "events": [[id, attempt, topic, header,
payload], ...]}`` where ``id`` is the publisher's delivery number (u64), ``attempt`` counts
deliveries of that event (1 = first), and ``topic``/``header``/``payload`` are the three event frames
(msgpack ``bin``). ``ACK`` body: ``{"v": 1, "ack": [id, ...], "nack": [[id, delay s], ...],
"wip": [id, ...]}`` (each list optional). See docs/PROTOCOL.md section 8a.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import msgpack

from ..errors import WireError

__all__ = [
    "KEY_HEADER",
    "MAX_ACK_IDS",
    "Acks",
    "Delivered",
    "decode_deliver",
    "encode_deliver",
    "encode_deliver_rows",
    "key_of",
    "seq_of",
]

#: the header that carries ``publish(..., key=)``: events of one key go to one member, in order
KEY_HEADER: Final = "zbus-key"
MAX_DELIVER_EVENTS: Final = 4096
#: most ids in each list of one ACK (a member sends its acks per at most 512; more is an attack)
MAX_ACK_IDS: Final = 65_536
_KEY_MARK: Final = KEY_HEADER.encode()
_U64: Final = 2**64
_I31: Final = 2**31


class Delivered(NamedTuple):
    """One event of a DELIVER: the publisher's delivery ``id``, the ``attempt`` and the frames.

    A named tuple, not a dataclass: a member builds one per event it receives (hot path)."""

    id: int
    attempt: int
    frames: list[bytes]


def encode_deliver(group: str, events: Sequence[tuple[int, int, list[bytes]]]) -> bytes:
    """The DELIVER body for ``events`` = ``(delivery id, attempt, event frames)``."""
    return encode_deliver_rows(group, [[i, a, f[0], f[1], f[2]] for i, a, f in events])


def encode_deliver_rows(group: str, rows: list[list[Any]]) -> bytes:
    """The DELIVER body for rows already laid out as ``[id, attempt, topic, header, payload]``."""
    return msgpack.packb({"v": 1, "group": group, "events": rows})  # type: ignore[no-any-return]


def decode_deliver(data: bytes, max_bytes: int) -> tuple[str, list[Delivered]]:
    """Decode a DELIVER body into its group and events. Raises ``WireError``."""
    if len(data) > max_bytes:
        raise WireError(f"DELIVER of {len(data)} bytes exceeds {max_bytes}")
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:
        raise WireError(f"undecodable DELIVER ({type(exc).__name__})") from None
    if type(body) is not dict or body.get("v") != 1:
        raise WireError("DELIVER must be a msgpack map with v = 1")
    group, events = body.get("group"), body.get("events")
    if type(group) is not str or not 0 < len(group) <= 255:
        raise WireError("DELIVER field 'group' must be a str of 1..255 characters")
    if type(events) is not list or not 0 < len(events) <= MAX_DELIVER_EVENTS:
        raise WireError(f"DELIVER field 'events' must be a list of 1..{MAX_DELIVER_EVENTS} events")
    out: list[Delivered] = []
    append, b, i, lst = out.append, bytes, int, list
    for item in events:
        if not (
            type(item) is lst
            and len(item) == 5
            and type(item[0]) is i
            and 0 <= item[0] < _U64
            and type(item[1]) is i
            and 1 <= item[1] < _I31
            and type(item[2]) is b
            and type(item[3]) is b
            and type(item[4]) is b
        ):
            raise WireError("DELIVER event must be [id, attempt, topic, header, payload]")
        append(Delivered(item[0], item[1], item[2:]))
    return group, out


def _delivery_ids(ids: list[Any]) -> bool:
    """Every item an int (not a bool) in 0..2**64-1; the type test runs in C, not per item in Python."""
    return set(map(type, ids)) == {int} and min(ids) >= 0 and max(ids) < _U64


@dataclass(slots=True)
class Acks:
    """ACK: what a member says about the events one publisher delivered to it."""

    #: done (the handler returned, or the event was dead-lettered, expired or filtered out here)
    ack: list[int] = field(default_factory=list)
    #: give it back: deliver it again (perhaps elsewhere) after ``delay`` seconds
    nack: list[tuple[int, float]] = field(default_factory=list)
    #: still working on it: restart its ``ack_wait``
    wip: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.ack or self.nack or self.wip)

    def encode(self) -> bytes:
        """msgpack map (empty lists left out)."""
        body: dict[str, Any] = {"v": 1}
        if self.ack:
            body["ack"] = self.ack
        if self.nack:
            body["nack"] = [list(n) for n in self.nack]
        if self.wip:
            body["wip"] = self.wip
        return msgpack.packb(body)  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, data: bytes) -> Acks:
        """Raises ``WireError`` on anything malformed."""
        if len(data) > 4 * 1024 * 1024:
            raise WireError("ACK too large")
        try:
            body = msgpack.unpackb(data, raw=False, strict_map_key=True)
        except Exception as exc:
            raise WireError(f"undecodable ACK ({type(exc).__name__})") from None
        if type(body) is not dict or body.get("v") != 1:
            raise WireError("ACK must be a msgpack map with v = 1")
        ack, nack, wip = body.get("ack", []), body.get("nack", []), body.get("wip", [])
        if any(type(ids) is list and len(ids) > MAX_ACK_IDS for ids in (ack, nack, wip)):
            raise WireError(f"ACK lists hold at most {MAX_ACK_IDS} ids each")
        for ids in (ack, wip):
            if type(ids) is not list or (ids and not _delivery_ids(ids)):
                raise WireError("ACK fields 'ack' and 'wip' must be lists of delivery ids")
        if type(nack) is not list or not all(
            type(n) is list
            and len(n) == 2
            and type(n[0]) is int
            and 0 <= n[0] < _U64
            and type(n[1]) in (int, float)
            and 0 <= n[1] <= 86_400
            for n in nack
        ):
            raise WireError("ACK field 'nack' must be a list of [id, delay seconds (0..86400)]")
        return cls(ack=ack, nack=[(n[0], float(n[1])) for n in nack], wip=wip)


def key_of(frames: list[bytes]) -> str | None:
    """The ``zbus-key`` header of an encoded event (``frames``: topic, header, payload), or ``None``;
    the header is unpacked only when its bytes mention the key."""
    if _KEY_MARK not in frames[1]:
        return None
    try:
        headers = msgpack.unpackb(frames[1], raw=False)[19]
    except Exception:
        return None
    key = headers.get(KEY_HEADER) if type(headers) is dict else None
    return key if type(key) is str else None


def seq_of(frames: list[bytes]) -> int:
    """The sequence number in an encoded event's header (0 if it has none)."""
    seq = msgpack.unpackb(frames[1], raw=False)[5]
    return seq if type(seq) is int else 0
