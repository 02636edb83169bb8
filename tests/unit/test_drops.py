"""Drops: counted per reason; the first of each reason is logged at WARNING, later ones at DEBUG."""

from __future__ import annotations

import logging

import pytest

from zbus.observe.drops import Drops


def test_the_first_drop_of_each_reason_warns_and_the_rest_are_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="zbus")
    drops = Drops("mesh")
    for _ in range(3):
        drops.drop("malformed_hello", "undecodable HELLO")
    drops.drop("unknown_sender")
    drops.drop("slow_subscriber", count=5)
    assert dict(drops) == {"malformed_hello": 3, "unknown_sender": 1, "slow_subscriber": 5}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    later = "; further drops of this kind are logged at DEBUG"
    assert warnings == [
        "mesh dropped an item (malformed_hello): undecodable HELLO" + later,
        "mesh dropped an item (unknown_sender)" + later,
        "mesh dropped 5 items (slow_subscriber)" + later,
    ]
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 2
