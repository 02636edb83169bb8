"""The zbus side of ``zbus bench``: each role is one process (see :mod:`.bench_worker`).

Nodes join a fresh mesh (random name) on ``local`` scope over loopback; publisher and subscribers
run with ``transport.slow_subscriber = "block"`` so nothing is lost. Handlers read ``event.payload``
as a real one would (payloads are decoded lazily, so skipping that would flatter zbus).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import zbus

from .bench_io import EVENT_TOPIC, PACE_SLACK, PAYLOAD, emit, latency_summary, paced, usage, wait_order


def _config(
    mesh: str, journal: str | None = None, durability: str = "sync", ipc: bool = False, secure: str = ""
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "mesh": {"name": mesh},
        "transport": {"slow_subscriber": "block", "ipc": ipc},
        "discovery": {"scope": "local"},
    }
    if secure:  # a key directory made by the harness: CURVE on every link, credentials checked
        config["security"] = {"mode": "mesh", "key_dir": secure, "mesh_key": f"{secure}/mesh.pub"}
    if journal:
        config["persistence"] = {"enabled": True, "path": journal, "durability": durability}
    return config


async def _order(timeout: float) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, wait_order, timeout)


def zbus_pub(
    mesh: str,
    n: int,
    subs: int = 1,
    rate: float | None = None,
    batch: int = 0,
    journal: str | None = None,
    durability: str = "sync",
    durable_acks: int = 0,
    ipc: bool = False,
    deadline: float = 60,
    secure: str = "",
) -> None:
    """Publish ``n`` events once ``subs`` subscribers are confirmed and the harness says ``go``.

    ``batch`` > 0 uses ``publish_batch`` with that many events per call; ``rate`` paces single
    publishes; ``journal`` journals every event (``durability``); ``durable_acks`` then times that
    many sequential ``publish(durable=True)`` calls; ``ipc`` sets ``transport.ipc``; ``secure`` is a key
    directory (security on).
    """

    async def main() -> None:
        async with zbus.Node("bench-pub", config=_config(mesh, journal, durability, ipc, secure)) as node:
            if subs:
                await node.wait_for_subscribers(EVENT_TOPIC, count=subs, timeout=deadline)
            emit(ready=True)
            if await _order(deadline) != "go":
                return
            cpu0, t0, started_at = time.process_time(), time.perf_counter(), time.time()
            if batch:
                for start in range(0, n, batch):
                    await node.publish_batch([(EVENT_TOPIC, PAYLOAD)] * min(batch, n - start))
            else:
                delay = paced(n, rate)
                publish = node.publish
                for i in range(n):
                    if rate and (d := delay(i)) > PACE_SLACK:
                        await asyncio.sleep(d)
                    await publish(EVENT_TOPIC, PAYLOAD)
            sent: dict[str, Any] = {"sent": n, "seconds": time.perf_counter() - t0, "started_at": started_at}
            if durable_acks:
                acks = []
                for _ in range(durable_acks):
                    t1 = time.perf_counter()
                    await node.publish("bench.durable", PAYLOAD, durable=True)
                    acks.append(time.perf_counter() - t1)
                sent["durable_ack_ms"] = latency_summary(acks)
            emit(**sent)
            await _order(deadline)  # "quit": the subscribers have everything
            emit(result=usage(cpu0))

    asyncio.run(main())


def zbus_sub(
    mesh: str,
    n: int,
    latency: bool = False,
    ipc: bool = False,
    deadline: float = 60,
    secure: str = "",
    stream: bool = False,
) -> None:
    """Subscribe with a handler that reads each payload; report rate, CPU, RSS (and latency).

    ``stream``: consume with ``async for event in node.stream(...)`` instead, the loop body doing what
    the handler does (same backlog bound, so neither side drops)."""

    async def main() -> None:
        config = _config(mesh, ipc=ipc, secure=secure)
        config["queue"] = {"max_size": max(n + 10, 1000)}  # what the handler's subscribe is given
        async with zbus.Node("bench-sub", config=config) as node:
            done = asyncio.Event()
            lat: list[float] = []
            state = {"got": 0, "first": 0.0, "last": 0.0}
            wall, mono = time.time, time.monotonic

            def handle(event: zbus.Event) -> None:
                now = mono()
                event.payload["order_id"]
                if latency:
                    lat.append(wall() - event.ts)
                if state["got"] == 0:
                    state["first"] = now
                state["last"] = now
                state["got"] += 1
                if state["got"] >= n:
                    done.set()

            consumer: asyncio.Task[None] | None = None
            if stream:
                events = node.stream(EVENT_TOPIC)  # subscribed here, before "ready"

                async def consume() -> None:
                    async for event in events:
                        handle(event)
                        if done.is_set():
                            break

                consumer = asyncio.create_task(consume())
            else:
                await node.subscribe(EVENT_TOPIC, handler=handle, max_size=max(n + 10, 1000))
            emit(ready=True)
            cpu0 = time.process_time()
            try:
                async with asyncio.timeout(deadline):
                    await done.wait()
            except TimeoutError:
                pass
            if consumer is not None:
                consumer.cancel()
            result: dict[str, Any] = {
                "got": state["got"],
                "seconds": state["last"] - state["first"],
                "last_at": time.time() - (mono() - state["last"]),  # wall clock: comparable across processes
                **usage(cpu0),
            }
            if latency:
                result["latency_ms"] = latency_summary(lat)
            emit(result=result)

    asyncio.run(main())


def zbus_echo(mesh: str, deadline: float = 60, secure: str = "") -> None:
    """Respond to ``bench.echo`` with ``{"result": x + 1}`` until the harness says ``quit``, then
    report the CPU it used."""

    async def main() -> None:
        async with zbus.Node("bench-echo", config=_config(mesh, secure=secure)) as node:
            node.respond("bench.echo")(lambda e: {"result": e.payload["x"] + 1})
            emit(ready=True)
            cpu0 = time.process_time()
            await _order(deadline)
            emit(result=usage(cpu0))

    asyncio.run(main())


def zbus_client(mesh: str, n: int, warmup: int = 50, deadline: float = 60, secure: str = "") -> None:
    """``n`` sequential requests (after ``warmup``); report latency percentiles."""

    async def main() -> None:
        async with zbus.Node("bench-client", config=_config(mesh, secure=secure)) as node:
            await node.wait_for_responders("bench.echo", timeout=deadline)
            times: list[float] = []
            cpu0 = time.process_time()
            end = time.monotonic() + deadline
            for i in range(n + warmup):
                if time.monotonic() > end:
                    break
                t0 = time.perf_counter()
                reply = await node.request("bench.echo", {"x": i}, timeout=10)
                reply.payload["result"]
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
            emit(result={"latency_ms": latency_summary(times), "got": len(times), **usage(cpu0)})

    asyncio.run(main())


def zbus_replay(journal: str, n: int) -> None:
    """Journal ``n`` events through a node, then time ``Node.replay`` with every payload decoded."""
    config = {
        "transport": {"kind": "memory"},
        "persistence": {"enabled": True, "path": journal, "durability": "none", "batch_size": 1000},
    }

    async def main() -> None:
        async with zbus.Node("bench-replay", config=config) as node:
            for start in range(0, n, 1000):
                await node.publish_batch([(EVENT_TOPIC, PAYLOAD)] * min(1000, n - start))
        async with zbus.Node("bench-replay", config=config) as node:
            t0, count = time.perf_counter(), 0
            async for event in node.replay("**"):
                event.payload["order_id"]
                count += 1
            emit(result={"events": count, "seconds": time.perf_counter() - t0})

    asyncio.run(main())


def journal_writer(journal: str, n: int, deadline: float = 120) -> None:
    """Append ``n`` events (~270-byte frames, 100 streams, batches of 1,000), report, keep writing.

    The harness kills this process with SIGKILL once ``written`` arrives, in the middle of a batch.
    """
    header = bytes(90)
    payload = bytes(150)
    streams = [(f"node-{i % 10}", f"order.{i // 10}.placed") for i in range(100)]
    seqs = [0] * len(streams)
    written, ts = 0, time.time() - 3600
    end = time.monotonic() + deadline
    reported = False
    from zbus import store

    with store.Journal(journal, map_size=8 * 1024**3, durability="none") as j:
        j.next_epoch()
        while time.monotonic() < end:
            batch = []
            for i in range(1000):
                k = (written + i) % len(streams)
                seqs[k] += 1
                node_id, topic = streams[k]
                frames = [topic.encode(), header, payload]
                batch.append(
                    store.JournalRecord(node_id, topic, seqs[k], 1, ts + (written + i) / 1e4, frames)
                )
            j.append_batch(batch)
            written += len(batch)
            if written >= n and not reported:
                emit(written=written)
                reported = True


def recover(journal: str) -> None:
    """Open a journal left by a killed writer and read its stream heads: what a restart does."""
    from zbus import store

    t0 = time.perf_counter()
    with store.Journal(journal, map_size=8 * 1024**3, durability="none") as j:
        heads = j.stream_heads()
        seconds = time.perf_counter() - t0
        events = j.statistics().events
    emit(result={"seconds": seconds, "streams": len(heads), "events": events})


def idle(mesh: str, seconds: float) -> None:
    """A node with one subscription and one responder, idle for ``seconds``: CPU % and RSS."""

    async def main() -> None:
        async with zbus.Node("bench-idle", config=_config(mesh)) as node:
            await node.subscribe("order.*", handler=lambda e: None)
            node.respond("bench.echo")(lambda e: None)
            await asyncio.sleep(0.2)  # settle after start (the measured window is what follows)
            cpu0, t0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - t0)
            rss_mb = _rss_mb()
            emit(result={"cpu_percent": cpu * 100, "rss_mb": rss_mb, "seconds": seconds})

    asyncio.run(main())


def _rss_mb() -> float:
    """Resident set size now (not the peak), from /proc."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def join(mesh: str, rounds: int) -> None:
    """Two nodes on ``local`` scope: seconds from the second one's start until both list each other."""

    async def main() -> None:
        times = []
        for r in range(rounds):
            config = _config(f"{mesh}-{r}")
            async with zbus.Node("a", config=config) as a:
                t0 = time.perf_counter()
                async with zbus.Node("b", config=config) as b:
                    await a.wait_for_peers(1, timeout=10)
                    await b.wait_for_peers(1, timeout=10)
                    times.append(time.perf_counter() - t0)
        emit(result={"median_s": statistics.median(times), "max_s": max(times), "rounds": rounds})

    asyncio.run(main())


