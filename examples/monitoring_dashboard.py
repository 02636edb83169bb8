"""A tiny text dashboard: node statistics and peers, refreshed every second for a few seconds.

The "dash" node also serves the live web dashboard (and /health, /metrics): open the printed URL
while it runs.

.venv/bin/python examples/monitoring_dashboard.py --seconds 30
"""

import argparse
import asyncio

import zbus


async def main(seconds: int) -> None:
    http = {"monitoring": {"http": {"enabled": True}}}
    async with zbus.Node("dash-sensor") as sensor, zbus.Node("dash", config=http) as dash:
        print(f"web dashboard: {dash.dashboard_url}", flush=True)
        readings = await dash.subscribe("sensor.*", max_size=1000)
        await sensor.wait_for_subscribers("sensor.temp", timeout=10)
        for tick in range(seconds):
            await sensor.publish_batch([("sensor.temp", {"c": 20 + i % 5}) for i in range(100)])
            await asyncio.sleep(1)  # the refresh interval of the display, not synchronisation
            while True:
                try:
                    readings.next_nowait()
                except zbus.WouldBlockError:
                    break
            stats = dash.statistics()
            peers = ", ".join(p.name for p in dash.peers)
            print(
                f"t={tick + 1}s received={stats.received} delivered={stats.delivered} "
                f"queued={stats.queued} dropped={sum(stats.dropped.values())} peers=[{peers}]",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    asyncio.run(main(parser.parse_args().seconds))
