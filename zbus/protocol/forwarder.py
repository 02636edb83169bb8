"""ForwarderChoice: through which path a node takes each publisher's events in forwarder mode. Pure.

Theory of operation
-------------------
A forwarder (a peer with role ``forwarder``) subscribes to every publisher for what its own
subscribers asked for and relays the frames unchanged. A node with ``transport.forwarder = "auto"``
picks one forwarder (``via``) and subscribes there with its full interest; for each other publisher
it keeps the direct SUB until a heartbeat of that publisher arrives *through* ``via``
(``confirmed``): from then on the forwarder carries that publisher's events and the direct SUB
is closed. The transport owns the sockets: every transition returns a :class:`Resubscribe` naming
the links whose subscriptions must be recomputed with :meth:`ForwarderChoice.wanted`.

Rule 1: a node in ``AUTO`` mode is ``DIRECT`` until it meets a forwarder (a link, or a heartbeat of
a forwarder it had dropped); it then is ``FORWARDED`` through that one, with nothing confirmed.
Rule 2: a publisher is confirmed only by its own heartbeat arriving on ``via``'s SUB; only a
confirmed publisher's direct SUB is closed, so no publisher is ever unreachable.
Rule 3: when ``via`` leaves, the node takes another known forwarder, or goes ``DIRECT``; when
``via``'s connection drops, it goes ``DIRECT`` at once (not after the expiry). Either way every
link is recomputed and the confirmations start over.
Rule 4: a forwarder (``RELAY`` mode) subscribes each publisher to what its downstream subscribers
asked for, counted per subscription, and never to another forwarder's events (no loops). A node in
``OFF`` mode takes only heartbeats from forwarders.

Transitions (``AUTO`` mode; other modes stay ``DIRECT``)::

    DIRECT    --added(forwarder) / heartbeat(from a forwarder on its own link)--> FORWARDED
    FORWARDED --left(via), another forwarder known--> FORWARDED (through it)
    FORWARDED --left(via), none known / link_dropped(via)--> DIRECT
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

__all__ = ["FORWARDER", "ForwarderChoice", "Mode", "Resubscribe", "State"]

#: the ``role`` of a forwarder node
FORWARDER = "forwarder"


class Mode(Enum):
    """What this node does with forwarders (``transport.forwarder`` and the node's role)."""

    #: direct links only; a forwarder's SUB carries only its heartbeats
    OFF = "off"
    #: take events through a forwarder when one is in the mesh
    AUTO = "auto"
    #: this node is a forwarder: it relays what its downstream subscribers asked for
    RELAY = "relay"


class State(Enum):
    """Where the events of publishers come from."""

    #: every publisher's events arrive on its direct SUB
    DIRECT = "direct"
    #: events arrive through ``via``; the direct SUBs of confirmed publishers are closed
    FORWARDED = "forwarded"


@dataclass(frozen=True, slots=True)
class Resubscribe:
    """Links whose SUB subscriptions must be recomputed: all of them (``everyone``), or ``peers``."""

    everyone: bool = False
    peers: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.everyone or bool(self.peers)


NOTHING = Resubscribe()
EVERYONE = Resubscribe(everyone=True)


class ForwarderChoice:
    """The forwarder choice of one node (module rules).

    Args:
        node_id: this node's id (its own heartbeats never confirm anything).
        mode: see :class:`Mode`.
        heartbeat_topic: the prefix of heartbeats, subscribed on every link (liveness).
    """

    def __init__(self, *, node_id: str, mode: Mode, heartbeat_topic: bytes) -> None:
        self.node_id = node_id
        self.mode = mode
        self.heartbeat_topic = heartbeat_topic
        self.state = State.DIRECT
        #: the forwarder peer whose XPUB this node takes events from, or None (``DIRECT``)
        self.via: str | None = None
        #: publishers whose heartbeats arrived through ``via``: their direct SUBs are closed
        self.confirmed: set[str] = set()
        #: (RELAY) subscriptions of our own XPUB's subscribers, per prefix
        self.downstream: Counter[bytes] = Counter()

    @property
    def auto(self) -> bool:
        """Whether this node takes events through forwarders (``Mode.AUTO``)."""
        return self.mode is Mode.AUTO

    def wanted(self, peer_id: str, role: str, interest: Iterable[bytes]) -> Counter[bytes]:
        """The subscriptions the SUB on ``peer_id`` (of ``role``) should carry, given this node's
        own ``interest`` (its subscription prefixes, the heartbeat topic included)."""
        beats = Counter({self.heartbeat_topic: 1})
        if self.mode is Mode.RELAY:
            return beats if role == FORWARDER else beats + self.downstream  # Rule 4
        if role == FORWARDER:
            return Counter(interest) if peer_id == self.via else beats
        if self.via is not None and peer_id in self.confirmed:
            return Counter()  # Rule 2
        return Counter(interest)

    # -- transitions -------------------------------------------------------------------------------
    def added(self, peer_id: str, role: str) -> Resubscribe:
        """A link to ``peer_id`` (of ``role``) was opened."""
        if self.auto and role == FORWARDER and self.via is None:
            self._use(peer_id)  # Rule 1
        return Resubscribe(peers=(peer_id,))

    def left(self, peer_id: str, forwarders: Iterable[str]) -> Resubscribe:
        """``peer_id`` left the mesh; ``forwarders`` are the forwarder peers still linked, in order."""
        self.confirmed.discard(peer_id)
        if peer_id != self.via:
            return NOTHING
        self._direct()
        other = next((p for p in forwarders if p != peer_id), None)
        if other is not None:
            self._use(other)  # Rule 3
        return EVERYONE

    def link_dropped(self, peer_id: str) -> Resubscribe:
        """The SUB connection to ``peer_id`` dropped (the peer may still come back)."""
        if peer_id != self.via:
            return NOTHING
        self._direct()  # Rule 3: at once, not after the expiry
        return EVERYONE

    def heartbeat(self, link_peer: str, link_role: str, sender: str) -> Resubscribe:
        """A heartbeat of ``sender`` arrived on the SUB of ``link_peer`` (of ``link_role``)."""
        if self.auto and self.via is None and link_role == FORWARDER and sender == link_peer:
            self._use(sender)  # Rule 1: a forwarder we dropped is reachable again
            return EVERYONE
        if self.via is None or link_peer != self.via or sender in (self.via, self.node_id):
            return NOTHING
        if sender in self.confirmed:
            return NOTHING
        self.confirmed.add(sender)  # Rule 2
        return Resubscribe(peers=(sender,))

    def downstream_subscription(self, subscribe: bool, prefix: bytes) -> Resubscribe:
        """(RELAY) A subscriber of our XPUB (un)subscribed ``prefix``."""
        if subscribe:
            self.downstream[prefix] += 1
        elif self.downstream[prefix] > 0:
            self.downstream[prefix] -= 1
        return EVERYONE

    def _use(self, peer_id: str) -> None:
        self.state, self.via = State.FORWARDED, peer_id
        self.confirmed.clear()

    def _direct(self) -> None:
        self.state, self.via = State.DIRECT, None
        self.confirmed.clear()
