"""``zbus bench``: end-to-end benchmarks, each beside a raw pyzmq + msgpack baseline of the same run."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import click

import zbus
from zbus.model.topics import validate_topic

from . import output
from .bench_harness import APPLIES, SCENARIOS, BenchError, Workload, chosen_scenarios, run
from .bench_io import MAX_SIZE, MIN_SIZE

TIMES = "\u00d7"  # the multiplication sign of the ratios (as an escape: it looks like an x)
#: the targets of docs/PERFORMANCE.md ("Targets"), per (scenario, metric) of the table;
#: tests/unit/test_bench_targets.py checks that the two agree
TARGETS: dict[tuple[str, str], str] = {
    ("throughput_1to1", "ev/s"): f"≥ 1.2{TIMES}",
    ("fanout_1to4", "ev/s per sub"): f"≥ 0.9{TIMES}",
    ("publish_batch", "ev/s"): f"≥ 1.5{TIMES}",
    ("request_reply", "p50 ms"): f"≤ 1.2{TIMES}",
    ("request_reply", "p99 ms"): f"≤ 1.3{TIMES}",
    ("latency_1k", "p50 ms"): f"≤ 1.3{TIMES}",
    ("latency_1k", "p99 ms"): f"≤ 1.5{TIMES}",
    ("latency_10k", "p50 ms"): f"≤ 1.3{TIMES}",
    ("latency_10k", "p99 ms"): f"≤ 1.5{TIMES}",
    ("journaled", "ev/s vs plain"): f"≥ 0.8{TIMES}",
    ("journaled", "ack p99.9 ms"): "< 10 ms",
    ("replay", "ev/s"): f"≥ 0.6{TIMES}",
    ("recovery", "open s"): "< 1 s",
    ("idle", "RSS MB"): "< 60 MB",
    ("idle", "CPU %"): "< 1 %",
    ("join", "median s"): "< 1 s",
    ("groups", "ev/s"): f"≥ 0.7{TIMES}",
    ("secured_1to1", "ev/s"): f"≥ 0.8{TIMES} open",
    ("stream_1to1", "ev/s"): f"≥ 0.9{TIMES} handler",
    ("secured_request_reply", "p50 ms"): f"≤ 1.2{TIMES} open",
    ("scale", "idle CPU %"): "≤ 0.5 % at n=30",
    ("scale", "join med s"): "≤ 0.5 s at n=30",
}
COLUMNS = ["scenario", "metric", "zbus", "raw", "ratio", "target"]
Row = tuple[str, Any, Any, float | None]  # metric, zbus value, raw value, ratio


def _num(value: Any, spec: str) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def _latency_rows(z: dict[str, Any], r: dict[str, Any], ratios: dict[str, float]) -> Iterator[Row]:
    for q in ("p50", "p99"):
        ratio = ratios.get(q, z["latency_ms"][q] / r["latency_ms"][q] if r["latency_ms"][q] else None)
        yield f"{q} ms", z["latency_ms"][q], r["latency_ms"][q], ratio


def _rows(name: str, result: dict[str, Any]) -> Iterator[Row]:
    """The table rows of one scenario's result (everything else is in ``--json``)."""
    ratios = result["ratios"]
    if "secured" in result:  # secured/open instead of zbus/raw
        result = {**result, "zbus": result["secured"], "raw": result["open"]}
    elif "stream" in result:  # async for over stream() / handler instead of zbus/raw
        result = {**result, "zbus": result["stream"], "raw": result["handler"]}
    z, r = result.get("zbus", {}), result.get("raw", {})
    if name in ("request_reply", "secured_request_reply", "latency_1k", "latency_10k"):
        yield from _latency_rows(z, r, ratios)
    elif name == "journaled":
        ours, plain = z["end_to_end_per_s"], result["zbus_unjournaled"]["end_to_end_per_s"]  # (see Method)
        yield "ev/s vs plain", ours, plain, ratios["journaled_vs_unjournaled"]
        yield "ev/s vs raw", ours, r["end_to_end_per_s"], ratios["journaled_vs_raw"]
        yield "ack p99.9 ms", result["durable_ack_ms"].get("p99.9"), None, None
    elif "per_s" in z:
        metric = "ev/s per sub" if name == "fanout_1to4" else "ev/s"
        yield metric, z["per_s"], r["per_s"], next(iter(ratios.values()))
        if "zbus_no_acks" in result:  # groups: zbus with no group (the floor), against the same raw
            yield "no-ack ev/s", result["zbus_no_acks"]["per_s"], r["per_s"], ratios["no_acks_vs_raw"]
        if "latency_ms" in z and "latency_ms" in r:  # paced by --rate
            yield from _latency_rows(z, r, {})
    elif name == "recovery":
        yield "open s", z["seconds"], None, None
    elif name == "idle":
        yield "RSS MB", z["rss_mb"], None, None
        yield "CPU %", z["cpu_percent"], None, None
    elif name == "join":
        yield "median s", z["median_s"], None, None


