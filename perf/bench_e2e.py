"""End-to-end numbers, each beside a raw pyzmq + msgpack baseline measured in the same run.

    .venv/bin/python perf/bench_e2e.py            # table
    .venv/bin/python perf/bench_e2e.py --json     # one JSON object
    .venv/bin/python perf/bench_e2e.py --quick    # small counts (what the test suite runs)

Scenarios (publisher and subscriber in separate processes, loopback only, lossless):
- pub→handler 1→1 throughput: zbus Node.publish → subscriber handler, vs raw PUB/SUB with the
  same event dict msgpack-encoded (unlimited HWM, so neither side drops).
- request/reply round trip: zbus request/respond, vs raw DEALER → ROUTER echo; p50/p99.
- join: two nodes on local scope, from start() to both seeing each other.
Every loop is bounded in count and time; every child is ours and is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

import msgpack
import zmq

import zbus

EVENT = {"order_id": 4711, "customer": "c-1234", "total": 99.95, "items": [{"sku": "A-1", "qty": 2}]}
LOSSLESS = {"transport": {"slow_subscriber": "block"}}


# -- raw baselines (children) --------------------------------------------------------------------
def raw_sub(endpoint: str, n: int, out: Any) -> None:
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    got, first = 0, 0.0
    deadline = time.monotonic() + 120
    while got < n and time.monotonic() < deadline:
        if not sub.poll(1000):
            continue
        frames = sub.recv_multipart()
        if frames[0] == b"warmup":
            out.put("ready") if got == 0 and first == 0.0 else None
            first = -1.0
            continue
        msgpack.unpackb(frames[1])
        if got == 0:
            first = time.perf_counter()
        got += 1
    out.put((got, time.perf_counter() - first))
    ctx.destroy(linger=0)


def raw_echo(endpoint: str, stop_after: float) -> None:
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.connect(endpoint)
    deadline = time.monotonic() + stop_after
    while time.monotonic() < deadline:
        if router.poll(200):
            ident, body = router.recv_multipart()
            request = msgpack.unpackb(body)
            router.send_multipart([ident, msgpack.packb({"result": request["x"] + 1})])
    ctx.destroy(linger=0)


def raw_throughput(n: int) -> float:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    out: Any = mp.Queue()
    child = mp.Process(target=raw_sub, args=(f"tcp://127.0.0.1:{port}", n, out))
    child.start()
    try:
        deadline = time.monotonic() + 20
        ready = False
        while not ready and time.monotonic() < deadline:  # slow joiner: announce until heard
            pub.send_multipart([b"warmup", b""])
            try:
                ready = out.get(timeout=0.05) == "ready"
            except Exception:
                continue
        for i in range(n):
            event = dict(EVENT, seq=i, type="order.placed", id=f"x-{i}", ts=time.time(), priority=5)
            pub.send_multipart([b"order.placed", msgpack.packb(event)])
        got, elapsed = out.get(timeout=120)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
        ctx.destroy(linger=0)
    return got / elapsed if got == n else 0.0


def raw_rtt(n: int) -> list[float]:
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    port = dealer.bind_to_random_port("tcp://127.0.0.1")
    child = mp.Process(target=raw_echo, args=(f"tcp://127.0.0.1:{port}", 60.0))
    child.start()
    times: list[float] = []
    try:
        for i in range(n + 50):
            t0 = time.perf_counter()
            dealer.send(msgpack.packb({"x": i}))
            if not dealer.poll(10_000):
                break
            dealer.recv()
            if i >= 50:  # warm-up excluded
                times.append(time.perf_counter() - t0)
    finally:
        child.kill()
        child.join(5)
        ctx.destroy(linger=0)
    return times


# -- zbus (children) ------------------------------------------------------------------------------
def zbus_sub(mesh: str, n: int, out: Any) -> None:
    async def main() -> None:
        async with zbus.Node("bench-sub", mesh=mesh, config=LOSSLESS) as node:
            done = asyncio.Event()
            state = {"got": 0, "first": 0.0}

            def handle(event: zbus.Event) -> None:
                if state["got"] == 0:
                    state["first"] = time.perf_counter()
                event.payload  # noqa: B018  (decode it, as a real handler would)
                state["got"] += 1
                if state["got"] == n:
                    done.set()

            await node.subscribe("order.*", handler=handle, max_size=n + 10)
            out.put("ready")
            try:
                await asyncio.wait_for(done.wait(), 120)
            except TimeoutError:
                pass
            out.put((state["got"], time.perf_counter() - state["first"]))

    asyncio.run(main())


def zbus_echo(mesh: str, stop_after: float) -> None:
    async def main() -> None:
        async with zbus.Node("bench-echo", mesh=mesh) as node:
            node.respond("bench.echo")(lambda e: {"result": e.payload["x"] + 1})
            await asyncio.sleep(stop_after)  # lifetime of the child, ended early by kill()

    asyncio.run(main())


async def zbus_throughput(n: int) -> float:
    mesh = f"bench-{os.urandom(3).hex()}"
    out: Any = mp.Queue()
    child = mp.Process(target=zbus_sub, args=(mesh, n, out))
    child.start()
    try:
        async with zbus.Node("bench-pub", mesh=mesh, config=LOSSLESS) as node:
            await node.wait_for_subscribers("order.placed", timeout=20)
            for _ in range(n):
                await node.publish("order.placed", EVENT)
            got, elapsed = await asyncio.get_running_loop().run_in_executor(None, _result, out)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    return got / elapsed if got == n else 0.0


def _result(out: Any) -> Any:
    while True:
        item = out.get(timeout=120)
        if item != "ready":
            return item


async def zbus_rtt(n: int) -> list[float]:
    mesh = f"bench-{os.urandom(3).hex()}"
    child = mp.Process(target=zbus_echo, args=(mesh, 60.0))
    child.start()
    times: list[float] = []
    try:
        async with zbus.Node("bench-client", mesh=mesh) as node:
            await node.wait_for_responders("bench.echo", timeout=20)
            for i in range(n + 50):
                t0 = time.perf_counter()
                await node.request("bench.echo", {"x": i}, timeout=10)
                if i >= 50:
                    times.append(time.perf_counter() - t0)
    finally:
        child.kill()
        child.join(5)
    return times


async def join_time(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        mesh = f"bench-join-{os.urandom(3).hex()}"
        async with zbus.Node("a", mesh=mesh) as a:
            t0 = time.perf_counter()
            async with zbus.Node("b", mesh=mesh) as b:
                await a.wait_for_peers(1, timeout=10)
                await b.wait_for_peers(1, timeout=10)
                times.append(time.perf_counter() - t0)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(quick: bool) -> dict[str, Any]:
    n = 2_000 if quick else 50_000
    rtt_n = 200 if quick else 5_000
    raw_rate = raw_throughput(n)
    zbus_rate = await zbus_throughput(n)
    raw_times, zbus_times = raw_rtt(rtt_n), await zbus_rtt(rtt_n)
    joins = await join_time(3 if quick else 10)
    ms = 1000.0
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "zbus": zbus.__version__},
        "throughput_1to1": {
            "events": n,
            "raw_per_s": raw_rate,
            "zbus_per_s": zbus_rate,
            "ratio": zbus_rate / raw_rate if raw_rate else 0.0,
        },
        "request_reply_ms": {
            "requests": rtt_n,
            "raw_p50": pct(raw_times, 0.5) * ms,
            "raw_p99": pct(raw_times, 0.99) * ms,
            "zbus_p50": pct(zbus_times, 0.5) * ms,
            "zbus_p99": pct(zbus_times, 0.99) * ms,
            "ratio_p50": pct(zbus_times, 0.5) / pct(raw_times, 0.5),
            "ratio_p99": pct(zbus_times, 0.99) / pct(raw_times, 0.99),
        },
        "join_s": {"rounds": len(joins), "median": statistics.median(joins), "max": max(joins)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small counts (seconds, not minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(run(args.quick))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    t, r, j = result["throughput_1to1"], result["request_reply_ms"], result["join_s"]
    print(
        f"pub→handler 1→1   raw {t['raw_per_s']:>9,.0f}/s   zbus {t['zbus_per_s']:>9,.0f}/s   "
        f"ratio {t['ratio']:.2f}   ({t['events']} events)"
    )
    for q in ("p50", "p99"):
        raw, ours, ratio = r[f"raw_{q}"], r[f"zbus_{q}"], r[f"ratio_{q}"]
        print(f"request/reply {q} raw {raw:7.3f} ms  zbus {ours:7.3f} ms  ratio {ratio:.2f}")
    median, worst = j["median"] * 1000, j["max"] * 1000
    print(f"join (local scope) median {median:.0f} ms, max {worst:.0f} ms over {j['rounds']}")


if __name__ == "__main__":
    main()
