"""Idle footprint of zbus nodes: CPU, resident memory, file descriptors and threads, per node and per peer.

Usage: python perf/footprint.py [--nodes 2,4,8] [--seconds 30] [--json FILE]

For each mesh size N it starts N ``zbus node start`` processes on 127.0.0.1 as a deployment runs them
(static scope with each other's endpoints, a journal each, /health on an ephemeral port, heartbeats
every 1 s), waits until every node reports N-1 peers, lets them settle for 2 s, then measures each
process over ``--seconds`` of idleness from /proc: CPU (user+system time over wall time), RSS
(VmRSS), open file descriptors and threads. It prints one row per size (the mean over the N nodes)
and the increment per extra peer (the slope between the smallest and the largest mesh). Processes
are stopped by PID with SIGTERM (SIGKILL after 10 s); journals live in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the /proc probes and the port picker are the ones `zbus bench --scenario scale` uses
from zbus.tools.bench_scale import cpu_ns, free_port, proc_status

JOIN_TIMEOUT = 30.0
SETTLE = 2.0


def measure(n: int, seconds: float, workdir: Path) -> dict[str, float]:
    ports = [free_port() for _ in range(n)]
    peers = ",".join(f"tcp://127.0.0.1:{p}" for p in ports)
    mesh = f"footprint-{os.getpid()}-{n}"
    procs: list[subprocess.Popen[bytes]] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZBUS_")}
    zbus = [sys.executable, "-m", "zbus"]
    try:
        for i, port in enumerate(ports):
            node_env = dict(
                env,
                ZBUS_MESH__NAME=mesh,
                ZBUS_DISCOVERY__SCOPE="static",
                ZBUS_DISCOVERY__PEERS=peers,
                ZBUS_TRANSPORT__ROUTER_PORT=str(port),
                ZBUS_PERSISTENCE__ENABLED="true",
                ZBUS_PERSISTENCE__PATH=str(workdir / f"n{n}-{i}"),
                ZBUS_MONITORING__HTTP__ENABLED="true",
                ZBUS_LOGGING__LEVEL="warning",
            )
            procs.append(
                subprocess.Popen(
                    [*zbus, "node", "start", "--name", f"n{i}"],
                    env=node_env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            )
        joined = dict.fromkeys(range(n), 0)
        buffers = dict.fromkeys(range(n), b"")
        deadline = time.monotonic() + JOIN_TIMEOUT
        while any(count < n - 1 for count in joined.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"mesh of {n} did not form within {JOIN_TIMEOUT} s: {joined}")
            fds = {p.stdout.fileno(): i for i, p in enumerate(procs) if p.stdout is not None}
            ready, _, _ = select.select(list(fds), [], [], left)
            for fd in ready:
                i = fds[fd]
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise SystemExit(f"node n{i} exited with {procs[i].wait()}")
                buffers[i] += chunk
                *lines, buffers[i] = buffers[i].split(b"\n")
                joined[i] += sum(line.startswith(b"peer joined") for line in lines)
        time.sleep(SETTLE)  # a settling window before measuring, not synchronisation
        start_cpu = [cpu_ns(p.pid) / 1e9 for p in procs]
        t0 = time.monotonic()
        time.sleep(seconds)  # the idle window being measured
        wall = time.monotonic() - t0
        cpu = [(cpu_ns(p.pid) / 1e9 - c) / wall * 100 for p, c in zip(procs, start_cpu, strict=True)]
        rss = [proc_status(p.pid, "VmRSS") / 1024 for p in procs]
        fds = [len(os.listdir(f"/proc/{p.pid}/fd")) for p in procs]
        threads = [proc_status(p.pid, "Threads") for p in procs]
        return {
            "nodes": n,
            "peers_per_node": n - 1,
            "cpu_percent": sum(cpu) / n,
            "rss_mib": sum(rss) / n,
            "fds": sum(fds) / n,
            "threads": sum(threads) / n,
            "seconds": wall,
        }
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
            if p.stdout is not None:
                p.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="2,4,8", help="mesh sizes, comma separated (default 2,4,8)")
    parser.add_argument("--seconds", type=float, default=30.0, help="idle window per size (default 30)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.nodes.split(",")})
    if sizes[0] < 2:
        parser.error("--nodes: every size must be at least 2")
    workdir = Path(tempfile.mkdtemp(prefix="zbus-footprint-"))
    try:
        rows = [measure(n, args.seconds, workdir) for n in sizes]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    header = f"{'nodes':>5} {'peers':>5} {'CPU %':>7} {'RSS MiB':>8} {'fds':>6} {'threads':>7}"
    print(header + "   (mean per node, idle)")
    for r in rows:
        print(
            f"{r['nodes']:>5} {r['peers_per_node']:>5} {r['cpu_percent']:>7.2f} {r['rss_mib']:>8.1f} "
            f"{r['fds']:>6.1f} {r['threads']:>7.1f}"
        )
    result: dict[str, object] = {"rows": rows}
    if len(rows) > 1:
        lo, hi = rows[0], rows[-1]
        span = hi["peers_per_node"] - lo["peers_per_node"]
        per_peer = {k: (hi[k] - lo[k]) / span for k in ("cpu_percent", "rss_mib", "fds", "threads")}
        result["per_peer"] = per_peer
        print(
            f"per extra peer: CPU {per_peer['cpu_percent']:+.3f} %, RSS {per_peer['rss_mib']:+.2f} MiB, "
            f"fds {per_peer['fds']:+.1f}, threads {per_peer['threads']:+.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
