"""History.serve against a real journal while publishing goes on: the ring moves during the journal
read, and nothing in between may be reported missing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from zbus import Event
from zbus.codec import wire
from zbus.config import load_config
from zbus.journal.history import History
from zbus.journal.persistence import Persistence


async def test_serving_while_the_ring_moves_misses_nothing(tmp_path: Path) -> None:
    config = load_config({"persistence": {"enabled": True, "path": str(tmp_path)}}).persistence

    async def send(topic: str, seq: int, frames: list[bytes]) -> None:
        pass  # nobody to send to: the journal is what matters here

    persistence, identity = await Persistence.open(config, "pub", candidate_id="n1", epoch=1, send=send)
    node_id, epoch = identity.node_id, identity.epoch
    history = History(node_id, ring_size=10, persistence=persistence)

    async def publish(seq: int) -> None:
        event = Event("t", {"seq": seq}, source="pub")
        frames = wire.encode(event, node_id=node_id, seq=seq, epoch=epoch)
        history.record("t", seq, event.ts, frames)
        await persistence.append(node_id, "t", seq, epoch, event.ts, frames, durable=False)

    try:
        for seq in range(1, 101):
            await publish(seq)

        async def more() -> None:  # runs while serve() awaits its journal read
            await asyncio.sleep(0)
            for seq in range(101, 151):
                await publish(seq)

        (events, missing), _ = await asyncio.gather(history.serve("t", 1, 100), more())
        assert missing == []
        assert [wire.decode(f)._seq for f in events] == list(range(1, 101))
        events, missing = await history.serve("t", 140, 160)  # beyond the head: reported missing
        assert [wire.decode(f)._seq for f in events] == list(range(140, 151))
        assert missing == [(151, 160)]
    finally:
        await persistence.close()
