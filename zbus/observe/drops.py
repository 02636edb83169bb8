"""Drops: what a component did not deliver, counted per reason, and said once.

Network input is untrusted (STYLE rule 12): a malformed frame, an unknown sender or a full queue is
counted and dropped, never raised. Counting alone hides a misconfigured peer, so the first drop of
each reason is logged at WARNING and later ones at DEBUG (python-zeroconf's ``QuietLogger`` idea): a
flood of forged frames costs one warning line, not a log storm.
"""

from __future__ import annotations

import logging
from collections import Counter

__all__ = ["Drops"]

log = logging.getLogger("zbus")


class Drops(Counter[str]):
    """A ``Counter`` of drop reasons (``statistics().dropped`` merges these) that warns once per reason.

    Args:
        owner: the component, named in the log line (``"mesh"``, ``"router"``, ...).
    """

    def __init__(self, owner: str) -> None:
        super().__init__()
        self.owner = owner

    def drop(self, reason: str, detail: str = "", count: int = 1) -> None:
        """Count ``count`` dropped items for ``reason``; log the first at WARNING, later ones at DEBUG."""
        first = reason not in self
        self[reason] += count
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
