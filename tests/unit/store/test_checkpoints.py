"""Durable-subscription checkpoints in a real journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MiB

from zbus.errors import UsageError
from zbus.store.checkpoints import Checkpoints
from zbus.store.journal import Journal


def test_commit_load_and_names(journal: Journal) -> None:
    cp = Checkpoints(journal)
    assert cp.load("billing") == {}
    cp.commit("billing", ("n1", "orders.new"), 10)
    cp.commit_many("billing", {("n1", "orders.new"): 12, ("n2", "orders.new"): 3})
    cp.commit("bill", ("n1", "orders.new"), 99)  # a prefix of another name: kept apart
    cp.commit("billing-eu", ("n1", "x"), 1)
    assert cp.load("billing") == {("n1", "orders.new"): 12, ("n2", "orders.new"): 3}
    assert cp.load("bill") == {("n1", "orders.new"): 99}
    assert cp.names() == ["bill", "billing", "billing-eu"]


def test_watermark_may_go_back(journal: Journal) -> None:
    cp = Checkpoints(journal)
    cp.commit("d", ("n1", "t"), 50)
    cp.commit("d", ("n1", "t"), 5)  # the publisher lost its journal and restarted at 1
    assert cp.load("d") == {("n1", "t"): 5}


def test_delete(journal: Journal) -> None:
    cp = Checkpoints(journal)
    cp.commit_many("a", {("n1", "t"): 1, ("n2", "t"): 2})
    cp.commit("b", ("n1", "t"), 3)
    assert cp.delete("a") == 2
    assert cp.delete("a") == 0
    assert cp.load("a") == {} and cp.load("b") == {("n1", "t"): 3}
    assert cp.delete("b") == 1 and cp.names() == []


def test_survives_reopen(tmp_path: Path) -> None:
    with Journal(tmp_path / "j", map_size=4 * MiB, durability="sync") as j:
        Checkpoints(j).commit("d", ("n1", "t"), 7)
    with Journal(tmp_path / "j", map_size=4 * MiB, durability="sync") as j:
        assert Checkpoints(j).load("d") == {("n1", "t"): 7}


def test_bad_input(journal: Journal) -> None:
    cp = Checkpoints(journal)
    with pytest.raises(UsageError, match="durable name"):
        cp.commit("", ("n", "t"), 1)
    with pytest.raises(UsageError, match="checkpoint seq=-1"):
        cp.commit("d", ("n", "t"), -1)
    assert cp.names() == []
