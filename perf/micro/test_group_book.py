"""A queue-group publisher's bookkeeping (pytest-benchmark), per 64 events for a group of 4 members
with credit 64: the run handed to ``GroupBook.offer_run`` (one spread over the members, one ``Send``
per member) against the same 64 events offered one by one with ``GroupBook.offer`` (the path every
event took before). Each round then acknowledges the 64, as the members' ACKs would, so credit is
free again for the next round and both paths place every event at once.
"""

from __future__ import annotations

import pytest

from zbus.protocol.groups import GroupBook

RUN = 64
MEMBERS = {f"member-{i}": {"workers": (("task.*",), 64)} for i in range(4)}


@pytest.mark.parametrize("path", ["run", "per_event"])
def test_offer_and_ack_64_events(benchmark: pytest.FixtureRequest, path: str) -> None:
    book = GroupBook(ack_wait=30.0, max_deliver=5)
    book.set_members(MEMBERS, 0.0)
    frames = [b"task.run", b"header", b"payload"]
    state = {"seq": 0}

    def round_() -> None:
        first = state["seq"] + 1
        state["seq"] += RUN
        if path == "run":
            sends = book.offer_run(
                "workers", "task.run", [(s, None, frames) for s in range(first, first + RUN)], 0.0
            ).sends
        else:
            sends = [
                send
                for s in range(first, first + RUN)
                for send in book.offer("workers", "task.run", s, None, frames, 0.0).sends
            ]
        held: dict[str, list[int]] = {}
        for send in sends:
            held.setdefault(send.member, []).extend(o.id for o in send.events)
        for member, ids in held.items():
            book.ack(member, ids, 0.0)

    benchmark.pedantic(round_, rounds=500, warmup_rounds=5)
    assert book.in_flight == 0 and book.waiting == 0  # every event placed at once and acknowledged
    assert sum(c.acked for c in book.counts()) == state["seq"]
    assert sorted(c.sent for c in book.counts()) == [state["seq"] // 4] * 4  # levelled out evenly
