"""Which IPv4 addresses this host can be reached at, for announcing endpoints (stdlib only)."""

from __future__ import annotations

import fcntl
import socket
import struct
from collections.abc import Iterable

from zbus.errors import DiscoveryError

__all__ = ["interface_address", "reachable_addresses"]

_SIOCGIFADDR = 0x8915


def interface_address(name: str) -> str | None:
    """The IPv4 address of interface ``name``, or None when it has none."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return None
    return socket.inet_ntoa(packed[20:24])


def reachable_addresses(interfaces: Iterable[str] = ()) -> list[str]:
    """Addresses to announce: those of ``interfaces`` (names or addresses), else every
    non-loopback IPv4 address of the host, else ``["127.0.0.1"]``.

    Raises:
        DiscoveryError: a named interface has no IPv4 address.
    """
    out: list[str] = []
    for item in interfaces:
        try:
            socket.inet_aton(item)
            out.append(item)
            continue
        except OSError:
            pass
        address = interface_address(item)
        if address is None:
            raise DiscoveryError(
                f"discovery.interfaces names {item!r}, which has no IPv4 address here; "
                "list interface names or addresses from `ip -4 addr`"
            )
        out.append(address)
    if out:
        return out
    found = [
        a for _, name in socket.if_nameindex() if (a := interface_address(name)) and not a.startswith("127.")
    ]
    return found or ["127.0.0.1"]
