"""Trace context and event-context logging across real nodes: cause → effect, request → reply, JSON logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

import zbus
from zbus.observe.logs import configure_logging
from zbus.testing import eventually, local_mesh


def trace_id(event: zbus.Event) -> str:
    return event.headers["traceparent"][3:35]


def span_id(event: zbus.Event) -> str:
    return event.headers["traceparent"][36:52]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root, zlog = logging.getLogger(), logging.getLogger("zbus")
    levels = root.level, zlog.level
    handler = configure_logging({"level": "info", "format": "json"}, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        zlog.setLevel(levels[1])


async def test_an_event_published_by_a_handler_continues_the_trace(mesh_name: str) -> None:
    async with local_mesh(2, mesh=mesh_name) as (a, b):
        effects: list[zbus.Event] = []
        causes: list[zbus.Event] = []

        async def bill(event: zbus.Event) -> None:  # on node a: the cause arrives, an effect leaves
            causes.append(event)
            await a.publish("order.billed", {"order": event.payload["order"]})

        await a.subscribe("order.placed", handler=bill)
        await b.subscribe("order.billed", handler=effects.append)
        await b.wait_for_subscribers("order.placed")
        await a.wait_for_subscribers("order.billed")
        placed_id = await b.publish("order.placed", {"order": 1})
        await eventually(lambda: len(effects) == 1)
        cause, effect = causes[0], effects[0]
        assert cause.id == placed_id and cause.causation_id is None
        assert trace_id(effect) == trace_id(cause) and span_id(effect) != span_id(cause)
        assert effect.causation_id == cause.id and effect.correlation_id == cause.id
        other = await b.publish("order.placed", {"order": 2})  # a new root: a new trace
        await eventually(lambda: len(effects) == 2)
        assert trace_id(effects[1]) != trace_id(effect) and effects[1].causation_id == other


async def test_a_reply_is_a_child_span_of_its_request(mesh_name: str) -> None:
    async with local_mesh(2, mesh=mesh_name) as (a, b):
        seen: list[zbus.Event] = []
        audits: list[zbus.Event] = []

        @b.respond("math.add")
        async def add(event: zbus.Event) -> int:
            seen.append(event)
            await b.publish("audit.asked", {})  # published while answering: a child of the request
            return int(event.payload["x"]) + 1

        await b.subscribe("audit.*", handler=audits.append)
        await a.wait_for_responders("math.add")
        parent = f"00-{'1' * 32}-{'2' * 16}-01"
        reply = await a.request("math.add", {"x": 1}, headers={"traceparent": parent})
        request = seen[0]
        assert request.headers["traceparent"] == parent  # the caller's context is kept
        assert trace_id(reply) == "1" * 32 and span_id(reply) not in ("2" * 16, "0" * 16)
        assert reply.causation_id == request.id
        await eventually(lambda: len(audits) == 1)
        assert trace_id(audits[0]) == "1" * 32 and audits[0].causation_id == request.id
        fresh = await a.request("math.add", {"x": 2})  # no context given: a new trace, still a child reply
        assert trace_id(fresh) != "1" * 32 and trace_id(fresh) == trace_id(seen[1])


async def test_log_lines_in_handlers_carry_the_event_context(mesh_name: str, json_log: io.StringIO) -> None:
    config = {"transport": {"kind": "memory"}, "queue": {"retry_base_delay": 0.01, "retry_max_delay": 0.02}}
    async with zbus.Node("logger", mesh=mesh_name, config=config) as node:
        app = logging.getLogger("myapp")

        def handler(event: zbus.Event) -> None:
            app.info("handling order %s", event.payload["order"])
            if event.payload["order"] == 2:
                raise RuntimeError("out of stock")

        await node.subscribe("order.*", handler=handler)
        first = await node.publish("order.placed", {"order": 1}, correlation_id="conv-7")
        second = await node.publish("order.placed", {"order": 2}, max_attempts=1)
        await eventually(lambda: len(node.dead_letters()) == 1)
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    mine = [x for x in lines if x["logger"] == "myapp"]
    assert mine[0]["message"] == "handling order 1" and mine[0]["event_id"] == first
    assert mine[0]["correlation_id"] == "conv-7" and mine[0]["topic"] == "order.placed"
    assert len(mine[0]["trace_id"]) == 32
    assert mine[1]["event_id"] == second and mine[1]["correlation_id"] == second  # its own id by default
    dead = next(x for x in lines if "dead-lettered" in x["message"])
    assert dead["level"] == "warning" and dead["event_id"] == second and dead["logger"] == "zbus"
    assert all({"ts", "level", "logger", "message"} <= set(x) for x in lines)


def test_text_format_appends_the_event_context() -> None:
    stream = io.StringIO()
    levels = logging.getLogger().level, logging.getLogger("zbus").level
    handler = configure_logging({"format": "text", "level": "debug"}, stream=stream)
    try:
        event = zbus.Event("order.placed", {}, correlation_id="c-1")
        logging.getLogger("zbus.test").warning(
            "about an event", extra={"event_id": event.id, "topic": "t", "correlation_id": "c-1"}
        )
        logging.getLogger("zbus.test").info("about nothing")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(levels[0])
        logging.getLogger("zbus").setLevel(levels[1])
    first, second = stream.getvalue().splitlines()
    assert first.endswith(f"about an event [topic=t event={event.id} correlation=c-1]")
    assert " WARNING zbus.test: " in first and second.endswith("INFO zbus.test: about nothing")
    with pytest.raises(zbus.UsageError, match="log level 'loud'"):
        configure_logging(level="loud")
