"""Fixtures for the store tests: real LMDB journals in pytest's tmp_path, always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zbus.store.journal import Journal, JournalRecord

MiB = 1024**2
RecordFactory = Callable[..., JournalRecord]


def make_record(
    node: str = "n1",
    topic: str = "orders.new",
    seq: int = 1,
    *,
    epoch: int = 1,
    ts: float = 1000.0,
    size: int = 8,
) -> JournalRecord:
    """A journal record whose frames say which event it is (payload padded to ``size`` bytes)."""
    payload = f"{node}|{topic}|{seq}".encode().ljust(size, b".")
    return JournalRecord(node, topic, seq, epoch, ts, [topic.encode(), f"h{seq}".encode(), payload])


@pytest.fixture
def rec() -> RecordFactory:
    """``rec(node, topic, seq, epoch=, ts=, size=)`` builds a JournalRecord."""
    return make_record


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """An open 16 MiB journal with durability "none", closed after the test."""
    j = Journal(tmp_path / "journal", map_size=16 * MiB, durability="none")
    try:
        yield j
    finally:
        j.close()
