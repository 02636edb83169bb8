"""A hostile mDNS announcer for tests: forged ``_zbus._tcp`` records sent with real zeroconf on 127.0.0.1.

Records are packed many to a packet (PTR, SRV, TXT and A of each, as a real announcement carries
them), sent from a zeroconf instance bound to 127.0.0.1 only (the loopback multicast that ``local``
scope uses: nothing leaves the host), with a short TTL, and withdrawn (TTL 0) on close, so nodes of
other tests on this host forget them quickly (they ignore them anyway: every record names this test's
own random mesh).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from zeroconf import DNSOutgoing, IPVersion, ServiceInfo, const
from zeroconf.asyncio import AsyncZeroconf

SERVICE = "_zbus._tcp.local."
TTL = 30  # seconds a forged record stays in other nodes' caches if the goodbye is lost
PER_PACKET = 25  # records per packet: one packet stays well under mDNS's 9,000-byte limit


@dataclass(frozen=True, slots=True)
class Forged:
    """One forged node record: its instance label, TXT properties, SRV port and A addresses."""

    label: str
    properties: Mapping[str | bytes, str | bytes | None]
    port: int = 9
    addresses: tuple[str, ...] = ("127.0.0.1",)


def node_record(mesh: str, **overrides: str | bytes | None) -> Forged:
    """A well-formed record of ``mesh`` with a fresh id, then ``overrides`` (None removes a key)."""
    node_id = os.urandom(8).hex()
    props: dict[str | bytes, str | bytes | None] = {
        "v": "1",
        "id": node_id,
        "name": f"fake-{node_id[:6]}",
        "mesh": mesh,
        "pub": "9",
        "rtr": "9",
        "role": "node",
        "epoch": "1",
    }
    for key, value in overrides.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return Forged(node_id, props)


class FakeAnnouncer:
    """Sends forged records; ``async with`` withdraws them and closes zeroconf at the end."""

    def __init__(self, interface: str = "127.0.0.1") -> None:
        # (tests/lab/hostile_host.py: a lab host's LAN address, inside its own network namespace)
        self._azc = AsyncZeroconf(interfaces=[interface], ip_version=IPVersion.V4Only)
        self._sent: list[ServiceInfo] = []

    async def __aenter__(self) -> FakeAnnouncer:
        await self._azc.zeroconf.async_wait_for_start()  # sends before the start are lost
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._send(self._sent, ttl=0)  # goodbye
        await self._azc.async_close()

    async def announce(self, records: list[Forged]) -> None:
        """Send ``records``, ``PER_PACKET`` to a packet, pausing between packets (loopback UDP buffers)."""
        infos = [
            ServiceInfo(
                SERVICE,
                f"{r.label}.{SERVICE}",
                port=r.port,
                properties=dict(r.properties),
                server=f"zbus-{r.label}.local.",
                host_ttl=TTL,
                other_ttl=TTL,
                addresses=[socket.inet_aton(a) for a in r.addresses],
            )
            for r in records
        ]
        self._sent += infos
        await self._send(infos, ttl=None)

    async def _send(self, infos: list[ServiceInfo], ttl: int | None) -> None:
        for start in range(0, len(infos), PER_PACKET):
            out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
            for info in infos[start : start + PER_PACKET]:
                records = [
                    info.dns_pointer(override_ttl=ttl),
                    info.dns_service(override_ttl=ttl),
                    info.dns_text(override_ttl=ttl),
                    *info.dns_addresses(override_ttl=ttl),
                ]
                for record in records:
                    out.add_answer_at_time(record, 0)
            self._azc.zeroconf.async_send(out)
            await asyncio.sleep(0.02)
