"""Child process for the journal crash test: journals batches through a GroupCommitter until killed.

Usage: journal_writer.py PATH DURABILITY. Prints ``epoch E`` once, then ``committed SEQ`` after each
durable batch (every stream is at SEQ then). It never exits by itself; the test kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
import time

from zbus.store.commit import GroupCommitter
from zbus.store.journal import Journal, JournalRecord

STREAMS = [("node-a", "orders.new"), ("node-a", "audit.login"), ("node-b", "orders.new")]


async def main(path: str, durability: str) -> None:
    journal = Journal(path, map_size=256 * 1024**2, durability=durability)
    epoch = journal.next_epoch()
    heads = journal.stream_heads()
    seq = max([heads.get(s, 0) for s in STREAMS])
    print(f"epoch {epoch}", flush=True)
    committer = GroupCommitter(journal, batch_size=64, flush_interval=0.002)
    while True:
        seq += 1
        futures = []
        for node, topic in STREAMS:
            frames = [topic.encode(), f"{node}|{seq}|{epoch}".encode(), b"x" * 200]
            record = JournalRecord(node, topic, seq, epoch, time.time(), frames)
            futures.append(committer.submit_durable(record))
        await asyncio.gather(*futures)
        print(f"committed {seq}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