#: the roles a worker process can run (``python -m zbus.tools.bench_worker ROLE``)
def zbus_group_pub(mesh: str, n: int, members: int, deadline: float = 60, shards: int = 0) -> None:
    """Publish ``n`` events to queue group ``bench`` once ``members`` members are known and the
    harness says ``go``; report ``sent``, then ``drained`` once every event is acknowledged.

    ``shards`` > 0: no group, the floor under it. Event ``i`` goes to topic ``<topic>.<i % shards>``,
    which one plain subscriber each takes (:func:`zbus_member` with ``shard``): each event still
    reaches one worker, with no credit, book or acks."""

    async def main() -> None:
        async with zbus.Node("bench-pub", config=_config(mesh)) as node:
            topics = [f"{EVENT_TOPIC}.{k}" for k in range(shards)] or [EVENT_TOPIC]
            if shards:
                for topic in topics:
                    await node.wait_for_subscribers(topic, 1, timeout=deadline)
            else:
                await node.wait_for_subscribers(EVENT_TOPIC, members, group="bench", timeout=deadline)
            emit(ready=True)
            if await _order(deadline) != "go":
                return
            cpu0, thread0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
            publish = node.publish
            if shards:
                for i in range(n):
                    await publish(topics[i % shards], PAYLOAD)
            else:
                for _ in range(n):
                    await publish(EVENT_TOPIC, PAYLOAD)
            emit(sent=n, seconds=time.perf_counter() - t0)
            end = time.monotonic() + deadline
            while time.monotonic() < end:
                stats = node.group_statistics()
                if stats.in_flight == 0 and stats.waiting == 0:
                    break
                await asyncio.sleep(0.01)
            emit(drained=True)
            await _order(deadline)  # "quit"
            emit(result=usage(cpu0, thread0))

    asyncio.run(main())


