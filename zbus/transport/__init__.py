"""Transports: how a node's frames reach its peers. They move bytes and keep the peer table; they
know nothing of subscriptions, filters or handlers.

Owns the seam (base.py: the ``Transport`` and ``Inbound`` protocols), the in-process transport
(memory.py) and the ZeroMQ mesh (the ``zmq`` subpackage: mesh, links, pump, outbox, sockets,
forwarding, capture).

May import: ``zbus.model``, ``zbus.codec``, ``zbus.protocol``, ``zbus.observe``, ``zbus.discovery``,
``zbus.config``, ``zbus.errors``, ``zbus.tasks``; zmq only inside ``zmq/``.
"""

from __future__ import annotations

from ..config import Config
from .base import Transport

__all__ = ["make_transport", "preload"]


def preload(config: Config) -> None:
    """Import what a node of ``config`` loads lazily (pyzmq and the mesh, zeroconf). ``Node.start``
    runs it in a worker thread first: done inside ``start`` on the loop, those imports took one step
    of 80-115 ms, which stalls every other task of the loop (asyncio debug flags it)."""
    if config.transport.kind != "memory":
        from ..discovery import mdns  # noqa: F401
        from .zmq import mesh  # noqa: F401


def make_transport(
    config: Config, *, node_id: str, name: str, epoch: int, role: str, base: dict[str, int]
) -> Transport:
    """The transport ``config.transport.kind`` names: ``"memory"`` (in-process) or the ZeroMQ mesh.
    ``base`` is the node's last sequence per topic at start (the join rule's input, see PeerHello)."""
    if config.transport.kind == "memory":
        from .memory import MemoryTransport

        return MemoryTransport(node_id=node_id, name=name, mesh=config.mesh.name, epoch=epoch, role=role)
    from .zmq.mesh import MeshTransport  # pyzmq loads only for nodes that use it

    return MeshTransport(node_id=node_id, name=name, epoch=epoch, config=config, role=role, base=base)
