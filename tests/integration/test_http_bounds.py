"""Hostile HTTP clients against a node's /health server, over real sockets on 127.0.0.1: slow
connections cannot multiply threads or lock out /health; oversized and never-finished requests are
refused and counted (docs/ARCHITECTURE.md, "Hostile input")."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.request
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from zbus import Node
from zbus.testing import eventually

SLOW = 400


def http_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("zbus-http"))


def fetch(url: str) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read(), time.perf_counter() - started


def refused(metrics: bytes) -> dict[str, float]:
    for family in text_string_to_metric_families(metrics.decode()):
        if family.name == "zbus_http_refused":
            return {s.labels["reason"]: s.value for s in family.samples if s.name.endswith("_total")}
    raise AssertionError("no zbus_http_refused in /metrics")


async def test_400_slow_connections_neither_add_threads_nor_block_health(mesh_name: str) -> None:
    config = {"monitoring": {"http": {"enabled": True, "read_timeout": "2s"}}}
    async with Node("http-target", mesh=mesh_name, config=config) as node:
        assert node.http_url is not None
        url = node.http_url
        parts = urlsplit(url)
        address = (parts.hostname or "127.0.0.1", parts.port or 0)
        before = http_threads()
        assert len(before) == 1 + 4, before  # the acceptor and monitoring.http.workers workers

        def open_slow() -> list[socket.socket]:
            socks = []
            for _ in range(SLOW):
                s = socket.create_connection(address, timeout=5)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: slow\r\n")  # the blank line never comes
                socks.append(s)
            return socks

        socks = await asyncio.to_thread(open_slow)
        try:
            during = http_threads()
            latencies = []
            for _ in range(5):
                status, _, took = await asyncio.to_thread(fetch, url + "/health")
                assert status == 200
                latencies.append(took)
            print(
                f"\nopened {SLOW} connections that never finish their request; zbus-http threads "
                f"before {len(before)}, during {len(during)}; /health answered in "
                f"{max(latencies) * 1000:.1f} ms at worst (5 tries)"
            )
            assert during == before
            assert max(latencies) < 1.0, latencies

            async def timed_out() -> bool:
                _, body, _ = await asyncio.to_thread(fetch, url + "/metrics")
                counts = refused(body)
                return counts.get("timeout", 0) >= 1 and counts.get("evicted", 0) >= SLOW - 64

            await eventually(timed_out, timeout=15)
            _, body, _ = await asyncio.to_thread(fetch, url + "/metrics")
            counts = refused(body)
            print(f"refused and counted (zbus_http_refused): {counts}")
            assert http_threads() == before
        finally:
            for s in socks:
                s.close()


async def test_an_oversized_request_gets_431_and_is_counted(mesh_name: str) -> None:
    config = {"monitoring": {"http": {"enabled": True, "max_request_bytes": "1KiB"}}}
    async with Node("http-target", mesh=mesh_name, config=config) as node:
        assert node.http_url is not None
        parts = urlsplit(node.http_url)

        def oversized() -> bytes:
            with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=5) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n")
                return s.recv(4096)

        answer = await asyncio.to_thread(oversized)
        print(f"\nsent a 4 KiB header to a 1 KiB limit; the answer: {answer.splitlines()[0]!r}")
        assert answer.startswith(b"HTTP/1.1 431")
        status, body, _ = await asyncio.to_thread(fetch, node.http_url + "/metrics")
        assert status == 200 and refused(body) == {"too_large": 1.0}
        status, _, _ = await asyncio.to_thread(fetch, node.http_url + "/health")
        assert status == 200
        await eventually(lambda: len(http_threads()) == 5)
