"""Control message codec: round trips and hostile bytes."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbus import WireError
from zbus.codec.control import (
    Heartbeat,
    PeerHello,
    RepairAsk,
    ReplayAsk,
    ReplayPlan,
    decode_heartbeat,
    decode_hello,
)


def test_hello_round_trip() -> None:
    hello = PeerHello(
        id="a",
        name="n",
        mesh="m",
        epoch=3,
        pub="tcp://127.0.0.1:1",
        router="tcp://127.0.0.1:2",
        patterns=("x.*",),
        responders=("calc",),
        ack=True,
    )
    assert decode_hello(hello.encode()) == hello


def test_heartbeat_round_trip() -> None:
    hb = Heartbeat(id="a", epoch=1, heads={"t": 5})
    assert decode_heartbeat(hb.encode()) == hb


@given(st.binary(max_size=200))
def test_garbage_hello(data: bytes) -> None:
    try:
        decode_hello(data)
    except WireError:
        pass


@pytest.mark.parametrize(
    "body",
    [
        {"v": 2, "id": "a"},
        {"v": 1, "id": "", "name": "n", "mesh": "m", "epoch": 1, "role": "node"},
        {"v": 1, "id": "a", "name": "n", "mesh": "m", "epoch": -1, "role": "node"},
        {"v": 1, "id": "a", "name": "n", "mesh": "m", "epoch": 1, "role": "node", "patterns": "x"},
        [1, 2],
    ],
)
def test_invalid_hello(body: object) -> None:
    with pytest.raises(WireError):
        decode_hello(msgpack.packb(body))


def test_invalid_heartbeat() -> None:
    with pytest.raises(WireError):
        decode_heartbeat([b"$zbus.hb"])
    with pytest.raises(WireError):
        decode_heartbeat([b"$zbus.hb", msgpack.packb({"v": 1, "id": "a", "epoch": 1, "heads": {"t": "x"}})])


def test_recording_fields_round_trip_and_stay_optional() -> None:
    ask = RepairAsk(id=3, topic="a.b", first=1, last=9, origin="0123abcd")
    assert RepairAsk.decode(ask.encode()) == ask
    replay = ReplayAsk(id=4, pattern="a.*", since=1.5, last=2, start={"a.b": 3}, origin="0123abcd")
    assert ReplayAsk.decode(replay.encode()) == replay
    plan = ReplayPlan(id=4, streams={"a.b": (1, 9)}, origins=("p1", "p2"))
    assert ReplayPlan.decode(plan.encode()) == plan
    # without them the messages are byte for byte what they were before recordings existed
    assert b"origin" not in RepairAsk(id=3, topic="a.b", first=1, last=9).encode()
    assert b"origin" not in ReplayPlan(id=4, streams={"a.b": (1, 9)}).encode()
    assert RepairAsk.decode(RepairAsk(id=3, topic="a.b", first=1, last=9).encode()).origin == ""


def test_malformed_recording_fields() -> None:
    bad = msgpack.packb({"v": 1, "id": 1, "streams": {}, "origins": "p1"})
    with pytest.raises(WireError):
        ReplayPlan.decode(bad)
    bad = msgpack.packb({"v": 1, "id": 1, "topic": "a", "first": 1, "last": 2, "origin": 5})
    with pytest.raises(WireError):
        RepairAsk.decode(bad)
