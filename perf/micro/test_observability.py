"""What observability adds per event (pytest-benchmark; `make bench` prints the numbers).

The publish path pays `stamp` (a new root traceparent); a handled event pays a context-variable set
and, sampled, a histogram observation. Baselines beside them: creating the event itself, and the
`random` draws a naive 128+64-bit traceparent would cost.
"""

from __future__ import annotations

import random

import pytest

from zbus import Event
from zbus.observe.latency import Histogram
from zbus.observe.tracing import child_traceparent, current_event, new_traceparent, parse_traceparent, stamp

PAYLOAD = {"order_id": 4711, "customer": "c-1234", "total": 99.95}


def test_new_traceparent(benchmark: pytest.FixtureRequest) -> None:
    benchmark(new_traceparent)


def test_baseline_random_traceparent(benchmark: pytest.FixtureRequest) -> None:
    bits = random.getrandbits
    benchmark(lambda: f"00-{bits(128):032x}-{bits(64):016x}-01")


def test_child_traceparent(benchmark: pytest.FixtureRequest) -> None:
    parent = new_traceparent()
    benchmark(child_traceparent, parent)


def test_parse_traceparent(benchmark: pytest.FixtureRequest) -> None:
    value = new_traceparent()
    benchmark(parse_traceparent, value)


def test_event_create_and_stamp(benchmark: pytest.FixtureRequest) -> None:
    def create() -> Event:
        event = Event("order.placed", PAYLOAD, source="shop")
        stamp(event)
        return event

    benchmark(create)


def test_baseline_event_create(benchmark: pytest.FixtureRequest) -> None:
    benchmark(Event, "order.placed", PAYLOAD, source="shop")


def test_set_current_event(benchmark: pytest.FixtureRequest) -> None:
    event = Event("order.placed", PAYLOAD)
    benchmark(current_event.set, event)


def test_histogram_observe(benchmark: pytest.FixtureRequest) -> None:
    histogram = Histogram()
    benchmark(histogram.observe, 0.0007)
