"""The public API in-process (memory transport): every method, no sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import zbus
from zbus import Event, Node
from zbus.testing import eventually


@pytest.fixture
def cfg(memory_config: dict[str, Any], mesh_name: str) -> dict[str, Any]:
    return memory_config | {"mesh": {"name": mesh_name}}


async def test_publish_subscribe_own_node(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        got: list[Event] = []
        await node.subscribe("order.*", handler=got.append)
        eid = await node.publish("order.placed", {"n": 1})
        await node.publish("payment.done", {"n": 2})
        await eventually(lambda: len(got) == 1)
        assert got[0].id == eid and got[0].payload == {"n": 1} and got[0].source == "a"
        assert got[0].seq == 1 and got[0].node_id == node.id


async def test_two_nodes_and_payload_isolation(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as a, Node("b", config=cfg) as b:
        sub = await b.subscribe("data.**")
        payload = {"items": [1]}
        await a.publish("data.x", payload)
        event = await sub.next(timeout=2)
        event.payload["items"].append(99)
        assert payload == {"items": [1]}
        assert [p.name for p in a.peers] == ["b"]


async def test_decorators_registered_before_start(cfg: dict[str, Any]) -> None:
    node = Node("a", config=cfg)
    seen: list[str] = []

    @node.on("user.*")
    async def on_user(event: Event) -> None:
        seen.append(event.type)

    @node.on_pattern(r"order\.(created|cancelled)")
    def on_order(event: Event) -> None:
        seen.append(event.type)

    async with node:
        for t in ("user.new", "order.created", "order.updated", "order.cancelled"):
            await node.publish(t)
        await eventually(lambda: len(seen) == 3)
    assert sorted(seen) == ["order.cancelled", "order.created", "user.new"]


async def test_filter(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        sub = await node.subscribe(
            "payment.*", filter={"payload.amount": {"$gt": 100}, "priority": {"$gte": 7}}
        )
        await node.publish("payment.made", {"amount": 500}, priority=8)
        await node.publish("payment.made", {"amount": 50}, priority=9)
        await node.publish("payment.made", {"amount": 500}, priority=5)
        event = await sub.next(timeout=1)
        assert event.payload == {"amount": 500} and event.priority == 8
        with pytest.raises(zbus.WouldBlockError):
            sub.next_nowait()
        with pytest.raises(zbus.InvalidFilterError):
            await node.subscribe("x", filter={"payload.a": {"$bogus": 1}})


async def test_priority_order_of_backlog(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        sub = await node.subscribe("job.*")
        for prio in (1, 5, 10, 5, 3):
            await node.publish("job.run", {"p": prio}, priority=prio)
        order = [(await sub.next(timeout=1)).payload["p"] for _ in range(5)]
        assert order == [10, 5, 5, 3, 1]


async def test_overflow_policies_count_drops(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        newest = await node.subscribe("x", max_size=2, overflow="drop_newest")
        oldest = await node.subscribe("x", max_size=2, overflow="drop_oldest")
        for i in range(5):
            await node.publish("x", i)
        assert [newest.next_nowait().payload for _ in range(2)] == [0, 1]
        assert [oldest.next_nowait().payload for _ in range(2)] == [3, 4]
        assert newest.statistics().dropped == {"overflow": 3}
        assert oldest.statistics().dropped == {"overflow": 3}
        assert node.statistics().dropped["overflow"] == 6


async def test_block_policy_makes_publisher_wait(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        sub = await node.subscribe("x", max_size=1, overflow="block")
        await node.publish("x", 1)
        blocked = asyncio.ensure_future(node.publish("x", 2))
        await asyncio.sleep(0)  # let it reach the full buffer
        assert not blocked.done()
        assert (await sub.next(timeout=1)).payload == 1
        await asyncio.wait_for(blocked, 2)
        assert (await sub.next(timeout=1)).payload == 2
        assert sub.statistics().dropped == {}


async def test_ttl_expired_never_delivered(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        sub = await node.subscribe("x")
        await node.publish("x", "stale", expires_at=1.0)  # long past
        await node.publish("x", "fresh", ttl=60)
        assert (await sub.next(timeout=1)).payload == "fresh"
        assert sub.statistics().expired == 1


async def test_retries_with_backoff_then_dead_letter(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        attempts: list[int] = []

        @node.on("task.run")
        async def flaky(event: Event) -> None:
            attempts.append(event.attempts)
            raise ValueError("boom")

        await node.publish("task.run", {"id": 7}, max_attempts=3)
        await eventually(lambda: len(node.dead_letters()) == 1)
        assert attempts == [0, 1, 2]
        letter = node.dead_letters()[0]
        assert letter.event.attempts == 3 and letter.event.last_error == "ValueError: boom"
        assert letter.error_type == "ValueError" and letter.handler.endswith("flaky")
        assert letter.event.payload == {"id": 7}


async def test_retry_succeeds(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        calls: list[int] = []

        @node.on("task.run")
        def sometimes(event: Event) -> None:
            calls.append(event.attempts)
            if len(calls) < 2:
                raise RuntimeError("transient")

        await node.publish("task.run")
        await eventually(lambda: len(calls) == 2)
        await eventually(lambda: node.statistics().delivered == 1)
        assert node.dead_letters() == []


async def test_publish_batch_and_stream(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        received: list[Any] = []

        async def consume() -> None:
            async for event in node.stream("metric.*", batch_size=10):
                received.append(event.payload["value"])
                if len(received) == 3:
                    return

        task = asyncio.ensure_future(consume())
        await eventually(lambda: node.statistics().subscriptions == 1)
        ids = await node.publish_batch(
            [
                ("metric.cpu", {"value": 75}),
                ("metric.memory", {"value": 2048}),
                Event("metric.disk", {"value": 80}),
            ]
        )
        assert len(set(ids)) == 3
        await asyncio.wait_for(task, 2)
        assert received == [75, 2048, 80]
        await eventually(lambda: node.statistics().subscriptions == 0)
        with pytest.raises(zbus.UsageError, match="item 0"):
            await node.publish_batch([("only-one",)])  # type: ignore[list-item]


async def test_publish_batch_keeps_each_stream_gapless_beside_concurrent_publishes(
    cfg: dict[str, Any],
) -> None:
    """A batch is encoded (with sequence numbers) before it is sent; a publish on the same topic in
    between takes a number first, and the batch's later events are numbered again, never twice."""
    async with Node("a", config=cfg) as node:
        sub = await node.subscribe("t.*", max_size=5, overflow="block")  # a full backlog makes each wait
        got: list[Event] = []

        async def consume() -> None:
            for _ in range(100):
                got.append(await sub.next(timeout=5))

        async def singles() -> None:
            for i in range(50):
                await node.publish("t.x", {"single": i})
                await asyncio.sleep(0)

        consumer = asyncio.ensure_future(consume())
        await asyncio.gather(node.publish_batch([("t.x", {"batch": i}) for i in range(50)]), singles())
        await asyncio.wait_for(consumer, 5)
        assert sorted(e.seq for e in got) == list(range(1, 101))
        assert [e.payload["batch"] for e in got if "batch" in e.payload] == list(range(50))
        assert [e.payload["single"] for e in got if "single" in e.payload] == list(range(50))


