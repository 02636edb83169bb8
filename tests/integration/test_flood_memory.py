"""100 KB events flooding a slow handler: both processes' memory stays within the documented bound
(docs/ARCHITECTURE.md, "What one peer may cost"; docs/TROUBLESHOOTING.md, "Memory with large events").
Before byte bounds the subscriber peaked at 1.6-2.0 GB and the publisher at 6.1 GB in 60 s; queue.max_bytes
bounds the backlog, transport.repair_buffer_bytes the publisher's repair ring, and the ZeroMQ queues are
send_hwm/recv_hwm messages of the event's size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FLOOD = Path(__file__).with_name("flood_proc.py")
SECONDS = 6
SIZE = 100_000
# the documented settings for 100 KB events: ZeroMQ queues of 1,000 messages (≈ 100 MB), and glibc
# told to mmap buffers from 64 KiB up, so freed ones go back to the system (otherwise libzmq's I/O
# thread grows its own malloc arena with the message buffers it decodes: the subscriber then peaked
# at 0.8-1.1 GB with the same queues; MALLOC_ARENA_MAX=1 gave 260 MB)
ENV = {
    "ZBUS_TRANSPORT__SEND_HWM": "1000",
    "ZBUS_TRANSPORT__RECV_HWM": "1000",
    "MALLOC_MMAP_THRESHOLD_": "65536",
}
SUB_BOUND_MB = 400
PUB_BOUND_MB = 300


def start(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(FLOOD), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **ENV},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
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
    print(
        f"\n{SIZE // 1000} KB events for {SECONDS} s to a 10 ms handler ({ENV}): published "
        f"{published['sent']}, handled {received['handled']}, dropped {received['dropped']} (counted); "
        f"peak RSS publisher {published['rss_peak_mb']:.0f} MB, subscriber {received['rss_peak_mb']:.0f} MB "
        f"(bounds {PUB_BOUND_MB} / {SUB_BOUND_MB} MB)"
    )
    assert published["sent"] > 10 * received["handled"]  # a flood indeed
    assert received["rss_peak_mb"] < SUB_BOUND_MB and published["rss_peak_mb"] < PUB_BOUND_MB
