"""`zbus bench`'s target column is docs/PERFORMANCE.md's "Targets" table, word for word; and which run
`--repeat` reports."""

from __future__ import annotations

from pathlib import Path

from zbus.tools.bench import TARGETS

DOC = Path(__file__).resolve().parents[2] / "docs" / "PERFORMANCE.md"


def doc_targets() -> dict[tuple[str, str], str]:
    text = DOC.read_text()
    section = text.split("\n## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    out = {}
    for row in rows:
        scenario, metric, target = (cell.strip() for cell in row.strip("|").split("|")[:3])
        out[(scenario.strip("`"), metric.strip("`"))] = target
    return out


def test_the_table_targets_are_the_documented_ones() -> None:
    assert doc_targets() == TARGETS


def test_median_run_picks_the_middle_run_by_its_first_ratio_and_keeps_all_ratios() -> None:
    from zbus.tools.bench_harness import median_run

    runs = [{"ratios": {"p50": r, "p99": 1.0}, "n": i} for i, r in enumerate([1.4, float("nan"), 1.1, 1.2])]
    chosen = median_run(runs)
    assert chosen["n"] == 3 and chosen["ratios"]["p50"] == 1.2  # lower middle of 1.1, 1.2, 1.4 (+ nan last)
    assert [r["p50"] for r in chosen["repeats"]][::2] == [1.4, 1.1] and len(chosen["repeats"]) == 4
    assert median_run(runs[:1]) is runs[0] and "repeats" not in runs[0]
