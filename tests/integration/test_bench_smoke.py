"""The end-to-end benchmark runs in quick mode and reports every number (values are not asserted:
speed is measured in perf/, not in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "perf" / "bench_e2e.py"


def test_bench_quick_reports_ratios() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["throughput_1to1"]["raw_per_s"] > 0 and result["throughput_1to1"]["zbus_per_s"] > 0
    assert result["request_reply_ms"]["ratio_p50"] > 0
    assert result["join_s"]["median"] > 0
