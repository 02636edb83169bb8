"""A zbus node in its own process, driven by the integration tests.

Usage: python peer_proc.py ROLE MESH NAME [ARG]
  sub PATTERN       print every event as a JSON line {"type", "payload", "seq", "source"}
  pub TOPIC N       wait for one subscriber, publish N events {"i": k}, print "done", stay up
  history TOPIC N   publish N events {"i": k} at once (history for replays), print "done", stay up
  stream TOPIC N R  wait for one subscriber, publish N events {"i": k} at R per second, printing
                    "sent K" every 50, then "done"; stay up
  respond TYPE      answer TYPE requests with {"echo": payload, "by": NAME}
  oneshot TOPIC N S publish N events {"i": k} right after start (no waiting for anyone), print
                    "done", stay S seconds, then close and exit (prints "closed SECONDS")
  worker PATTERN GROUP DELAY_MS CREDIT
                    a queue-group member (credit = groups.max_in_flight): print {"i", "k", "t"} for
                    each event after DELAY_MS of work; the event is acknowledged when it returns
  tasks TOPIC N GROUP KEYS
                    wait for a member of GROUP, publish N events {"i": k} (key "k<i % KEYS>" when
                    KEYS > 0), print "done", stay up (its journal, if ZBUS_PERSISTENCE__ENABLED, keeps
                    unacknowledged work across a restart)
  idle              just be a peer
Prints "ready <node id> <epoch>" once started; exits on stdin EOF or SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time

import zbus


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")  # on stderr
    role, mesh, name = sys.argv[1:4]
    arg = sys.argv[4:]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.readline() else None)
    config: dict[str, dict[str, object]] = {"discovery": {"heartbeat_interval": 0.2, "peer_timeout": 2}}
    if role == "worker":
        config["groups"] = {"max_in_flight": int(arg[3])}
    async with zbus.Node(name, mesh=mesh, config=config) as node:
        if role == "sub":

            def show(event: zbus.Event) -> None:
                line = {
                    "type": event.type,
                    "payload": event.payload,
                    "seq": event.seq,
                    "source": event.source,
                }
                print(json.dumps(line), flush=True)

            await node.subscribe(arg[0], handler=show)
        elif role == "worker":
            delay = int(arg[2]) / 1000

            async def work(event: zbus.Event) -> None:
                if delay:
                    await asyncio.sleep(delay)
                line = {"i": event.payload["i"], "k": event.key, "t": time.time()}
                print(json.dumps(line), flush=True)  # before the ack: every acked task is printed

            await node.subscribe(arg[0], handler=work, group=arg[1])
        elif role == "respond":
            node.respond(arg[0])(lambda e: {"echo": e.payload, "by": name})
        print(f"ready {node.id} {node.epoch}", flush=True)
        if role == "oneshot":
            for i in range(int(arg[1])):
                await node.publish(arg[0], {"i": i})
            print("done", flush=True)
            await asyncio.sleep(float(arg[2]))
            t0 = loop.time()
            await node.close()
            print(f"closed {loop.time() - t0:.3f}", flush=True)
            return
        if role == "pub":
            await node.wait_for_subscribers(arg[0], timeout=20)
            for i in range(int(arg[1])):
                await node.publish(arg[0], {"i": i})
            print("done", flush=True)
        elif role == "stream":
            await node.wait_for_subscribers(arg[0], timeout=20)
            start, rate = loop.time(), float(arg[2])
            for i in range(int(arg[1])):
                await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
                await node.publish(arg[0], {"i": i})
                if (i + 1) % 50 == 0:
                    print(f"sent {i + 1}", flush=True)
            print("done", flush=True)
        elif role == "tasks":
            count, keys = int(arg[1]), int(arg[3])
            if count:
                await node.wait_for_subscribers(arg[0], group=arg[2], timeout=20)
            for i in range(count):
                await node.publish(arg[0], {"i": i}, key=f"k{i % keys}" if keys else None)
            print("done", flush=True)
        elif role == "history":
            for i in range(int(arg[1])):
                await node.publish(arg[0], {"i": i})
            print("done", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
