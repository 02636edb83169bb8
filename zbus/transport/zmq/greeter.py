"""Greeter: the HELLOs a node sends to endpoints that discovery suggested, and when discovery is settled.

Discovery only suggests endpoints (``protocol.greetings`` decides whom to greet and when, with back-off);
the greeter opens a DEALER per due endpoint, sends HELLO and holds the DEALER as a *candidate* until the
answer arrives (the mesh then makes it the link's DEALER) or ``discovery.hello_timeout`` passes. At most
``discovery.max_pending_greetings`` HELLOs wait at once. Discovery counts as *settled* once the node has
run ``discovery.settle`` seconds and no first greeting awaits its answer: a peer not known by then is
taken not to be there (``request()`` and a leaving publisher wait for that, no longer).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import zmq

from ...config import DiscoveryConfig
from ...discovery import Found
from ...errors import PeerError
from ...observe.drops import Drops
from ...protocol.greetings import Greetings
from ...tasks import Duties
from .sockets import SocketFactory

__all__ = ["Greeter"]


class Greeter:
    """Greets discovered endpoints and holds their DEALERs until answered or timed out."""

    def __init__(
        self,
        *,
        node_id: str,
        config: DiscoveryConfig,
        is_peer: Callable[[str, str], bool],
        send_hello: Callable[[zmq.Socket[bytes], str], None],
        dropped: Drops,
        duties: Duties,
    ) -> None:
        self.node_id = node_id
        self.config = config
        self._is_peer = is_peer
        self._send_hello = send_hello
        self._dropped = dropped
        self._duties = duties
        self.greetings = Greetings(
            base=config.regreet_base, cap=config.regreet_cap, max_endpoints=config.max_nodes
        )
        self.candidates: dict[str, tuple[zmq.Socket[bytes], float]] = {}
        self._tried: set[str] = set()  # endpoints whose first greeting timed out (no longer "settling")
        self._factory: SocketFactory | None = None
        self._started = time.monotonic()

    def start(self, factory: SocketFactory) -> None:
        """Begin: greetings need the socket factory; ``settle`` counts from now."""
        self._factory = factory
        self._started = time.monotonic()

    def found(self, found: Found) -> None:
        """Discovery suggests ``found``: remember it (a node we lose touch with is greeted again)."""
        if not self.greetings.found(found.router, found.id, time.monotonic()):
            self._dropped.drop("discovery_full", f"discovery.max_nodes={self.greetings.max_endpoints}")
            return
        self.greet_due()

    def greet_due(self) -> None:
        """Send HELLO to every endpoint that is due, within ``max_pending_greetings``."""
        if self._factory is None:
            return
        room = self.config.max_pending_greetings - len(self.candidates)
        for endpoint in self.greetings.due(time.monotonic(), self._is_peer, limit=max(room, 0)):
            if endpoint in self.candidates:
                continue  # the last HELLO is still waiting (its DEALER reconnects by itself)
            with self._duties.guard("greet"):  # one endpoint failing (EMFILE, ...) never stops the others
                try:
                    dealer = self._factory.dealer_to(self.node_id.encode(), endpoint)
                except PeerError as exc:  # a malformed endpoint stays malformed: forget it
                    self.greetings.forget(endpoint)
                    self._dropped.drop("bad_endpoint", str(exc))
                    continue
                self.candidates[endpoint] = (dealer, time.monotonic())
                self._send_hello(dealer, endpoint)

    def take(self, *endpoints: str) -> zmq.Socket[bytes] | None:
        """The DEALER of the first of ``endpoints`` greeted and now answered, if any (for its link)."""
        for endpoint in endpoints:
            candidate = self.candidates.pop(endpoint, None) if endpoint else None
            if candidate is not None:
                return candidate[0]
        return None

    def expire(self, now: float) -> None:
        """Close the DEALERs of HELLOs unanswered for ``hello_timeout`` (greeted again later)."""
        for endpoint, (dealer, since) in list(self.candidates.items()):
            if now - since > self.config.hello_timeout:
                del self.candidates[endpoint]
                self._tried.add(endpoint)
                with self._duties.guard("greet_timeout"):
                    dealer.close(linger=0)

    def running_for(self) -> float:
        """Seconds since :meth:`start`."""
        return time.monotonic() - self._started

    def settled(self) -> bool:
        """Discovery has run ``discovery.settle`` seconds and no first greeting awaits an answer."""
        age = time.monotonic() - self._started
        return age >= self.config.settle and not (self.candidates.keys() - self._tried)
