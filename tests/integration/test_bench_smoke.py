"""`zbus bench --quick --json` runs every scenario as real processes and reports each with its ratios
(values are not asserted: speed is measured by `zbus bench`, not by tests)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

SCENARIOS = {
    "throughput_1to1": ["throughput"],
    "fanout_1to4": ["per_subscriber"],
    "publish_batch": ["throughput"],
    "request_reply": ["p50", "p95", "p99", "p99.9"],
    "latency_1k": ["p50", "p99", "p99.9"],
    "latency_10k": ["p50", "p99", "p99.9"],
    "journaled": ["journaled_vs_unjournaled", "journaled_vs_raw"],
    "throughput_1to1_ipc": ["throughput"],
    "replay": ["replay"],
    "recovery": ["vs_target_1s"],
    "idle": ["rss_vs_target_60mb", "cpu_vs_target_1pct"],
    "join": ["vs_target_1s"],
    "groups": ["throughput", "no_acks_vs_raw", "groups_vs_no_acks"],
    "stream_1to1": ["throughput"],
}
ZBUS = [sys.executable, "-c", "from zbus.tools.cli import main; main()"]


def test_bench_quick_reports_every_scenario_with_ratios() -> None:
    out = subprocess.run([*ZBUS, "bench", "--quick", "--json"], capture_output=True, text=True, timeout=55)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert set(report["scenarios"]) == set(SCENARIOS)
    for name, keys in SCENARIOS.items():
        ratios = report["scenarios"][name]["ratios"]
        for key in keys:
            assert math.isfinite(ratios[key]) and ratios[key] > 0, (name, key, ratios)
    for name in (
        "throughput_1to1",
        "fanout_1to4",
        "publish_batch",
        "journaled",
        "latency_1k",
        "request_reply",
        "groups",
    ):
        for side in ("zbus", "raw"):
            result = report["scenarios"][name][side]
            assert result["lost"] == 0, (name, side, result)  # both sides are lossless
            assert result["cpu_us_per_event"] > 0 and result["rss_peak_mb"] > 0
    floor = report["scenarios"]["groups"]["zbus_no_acks"]  # the group's floor: each event to one worker
    assert floor["lost"] == 0 and floor["shares"] == [floor["delivered"] // 4] * 4, floor
    for side in (
        "raw",
        "zbus",
        "zbus_no_acks",
    ):  # every process is switched out at least once (it waits for go)
        result = report["scenarios"]["groups"][side]
        assert result["publisher_context_switches"] >= 1 and result["workers_context_switches"] >= 4, result
    for side in ("stream", "handler"):  # async for over stream() against a handler, both lossless
        assert report["scenarios"]["stream_1to1"][side]["lost"] == 0, report["scenarios"]["stream_1to1"]
    assert report["scenarios"]["journaled"]["durable_ack_ms"]["samples"] > 0
    assert "progress" not in out.stdout and "throughput_1to1:" in out.stderr  # progress on stderr


def test_bench_runs_one_scenario_and_prints_a_table() -> None:
    out = subprocess.run(
        [*ZBUS, "bench", "--quick", "--scenario", "join"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "join" in out.stdout and "median s" in out.stdout and "< 1 s" in out.stdout
    assert "throughput_1to1" not in out.stdout


def test_bench_rejects_an_unknown_scenario() -> None:
    out = subprocess.run([*ZBUS, "bench", "--scenario", "nope"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "nope" in out.stderr


def test_bench_secured_scenarios_compare_security_on_and_off() -> None:
    out = subprocess.run(
        [
            *ZBUS,
            "bench",
            "--quick",
            "--json",
            "--scenario",
            "secured_1to1",
            "--scenario",
            "secured_request_reply",
        ],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    scenarios = json.loads(out.stdout)["scenarios"]
    assert math.isfinite(scenarios["secured_1to1"]["ratios"]["throughput"])
    assert math.isfinite(scenarios["secured_request_reply"]["ratios"]["p50"])
    assert (
        scenarios["secured_1to1"]["secured"]["lost"] == 0 and scenarios["secured_1to1"]["open"]["lost"] == 0
    )


WORKLOAD = ["--size", "512", "--topic", "sensors.temp", "--rate", "5000"]


def test_bench_workload_options_reach_both_sides() -> None:
    out = subprocess.run(
        [*ZBUS, "bench", "--quick", "--json", "--scenario", "throughput_1to1", "--count", "500", *WORKLOAD],
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["options"] == {"count": 500, "size": 512, "topic": "sensors.temp", "rate": 5000.0}
    result = report["scenarios"]["throughput_1to1"]
    for side in ("zbus", "raw"):
        assert result[side]["delivered"] == 500 and result[side]["lost"] == 0, (side, result[side])
        assert result[side]["latency_ms"]["samples"] == 500  # paced by --rate: latency is measured
        assert result[side]["publish_s"] >= 0.09  # 500 events at 5,000/s take 0.1 s (bounded pacing)


def test_bench_table_fits_100_columns_and_cites_the_targets_doc() -> None:
    out = subprocess.run(
        [*ZBUS, "bench", "--quick", "--scenario", "request_reply", "--scenario", "idle", "--count", "50"],
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, out.stdout
    assert any(
        line.startswith("request_reply") and "p50 ms" in line and "≤ 1.2\u00d7" in line for line in lines
    )
    assert "docs/PERFORMANCE.md" in out.stdout and "issue" not in out.stdout.lower()


def test_bench_refuses_bad_workload_values_with_clear_errors() -> None:
    cases = [
        (["--count", "0"], "--count"),
        (["--size", "5"], "--size"),
        (["--rate", "-3"], "--rate"),
        (["--topic", "a..b"], "--topic"),
        (["--topic", "order.*"], "--topic"),
        (["--nodes", "1"], "--nodes"),
        (["--nodes", "10,x"], "--nodes"),
        (["--scenario", "idle", "--size", "100"], "--size changes none of the scenarios chosen"),
        (["--nodes", "5"], "--nodes changes none of the scenarios chosen"),
        (["--bogus"], "No such option '--bogus'"),
    ]
    for args, message in cases:
        out = subprocess.run([*ZBUS, "bench", *args], capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)


def test_bench_scale_starts_n_node_processes_and_a_raw_baseline() -> None:
    out = subprocess.run(
        [*ZBUS, "bench", "--quick", "--json", "--scenario", "scale", "--nodes", "3"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (row,) = json.loads(out.stdout)["scenarios"]["scale"]["runs"]
    assert row["nodes"] == 3
    for side in ("zbus", "raw"):
        result = row[side]
        assert result["cpu_percent"] > 0 and result["rss_mb"] > 0 and result["fds"] > 0, (side, result)
        assert 0 < result["join_median_s"] <= result["join_max_s"] < 60 and result["late_join_s"] > 0
    assert math.isfinite(row["ratios"]["idle_cpu"])


def test_bench_repeat_reports_the_median_run_with_every_ratio() -> None:
    out = subprocess.run(
        [*ZBUS, "bench", "--quick", "--json", "--scenario", "join", "--repeat", "3"],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    join = report["scenarios"]["join"]
    assert report["repeat"] == 3 and len(join["repeats"]) == 3
    ratios = sorted(r["vs_target_1s"] for r in join["repeats"])
    assert join["ratios"]["vs_target_1s"] == ratios[1]  # the median run is the one reported
    assert out.stderr.count("join: done in") == 3
    bad = subprocess.run([*ZBUS, "bench", "--repeat", "0"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--repeat" in bad.stderr
