"""``zbus bench --scenario scale``: the idle cost of a mesh of N node processes on one host, beside N raw
pyzmq processes exchanging the same heartbeats (PUB/SUB full mesh, one heartbeat a second).

Theory of operation
-------------------
For each size N (``--nodes``) the harness starts N + 1 processes of this file and waits until each has
imported what it needs (``loaded``), so start-up imports are not counted. It sends ``go`` to the first
N at once: each starts a zbus node (``local`` scope: mDNS on 127.0.0.1, links on loopback) and reports
``joined`` with the seconds from ``go`` until it lists N - 1 peers. Once all have joined and ``SETTLE``
seconds passed, it reads every process's CPU time from /proc/PID/stat over a window (``Sizes.scale_window``),
then RSS (VmRSS), open file descriptors (/proc/PID/fd) and threads. Then the last process gets ``go``:
the *late joiner*, one node joining the idle mesh of N (the usual join in practice). The raw side
does the same with plain pyzmq: its "join" is the first heartbeat heard from every peer.

``scale_forwarder`` runs the zbus side with a ``zbus forwarder``-style node (role ``forwarder``) and
every node in ``transport.forwarder = "auto"``: events and heartbeats reach each node through the
forwarder's XPUB (one SUB per node instead of N - 1); the forwarder is measured on its own.

Workers run as ``python bench_scale.py ROLE JSON`` (this file as a script, not ``-m zbus...``) so a raw
process never imports zbus: its RSS is that of pyzmq + msgpack alone. Every process is ours, bounded by
its ``deadline`` and stopped by PID; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import select
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bench_procs import Child, Run

__all__ = ["cpu_ns", "cpu_seconds", "proc_status", "scale", "scale_forwarder"]

#: after the last node joined, before the idle window (greetings and mDNS announcements still in flight)
SETTLE = 2.0
HEARTBEAT_TOPIC = b"$zbus.hb"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- /proc probes (also used by perf/footprint.py) ---------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def cpu_ns(pid: int) -> int:
    """CPU nanoseconds used so far by the threads of ``pid`` alive now (/proc/PID/task/*/schedstat):
    precise where /proc/PID/stat counts 10 ms ticks, which an idle process hardly uses in a window."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            pass
    return total


def proc_status(pid: int, key: str) -> int:
    """A number from /proc/PID/status (``VmRSS`` in kB, ``Threads``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- worker side (this file run as a script) ----------------------------------------------------------
def _emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _order(timeout: float) -> str:
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    return sys.stdin.readline().strip() if ready else ""


def zbus_mesh_node(mesh: str, name: str, peers: int, deadline: float, forwarder: bool = False) -> None:
    """A zbus node with one subscription: on ``go`` it starts, reports ``joined`` once it lists
    ``peers`` peers, and idles until ``quit`` (stdin watched by the loop: no polling thread)."""
    import asyncio

    import zbus

    _emit(loaded=True)
    if _order(deadline) != "go":
        return
    t0 = time.monotonic()
    config: dict[str, Any] = {"mesh": {"name": mesh}, "discovery": {"scope": "local"}}
    if forwarder:
        config["transport"] = {"forwarder": "auto"}

    async def main() -> None:
        async with zbus.Node(name, config=config) as node:
            started = time.monotonic() - t0  # (of the join time: the node's own start)
            await node.subscribe("order.*", handler=lambda e: None)
            await node.wait_for_peers(peers, timeout=deadline)
            _emit(joined=time.monotonic() - t0, started=started)
            profile_dir = os.environ.get("ZBUS_BENCH_PROFILE")  # cProfile of the idle time only
            if not profile_dir:
                await _until_quit(deadline)
                return
            import cProfile

            with cProfile.Profile() as profile:
                await _until_quit(deadline)
            profile.dump_stats(os.path.join(profile_dir, f"scale-{name}-{os.getpid()}.prof"))

    asyncio.run(main())


def zbus_forwarder(mesh: str, deadline: float) -> None:
    """A node with role ``forwarder`` (what ``zbus forwarder`` runs) until ``quit``."""
    import asyncio

    import zbus

    async def main() -> None:
        config = {"mesh": {"name": mesh}, "discovery": {"scope": "local"}}
        async with zbus.Node("scale-forwarder", config=config, role="forwarder"):
            _emit(ready=True)
            await _until_quit(deadline)

    asyncio.run(main())


async def _until_quit(deadline: float) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    fd = sys.stdin.fileno()

    def on_stdin() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, on_stdin)
    try:
        async with asyncio.timeout(deadline):
            await done
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(fd)


def raw_mesh_node(name: str, interval: float, deadline: float) -> None:
    """Raw pyzmq: a PUB bound on an ephemeral port (reported with ``loaded``) sending a heartbeat every
    ``interval`` s, and on ``go PORTS`` a SUB connected to each of those ports; ``joined`` once a
    heartbeat of each arrived; idle until ``quit``."""
    import msgpack
    import zmq

    ctx = zmq.Context()
    pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
    pub.bind("tcp://127.0.0.1:*")
    sub.setsockopt(zmq.SUBSCRIBE, HEARTBEAT_TOPIC)
    _emit(loaded=True, port=int(pub.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1]))
    order, _, ports = _order(deadline).partition(" ")
    if order != "go":
        return
    t0 = time.monotonic()
    connect: list[int] = json.loads(ports)
    for other in connect:
        sub.connect(f"tcp://127.0.0.1:{other}")
    beat = msgpack.packb({"id": name, "epoch": 1, "heads": {}})
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    seen: set[str] = set()
    next_beat, end, joined = t0, t0 + deadline, False
    while (now := time.monotonic()) < end:
        if now >= next_beat:
            pub.send_multipart([HEARTBEAT_TOPIC, beat])
            next_beat = now + interval
        for sock, _ in poller.poll(int((next_beat - now) * 1000) + 1):
            if sock is not sub:
                ctx.destroy(linger=0)  # "quit"
                return
            while True:
                try:
                    frames = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                seen.add(msgpack.unpackb(frames[1])["id"])
            if not joined and len(seen) >= len(connect):
                joined = True
                _emit(joined=time.monotonic() - t0)
    ctx.destroy(linger=0)


ROLES: dict[str, Callable[..., None]] = {
    "zbus_mesh_node": zbus_mesh_node,
    "zbus_forwarder": zbus_forwarder,
    "raw_mesh_node": raw_mesh_node,
}


# -- harness side -------------------------------------------------------------------------------------
def _command() -> list[str]:
    return [sys.executable, str(Path(__file__).resolve())]


def _idle(children: list[Child], window: float) -> dict[str, float]:
    """CPU % (mean and max per process) over ``window`` s, then RSS, fds and threads (means)."""
    pids = [c.pid for c in children]
    start = [cpu_ns(pid) for pid in pids]
    t0 = time.monotonic()
    time.sleep(window)  # the idle window being measured, not synchronisation
    wall = time.monotonic() - t0
    cpu = [(cpu_ns(pid) - c) / 1e9 / wall * 100 for pid, c in zip(pids, start, strict=True)]
    n = len(pids)
    return {
        "cpu_percent": sum(cpu) / n,
        "cpu_percent_max": max(cpu),
        "rss_mb": sum(proc_status(pid, "VmRSS") for pid in pids) / n / 1024,
        "fds": sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids) / n,
        "threads": sum(proc_status(pid, "Threads") for pid in pids) / n,
        "window_s": wall,
    }


def _mesh(run: Run, kind: str, n: int, forwarder: bool = False) -> dict[str, Any]:
    """Start ``n`` + 1 processes of ``kind`` (zbus or raw), join ``n``, measure them idle, then time the
    late joiner; everything stopped by PID at the end."""
    deadline = 60.0 + 2.0 * n  # 50 processes importing at once on 2 shared cores take a while
    cmd, interval = _command(), 1.0
    extra = 1 if forwarder else 0  # the forwarder is a peer too
    fwd: Child | None = None
    try:
        if forwarder:
            fwd = run.start("zbus_forwarder", command=cmd, mesh=(mesh := run.mesh()), deadline=deadline * 3)
            fwd.read("ready", deadline)
        else:
            mesh = run.mesh()
        children = []
        for i in range(n + 1):
            peers = n - 1 if i < n else n  # the late joiner sees all n
            if kind == "raw":
                args: dict[str, Any] = {"interval": interval}
                role = "raw_mesh_node"
            else:
                args, role = {"mesh": mesh, "peers": peers + extra, "forwarder": forwarder}, "zbus_mesh_node"
            children.append(run.start(role, command=cmd, name=f"scale-{i}", deadline=deadline * 3, **args))
        ports = [child.read("loaded", deadline).get("port", 0) for child in children]
        mesh_nodes, late = children[:n], children[n]
        for i, child in enumerate(mesh_nodes):
            child.tell("go" if kind == "zbus" else f"go {json.dumps(ports[:i] + ports[i + 1 : n])}")
        joined = [child.read("joined", deadline) for child in mesh_nodes]
        joins = sorted(message["joined"] for message in joined)
        time.sleep(SETTLE)  # a settling window before measuring, not synchronisation
        result: dict[str, Any] = {"nodes": n, **_idle(mesh_nodes, run.sizes.scale_window)}
        if fwd is not None:
            result["forwarder"] = _idle([fwd], 1.0)
        late.tell("go" if kind == "zbus" else f"go {json.dumps(ports[:n])}")
        result.update(
            join_median_s=statistics.median(joins),
            join_max_s=joins[-1],
            start_median_s=statistics.median(message.get("started", 0.0) for message in joined),
            late_join_s=late.read("joined", deadline)["joined"],
        )
        return result
    finally:
        for child in run.children:
            child.tell("quit")  # all at once: they close in parallel
        run.stop_all()


def _scale(run: Run, forwarder: bool) -> dict[str, Any]:
    from .bench_procs import BenchError

    if not Path("/proc/self/stat").exists():
        raise BenchError("the scale scenarios read /proc/PID: they run on Linux only")
    rows, ratios = [], {}
    for n in run.sizes.nodes:
        run.progress(f"scale: {n} zbus nodes{' through a forwarder' if forwarder else ''}")
        ours = _mesh(run, "zbus", n, forwarder)
        run.progress(f"scale: {n} raw pyzmq processes")
        raw = _mesh(run, "raw", n)
        cpu = ours["cpu_percent"] / raw["cpu_percent"] if raw["cpu_percent"] else float("nan")
        join = ours["join_median_s"] / raw["join_median_s"] if raw["join_median_s"] else float("nan")
        rows.append({"nodes": n, "zbus": ours, "raw": raw, "ratios": {"idle_cpu": cpu, "join": join}})
        ratios[f"idle_cpu_n{n}"], ratios[f"join_n{n}"] = cpu, join
    return {"forwarder": forwarder, "heartbeat_interval_s": 1.0, "runs": rows, "ratios": ratios}


def scale(run: Run) -> dict[str, Any]:
    """N node processes on one host (local scope), idle after joining, vs N raw pyzmq processes."""
    return _scale(run, forwarder=False)


def scale_forwarder(run: Run) -> dict[str, Any]:
    """The scale scenario with a forwarder (transport.forwarder = "auto") vs the raw full mesh."""
    return _scale(run, forwarder=True)


def main(argv: list[str]) -> int:
    """Run the role ``argv[0]`` with the JSON arguments ``argv[1]``."""
    try:
        ROLES[argv[0]](**json.loads(argv[1]))
    except Exception as exc:  # reported to the harness, which shows it in its error
        _emit(error=f"{type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
