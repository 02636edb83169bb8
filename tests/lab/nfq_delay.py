"""Delay and drop a lab host's packets in userspace (this kernel has no sch_netem).

Run inside the host (``ip netns exec``); iptables rules send the host's lan0 traffic to NFQUEUE
``--queue``; each packet is dropped with probability ``--loss`` or released after ``--delay-ms``
(a deferred verdict). Exits by itself after ``--seconds`` (bounded), or on SIGTERM, releasing what it
holds. Prints "nfq ready" once bound. Needs the NetfilterQueue module and libnetfilter-queue.
"""

from __future__ import annotations

import argparse
import heapq
import random
import select
import signal
import socket
import sys
import time
from typing import Any

from netfilterqueue import NetfilterQueue


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queue", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--seconds", type=float, default=300.0)
    args = ap.parse_args()
    held: list[tuple[float, int, Any]] = []
    counter = 0
    stop = False

    def on_packet(packet: Any) -> None:
        nonlocal counter
        if random.random() < args.loss:
            packet.drop()
            return
        counter += 1
        heapq.heappush(held, (time.monotonic() + args.delay_ms / 1000, counter, packet))

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    queue = NetfilterQueue()
    queue.bind(args.queue, on_packet, max_len=8192)
    sock = socket.fromfd(queue.get_fd(), socket.AF_UNIX, socket.SOCK_STREAM)
    print("nfq ready", flush=True)
    end = time.monotonic() + args.seconds
    try:
        while not stop and time.monotonic() < end:
            now = time.monotonic()
            while held and held[0][0] <= now:
                heapq.heappop(held)[2].accept()
            wait = min(0.05, held[0][0] - now) if held else 0.05
            if select.select([sock], [], [], max(0.0, wait))[0]:
                queue.run(block=False)
    finally:
        for _, _, packet in held:
            packet.accept()
        queue.unbind()
        sock.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
