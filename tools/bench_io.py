"""What every ``zbus bench`` worker shares: the benchmark event, pacing, usage numbers and the
harness's line protocol (one JSON object per stdout line out, orders as lines on stdin in).

Imported by the raw and the zbus workers alike (neither imports the other, and this imports no zbus).
"""

from __future__ import annotations

import json
import os
import resource
import select
import sys
import time
from collections.abc import Callable
from typing import Any

import msgpack

__all__ = ["EVENT_TOPIC", "PACE_SLACK", "PAYLOAD", "emit", "latency_summary", "usage", "wait_order"]

#: ``--topic`` (the harness passes it as ``ZBUS_BENCH_TOPIC``; checked by ``zbus bench`` before)
EVENT_TOPIC = os.environ.get("ZBUS_BENCH_TOPIC") or "order.placed"
#: ``--size`` limits, in bytes of msgpack payload: the smallest order that still has its ``order_id``,
#: and the largest whose event fits ``transport.max_message_size``'s default of 1 MiB with its header
MIN_SIZE, MAX_SIZE = 32, 1_000_000
#: fixed-rate publishers sleep only when more than this ahead of schedule (sleeps shorter than
#: about a millisecond overshoot); behind schedule they send at once
PACE_SLACK = 0.001
#: the benchmark payload: with zbus's header the event is ~270 bytes on the wire, as in issue 6
PAYLOAD: dict[str, Any] = {
    "order_id": 4711,
    "customer": "c-1234",
    "total": 99.95,
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-22", "qty": 1}],
    "currency": "EUR",
    "note": "deliver to the back door, ring twice, keep it upright",
}


def sized_payload(size: int) -> dict[str, Any]:
    """An order whose msgpack encoding is ``size`` bytes (``--size``): ``order_id`` plus padding."""
    base: dict[str, Any] = {"order_id": 4711, "pad": ""}
    pad = max(0, size - len(msgpack.packb(base)))
    while pad and len(msgpack.packb({**base, "pad": "x" * pad})) > size:
        pad -= 1  # the string's length prefix grows with it
    return {**base, "pad": "x" * pad}


if os.environ.get("ZBUS_BENCH_SIZE"):
    PAYLOAD = sized_payload(int(os.environ["ZBUS_BENCH_SIZE"]))


def emit(**fields: Any) -> None:
    """Send one message to the harness (one JSON line on stdout)."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def wait_order(timeout: float, *, poll: Callable[[], object] | None = None) -> str:
    """Return the next order line from the harness ("go", "quit"); "" on timeout or EOF.

    ``poll`` is called about every 5 ms while waiting (a raw publisher sends warm-up messages there).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sys.stdin], [], [], 0.005 if poll else 0.2)
        if ready:
            return sys.stdin.readline().strip()
        if poll is not None:
            poll()
    return ""


def usage(cpu_start: float, thread_start: float | None = None) -> dict[str, float]:
    """CPU seconds used since ``cpu_start`` (``time.process_time()``) and peak RSS in MB; with
    ``thread_start`` (``time.thread_time()``), also the calling thread's own CPU since then (the rest
    of the process's is its other threads': libzmq's I/O thread, a journal writer). Also its context
    switches since it started (a bench worker is started for one run)."""
    rusage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "cpu_s": time.process_time() - cpu_start,
        "rss_peak_mb": rusage.ru_maxrss / 1024,
        # every thread's context switches since the process started, waits and preemptions together
        "context_switches": rusage.ru_nvcsw + rusage.ru_nivcsw,
    }
    if thread_start is not None:
        out["thread_cpu_s"] = time.thread_time() - thread_start
    return out


def percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of an already sorted list (nearest rank); NaN when empty."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/p99.9/max of latencies given in seconds, reported in milliseconds."""
    ordered = sorted(seconds)
    out = {
        f"p{name}": percentile(ordered, q) * 1000
        for name, q in (("50", 0.50), ("95", 0.95), ("99", 0.99), ("99.9", 0.999))
    }
    out["max"] = (ordered[-1] if ordered else float("nan")) * 1000
    out["samples"] = len(ordered)
    return out


def paced(n: int, rate: float | None) -> Callable[[int], float]:
    """For fixed-rate scenarios: ``delay(i)`` = seconds to wait before sending event ``i`` (≤ 0: send now)."""
    if not rate:
        return lambda i: 0.0
    start = time.monotonic()
    return lambda i: start + i / rate - time.monotonic()
