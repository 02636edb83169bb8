"""The raw baselines of ``zbus bench``: plain pyzmq + msgpack (and plain LMDB), no zbus on the path.

Each role runs in its own process (see :mod:`.bench_worker`). The raw event is the same event as
zbus's: the same payload plus id, type, source, node id, sequence, timestamp and priority, msgpack
encoded as one map behind a topic frame. PUB and SUB have unlimited high-water marks, so the
baseline is lossless like zbus with ``slow_subscriber = "block"``.

This module (with the harness's worker entry point) is the one place in ``tools/`` allowed to import
zmq and lmdb: a baseline must not go through zbus (tests/unit/test_layers.py names it).
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from typing import Any

import lmdb
import msgpack
import zmq

from .bench_io import EVENT_TOPIC, PACE_SLACK, PAYLOAD, emit, latency_summary, paced, usage, wait_order

WARMUP = b"warmup"


def _event(i: int, ts: float) -> bytes:
    return msgpack.packb(  # type: ignore[no-any-return]
        {
            "id": f"0123456789abcdef-{i:x}",
            "type": EVENT_TOPIC,
            "source": "bench-pub",
            "node_id": "0123456789abcdef",
            "seq": i,
            "ts": ts,
            "priority": 5,
            "payload": PAYLOAD,
        }
    )


def event_bytes() -> int:
    """Size of one raw event on the wire (topic + body)."""
    return len(EVENT_TOPIC) + len(_event(1, time.time()))


def _bind(sock: zmq.Socket[bytes], endpoint: str) -> str:
    sock.bind(endpoint)
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


def raw_pub(endpoint: str, n: int, rate: float | None = None, deadline: float = 60) -> None:
    """Bind a PUB, send warm-ups until ``go``, then ``n`` events (paced at ``rate``/s if given)."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    emit(ready=True, endpoint=_bind(pub, endpoint))
    topic = EVENT_TOPIC.encode()
    if wait_order(deadline, poll=lambda: pub.send_multipart([WARMUP, b""])) != "go":
        return
    cpu0, t0, started_at = time.process_time(), time.perf_counter(), time.time()
    delay = paced(n, rate)
    now = time.time
    for i in range(n):
        if rate and (d := delay(i)) > PACE_SLACK:
            time.sleep(d)
        pub.send_multipart([topic, _event(i, now())])
    emit(sent=n, seconds=time.perf_counter() - t0, started_at=started_at)
    wait_order(deadline)  # "quit": the subscribers have everything
    emit(result=usage(cpu0))
    ctx.destroy(linger=0)


def raw_sub(endpoint: str, n: int, latency: bool = False, deadline: float = 60) -> None:
    """Connect a SUB, report ``ready`` at the first warm-up, then receive ``n`` events and decode each."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, EVENT_TOPIC.encode())
    sub.setsockopt(zmq.SUBSCRIBE, WARMUP)
    sub.connect(endpoint)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if sub.poll(100) and sub.recv_multipart()[0] == WARMUP:
            break
    emit(ready=True)
    cpu0 = time.process_time()
    got, first, last = 0, 0.0, 0.0
    lat: list[float] = []
    monotonic, wall = time.monotonic, time.time
    while got < n and monotonic() < end:
        if not sub.poll(200):
            continue
        while got < n:
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if frames[0] == WARMUP:
                continue
            event = msgpack.unpackb(frames[1])
            now = wall()
            event["payload"]["order_id"]
            if latency:
                lat.append(now - event["ts"])
            if got == 0:
                first = now
            last = now
            got += 1
    result: dict[str, Any] = {"got": got, "seconds": last - first, "last_at": last, **usage(cpu0)}
    if latency:
        result["latency_ms"] = latency_summary(lat)
    emit(result=result)
    ctx.destroy(linger=0)


def raw_echo(endpoint: str, deadline: float = 60) -> None:
    """A ROUTER that answers every request with the same event shape (the raw responder)."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    emit(ready=True, endpoint=_bind(router, endpoint))
    cpu0 = time.process_time()
    end = time.monotonic() + deadline
    i = 0
    while time.monotonic() < end:
        if router.poll(200):
            ident, body = router.recv_multipart()
            request = msgpack.unpackb(body)
            i += 1
            reply = msgpack.unpackb(_event(i, time.time()))
            reply["payload"] = {"result": request["payload"]["x"] + 1}
            router.send_multipart([ident, msgpack.packb(reply)])
            if request["payload"]["x"] < 0:
                break
    emit(result=usage(cpu0))
    ctx.destroy(linger=0)


