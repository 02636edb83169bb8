"""``zbus demo``: a small local agent mesh to watch (the README's first command).

It starts a planner, two workers and an auditor as separate processes on 127.0.0.1, joins the
mesh itself as an observer and prints every event and peer change as it happens, then stops
everything it started after ``--duration`` seconds (or on Ctrl-C) and prints a summary.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

import click

import zbus

from .logopts import LogOptions, logging_options
from .output import event_line

AGENTS = [("planner", "planner"), ("worker", "worker-1"), ("worker", "worker-2"), ("auditor", "auditor")]


async def run_demo(duration: float, mesh: str, http: str = "127.0.0.1:0") -> int:
    t0 = time.monotonic()
    procs: list[subprocess.Popen[bytes]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    counts: Counter[str] = Counter()
    scratch = tempfile.TemporaryDirectory(prefix="zbus-demo-")  # the agents' journals; removed at the end
    journals = scratch.name
    click.echo(
        f"zbus demo: mesh {mesh!r} on 127.0.0.1 (mDNS on loopback only), {duration:.0f} s; Ctrl-C stops it"
    )
    try:
        host, _, port = http.rpartition(":")
        monitoring = {"monitoring": {"http": {"enabled": True, "host": host, "port": int(port)}}}
        async with zbus.Node("observer", mesh=mesh, config=monitoring) as observer:
            click.echo(f"dashboard: {observer.dashboard_url}  (health: {observer.http_url}/health)")
            observer.on_peer(
                lambda ev: click.echo(f"{time.monotonic() - t0:6.2f}s  -- peer {ev.peer.name} {ev.kind}")
            )

            def show(event: zbus.Event) -> None:
                counts[event.topic] += 1
                click.echo(event_line(event, t0))

            await observer.subscribe("**", handler=show)
            for role, name in AGENTS:
                procs.append(
                    subprocess.Popen(  # noqa: ASYNC220  (Popen only forks; it does not wait)
                        [sys.executable, "-m", "zbus.tools.demo_agents", role, name, mesh, journals],
                        stdin=subprocess.PIPE,
                    )
                )
            try:
                async with asyncio.timeout(duration):
                    await stop.wait()
            except TimeoutError:
                pass
            click.echo(f"{time.monotonic() - t0:6.2f}s  -- stopping")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stdin is not None:
                proc.stdin.close()
        scratch.cleanup()
    summary = ", ".join(f"{topic}={n}" for topic, n in sorted(counts.items()))
    click.echo(
        f"summary: {sum(counts.values())} events ({summary or 'none'}); all {len(procs)} agents stopped"
    )
    return 0 if counts.get("task.done", 0) > 0 else 1


@click.command("demo")
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=lambda: float(os.environ.get("ZBUS_DEMO_DURATION", 30)),
    show_default="30, or $ZBUS_DEMO_DURATION",
    help="Seconds to run before stopping by itself.",
)
@click.option("--mesh", default=None, help="Mesh name (default: a fresh random one).")
@click.option(
    "--http",
    metavar="HOST:PORT",
    default="127.0.0.1:0",
    show_default=True,
    help="Where the observer serves the dashboard (port 0 = any free port).",
)
@logging_options
def demo(duration: float, mesh: str | None, http: str, log_options: LogOptions) -> None:
    """Run a local demo mesh (planner, 2 workers, auditor) and watch its events.

    \b
    Example:
      zbus demo --duration 10          (the dashboard URL is printed first)
    """
    host, sep, port = http.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{http!r}: expected HOST:PORT, e.g. 127.0.0.1:8080", param_hint="--http")
    log_options.apply(zbus.load_config(), default_level="warning")
    code = asyncio.run(run_demo(duration, mesh or f"demo-{os.urandom(3).hex()}", http))
    sys.exit(code)
