"""A network-namespace lab: "hosts" h1..hN on one Linux bridge that lives in a namespace of its own.

The project's own copy of the recipe in the shared lab (lab.sh): nothing is created in, or routed
through, the root namespace, so mDNS multicast and every lab packet stay inside the lab and never
touch the machine's real interfaces. Needs root and ``ip netns`` (iproute2).

Layout, for ``NetLab(3, prefix="zl42a-", subnet="10.99.42")``::

    zl42a-sw:  br0 (no STP, no forward delay, no multicast snooping) with ports p1 p2 p3
    zl42a-h1:  lan0 = 10.99.42.1/24, veth peer of p1; route 224.0.0.0/4 dev lan0
    zl42a-h2:  lan0 = 10.99.42.2/24 ...

The host interface is ``lan0``, never ``eth0``, so a command that forgets ``ip netns exec``
cannot reach a real interface. ``cut(h)`` pulls a host's cable (its switch port goes down; the
host keeps its address), ``restore(h)`` plugs it back. ``down()`` kills every process inside the
lab's namespaces (they can only be ours: the namespaces are created here) and deletes them.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["IFACE", "LabError", "NetLab", "impairment_unavailable_reason", "netns_unavailable_reason"]

IFACE = "lan0"
MCAST_ROUTE = "224.0.0.0/4"
NFQ_DELAY = Path(__file__).with_name("nfq_delay.py")
NFQ_NUM = 7
NFQ_RULE = ("-j", "NFQUEUE", "--queue-num", str(NFQ_NUM), "--queue-bypass")


def impairment_unavailable_reason() -> str | None:
    """Why :meth:`NetLab.impair` cannot work here, or None."""
    if shutil.which("iptables") is None:
        return "packet loss/delay needs iptables (apt-get install iptables libnetfilter-queue-dev)"
    try:
        import netfilterqueue  # noqa: F401
    except ImportError:
        return "packet loss/delay needs the NetfilterQueue module (scripts/test-deps.sh installs it)"
    return None


class LabError(RuntimeError):
    """An ``ip`` command of the lab failed (the message holds the command and its stderr)."""


def _run(
    argv: Sequence[str], *, check: bool = True, timeout: float = 10.0
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def netns_unavailable_reason() -> str | None:
    """Why namespace labs cannot run here, or None when they can (creates and deletes a probe namespace)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "lab tests need root (they create network namespaces)"
    if shutil.which("ip") is None:
        return "lab tests need iproute2's `ip` command"
    probe = f"zlprobe{os.getpid()}"
    try:
        added = _run(["ip", "netns", "add", probe], check=False)
        if added.returncode != 0:
            return f"`ip netns add` does not work here: {added.stderr.strip()}"
        veth = _run(
            ["ip", "-n", probe, "link", "add", "zlp0", "type", "veth", "peer", "name", "zlp1"], check=False
        )
        if veth.returncode != 0:
            return f"cannot create veth pairs in a namespace: {veth.stderr.strip()}"
        bridge = _run(["ip", "-n", probe, "link", "add", "zlbr", "type", "bridge"], check=False)
        if bridge.returncode != 0:
            return f"cannot create a bridge in a namespace: {bridge.stderr.strip()}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`ip netns` is unavailable: {exc}"
    finally:
        _run(["ip", "netns", "del", probe], check=False)
    return None


