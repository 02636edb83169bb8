"""The queue-group messages (DELIVER, ACK) and HELLO's ``groups``: round trips and malformed input."""

from __future__ import annotations

import msgpack
import pytest

from zbus import Event
from zbus.codec import wire
from zbus.codec.control import GROUP_KINDS, KINDS, MAX_GROUPS, Kind, PeerHello, decode_hello
from zbus.codec.groups import MAX_ACK_IDS, Acks, decode_deliver, encode_deliver
from zbus.errors import WireError


def test_deliver_round_trip_keeps_ids_attempts_and_frames() -> None:
    frames = wire.encode(Event("task.a", {"n": 1}), node_id="p", seq=7, epoch=1)
    group, events = decode_deliver(encode_deliver("workers", [(5, 1, frames), (6, 2, frames)]), 1 << 20)
    assert group == "workers"
    assert [(e.id, e.attempt) for e in events] == [(5, 1), (6, 2)]
    assert wire.decode(events[1].frames).payload == {"n": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"\xc1",
        msgpack.packb([1, 2]),
        msgpack.packb({"v": 2, "group": "w", "events": []}),
        msgpack.packb({"v": 1, "group": "", "events": [[1, 1, b"t", b"h", b"p"]]}),
        msgpack.packb({"v": 1, "group": "w", "events": []}),
        msgpack.packb({"v": 1, "group": "w", "events": [[1, 0, b"t", b"h", b"p"]]}),
        msgpack.packb({"v": 1, "group": "w", "events": [[-1, 1, b"t", b"h", b"p"]]}),
        msgpack.packb({"v": 1, "group": "w", "events": [[1, 1, "t", b"h", b"p"]]}),
    ],
)
def test_malformed_deliver_is_a_wire_error(body: bytes) -> None:
    with pytest.raises(WireError):
        decode_deliver(body, 1 << 20)


def test_deliver_larger_than_the_limit_is_refused() -> None:
    frames = [b"t", b"h", b"p" * 2000]
    with pytest.raises(WireError, match="exceeds"):
        decode_deliver(encode_deliver("w", [(1, 1, frames)]), 1000)


def test_acks_round_trip_and_reject_bad_fields() -> None:
    acks = Acks(ack=[1, 2], nack=[(3, 0.5)], wip=[4])
    assert Acks.decode(acks.encode()) == acks
    assert Acks.decode(Acks(ack=[9]).encode()) == Acks(ack=[9])
    bad_fields = (
        {"v": 1, "ack": ["x"]},
        {"v": 1, "ack": [1, True]},  # a bool is not a delivery id
        {"v": 1, "ack": [1, -1]},
        {"v": 1, "wip": [2**64 - 1, 1.5]},
        {"v": 1, "ack": {"1": 1}},
        {"v": 1, "nack": [[1, -1]]},
        {"v": 1, "nack": [[1]]},
        {"v": 2},
    )
    assert Acks.decode(msgpack.packb({"v": 1, "ack": [0, 2**64 - 1], "wip": []})).ack == [0, 2**64 - 1]
    for bad in bad_fields:
        with pytest.raises(WireError):
            Acks.decode(msgpack.packb(bad))


def test_hello_carries_groups_only_when_there_are_some() -> None:
    hello = PeerHello(id="a", name="a", mesh="m", epoch=1, pub="tcp://x:1", router="tcp://x:2",
                      groups={"workers": (("task.*",), 64)})  # fmt: skip
    assert decode_hello(hello.encode()).groups == {"workers": (("task.*",), 64)}
    plain = PeerHello(id="a", name="a", mesh="m", epoch=1, pub="tcp://x:1", router="tcp://x:2")
    assert "groups" not in msgpack.unpackb(plain.encode())
    body = msgpack.unpackb(hello.encode())
    body["groups"] = {"workers": {"patterns": ["task.*"], "credit": 0}}
    with pytest.raises(WireError, match="credit"):
        decode_hello(msgpack.packb(body))


def test_group_kinds_parse() -> None:
    assert KINDS[b"DELIVER"] is Kind.DELIVER and KINDS[b"ACK"] is Kind.ACK
    assert {Kind.DELIVER, Kind.ACK} == GROUP_KINDS


def test_a_hello_with_more_groups_than_a_node_may_join_is_refused() -> None:
    # each group a member announces multiplies its publishers' work per event: 1,000 groups of
    # credit 1,000,000 in a 40 KB HELLO cost a publisher 1.5 ms per event
    groups = {f"g{i}": (("task.*",), 64) for i in range(MAX_GROUPS)}
    hello = PeerHello(id="a", name="a", mesh="m", epoch=1, pub="tcp://x:1", router="tcp://x:2", groups=groups)
    assert len(decode_hello(hello.encode()).groups) == MAX_GROUPS
    body = msgpack.unpackb(hello.encode())
    body["groups"]["one-more"] = {"patterns": ["task.*"], "credit": 64}
    with pytest.raises(WireError, match=f"at most {MAX_GROUPS}"):
        decode_hello(msgpack.packb(body))


def test_an_ack_with_more_ids_than_any_member_sends_is_refused() -> None:
    # a 1 MiB ACK of a million stale ids held a publisher's loop for 0.2 s
    assert len(Acks.decode(msgpack.packb({"v": 1, "ack": list(range(MAX_ACK_IDS))})).ack) == MAX_ACK_IDS
    for field in ("ack", "wip"):
        with pytest.raises(WireError, match="at most"):
            Acks.decode(msgpack.packb({"v": 1, field: [7] * (MAX_ACK_IDS + 1)}))
