"""Throughput under CPU contention: ``zbus bench``'s 1→1 scenarios (zbus and its raw pyzmq baseline,
same run) while HOGS busy processes compete for the CPUs. Reports both rates and the ratio, so a
collapse (zbus falling far below the baseline under the same load) shows as a ratio, not a guess.

    .venv/bin/python perf/contention.py [--hogs 2] [--quick]

Bounded: the hogs stop by themselves after ``--seconds`` (and are killed by PID when the bench ends).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
ZBUS = Path(sys.executable).with_name("zbus")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=300.0, help="longest the hogs run")
    parser.add_argument("--quick", action="store_true", help="zbus bench --quick counts")
    args = parser.parse_args()
    hogs = [
        subprocess.Popen([sys.executable, "-c", HOG.format(seconds=args.seconds)]) for _ in range(args.hogs)
    ]
    try:
        command = [str(ZBUS), "bench", "--json", "--scenario", "throughput_1to1"]
        out = subprocess.run([*command, *(["--quick"] if args.quick else [])], capture_output=True,
                             text=True, check=True, timeout=args.seconds)  # fmt: skip
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(5)
    result = json.loads(out.stdout)
    print(json.dumps({"hogs": args.hogs, "scenarios": result.get("scenarios", result)}, indent=1)[:3000])


if __name__ == "__main__":
    main()
