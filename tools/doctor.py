"""``zbus doctor``: check that this host can run a zbus node in the chosen scope, and say what to fix.

Each check prints a verdict (``ok``, ``warn``, ``FAIL``) and, when not ok, a fix line. The mDNS
self-test registers a throwaway service and browses for it with a second zeroconf instance on the
scope's interfaces: only 127.0.0.1 for ``local`` (nothing leaves the machine); real interfaces only
when the user chose ``--scope lan``. Exit code 1 when any check failed.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import click
import zmq

import zbus
from zbus.discovery import Found, make_discovery
from zbus.errors import ZbusError
from zbus.monitoring.access import HttpAccess
from zbus.security.settings import effective_mode, load_identity

from . import output, session
from .options import NodeOptions, network_options


@dataclass
class Check:
    name: str
    verdict: str  # "ok", "warn" or "fail"
    detail: str
    fix: str = ""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def check_versions() -> list[Check]:
    py = platform.python_version()
    checks = [
        Check(
            "python", "ok" if sys.version_info >= (3, 11) else "fail", py, "zbus needs Python 3.11 or newer"
        ),
        Check(
            "pyzmq/libzmq",
            "ok" if zmq.zmq_version_info() >= (4, 3) else "warn",
            f"pyzmq {zmq.pyzmq_version()}, libzmq {zmq.zmq_version()}",
            "libzmq older than 4.3 is untested: pip install -U pyzmq (bundles libzmq)",
        ),
    ]
    for dist in ("lmdb", "zeroconf", "msgpack"):
        v = _version(dist)
        checks.append(Check(dist, "fail" if v == "missing" else "ok", v, f"pip install {dist}"))
    return checks


def scope_host(cfg: zbus.Config) -> str:
    """The address the node binds for this scope (as the mesh does)."""
    scope, host = cfg.discovery.scope, cfg.transport.host
    if scope == "local":
        return "127.0.0.1"
    if scope == "lan" and host.startswith("127."):
        return "0.0.0.0"
    return host


def check_interfaces(cfg: zbus.Config) -> Check:
    scope = cfg.discovery.scope
    if scope == "local":
        return Check("interfaces", "ok", "local scope: loopback 127.0.0.1 only")
    from zbus.discovery.addresses import reachable_addresses

    try:
        addresses = reachable_addresses(cfg.discovery.interfaces)
    except zbus.ZbusError as exc:
        return Check("interfaces", "fail", str(exc), "fix discovery.interfaces (see `ip -4 addr`)")
    names = ", ".join(name for _, name in socket.if_nameindex())
    if addresses == ["127.0.0.1"]:
        return Check(
            "interfaces",
            "warn",
            f"no non-loopback IPv4 address ({names})",
            "connect a network, or use --scope local",
        )
    return Check("interfaces", "ok", f"{scope}: announcing {', '.join(addresses)} (interfaces: {names})")


def check_bind(cfg: zbus.Config) -> Check:
    host = scope_host(cfg)
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.XPUB)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            port = sock.bind_to_random_port(f"tcp://{host}")
        except zmq.ZMQError as exc:
            return Check(
                "zmq bind",
                "fail",
                f"cannot bind tcp://{host}: {exc}",
                "set transport.host to an address of this host (or 127.0.0.1)",
            )
        finally:
            sock.close(0)
    finally:
        ctx.term()
    return Check("zmq bind", "ok", f"bound a ZeroMQ socket on tcp://{host}:{port}")


async def check_mdns(cfg: zbus.Config, timeout: float) -> Check:
    scope = cfg.discovery.scope
    if scope == "static":
        return Check("mdns", "ok", f"static scope: no mDNS; {len(cfg.discovery.peers)} configured peer(s)")
    probe_cfg = zbus.load_config(cfg, overrides={"mesh": {"name": f"doctor-{os.urandom(4).hex()}"}})
    found = asyncio.Event()

    def on_found(f: Found) -> None:
        found.set()

    def make(node_id: str) -> object:
        return make_discovery(
            probe_cfg, node_id=node_id, name="zbus-doctor", epoch=1, role="monitor", pub_port=9, router_port=9
        )

    announcer, browser = make(os.urandom(8).hex()), make(os.urandom(8).hex())
    started = []
    where = "127.0.0.1" if scope == "local" else "the LAN interfaces"
    try:
        for disc, callback in ((announcer, lambda f: None), (browser, on_found)):
            await disc.start(callback, lambda node_id: None)  # type: ignore[attr-defined]
            started.append(disc)
        try:
            async with asyncio.timeout(timeout):
                await found.wait()
        except TimeoutError:
            return Check(
                "mdns",
                "fail",
                f"a service registered on {where} was not seen within {timeout} s",
                "allow UDP 5353 (multicast 224.0.0.251) on these interfaces, or use "
                "--scope static --peer tcp://HOST:PORT",
            )
    except zbus.ZbusError as exc:
        return Check(
            "mdns",
            "fail",
            str(exc),
            "another mDNS responder may hold port 5353 exclusively; or use --scope static",
        )
    finally:
        for disc in started:
            await disc.close()  # type: ignore[attr-defined]
    return Check("mdns", "ok", f"send/receive on {where}: a throwaway service was registered and seen")


async def check_peers(opts: NodeOptions, wait: float) -> Check:
    async with opts.node("monitor") as node:
        try:
            await node.wait_for_peers(1, timeout=wait)
        except zbus.ZbusError:
            pass
        peers = node.peers
        mesh = node.config.mesh.name
    if not peers:
        return Check(
            "peers",
            "warn",
            f"no other zbus node visible in mesh {mesh!r} after {wait} s",
            "start one (zbus node start), check --mesh and --scope match, run `zbus peers --wait 5`",
        )
    names = ", ".join(sorted(f"{p.name}({p.role})" for p in peers))
    return Check("peers", "ok", f"{len(peers)} node(s) in mesh {mesh!r}: {names}")


def check_journal(cfg: zbus.Config, journal: str | None, name: str) -> Check:
    path = Path(journal).expanduser() if journal else cfg.persistence.journal_path(name)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".zbus-doctor-"):
            pass
    except OSError as exc:
        return Check(
            "journal dir",
            "fail",
            f"{path}: cannot write in {existing}: {exc.strerror}",
            "set persistence.path (or --journal) to a writable directory",
        )
    state = "exists" if path.exists() else f"will be created under {existing}"
    enabled = "enabled" if cfg.persistence.enabled else "disabled (persistence.enabled = false)"
    return Check("journal dir", "ok", f"{path} is writable ({state}); journal {enabled}")


def check_security(cfg: zbus.Config, name: str) -> Check:
    """What ``[security]`` makes of this node: its mode on its scope, and whether its key, credential
    and mesh key would let it start (the same code a starting node runs: ``zbus.security.settings``)."""
    scope = cfg.discovery.scope
    fix = "docs/SECURITY.md: zbus mesh init; zbus keygen NAME; zbus enroll NAME ...; security.mode = 'mesh'"
    try:
        mode = effective_mode(cfg)
        if mode == "off":
            if scope == "local":
                return Check("security", "ok", "off on local scope (loopback only); links are not encrypted")
            return Check("security", "warn", f"off on {scope} scope: links are neither encrypted nor "
                         "authenticated, anyone who reaches the ports is in", fix)  # fmt: skip
        identity = load_identity(cfg, name)
        trust = identity.trust(cfg.mesh.name, lambda *_: None)
    except ZbusError as exc:
        return Check("security", "fail", str(exc), fix)
    detail = f"{mode}: CURVE on every link, key {identity.keys.public_text} ({identity.key_path})"
    own = trust.own_credential
    if own is not None:
        until = (
            "never expires" if not own.expires else f"expires in {(own.expires - time.time()) / 86400:.1f} d"
        )
        detail += f"; credential for {own.name!r} {until}"
        if own.expires and own.expires - time.time() < 7 * 86400:
            return Check("security", "warn", detail, f"re-enroll soon: zbus enroll {own.name} --key ...")
    else:
        detail += f"; {len(identity.allow)} allowed key(s)"
    return Check("security", "ok", detail)


def check_http(cfg: zbus.Config) -> Check:
    """What ``monitoring.http`` exposes and how it is guarded (the rules a starting node applies:
    ``zbus.monitoring.access``): off, or its address, token source and open endpoints."""
    http = cfg.monitoring.http
    if not http.enabled:
        return Check("http", "ok", "off (monitoring.http.enabled = false)")
    fix = "docs/SECURITY.md, HTTP endpoints: set monitoring.http.token or token_file, or host = 127.0.0.1"
    try:
        access = HttpAccess.from_config(http)
    except ZbusError as exc:
        return Check("http", "fail", str(exc), fix)
    source = "generated at each start (logged once)" if access.generated else (
        "monitoring.http.token" if http.token else f"token_file {http.token_file}")  # fmt: skip
    opened = ", ".join(sorted(access.open)) or "none"
    return Check("http", "ok", f"{http.host}:{http.port}: the dashboard and /api/* need the token "
                 f"({source}); open without it: {opened}")  # fmt: skip


async def run_doctor(opts: NodeOptions, journal: str | None, wait: float, as_json: bool) -> int:
    cfg = opts.config()
    checks = check_versions()
    checks += [check_interfaces(cfg), check_bind(cfg)]
    checks.append(await check_mdns(cfg, timeout=max(wait, 3.0)))
    checks.append(check_security(cfg, opts.name or "zbus-node"))
    checks.append(check_http(cfg))
    if checks[-1].verdict != "fail":  # a node that cannot start finds no peers: say why once
        checks.append(await check_peers(opts, wait))
    checks.append(check_journal(cfg, journal, opts.name or "zbus-node"))
    for c in checks:
        if as_json:
            output.echo_json(
                {
                    "check": c.name,
                    "verdict": c.verdict,
                    "detail": c.detail,
                    "fix": c.fix if c.verdict != "ok" else "",
                }
            )
        else:
            click.echo(
                f"{c.verdict.upper() if c.verdict == 'fail' else c.verdict:<5} {c.name:<13} {c.detail}"
            )
            if c.verdict != "ok":
                click.echo(f"      {'':<13} fix: {c.fix}")
    failed = [c.name for c in checks if c.verdict == "fail"]
    if failed and not as_json:
        output.note(f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return 1 if failed else 0


@click.command("doctor")
@click.option("--journal", metavar="DIR", help="Journal directory to check (default: persistence.path).")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds to look for other nodes.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per check: check, verdict, detail, fix."
)
@network_options
def doctor(node_options: NodeOptions, journal: str | None, wait: float, as_json: bool) -> None:
    """Check versions, interfaces, ZeroMQ bind, mDNS send/receive, visible nodes and the journal
    directory for the chosen --scope; print a fix for each problem. Exit 1 if a check failed.

    The mDNS test stays on 127.0.0.1 for --scope local (the default); it uses real interfaces
    only with --scope lan.

    \b
    Examples:
      zbus doctor
      zbus doctor --scope lan --json
    """
    session.run(run_doctor(node_options, journal, wait, as_json))
