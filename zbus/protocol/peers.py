"""PeerTable: who is in the mesh, and who has gone silent. Pure: ``now`` is always an argument.

Rule 1: a peer enters the table only through a HELLO (its own words), never through discovery
alone; discovery only suggests whom to greet. So a stale mDNS record of a dead node never
becomes a peer.
Rule 2: a peer leaves through BYE (clean shutdown) or expiry (no heartbeat for ``peer_timeout``).
A restart keeps the id (a journaled node) and only raises the epoch: an update, not a departure. Two
live nodes with the same name and different ids are two peers, never a restart (the mesh warns).
Rule 3: a dropped connection does not remove a peer at once (networks blip); it shortens the
peer's deadline to ``disconnect_grace``, and a heartbeat in that time restores it.
Rule 4: a handshake completes when the peer is heard on the XPUB it announced (``confirm``: a
heartbeat, or any message read there, since under load heartbeats queue behind events). Until then
HELLO, UPDATE and PING keep it no longer than ``handshake_timeout`` after its first HELLO (a
publisher whose XPUB is held back by a stuck subscriber PINGs meanwhile), so a peer that only talks to
our ROUTER (a ghost whose XPUB address is bogus) expires then, however often it pings.
Rule 5: at most ``max_peers`` peers; a HELLO from a new node beyond that is refused (``admits``).
Rule 6: without keys, a ROUTER message's sender id is anyone's word (``ROUTER_HANDOVER``), the peer's
own XPUB is not: the SUB link we connected to the XPUB it announced first. So an incarnation change
(a HELLO with another epoch) is taken only when that link vouches for it (``vouches``): the old
incarnation is no longer heard there (its connection dropped: a restart or a crash) or the new epoch
is heard there (a restart on the same endpoint). And a BYE removes a peer only once its link is no
longer heard (``heard_live``: a leaving node closes its XPUB; a forged BYE leaves it beating).

Theory of operation: every input returns the list of ``PeerChange`` it caused, which the mesh
turns into socket connects/disconnects and notifications.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..model.peer import PeerInfo

__all__ = ["PeerChange", "PeerTable"]

JOINED: Final = "joined"
UPDATED: Final = "updated"
LEFT: Final = "left"


@dataclass(frozen=True, slots=True)
class PeerChange:
    """``kind`` is ``joined``, ``updated`` or ``left``; ``reason`` says why a peer left."""

    kind: str
    peer: PeerInfo
    reason: str = ""


class PeerTable:
    """The live peers of one node, keyed by node id."""

    def __init__(
        self,
        *,
        self_id: str,
        mesh: str,
        peer_timeout: float,
        disconnect_grace: float,
        max_peers: int = 1 << 16,
        handshake_timeout: float = 30.0,
    ) -> None:
        self.self_id = self_id
        self.mesh = mesh
        self.peer_timeout = peer_timeout
        self.disconnect_grace = min(disconnect_grace, peer_timeout)
        self.max_peers = max_peers
        self.handshake_timeout = handshake_timeout
        self._peers: dict[str, PeerInfo] = {}
        self._deadline: dict[str, float] = {}
        self._confirmed: set[str] = set()  # heard on their own XPUB (Rule 4)
        self._first: dict[str, float] = {}  # when an unconfirmed peer's handshake began
        self._down: set[str] = set()  # their link dropped since they were last heard (Rule 6)
        self._heard_epoch: dict[str, int] = {}  # the newest epoch heard in their heartbeats (Rule 6)
        self._twins: set[frozenset[str]] = set()  # pairs of ids sharing a name, already reported

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self._peers

    def __len__(self) -> int:
        return len(self._peers)

    def get(self, peer_id: str) -> PeerInfo | None:
        """The peer with this id, if present."""
        return self._peers.get(peer_id)

    def peers(self) -> list[PeerInfo]:
        """All live peers."""
        return list(self._peers.values())

    def admits(self, peer_id: str) -> bool:
        """Whether a HELLO from ``peer_id`` may be taken: a known peer, or room for one more."""
        return peer_id in self._peers or len(self._peers) < self.max_peers

    def confirmed(self, peer_id: str) -> bool:
        """Whether ``peer_id`` has been heard on its own XPUB (its handshake is complete)."""
        return peer_id in self._confirmed

    def confirm(self, peer_id: str, now: float, epoch: int | None = None) -> bool:
        """``peer_id`` was heard on its own XPUB (a heartbeat names its ``epoch``): its handshake is
        complete and it is alive. False when it is not a peer."""
        if peer_id not in self._peers:
            return False
        self._confirmed.add(peer_id)
        if epoch is not None:  # a heartbeat: the link is up, and says which incarnation is behind it
            self._down.discard(peer_id)  # (only a heartbeat: events of a restarted node on the same
            if epoch > self._heard_epoch.get(peer_id, -1):  # endpoint must not vouch for the old one)
                self._heard_epoch[peer_id] = epoch
        self._first.pop(peer_id, None)
        self._deadline[peer_id] = now + self.peer_timeout
        return True

    def heard_live(self, peer_id: str) -> bool:
        """Whether ``peer_id``'s own XPUB was heard and its link has not dropped since (Rule 6)."""
        return peer_id in self._confirmed and peer_id not in self._down

    def vouches(self, peer_id: str, epoch: int) -> bool:
        """Whether a HELLO claiming incarnation ``epoch`` of ``peer_id`` may be taken (Rule 6): a new
        or unconfirmed peer, the same epoch, an old incarnation no longer heard, or the new epoch heard
        on its link."""
        known = self._peers.get(peer_id)
        if known is None or known.epoch == epoch or not self.heard_live(peer_id):
            return True
        return self._heard_epoch.get(peer_id, -1) == epoch

    def hello(self, info: PeerInfo, now: float) -> list[PeerChange]:
        """A HELLO or UPDATE arrived: add or update the peer (a restart only raises its epoch)."""
        if info.id == self.self_id or info.mesh != self.mesh or not self.admits(info.id):
            return []
        changes: list[PeerChange] = []
        old = self._peers.get(info.id)
        if old is None:
            # keep the original join time across updates
            self._peers[info.id] = info
            self._first[info.id] = now
            self._deadline[info.id] = now + min(self.peer_timeout, self.handshake_timeout)
            changes.append(PeerChange(JOINED, info))
        else:
            if info.epoch != old.epoch:  # a restart: its new XPUB must be heard again
                self._confirmed.discard(info.id)
                self._first[info.id] = now
            if info.joined_at != old.joined_at:
                from dataclasses import replace

                info = replace(info, joined_at=old.joined_at)
            self._peers[info.id] = info
            if info != old:
                changes.append(PeerChange(UPDATED, info))
            self._alive(info.id, now)
        return changes

    def _alive(self, peer_id: str, now: float) -> None:
        if peer_id in self._confirmed:
            self._deadline[peer_id] = now + self.peer_timeout
        else:  # Rule 4: not past the handshake's own deadline
            limit = self._first.get(peer_id, now) + self.handshake_timeout
            self._deadline[peer_id] = max(self._deadline[peer_id], min(now + self.peer_timeout, limit))

    def twins(self, info: PeerInfo, own_name: str) -> list[str]:
        """The live nodes that share ``info``'s name, each reported once per pair: their ids, ``""``
        for this node itself (``own_name``)."""
        others = [p.id for p in self._peers.values() if p.name == info.name and p.id != info.id]
        if info.name == own_name:
            others.append("")
        fresh = [o for o in others if frozenset((o, info.id)) not in self._twins]
        self._twins.update(frozenset((o, info.id)) for o in fresh)
        return fresh

    def seen(self, peer_id: str, now: float) -> bool:
        """A message from ``peer_id`` on our ROUTER; False when it is not a peer (send HELLO). An
        unconfirmed peer is kept no longer than its handshake allows (Rule 4)."""
        if peer_id not in self._peers:
            return False
        self._alive(peer_id, now)
        return True

    def disconnected(self, peer_id: str, now: float) -> None:
        """The connection to ``peer_id`` dropped: expire it soon unless it proves alive."""
        if peer_id in self._peers:
            self._deadline[peer_id] = min(self._deadline[peer_id], now + self.disconnect_grace)
            self._down.add(peer_id)

    def bye(self, peer_id: str) -> list[PeerChange]:
        """The peer said goodbye."""
        if peer_id not in self._peers:
            return []
        return [PeerChange(LEFT, self._drop(peer_id), "goodbye")]

    def expire(self, now: float) -> list[PeerChange]:
        """Remove every peer whose deadline has passed."""
        gone = [pid for pid, deadline in self._deadline.items() if deadline <= now]
        return [PeerChange(LEFT, self._drop(pid), "timeout") for pid in gone]

    def _drop(self, peer_id: str) -> PeerInfo:
        self._deadline.pop(peer_id, None)
        self._confirmed.discard(peer_id)
        self._first.pop(peer_id, None)
        self._down.discard(peer_id)
        self._heard_epoch.pop(peer_id, None)
        return self._peers.pop(peer_id)