async def test_window(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        windows: list[list[int]] = []

        async def consume() -> None:
            async for window in node.window("metric.*", size="200ms"):
                windows.append([e.payload for e in window])
                return

        task = asyncio.ensure_future(consume())
        await eventually(lambda: node.statistics().subscriptions == 1)
        for v in (1, 2, 3):
            await node.publish("metric.x", v)
        await asyncio.wait_for(task, 2)
        assert windows == [[1, 2, 3]]


async def test_request_response(cfg: dict[str, Any]) -> None:
    async with Node("client", config=cfg) as client, Node("server", config=cfg) as server:

        @server.respond("service.calculate")
        async def calc(request: Event) -> dict[str, int]:
            return {"result": request.payload["x"] + request.payload["y"]}

        @server.respond("service.fail")
        def fail(request: Event) -> None:
            raise KeyError("missing")

        await client.wait_for_responders("service.calculate", timeout=2)
        reply = await client.request("service.calculate", {"x": 10, "y": 20}, timeout=2)
        assert reply.payload == {"result": 30}
        assert reply.causation_id is not None and reply.correlation_id == reply.causation_id
        with pytest.raises(zbus.RemoteError) as info:
            await client.request("service.fail", timeout=2)
        assert info.value.remote_type == "KeyError" and info.value.responder == "server"
        with pytest.raises(zbus.NoResponders):
            await client.request("service.nobody", timeout=2)


async def test_request_timeout(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        gate = asyncio.Event()

        @node.respond("slow")
        async def slow(request: Event) -> None:
            await gate.wait()

        with pytest.raises(zbus.RequestTimeout):
            await node.request("slow", timeout=0.05)
        with pytest.raises(TimeoutError):  # also a builtin TimeoutError
            await node.request("slow", timeout=0.05)
        gate.set()


async def test_load_balancing(cfg: dict[str, Any]) -> None:
    async with Node("c", config=cfg) as c, Node("s1", config=cfg) as s1, Node("s2", config=cfg) as s2:
        for server in (s1, s2):
            server.respond("work")(lambda req, name=server.name: name)
        await c.wait_for_responders("work", 2, timeout=2)
        answers = [(await c.request("work", timeout=2)).payload for _ in range(4)]
        assert sorted(answers) == ["s1", "s1", "s2", "s2"]


async def test_directed_and_unknown_target(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as a, Node("b", config=cfg) as b, Node("c", config=cfg) as c:
        on_b = await b.subscribe("note")
        on_c = await c.subscribe("note")
        await a.publish("note", "for b", target="b")
        assert (await on_b.next(timeout=1)).payload == "for b"
        with pytest.raises(zbus.WouldBlockError):
            on_c.next_nowait()
        with pytest.raises(zbus.UnknownTargetError, match="nobody"):
            await a.publish("note", target="nobody")


async def test_wait_for_subscribers_and_peers(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as a:
        with pytest.raises(zbus.WaitTimeout):
            await a.wait_for_subscribers("x.y", timeout=0.05)
        events: list[zbus.PeerEvent] = []
        a.on_peer(events.append)
        async with Node("b", config=cfg) as b:
            await a.wait_for_peers(1, names=["b"], timeout=1)
            await b.subscribe("x.*")
            assert await a.wait_for_subscribers("x.y", timeout=1) == 1
        await eventually(lambda: a.peers == [])
        assert events[0].kind == "joined" and events[-1].kind == "left"


async def test_lifecycle_errors(cfg: dict[str, Any]) -> None:
    node = Node("a", config=cfg)
    with pytest.raises(zbus.ClosedError, match="async with"):
        await node.publish("x")
    async with node:
        assert node.state is zbus.NodeState.RUNNING
        assert "RUNNING" in repr(node)
    with pytest.raises(zbus.ClosedError, match="create a new Node"):
        await node.start()
    with pytest.raises(zbus.ClosedError):
        await node.subscribe("x")


async def test_usage_errors(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        with pytest.raises(zbus.InvalidTopicError):
            await node.subscribe("a..b")
        with pytest.raises(zbus.UsageError, match="at least one pattern"):
            await node.subscribe()
        with pytest.raises(zbus.UsageError, match="overflow"):
            await node.subscribe("x", overflow="explode")
        with pytest.raises(zbus.EventValidationError, match="msgpack"):
            await node.publish("x", {"bad": object()})
        with pytest.raises(zbus.InvalidTopicError):
            await node.publish("$zbus.hb")


def test_blocking_node(cfg: dict[str, Any]) -> None:
    with zbus.BlockingNode("sync", config=cfg) as node:
        seen: list[int] = []
        node.on("tick")(lambda e: seen.append(e.payload))
        node.respond("echo")(lambda e: e.payload)
        sub = node.subscribe("tick")
        node.publish("tick", 1)
        assert sub.next(timeout=2).payload == 1
        assert node.request("echo", "hi", timeout=2).payload == "hi"
        assert node.statistics().published == 1
        sub.unsubscribe()
    with pytest.raises(zbus.ClosedError):
        node.publish("tick", 2)


async def test_on_peer_registered_before_start(cfg: dict[str, Any]) -> None:
    node = Node("a", config=cfg)
    seen: list[str] = []
    node.on_peer(lambda change: seen.append(f"{change.peer.name} {change.kind}"))
    async with node, Node("b", config=cfg):
        await node.wait_for_peers(names=["b"], timeout=2)
    assert seen[0] == "b joined"


async def test_handlers_of_every_shape(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        seen: list[str] = []

        async def record(tag: str) -> None:
            seen.append(tag)

        class AsyncCallable:
            async def __call__(self, event: Event) -> None:
                seen.append("object")

        node.on("shape")(lambda e: record("lambda->coroutine"))
        node.on("shape")(AsyncCallable())
        node.on("shape")(lambda e: seen.append("sync"))
        await node.publish("shape")
        await eventually(lambda: len(seen) == 3)
        assert sorted(seen) == ["lambda->coroutine", "object", "sync"]
        assert node.statistics().delivered == 3


async def test_handler_subscriptions_cannot_be_drained_elsewhere(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        sub = await node.subscribe("x", handler=lambda e: None)
        with pytest.raises(zbus.UsageError, match="handler"):
            sub.next_nowait()
        with pytest.raises(zbus.UsageError, match="handler"):
            sub.__aiter__()


async def test_totals_survive_closed_subscriptions(cfg: dict[str, Any]) -> None:
    async with Node("a", config=cfg) as node:
        async with await node.subscribe("x") as sub:
            await node.publish("x", 1)
            await sub.next(timeout=1)
        assert node.statistics().delivered == 1 and node.statistics().subscriptions == 0
        with pytest.raises(zbus.UnknownTargetError):
            await node.publish("x", target="nobody")
        assert node.statistics().published == 1  # the refused directed event is not counted


def test_blocking_node_failed_start_stops_its_thread(cfg: dict[str, Any]) -> None:
    import socket
    import threading

    with socket.socket() as taken:  # a port in use makes the bind fail
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bad = cfg | {"transport": {"kind": "zmq", "pub_port": taken.getsockname()[1]}}
        node = zbus.BlockingNode("x", config=bad)
        loop_thread = next(t for t in threading.enumerate() if t.name == "zbus-x")
        with pytest.raises(zbus.UsageError, match="cannot bind"):
            node.start()
        assert not loop_thread.is_alive()
