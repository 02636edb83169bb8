"""Retention: the pure policy, and sweeps over a real journal."""

from __future__ import annotations

from conftest import RecordFactory
from hypothesis import given
from hypothesis import strategies as st

from zbus.config import RetentionConfig
from zbus.store.journal import Journal
from zbus.store.retention import is_expired, sweep, ttl_for

DAY = 86_400.0
SEED = RetentionConfig()  # default 7 d, audit 90 d, debug 1 d


def test_ttl_by_prefix() -> None:
    assert ttl_for("orders.new", SEED) == 7 * DAY
    assert ttl_for("audit", SEED) == 90 * DAY
    assert ttl_for("audit.login", SEED) == 90 * DAY
    assert ttl_for("auditing", SEED) == 7 * DAY, "prefixes match whole tokens"
    assert ttl_for("debug.trace", SEED) == DAY
    nested = RetentionConfig(by_prefix={"audit": "90d", "audit.tmp": "1h"})
    assert ttl_for("audit.tmp.x", nested) == 3600, "the longest prefix wins"
    assert ttl_for("audit.other", nested) == 90 * DAY


@given(st.floats(0, 1e9), st.floats(0, 200 * DAY), st.sampled_from(["a", "audit.x", "debug", "b.c"]))
def test_expiry_is_ts_plus_ttl(ts: float, age: float, topic: str) -> None:
    assert is_expired(topic, ts, ts + age, SEED) == (age >= ttl_for(topic, SEED))


def test_sweep_by_age(journal: Journal, rec: RecordFactory) -> None:
    now = 100 * DAY
    journal.append_batch(
        [
            rec("n1", "orders.new", 1, ts=now - 8 * DAY),  # expired (7 d)
            rec("n1", "orders.new", 2, ts=now - 6 * DAY),
            rec("n1", "audit.login", 1, ts=now - 30 * DAY),  # kept (90 d)
            rec("n1", "debug.x", 1, ts=now - 2 * DAY),  # expired (1 d)
            rec("n1", "debug.x", 2, ts=now - 0.5 * DAY),
        ]
    )
    result = sweep(journal, now, SEED)
    assert (result.expired, result.evicted, result.complete) == (2, 0, True)
    assert journal.first_seq("n1", "orders.new") == 2
    assert journal.first_seq("n1", "debug.x") == 2
    assert journal.first_seq("n1", "audit.login") == 1
    assert journal.stream_heads() == {("n1", "orders.new"): 2, ("n1", "audit.login"): 1, ("n1", "debug.x"): 2}
    assert len(list(journal.read_since(0))) == 3
    again = sweep(journal, now, SEED)
    assert again.deleted == 0


def test_stream_state_outlives_its_events(journal: Journal, rec: RecordFactory) -> None:
    journal.append_batch([rec("n1", "t", s, ts=1.0) for s in range(1, 4)])
    assert sweep(journal, 30 * DAY, SEED).expired == 3
    assert journal.statistics().events == 0
    assert journal.stream_heads() == {("n1", "t"): 3}, "sequences continue after retention emptied a stream"


def test_sweep_limits_and_resumes(journal: Journal, rec: RecordFactory) -> None:
    journal.append_batch([rec("n1", "t", s, ts=float(s)) for s in range(2500)])
    first = sweep(journal, 30 * DAY, SEED, max_delete=1000, chunk=300)
    assert (first.expired, first.complete) == (1000, False)
    rest = sweep(journal, 30 * DAY, SEED, max_delete=10_000, chunk=300)
    assert (rest.expired, rest.complete) == (1500, True)
    assert journal.statistics().events == 0


def test_sweep_by_size_deletes_oldest_first(journal: Journal, rec: RecordFactory) -> None:
    journal.append_batch(
        [rec("n1", "audit" if s % 2 else "t", s, ts=1000.0 + s, size=500) for s in range(2000)]
    )
    used = journal.statistics().map_used
    config = RetentionConfig(max_size=used // 2)
    result = sweep(journal, 2000.0, config)
    assert result.expired == 0 and 500 < result.evicted < 2000
    after = journal.statistics()
    assert after.map_used <= used // 2
    assert after.oldest_ts == 1000.0 + result.evicted, "whatever the topic, the oldest went first"
    assert sweep(journal, 2000.0, config).deleted == 0
