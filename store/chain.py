"""Hash chains: each stream's journaled events linked by BLAKE2b-128, so a change is evident (pure).

Theory of operation
-------------------
Every event written since journal schema 3 carries, in its envelope (version 2, :mod:`.envelope`), the
*link*: the digest of the stream's previous record. A record's digest is
``BLAKE2b-128(link || key || body)`` (``hashlib``), so it covers its key (stream and sequence), its
frames and, through the link, every record of the stream before it. The writer keeps the newest digest
of each stream in the stream's state (``streams``, field ``hash``), so the chain continues across
restarts; a stream's first chained record links to 16 zero bytes.

:func:`breaks` checks one stream, as ``zbus journal verify`` reads it (in sequence order; the chain
follows write order, which a recording node's repairs may make differ, so links are matched by digest,
not by position):

- a record whose link is no present record's digest breaks the chain: the record before it was
  changed, removed, or records were swapped. The oldest such record is the start of what is left
  after retention (which deletes the oldest events) and is accepted;
- two records linking to the same digest: a record was duplicated or reordered;
- the stream's newest digest (its state) must be some present record's: else its newest record was
  changed or removed.

What it does not show: removing a stream's *oldest* records looks like retention; and anyone who can
write the file can recompute every digest and the stream state (there is no secret key). It catches
edits that do not rewrite the whole stream after them; a backup kept elsewhere catches those.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["ZERO", "breaks", "digest"]

#: the link of a stream's first chained record
ZERO: Final = bytes(16)


def digest(link: bytes, key: bytes, body: bytes) -> bytes:
    """The digest of the record under ``key`` with ``body`` whose chain link is ``link`` (16 bytes)."""
    return hashlib.blake2b(link + key + body, digest_size=16).digest()  # one call: the cheapest way


def breaks(records: list[tuple[int, bytes, bytes]], head: bytes | None) -> list[tuple[int, int | None, str]]:
    """Where one stream's chain is broken: ``(seq, seq before it or None, reason)`` for each break.

    Args:
        records: ``(seq, link, digest)`` of the stream's chained records present, by sequence.
        head: the stream's newest digest from its state, or None (written before schema 3).
    """
    if not records:
        return []
    by_digest = {d: seq for seq, _, d in records}
    found: list[tuple[int, int | None, str]] = []
    linked: dict[bytes, int] = {}
    started = False
    before: int | None = None
    for seq, link, _ in records:
        if link in by_digest:
            if link in linked:
                found.append((seq, before, f"links to the same record as seq {linked[link]}: reordered"))
            linked[link] = seq
        elif not started:
            started = True  # the oldest record left: retention may have removed those before it
        else:
            where = "" if before is None else f" (seq {before})"
            reason = f"hash chain broken: the record before it{where} was changed or removed, or reordered"
            found.append((seq, before, reason))
        before = seq
    if head is not None and head not in by_digest:
        reason = "the stream's newest hash matches no record: its newest record was changed or removed"
        found.append((records[-1][0], None, reason))
    return found
