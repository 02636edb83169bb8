"""A zbus node that runs out of file descriptors on purpose (driven by test_hostile_discovery.py).

Usage: python starved_node.py MESH SPARE
Starts a node (local scope, fast heartbeats), waits for one peer, then lowers its own soft
RLIMIT_NOFILE to the descriptors open now + SPARE, so greeting more endpoints fails with EMFILE.
Prints "ready <fds open>" once limited, then every 0.1 s one JSON line:
{"peers": [names], "failures": {...}, "dropped": {...}}. Exits on stdin EOF or SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sys

import zbus


async def main() -> None:
    mesh, spare = sys.argv[1], int(sys.argv[2])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.readline() else None)
    config = {"discovery": {"heartbeat_interval": 0.2, "peer_timeout": 2}}
    async with zbus.Node("starved", mesh=mesh, config=config) as node:
        await node.wait_for_peers(1, timeout=20)
        open_now = len(os.listdir("/proc/self/fd"))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + spare, hard))
        print(f"ready {open_now}", flush=True)
        while not stop.is_set():
            stats = node.statistics()
            line = {"peers": sorted(p.name for p in node.peers), "failures": stats.failures}
            print(json.dumps({**line, "dropped": stats.dropped}), flush=True)
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                pass


if __name__ == "__main__":
    asyncio.run(main())
