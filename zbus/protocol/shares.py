"""How queue-group work is shared, sans I/O: each member's share of a run of events, which member a key
belongs to, and how many acks a member gathers before it answers. Pure functions of their arguments,
used by :class:`.groups.GroupBook` (publisher) and ``inbound.groups`` (member).
"""

from __future__ import annotations

import hashlib

__all__ = ["ACK_BATCH_MAX", "ack_batch", "level", "rendezvous"]


#: the most acks a member gathers for one publisher before sending them (:func:`ack_batch`)
ACK_BATCH_MAX = 512


def ack_batch(credit: int) -> int:
    """How many acks a member with ``credit`` (``groups.max_in_flight``) gathers for one publisher
    before it sends them: half its credit, so the publisher refills one half while the member works
    on the other, and a larger credit means fewer, larger ACK and DELIVER messages (at most
    :data:`ACK_BATCH_MAX`; what is left goes at the end of the loop turn)."""
    return max(1, min(ACK_BATCH_MAX, credit // 2))


def level(loads: list[int], caps: list[int], n: int) -> list[int]:
    """How many of ``n`` events each member gets when each event in turn goes to the least loaded
    member below its cap (ties: the first in the list), computed a level at a time rather than one
    event at a time. ``n`` must not exceed the room left (``sum(caps) - sum(loads)``)."""
    loads = list(loads)
    shares = [0] * len(loads)
    everyone = range(len(loads))
    while n > 0:
        open_ = [i for i in everyone if loads[i] < caps[i]]
        low = min(loads[i] for i in open_)
        lowest = [i for i in open_ if loads[i] == low]
        # everyone at the lowest load rises together, to the next load above or a cap, whichever first
        step = min([loads[i] - low for i in open_ if loads[i] > low] + [caps[i] - low for i in lowest])
        if step * len(lowest) > n:
            step, extra = divmod(n, len(lowest))
        else:
            extra = 0
        for j, i in enumerate(lowest):
            add = step + (j < extra)
            loads[i] += add
            shares[i] += add
            n -= add
    return shares


def rendezvous(key: str, member: str) -> int:
    """The rendezvous (highest random weight) score of ``member`` for ``key``: stable across nodes."""
    return int.from_bytes(hashlib.blake2b(f"{key}\0{member}".encode(), digest_size=8).digest(), "big")
