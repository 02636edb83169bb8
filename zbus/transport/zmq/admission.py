"""Admission: whether a HELLO or UPDATE is taken, and what of it (docs/ARCHITECTURE.md, "Hostile input").

A HELLO is the peer's own words about itself, so everything in it is checked before use: its frames and
body decode, it names the connection it came on (the ROUTER's routing id: the DEALER's identity, bound
to a CURVE key with security on), it is of our mesh and not us, a new peer fits in
``limits.max_peers``, and only topic patterns (never a regex) up to ``limits.max_patterns_per_peer`` are
kept. Whatever is refused is counted by reason in the mesh's ``Drops``. No sockets here: the mesh makes
the links for what this admits.
"""

from __future__ import annotations

import logging
import time

from ...codec.control import PeerHello, decode_hello
from ...errors import WireError, ZbusError
from ...model.peer import PeerInfo
from ...model.topics import parse_announced
from ...observe.drops import Drops
from ...protocol.peers import PeerTable

__all__ = ["Admission"]

log = logging.getLogger("zbus")


class Admission:
    """The checks a HELLO/UPDATE passes before its sender becomes (or stays) a peer."""

    def __init__(
        self, *, node_id: str, name: str, mesh: str, table: PeerTable, max_patterns: int, dropped: Drops
    ) -> None:
        self.node_id = node_id
        self.name = name
        self.mesh = mesh
        self.table = table
        self.max_patterns = max_patterns
        self.dropped = dropped

    def decode(self, sender: str, frames: list[bytes]) -> PeerHello | None:
        """The HELLO/UPDATE in ``frames`` (sender, kind, body) if it may be taken, else None (counted).
        A HELLO naming us is returned too (the caller ties the greeting to us); check ``hello.id``."""
        if len(frames) != 3:
            self.dropped.drop("malformed_hello")
            return None
        try:
            hello = decode_hello(frames[2])
        except WireError:
            self.dropped.drop("malformed_hello")
            return None
        if hello.id != sender:
            self.dropped.drop("spoofed_hello")
            return None
        if hello.id == self.node_id:  # our own endpoint under another name (a static list naming us)
            self.dropped.drop("self_hello")
            return hello
        if hello.mesh != self.mesh:
            self.dropped.drop("wrong_mesh")
            return None
        if not self.table.admits(hello.id):
            self.dropped.drop("max_peers", f"limits.max_peers={self.table.max_peers}")
            return None
        if not self.table.vouches(hello.id, hello.epoch):  # (PeerTable Rule 6: no takeover by HELLO)
            detail = f"{hello.id[:16]}: epoch {hello.epoch} while its link still hears the old one"
            self.dropped.drop("takeover", detail, peer=hello.id)
            return None
        return hello

    def info(self, hello: PeerHello) -> PeerInfo:
        """The peer as the table keeps it: announced patterns checked and capped."""
        patterns = [p for p in hello.patterns if self._valid_pattern(p, hello.id)]
        if len(patterns) > self.max_patterns:
            detail = f"{hello.id[:16]}: {len(patterns)} > limits.max_patterns_per_peer"
            self.dropped.drop("pattern_limit", detail, peer=hello.id)
            patterns = patterns[: self.max_patterns]
        return PeerInfo(
            id=hello.id,
            name=hello.name,
            mesh=hello.mesh,
            epoch=hello.epoch,
            role=hello.role,
            address=hello.router,
            responders=frozenset(hello.responders),
            patterns=frozenset(patterns),
            joined_at=time.time(),
            journaled=hello.journal,
            started=None if hello.age is None else time.monotonic() - hello.age,
            base=hello.base if hello.age is not None else None,
            groups=self._groups(hello),
        )

    def _groups(self, hello: PeerHello) -> tuple[tuple[str, tuple[str, ...], int], ...]:
        """Announced queue groups (``PeerInfo.groups``): patterns checked like the others, and the
        same cap on all of them together."""
        out, budget = [], self.max_patterns
        for group, (patterns, credit) in sorted(hello.groups.items()):
            valid = tuple(p for p in patterns if self._valid_pattern(p, hello.id))
            if len(valid) > budget:
                detail = f"{hello.id[:16]}: group patterns > limits.max_patterns_per_peer"
                self.dropped.drop("pattern_limit", detail, peer=hello.id)
                valid = valid[:budget]
            budget -= len(valid)
            if valid:
                out.append((group, valid, credit))
        return tuple(out)

    def _valid_pattern(self, announced: str, peer: str) -> bool:
        try:
            parse_announced(announced)
        except ZbusError:  # a peer's regex ("re:...") is refused too: see ARCHITECTURE.md, hostile input
            reason = "remote_regex" if announced[:3] == "re:" else "bad_pattern"
            self.dropped.drop(reason, announced[:80], peer=peer)
            return False
        return True

    def warn_twins(self, info: PeerInfo) -> None:
        """Two live nodes with one name are two nodes, never a restart (a restart keeps the id): say
        so once per pair, since ``target=<name>`` cannot tell them apart."""
        for other in self.table.twins(info, self.name):
            log.warning(
                "two live nodes are named %r (ids %s and %s): give each its own name (if one restarted "
                "without a journal, the old one expires within discovery.peer_timeout)",
                info.name,
                other or self.node_id,
                info.id,
            )
