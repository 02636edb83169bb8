"""Key layouts: round trips, and LMDB's byte order equals the order the journal reads in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbus.errors import UsageError
from zbus.store import keys

u64 = st.integers(min_value=0, max_value=keys.U64_MAX)
names = st.text(min_size=1, max_size=40)
streams = st.tuples(names, names)
timestamps = st.floats(min_value=0, max_value=4e9, allow_nan=False)


@given(streams, u64)
def test_event_key_round_trip(stream: tuple[str, str], seq: int) -> None:
    sk = keys.stream_key(*stream)
    key = keys.event_key(sk, seq)
    assert len(key) == keys.EVENT_KEY_SIZE
    assert keys.parse_event_key(key) == (sk, seq)


@given(st.lists(st.tuples(streams, u64), min_size=1, max_size=60))
def test_event_keys_group_by_stream_and_sort_by_seq(items: list[tuple[tuple[str, str], int]]) -> None:
    """Sorted keys form one contiguous run per stream, each in seq order: a range read is one walk."""
    by_key = sorted({keys.event_key(keys.stream_key(*s), q): (s, q) for s, q in items}.items())
    order = [v for _, v in by_key]
    seen: list[tuple[str, str]] = []
    for s, _ in order:
        if not seen or seen[-1] != s:
            assert s not in seen, "a stream's keys are split by another stream"
            seen.append(s)
    for s in seen:
        seqs = [q for t, q in order if t == s]
        assert seqs == sorted(seqs)


def test_stream_key_separates_node_and_topic() -> None:
    assert keys.stream_key("a", "b.c") != keys.stream_key("ab", ".c")
    assert keys.stream_key("a", "b") == keys.stream_key("a", "b")
    assert len(keys.stream_key("n" * 300, "t" * 300)) == keys.STREAM_KEY_SIZE


@given(timestamps, streams, u64)
def test_time_key_round_trip(ts: float, stream: tuple[str, str], seq: int) -> None:
    sk = keys.stream_key(*stream)
    key = keys.time_key(ts, sk, seq)
    assert len(key) == keys.TIME_KEY_SIZE
    micros, sk2, seq2 = keys.parse_time_key(key)
    assert (sk2, seq2) == (sk, seq)
    assert micros == keys.to_micros(ts)
    assert abs(keys.from_micros(micros) - ts) <= 1e-6 * max(1.0, ts) + 1e-6


@given(timestamps, timestamps, streams, streams, u64, u64)
def test_time_keys_sort_by_time(
    t1: float, t2: float, s1: tuple[str, str], s2: tuple[str, str], q1: int, q2: int
) -> None:
    k1 = keys.time_key(t1, keys.stream_key(*s1), q1)
    k2 = keys.time_key(t2, keys.stream_key(*s2), q2)
    if keys.to_micros(t1) < keys.to_micros(t2):
        assert k1 < k2
    assert keys.time_floor(t1) <= k1
    if keys.to_micros(t2) > keys.to_micros(t1):
        assert keys.time_floor(t2) > k1  # a since=t2 read starts after everything before t2


def test_to_micros_clamps() -> None:
    assert keys.to_micros(-5.0) == 0
    assert keys.to_micros(float("nan")) == 0
    assert keys.to_micros(float("inf")) == keys.U64_MAX
    assert keys.to_micros(1.5) == 1_500_000


@given(names, names, streams, streams)
def test_checkpoint_keys(name1: str, name2: str, s1: tuple[str, str], s2: tuple[str, str]) -> None:
    k1 = keys.checkpoint_key(name1, keys.stream_key(*s1))
    assert keys.parse_checkpoint_key(k1) == (name1, keys.stream_key(*s1))
    assert k1.startswith(keys.checkpoint_prefix(name1))
    k2 = keys.checkpoint_key(name2, keys.stream_key(*s2))
    # a name's prefix never matches another name's keys (prefix-free): load(name) reads only its own
    assert k2.startswith(keys.checkpoint_prefix(name1)) == (name1 == name2)


def test_checkpoint_name_bounds() -> None:
    with pytest.raises(UsageError, match="1 to 255"):
        keys.checkpoint_prefix("")
    with pytest.raises(UsageError, match="256 bytes"):
        keys.checkpoint_prefix("x" * 256)


@given(timestamps, u64, timestamps, u64)
def test_deadletter_keys(t1: float, c1: int, t2: float, c2: int) -> None:
    k1, k2 = keys.deadletter_key(t1, c1), keys.deadletter_key(t2, c2)
    assert keys.parse_deadletter_key(k1) == (keys.to_micros(t1), c1)
    assert len(k1) == keys.DEADLETTER_KEY_SIZE
    assert (k1 < k2) == ((keys.to_micros(t1), c1) < (keys.to_micros(t2), c2))


def test_seq_out_of_range() -> None:
    sk = keys.stream_key("n", "t")
    with pytest.raises(UsageError, match="seq=-1"):
        keys.event_key(sk, -1)
    with pytest.raises(UsageError, match="2\\*\\*64-1"):
        keys.time_key(1.0, sk, 2**64)
