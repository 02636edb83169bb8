"""100 KB events flooding a slow handler, default settings: both processes' memory stays within the
documented bound (docs/ARCHITECTURE.md, "What one peer may cost"; docs/TROUBLESHOOTING.md, "Memory
with large events"). Before byte bounds the subscriber peaked at 1.6-2.0 GB and the publisher at
6.1 GB in 60 s. The bound, above what the process held once its node had started:

- publisher: its XPUB's queue to the one subscriber, whose mark (set when the XPUB is made, before
  any large event: ``send_max_bytes // batch_max_bytes`` = 1,024 messages) holds 1,024 events of
  100 KB, more than ``transport.send_max_bytes`` (docs/TROUBLESHOOTING.md, "Memory with large
  events") + ``transport.repair_buffer_bytes`` (the one topic's repair ring);
- subscriber: its SUB's queue (1,024 messages, as the XPUB's) + ``queue.max_bytes`` (the backlog);

plus ``SLACK_MB`` for what the allocator keeps, with glibc's mmap threshold fixed (``ENV``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import zmq

from zbus.config import Config

FLOOD = Path(__file__).with_name("flood_proc.py")
SECONDS = 6
SIZE = 100_000
MB = 1024 * 1024
DEFAULTS = Config()
SLACK_MB = 64
# glibc told to mmap buffers from 64 KiB up, so freed ones go back to the system: libzmq's I/O thread
# allocates each message it decodes in its own malloc arena and Python frees it, and glibc's sliding
# mmap threshold then keeps them (without this the subscriber peaked at 140-820 MB over runs, with the
# same bounded queues); docs/TROUBLESHOOTING.md, "Memory with large events"
ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}
T = DEFAULTS.transport
XPUB_QUEUE_MB = max(T.send_max_bytes, T.send_max_bytes // T.batch_max_bytes * SIZE) / MB
PUB_BOUND_MB = XPUB_QUEUE_MB + T.repair_buffer_bytes / MB + SLACK_MB
SUB_QUEUE_MB = max(T.recv_max_bytes, T.recv_max_bytes // T.batch_max_bytes * SIZE) / MB
SUB_BOUND_MB = SUB_QUEUE_MB + DEFAULTS.queue.max_bytes / MB + SLACK_MB


def start(*args: str, ready: str = "ready") -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZBUS_", "MALLOC_"))}  # the defaults
    env.update(ENV)
    proc = subprocess.Popen(
        [sys.executable, str(FLOOD), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith(ready), line
    proc.ready = line  # type: ignore[attr-defined]
    return proc


def test_a_large_event_flood_stays_within_the_memory_bound(mesh_name: str) -> None:
    sub = start("sub", mesh_name, "10")  # 10 ms per event: about 100 handled per second
    pub = start("pub", mesh_name, str(SIZE), str(SECONDS))
    try:
        assert pub.stdout is not None and sub.stdout is not None and sub.stdin is not None
        published = json.loads(pub.stdout.readline())  # after SECONDS of flooding
        sub.stdin.write("report\n")
        sub.stdin.flush()
        received = json.loads(sub.stdout.readline())
    finally:
        for proc in (pub, sub):
            proc.kill()  # (ours, by PID)
            proc.wait(timeout=10)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
    pub_grew = published["rss_peak_mb"] - published["rss_start_mb"]
    sub_grew = received["rss_peak_mb"] - received["rss_start_mb"]
    print(
        f"\n{SIZE // 1000} KB events for {SECONDS} s to a 10 ms handler, default settings and {ENV}: "
        f"published {published['sent']}, handled {received['handled']}, "
        f"dropped {received['dropped']} (counted), backlog {received['queued']}; "
        f"peak RSS publisher {published['rss_peak_mb']:.0f} MB "
        f"(+{pub_grew:.0f} over its start, bound {PUB_BOUND_MB:.0f}), subscriber "
        f"{received['rss_peak_mb']:.0f} MB (+{sub_grew:.0f}, bound {SUB_BOUND_MB:.0f})"
    )
    assert published["sent"] > 10 * received["handled"]  # a flood indeed
    assert pub_grew < PUB_BOUND_MB and sub_grew < SUB_BOUND_MB
    assert published["rss_peak_mb"] < 300 and received["rss_peak_mb"] < 400  # the figures


def test_a_stuck_subscriber_costs_the_publisher_at_most_send_max_bytes() -> None:
    """A raw SUB that subscribes, takes one event and never reads again: the publisher's XPUB queue
    to it fills. Bounded in messages only (send_hwm = 100,000) that queue would grow to 10 GB of
    100 KB events; bounded in bytes (the XPUB's mark of 1,024 messages) it holds about 100 MB."""
    pub = start("stuck", "unused", str(SIZE), str(SECONDS), ready="ready tcp://")
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    stuck = ctx.socket(zmq.SUB)
    try:
        stuck.setsockopt(zmq.RCVHWM, 1)
        stuck.setsockopt(zmq.RCVBUF, 65536)  # (what the kernel buffers on our side stays small too)
        stuck.setsockopt(zmq.LINGER, 0)
        stuck.connect(pub.ready.split()[1])  # type: ignore[attr-defined]
        stuck.subscribe(b"flood.")
        assert stuck.poll(20_000), "no event reached the raw SUB"
        stuck.recv_multipart()
        taken_at = time.monotonic()  # from here on it reads nothing
        assert pub.stdout is not None
        published = json.loads(pub.stdout.readline())
    finally:
        stuck.close(linger=0)
        ctx.destroy(linger=0)
        pub.kill()  # (ours, by PID)
        pub.wait(timeout=10)
        for pipe in (pub.stdin, pub.stdout):
            if pipe is not None:
                pipe.close()
    grew = published["rss_peak_mb"] - published["rss_start_mb"]
    queue_mb = XPUB_QUEUE_MB
    bound = PUB_BOUND_MB
    print(
        f"\na raw SUB read 1 event and then nothing for {time.monotonic() - taken_at:.1f} s; the "
        f"publisher sent {published['sent']} events of {SIZE // 1000} KB "
        f"({published['sent'] * SIZE / MB:.0f} MB): peak RSS {published['rss_peak_mb']:.0f} MB, "
        f"+{grew:.0f} over its start (XPUB queue {queue_mb:.0f} MB, bound {bound:.0f} MB)"
    )
    assert published["sent"] * SIZE > 4 * DEFAULTS.transport.send_max_bytes  # far more than the bound
    assert grew < bound
