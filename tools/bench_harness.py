"""The ``zbus bench`` harness: runs each scenario for zbus and for its raw baseline in one run.

Theory of operation
-------------------
Every participant (publisher, subscriber, client, responder, journal writer) is a separate process
started through :mod:`.bench_worker`; the harness only orchestrates. A publish/subscribe scenario
starts the subscribers, waits until each says ``ready`` (raw: it received a warm-up message; zbus: the
publisher's ``wait_for_subscribers`` confirmed it), sends ``go`` to the publisher, collects each
subscriber's count, first/last receive time, CPU and peak RSS, then tells the publisher to ``quit``.

Numbers reported per side: events per second per subscriber (count / time from its first to its last
event), loss (expected - delivered), CPU µs per delivered event (publisher + subscribers, from ``go``
to the end), peak RSS of the largest process, and latency percentiles where the scenario has them.
The ratio is zbus / raw from the same run: absolute rates drift 10-30 % on shared machines.

Everything is bounded: counts are fixed per mode, every wait has a deadline, every child is ours
and is killed by PID when a scenario ends or fails. Traffic stays on 127.0.0.1 or ipc:// files in
the run's temporary directory.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import zbus

from .bench_procs import FULL, QUICK, BenchError, Run, Sizes, Workload
from .bench_scale import scale, scale_forwarder

__all__ = ["APPLIES", "SCENARIOS", "BenchError", "Sizes", "Workload", "chosen_scenarios", "run"]


def _side_result(
    subs: list[dict[str, Any]], pub: dict[str, Any], sent: dict[str, Any], expected: int
) -> dict[str, Any]:
    rates = [s["got"] / s["seconds"] if s["seconds"] > 0 and s["got"] > 1 else 0.0 for s in subs]
    delivered = sum(s["got"] for s in subs)
    cpu = pub["cpu_s"] + sum(s["cpu_s"] for s in subs)
    out: dict[str, Any] = {
        "per_s": sum(rates) / len(rates),
        "min_per_s": min(rates),
        "delivered": delivered,
        "lost": expected * len(subs) - delivered,
        "cpu_us_per_event": cpu / delivered * 1e6 if delivered else float("nan"),
        "rss_peak_mb": max([pub["rss_peak_mb"], *(s["rss_peak_mb"] for s in subs)]),
        "publish_s": sent["seconds"],
    }
    if "started_at" in sent and all("last_at" in s for s in subs):
        # publisher start → each subscriber's last event (one host: one wall clock); per_s (first to
        # last receive) flatters a publisher that sends in bursts (a journal's commits)
        spans = [max(1e-9, s["last_at"] - sent["started_at"]) for s in subs]
        out["end_to_end_per_s"] = sum(s["got"] / t for s, t in zip(subs, spans, strict=True)) / len(subs)
    if "latency_ms" in subs[0]:
        out["latency_ms"] = subs[0]["latency_ms"]
    if "durable_ack_ms" in sent:
        out["durable_ack_ms"] = sent["durable_ack_ms"]
    return out


def pubsub(
    run: Run,
    kind: str,
    n: int,
    subs: int = 1,
    *,
    transport: str = "tcp",
    secure: bool = False,
    stream: bool = False,
    **pub_args: Any,
) -> dict[str, Any]:
    """One publisher, ``subs`` subscribers, ``n`` events; ``kind`` is ``"raw"`` or ``"zbus"``; ``secure``:
    zbus with ``security.mode = "mesh"`` (keys and credentials made for the run); ``stream``: zbus
    subscribers consume with ``async for`` over ``Node.stream`` instead of a handler."""
    d = run.sizes.deadline
    if run.workload.rate and run.scenario in APPLIES["rate"] and "rate" not in pub_args:
        pub_args["rate"] = run.workload.rate  # --rate: paced, so the subscribers measure latency too
    latency = bool(pub_args.get("rate"))
    try:
        if kind == "raw":
            endpoint = (
                "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{run.tmp}/raw-{os.urandom(3).hex()}"
            )
            pub = run.start("raw_pub", endpoint=endpoint, n=n, deadline=d, rate=pub_args.get("rate"))
            bound = pub.read("ready", d)["endpoint"]
            children = [
                run.start("raw_sub", endpoint=bound, n=n, latency=latency, deadline=d) for _ in range(subs)
            ]
            for child in children:
                child.read("ready", d)
        else:
            mesh, ipc = run.mesh(), transport == "ipc"
            keys: dict[str, Any] = {"secure": secured_keys(run, mesh)} if secure else {}
            if stream:
                keys["stream"] = True
            children = [
                run.start("zbus_sub", mesh=mesh, n=n, latency=latency, ipc=ipc, deadline=d, **keys)
                for _ in range(subs)
            ]
            for child in children:
                child.read("ready", d)
            secured = {"secure": keys["secure"]} if secure else {}
            pub = run.start("zbus_pub", mesh=mesh, n=n, subs=subs, ipc=ipc, deadline=d, **secured, **pub_args)
            pub.read("ready", d)
        pub.tell("go")
        sent = pub.read("sent", d)
        results = [child.read("result", d)["result"] for child in children]
        pub.tell("quit")
        pub_usage = pub.read("result", d)["result"]
        return _side_result(results, pub_usage, sent, n)
    finally:
        run.stop_all()


def secured_keys(run: Run, mesh: str) -> str:
    """A key directory for ``mesh``: a mesh authority, and a key and a credential granting everything
    for each bench node name (the roles' nodes are named bench-pub, bench-sub, bench-echo, bench-client)."""
    from zbus.protocol.permissions import ALL
    from zbus.security.credentials import encode_text, issue
    from zbus.security.keys import generate_keys, load_signing_key, save_keys, save_signing_key

    folder = run.tmp / f"keys-{mesh}"
    save_signing_key(folder)
    signing = load_signing_key(folder)
    for name in ("bench-pub", "bench-sub", "bench-echo", "bench-client"):
        keys = generate_keys()
        save_keys(folder, name, keys)
        cred = issue(signing, mesh=mesh, name=name, key=keys.public, permissions=ALL, issued=int(time.time()))
        (folder / f"{name}.cred").write_text(encode_text(cred))
    return str(folder)


def work_queue(run: Run, kind: str, n: int, members: int) -> dict[str, Any]:
    """One publisher, a work queue of ``members`` workers, ``n`` events: raw PUSH/PULL (round robin,
    no acks), a zbus queue group (credit, acks), or ``"zbus_no_acks"``: zbus with no group, event ``i``
    on topic ``<topic>.<i % members>`` to one plain subscriber each (the floor under the group: what
    zbus's publish and receive paths cost alone). Throughput is events handled by all workers ÷ time
    from the first to the last one handled."""
    d = run.sizes.deadline
    try:
        if kind == "raw":
            pub = run.start("raw_push", endpoint="tcp://127.0.0.1:*", n=n, workers=members, deadline=d)
            bound = pub.read("bound", d)["bound"]
            workers = [run.start("raw_pull", endpoint=bound, deadline=d) for _ in range(members)]
            for child in workers:
                child.read("ready", d)
        else:
            mesh, plain = run.mesh(), kind == "zbus_no_acks"
            shards: list[dict[str, Any]] = [
                {"shard": k, "expect": len(range(k, n, members))} if plain else {} for k in range(members)
            ]
            workers = [run.start("zbus_member", mesh=mesh, deadline=d, **shard) for shard in shards]
            for child in workers:
                child.read("ready", d)
            pub = run.start(
                "zbus_group_pub", mesh=mesh, n=n, members=members, deadline=d, shards=members if plain else 0
            )
        pub.read("ready", d)
        pub.tell("go")
        sent = pub.read("sent", d)
        if kind != "raw":
            pub.read("drained", d)
        for child in workers:
            child.tell("quit")
        results = [child.read("result", d)["result"] for child in workers]
        pub.tell("quit")
        pub_usage = pub.read("result", d)["result"]
    finally:
        run.stop_all()
    active = [r for r in results if r["got"]]
    delivered = sum(r["got"] for r in results)
    span = max(r["last"] for r in active) - min(r["first"] for r in active) if active else 0.0
    cpu = pub_usage["cpu_s"] + sum(r["cpu_s"] for r in results)
    return {
        "per_s": delivered / span if span > 0 else 0.0,
        "delivered": delivered,
        "lost": n - delivered,
        "shares": sorted(r["got"] for r in results),
        "cpu_us_per_event": cpu / delivered * 1e6 if delivered else float("nan"),
        # where the CPU went: the publisher's and all workers' together, per event handled
        "publisher_cpu_us_per_event": pub_usage["cpu_s"] / delivered * 1e6 if delivered else float("nan"),
        "workers_cpu_us_per_event": (cpu - pub_usage["cpu_s"]) / delivered * 1e6
        if delivered
        else float("nan"),
        # the workers' CPU from each one's first event on (without joining and waiting for the publisher)
        "workers_busy_cpu_us_per_event": sum(r["busy_cpu_s"] for r in results) / delivered * 1e6
        if delivered
        else float("nan"),
        # of those, the Python side's (each process's main thread; the rest is libzmq's I/O threads)
        "publisher_thread_cpu_us_per_event": pub_usage["thread_cpu_s"] / delivered * 1e6
        if delivered
        else float("nan"),
        "workers_thread_cpu_us_per_event": sum(r["thread_cpu_s"] for r in results) / delivered * 1e6
        if delivered
        else float("nan"),
        "rss_peak_mb": max([pub_usage["rss_peak_mb"], *(r["rss_peak_mb"] for r in results)]),
        "publish_s": sent["seconds"],
        # how often the processes were switched out (each since it started): wake-ups and preemptions
        "publisher_context_switches": pub_usage["context_switches"],
        "workers_context_switches": sum(r["context_switches"] for r in results),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# -- scenarios ------------------------------------------------------------------------------------
def throughput_1to1(run: Run) -> dict[str, Any]:
    """pub→handler 1→1, full Event, lossless, tcp."""
    n = run.sizes.throughput
    raw, ours = pubsub(run, "raw", n), pubsub(run, "zbus", n)
    return {
        "events": n,
        "raw": raw,
        "zbus": ours,
        "ratios": {"throughput": _ratio(ours["per_s"], raw["per_s"])},
    }


def throughput_1to1_ipc(run: Run) -> dict[str, Any]:
    """1→1 over ipc:// (zbus: ``transport.ipc`` on local scope; raw: PUB bound on ipc://)."""
    n = run.sizes.throughput
    raw, ours = pubsub(run, "raw", n, transport="ipc"), pubsub(run, "zbus", n, transport="ipc")
    return {
        "events": n,
        "raw": raw,
        "zbus": ours,
        "ratios": {"throughput": _ratio(ours["per_s"], raw["per_s"])},
    }


def fanout_1to4(run: Run) -> dict[str, Any]:
    """1→4, rate per subscriber, lossless."""
    n = run.sizes.fanout
    raw, ours = pubsub(run, "raw", n, 4), pubsub(run, "zbus", n, 4)
    return {
        "events": n,
        "subscribers": 4,
        "raw": raw,
        "zbus": ours,
        "ratios": {"per_subscriber": _ratio(ours["per_s"], raw["per_s"])},
    }


def publish_batch(run: Run) -> dict[str, Any]:
    """``publish_batch`` of 100 events per call vs raw per-message publishing."""
    n = run.sizes.throughput
    raw, ours = pubsub(run, "raw", n), pubsub(run, "zbus", n, batch=100)
    return {
        "events": n,
        "batch": 100,
        "raw": raw,
        "zbus": ours,
        "ratios": {"throughput": _ratio(ours["per_s"], raw["per_s"])},
    }


def _latency(run: Run, rate: int) -> dict[str, Any]:
    n = run.workload.count or max(10, int(rate * run.sizes.latency_seconds))
    raw, ours = pubsub(run, "raw", n, rate=rate), pubsub(run, "zbus", n, rate=rate)
    rl, zl = raw["latency_ms"], ours["latency_ms"]
    return {
        "rate": rate,
        "events": n,
        "raw": raw,
        "zbus": ours,
        "ratios": {q: _ratio(zl[q], rl[q]) for q in ("p50", "p99", "p99.9")},
    }


def groups(run: Run) -> dict[str, Any]:
    """1 publisher → queue group of 4 (acks on) vs raw PUSH/PULL to 4 workers; total throughput. Also
    zbus with no group (each event to one of 4 plain subscribers by topic, no acks): the floor that
    zbus's own publish and receive paths set, whatever the group costs on top."""
    n = run.sizes.throughput
    raw, ours = work_queue(run, "raw", n, 4), work_queue(run, "zbus", n, 4)
    floor = work_queue(run, "zbus_no_acks", n, 4)
    return {
        "events": n,
        "members": 4,
        "raw": raw,
        "zbus": ours,
        "zbus_no_acks": floor,
        "ratios": {
            "throughput": _ratio(ours["per_s"], raw["per_s"]),
            "no_acks_vs_raw": _ratio(floor["per_s"], raw["per_s"]),
            "groups_vs_no_acks": _ratio(ours["per_s"], floor["per_s"]),
        },
    }


def latency_1k(run: Run) -> dict[str, Any]:
    """pub→handler one-way latency at 1,000 events/s."""
    return _latency(run, 1_000)


def latency_10k(run: Run) -> dict[str, Any]:
    """pub→handler one-way latency at 10,000 events/s."""
    return _latency(run, 10_000)


def _round_trips(client: dict[str, Any], echo: dict[str, Any], n: int) -> dict[str, Any]:
    got = client["got"]
    return {
        **client,
        "lost": n - got,
        "cpu_us_per_event": (client["cpu_s"] + echo["cpu_s"]) / got * 1e6 if got else float("nan"),
        "rss_peak_mb": max(client["rss_peak_mb"], echo["rss_peak_mb"]),
    }


def _zbus_round_trips(run: Run, n: int, secure: bool = False) -> dict[str, Any]:
    d = run.sizes.deadline
    try:
        mesh = run.mesh()
        keys = {"secure": secured_keys(run, mesh)} if secure else {}
        echo = run.start("zbus_echo", mesh=mesh, deadline=d, **keys)
        echo.read("ready", d)
        client_result = run.start("zbus_client", mesh=mesh, n=n, deadline=d, **keys).read("result", d)[
            "result"
        ]
        echo.tell("quit")
        return _round_trips(client_result, echo.read("result", d)["result"], n)
    finally:
        run.stop_all()


def request_reply(run: Run) -> dict[str, Any]:
    """Sequential request/response round trips vs raw DEALER → ROUTER."""
    n, d = run.sizes.rtt, run.sizes.deadline
    try:
        echo = run.start("raw_echo", endpoint="tcp://127.0.0.1:*", deadline=d)
        client = run.start("raw_client", endpoint=echo.read("ready", d)["endpoint"], n=n, deadline=d)
        raw = _round_trips(client.read("result", d)["result"], echo.read("result", d)["result"], n)
    finally:
        run.stop_all()
    ours = _zbus_round_trips(run, n)
    rl, zl = raw["latency_ms"], ours["latency_ms"]
    return {
        "requests": n,
        "raw": raw,
        "zbus": ours,
        "ratios": {q: _ratio(zl[q], rl[q]) for q in ("p50", "p95", "p99", "p99.9")},
    }


def _zbus_two_ways(run: Run, base: str, variant: str, **option: Any) -> dict[str, Any]:
    """zbus 1→1 as usual (``base``) and with ``option`` (``variant``), in one run: zbus against itself."""
    n = run.sizes.throughput
    plain, changed = pubsub(run, "zbus", n), pubsub(run, "zbus", n, **option)
    return {
        "events": n,
        base: plain,
        variant: changed,
        "ratios": {"throughput": _ratio(changed["per_s"], plain["per_s"])},
    }


def secured_1to1(run: Run) -> dict[str, Any]:
    """1→1 with security.mode = "mesh" (CURVE, credentials) vs the same without, in one run."""
    return _zbus_two_ways(run, "open", "secured", secure=True)


def stream_1to1(run: Run) -> dict[str, Any]:
    """1→1 consumed with ``async for`` over ``Node.stream`` vs a handler callback, in one run."""
    return _zbus_two_ways(run, "handler", "stream", stream=True)


def secured_request_reply(run: Run) -> dict[str, Any]:
    """Request/reply round trips with security.mode = "mesh" vs without, in one run."""
    n = run.sizes.rtt
    open_, secured = _zbus_round_trips(run, n), _zbus_round_trips(run, n, secure=True)
    ol, sl = open_["latency_ms"], secured["latency_ms"]
    return {
        "requests": n,
        "open": open_,
        "secured": secured,
        "ratios": {q: _ratio(sl[q], ol[q]) for q in ("p50", "p99")},
    }


def journaled(run: Run) -> dict[str, Any]:
    """Journaled publishing (sync group commit) vs unjournaled, with durable-ack latency."""
    n, acks = run.sizes.journaled, run.sizes.durable_acks
    raw = pubsub(run, "raw", n)
    plain = pubsub(run, "zbus", n)
    path = str(run.tmp / f"journal-{os.urandom(3).hex()}")
    ours = pubsub(run, "zbus", n, journal=path, durability="sync", durable_acks=acks)
    return {
        "events": n,
        "raw": raw,
        "zbus_unjournaled": plain,
        "zbus": ours,
        "ratios": {
            # end to end: a journal sends in bursts after commits, which per_s would count as speed
            "journaled_vs_unjournaled": _ratio(ours["end_to_end_per_s"], plain["end_to_end_per_s"]),
            "journaled_vs_raw": _ratio(ours["end_to_end_per_s"], raw["end_to_end_per_s"]),
        },
        "durable_ack_ms": ours.get("durable_ack_ms", {}),
    }


def replay(run: Run) -> dict[str, Any]:
    """``Node.replay`` (decoded events) vs a raw LMDB cursor scan + msgpack decode, same journal."""
    n, d = run.sizes.replay, run.sizes.deadline
    path = str(run.tmp / f"replay-{os.urandom(3).hex()}")
    try:
        ours = run.start("zbus_replay", journal=path, n=n).read("result", d)["result"]
        raw = run.start("raw_replay", path=path).read("result", d)["result"]
    finally:
        run.stop_all()
    zr, rr = ours["events"] / ours["seconds"], raw["events"] / raw["seconds"]
    return {
        "events": n,
        "raw": {"per_s": rr, **raw},
        "zbus": {"per_s": zr, **ours},
        "ratios": {"replay": _ratio(zr, rr)},
    }


def recovery(run: Run) -> dict[str, Any]:
    """Open a journal after ``kill -9`` of its writer (mid-batch) with N events; target < 1 s."""
    n, d = run.sizes.recovery, run.sizes.deadline * 2
    path = str(run.tmp / f"recovery-{os.urandom(3).hex()}")
    try:
        writer = run.start("journal_writer", journal=path, n=n, deadline=d)
        written = writer.read("written", d)["written"]
        writer.proc.kill()  # SIGKILL, by PID, while it is appending the next batch
        writer.proc.wait(10)
        result = run.start("recover", journal=path).read("result", d)["result"]
    finally:
        run.stop_all()
    return {
        "events_before_kill": written,
        "zbus": result,
        "ratios": {"vs_target_1s": result["seconds"] / 1.0},
    }


def idle(run: Run) -> dict[str, Any]:
    """An idle node (one subscription, one responder): CPU % and RSS; targets < 1 % and < 60 MB."""
    try:
        result = run.start("idle", mesh=run.mesh(), seconds=run.sizes.idle_seconds).read(
            "result", run.sizes.deadline
        )["result"]
    finally:
        run.stop_all()
    return {
        "zbus": result,
        "ratios": {
            "rss_vs_target_60mb": result["rss_mb"] / 60,
            "cpu_vs_target_1pct": result["cpu_percent"] / 1.0,
        },
    }


def join(run: Run) -> dict[str, Any]:
    """Discovery join on ``local`` scope: second node's start until both list each other; target < 1 s."""
    try:
        result = run.start("join", mesh=run.mesh(), rounds=run.sizes.join_rounds).read(
            "result", run.sizes.deadline
        )["result"]
    finally:
        run.stop_all()
    return {"zbus": result, "ratios": {"vs_target_1s": result["median_s"] / 1.0}}


SCENARIOS: dict[str, Callable[[Run], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        throughput_1to1,
        fanout_1to4,
        publish_batch,
        request_reply,
        latency_1k,
        latency_10k,
        journaled,
        throughput_1to1_ipc,
        stream_1to1,
        secured_1to1,
        secured_request_reply,
        replay,
        recovery,
        idle,
        join,
        groups,
        scale,
        scale_forwarder,
    )
}


#: run only when named with ``--scenario`` (secured: zbus against itself; scale: many processes)
ON_REQUEST = frozenset({"secured_1to1", "secured_request_reply", "scale", "scale_forwarder"})

_PUBSUB = (
    "throughput_1to1", "fanout_1to4", "throughput_1to1_ipc", "journaled", "secured_1to1", "stream_1to1"
)  # fmt: skip
_PAYLOAD = (*_PUBSUB, "publish_batch", "latency_1k", "latency_10k", "replay", "groups")
#: the scenarios each workload option changes (``zbus bench`` refuses an option none of the chosen use)
APPLIES: dict[str, frozenset[str]] = {
    "count": frozenset({*_PAYLOAD, "request_reply", "secured_request_reply"}),
    "size": frozenset(_PAYLOAD),
    "topic": frozenset(_PAYLOAD),
    "rate": frozenset(_PUBSUB),
    "nodes": frozenset({"scale", "scale_forwarder"}),
}


def chosen_scenarios(names: list[str]) -> list[str]:
    """The scenarios a run with ``--scenario names`` runs (all but the on-request ones when empty)."""
    return names or [name for name in SCENARIOS if name not in ON_REQUEST]


def sizes_for(quick: bool, workload: Workload) -> Sizes:
    """The counts of a run: the mode's, with ``--count`` and ``--nodes`` applied."""
    sizes = QUICK if quick else FULL
    if c := workload.count:
        sizes = replace(sizes, throughput=c, fanout=c, rtt=c, journaled=c, replay=c)
    return replace(sizes, nodes=workload.nodes) if workload.nodes else sizes


def run(
    names: list[str],
    *,
    quick: bool,
    progress: Callable[[str], None],
    workload: Workload | None = None,
    repeat: int = 1,
) -> dict[str, Any]:
    """Run the named scenarios (all when empty) and return the JSON-able report.

    ``repeat`` > 1 runs each scenario that many times in a row (each run measures its raw baseline
    again) and reports the run whose first ratio is the median, with every run's ratios under
    ``repeats``: one run's ratio moves with the machine, the median of several much less."""
    workload = workload or Workload()
    sizes = sizes_for(quick, workload)
    chosen = chosen_scenarios(names)
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "zbus": zbus.__version__,
            "load_1min": os.getloadavg()[0],
        },
        "mode": "quick" if quick else "full",
        "options": workload.given(),
        "scenarios": {},
    }
    if repeat > 1:
        report["repeat"] = repeat
    with tempfile.TemporaryDirectory(prefix="zbus-bench-") as tmp:
        bench = Run(sizes, Path(tmp), progress, workload)
        for name in chosen:
            bench.scenario = name
            progress(f"{name}: {SCENARIOS[name].__doc__ or ''}".strip())
            results = []
            for _ in range(repeat):
                started = time.monotonic()
                result = SCENARIOS[name](bench)
                result["wall_s"] = time.monotonic() - started
                results.append(result)
                progress(
                    f"{name}: done in {result['wall_s']:.1f} s: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in result["ratios"].items())
                )
            report["scenarios"][name] = median_run(results)
    return report


def median_run(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose first ratio is the median (the lower one of an even count), with every run's
    ratios added as ``repeats`` when there were several."""
    if len(results) == 1:
        return results[0]
    first = next(iter(results[0]["ratios"]))
    ordered = sorted(results, key=lambda r: (math.isnan(r["ratios"][first]), r["ratios"][first]))
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["repeats"] = [r["ratios"] for r in results]
    return chosen
