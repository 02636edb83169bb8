"""The receive path of a batch message (pytest-benchmark), per 64-event batch, as a subscriber's pump
hands it on: ``Router.on_batch_eager`` (decoded in one call, one stream check, one routing decision)
against the same 64 events handed to ``Router.on_event_eager`` one by one (the per-event path every
batch took before). Both end with the events queued in a subscription's backlog; each round is a
publisher's next 64 events, so the stream check takes its fast path as it does live.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from zbus import Event
from zbus.codec import wire
from zbus.config import load_config
from zbus.delivery.routing import Subscriptions
from zbus.delivery.subscription import Subscription
from zbus.inbound.recovery import Recovery
from zbus.inbound.router import Router
from zbus.journal.history import History
from zbus.model.topics import compile_pattern

PAYLOAD = {"order_id": 4711, "customer": "c-1234", "total": 99.95, "items": [{"sku": "A-1", "qty": 2}]}
BATCH = 64
PUBLISHER = "p" * 32


class _Transport:
    """What the router may call while routing live events: nothing here sends."""

    def peers(self) -> list[Any]:
        return []


def _receiver() -> tuple[Router, Subscription]:
    subs = Subscriptions()
    recovery = Recovery(
        node_id="r" * 32,
        history=History("r" * 32, ring_size=16, persistence=None),
        transport=_Transport(),  # type: ignore[arg-type]
        config=load_config({}).repair,
        route_all=subs.route_all,
        route_one=subs.route_eager,
        has_interest=subs.has_interest,
    )
    router = Router(
        node_id="r" * 32,
        name="receiver",
        epoch=1,
        max_message_size=1 << 20,
        subscriptions=subs,
        responders={},
        transport=_Transport(),  # type: ignore[arg-type]
        recovery=recovery,
        run_handler=lambda handler, event: handler(event),
        on_peers_changed=lambda: None,
    )
    sub = Subscription(
        [compile_pattern("order.*")], handler=None, filter=None, max_size=10**6, overflow="block"
    )
    subs.add(sub)
    return router, sub


class _Publisher:
    def __init__(self) -> None:
        self.seq = 0

    def next_batch(self) -> list[bytes]:
        """The body parts of the next batch message (header, payload, header, payload, ...)."""
        parts: list[bytes] = []
        for _ in range(BATCH):
            self.seq += 1
            event = Event("order.placed", PAYLOAD, source="shop")
            _, header, payload = wire.encode(event, node_id=PUBLISHER, seq=self.seq, epoch=1)
            parts += (header, payload)
        return parts


@pytest.mark.parametrize("path", ["batch", "per_event"])
def test_receive_a_batch_of_64(benchmark: pytest.FixtureRequest, path: str) -> None:
    loop = asyncio.new_event_loop()  # a Subscription's events want a loop; nothing runs on it
    asyncio.set_event_loop(loop)
    try:
        router, sub = _receiver()
        publisher = _Publisher()

        def setup() -> tuple[tuple[list[bytes]], dict[str, Any]]:
            while sub._buffer:
                sub._buffer.pop()
            return (publisher.next_batch(),), {}

        def receive(parts: list[bytes]) -> None:
            if path == "batch":
                assert router.on_batch_eager(b"order.placed", parts, PUBLISHER) is None
            else:
                for i in range(0, len(parts), 2):
                    assert router.on_event_eager([b"order.placed", parts[i], parts[i + 1]], PUBLISHER) is None

        benchmark.pedantic(receive, setup=setup, rounds=300, warmup_rounds=5)
        assert len(sub._buffer) == BATCH  # the last round's events all arrived, in a backlog
        assert router.received == publisher.seq and not router.dropped and not router.recovery.gaps
    finally:
        asyncio.set_event_loop(None)
        loop.close()
