"""Static discovery: a configured list of ROUTER endpoints, for where multicast does not reach.

Containers, Kubernetes, routed networks and VPNs. The list is ``discovery.peers`` plus the lines of
``discovery.peers_file``; an endpoint names its host by address (``tcp://10.0.0.5:7001``) or by
name (``tcp://zbus-1.zbus:7001``, ``tcp://node2:7001``). With security on, each entry also carries the
peer's CURVE public key (Z85, as ``zbus keygen`` prints it): ``tcp://10.0.0.5:7001#key=<40 characters>``;
the node dials it as a CURVE client expecting that key (what mDNS's ``ck`` gives on ``lan`` scope), so
an entry without one is refused at start, and a wrong one fails the handshake (counted by the peer).

Theory of operation
-------------------
Every ``resolve_interval`` seconds the file is read again and every host name is resolved again
(IPv4, through the system resolver: ``/etc/hosts``, DNS). A name stands for all of its addresses,
so a Kubernetes headless Service name yields one endpoint per pod. Every ``retry_interval``
seconds each current endpoint is suggested to the mesh, which greets those that are not live peers
(``protocol.greetings``). So a peer restarted at a new address is greeted as soon as its name
resolves to it, without waiting for the old address to time out. A name that fails to resolve
keeps its last addresses (a DNS hiccup drops nobody) and is logged once until it resolves again; a
file that cannot be read keeps the last list. An address a name no longer resolves to is no longer
suggested; the mesh keeps greeting it, with backoff up to ``discovery.regreet_cap``, as it does for
every static endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from zbus.errors import DiscoveryError
from zbus.tasks import Duties, TaskGroup

from .addresses import reachable_addresses
from .base import Found

__all__ = ["Resolver", "StaticDiscovery", "check_entry", "parse_peers", "split_entry", "system_resolver"]

log = logging.getLogger("zbus")

#: ``tcp://host:port`` (host: a name, an IPv4 address or a bracketed IPv6 address) or ``ipc://path``
_TCP = re.compile(r"tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(?P<port>\d{1,5})")
_IPC = re.compile(r"ipc://\S+")
#: what follows an entry's endpoint when it names the peer's key: ``#key=`` and 40 Z85 characters
KEY_MARK = "#key="
_Z85 = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")
#: a ``#`` comment in a peers file: at the start of a line or after white space (a key may hold ``#``)
_COMMENT = re.compile(r"(^|\s)#.*")

#: ``resolve(host, port)`` -> the IPv4 addresses ``host`` has now; raises OSError when it has none
Resolver = Callable[[str, int], Awaitable[list[str]]]


def parse_peers(text: str, origin: str) -> tuple[str, ...]:
    """The entries listed in ``text``: one or more per line (comma or space separated); ``#`` at the
    start of a line or after a space starts a comment. ``origin`` names the source in errors (a file path).

    Raises:
        DiscoveryError: an entry is not ``tcp://HOST:PORT`` or ``ipc://PATH``, optionally followed by
            ``#key=`` and a 40-character Z85 key; names the line.
    """
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        for entry in _COMMENT.sub("", line).replace(",", " ").split():
            check_entry(entry, f"{origin}:{number}")
            found.append(entry)
    return tuple(dict.fromkeys(found))


def split_entry(entry: str) -> tuple[str, str]:
    """(endpoint, Z85 key or "") of a static peer entry."""
    endpoint, _, key = entry.partition(KEY_MARK)
    return endpoint, key


def check_entry(entry: str, where: str, *, need_key: bool = False) -> None:
    """Raise ``DiscoveryError`` (naming ``where``) unless ``entry`` is a peer entry (with a key if
    ``need_key``: security is on)."""
    endpoint, key = split_entry(entry)
    if not (_TCP.fullmatch(endpoint) or _IPC.fullmatch(endpoint)):
        raise DiscoveryError(
            f"{where}: {entry!r} is not an endpoint; write one per line like "
            "tcp://10.0.0.5:7001, tcp://zbus-1.zbus:7001 or ipc:///run/zbus/a.sock"
        )
    if (key or KEY_MARK in entry) and not _Z85.fullmatch(key):
        raise DiscoveryError(
            f"{where}: the key of {endpoint!r} is not a CURVE public key: after #key= write the 40 "
            "characters of the peer's .key file (`zbus keygen NAME` prints them)"
        )
    if need_key and not key:
        raise DiscoveryError(
            f"{where}: {endpoint!r} has no key, and security is on: a node dials only a peer whose CURVE "
            f"key it knows; write {endpoint}#key=KEY, KEY the 40 characters of that peer's .key file "
            '(docs/SECURITY.md, "Static scope")'
        )


def _is_address(host: str) -> bool:
    if host.startswith("["):
        return True
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return host.count(".") == 3  # inet_aton also takes "10.1" and "127.1"; those are names here


async def system_resolver(host: str, port: int, timeout: float = 5.0) -> list[str]:
    """The IPv4 addresses of ``host`` from the system resolver (``/etc/hosts``, DNS), in a worker thread.

    Raises:
        OSError: the name does not resolve (``socket.gaierror``) or the lookup took over ``timeout`` s.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM), timeout
        )
    except TimeoutError:
        raise OSError(f"no answer within {timeout} s") from None
    return sorted({str(info[4][0]) for info in infos}, key=socket.inet_aton)


