"""Run inside a fresh loopback-only network namespace (see test_dashboard_browser.py).

A real 3-node mesh over ZeroMQ: ``alpha`` serves the dashboard and subscribes to sensors, ``gamma``
subscribes to orders and sensors, ``beta`` publishes both at about 100 events/s. Headless Chromium at
1280x800 opens alpha's dashboard; once the mesh panel has drawn its charts and graph from data, the
helper reads the drawn SVG elements, saves a screenshot to ``argv[1]`` and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cdp import Browser

import zbus

RATES = "[...document.querySelectorAll('#chart-rates path.line')].map(p => p.dataset.series)"
LATENCY = "[...document.querySelectorAll('#chart-latency path.line')].map(p => p.dataset.series)"
NODES = "[...document.querySelectorAll('#graph circle.node')].map(c => c.dataset.node).sort()"
EDGES = (
    "[...document.querySelectorAll('#graph line.edge')].map(l => ({from: l.dataset.from, to: l.dataset.to, "
    "rate: Number(l.dataset.rate), width: Number(l.getAttribute('stroke-width'))}))"
)
ROWS = "[...document.querySelectorAll('#mesh-nodes tr[data-node]')].map(r => r.dataset.node).sort()"
BOXES = (
    "['chart-rates', 'chart-latency', 'graph'].map(id => { const r = document.getElementById(id)"
    ".getBoundingClientRect(); return {id, left: r.left, top: r.top, width: r.width, height: r.height}; })"
)
POINTS = (
    "Math.max(0, ...[...document.querySelectorAll('#chart-rates path.line')].map(p => p.getTotalLength()))"
)
PEERS = (
    "[...document.querySelectorAll('#peers tr[data-peer]')].map(r => [...r.cells].map(c => c.textContent))"
)


async def until(browser: Browser, expression: str, what: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(browser.evaluate, expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"the dashboard never showed {what} within {timeout} s")
        await asyncio.sleep(0.2)


async def publish(node: zbus.Node, stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        if n % 3 == 0:
            await node.publish("order.placed", {"n": n})
        await node.publish("sensor.temp", {"c": 20 + n % 5})
        if n % 2:
            await node.publish("sensor.humidity", {"h": 40})
        await asyncio.sleep(0.02)


async def main(screenshot: Path) -> None:
    mesh = "dash3"
    fast = {"monitoring": {"mesh": {"interval": "0.5s"}}}
    web = {"monitoring": {"mesh": {"interval": "0.5s"}, "http": {"enabled": True}}}
    with tempfile.TemporaryDirectory() as home:
        browser = Browser(home)
        try:
            async with (
                zbus.Node("alpha", mesh=mesh, config=web) as alpha,
                zbus.Node("beta", mesh=mesh, config=fast) as beta,
                zbus.Node("gamma", mesh=mesh, config=fast) as gamma,
            ):

                async def handled(event: zbus.Event) -> None:  # async: every delivery's latency is sampled
                    return None

                await alpha.subscribe("sensor.*", handler=handled)
                await gamma.subscribe("order.*", "sensor.*", handler=handled)
                await beta.wait_for_subscribers("sensor.temp", 2, timeout=15)
                await beta.wait_for_subscribers("order.placed", 1, timeout=15)
                stop = asyncio.Event()
                publisher = asyncio.create_task(publish(beta, stop))
                try:
                    await asyncio.to_thread(browser.open, "about:blank")
                    await asyncio.to_thread(
                        browser.call,
                        "Emulation.setDeviceMetricsOverride",
                        {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
                    )
                    await asyncio.to_thread(browser.call, "Page.navigate", {"url": alpha.dashboard_url})
                    await until(browser, f"{NODES}.length === 3", "three nodes in the graph")
                    await until(browser, f"{RATES}.length >= 3", "a line per topic")
                    await until(browser, f"{LATENCY}.length === 3", "latency p50/p90/p99 lines")
                    await until(browser, f"{POINTS} > 50", "lines that span several reports")
                    await until(
                        browser,
                        f"{EDGES}.some(e => e.from === 'beta' && e.to === 'gamma' && e.rate > 0)",
                        "a flow from beta to gamma",
                    )
                    # the peers table is drawn on each state poll with the last mesh report it had, so
                    # a row may show "-" for "last heard" until a poll after the report that has it
                    heard = f"{PEERS}.length === 2 && {PEERS}.every(p => p[5].endsWith('s ago'))"
                    await until(browser, heard, "peers with when they were last heard")
                    shot = await asyncio.to_thread(browser.call, "Page.captureScreenshot", {"format": "png"})
                    await asyncio.to_thread(screenshot.write_bytes, base64.b64decode(shot["data"]))
                    result = {
                        "rates": await asyncio.to_thread(browser.evaluate, RATES),
                        "latency": await asyncio.to_thread(browser.evaluate, LATENCY),
                        "nodes": await asyncio.to_thread(browser.evaluate, NODES),
                        "edges": await asyncio.to_thread(browser.evaluate, EDGES),
                        "rows": await asyncio.to_thread(browser.evaluate, ROWS),
                        "boxes": await asyncio.to_thread(browser.evaluate, BOXES),
                        "viewport": await asyncio.to_thread(
                            browser.evaluate, "[window.innerWidth, window.innerHeight]"
                        ),
                        "peers": await asyncio.to_thread(browser.evaluate, PEERS),
                    }
                finally:
                    stop.set()
                    with contextlib.suppress(asyncio.CancelledError):
                        await publisher
        finally:
            browser.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
