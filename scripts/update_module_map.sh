#!/usr/bin/env bash
# Regenerate docs/ARCHITECTURE.md's module map from the code (between the module-map markers).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
$PY - <<'PY'
import runpy
from pathlib import Path
rows = runpy.run_path("scripts/module_map.py")["rows"]()
p = Path("docs/ARCHITECTURE.md")
t = p.read_text()
start, end = "<!-- module-map:start -->\n", "<!-- module-map:end -->"
a, b = t.index(start) + len(start), t.index(end)
p.write_text(t[:a] + "\n".join(rows) + "\n" + t[b:])
PY
