"""Event model: validation, immutability, ids, timestamps."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from zbus import Event, EventValidationError, InvalidTopicError, Priority
from zbus.model.event import IdGenerator, new_event_id


def test_defaults() -> None:
    e = Event("order.placed", {"id": 1})
    assert e.type == e.topic == "order.placed"
    assert e.payload == {"id": 1}
    assert e.priority == 5 and e.attempts == 0 and e.max_attempts == 3
    assert e.timestamp.tzinfo is UTC
    assert abs((datetime.now(UTC) - e.timestamp).total_seconds()) < 5
    assert e.tags == () and dict(e.headers) == {}
    assert e.expires_at is None and not e.is_expired()


def test_payload_none_means_empty_dict() -> None:
    assert Event("a").payload == {}
    assert Event("a", None).payload == {}
    assert Event("a", [1, 2]).payload == [1, 2]


@pytest.mark.parametrize("priority", [0, 11, -1, 5.0, "5", True, None])
def test_bad_priority(priority: object) -> None:
    with pytest.raises(EventValidationError, match="priority"):
        Event("a", priority=priority)  # type: ignore[arg-type]


def test_priority_enum_accepted() -> None:
    assert Event("a", priority=Priority.CRITICAL).priority == 10


@pytest.mark.parametrize("bad", ["", "a..b", ".a", "a.", "a b", "a.*", "$zbus.hb", 5])
def test_bad_type(bad: object) -> None:
    with pytest.raises(InvalidTopicError):
        Event(bad)  # type: ignore[arg-type]


def test_headers_must_be_str() -> None:
    with pytest.raises(EventValidationError, match="headers"):
        Event("a", headers={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(EventValidationError, match="tags"):
        Event("a", tags="urgent")
    with pytest.raises(EventValidationError, match="tag"):
        Event("a", tags=["x", 2])  # type: ignore[list-item]


def test_ttl_sets_expiry() -> None:
    e = Event("a", ttl=10, timestamp=1000.0)
    assert e.expires_ts == 1010.0
    assert e.is_expired(now=1010.0) and not e.is_expired(now=1009.9)
    with pytest.raises(EventValidationError, match="ttl"):
        Event("a", ttl=0)


def test_expires_at_naive_rejected() -> None:
    with pytest.raises(EventValidationError, match="naive"):
        Event("a", expires_at=datetime(2030, 1, 1))
    aware = datetime.now(UTC) + timedelta(hours=1)
    assert Event("a", expires_at=aware).expires_at == aware.replace(microsecond=aware.microsecond)


def test_fields_are_read_only() -> None:
    e = Event("a")
    with pytest.raises(AttributeError):
        e.priority = 9  # type: ignore[misc]


def test_evolve_validates_and_keeps_the_rest() -> None:
    e = Event("a", {"x": 1}, priority=3, tags=["t"])
    f = e.evolve(priority=9)
    assert f.priority == 9 and f.id == e.id and f.tags == ("t",) and f.payload == {"x": 1}
    assert e.priority == 3
    with pytest.raises(EventValidationError):
        e.evolve(priority=42)


def test_ids_unique_and_prefixed() -> None:
    ids = {new_event_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert len({i.split("-")[0] for i in ids}) == 1


def test_id_generators_have_distinct_prefixes() -> None:
    assert IdGenerator().prefix != IdGenerator().prefix


def test_forked_child_gets_a_new_prefix() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.write(w, new_event_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(r, 100).decode()
    assert child_id.split("-")[0] != new_event_id().split("-")[0]