class StaticDiscovery:
    """Suggests the configured endpoints, names resolved again periodically.

    Args:
        endpoints: ``discovery.peers``.
        peers_file: ``discovery.peers_file``: a file with more endpoints, re-read every
            ``resolve_interval``; empty for none.
        interfaces: ``discovery.interfaces``: what to announce when bound to a wildcard address.
        host: ``transport.host``.
        retry_interval: seconds between suggestions of every current endpoint.
        resolve_interval: ``discovery.resolve_interval``: seconds between re-reads and re-resolutions.
        resolve: the resolver (default :func:`system_resolver`).
        need_keys: security is on: every entry must carry its peer's key (``#key=``).
    """

    def __init__(
        self,
        endpoints: Iterable[str],
        *,
        peers_file: str = "",
        interfaces: Iterable[str] = (),
        host: str = "",
        retry_interval: float = 2.0,
        resolve_interval: float = 10.0,
        resolve: Resolver = system_resolver,
        duties: Duties | None = None,
        need_keys: bool = False,
    ) -> None:
        self.configured = tuple(endpoints)
        self.need_keys = need_keys
        self.peers_file = Path(peers_file).expanduser() if peers_file else None
        self.retry_interval = retry_interval
        self.resolve_interval = resolve_interval
        self._resolve = resolve
        specific = host and host not in ("0.0.0.0", "*")
        #: what this node announces in HELLO when its sockets are bound to a wildcard address
        self.addresses = [host] if specific else reachable_addresses(interfaces)
        self._listed: tuple[str, ...] = self.configured
        self._resolved: dict[str, list[str]] = {}  # a listed endpoint with a host name -> its endpoints
        self._failing: set[str] = set()  # names whose failure was logged (once until they resolve)
        self._tasks = TaskGroup("static discovery")
        self.duties = duties or Duties("static discovery")

    @property
    def endpoints(self) -> list[str]:
        """The endpoints suggested now: listed addresses as they are, names as their last addresses."""
        return list(self._found())

    def _found(self) -> dict[str, str]:
        """The endpoints suggested now, each with the key its entry names ("" for none)."""
        out: dict[str, str] = {}
        for listed in self._listed:
            endpoint, key = split_entry(listed)
            for each in self._resolved.get(listed, [endpoint]) if _name_of(endpoint) else [endpoint]:
                out.setdefault(each, key)
        return out

    def _check(self, entries: tuple[str, ...], origin: str) -> None:
        for entry in entries:
            check_entry(entry, origin, need_key=self.need_keys)

    def _read_file(self) -> None:
        if self.peers_file is None:
            return
        try:
            text = self.peers_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise DiscoveryError(
                f"cannot read discovery.peers_file {self.peers_file}: {exc.strerror or exc}; "
                "create it (one endpoint per line) or unset discovery.peers_file"
            ) from None
        except UnicodeDecodeError as exc:
            raise DiscoveryError(f"discovery.peers_file {self.peers_file} is not UTF-8 text: {exc}") from None
        from_file = parse_peers(text, str(self.peers_file))
        self._check(from_file, str(self.peers_file))
        listed = tuple(dict.fromkeys((*self.configured, *from_file)))
        if listed != self._listed:
            log.info(
                "static discovery: %s lists %d endpoint(s)",
                self.peers_file,
                len(listed) - len(self.configured),
            )
        self._listed = listed

    async def refresh(self) -> None:
        """Read the peers file again (keeping the last list if it cannot be) and resolve every name."""
        try:
            self._read_file()
        except DiscoveryError as exc:
            log.warning("static discovery: %s; keeping the last list", exc)
        names = {listed: name for listed in self._listed if (name := _name_of(split_entry(listed)[0]))}
        results = await asyncio.gather(
            *(self._resolve(host, port) for host, port in names.values()), return_exceptions=True
        )
        for (listed, (host, port)), result in zip(names.items(), results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, OSError):
                    raise result
                if host not in self._failing:
                    self._failing.add(host)
                    log.warning("static discovery: %s does not resolve (%s); retrying every %gs", host,
                                result, self.resolve_interval)  # fmt: skip
                continue
            self._failing.discard(host)
            endpoints = [f"tcp://{address}:{port}" for address in result]
            before = self._resolved.get(listed)
            if endpoints and endpoints != before:
                log.info("static discovery: %s resolves to %s%s", host, ", ".join(result),
                         f" (was {', '.join(before)})" if before else "")  # fmt: skip
                self._resolved[listed] = endpoints
        for gone in set(self._resolved) - set(names):
            del self._resolved[gone]  # no longer listed in the file

    async def start(self, on_found: Callable[[Found], None], on_lost: Callable[[str], None]) -> None:
        """Read the file and resolve the names once, suggest every endpoint, and keep doing both.

        Raises:
            DiscoveryError: ``peers_file`` cannot be read, or lists something that is not an endpoint,
                or (security on) an entry has no key.
        """
        self._check(self.configured, "discovery.peers")
        self._read_file()  # a missing or broken file at start is a configuration error: say so now
        await self.refresh()

        async def loop() -> None:
            next_refresh = time.monotonic() + self.resolve_interval
            while True:
                for endpoint, key in self._found().items():
                    with self.duties.guard("discover"):  # one failing endpoint never stops the others
                        on_found(Found(router=endpoint, key=key))
                await asyncio.sleep(min(self.retry_interval, self.resolve_interval))
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + self.resolve_interval
                    with self.duties.guard("resolve"):  # a resolver failure never stops the loop
                        await self.refresh()

        self._tasks.spawn(loop(), "static-discovery")

    async def close(self) -> None:
        """Stop suggesting."""
        await self._tasks.close()


def _name_of(endpoint: str) -> tuple[str, int] | None:
    """(host, port) of a ``tcp://`` endpoint that names its host, else None (addresses, ipc)."""
    match = _TCP.fullmatch(endpoint)
    if match is None or _is_address(match["host"]):
        return None
    return match["host"], int(match["port"])
