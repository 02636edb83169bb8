"""The agents of ``zbus demo``, each run as its own process:
``python -m zbus.tools.demo_agents ROLE NAME MESH [JOURNALS]``.

- planner: every ~0.4 s creates a task (random priority), asks a worker to compute it
  (request/response, load-balanced over the workers) and publishes the outcome. It keeps a journal
  (under JOURNALS), so subscribers that miss its events get them repaired.
- worker: answers ``work.compute`` requests; fails now and then so retries and errors show.
- auditor: a durable subscription ("audit", checkpointed in its own journal) to ``task.*``; it
  publishes a running tally. Restarted, it would resume where it left off.
They stop on SIGTERM/SIGINT or when their stdin closes (the demo parent exits).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys

import zbus


async def planner(node: zbus.Node, stop: asyncio.Event) -> None:
    await node.wait_for_peers(3, timeout=30)
    # the auditor counts every task from the first: start once its subscription is in place
    await node.wait_for_subscribers("task.created", timeout=30)
    n = 0
    while not stop.is_set():
        n += 1
        priority = random.choice([3, 5, 5, 8, 10])
        task = {"task": n, "size": random.randint(1, 9)}
        await node.publish("task.created", task, priority=priority)
        try:
            reply = await node.request("work.compute", task, timeout=2.0, priority=priority)
            await node.publish(
                "task.done", {"task": n, "result": reply.payload, "by": reply.source}, priority=priority
            )
        except zbus.RemoteError as exc:
            await node.publish("task.failed", {"task": n, "error": exc.remote_message}, priority=9)
        except (zbus.NoResponders, zbus.RequestTimeout) as exc:
            await node.publish("task.failed", {"task": n, "error": type(exc).__name__}, priority=9)
        try:
            async with asyncio.timeout(0.4):
                await stop.wait()
        except TimeoutError:
            pass


async def worker(node: zbus.Node, stop: asyncio.Event) -> None:
    @node.respond("work.compute")
    async def compute(request: zbus.Event) -> dict[str, int]:
        await asyncio.sleep(request.payload["size"] / 100)
        if random.random() < 0.1:
            raise ValueError(f"task {request.payload['task']} was too hard")
        return {"square": request.payload["size"] ** 2}

    await stop.wait()


async def auditor(node: zbus.Node, stop: asyncio.Event) -> None:
    tally = {"created": 0, "done": 0, "failed": 0}

    async def count(event: zbus.Event) -> None:
        kind = event.type.split(".")[1]
        tally[kind] = tally.get(kind, 0) + 1
        if kind != "created" and (tally["done"] + tally["failed"]) % 5 == 0:
            await node.publish("audit.tally", dict(tally), priority=2)

    durable = "audit" if node.config.persistence.enabled else None
    await node.subscribe("task.*", handler=count, durable=durable)
    await stop.wait()


ROLES = {"planner": planner, "worker": worker, "auditor": auditor}


async def main(role: str, name: str, mesh: str, journals: str = "") -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stdin = sys.stdin.fileno()
    loop.add_reader(stdin, lambda: stop.set() if not os.read(stdin, 1) else None)  # parent gone: EOF
    config: dict[str, object] = {}
    if journals and role in ("planner", "auditor"):
        config = {"persistence": {"enabled": True, "path": os.path.join(journals, name)}}
    async with zbus.Node(name, mesh=mesh, config=config) as node:
        await ROLES[role](node, stop)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