def _scale_rows(name: str, result: dict[str, Any]) -> Iterator[dict[str, str]]:
    target_of = "scale"
    for row in result["runs"]:
        z, r = row["zbus"], row["raw"]
        label, ratios = f"{name} n={row['nodes']}", row["ratios"]
        cells: list[tuple[str, str, str, str]] = [
            ("idle CPU %", f"{z['cpu_percent']:.2f}", f"{r['cpu_percent']:.2f}", _ratio(ratios["idle_cpu"])),
            ("RSS MB", f"{z['rss_mb']:.1f}", f"{r['rss_mb']:.1f}", ""),
            ("fds", f"{z['fds']:.0f}", f"{r['fds']:.0f}", ""),
            ("join med s", f"{z['join_median_s']:.3f}", f"{r['join_median_s']:.3f}", ""),
            ("join max s", f"{z['join_max_s']:.3f}", f"{r['join_max_s']:.3f}", ""),
            ("late join s", f"{z['late_join_s']:.3f}", f"{r['late_join_s']:.3f}", ""),
        ]
        if "forwarder" in z:
            f = z["forwarder"]
            cells.append(("forwarder CPU %", f"{f['cpu_percent']:.2f}", "", ""))
        for i, (metric, zv, rv, ratio) in enumerate(cells):
            yield {
                "scenario": label if i == 0 else "",
                "metric": metric,
                "zbus": zv,
                "raw": rv,
                "ratio": ratio,
                "target": TARGETS.get((target_of, metric), ""),
            }


def _ratio(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.2f}{TIMES}"


_SPEC = {"ev/s": ",.0f", "ms": ".3f", "MB": ".1f", "%": ".2f", " s": ".3f"}


def _cell(metric: str, value: Any) -> str:
    spec = next((s for unit, s in _SPEC.items() if unit in metric), ".2f")
    return "" if value is None else _num(value, spec)


def table_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """The rows of the human table (each cell short: the table fits 100 columns)."""
    rows: list[dict[str, str]] = []
    for name, result in report["scenarios"].items():
        if name.startswith("scale"):
            rows.extend(_scale_rows(name, result))
            continue
        for i, (metric, zv, rv, ratio) in enumerate(_rows(name, result)):
            rows.append(
                {
                    "scenario": name if i == 0 else "",
                    "metric": metric,
                    "zbus": _cell(metric, zv),
                    "raw": _cell(metric, rv),
                    "ratio": _ratio(ratio),
                    "target": TARGETS.get((name, metric), ""),
                }
            )
    return rows


def render_table(report: dict[str, Any]) -> None:
    """Print the table (rows per scenario: metric, zbus, raw, ratio, target) and the run's context."""
    output.table(table_rows(report), COLUMNS)
    m = report["machine"]
    click.echo(
        f"\n{report['mode']} run: {m['cpus']} cpus, python {m['python']}, zbus {m['zbus']}, "
        f"load {m['load_1min']:.2f} at start\n"
        "ratio = zbus / raw of this run (secured: secured / open; stream: stream / handler)\n"
        "targets: docs/PERFORMANCE.md, Targets"
    )
    if report.get("options"):
        click.echo("options: " + ", ".join(f"{k}={v}" for k, v in report["options"].items()))
    if report.get("repeat"):
        click.echo(f"each row: the run with the median ratio of {report['repeat']} (every ratio in --json)")


