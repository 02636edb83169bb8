"""Departures: a node leaves with a drain, and lets a leaving peer go only once it has its tail.

Leaving (our side): BYE carries our final stream heads (``codec.control.Bye``). Until every peer that
follows one of those topics answers DRAINED, or ``transport.drain_timeout`` is spent, the node stays:
its pumps run, so repairs are still answered. A node that published but is younger than
``discovery.settle`` first waits for discovery (inside the same bound), so a subscriber it has not met
yet still gets its events.

Letting go (their side): a BYE with heads makes the peer "leaving". Its tail is asked for like a
heartbeat's (the inbound side repairs what is missing); once every followed stream is delivered or
reported lost up to those heads, DRAINED goes back and the peer leaves the table. If it vanishes first,
it expires like any silent peer, its SUB is drained, and what is still missing is reported lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import zmq

from ...codec.control import Bye, Kind
from ...errors import WireError
from ...observe.drops import Drops
from ...protocol.interest import follows
from ...protocol.peers import PeerChange, PeerTable
from ..base import Inbound
from .links import Link
from .sockets import send_frames

__all__ = ["Departures"]

log = logging.getLogger("zbus")

# a BYE announces the final heads of at most this many topics (the control message size bound)
MAX_BYE_TOPICS = 4096
# while a peer that said BYE drains, the mesh's ticker looks at it this often (s): the leaver waits on us
LEAVING_POLL = 0.005
# while we wait for discovery to settle before saying BYE, we look this often (s)
SETTLE_POLL = 0.05


class Departures:
    """Our own leaving and the leaving of peers, for one mesh transport."""

    def __init__(
        self,
        *,
        table: PeerTable,
        links: Callable[[], dict[str, Link]],
        apply: Callable[[list[PeerChange]], None],
        dropped: Drops,
    ) -> None:
        self.table = table
        self._links = links
        self._apply = apply
        self._dropped = dropped
        self.said_bye = False
        #: peers that said BYE with heads, and those heads: let go once we have their tail
        self.leaving: dict[str, dict[str, int]] = {}
        self._draining: set[str] = set()  # while we leave: peers that still have to say DRAINED
        #: peers that said BYE, have our DRAINED and are still heard: they go when their link drops
        self._released: set[str] = set()
        self._drained = asyncio.Event()

    # -- our side -----------------------------------------------------------------------------------
    async def leave(self, heads: dict[str, int], timeout: float, settled: Callable[[], bool]) -> None:
        """Say BYE with ``heads`` to every peer and wait (at most ``timeout`` s) for their DRAINED."""
        if self.said_bye:
            return
        deadline = time.monotonic() + timeout
        heads = dict(list(heads.items())[:MAX_BYE_TOPICS])
        # a poll with a deadline: "settled" is a time plus the absence of pending greetings, no one event
        while heads and not settled() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(SETTLE_POLL)
        self.said_bye = True
        self._draining = {peer.id for peer in self.table.peers() if heads and follows(peer, heads)}
        body = Bye(heads=heads).encode()
        for link in self._links().values():
            with contextlib.suppress(zmq.ZMQError):
                send_frames(link.dealer, [Kind.BYE.value, body])
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                while self._draining:
                    self._drained.clear()
                    await self._drained.wait()
        except TimeoutError:
            names = ", ".join(sorted(p.name for p in self.table.peers() if p.id in self._draining))
            log.warning(
                "left before %s confirmed having our last events (transport.drain_timeout = %g s); "
                "they report what they could not get as lost",
                names or "departed peers",
                timeout,
            )

    def on_drained(self, sender: str) -> None:
        """DRAINED from ``sender``: it has our tail."""
        if sender in self._draining:
            self._draining.discard(sender)
            self._drained.set()

    # -- their side ---------------------------------------------------------------------------------
    def on_bye(self, sender: str, body: bytes, inbound: Inbound | None) -> None:
        """A peer leaves. With final heads it stays until we have its tail; without, it goes at once."""
        try:
            heads = Bye.decode(body).heads
        except WireError:
            self._dropped.drop("malformed_bye")
            heads = {}
        if sender not in self.table:
            return
        if inbound is None or not (heads or self._live(sender)):
            self._apply(self.table.bye(sender))
            return
        self.leaving[sender] = heads
        self._released.discard(sender)  # (said again, after a forged BYE: answered again)
        if heads:
            inbound.on_bye(sender, heads)
        self.check(inbound)

    def _live(self, peer_id: str) -> bool:
        """Whether ``peer_id`` is still heard on its own XPUB through our SUB (PeerTable Rule 6): a
        BYE then removes it only when that link drops (a forged BYE leaves the real peer beating)."""
        link = self._links().get(peer_id)
        return self.table.heard_live(peer_id) and link is not None and link.sub is not None

    def link_dropped(self, peer_id: str) -> None:
        """``peer_id``'s link dropped: if it said BYE and we have its tail, it is gone now."""
        if peer_id in self._released:
            self._released.discard(peer_id)
            self.leaving.pop(peer_id, None)
            self._apply(self.table.bye(peer_id))

    def check(self, inbound: Inbound | None) -> None:
        """Let go of each leaving peer whose tail we have: DRAINED to it, then it leaves the table."""
        if inbound is None:
            return
        for peer_id, heads in list(self.leaving.items()):
            if peer_id not in self.table:
                del self.leaving[peer_id]
            elif peer_id not in self._released and inbound.has_tail(peer_id, heads):
                link = self._links().get(peer_id)
                if link is not None and heads:
                    with contextlib.suppress(zmq.ZMQError):
                        send_frames(link.dealer, [Kind.DRAINED.value, b""])
                if self._live(peer_id):  # (Rule 6: it goes when its link drops, link_dropped)
                    self._released.add(peer_id)
                    continue
                del self.leaving[peer_id]
                self._apply(self.table.bye(peer_id))

    def left(self, peer_id: str) -> bool:
        """``peer_id`` left the table: was it leaving (it said BYE, so it is gone for good)?"""
        self._released.discard(peer_id)
        return self.leaving.pop(peer_id, None) is not None
