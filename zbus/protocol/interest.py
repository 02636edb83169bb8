"""Who is sure to receive a topic: announced patterns checked against the XPUB's subscription counts.

Pure: the peers and the counts are arguments. Used by ``wait_for_subscribers`` (through the mesh's
``subscriber_count``) and by a leaving node to know whom to wait for.

Rule 1: a peer counts for a topic when it announced a pattern overlapping it (its HELLO/UPDATE) AND
its SUB's subscription for that pattern's prefix reached our XPUB. XPUB_VERBOSER counts one
subscription per peer SUB and prefix, and the counts cannot say whose they are, so a peer is
confirmed when every announcer of one of its prefixes has been counted.
Rule 2: a monitor subscribes to everything (prefix ``""``) without announcing it, so it is never
counted, and its subscriptions never stand in for a real subscriber's.
Rule 3: a leaving node waits for every peer that receives one of its topics: those whose announced
patterns match, every monitor (it takes everything), never a forwarder (it only relays; its
subscribers answer for themselves).
Rule 4: a topic that no counted subscription's prefix reaches is heard by nobody: ZeroMQ would
drop its events, so the mesh does not hand them over (:class:`Audience`). The counts only ever
lag behind a subscription (they are read from the XPUB after libzmq has it), so an event skipped in
that moment is one the new subscriber may miss as if it had subscribed a moment later: it starts the
stream at the first event it gets (repair Rule 2), and a replaying subscription gets it from the
ring, which records every event. ``wait_for_subscribers`` reads the same counts, so an event
published after it returned is always handed over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from ..model.peer import PeerInfo
from ..model.topics import parse_announced, patterns_overlap

__all__ = ["Audience", "confirmed_subscribers", "follows"]


class Audience:
    """The XPUB's subscriptions (one count per subscribing SUB and prefix) and, cached per topic until
    they change, whether any reaches a topic (Rule 4)."""

    def __init__(self) -> None:
        self.counts: Counter[bytes] = Counter()
        self._heard: dict[str, bool] = {}

    def subscribed(self, subscribe: bool, prefix: bytes) -> None:
        """One SUB subscribed to ``prefix`` (or unsubscribed)."""
        if subscribe:
            self.counts[prefix] += 1
        elif self.counts[prefix] > 0:
            self.counts[prefix] -= 1
        self._heard.clear()

    def hears(self, topic: str) -> bool:
        """Whether some subscription's prefix is a prefix of ``topic``."""
        heard = self._heard.get(topic)
        if heard is None:
            name = topic.encode()
            heard = any(count > 0 and name.startswith(prefix) for prefix, count in self.counts.items())
            if len(self._heard) < 10_000:
                self._heard[topic] = heard
        return heard


def confirmed_subscribers(peers: Iterable[PeerInfo], subscriptions: Mapping[bytes, int], topic: str) -> int:
    """How many ``peers`` are sure to receive ``topic`` (a topic or a pattern), given the XPUB's
    subscription count per prefix (Rules 1 and 2)."""
    peers = list(peers)
    query = parse_announced(topic)
    announcers: Counter[bytes] = Counter()
    matching: list[set[bytes]] = []
    for peer in peers:
        announced = [parse_announced(p) for p in peer.patterns]
        announcers.update({p.prefix.encode() for p in announced})
        hits = {p.prefix.encode() for p in announced if patterns_overlap(p, query)}
        if hits:
            matching.append(hits)
    counted = Counter(subscriptions)
    counted[b""] = max(0, counted[b""] - sum(1 for peer in peers if peer.role == "monitor"))
    return sum(1 for hits in matching if any(counted[p] >= announcers[p] for p in hits))


def follows(peer: PeerInfo, topics: Iterable[str]) -> bool:
    """Whether ``peer`` receives one of ``topics`` (Rule 3)."""
    if peer.role == "monitor":
        return True
    if peer.role == "forwarder":
        return False
    patterns = [parse_announced(p) for p in peer.patterns]
    return any(p.matches(topic) for topic in topics for p in patterns)
