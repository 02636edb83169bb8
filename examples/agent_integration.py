"""Two agents in one script: a planner asks a calculator agent for work via request/response,
and announces results as events that any other agent may subscribe to.

    .venv/bin/python examples/agent_integration.py
"""

import asyncio

import zbus


async def main() -> None:
    async with zbus.Node("calculator") as calculator, zbus.Node("planner") as planner:

        @calculator.respond("service.calculate")
        async def calculate(request: zbus.Event) -> dict[str, int]:
            return {"result": request.payload["x"] + request.payload["y"]}

        results = await planner.subscribe("plan.result")
        await planner.wait_for_responders("service.calculate", timeout=10)

        reply = await planner.request("service.calculate", {"x": 10, "y": 20}, timeout=5.0)
        print("calculator says:", reply.payload["result"])
        await planner.publish("plan.result", reply.payload, priority=zbus.Priority.HIGH)
        event = await results.next(timeout=5)
        print("announced:", event.type, event.payload, "priority", event.priority)


if __name__ == "__main__":
    asyncio.run(main())
