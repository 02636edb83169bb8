"""W3C traceparent: format and parsing (hypothesis), child spans, stamping, and the no-OpenTelemetry path."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from zbus import Event
from zbus.observe.latency import Histogram
from zbus.observe.tracing import (
    TraceContext,
    child_traceparent,
    current_event,
    format_traceparent,
    new_traceparent,
    otel_available,
    parse_traceparent,
    stamp,
    traced_handler,
)

HEX = "0123456789abcdef"
SHAPE = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
trace_ids = st.text(HEX, min_size=32, max_size=32).filter(lambda s: s != "0" * 32)
span_ids = st.text(HEX, min_size=16, max_size=16).filter(lambda s: s != "0" * 16)


@given(trace_ids, span_ids, st.integers(0, 255))
def test_format_then_parse_round_trips(trace_id: str, span_id: str, flags: int) -> None:
    ctx = TraceContext(trace_id, span_id, flags)
    text = format_traceparent(ctx)
    assert SHAPE.fullmatch(text)
    assert parse_traceparent(text) == ctx
    assert ctx.sampled == bool(flags & 1)


@given(st.text(max_size=80))
def test_parse_never_raises_and_accepts_only_the_grammar(text: str) -> None:
    ctx = parse_traceparent(text)
    if ctx is not None:
        assert text[:2] != "ff" and text[3:35] == ctx.trace_id and text[36:52] == ctx.span_id


@given(trace_ids, span_ids)
def test_invalid_forms_are_refused(trace_id: str, span_id: str) -> None:
    good = f"00-{trace_id}-{span_id}-01"
    assert parse_traceparent(good) is not None
    if good != good.upper():
        assert parse_traceparent(good.upper()) is None  # lower-case hex only
    assert parse_traceparent(f"ff-{trace_id}-{span_id}-01") is None  # version ff is forbidden
    assert parse_traceparent(good + "-extra") is None  # version 00 has exactly four fields
    assert parse_traceparent(f"01-{trace_id}-{span_id}-01-future") is not None  # later versions may add
    assert parse_traceparent(f"00-{'0' * 32}-{span_id}-01") is None
    assert parse_traceparent(f"00-{trace_id}-{'0' * 16}-01") is None
    assert parse_traceparent(good[:-1]) is None
    assert parse_traceparent(None) is None and parse_traceparent(42) is None


def test_new_and_child_spans() -> None:
    a, b = new_traceparent(), new_traceparent()
    assert SHAPE.fullmatch(a) and a[3:35] != b[3:35]  # a new trace each time
    child = child_traceparent(a)
    assert child[3:35] == a[3:35] and child[36:52] != a[36:52] and child[-2:] == a[-2:]
    unsampled = f"00-{'a' * 32}-{'b' * 16}-00"
    assert child_traceparent(unsampled).endswith("-00")  # flags are inherited
    assert SHAPE.fullmatch(child_traceparent("garbage"))  # an invalid parent starts a new trace
    assert SHAPE.fullmatch(child_traceparent(None))


def test_stamp_outside_and_inside_a_handler() -> None:
    root = Event("order.placed", {})
    stamp(root)
    assert SHAPE.fullmatch(root.headers["traceparent"])
    assert root.causation_id is None and root.correlation_id is None
    kept = Event("order.placed", {}, headers={"traceparent": f"00-{'c' * 32}-{'d' * 16}-01"})
    stamp(kept)
    assert kept.headers["traceparent"] == f"00-{'c' * 32}-{'d' * 16}-01"

    token = current_event.set(root)
    try:
        effect = Event("order.billed", {})
        stamp(effect)
        explicit = Event("order.billed", {}, causation_id="mine", correlation_id="conv")
        stamp(explicit)
    finally:
        current_event.reset(token)
    assert effect.headers["traceparent"][3:35] == root.headers["traceparent"][3:35]
    assert effect.headers["traceparent"][36:52] != root.headers["traceparent"][36:52]
    assert effect.causation_id == root.id and effect.correlation_id == root.id
    assert explicit.causation_id == "mine" and explicit.correlation_id == "conv"


def test_without_opentelemetry_handlers_are_not_wrapped() -> None:
    def handler(event: Event) -> None:
        return None

    assert otel_available() is False  # opentelemetry-api is not a dependency and not installed in CI
    assert traced_handler(handler) is handler


def test_histogram_counts_and_estimates_quantiles() -> None:
    h = Histogram((0.001, 0.01, 0.1))
    for seconds in [0.0005] * 50 + [0.005] * 45 + [0.05] * 4 + [5.0] + [-1.0]:
        h.observe(seconds)
    snap = h.snapshot()
    assert snap.cumulative == (51, 96, 100, 101) and snap.count == 101
    assert snap.bounds[-1] == float("inf")
    p50 = snap.quantile(0.5)
    assert p50 is not None and 0 < p50 <= 0.001
    p99 = snap.quantile(0.99)
    assert p99 is not None and 0.01 < p99 <= 0.1
    assert Histogram().snapshot().quantile(0.5) is None
