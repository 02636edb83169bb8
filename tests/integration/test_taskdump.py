"""ZBUS_DEBUG_TASKS=1: a running node's process prints every asyncio task with its chain of awaits
on SIGUSR1 (zbus/observe/taskdump.py), in a real process, by a real signal."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

SCRIPT = """
import asyncio, zbus

async def inner():
    await asyncio.Event().wait()

async def outer():
    await inner()

async def main():
    async with zbus.Node("dump", config={"transport": {"kind": "memory"}}):
        asyncio.create_task(outer(), name="stuck-here")
        print("ready", flush=True)
        await asyncio.sleep(30)

asyncio.run(main())
"""
END = b"--- end of tasks ---"


def start(env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "ZBUS_DEBUG_TASKS"} | env_extra
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    assert ready and proc.stdout.readline() == b"ready\n"
    return proc


def read_until(proc: subprocess.Popen[bytes], marker: bytes, timeout: float) -> bytes:
    assert proc.stderr is not None
    got, deadline = b"", time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                break
            got += chunk
    return got


def test_sigusr1_prints_each_task_down_to_what_it_waits_for() -> None:
    proc = start({"ZBUS_DEBUG_TASKS": "1"})
    try:
        proc.send_signal(signal.SIGUSR1)
        dump = read_until(proc, END, timeout=10).decode()
        assert END.decode() in dump, dump
        assert proc.poll() is None  # the node keeps running
        stuck = dump[dump.index("stuck-here:") :]
        stuck = stuck[: stuck.index("\n", stuck.index("waits for"))]
        # the whole chain, outermost first, down to the future it waits for
        chain = [stuck.index(f"in {name}") for name in ("outer", "inner", "wait")]
        assert chain == sorted(chain) and "waits for <Future pending" in stuck, stuck
        assert "in main" in dump  # the main task: at its asyncio.sleep
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_without_the_variable_sigusr1_is_left_alone() -> None:
    proc = start({})
    try:
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(timeout=10) == -signal.SIGUSR1  # the default action: nothing was installed
    finally:
        proc.kill()
        proc.communicate(timeout=10)