def _topic(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        topic = validate_topic(value)
    except zbus.ZbusError as exc:
        raise click.BadParameter(str(exc)) from None
    if topic.startswith(("bench.", "$")):
        raise click.BadParameter(f"{value!r}: 'bench.' and '$' topics are the benchmark's own; pick another")
    return topic


def _nodes(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[int, ...]:
    sizes: list[int] = []
    for text in value:
        for part in text.split(","):
            part = part.strip()
            if not part.isdigit() or not 2 <= int(part) <= 200:
                raise click.BadParameter(f"{part!r}: each mesh size must be a whole number from 2 to 200")
            sizes.append(int(part))
    return tuple(sorted(set(sizes)))


def _check_applies(scenarios: list[str], workload: Workload) -> None:
    for option in workload.given():
        used = APPLIES[option] & set(scenarios)
        if not used:
            choices = ", ".join(sorted(APPLIES[option]))
            raise click.UsageError(
                f"--{option} changes none of the scenarios chosen ({', '.join(scenarios)}); "
                f"it applies to: {choices}. Add one with --scenario."
            )


@click.command("bench")
@click.option("--quick", is_flag=True, help="Small counts: a smoke run of seconds (what CI runs).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as one JSON object.")
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    type=click.Choice(list(SCENARIOS)),
    help="Run only this scenario (repeatable). Default: all but secured_* and scale*.",
)
@click.option(
    "--count",
    "--msgs",
    type=click.IntRange(1, 10_000_000),
    help="Events per publish/subscribe scenario (round trips for request_reply).",
)
@click.option(
    "--size",
    type=click.IntRange(MIN_SIZE, MAX_SIZE),
    metavar="BYTES",
    help=f"Payload size in bytes of msgpack ({MIN_SIZE}..{MAX_SIZE:,}; default an order of ~150).",
)
@click.option("--topic", callback=_topic, help="Topic the events are published on (default order.placed).")
@click.option(
    "--rate",
    type=click.FloatRange(1, 1_000_000),
    metavar="EV/S",
    help="Pace the publishers of throughput/fan-out/ipc/journaled runs (their latency is then reported).",
)
@click.option(
    "--nodes",
    multiple=True,
    callback=_nodes,
    metavar="N[,N...]",
    help="Mesh sizes for the scale scenarios (repeatable or a list; default 10,30,50, quick 3).",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 20),
    default=1,
    show_default=True,
    help="Run each scenario N times and report the run with the median ratio (all ratios in --json).",
)
def bench(
    quick: bool,
    as_json: bool,
    scenarios: tuple[str, ...],
    count: int | None,
    size: int | None,
    topic: str | None,
    rate: float | None,
    nodes: tuple[int, ...],
    repeat: int,
) -> None:
    """Measure zbus end to end against raw pyzmq + msgpack in the same run.

    Publishers, subscribers, clients and responders run as separate processes on loopback (or
    ipc:// in a temporary directory); every scenario is bounded in count and time. Progress goes
    to stderr, the table (or --json) to stdout. Full runs take a few minutes. --count, --size,
    --topic and --rate change the scenarios they make sense for (an option that changes none of
    the chosen scenarios is refused); the scale scenarios start --nodes node processes each.

    \b
    Examples:
      zbus bench --quick
      zbus bench --scenario throughput_1to1 --count 200000 --size 1024
      zbus bench --scenario fanout_1to4 --rate 5000 --topic sensors.temp
      zbus bench --scenario scale --nodes 10,30,50
      zbus bench --repeat 3 --scenario throughput_1to1
      zbus bench --json > perf/results/$(date +%F).json
    """
    workload = Workload(count=count, size=size, topic=topic, rate=rate, nodes=nodes)
    _check_applies(chosen_scenarios(list(scenarios)), workload)
    try:
        report = run(list(scenarios), quick=quick, progress=output.note, workload=workload, repeat=repeat)
    except BenchError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report, default=str))  # one object on one line, like every --json
    else:
        render_table(report)
