"""Discovery: how a node learns whom to greet. mDNS (``local``/``lan`` scope) or a static list.

Discovery only *suggests* peers (``Found``: a ROUTER endpoint to send HELLO to); the mesh adds a
peer to its table only when the peer answers. ``make_discovery`` picks the implementation for
``discovery.scope``.
"""

from __future__ import annotations

from zbus.config import Config
from zbus.tasks import Duties

from .base import Discovery, Found, Report, ignore

__all__ = ["Discovery", "Found", "Report", "make_discovery"]


def make_discovery(
    config: Config,
    *,
    node_id: str,
    name: str,
    epoch: int,
    role: str,
    pub_port: int,
    router_port: int,
    report: Report = ignore,
    duties: Duties | None = None,
    key: str = "",
) -> Discovery:
    """The discovery for ``config.discovery.scope`` (``local``, ``lan`` or ``static``).

    ``report(reason, detail)`` counts refused records (``bad_record``, ``discovery_full``); failures of
    the callbacks it makes are counted in ``duties`` (the mesh's, so they reach its statistics). ``key``
    is the node's CURVE public key (Z85), announced in mDNS when security is on.
    """
    scope = config.discovery.scope
    if scope == "static":
        from .static import StaticDiscovery

        d = config.discovery
        return StaticDiscovery(
            d.peers,
            peers_file=d.peers_file,
            interfaces=d.interfaces,
            host=config.transport.host,
            resolve_interval=d.resolve_interval,
            duties=duties,
            need_keys=bool(key),  # security on: every static peer entry names its key
        )
    from .mdns import MdnsDiscovery
    from .txt import NodeRecord

    record = NodeRecord(
        id=node_id,
        name=name,
        mesh=config.mesh.name,
        pub_port=pub_port,
        router_port=router_port,
        role=role,
        epoch=epoch,
        key=key,
    )
    return MdnsDiscovery(
        record,
        scope=scope,
        interfaces=config.discovery.interfaces,
        host=config.transport.host,
        max_nodes=config.discovery.max_nodes,
        report=report,
        duties=duties,
    )