class NetLab:
    """``n`` namespace hosts on a bridge in namespace ``<prefix>sw``; see the module docstring."""

    def __init__(self, n: int, *, prefix: str, subnet: str) -> None:
        if not 1 <= n <= 250:
            raise ValueError(f"n = {n}: expected 1..250 hosts")
        self.n = n
        self.prefix = prefix
        self.subnet = subnet  # first three octets, e.g. "10.99.42"
        self.sw = f"{prefix}sw"
        self._created: list[str] = []

    # -- names and addresses ---------------------------------------------------------------------------
    def ns(self, host: int) -> str:
        """The namespace of host ``host`` (1-based)."""
        self._check(host)
        return f"{self.prefix}h{host}"

    def addr(self, host: int) -> str:
        """The IPv4 address of host ``host`` on lan0."""
        self._check(host)
        return f"{self.subnet}.{host}"

    def exec_argv(self, host: int, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside host ``host`` (``ip netns exec`` execs it: the child's PID is argv's)."""
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def run(self, host: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a short command inside host ``host`` and return its result."""
        return _run(self.exec_argv(host, argv), check=check)

    def _check(self, host: int) -> None:
        if not 1 <= host <= self.n:
            raise ValueError(f"no lab host {host}: expected 1..{self.n}")

    # -- lifecycle --------------------------------------------------------------------------------------
    def up(self) -> NetLab:
        """Create the switch and the hosts. On any failure, what was created is torn down again."""
        existing = set(_namespaces())
        clash = sorted(existing & {self.sw, *(f"{self.prefix}h{i}" for i in range(1, self.n + 1))})
        if clash:
            raise LabError(f"lab namespaces already exist: {clash}; choose another prefix or delete them")
        try:
            self._add_ns(self.sw)
            self._ip(self.sw, "link", "set", "lo", "up")
            # every frame (mDNS included) is flooded to every port at once
            self._ip(self.sw, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0",
                     "mcast_snooping", "0")  # fmt: skip
            self._ip(self.sw, "link", "set", "br0", "up")
            for i in range(1, self.n + 1):
                h = self.ns(i)
                self._add_ns(h)
                self._ip(h, "link", "set", "lo", "up")
                # the veth is created inside sw, its peer directly inside the host: never in the root ns
                self._ip(self.sw, "link", "add", f"p{i}", "type", "veth", "peer", "name", IFACE, "netns", h)
                self._ip(self.sw, "link", "set", f"p{i}", "master", "br0")
                self._ip(self.sw, "link", "set", f"p{i}", "up")
                self._ip(h, "addr", "add", f"{self.addr(i)}/24", "dev", IFACE)
                self._ip(h, "link", "set", IFACE, "up")
                self._ip(h, "route", "add", MCAST_ROUTE, "dev", IFACE)  # multicast leaves via lan0
        except BaseException:
            self.down()
            raise
        return self

    def _add_ns(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self._created.append(name)
        # IPv4 only (zbus discovery is IPv4): no IPv6 link-local chatter, no duplicate-address waits
        _run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
              "net.ipv6.conf.default.disable_ipv6=1"], check=False)  # fmt: skip

    def _ip(self, ns: str, *args: str) -> None:
        _run(["ip", "-n", ns, *args])

    def pids(self) -> dict[str, list[int]]:
        """PIDs of the processes running inside each lab namespace."""
        out: dict[str, list[int]] = {}
        for ns in self._created:
            proc = _run(["ip", "netns", "pids", ns], check=False)
            out[ns] = [int(p) for p in proc.stdout.split()] if proc.returncode == 0 else []
        return out

    def down(self, grace: float = 2.0) -> None:
        """Kill every process inside the lab (SIGTERM, then SIGKILL after ``grace`` s); delete the namespaces.

        Only the lab's own namespaces are touched, and every process in them was started by this test
        session (the namespaces did not exist before ``up``).
        """
        for pids in self.pids().values():
            for pid in pids:
                _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(self.pids().values()):
            time.sleep(0.05)  # bounded: at most ``grace`` seconds
        for pids in self.pids().values():
            for pid in pids:
                _signal(pid, signal.SIGKILL)
        errors = []
        for ns in reversed(self._created):  # hosts first, the switch last
            proc = _run(["ip", "netns", "del", ns], check=False)
            if proc.returncode != 0 and ns in _namespaces():
                errors.append(f"{ns}: {proc.stderr.strip()}")
        self._created = []
        if errors:
            raise LabError("could not delete lab namespaces: " + "; ".join(errors))

    # -- faults -----------------------------------------------------------------------------------------
    def cut(self, host: int) -> None:
        """Pull host ``host``'s cable: its switch port goes down (the host keeps its address)."""
        self._ip(self.sw, "link", "set", f"p{host}", "down")

    def restore(self, host: int) -> None:
        """Plug the cable back: switch port and lan0 up, the multicast route re-added."""
        self._ip(self.sw, "link", "set", f"p{host}", "up")
        self._ip(self.ns(host), "link", "set", IFACE, "up")
        self._ip(self.ns(host), "route", "replace", MCAST_ROUTE, "dev", IFACE)

    def impair(self, host: int, *, delay_ms: float, loss: float, seconds: float) -> subprocess.Popen[bytes]:
        """Delay host ``host``'s lan0 packets by ``delay_ms`` and drop a ``loss`` fraction, both ways
        (NFQUEUE + nfq_delay.py: the kernel has no netem). Bounded: it stops by itself after ``seconds``.
        Undo with :meth:`unimpair`; :meth:`down` kills it anyway."""
        argv = [sys.executable, str(NFQ_DELAY), "--queue", str(NFQ_NUM), "--delay-ms", str(delay_ms),
                "--loss", str(loss), "--seconds", str(seconds)]  # fmt: skip
        proc = subprocess.Popen(self.exec_argv(host, argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10.0)
        line = proc.stdout.readline() if ready else b""
        if line.strip() != b"nfq ready":
            proc.kill()
            proc.wait(5)
            rest = proc.stdout.read().decode(errors="replace")
            proc.stdout.close()
            raise LabError(f"nfq_delay did not start in host {host}: {line!r} {rest[-500:]}")
        for chain, flag in (("OUTPUT", "-o"), ("INPUT", "-i")):
            self.run(host, "iptables", "-A", chain, flag, IFACE, *NFQ_RULE)
        return proc

    def unimpair(self, host: int, proc: subprocess.Popen[bytes]) -> None:
        """Remove the NFQUEUE rules, then stop the delay process (it releases what it holds)."""
        for chain, flag in (("OUTPUT", "-o"), ("INPUT", "-i")):
            self.run(host, "iptables", "-D", chain, flag, IFACE, *NFQ_RULE, check=False)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def no_multicast(self, host: int) -> None:
        """Take multicast away from host ``host``: no multicast route, and lan0 without the MULTICAST flag."""
        self._ip(self.ns(host), "route", "del", MCAST_ROUTE, "dev", IFACE)
        self._ip(self.ns(host), "link", "set", IFACE, "multicast", "off")

    def multicast_groups(self, host: int) -> list[str]:
        """The IPv4 multicast groups joined on host ``host``'s lan0 (from its /proc/net/igmp), dotted."""
        text = self.run(host, "cat", "/proc/net/igmp").stdout
        groups: list[str] = []
        device = ""
        for line in text.splitlines()[1:]:
            fields = line.split()
            if not fields:
                continue
            if not line[0].isspace():  # "<idx>\t<device> : <count> <querier>"
                device = fields[1]
            elif device == IFACE and len(fields[0]) == 8:  # "\t\t<group hex, host order> <users> ..."
                raw = int(fields[0], 16).to_bytes(4, "little")
                groups.append(".".join(str(b) for b in raw))
        return groups

    def link_state(self, host: int) -> str:
        """``ip -br link`` of host ``host``'s lan0, for messages."""
        return self.run(host, "ip", "-br", "link", "show", "dev", IFACE, check=False).stdout.strip()


def _namespaces() -> list[str]:
    proc = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
