"""Edge cases found in review: oversized events, long reply types, failed start, early streams,
and a partitioned peer that is greeted again."""

from __future__ import annotations

import time

import pytest

import zbus
from zbus import Event, Node
from zbus.testing import eventually, local_mesh

from .conftest import FAST


async def test_oversized_event_is_refused_at_publish_and_the_link_survives() -> None:
    small = {"transport": {"max_message_size": 4096}, **FAST}
    async with local_mesh(2, config=small) as (a, b):
        sub = await b.subscribe("blob")
        await a.wait_for_subscribers("blob", timeout=5)
        with pytest.raises(zbus.EventValidationError, match="max_message_size"):
            await a.publish("blob", "x" * 10_000)
        with pytest.raises(zbus.EventValidationError, match="max_message_size"):
            await a.publish("blob", "x" * 10_000, target="n1")
        await a.publish("blob", "fits")
        assert (await sub.next(timeout=5)).payload == "fits"
        assert [p.name for p in b.peers] == ["n0"]


async def test_reply_type_stays_a_valid_topic(memory_config: dict[str, object], mesh_name: str) -> None:
    async with Node("a", config=memory_config | {"mesh": {"name": mesh_name}}) as node:
        long_ascii, non_ascii = "a" * 250, "é" * 125
        for type_ in (long_ascii, non_ascii, "svc.ok"):
            node.respond(type_)(lambda e: "pong")
            reply = await node.request(type_, timeout=2)
            assert reply.payload == "pong"
            assert len(reply.type.encode()) <= 255
        assert reply.type == "svc.ok.reply"


async def test_failed_start_leaves_a_closed_node(mesh_name: str) -> None:
    async with Node("holder", mesh=mesh_name) as holder:
        port = int(holder.endpoints["pub"].rsplit(":", 1)[1])
        clash = Node("clash", mesh=mesh_name, config={"transport": {"pub_port": port}})
        with pytest.raises(zbus.UsageError, match="cannot bind"):
            await clash.start()
        assert clash.state is zbus.NodeState.CLOSED
        with pytest.raises(zbus.ClosedError):
            await clash.publish("x")


async def test_stream_subscribes_at_the_call(memory_config: dict[str, object], mesh_name: str) -> None:
    async with Node("a", config=memory_config | {"mesh": {"name": mesh_name}}) as node:
        events = node.stream("early.*")
        await node.publish("early.bird", 1)  # before the first iteration
        async for event in events:
            assert event.payload == 1
            break
        with pytest.raises(zbus.UsageError, match="longer than 0"):
            node.window("x", size=0)


async def test_expired_but_alive_peer_is_greeted_again() -> None:
    async with local_mesh(2, config=FAST) as (a, b):
        mesh = a._transport
        assert mesh is not None
        # simulate a partition long enough for a to expire b (b still thinks a is fine)
        mesh._apply(mesh.table.expire(time.monotonic() + 3600))  # type: ignore[attr-defined]
        assert a.peers == []
        t0 = time.monotonic()
        await a.wait_for_peers(names=["n1"], timeout=10)
        assert time.monotonic() - t0 < 8
        got: list[Event] = []
        await b.subscribe("after.heal", handler=got.append)
        await a.wait_for_subscribers("after.heal", timeout=5)
        await a.publish("after.heal", 1)
        await eventually(lambda: len(got) == 1)


async def test_resubscribing_later_is_not_reported_as_loss() -> None:
    async with local_mesh(2, config=FAST) as (a, b):
        sub = await b.subscribe("news")
        await a.wait_for_subscribers("news", timeout=5)
        await a.publish("news", 1)
        assert (await sub.next(timeout=5)).payload == 1
        await sub.unsubscribe()
        await eventually(lambda: a._transport.subscriber_count("news") == 0)  # type: ignore[union-attr]
        for i in range(2, 5):
            await a.publish("news", i)  # nobody listens: not b's loss
        again = await b.subscribe("news")
        await a.wait_for_subscribers("news", timeout=5)
        await a.publish("news", 5)
        assert (await again.next(timeout=5)).payload == 5
        assert b.statistics().lost == 0


async def test_retry_stops_when_the_ttl_runs_out(memory_config: dict[str, object], mesh_name: str) -> None:
    slow_retries = memory_config | {"mesh": {"name": mesh_name}, "queue": {"retry_base_delay": 0.3}}
    async with Node("a", config=slow_retries) as node:
        calls: list[int] = []

        @node.on("job")
        def fail(event: Event) -> None:
            calls.append(event.attempts)
            raise RuntimeError("no")

        await node.publish("job", ttl=0.2, max_attempts=5)
        await eventually(lambda: node.statistics().expired == 1)
        assert calls == [0] and node.dead_letters() == []


async def test_wait_for_subscribers_accepts_a_pattern() -> None:
    async with local_mesh(3, config=FAST) as (a, b, c):
        await b.subscribe("order.eu.*")
        await c.subscribe("**.created")
        assert await a.wait_for_subscribers("order.*.created", 2, timeout=5) == 2
        assert await a.wait_for_subscribers("order.eu.x", 1, timeout=5) == 1
        with pytest.raises(zbus.WaitTimeout):
            await a.wait_for_subscribers("payment.*.made", 1, timeout=0.3)


async def test_publish_batch_and_window_across_nodes() -> None:
    async with local_mesh(2, config=FAST) as (a, b):
        windows = b.window("metric.*", size="300ms")
        await a.wait_for_subscribers("metric.*", timeout=5)
        ids = await a.publish_batch(
            [("metric.cpu", {"v": 1}), ("metric.mem", {"v": 2}), ("metric.cpu", {"v": 3})]
        )
        assert len(set(ids)) == 3
        async for batch in windows:
            assert sorted(e.payload["v"] for e in batch) == [1, 2, 3]
            break


async def test_a_refused_event_leaves_no_gap() -> None:
    small = {"transport": {"max_message_size": 4096}, **FAST}
    async with local_mesh(2, config=small) as (a, b):
        sub = await b.subscribe("blob")
        await a.wait_for_subscribers("blob", timeout=5)
        await a.publish("blob", 1)
        with pytest.raises(zbus.EventValidationError):
            await a.publish("blob", "x" * 10_000)
        with pytest.raises(zbus.EventValidationError):
            await a.publish("blob", {"bad": object()})
        with pytest.raises(zbus.EventValidationError):  # the batch is refused whole
            await a.publish_batch([("blob", 2), ("blob", "x" * 10_000)])
        await a.publish("blob", 3)
        got = [(await sub.next(timeout=5)).payload for _ in range(2)]
        assert got == [1, 3] and b.statistics().lost == 0
