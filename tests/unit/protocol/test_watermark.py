"""Watermarks against random completion orders: never past an unfinished event."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zbus.protocol.watermark import Watermarks

S = ("p", "t")


@given(st.permutations(list(range(1, 31))), st.sets(st.integers(1, 30)))
def test_the_watermark_is_the_contiguous_done_prefix(order: list[int], filtered: set[int]) -> None:
    marks = Watermarks()
    offered = [s for s in range(1, 31) if s not in filtered]
    for seq in range(1, 31):
        if seq in filtered:
            marks.skipped(S, seq)
        else:
            marks.offered(S, seq)
    done: set[int] = set()
    for seq in [s for s in order if s not in filtered]:
        marks.done(S, seq)
        done.add(seq)
        expected = min((s for s in offered if s not in done), default=31) - 1
        assert marks.watermark(S) == expected


def test_a_checkpoint_is_the_starting_point() -> None:
    marks = Watermarks({S: 41})
    assert marks.watermark(S) == 41
    marks.offered(S, 42)
    assert marks.watermark(S) == 41
    marks.done(S, 42)
    assert marks.take_changed() == {S: 42}
    assert marks.take_changed() == {}
