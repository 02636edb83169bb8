"""A three-stage workflow over events: ingest → enrich → store, each stage its own node.

Every event names its cause (causation_id) and shares the order's correlation_id, so the whole
flow of one order can be traced. Priorities let urgent orders overtake a backlog.

    .venv/bin/python examples/distributed_workflow.py
"""

import asyncio

import zbus


async def main() -> None:
    async with zbus.Node("ingest") as ingest, zbus.Node("enrich") as enrich, zbus.Node("store") as store:
        stored: list[zbus.Event] = []
        done = asyncio.Event()

        @enrich.on("order.received")
        async def add_tax(event: zbus.Event) -> None:
            order = dict(event.payload, tax=round(event.payload["total"] * 0.2, 2))
            await enrich.publish(
                "order.enriched",
                order,
                priority=event.priority,
                correlation_id=event.correlation_id,
                causation_id=event.id,
            )

        @store.on("order.enriched")
        def save(event: zbus.Event) -> None:
            stored.append(event)
            if len(stored) == 3:
                done.set()

        await ingest.wait_for_subscribers("order.received", timeout=10)
        await enrich.wait_for_subscribers("order.enriched", timeout=10)
        for n, (total, priority) in enumerate([(10.0, 5), (99.0, 9), (5.0, 1)], start=1):
            await ingest.publish(
                "order.received", {"order": n, "total": total}, priority=priority, correlation_id=f"order-{n}"
            )
        await asyncio.wait_for(done.wait(), 10)
        for event in stored:
            print(f"{event.correlation_id}: {event.payload} (caused by {event.causation_id})")


if __name__ == "__main__":
    asyncio.run(main())
