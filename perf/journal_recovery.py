"""Journal recovery time: open an LMDB journal of 1,000,000 events and read its stream heads.

Recovery after a crash (kill -9 included) is exactly this: LMDB needs no log replay, so a restarted node
opens the environment and reads the ``streams`` database to continue its sequences (DESIGN §7, issue 4:
seed target < 5 s, ours < 1 s).

Run: ``.venv/bin/python perf/journal_recovery.py [--events 1000000] [--streams 100]``. It writes the
events in batches of 1,000 (durability ``none``, as the group committer would) into a temporary directory,
closes the journal, then times ``Journal(...)`` + ``stream_heads()`` several times and prints
milliseconds (the first reopen and the median). The page cache is warm: the data was just written, and
dropping caches would need root and disturb other work on the machine. Writing stops after
``--max-seconds`` (default 120) so the run stays bounded; the events actually written are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from zbus.store.journal import Journal, JournalRecord


def write(path: Path, events: int, streams: int, max_seconds: float) -> tuple[int, float]:
    """Write up to ``events`` small events over ``streams`` streams; return (written, seconds)."""
    names = [(f"node-{i % 10}", f"topic.{i // 10}.events") for i in range(streams)]
    seqs = [0] * streams
    started = time.monotonic()
    written, ts = 0, time.time() - 3600
    with Journal(path, map_size=8 * 1024**3, durability="none") as journal:
        journal.next_epoch()
        while written < events and time.monotonic() - started < max_seconds:
            batch = []
            for i in range(min(1000, events - written)):
                k = (written + i) % streams
                seqs[k] += 1
                node, topic = names[k]
                header = b"\x94\x01\xa4abcd" + seqs[k].to_bytes(8, "big")  # ~60-byte frames in all
                frames = [topic.encode(), header, b"\x82\xa2id\xcd\x01\x00\xa4data\xa8payload!"]
                batch.append(JournalRecord(node, topic, seqs[k], 1, ts + (written + i) / 1e4, frames))
            journal.append_batch(batch)
            written += len(batch)
    return written, time.monotonic() - started


def recover(path: Path) -> tuple[float, int]:
    """Open the journal and read every stream head; return (milliseconds, streams)."""
    started = time.perf_counter()
    with Journal(path, map_size=8 * 1024**3, durability="none") as journal:
        heads = journal.stream_heads()
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len(heads)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zbus-recovery-") as tmp:
        path = Path(tmp) / "journal"
        written, seconds = write(path, args.events, args.streams, args.max_seconds)
        size = sum(p.stat().st_size for p in path.iterdir())
        print(
            f"wrote {written:,} events in {args.streams} streams in {seconds:.1f} s "
            f"({written / seconds:,.0f} events/s, batches of 1,000, durability none); "
            f"data file {size / 1e6:.0f} MB"
        )
        with Journal(path, map_size=8 * 1024**3, durability="none", readonly=True) as journal:
            assert journal.statistics().events == written
        times = []
        for _ in range(args.repeat):
            ms, streams = recover(path)
            assert streams == args.streams
            times.append(ms)
        print(
            f"recovery (open + stream_heads): first {times[0]:.2f} ms, "
            f"median {statistics.median(times):.2f} ms over {args.repeat} reopens, {written:,} events"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
