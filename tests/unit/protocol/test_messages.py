"""Control message codec: round trips and hostile bytes."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbus import WireError
from zbus.codec.control import Heartbeat, PeerHello, decode_heartbeat, decode_hello


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
