"""What a node holds for one peer: a ``Link`` (DEALER to its ROUTER, SUB on its XPUB, a monitor on
the SUB), each receiving socket drained by a ``pump.Pump``.

A link knows nothing of the mesh that made it: what it needs (the socket factory, where received
messages go, the task group for closing work) comes in a ``LinkServices`` shared by every link.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import zmq

from ...tasks import TaskGroup
from .pump import Pump
from .sockets import SocketFactory, recv_frames

__all__ = ["Link", "LinkServices"]

# a retired SUB holds at most recv_hwm messages (100,000 by default); the bound only guarantees that
# a peer which keeps sending cannot keep the drain going forever, so it is not a setting
RETIRE_DRAIN_LIMIT = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkServices:
    """What every link of one mesh is given.

    Attributes:
        factory: makes the SUB sockets.
        on_frames: handles one message received on a link's SUB (``link.sub`` is None while a retired
            SUB is drained); returns an awaitable only when the pump must wait for it.
        on_alive: the peer proved alive (any traffic on its SUB, even events ahead of its heartbeats).
        on_dropped: the SUB's connection to the peer dropped (its socket monitor said so).
        tasks: runs the closing of retired SUBs; the mesh waits for it on close.
        safety_poll: seconds between the pumps' looks at a socket without a wake-up.
    """

    factory: SocketFactory
    on_frames: Callable[[list[bytes], Link], Awaitable[None] | None]
    on_alive: Callable[[str], object]
    on_dropped: Callable[[str], None]
    tasks: TaskGroup
    safety_poll: float


class Link:
    """What this node holds for one peer: DEALER to its ROUTER, SUB on its XPUB, SUB monitor.

    The SUB is optional: in forwarder mode a publisher's events come through the forwarder, and its
    direct SUB is closed (``set_prefixes`` with nothing wanted) and reopened when the forwarder leaves.
    ``counts`` mirrors the SUB's subscriptions (a forwarder subscribes a prefix once per downstream
    subscriber, so the publisher's XPUB counts them all).
    """

    def __init__(
        self,
        peer_id: str,
        dealer: zmq.Socket[bytes],
        router: str,
        services: LinkServices,
        *,
        pub: str = "",
        role: str = "node",
    ) -> None:
        self.peer_id = peer_id
        self.dealer = dealer
        self.router = router
        self.services = services
        self.pub = pub  # the peer's XPUB endpoint (from its HELLO)
        self.role = role
        self.sub: zmq.Socket[bytes] | None = None
        self.monitor: zmq.Socket[bytes] | None = None
        self.pumps: list[Pump] = []
        self.counts: Counter[bytes] = Counter()

    def _on_frames(self, frames: list[bytes]) -> Awaitable[None] | None:
        """One message from the SUB: its size may lower the SUBs' receive mark (``bounds.ByteBound``)."""
        if frames:
            self.services.factory.received.seen(len(frames[-1]))
        return self.services.on_frames(frames, self)

    def open_sub(self, pub: str, prefixes: Iterable[bytes]) -> None:
        """Subscribe to the peer's XPUB (prefixes first, so none of them races the connect)."""
        s = self.services
        self.pub = pub
        self.sub = sub = s.factory.sub()
        self.counts = Counter(prefixes)
        for prefix, n in self.counts.items():
            for _ in range(n):
                sub.setsockopt(zmq.SUBSCRIBE, prefix)
        self.monitor = sub.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        s.factory.connect(sub, pub)
        short, peer_id = self.peer_id[:8], self.peer_id
        self.pumps = [
            # any traffic from the peer proves it alive, even when its heartbeats queue behind events
            Pump(
                sub,
                self._on_frames,
                f"sub-{short}",
                safety_poll=s.safety_poll,
                on_batch=lambda: s.on_alive(peer_id),
            ),
            Pump(
                self.monitor,
                lambda frames: s.on_dropped(peer_id),
                f"monitor-{short}",
                safety_poll=s.safety_poll,
            ),
        ]

    def set_prefixes(self, wanted: Counter[bytes]) -> None:
        """Make the SUB's subscriptions ``wanted`` (prefix -> times); nothing wanted closes the SUB."""
        wanted = +wanted
        if not wanted:
            if self.sub is not None:
                self.services.tasks.spawn(self.retire_sub(), f"unsub-{self.peer_id[:8]}")
            return
        if self.sub is None:
            if self.pub:
                self.open_sub(self.pub, wanted.elements())
            return
        for prefix in set(wanted) | set(self.counts):
            diff = wanted[prefix] - self.counts[prefix]
            option = zmq.SUBSCRIBE if diff > 0 else zmq.UNSUBSCRIBE
            for _ in range(abs(diff)):
                self.sub.setsockopt(option, prefix)
        self.counts = wanted
        for pump in self.pumps:
            pump.poke()  # setsockopt may have consumed a readiness edge

    async def retire_sub(self) -> None:
        """Close the SUB after handing on what it already queued (events then arrive elsewhere)."""
        sub, monitor, pumps = self.sub, self.monitor, self.pumps
        self.sub, self.monitor, self.pumps, self.counts = None, None, [], Counter()
        if sub is None:
            return
        for pump in pumps:
            await pump.stop(finish=True)  # what a pump is handing on arrives first, in order
        with contextlib.suppress(zmq.ZMQError):
            sub.disable_monitor()
        on_frames = self.services.on_frames
        for _ in range(RETIRE_DRAIN_LIMIT):
            try:
                frames = recv_frames(sub)
            except zmq.ZMQError:
                break
            result = on_frames(frames, self)
            if result is not None:
                await result
        sub.close(linger=0)
        if monitor is not None:
            monitor.close(linger=0)

    async def stop_reading(self) -> None:
        """Stop the pumps (the context's destroy closes the sockets)."""
        for pump in self.pumps:
            await pump.stop()
        self.pumps = []

    async def close(self) -> None:
        """Close every socket of the link, the SUB after handing on what it already queued: a
        departed peer's last events are delivered (or, past its heads, reported), never dropped
        unread."""
        await self.retire_sub()
        await self.stop_reading()
        self.dealer.close(linger=0)
