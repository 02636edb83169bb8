"""Trace context: W3C ``traceparent`` on every event, propagated cause → effect and request → reply.

Theory of operation
-------------------
Every event a node publishes carries a ``traceparent`` header
(``00-<32 hex trace id>-<16 hex span id>-<2 hex flags>``, https://www.w3.org/TR/trace-context/).
Where it comes from, in order:

1. the caller's own ``headers={"traceparent": ...}`` (kept as is);
2. the *cause*: while the dispatcher runs a handler (or a responder) it records the event being
   handled in a context variable (``current_event``). An event published from inside that handler
   is a child: same trace id, a new span id, and, unless the caller passed them,
   ``causation_id = cause.id`` and ``correlation_id = cause.correlation_id or cause.id`` (the same rule
   a reply follows, so one workflow shares one correlation id);
3. otherwise a new trace (sampled flag set): trace id = a random per-process prefix + a counter.

A reply is a child span of its request (``router._answer`` calls :func:`child_traceparent`).

Cost: one context-variable read plus, for a new trace, one counter step and one %-format (about
0.5 µs per publish on the 2-core dev machine; see docs/ARCHITECTURE.md). Child span ids come from
``random.getrandbits`` (uniqueness, not secrecy; ``random`` reseeds itself in a forked child).

OpenTelemetry: when ``opentelemetry-api`` is importable (``pip install zbus[otel]``), handlers and
responders run inside a CONSUMER span whose parent is the event's ``traceparent``; without it
nothing of OpenTelemetry is imported or called, and the handler path pays nothing.
"""

from __future__ import annotations

import contextvars
import importlib
import itertools
import os
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model.event import Event

__all__ = [
    "TRACEPARENT",
    "TraceContext",
    "child_traceparent",
    "current_event",
    "format_traceparent",
    "new_traceparent",
    "otel_available",
    "parse_traceparent",
    "stamp",
    "traced_handler",
]

TRACEPARENT = "traceparent"
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16
# version 00 is exactly 55 chars; a future version may append "-..." fields (the spec says: parse
# the first four, ignore the rest); version ff is forbidden
_SHAPE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.ASCII | re.DOTALL)

current_event: contextvars.ContextVar[Event | None] = contextvars.ContextVar(
    "zbus_current_event", default=None
)
"""The event whose handler is running in this context (``None`` outside handlers)."""

_getrandbits = random.getrandbits


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A parsed ``traceparent``: ``trace_id`` (32 hex), ``span_id`` (16 hex), ``flags`` (0..255)."""

    trace_id: str
    span_id: str
    flags: int = 1

    @property
    def sampled(self) -> bool:
        """The sampled flag (bit 0): a tracer upstream recorded this trace."""
        return bool(self.flags & 1)


def format_traceparent(ctx: TraceContext) -> str:
    """The version-00 header value of ``ctx``."""
    return f"00-{ctx.trace_id}-{ctx.span_id}-{ctx.flags:02x}"


def parse_traceparent(value: object) -> TraceContext | None:
    """Parse a ``traceparent`` header; ``None`` when it is not a valid one (the spec: start a new trace).

    Accepts version 00 exactly and later versions with extra trailing fields; refuses version ``ff``,
    upper-case hex, and all-zero trace or span ids.
    """
    if not isinstance(value, str) or len(value) < 55:
        return None
    m = _SHAPE.fullmatch(value)
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _INVALID_TRACE or span_id == _INVALID_SPAN:
        return None
    return TraceContext(trace_id, span_id, int(flags, 16))


class _TraceIds:
    """Root trace ids: a random 64-bit prefix per process (redrawn in a forked child) + a 64-bit counter.

    Unique for the same reason event ids are (see ``zbus.model.event``), and about twice as cheap as drawing
    128 random bits per publish. The trace-flags "random" bit (0x02) is therefore not set.
    """

    prefix = ""
    counter = itertools.count(1)

    @classmethod
    def reseed(cls) -> None:
        cls.prefix = os.urandom(8).hex()
        cls.counter = itertools.count(1)


_TraceIds.reseed()
os.register_at_fork(after_in_child=_TraceIds.reseed)


def new_traceparent() -> str:
    """A fresh trace (sampled); its root span id is the counter value. About 0.35 µs."""
    n = next(_TraceIds.counter)
    return "00-%s%016x-%016x-01" % (_TraceIds.prefix, n, n)  # noqa: UP031  (the fastest formatting)


def child_traceparent(parent: str | None) -> str:
    """A child span of ``parent`` (same trace id and flags, new span id); a new trace if ``parent`` is
    missing or invalid."""
    if parent and len(parent) == 55 and parent[:3] == "00-":  # the common case: no object, one regex
        if _SHAPE.fullmatch(parent) and parent[3:35] != _INVALID_TRACE and parent[36:52] != _INVALID_SPAN:
            return "00-%s-%016x-%s" % (parent[3:35], _getrandbits(64) or 1, parent[53:])  # noqa: UP031
        return new_traceparent()
    ctx = parse_traceparent(parent) if parent else None
    if ctx is None:
        return new_traceparent()
    return f"00-{ctx.trace_id}-{_getrandbits(64) or 1:016x}-{ctx.flags:02x}"


def stamp(event: Event) -> None:
    """Give an event about to be published its trace context (see the module text). In place: the
    event is the node's own, not yet shared with anyone."""
    headers = event._headers
    cause = current_event.get()
    if cause is None:
        if TRACEPARENT not in headers:
            headers[TRACEPARENT] = new_traceparent()
        return
    if TRACEPARENT not in headers:
        headers[TRACEPARENT] = child_traceparent(cause._headers.get(TRACEPARENT))
    if event._causation_id is None:
        event._causation_id = cause._id
    if event._correlation_id is None:
        event._correlation_id = cause._correlation_id or cause._id


# -- OpenTelemetry (optional) -------------------------------------------------------------------------
def _load_otel() -> tuple[Any, Any, Any] | None:
    try:
        trace = importlib.import_module("opentelemetry.trace")
        propagator = importlib.import_module("opentelemetry.trace.propagation.tracecontext")
    except ImportError:
        return None
    return trace, trace.get_tracer("zbus"), propagator.TraceContextTextMapPropagator()


_OTEL = _load_otel()


def otel_available() -> bool:
    """True when ``opentelemetry-api`` was importable, so handlers run inside spans."""
    return _OTEL is not None


def traced_handler(handler: Callable[[Event], Any], kind: str = "handle") -> Callable[[Event], Any]:
    """``handler`` itself without OpenTelemetry; with it, a wrapper that runs each call inside a
    CONSUMER span ``zbus.<kind> <topic>`` parented by the event's ``traceparent``."""
    if _OTEL is None:
        return handler
    trace, tracer, propagator = _OTEL
    consumer = trace.SpanKind.CONSUMER

    def run(event: Event) -> Any:
        parent = propagator.extract({TRACEPARENT: event._headers.get(TRACEPARENT, "")})
        attributes = {
            "messaging.system": "zbus",
            "messaging.destination.name": event._topic,
            "messaging.message.id": event._id,
        }
        span = tracer.start_span(
            f"zbus.{kind} {event._topic}", context=parent, kind=consumer, attributes=attributes
        )
        try:
            result = handler(event)
        except BaseException as exc:
            span.record_exception(exc)
            span.end()
            raise
        if isinstance(result, Awaitable):
            return _end_after(result, span)
        span.end()
        return result

    return run


async def _end_after(result: Awaitable[Any], span: Any) -> Any:
    try:
        return await result
    except BaseException as exc:
        span.record_exception(exc)
        raise
    finally:
        span.end()
