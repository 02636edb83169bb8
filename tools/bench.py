"""``zbus bench``: end-to-end benchmarks, each beside a raw pyzmq + msgpack baseline of the same run."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from . import output
from .bench_harness import SCENARIOS, BenchError, run

#: issue 6's target for each scenario's headline ratio (shown beside the measured value)
TARGETS = {
    "throughput_1to1": ("throughput", "≥ 0.75"),
    "fanout_1to4": ("per_subscriber", "≥ 0.8"),
    "publish_batch": ("throughput", "≥ 1.5"),
    "request_reply": ("p50", "≤ 1.2 (p99 ≤ 1.3)"),
    "latency_1k": ("p50", "—"),
    "latency_10k": ("p50", "—"),
    "journaled": ("journaled_vs_unjournaled", "≥ 0.8, ack p99 < 5 ms"),
    "throughput_1to1_ipc": ("throughput", "—"),
    "replay": ("replay", "≥ 0.6"),
    "recovery": ("vs_target_1s", "< 1 s"),
    "idle": ("rss_vs_target_60mb", "< 60 MB, < 1 % CPU"),
    "join": ("vs_target_1s", "< 1 s"),
    "secured_1to1": ("throughput", "≥ 0.8 (secured/open)"),
    "secured_request_reply": ("p50", "≤ 1.2 (secured/open)"),
    "groups": ("throughput", "≥ 0.7"),
}


def _fmt(value: Any, spec: str = ".2f") -> str:
    if isinstance(value, float) and math.isnan(value):
        return "—"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def _detail(name: str, result: dict[str, Any]) -> str:
    if "secured" in result:  # secured/open instead of zbus/raw
        result = {**result, "zbus": result["secured"], "raw": result["open"]}
    z, r = result.get("zbus", {}), result.get("raw", {})
    if "latency_ms" in z:
        zl, rl = z["latency_ms"], r["latency_ms"]
        return "  ".join(
            f"{q} {_fmt(zl[q], '.3f')}/{_fmt(rl[q], '.3f')} ms" for q in ("p50", "p99", "p99.9", "max")
        ) + (
            f"; cpu µs/ev {_fmt(z['cpu_us_per_event'], '.1f')}/{_fmt(r['cpu_us_per_event'], '.1f')}; "
            f"lost {z['lost']}/{r['lost']}; rss {z['rss_peak_mb']:.0f}/{r['rss_peak_mb']:.0f} MB"
        )
    if "per_s" in z and "delivered" in z:
        text = (
            f"zbus {z['per_s']:,.0f}/s raw {r['per_s']:,.0f}/s; "
            f"cpu µs/ev {_fmt(z['cpu_us_per_event'], '.1f')}/{_fmt(r['cpu_us_per_event'], '.1f')}; "
            f"lost {z['lost']}/{r['lost']}; rss {z['rss_peak_mb']:.0f}"
            f"/{r['rss_peak_mb']:.0f} MB"
        )
        if "durable_ack_ms" in z:
            text += f"; durable ack p99 {z['durable_ack_ms']['p99']:.2f} ms"
        return text
    if name == "replay":
        return f"zbus {z['per_s']:,.0f}/s raw scan {r['per_s']:,.0f}/s ({z['events']:,} events)"
    if name == "recovery":
        return f"{z['seconds'] * 1000:.1f} ms to open + stream heads, {z['events']:,} events"
    if name == "idle":
        return f"RSS {z['rss_mb']:.1f} MB, CPU {z['cpu_percent']:.2f} % over {z['seconds']:.0f} s"
    if name == "join":
        return f"median {z['median_s'] * 1000:.0f} ms, max {z['max_s'] * 1000:.0f} ms over {z['rounds']}"
    return ""


def render_table(report: dict[str, Any]) -> None:
    """Print one line per scenario: headline ratio, target, and the numbers behind it."""
    rows = []
    for name, result in report["scenarios"].items():
        key, target = TARGETS.get(name, ("", "—"))
        ratios = result["ratios"]
        rows.append(
            {
                "scenario": name,
                "ratio": ", ".join(f"{k} {_fmt(v)}" for k, v in ratios.items()),
                "target": f"{key} {target}" if key else target,
                "numbers (zbus/raw)": _detail(name, result),
            }
        )
    output.table(rows, ["scenario", "ratio", "target", "numbers (zbus/raw)"])
    m = report["machine"]
    click.echo(
        f"\n{report['mode']} run: {m['cpus']} cpus, python {m['python']}, zbus {m['zbus']}, "
        f"load {m['load_1min']:.2f} at start; ratios are zbus / raw of the same run"
    )


@click.command("bench")
@click.option("--quick", is_flag=True, help="Small counts: a smoke run of seconds (what CI runs).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as one JSON object.")
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    type=click.Choice(list(SCENARIOS)),
    help="Run only this scenario (repeatable). Default: all.",
)
def bench(quick: bool, as_json: bool, scenarios: tuple[str, ...]) -> None:
    """Measure zbus end to end against raw pyzmq + msgpack in the same run.

    Publishers, subscribers, clients and responders run as separate processes on loopback (or
    ipc:// in a temporary directory); every scenario is bounded in count and time. Progress goes
    to stderr, the table (or --json) to stdout. Full runs take a few minutes.

    \b
    Examples:
      zbus bench --quick
      zbus bench --scenario throughput_1to1 --scenario request_reply
      zbus bench --json > perf/results/$(date +%F).json
    """
    try:
        report = run(list(scenarios), quick=quick, progress=output.note)
    except BenchError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report, default=str))  # one object on one line, like every --json
    else:
        render_table(report)
