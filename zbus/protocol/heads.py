"""Heads: which (topic, last sequence) pairs a node's heartbeat announces. Pure: ``now`` is an argument.

Theory of operation
-------------------
A heartbeat carries the head (last sequence sent) of the topics this node published recently, so a
subscriber that missed the last events of a stream learns that they exist and repairs them. The
transport reports each send once it is on the wire (:meth:`Heads.sent`) and asks for the heads to put
in each heartbeat (:meth:`Heads.heads`).

Rule 1: a head is reported only once its event is on the wire: a heartbeat never announces an
event still unsent.
Rule 2: a head is sticky. It stays in every heartbeat for ``memory`` seconds after its topic's last
publish, so a subscriber that missed the last events *and* the heartbeat right after them still
learns of the tail.
Rule 3: the heartbeat stays small. At most ``max_topics`` topics are collected between two
heartbeats (a topic already collected is always updated), and at most ``max_topics`` are announced:
the most recently published ones.
"""

from __future__ import annotations

__all__ = ["Heads"]


class Heads:
    """The sticky heartbeat heads of one publishing node.

    Args:
        memory: seconds a head stays announced after its topic's last publish (Rule 2).
        max_topics: most topics collected between heartbeats and announced in one (Rule 3).
    """

    __slots__ = ("_fresh", "_sticky", "max_topics", "memory")

    def __init__(self, *, memory: float = 30.0, max_topics: int = 256) -> None:
        self.memory = memory
        self.max_topics = max_topics
        self._fresh: dict[str, int] = {}  # sent since the last heartbeat
        self._sticky: dict[str, tuple[int, float]] = {}  # topic -> (head, when last published)

    def sent(self, topic: str, seq: int) -> None:
        """Event ``seq`` of ``topic`` is on the wire (Rule 1)."""
        fresh = self._fresh
        if topic in fresh or len(fresh) < self.max_topics:
            fresh[topic] = seq

    def heads(self, now: float) -> dict[str, int]:
        """The heads a heartbeat sent at ``now`` announces: topic -> last sequence sent."""
        sticky = self._sticky
        for topic, seq in self._fresh.items():
            sticky[topic] = (seq, now)
        self._fresh = {}
        for topic in [t for t, (_, at) in sticky.items() if now - at > self.memory]:
            del sticky[topic]
        for topic in sorted(sticky, key=lambda t: sticky[t][1])[: max(0, len(sticky) - self.max_topics)]:
            del sticky[topic]  # the most recently published topics only
        return {t: seq for t, (seq, _) in sticky.items()}