def zbus_member(mesh: str, deadline: float = 60, shard: int | None = None, expect: int = 0) -> None:
    """A member of queue group ``bench`` with a handler that reads each payload (acknowledged when
    it returns); on ``quit`` reports its count and first/last receive times.

    ``shard``: a plain subscriber of ``<topic>.<shard>`` instead (the floor of :func:`zbus_group_pub`);
    on ``quit`` it first waits (bounded) until it has ``expect`` events, as nothing acknowledges them."""

    async def main() -> None:
        async with zbus.Node("bench-member", config=_config(mesh)) as node:
            state = {"got": 0, "first": 0.0, "last": 0.0, "cpu_first": 0.0}
            mono = time.monotonic
            got_all = asyncio.Event()

            def handle(event: zbus.Event) -> None:
                now = mono()
                event.payload["order_id"]
                if state["got"] == 0:
                    state["first"], state["cpu_first"] = now, time.process_time()
                state["last"] = now
                state["got"] += 1
                if state["got"] >= expect:
                    got_all.set()

            if shard is None:
                await node.subscribe(EVENT_TOPIC, handler=handle, group="bench")
            else:
                await node.subscribe(
                    f"{EVENT_TOPIC}.{shard}", handler=handle, max_size=max(expect + 10, 1000)
                )
            emit(ready=True)
            cpu0, thread0 = time.process_time(), time.thread_time()
            await _order(deadline)  # "quit": the publisher has every ack (or has sent everything)
            if shard is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(got_all.wait(), deadline)
            busy = time.process_time() - state["cpu_first"] if state["got"] else 0.0
            emit(result={**state, "busy_cpu_s": busy, **usage(cpu0, thread0)})

    asyncio.run(main())


ROLES: dict[str, Callable[..., Any]] = {
    "zbus_pub": zbus_pub,
    "zbus_sub": zbus_sub,
    "zbus_echo": zbus_echo,
    "zbus_client": zbus_client,
    "zbus_replay": zbus_replay,
    "journal_writer": journal_writer,
    "recover": recover,
    "idle": idle,
    "join": join,
    "zbus_group_pub": zbus_group_pub,
    "zbus_member": zbus_member,
}
