"""One side of a large-event flood, in its own process, for the memory-bound test (test_flood_memory.py).

Usage: python flood_proc.py pub MESH SIZE SECONDS   wait for a subscriber, publish SIZE-byte events on
                                                  "flood.big" as fast as publish() allows for SECONDS,
                                                  then print {"sent", "rss_start_mb", "rss_peak_mb"}
                                                  and stay up
       python flood_proc.py stuck MESH SIZE SECONDS  print "ready PUB-ENDPOINT", publish at once for
                                                  SECONDS (to a raw SUB that stops reading), then as "pub"
       python flood_proc.py sub MESH DELAY_MS        a handler that takes DELAY_MS per event; on a line on
                                                  stdin prints {"handled", "dropped", "rss_start_mb",
                                                  "rss_peak_mb", "queued"}
Both print "ready" once started and exit on stdin EOF. Peak RSS comes from getrusage (kernel-kept).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import zbus


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def main() -> None:
    role, mesh = sys.argv[1:3]
    config = {"discovery": {"heartbeat_interval": 0.2, "peer_timeout": 5}}
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(sys.stdin.fileno(), lambda: lines.put_nowait(sys.stdin.readline()))
    async with zbus.Node(f"flood-{role}", mesh=mesh, config=config) as node:
        start_mb = rss_peak_mb()  # the node started, nothing sent: what the bounds come on top of
        if role == "stuck":  # publish to whoever subscribes, without waiting (a stuck raw SUB)
            size, seconds = int(sys.argv[3]), float(sys.argv[4])
            print("ready", node.endpoints["pub"], flush=True)
            payload, sent = b"x" * size, 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await node.publish("flood.big", payload)
                sent += 1
                if sent % 64 == 0:
                    await asyncio.sleep(0)
            print(
                json.dumps({"sent": sent, "rss_start_mb": start_mb, "rss_peak_mb": rss_peak_mb()}), flush=True
            )
            while await lines.get():
                pass
        elif role == "pub":
            size, seconds = int(sys.argv[3]), float(sys.argv[4])
            print("ready", flush=True)
            await node.wait_for_subscribers("flood.big", timeout=20)
            payload = b"x" * size
            sent = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await node.publish("flood.big", payload)
                sent += 1
                if sent % 64 == 0:
                    await asyncio.sleep(0)  # (publish may never suspend: let the node's own work run)
            print(
                json.dumps({"sent": sent, "rss_start_mb": start_mb, "rss_peak_mb": rss_peak_mb()}), flush=True
            )
            while await lines.get():
                pass
        else:
            delay = int(sys.argv[3]) / 1000
            handled = 0

            async def slow(event: zbus.Event) -> None:
                nonlocal handled
                await asyncio.sleep(delay)
                handled += 1

            sub = await node.subscribe("flood.*", handler=slow)
            print("ready", flush=True)
            while await lines.get():
                stats = node.statistics()
                report = {
                    "handled": handled,
                    "dropped": sum(stats.dropped.values()),
                    "queued": sub.statistics().queued,
                    "rss_start_mb": start_mb,
                    "rss_peak_mb": rss_peak_mb(),
                }
                print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
