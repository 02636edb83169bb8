"""Gates: the node's replaying and durable subscriptions, each with a ``ReplayGate`` in front.

``subscribe(replay=...)`` and ``subscribe(durable=...)`` are parsed here into a ``ReplaySpec``
(:func:`replay_spec`; a durable one reads its checkpoint first). :class:`Gates` puts a gate in front
of the subscription, tells every gate when peers change (a new publisher's history is pulled) and
closes a gate when its subscription ends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..delivery.routing import Subscriptions
from ..delivery.subscription import Subscription
from ..errors import UsageError
from ..journal.checkpoints import load_checkpoint
from ..journal.persistence import Persistence
from ..model.peer import PeerInfo
from .recovery import Recovery
from .replay import ReplayGate, ReplaySpec

__all__ = ["Gates", "Replay", "replay_spec"]

Replay = str | int | float | datetime  #: ``"all"``, newest N per topic, or since a time


async def replay_spec(
    replay: Replay | None, durable: str | None, persistence: Persistence | None
) -> ReplaySpec | None:
    """Where a replaying or durable subscription starts, or ``None`` for a live-only one.

    Raises:
        UsageError: the argument is malformed, or ``durable`` without a journal.
    """
    if durable is not None:
        if persistence is None:
            raise UsageError(
                f"durable={durable!r} keeps its checkpoints in this node's journal: "
                "set persistence.enabled = true"
            )
        if not isinstance(durable, str) or not durable or len(durable.encode()) > 200:
            raise UsageError(f"durable={durable!r}: expected a name of 1 to 200 bytes")
        resume = await load_checkpoint(persistence, durable)
        return ReplaySpec(since=resume.since, start=resume.start)
    if replay is None:
        return None
    if replay == "all":
        return ReplaySpec()
    if isinstance(replay, bool) or not isinstance(replay, (int, float, datetime)):
        raise UsageError(
            f"replay={replay!r}: expected 'all', a count N (newest N per topic), "
            "a datetime or UNIX seconds (history since then)"
        )
    if isinstance(replay, int):
        if replay <= 0:
            raise UsageError(f"replay={replay}: a count must be at least 1")
        return ReplaySpec(last=replay)
    return ReplaySpec(since=replay.timestamp() if isinstance(replay, datetime) else float(replay))


class Gates:
    """The replay gates of one node's subscriptions."""

    def __init__(
        self,
        *,
        own_id: str,
        recovery: Recovery,
        persistence: Persistence | None,
        subscriptions: Subscriptions,
        peers: Callable[[], list[PeerInfo]],
    ) -> None:
        self.own_id = own_id
        self._recovery = recovery
        self._persistence = persistence
        self._subscriptions = subscriptions
        self._peers = peers
        self._gates: dict[Subscription, ReplayGate] = {}

    def attach(self, sub: Subscription, spec: ReplaySpec, durable: str | None) -> None:
        """Put a gate in front of ``sub``: history from every publisher first, then live events."""
        gate = ReplayGate(
            sub,
            recovery=self._recovery,
            config=self._recovery.config,
            own_id=self.own_id,
            spec=spec,
            durable=durable,
            persistence=self._persistence,
        )
        sub.gate = gate
        self._gates[sub] = gate
        self._subscriptions.gate_changed(+1)
        gate.peers_changed(self._peers())
        gate.start_saving()

    async def detach(self, sub: Subscription) -> None:
        """``sub`` ended: close its gate (a durable one writes its last checkpoint)."""
        gate = self._gates.pop(sub, None)
        if gate is not None:
            sub.gate = None
            self._subscriptions.gate_changed(-1)
            await gate.close()

    def peers_changed(self, peers: list[PeerInfo]) -> None:
        """Every gate starts pulling from publishers it has not asked yet."""
        for gate in self._gates.values():
            gate.peers_changed(peers)
