"""Publish five greetings as soon as a subscriber is listening.

.venv/bin/python examples/simple_publisher.py
"""

import asyncio

import zbus


async def main() -> None:
    async with zbus.Node("publisher") as node:
        print("publisher: waiting for a subscriber of greeting.hello ...", flush=True)
        await node.wait_for_subscribers("greeting.hello", timeout=60)
        for i in range(5):
            await node.publish("greeting.hello", {"n": i, "text": "hello from zbus"})
        print("publisher: sent 5 greetings", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
