"""Run inside a fresh loopback-only network namespace (see test_dashboard_browser.py).

Starts node ``alpha`` with its HTTP endpoints, opens its dashboard in headless Chromium, then starts
node ``beta`` and has it publish: the already-open page must show beta as a peer and its topic, by
its own polling (no reload). Prints one JSON line with what the page showed; exit 0.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cdp import Browser

import zbus

PEERS = "[...document.querySelectorAll('#peers tr[data-peer]')].map(r => r.dataset.peer)"
TOPICS = "[...document.querySelectorAll('#topics tr[data-topic]')].map(r => r.dataset.topic)"
POLLS = "Number(document.body.dataset.polls || 0)"
STATUS = "document.getElementById('status').dataset.status"


async def until(browser: Browser, expression: str, what: str, timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(browser.evaluate, expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"the dashboard never showed {what} within {timeout} s")
        await asyncio.sleep(0.1)


async def main() -> None:
    mesh = "dash"
    http = {"monitoring": {"http": {"enabled": True}}}
    with tempfile.TemporaryDirectory() as home:
        browser = Browser(home)
        try:
            async with zbus.Node("alpha", mesh=mesh, config=http) as alpha:
                await asyncio.to_thread(browser.open, alpha.dashboard_url)
                await until(browser, f"{POLLS} >= 1", "a first poll")
                before = await asyncio.to_thread(browser.evaluate, PEERS)
                polls_before = await asyncio.to_thread(browser.evaluate, POLLS)
                async with zbus.Node("beta", mesh=mesh) as beta:
                    await alpha.wait_for_peers(1, timeout=10)
                    await alpha.subscribe("demo.**", handler=lambda event: None)
                    await beta.wait_for_subscribers("demo.tick", timeout=10)
                    for i in range(20):
                        await beta.publish("demo.tick", {"n": i})
                    await until(browser, f"{PEERS}.includes('beta')", "peer beta")
                    await until(browser, f"{TOPICS}.includes('demo.tick')", "topic demo.tick")
                    result = {
                        "before": before,
                        "polls_before": polls_before,
                        "after": await asyncio.to_thread(browser.evaluate, PEERS),
                        "topics": await asyncio.to_thread(browser.evaluate, TOPICS),
                        "polls": await asyncio.to_thread(browser.evaluate, POLLS),
                        "status": await asyncio.to_thread(browser.evaluate, STATUS),
                        "title": await asyncio.to_thread(browser.evaluate, "document.title"),
                    }
        finally:
            browser.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
