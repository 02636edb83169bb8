"""A zbus node in a lab host (network namespace), driven by the lab tests through stdin and stdout.

Usage: ip netns exec HOST python lab_node.py NAME [PATTERN ...]

Configuration comes from the environment only (``ZBUS_MESH__NAME``, ``ZBUS_DISCOVERY__SCOPE``, ...),
exactly as a deployed node would get it. The node subscribes to every PATTERN given.

Prints one line per fact, flushed at once:
  ready <node id> <pub endpoint> <router endpoint>
  peers <name>,<name>,...     whenever the set of peer names changes ("peers -" when empty)
  event {"type", "payload", "source"}   for each event received
  subs <topic> <count>        answer to "subs"
  published <topic> <count>   answer to "pub"
  stats {"dropped", "by_peer", "failures", "lost", "peers"}   answer to "stats" (Node.statistics())
  asked <request id>          LAB_RESPOND=TYPE: a request of TYPE arrived (answered, the payload's
                              sum, after LAB_RESPOND_DELAY seconds)
  reply <source> <payload>    answer to "req"
  error <message>             a command failed (the node keeps running)
Commands, one per stdin line:
  subs TOPIC COUNT TIMEOUT    wait until COUNT peers subscribe to TOPIC
  pub TOPIC COUNT             publish COUNT events {"i": k, "from": NAME}
  stats                       print the node's drop counters, per reason and per peer
  req TYPE TIMEOUT            request TYPE with payload [1, 2, 3] (waits for a responder first)
Exits on SIGTERM, SIGINT or stdin EOF (closing the node: BYE and mDNS goodbye).

Long faults are compressed in time through configuration alone, e.g. ``ZBUS_DISCOVERY__HELLO_TIMEOUT=0.5``
``ZBUS_DISCOVERY__REGREET_BASE=0.5`` ``ZBUS_DISCOVERY__REGREET_CAP=1``: no module constant is patched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys

import zbus

PEER_POLL = 0.05  # seconds between looks at the peer table


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def watch_peers(node: zbus.Node, stop: asyncio.Event) -> None:
    last: list[str] | None = None
    while not stop.is_set():
        names = sorted(p.name for p in node.peers)
        if names != last:
            say("peers " + (",".join(names) or "-"))
            last = names
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PEER_POLL):
                await stop.wait()


async def command(node: zbus.Node, name: str, words: list[str]) -> None:
    try:
        if words[0] == "subs" and len(words) == 4:
            n = await node.wait_for_subscribers(words[1], int(words[2]), timeout=float(words[3]))
            say(f"subs {words[1]} {n}")
        elif words[0] == "pub" and len(words) == 3:
            for i in range(int(words[2])):
                await node.publish(words[1], {"i": i, "from": name})
            say(f"published {words[1]} {words[2]}")
        elif words[0] == "stats" and len(words) == 1:
            st = node.statistics()
            doc = {
                "dropped": st.dropped,
                "by_peer": st.dropped_by_peer,
                "failures": st.failures,
                "lost": st.lost,
            }
            say("stats " + json.dumps(doc | {"peers": sorted(p.name for p in node.peers)}))
        elif words[0] == "req" and len(words) == 3:
            await node.wait_for_responders(words[1], timeout=float(words[2]))
            answer = await node.request(words[1], [1, 2, 3], timeout=float(words[2]))
            say(f"reply {answer.source} {json.dumps(answer.payload)}")
        else:
            say(f"error unknown command {' '.join(words)!r}")
    except Exception as exc:  # report, keep running: the test decides
        say(f"error {type(exc).__name__}: {exc}".replace("\n", " "))


async def main() -> None:
    name, patterns = sys.argv[1], sys.argv[2:]
    logging.basicConfig(  # zbus's own log on stderr, kept by the test for failure messages
        level=os.environ.get("LAB_LOG_LEVEL", "INFO").upper(),
        stream=sys.stderr,
        format=f"%(relativeCreated)8.0f ms {name} %(name)s %(levelname)s %(message)s",
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    buffer = bytearray()

    def on_stdin() -> None:
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:
            loop.remove_reader(sys.stdin.fileno())
            lines.put_nowait(None)
            return
        buffer.extend(chunk)
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            lines.put_nowait(line.decode())

    loop.add_reader(sys.stdin.fileno(), on_stdin)

    def show(event: zbus.Event) -> None:
        say("event " + json.dumps({"type": event.type, "payload": event.payload, "source": event.source}))

    async with zbus.Node(name) as node:
        for pattern in patterns:
            await node.subscribe(pattern, handler=show)
        if respond := os.environ.get("LAB_RESPOND"):
            delay = float(os.environ.get("LAB_RESPOND_DELAY", "0"))

            async def answer(event: zbus.Event) -> int:
                say(f"asked {event.id}")
                await asyncio.sleep(delay)  # (the lab's REPLY-forgery row answers late on purpose)
                return sum(event.payload)

            node.respond(respond)(answer)
        ends = node.endpoints
        ends = ends() if callable(ends) else ends  # a method in older zbus, a property now
        say(f"ready {node.id} {ends.get('pub', '-')} {ends.get('router', '-')}")
        tasks = {loop.create_task(watch_peers(node, stop))}

        async def read_commands() -> None:
            while (line := await lines.get()) is not None:
                if line.split():
                    task = loop.create_task(command(node, name, line.split()))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            stop.set()

        reader = loop.create_task(read_commands())
        await stop.wait()
        reader.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(reader, *tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
