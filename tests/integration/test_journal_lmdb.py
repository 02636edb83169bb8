"""Crash recovery of the LMDB journal: a writer process killed with SIGKILL at a random moment."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zbus.store.journal import Journal

WRITER = Path(__file__).with_name("journal_writer.py")
STREAMS = [("node-a", "orders.new"), ("node-a", "audit.login"), ("node-b", "orders.new")]


def read_lines_until(proc: subprocess.Popen[bytes], count: int, deadline: float) -> list[str]:
    """Read stdout lines until ``count`` ``committed`` lines arrived or the deadline passed."""
    assert proc.stdout is not None
    fd, buffer, lines, committed = proc.stdout.fileno(), b"", [], 0
    while committed < count:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"writer too slow: {lines[-3:]}")
        chunk = os.read(fd, 65536)
        if not chunk:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"writer exited: {err}")
        buffer += chunk
        *done, buffer = buffer.split(b"\n")
        for raw in done:
            lines.append(raw.decode())
            committed += raw.startswith(b"committed ")
    return lines


def run_and_kill(path: Path, durability: str, rng: random.Random) -> tuple[int, int]:
    """Start a writer, let it commit a random number of batches, SIGKILL it by PID; return (epoch, seq)."""
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), durability], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        lines = read_lines_until(proc, rng.randint(1, 60), time.monotonic() + 20)
        os.kill(proc.pid, signal.SIGKILL)  # mid-batch most of the time: the writer never pauses
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    epoch = int(next(line for line in lines if line.startswith("epoch ")).split()[1])
    seq = int([line for line in lines if line.startswith("committed ")][-1].split()[1])
    return epoch, seq


@pytest.mark.parametrize("durability", ["none", "sync"])
def test_kill_9_leaves_a_consistent_journal(tmp_path: Path, durability: str) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    path = tmp_path / "journal"
    last_epoch = 0
    for round_ in range(3):
        epoch, acknowledged = run_and_kill(path, durability, rng)
        assert epoch > last_epoch, f"seed {seed}: epochs must grow across crashes"
        started = time.monotonic()
        with Journal(path, map_size=256 * 1024**2, durability=durability) as journal:
            heads = journal.stream_heads()
            recovery = time.monotonic() - started
            assert set(heads) == set(STREAMS), f"seed {seed} round {round_}"
            for node, topic in STREAMS:
                head = heads[(node, topic)]
                assert head >= acknowledged, (
                    f"seed {seed}: an acknowledged batch was lost ({head} < {acknowledged})"
                )
                stored = journal.read_range(node, topic, 0, limit=1_000_000)
                seqs = [int(f[1].split(b"|")[1]) for f in stored]
                assert seqs == list(range(1, head + 1)), f"seed {seed}: stored events disagree with the head"
                (newest,) = journal.last(node, topic, 1)
                assert newest == stored[-1]
            assert journal.statistics().events == sum(heads.values())
            next_epoch = journal.next_epoch()
            assert next_epoch > epoch
        last_epoch = next_epoch
        assert recovery < 5.0
