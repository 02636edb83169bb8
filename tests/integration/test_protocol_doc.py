"""docs/PROTOCOL.md is enough to talk to zbus: its raw pyzmq + msgpack clients, taken verbatim
from the document, subscribe, join, send a directed event and make a request against a real node."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from zbus import Event, Node
from zbus.testing import eventually

DOC = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()


def block_after(heading: str) -> str:
    section = DOC[DOC.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


async def test_raw_clients_from_the_document(tmp_path: Path, mesh_name: str) -> None:
    raw_sub = tmp_path / "raw_sub.py"
    raw_sub.write_text(block_after("### Raw subscriber"))
    raw_send = tmp_path / "raw_send.py"
    raw_send.write_text(block_after("### Raw sender"))
    async with Node("doc-test", mesh=mesh_name) as node:
        greetings: list[Event] = []
        node.on("greeting.*")(greetings.append)
        node.respond("math.add")(lambda r: {"sum": r.payload["a"] + r.payload["b"]})

        sub = await asyncio.create_subprocess_exec(
            sys.executable, str(raw_sub), node.endpoints["pub"], "order.", stdout=asyncio.subprocess.PIPE
        )
        try:
            lines: list[str] = []

            async def read_two() -> None:
                assert sub.stdout is not None
                n = 0
                while len(lines) < 2:  # the raw SUB is a slow joiner: keep publishing until it hears us
                    n += 1
                    await node.publish("order.created", {"n": n})
                    try:
                        async with asyncio.timeout(0.05):
                            lines.append((await sub.stdout.readline()).decode().strip())
                    except TimeoutError:
                        continue

            await asyncio.wait_for(read_two(), 20)
            topic, seq, source, priority, _ = lines[0].split(" ", 4)
            assert (topic, source, priority) == ("order.created", "doc-test", "5")
            assert int(lines[1].split()[1]) == int(seq) + 1  # consecutive sequence numbers
            # a burst goes out batched (two-frame messages): the example reads those too
            await node.publish_batch([("order.created", {"n": i}) for i in range(100)])
            assert sub.stdout is not None
            burst = [(await asyncio.wait_for(sub.stdout.readline(), 20)).decode().split() for _ in range(100)]
            seqs = [int(fields[1]) for fields in burst]
            assert seqs == list(range(seqs[0], seqs[0] + 100))
            assert node._transport._outbox.batches_sent > 0
        finally:
            sub.kill()
            await sub.wait()

        send = await asyncio.create_subprocess_exec(
            sys.executable,
            str(raw_send),
            node.endpoints["router"],
            mesh_name,
            "doc-test",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(send.communicate(), 30)
        assert send.returncode == 0, err.decode()
        assert "joined doc-test responders: ['math.add']" in out.decode()
        assert "math.add.reply result: {'sum': 5}" in out.decode()
        await eventually(lambda: len(greetings) == 1)
        assert greetings[0].source == "raw-py" and greetings[0].payload == {"text": "hi"}
