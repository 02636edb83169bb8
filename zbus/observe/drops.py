"""Drops: what a component did not deliver, counted per reason, and said once.

Network input is untrusted (STYLE rule 12): a malformed frame, an unknown sender or a full queue is
counted and dropped, never raised. Counting alone hides a misconfigured peer, so the first drop of
each reason is logged at WARNING and later ones at DEBUG (python-zeroconf's ``QuietLogger`` idea): a
flood of forged frames costs one warning line, not a log storm.

A drop that one known peer caused (its flood, its forged event, its patterns) is also counted for that
peer (``by_peer``), so ``zbus peers --from`` and ``/metrics`` can say who is refused. Attribution is
bounded: only ids the caller knows (a link's peer, a sender in the peer table) are given, peers no
longer known are pruned when read (``observe.statistics.per_peer``), and at most
:data:`MAX_PEERS_COUNTED` peers are held per component (past that, ids the ``known`` test rejects are
pruned, then new peers are only counted in the totals).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

__all__ = ["MAX_PEERS_COUNTED", "Drops"]

log = logging.getLogger("zbus")
#: peers whose drops one component counts separately (above ``limits.max_peers``' 256 default)
MAX_PEERS_COUNTED = 4096


class Drops(Counter[str]):
    """A ``Counter`` of drop reasons (``statistics().dropped`` merges these) that warns once per reason.

    Args:
        owner: the component, named in the log line (``"mesh"``, ``"router"``, ...).
        known: whether a peer id is still known (used to prune ``by_peer`` when it is full).
    """

    def __init__(self, owner: str, known: Callable[[str], bool] | None = None) -> None:
        super().__init__()
        self.owner = owner
        self._known = known
        #: drops by reason of each known peer that caused some
        self.by_peer: dict[str, Counter[str]] = {}

    def drop(self, reason: str, detail: str = "", count: int = 1, peer: str = "") -> None:
        """Count ``count`` dropped items for ``reason`` (and for ``peer``, a known peer that caused
        them); log the first of each reason at WARNING, later ones at DEBUG."""
        first = reason not in self
        self[reason] += count
        if peer:
            self._for_peer(peer, reason, count)
        if first:
            log.warning(
                "%s dropped %s (%s)%s; further drops of this kind are logged at DEBUG",
                self.owner,
                "an item" if count == 1 else f"{count} items",
                reason,
                f": {detail}" if detail else "",
            )
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("%s dropped %d (%s)%s", self.owner, count, reason, f": {detail}" if detail else "")

    def _for_peer(self, peer: str, reason: str, count: int) -> None:
        counts = self.by_peer.get(peer)
        if counts is None:
            if len(self.by_peer) >= MAX_PEERS_COUNTED:
                if self._known is not None:
                    self.prune(self._known)
                if len(self.by_peer) >= MAX_PEERS_COUNTED:
                    return  # (counted in the totals only)
            counts = self.by_peer[peer] = Counter()
        counts[reason] += count

    def peers(self) -> dict[str, dict[str, int]]:
        """A copy of ``by_peer`` (first pruned by ``known``, when given)."""
        if self._known is not None:
            self.prune(self._known)
        return {peer: dict(counts) for peer, counts in self.by_peer.items()}

    def prune(self, known: Callable[[str], bool]) -> None:
        """Forget the counts of peers ``known`` says are gone."""
        for peer in [p for p in self.by_peer if not known(p)]:
            del self.by_peer[peer]
