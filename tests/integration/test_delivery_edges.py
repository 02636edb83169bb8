"""Delivery off the happy path, as real processes on loopback: a publisher that exits at once, one that
joins after its subscriber, two nodes with one name, a journal that fails, start-up requests.

Each test prints published / delivered / reported lost / duplicates, so a failure shows the figures.
"""

from __future__ import annotations

import asyncio

import pytest

import zbus
from zbus import Node
from zbus.testing import eventually

from .conftest import FAST, Proc


class Tally:
    """What one subscriber got: payload indexes, sequence numbers, and the losses it was told of."""

    def __init__(self) -> None:
        self.got: list[int] = []
        self.seqs: list[int] = []
        self.lost = 0

    def event(self, event: zbus.Event) -> None:
        self.got.append(event.payload["i"])
        self.seqs.append(event.seq)

    def on_lost(self, lost: zbus.LostEvents) -> None:
        self.lost += lost.count

    def report(self, what: str, published: int) -> str:
        line = (
            f"{what}: published {published}, delivered {len(set(self.got))}, reported lost {self.lost}, "
            f"duplicates {len(self.got) - len(set(self.got))}"
        )
        print(line)
        return line


@pytest.mark.parametrize("stay", [0.0, 3.0])
async def test_a_publisher_that_publishes_and_exits_at_once_delivers_everything(
    spawn: type[Proc], mesh_name: str, stay: float
) -> None:
    async with Node("sub", mesh=mesh_name, config=FAST) as node:
        tally = Tally()
        node.on_lost(tally.on_lost)
        await node.subscribe("oneshot.*", handler=tally.event)
        pub = spawn("oneshot", mesh_name, "oneshot", "oneshot.x", "3", str(stay))
        # read the child's output off the loop: the node in this process must keep running meanwhile
        closed = await asyncio.to_thread(pub.expect, "closed", 15)
        await eventually(lambda: len(tally.got) >= 3 or tally.lost > 0, timeout=10)
        tally.report(f"publish 3 and exit after {stay} s ({closed})", 3)
        assert sorted(tally.got) == [0, 1, 2] and tally.seqs == [1, 2, 3]
        assert tally.lost == 0
