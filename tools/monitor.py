"""``zbus monitor``: sniff the mesh. Joins passively and prints what flows.

The monitor is a node with role ``monitor``: it receives every broadcast event but announces no
subscriptions (so ``wait_for_subscribers`` elsewhere never counts it) and publishes nothing.
It prints events, peer joins and leaves, and losses it detects (sequence gaps); ``--stats``
prints a per-topic table of rate, bandwidth and latency every second instead, like
``ros2 topic hz`` / ``bw``.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

import click

import zbus
from zbus.model.topics import compile_pattern
from zbus.transport.zmq.capture import read_capture

from . import output, session
from .options import NodeOptions, network_options


@dataclass
class _TopicStats:
    events: int = 0
    payload_bytes: int = 0
    latencies: list[float] = field(default_factory=list)


STATS_COLUMNS = ("topic", "events", "ev_per_s", "kib_per_s", "latency_p50_ms", "latency_p99_ms")


def _stats_rows(stats: dict[str, _TopicStats], seconds: float) -> list[dict[str, str]]:
    rows = []
    for topic, st in sorted(stats.items()):
        lat = sorted(st.latencies) or [0.0]
        values = (
            topic,
            str(st.events),
            f"{st.events / seconds:.1f}",
            f"{st.payload_bytes / seconds / 1024:.1f}",
            f"{lat[len(lat) // 2] * 1000:.2f}",
            f"{lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:.2f}",
        )
        rows.append(dict(zip(STATS_COLUMNS, values, strict=True)))
    return rows


async def run_monitor(
    opts: NodeOptions,
    pattern: str,
    count: int | None,
    duration: float | None,
    as_json: bool,
    show_stats: bool,
) -> int:
    stop = session.stop_event()
    node = opts.node("monitor")
    seen = 0
    window: dict[str, _TopicStats] = defaultdict(_TopicStats)

    def on_event(event: zbus.Event) -> None:
        nonlocal seen
        if count is not None and seen >= count:
            return
        seen += 1
        if show_stats:
            st = window[event.topic]
            st.events += 1
            st.payload_bytes += len(output.to_json(event.payload))
            st.latencies.append(max(0.0, time.time() - event.ts))
        elif as_json:
            output.echo_json({"kind": "event", **output.event_dict(event)})
        else:
            click.echo(output.event_line(event))
        if count is not None and seen >= count:
            stop.set()

    def on_peer(change: zbus.PeerEvent) -> None:
        peer = change.peer
        if as_json:
            output.echo_json(
                {"kind": f"peer_{change.kind}", "name": peer.name, "id": peer.id, "role": peer.role}
            )
        elif change.kind != "updated":
            click.echo(f"-- peer {peer.name} ({peer.role}, {peer.id}) {change.kind}")

    try:
        await node.subscribe(pattern, handler=on_event, max_size=100_000)
    except zbus.InvalidTopicError as exc:
        output.usage(output.error_text(exc))
    node.on_peer(on_peer)
    async with node:
        output.note(f"monitoring {pattern} on mesh {node.config.mesh.name!r} (passive; Ctrl-C stops)")
        started = last = time.monotonic()
        lost = 0
        while not stop.is_set():
            remaining = None if duration is None else started + duration - time.monotonic()
            await session.sleep(stop, 1.0 if remaining is None else max(0.0, min(1.0, remaining)))
            stats = node.statistics()
            if stats.lost > lost:
                gap = {"kind": "lost", "events": stats.lost - lost, "gaps_total": stats.gaps}
                click.echo(
                    output.to_json(gap)
                    if as_json
                    else f"-- lost {stats.lost - lost} event(s) (sequence gaps)"
                )
                lost = stats.lost
            now = time.monotonic()
            if show_stats and window:
                rows = _stats_rows(window, max(1e-6, now - last))
                if as_json:
                    for row in rows:
                        output.echo_json({"kind": "stats", **row})
                else:
                    output.table(rows, STATS_COLUMNS)
                window.clear()
            last = now
            if duration is not None and now - started >= duration:
                break
    if count is not None and seen < count:
        output.note(f"saw {seen} of {count} events")
        return 1
    return 0


async def run_capture(
    endpoint: str, pattern: str, count: int | None, duration: float | None, as_json: bool
) -> int:
    """Print the events a forwarder relays, read from its capture socket (no mesh join)."""
    try:
        compiled = compile_pattern(pattern)
    except zbus.InvalidTopicError as exc:
        output.usage(output.error_text(exc))
    stop = session.stop_event()
    seen = 0

    async def consume() -> None:
        nonlocal seen
        async for event in read_capture(endpoint, compiled.prefix):
            if not compiled.matches(event.topic):
                continue
            seen += 1
            line = output.to_json({"kind": "event", **output.event_dict(event)}) if as_json else None
            click.echo(line or output.event_line(event))
            if count is not None and seen >= count:
                return

    output.note(f"reading capture socket {endpoint} ({pattern}; Ctrl-C stops)")
    try:
        async with asyncio.timeout(duration):
            await session.unless_stopped(stop, consume())
    except TimeoutError:
        pass
    except session.Interrupted:
        pass
    if count is not None and seen < count:
        output.note(f"saw {seen} of {count} events")
        return 1
    return 0


@click.command("monitor")
@click.argument("pattern", default="**")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: events (whole), peer changes, losses.")
@click.option(
    "--stats", "show_stats", is_flag=True, help="Per-topic rate, bandwidth and latency each second."
)
@click.option(
    "--capture",
    metavar="ENDPOINT",
    help="Read a forwarder's capture socket (zbus forwarder --capture) instead of joining.",
)
@network_options
def monitor(
    node_options: NodeOptions,
    pattern: str,
    count: int | None,
    duration: float | None,
    as_json: bool,
    show_stats: bool,
    capture: str | None,
) -> None:
    """Watch the mesh without taking part: every event matching PATTERN (default: all),
    peer joins/leaves and detected losses.

    \b
    Examples:
      zbus monitor
      zbus monitor 'order.**' --json --count 10
      zbus monitor --stats --duration 30
      zbus monitor --capture tcp://127.0.0.1:7100 --count 5
    """
    if capture is not None:
        if show_stats:
            output.usage("--stats works on the mesh only, not with --capture")
        session.run(run_capture(capture, pattern, count, duration, as_json))
    session.run(run_monitor(node_options, pattern, count, duration, as_json, show_stats))
