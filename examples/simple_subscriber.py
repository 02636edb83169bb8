"""Print every `greeting.*` event until Ctrl-C (or until --count events arrived).

Run it in one terminal, then examples/simple_publisher.py in another:
    .venv/bin/python examples/simple_subscriber.py
"""

import argparse
import asyncio

import zbus


async def main(count: int | None) -> None:
    async with zbus.Node("subscriber") as node:
        print("subscriber: waiting for greeting.* events (Ctrl-C to stop)", flush=True)
        async for event in node.stream("greeting.*"):
            print(f"{event.type} from {event.source}: {event.payload}", flush=True)
            count = None if count is None else count - 1
            if count == 0:
                break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=None, help="stop after this many events")
    try:
        asyncio.run(main(parser.parse_args().count))
    except KeyboardInterrupt:
        pass
