"""Which IPv4 addresses this host can be reached at, and which announced ones are usable (stdlib only)."""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable

from zbus.errors import DiscoveryError

__all__ = ["interface_address", "reachable_addresses", "usable_address"]

_SIOCGIFADDR = 0x8915


def interface_address(name: str) -> str | None:
    """The IPv4 address of interface ``name``, or None when it has none.

    Raises:
        DiscoveryError: the process is out of file descriptors (EMFILE/ENFILE), which would otherwise
            look like "no address".
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise DiscoveryError(
                f"cannot read the address of {name!r}: {exc.strerror}; the process is out of file "
                "descriptors (raise `ulimit -n`, or look for a socket leak)"
            ) from exc
        return None
    return socket.inet_ntoa(packed[20:24])


def usable_address(text: str, *, loopback_only: bool) -> str | None:
    """``text`` when it is an IPv4 address a peer can be greeted at, else None.

    An announced address comes from whoever sent the mDNS packet: refused are anything that does not
    parse as dotted-quad IPv4, the unspecified address, multicast, broadcast and reserved (240/4)
    addresses, and, with ``loopback_only`` (``local`` scope), anything outside 127.0.0.0/8.
    """
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return None  # 255.255.255.255 is reserved too
    if loopback_only and not address.is_loopback:
        return None
    return str(address)


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
