"""`zbus bench`'s target column is docs/PERFORMANCE.md's "Targets" table, word for word."""

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
