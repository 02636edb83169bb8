"""A zbus node (default settings, real ZeroMQ) that publishes while raw SUBs connect to its XPUB and
close again, over and over: tests/integration/test_hwm_churn.py runs it in its own process, so that a
crash in libzmq's I/O thread shows as the process's exit status. Prints one JSON line at the end.

argv: seconds"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import threading
import time

import zmq

import zbus

PAYLOADS = [{"pad": "x" * 100}, {"pad": "x" * 100_000}]  # larger than a batch, and small ones


def churn(endpoint: str, stop: threading.Event, counts: list[int]) -> None:
    """SUBs that connect, subscribe and close after 0-3 ms, until ``stop`` (bounded by the caller)."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        while not stop.is_set():
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.SUBSCRIBE, b"churn.")
            sub.connect(endpoint)
            time.sleep(random.random() * 0.003)
            sub.close(linger=0)
            counts[0] += 1
    finally:
        ctx.destroy(linger=0)


async def main(seconds: float) -> None:
    async with zbus.Node("churned", mesh=f"churn-{time.time_ns()}") as node:
        stop, counts = threading.Event(), [0]
        threads = [
            threading.Thread(target=churn, args=(node.endpoints["pub"], stop, counts)) for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        published, end = 0, time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                await node.publish("churn.tick", PAYLOADS[published % 50 == 0])
                published += 1
                if published % 64 == 0:
                    await asyncio.sleep(0)  # let the node's loop run (heartbeats, monitors)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
        print(json.dumps({"published": published, "connections": counts[0]}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
