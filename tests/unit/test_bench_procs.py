"""bench_procs.Child: a worker that died must surface as a BenchError naming it, never as a silent
exit (an order left in the pipe's buffer made stop() raise BrokenPipeError, which click turns into
exit status 1 with nothing printed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from zbus.tools.bench_procs import BenchError, Child


def test_a_dead_worker_is_reported_and_stopping_it_raises_nothing(tmp_path: Path) -> None:
    script = "import sys; sys.stderr.write('worker gave up\\n'); sys.exit(3)"
    child = Child("dead", {}, tmp_path, command=[sys.executable, "-c", script])
    child.proc.wait(10)
    child.tell("go")  # the flush fails (EPIPE, ignored): the line stays in the pipe's buffer
    with pytest.raises(BenchError, match=r"(?s)exited with code 3.*worker gave up"):
        child.read("ready", timeout=10)
    child.stop()  # before: BrokenPipeError from closing stdin
