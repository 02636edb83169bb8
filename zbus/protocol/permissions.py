"""Permissions: what one authenticated peer may publish, subscribe to and answer (pure, no I/O).

A credential (``zbus enroll NAME --publish 'task.*' --subscribe 'result.**' --respond 'calc.*'``)
carries three tuples of topic patterns (the grammar of ``model.topics``). The node that receives
something from a peer asks this module, never the peer:

- ``may_publish(topic)``: an event (broadcast or directed) or a request on ``topic``;
- ``may_respond(topic)``: answering requests of type ``topic`` (also whether the peer is offered as a
  responder at all);
- ``may_subscribe(prefix)``: a ZeroMQ subscription (a byte prefix) the peer's SUB sent to our XPUB.
  ZeroMQ filters by prefix, so a publisher can only grant or refuse *prefixes*: a subscription is
  allowed when it starts with the literal prefix of a permitted pattern (``task.`` for ``task.*``,
  ``result`` for ``result.**``). The granularity is therefore the permitted pattern's literal prefix:
  ``task.*`` lets the peer receive ``task.a.b`` too. Pick permission patterns whose literal prefix is
  what you mean to grant (docs/SECURITY.md says so).

System topics (``$zbus.``: heartbeats, mesh stats) are always allowed to an authenticated peer: the
mesh cannot work without them. Answers are cached per topic (bounded), because the checks run for
every event received.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..model.topics import SYSTEM_PREFIX, TopicPattern, compile_pattern

__all__ = ["ALL", "Permissions", "check_patterns"]

_SYSTEM = SYSTEM_PREFIX.encode()
#: most answers cached per permission set (then the cache starts over)
CACHE_LIMIT = 4096


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Validate permission patterns (topic patterns; ``**`` grants everything).

    Raises:
        InvalidTopicError: one is not a valid topic pattern (the message names it).
    """
    out = []
    for p in patterns:
        compile_pattern(p)  # raises with a message naming the problem
        out.append(p)
    return tuple(out)


@dataclass(slots=True)
class _Grant:
    patterns: tuple[TopicPattern, ...]
    prefixes: tuple[bytes, ...]
    cache: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, patterns: Iterable[str]) -> _Grant:
        compiled = tuple(compile_pattern(p) for p in patterns)
        return cls(compiled, tuple(p.prefix.encode() for p in compiled))

    def topic(self, topic: str) -> bool:
        hit = self.cache.get(topic)
        if hit is None:
            hit = any(p.matches(topic) for p in self.patterns)
            if len(self.cache) >= CACHE_LIMIT:
                self.cache.clear()
            self.cache[topic] = hit
        return hit


class Permissions:
    """One peer's grants: publish, subscribe and respond, each a tuple of topic patterns.

    Raises (constructor):
        InvalidTopicError: a pattern is invalid.
    """

    __slots__ = ("_pub", "_resp", "_sub", "publish", "respond", "subscribe")

    def __init__(
        self, *, publish: Iterable[str] = (), subscribe: Iterable[str] = (), respond: Iterable[str] = ()
    ) -> None:
        self.publish = check_patterns(publish)
        self.subscribe = check_patterns(subscribe)
        self.respond = check_patterns(respond)
        self._pub = _Grant.of(self.publish)
        self._sub = _Grant.of(self.subscribe)
        self._resp = _Grant.of(self.respond)

    def may_publish(self, topic: str) -> bool:
        """An event or request on ``topic`` from this peer is allowed."""
        return self._pub.topic(topic)

    def may_respond(self, topic: str) -> bool:
        """This peer may answer requests of type ``topic``."""
        return self._resp.topic(topic)

    def may_subscribe(self, prefix: bytes) -> bool:
        """This peer's ZeroMQ subscription ``prefix`` may be applied on our XPUB (see the module doc)."""
        if prefix.startswith(_SYSTEM):
            return True
        return any(prefix.startswith(granted) for granted in self._sub.prefixes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Permissions):
            return NotImplemented
        return (self.publish, self.subscribe, self.respond) == (other.publish, other.subscribe, other.respond)

    def __hash__(self) -> int:
        return hash((self.publish, self.subscribe, self.respond))

    def __repr__(self) -> str:
        return f"Permissions(publish={self.publish}, subscribe={self.subscribe}, respond={self.respond})"


#: everything allowed: the grant of an allow-listed key (allow-list mode has no per-key permissions)
ALL = Permissions(publish=("**",), subscribe=("**",), respond=("**",))