def raw_client(endpoint: str, n: int, warmup: int = 50, deadline: float = 60) -> None:
    """A DEALER doing ``n`` sequential round trips (after ``warmup``); reports latency percentiles."""
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(endpoint)
    times: list[float] = []
    cpu0 = time.process_time()
    end = time.monotonic() + deadline
    for i in range(n + warmup):
        if time.monotonic() > end:
            break
        t0 = time.perf_counter()
        request = msgpack.unpackb(_event(i, time.time()))
        request["payload"] = {"x": i}
        dealer.send(msgpack.packb(request))
        if not dealer.poll(10_000):
            break
        msgpack.unpackb(dealer.recv())["payload"]["result"]
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    stop = msgpack.unpackb(_event(0, time.time()))
    stop["payload"] = {"x": -1}
    dealer.send(msgpack.packb(stop))
    emit(result={"latency_ms": latency_summary(times), "got": len(times), **usage(cpu0)})
    ctx.destroy(linger=100)


def raw_scan(path: str) -> tuple[int, float]:
    """Read every journaled event with plain LMDB + msgpack (frames, header and payload decoded),
    checking each record's CRC-32 as the journal's reader does (the envelope: 7 bytes + ext, then
    the msgpack body; see store/envelope.py).

    Returns:
        (events read, seconds).
    """
    env = lmdb.open(path, readonly=True, lock=False, max_dbs=16, subdir=True)
    try:
        db = env.open_db(b"events", create=False)
        t0 = time.perf_counter()
        count = 0
        with env.begin(db=db, buffers=False) as txn:
            for key, value in txn.cursor():
                zlib.crc32(value, zlib.crc32(key))
                frames = msgpack.unpackb(value[7 + value[2] :] if value[0] == 0xC1 else value)
                msgpack.unpackb(frames[1])
                msgpack.unpackb(frames[2])
                count += 1
        return count, time.perf_counter() - t0
    finally:
        env.close()


def raw_replay(path: str) -> None:
    """Role: :func:`raw_scan` of the journal at ``path``."""
    count, seconds = raw_scan(path)
    emit(result={"events": count, "seconds": seconds, "pid": os.getpid()})


#: the roles a worker process can run (``python -m zbus.tools.bench_worker ROLE``)


def raw_push(endpoint: str, n: int, workers: int, deadline: float = 60) -> None:
    """Bind a PUSH (the raw work queue: round robin, no acks), wait until ``workers`` PULLs
    connected (socket monitor), then send ``n`` events on ``go``."""
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 0)
    monitor = push.get_monitor_socket(zmq.EVENT_ACCEPTED)
    bound = _bind(push, endpoint)
    emit(bound=bound)
    accepted, end = 0, time.monotonic() + deadline
    while accepted < workers and time.monotonic() < end:
        if monitor.poll(200):
            monitor.recv_multipart()
            accepted += 1
    emit(ready=True)
    if wait_order(deadline) != "go":
        return
    cpu0, thread0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    topic, now = EVENT_TOPIC.encode(), time.time
    for i in range(n):
        push.send_multipart([topic, _event(i, now())])
    emit(sent=n, seconds=time.perf_counter() - t0)
    wait_order(deadline)
    emit(result=usage(cpu0, thread0))
    push.disable_monitor()
    ctx.destroy(linger=0)


def drain_until_quiet(take: Callable[[], bool], deadline: float, quiet: float = 0.3) -> None:
    """After ``quit``: call ``take`` (True when it took something) until ``quiet`` s pass without one."""
    end, idle_since = time.monotonic() + deadline, time.monotonic()
    while time.monotonic() < end and time.monotonic() - idle_since < quiet:
        if take():
            idle_since = time.monotonic()
        else:
            time.sleep(0.005)


def raw_pull(endpoint: str, deadline: float = 60) -> None:
    """Connect a PULL and decode what arrives until ``quit`` (then drain); report count and times."""
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 0)
    pull.connect(endpoint)
    emit(ready=True)
    cpu0, thread0 = time.process_time(), time.thread_time()
    state = {"got": 0, "first": 0.0, "last": 0.0, "cpu_first": 0.0}
    monotonic = time.monotonic

    def take() -> bool:
        try:
            frames = pull.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return False
        msgpack.unpackb(frames[1])["payload"]["order_id"]
        now = monotonic()
        if state["got"] == 0:
            state["first"], state["cpu_first"] = now, time.process_time()
        state["last"] = now
        state["got"] += 1
        return True

    def burst() -> None:
        while take():
            pass

    wait_order(deadline, poll=burst)  # "quit"
    drain_until_quiet(take, deadline)
    busy = time.process_time() - state["cpu_first"] if state["got"] else 0.0
    emit(result={"got": state["got"], "first": state["first"], "last": state["last"], "busy_cpu_s": busy,
                 **usage(cpu0, thread0)})  # fmt: skip
    ctx.destroy(linger=0)


ROLES: dict[str, Callable[..., Any]] = {
    "raw_pub": raw_pub,
    "raw_sub": raw_sub,
    "raw_echo": raw_echo,
    "raw_client": raw_client,
    "raw_replay": raw_replay,
    "raw_push": raw_push,
    "raw_pull": raw_pull,
}
