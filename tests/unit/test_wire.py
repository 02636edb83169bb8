"""Wire codec: round trips, and untrusted bytes raise only WireError."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zbus import Event, EventValidationError, WireError, ZbusError
from zbus.codec import wire

tokens = st.text(alphabet="abcxyz_-0123456789", min_size=1, max_size=8)
topics = st.lists(tokens, min_size=1, max_size=4).map(".".join)
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text()
)
payloads = st.recursive(
    scalars | st.binary(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4),
    max_leaves=12,
)
opt_str = st.none() | st.text(max_size=20)


@st.composite
def events(draw: st.DrawFn) -> Event:
    return Event(
        draw(topics),
        draw(payloads),
        source=draw(st.text(max_size=10)),
        target=draw(opt_str),
        topic=draw(st.none() | topics),
        timestamp=draw(st.floats(0, 4e9)),
        correlation_id=draw(opt_str),
        causation_id=draw(opt_str),
        priority=draw(st.integers(1, 10)),
        ttl=draw(st.none() | st.floats(0.001, 1e6)),
        attempts=draw(st.integers(0, 100)),
        max_attempts=draw(st.integers(1, 100)),
        last_error=draw(opt_str),
        created_by=draw(opt_str),
        tags=draw(st.lists(st.text(max_size=5), max_size=3)),
        headers=draw(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)),
    )


@settings(max_examples=300)
@given(events(), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_round_trip(event: Event, seq: int, epoch: int) -> None:
    frames = wire.encode(event, node_id="n1", seq=seq, epoch=epoch)
    back = wire.decode(frames, max_message_size=2**30)
    assert back.seq == seq and back.epoch == epoch and back.node_id == "n1"
    expected = event.to_dict() | {"node_id": "n1", "seq": seq, "epoch": epoch}
    assert back.to_dict() == expected


def test_payload_is_decoded_lazily_and_copied() -> None:
    e = Event("a", {"list": [1]})
    frames = wire.encode(e)
    one, two = wire.decode(frames), wire.decode(frames)
    assert one._payload_raw is not None
    one.payload["list"].append(2)
    assert two.payload == {"list": [1]}
    assert e.payload == {"list": [1]}


def test_republish_reuses_raw_payload_bytes() -> None:
    frames = wire.encode(Event("a", {"x": 1}))
    again = wire.encode(wire.decode(frames))
    assert again[2] is frames[2]


def test_unencodable_payload() -> None:
    with pytest.raises(EventValidationError, match="msgpack"):
        wire.encode(Event("a", {"when": object()}))


@settings(max_examples=500)
@given(st.lists(st.binary(max_size=64), max_size=5))
def test_garbage_frames_raise_only_wire_error(frames: list[bytes]) -> None:
    try:
        wire.decode(frames)
    except WireError:
        pass


@settings(max_examples=300)
@given(
    st.lists(
        scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=3), scalars, max_size=3),
        max_size=25,
    )
)
def test_garbage_headers_raise_only_wire_error(header: list[object]) -> None:
    frames = [b"a.b", msgpack.packb(header), msgpack.packb({})]
    try:
        event = wire.decode(frames)
    except WireError:
        return
    event.to_dict()  # a header that decodes must give a fully usable event


def test_mutated_valid_header_fields() -> None:
    good = wire.encode(Event("a"))
    header = msgpack.unpackb(good[1])
    for i in range(len(header)):
        for bad in (None, "x", -1, 2**64 - 1, [1], {"a": 1}, 1.5, float("nan")):
            h = list(header)
            h[i] = bad
            try:
                wire.decode([good[0], msgpack.packb(h), good[2]])
            except ZbusError as exc:
                assert isinstance(exc, WireError)


def test_limits_and_version() -> None:
    good = wire.encode(Event("a", "x" * 1000))
    with pytest.raises(WireError, match="max_message_size"):
        wire.decode(good, max_message_size=500)
    with pytest.raises(WireError, match="3 frames"):
        wire.decode(good[:2])
    with pytest.raises(WireError, match="topic"):
        wire.decode([b"a" * 300, good[1], good[2]])
    header = msgpack.unpackb(good[1])
    header[0] = 99
    with pytest.raises(WireError, match="version"):
        wire.decode([good[0], msgpack.packb(header), good[2]])


def test_extra_header_fields_are_ignored() -> None:
    good = wire.encode(Event("a"))
    header = [*msgpack.unpackb(good[1]), "future", 1]
    assert wire.decode([good[0], msgpack.packb(header), good[2]]).type == "a"


def test_bad_payload_surfaces_as_wire_error() -> None:
    good = wire.encode(Event("a"))
    event = wire.decode([good[0], good[1], b"\xc1"])
    with pytest.raises(WireError, match="payload"):
        _ = event.payload


def test_batch_round_trip_and_malformed_bodies() -> None:
    events = [wire.encode(Event("a.b", {"i": i}), node_id="n", seq=i + 1, epoch=1) for i in range(3)]
    message = wire.encode_batch(b"a.b", [part for f in events for part in f[1:]])
    assert len(message) == 2 and message[0] == b"a.b"
    assert wire.split_batch(message) == events
    for body in (
        b"",
        b"\xc1",
        msgpack.packb([]),
        msgpack.packb([b"odd"]),
        msgpack.packb([1, 2]),
        b"\x91\xa1x",
    ):
        with pytest.raises(WireError):
            wire.split_batch([b"a.b", body])


@settings(max_examples=200)
@given(st.lists(st.tuples(events(), st.integers(0, 5)), min_size=1, max_size=6))
def test_decode_parts_judges_each_event_as_decode_would(items: list[tuple[Event, int]]) -> None:
    """A batch's events decoded in one call are exactly what ``decode`` makes of each alone: the same
    events (plain headers and unusual ones alike), and for a damaged one the same error."""
    parts: list[bytes] = []
    expected: list[Event | str] = []
    for seq, (event, damage) in enumerate(items, 1):
        _, header, payload = wire.encode(event.evolve(topic="a.b"), node_id="n", seq=seq, epoch=1)
        h = msgpack.unpackb(header)
        if damage == 1:
            h[5] = -1  # seq
        elif damage == 2:
            h[0] = 99  # version
        elif damage == 3:
            h = h[:5]  # too few fields
        header = msgpack.packb(h) if damage in (1, 2, 3) else b"\xc1" if damage == 4 else header
        parts += (header, payload)
        try:
            expected.append(wire.decode([b"a.b", header, payload], max_message_size=2**20))
        except WireError as exc:
            expected.append(str(exc))
    got, errors = wire.decode_parts(b"a.b", parts, max_message_size=2**20)
    assert [e.to_dict() for e in got] == [e.to_dict() for e in expected if isinstance(e, Event)]
    assert errors == [e for e in expected if isinstance(e, str)]


def test_decode_parts_refuses_a_bad_topic_and_sizes_each_event() -> None:
    _, header, payload = wire.encode(Event("a.b", {"x": "y" * 100}), node_id="n", seq=1, epoch=1)
    for topic in (b"", b"a..b", b"x" * 300):
        with pytest.raises(WireError, match="topic"):
            wire.decode_parts(topic, [header, payload])
    size = 3 + len(header) + len(payload)
    events_, errors = wire.decode_parts(b"a.b", [header, payload, header, b"\x80"], max_message_size=size - 1)
    assert [e.payload for e in events_] == [{}] and len(errors) == 1 and "max_message_size" in errors[0]


def test_encode_run_numbers_each_topic_on_from_the_streams_heads() -> None:
    run = [Event("a"), Event("b"), Event("a", target="someone"), Event("a")]
    out = wire.encode_run(run, node_id="n", epoch=1, seqs={"a": 41}, max_message_size=2**20)
    assert [seq for seq, _ in out] == [42, 1, 2**63, 43]  # a directed event takes no stream position
    assert [wire.decode(frames).seq for _, frames in out] == [42, 1, 2**63, 43]
    with pytest.raises(EventValidationError, match="max_message_size"):
        wire.encode_run([Event("a"), Event("a", {"x": "y" * 200})], node_id="n", epoch=1, seqs={},
                        max_message_size=150)  # fmt: skip


@settings(max_examples=100)
@given(st.lists(events(), min_size=1, max_size=6))
def test_decode_many_is_decode_of_each(items: list[Event]) -> None:
    """Plain and unusual events, of topics seen before and not: the same events as one ``decode`` each."""
    messages = [wire.encode(e, node_id="n", seq=i, epoch=1) for i, e in enumerate(items, 1)]
    got = wire.decode_many(messages, max_message_size=2**30)
    assert [e.to_dict() for e in got] == [wire.decode(m, max_message_size=2**30).to_dict() for m in messages]


def test_decode_many_refuses_the_first_bad_event_as_decode_does() -> None:
    good = wire.encode(Event("a.b", {"i": 1}), node_id="n", seq=1, epoch=1)
    bad = [good[0], msgpack.packb([1, "id", None, "n", "s", -1]), good[2]]  # too few fields
    with pytest.raises(WireError, match="at least"):
        wire.decode_many([good, bad, good])
    with pytest.raises(WireError, match="3 frames"):
        wire.decode_many([good, [b"a.b", good[1]]])
    with pytest.raises(WireError, match="max_message_size"):
        wire.decode_many([good], max_message_size=len(b"".join(good)) - 1)
