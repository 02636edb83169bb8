"""Discovery data is validated before use: TXT records (decode_txt) and announced addresses."""

from __future__ import annotations

import pytest

from zbus.discovery.addresses import usable_address
from zbus.discovery.txt import NodeRecord, decode_txt, encode_txt
from zbus.errors import WireError

GOOD = {
    b"v": b"1",
    b"id": b"0123456789abcdef",
    b"name": b"shop",
    b"mesh": b"default",
    b"pub": b"7001",
    b"rtr": b"7002",
}


def test_a_good_record_round_trips() -> None:
    record = NodeRecord(
        id="0123456789abcdef", name="shop", mesh="default", pub_port=7001, router_port=7002, epoch=5
    )
    assert decode_txt(encode_txt(record)) == record
    assert decode_txt(GOOD) == NodeRecord(
        id="0123456789abcdef", name="shop", mesh="default", pub_port=7001, router_port=7002
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (b"rtr", b"-5", "rtr='-5' is not a port number"),
        (b"rtr", b"0", "ports must be 1..65535"),
        (b"pub", b"70000", "ports must be 1..65535"),
        (b"pub", b" 7001", "is not a port number"),
        # Arabic-Indic digits: int() would take them
        (b"pub", "\u0667\u0660\u0660\u0661".encode(), "is not a port number"),
        (b"rtr", b"7002\n", "is not a port number"),
        (b"epoch", b"-1", "epoch='-1' is not a decimal integer"),
        (b"epoch", str(2**63).encode(), "epoch=9223372036854775808 is not below 2**63"),
        (b"id", b"a b", "id='a b' is not 1-63 characters"),
        (b"id", b"x" * 64, "is not 1-63 characters"),
        (b"name", b"", "name='' is not 1-63 printable"),
        (b"name", b"tab\there", "is not 1-63 printable"),
        (b"mesh", b"m/x", "mesh='m/x' is not"),
        (b"role", b"Root!", "role='Root!' is not 1-16 lowercase"),
        (b"name", b"\xff\xfe", "is not UTF-8"),
        (b"v", b"2", "TXT version '2' is not '1'"),
        (b"rtr", None, "rtr='' is not a port number"),
    ],
)
def test_each_bad_value_is_refused_with_the_key_named(key: bytes, value: bytes | None, message: str) -> None:
    with pytest.raises(WireError, match=message.replace("(", r"\(").replace("*", r"\*")):
        decode_txt({**GOOD, key: value})


def test_missing_keys_and_too_many_keys_are_refused() -> None:
    for key in (b"id", b"name", b"mesh", b"pub", b"rtr"):
        with pytest.raises(WireError, match=f"has no '{key.decode()}'"):
            decode_txt({k: v for k, v in GOOD.items() if k != key})
    with pytest.raises(WireError, match="40 keys, more than 32"):
        decode_txt({**GOOD, **{f"k{i}".encode(): b"x" for i in range(34)}})
    assert decode_txt({**GOOD, b"future": b"whatever"}).name == "shop"  # unknown keys are ignored


@pytest.mark.parametrize(
    ("address", "local", "lan"),
    [
        ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
        ("127.3.0.7", "127.3.0.7", "127.3.0.7"),
        ("192.168.1.20", None, "192.168.1.20"),
        ("0.0.0.0", None, None),
        ("224.0.0.251", None, None),
        ("255.255.255.255", None, None),
        ("240.1.2.3", None, None),
        ("1.2.3", None, None),
        ("01.2.3.4", None, None),
        ("::1", None, None),
        ("", None, None),
    ],
)
def test_announced_addresses(address: str, local: str | None, lan: str | None) -> None:
    assert usable_address(address, loopback_only=True) == local
    assert usable_address(address, loopback_only=False) == lan
