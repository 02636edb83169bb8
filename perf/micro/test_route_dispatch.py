"""Per-event costs of routing and dispatch (pytest-benchmark): the receive path after decoding.

``route`` is the subscription registry's offer to matching ones (topic index + filter + backlog push);
``dispatch`` adds popping the backlog in priority order and calling a plain handler, as the
dispatcher's inline path does. The baseline is a plain ``deque`` append/popleft of the same event.
"""

from __future__ import annotations

from collections import deque

import pytest

from zbus import Event
from zbus.codec import wire
from zbus.delivery.backlog import Overflow, PriorityBuffer
from zbus.delivery.routing import Subscriptions
from zbus.delivery.subscription import Subscription
from zbus.model.topics import compile_pattern

PAYLOAD = {"order_id": 4711, "customer": "c-1234", "total": 99.95, "items": [{"sku": "A-1", "qty": 2}]}
EVENT = wire.decode(wire.encode(Event("order.placed", PAYLOAD, source="shop"), node_id="n", seq=1, epoch=1))


def _router(with_filter: bool) -> tuple[Subscriptions, Subscription]:
    router = Subscriptions()
    for i in range(10):  # other subscriptions the index must skip
        router.add(Subscription([compile_pattern(f"svc{i}.*")], handler=None, filter=None, max_size=10,
                                overflow="drop_oldest"))  # fmt: skip
    sub = Subscription([compile_pattern("order.*")], handler=None,
                       filter={"priority": {"$gte": 5}} if with_filter else None, max_size=10**9,
                       overflow=Overflow.DROP_OLDEST)  # fmt: skip
    router.add(sub)
    return router, sub


@pytest.mark.parametrize("with_filter", [False, True], ids=["plain", "filtered"])
def test_route_one_event(benchmark: pytest.FixtureRequest, with_filter: bool) -> None:
    router, sub = _router(with_filter)

    def route() -> None:
        router.route_eager(EVENT)
        sub._buffer.pop()

    benchmark(route)


def test_dispatch_pop_and_call(benchmark: pytest.FixtureRequest) -> None:
    buffer: PriorityBuffer[Event] = PriorityBuffer(10**9)
    calls = []
    handler = calls.append

    def dispatch() -> None:
        buffer.push(EVENT, EVENT.priority)
        handler(buffer.pop())
        calls.clear()

    benchmark(dispatch)


def test_baseline_deque(benchmark: pytest.FixtureRequest) -> None:
    queue: deque[Event] = deque()
    calls = []
    handler = calls.append

    def dispatch() -> None:
        queue.append(EVENT)
        handler(queue.popleft())
        calls.clear()

    benchmark(dispatch)
