"""Per-event costs of the hot path (pytest-benchmark). `make bench` prints the numbers.

Each benchmark sits next to its raw baseline (msgpack of the same data) so the ratio shows what
zbus's own structure costs on top of serialization.
"""

from __future__ import annotations

import uuid

import msgpack
import pytest

from zbus import Event
from zbus.codec import wire
from zbus.model.event import new_event_id
from zbus.model.filters import compile_filter
from zbus.model.topics import TopicIndex, compile_pattern

PAYLOAD = {"order_id": 4711, "customer": "c-1234", "total": 99.95, "items": [{"sku": "A-1", "qty": 2}]}


def test_event_create(benchmark: pytest.FixtureRequest) -> None:
    benchmark(Event, "order.placed", PAYLOAD, source="shop", priority=7)


def test_event_id(benchmark: pytest.FixtureRequest) -> None:
    benchmark(new_event_id)


def test_baseline_uuid4(benchmark: pytest.FixtureRequest) -> None:
    benchmark(lambda: str(uuid.uuid4()))


def test_encode(benchmark: pytest.FixtureRequest) -> None:
    event = Event("order.placed", PAYLOAD, source="shop")
    benchmark(wire.encode, event, node_id="0123456789abcdef", seq=42, epoch=1)


def test_decode_header_only(benchmark: pytest.FixtureRequest) -> None:
    frames = wire.encode(Event("order.placed", PAYLOAD, source="shop"), node_id="n", seq=1, epoch=1)
    benchmark(wire.decode, frames)


def test_decode_with_payload(benchmark: pytest.FixtureRequest) -> None:
    frames = wire.encode(Event("order.placed", PAYLOAD, source="shop"), node_id="n", seq=1, epoch=1)
    benchmark(lambda: wire.decode(frames).payload)


def test_baseline_msgpack_round_trip(benchmark: pytest.FixtureRequest) -> None:
    benchmark(lambda: msgpack.unpackb(msgpack.packb({"type": "order.placed", "payload": PAYLOAD})))


def test_topic_match_wildcard(benchmark: pytest.FixtureRequest) -> None:
    pattern = compile_pattern("order.*.placed")
    benchmark(pattern.matches, "order.eu.placed")


def test_topic_index_20_subscriptions(benchmark: pytest.FixtureRequest) -> None:
    index: TopicIndex[int] = TopicIndex()
    for i in range(10):
        index.add(compile_pattern(f"svc{i}.*"), i)
        index.add(compile_pattern(f"svc{i}.events.**"), i + 10)
    benchmark(index.match, "svc7.events.created")


def test_filter_eval(benchmark: pytest.FixtureRequest) -> None:
    predicate = compile_filter({"payload.total": {"$gt": 50}, "priority": {"$gte": 5}})
    event = wire.decode(wire.encode(Event("order.placed", PAYLOAD, priority=7)))
    benchmark(predicate, event)
