"""docs/ARCHITECTURE.md's module map is generated from the code (scripts/module_map.py) and must match it."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_module_map_matches_the_code() -> None:
    rows = runpy.run_path(str(ROOT / "scripts" / "module_map.py"))["rows"]()
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    start, end = "<!-- module-map:start -->\n", "<!-- module-map:end -->"
    documented = text[text.index(start) + len(start) : text.index(end)].strip().splitlines()
    assert documented == rows, "regenerate it: python scripts/module_map.py (paste between the markers)"


def test_every_file_the_architecture_cites_exists() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    cited = {
        word.strip("`")
        for word in text.split()
        if word.startswith("`") and word.rstrip("`,.;:)").endswith(".py") and "/" in word
    }
    paths = {c.rstrip("`,.;:)") for c in cited}
    missing = sorted(c for c in paths if not (ROOT / c).exists() and not (ROOT / "zbus" / c).exists())
    assert not missing, f"ARCHITECTURE.md cites files that are not in the repo: {missing}"
