"""A chaos-test node in a lab host: a journaled publisher or a durable subscriber.

Usage (inside a host, configuration from ZBUS_* in the environment, persistence included):
    python chaos_node.py publish NAME TOPIC TOTAL RATE
    python chaos_node.py subscribe NAME PATTERN OUTFILE

publish: waits for one subscriber of TOPIC, then publishes events {"i": k} for k from where its
    journal left off (a restarted publisher continues: what its last run did not commit is published
    again, with the next sequence numbers; without a journal it starts at 0) up to TOTAL, at about
    RATE per second. Prints
    "ready", "start K", "progress K" every 5,000, "done TOTAL"; then keeps serving repairs.
subscribe: a durable subscription ("chaos") on PATTERN; every delivered event is appended to OUTFILE
    as "SOURCE I". Prints "ready", then "count N lost L gaps G repaired R" whenever N changed (at most
    every 0.2 s).
Exits on SIGTERM or stdin EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time

import zbus

PROGRESS_EVERY = 5_000
BURST = 50  # events per pacing step


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def eof() -> None:
        while await reader.readline():
            pass
        stop.set()

    watcher = asyncio.ensure_future(eof())
    await stop.wait()
    watcher.cancel()


async def publish(name: str, topic: str, total: int, rate: float) -> None:
    async with zbus.Node(name) as node:
        journaled = node.config.persistence.enabled
        last = [e async for e in node.replay(topic, last=1)] if journaled else []
        start = last[0].payload["i"] + 1 if last else 0
        say("ready")
        await node.wait_for_subscribers(topic, 1, timeout=60)
        say(f"start {start}")
        began = time.monotonic()
        for k in range(start, total):
            await node.publish(topic, {"i": k, "pad": "x" * 200})
            if (k + 1) % BURST == 0:
                ahead = (k + 1 - start) / rate - (time.monotonic() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)  # pacing to RATE
            if (k + 1) % PROGRESS_EVERY == 0:
                say(f"progress {k + 1}")
        say(f"done {total}")
        await until_stopped()


async def subscribe(name: str, pattern: str, outfile: str) -> None:
    with open(outfile, "a", buffering=1 << 16) as out:  # noqa: ASYNC230 (opened once, before the node)
        count = 0

        def handle(event: zbus.Event) -> None:
            nonlocal count
            out.write(f"{event.source} {event.payload['i']}\n")
            count += 1

        async with zbus.Node(name) as node:
            await node.subscribe(pattern, handler=handle, durable="chaos")
            say("ready")
            reported = -1

            async def report() -> None:
                nonlocal reported
                while True:
                    await asyncio.sleep(0.2)
                    if count != reported:
                        out.flush()
                        s = node.statistics()
                        say(f"count {count} lost {s.lost} gaps {s.gaps} repaired {s.repaired}")
                        reported = count

            reporter = asyncio.ensure_future(report())
            await until_stopped()
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        out.flush()


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    role, *args = sys.argv[1:]
    if role == "publish":
        name, topic, total, rate = args
        asyncio.run(publish(name, topic, int(total), float(rate)))
    elif role == "subscribe":
        name, pattern, outfile = args
        asyncio.run(subscribe(name, pattern, outfile))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
