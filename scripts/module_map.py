"""Print docs/ARCHITECTURE.md's module table from the code: each module's first docstring sentence and
the zbus modules it imports (module level, in functions and for typing alike).

Run ``python scripts/module_map.py`` and paste its output between the ``module-map`` markers;
tests/unit/test_docs_architecture.py fails when the table and the code disagree.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = [
    "",
    "config",
    "model",
    "codec",
    "protocol",
    "security",
    "transport",
    "transport/zmq",
    "inbound",
    "delivery",
    "journal",
]
ORDER += ["observe", "monitoring"]
TOP = {
    "__init__.py": 0,
    "node.py": 1,
    "blocking.py": 2,
    "errors.py": 4,
    "tasks.py": 5,
    "testing.py": 6,
}


def summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    end = first.find(". ")
    return (first if end < 0 else first[: end + 1]).replace("|", "\\|")


def imports(path: Path) -> list[str]:
    rel = path.relative_to(ROOT / "zbus").with_suffix("")
    me = ["zbus", *rel.parts]
    package = me[:-1]  # an __init__'s package is its folder, as a module's is
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] + ([node.module] if node.module else [])
            elif (node.module or "").startswith("zbus"):
                base = node.module.split(".")  # type: ignore[union-attr]
            else:
                continue
            for alias in node.names:
                candidate = "/".join([*base[1:], alias.name])
                if (ROOT / "zbus" / (candidate + ".py")).exists() or (ROOT / "zbus" / candidate).is_dir():
                    names.add(".".join([*base[1:], alias.name]))
                else:
                    names.add(".".join(base[1:]))
        elif isinstance(node, ast.Import):
            names.update(a.name[5:] for a in node.names if a.name.startswith("zbus."))
    me_name = ".".join(me[1:])
    return sorted(n for n in names if n and n != me_name)


def rows() -> list[str]:
    out = ["| Module | What it owns | Imports (zbus modules) |", "|---|---|---|"]
    for folder in ORDER:
        base = ROOT / "zbus" / folder
        files = sorted(p for p in base.glob("*.py"))
        if folder == "":
            files.sort(key=lambda p: TOP.get(p.name, 99))
            files = [p for p in files if p.name != "_version.py"]
        else:
            files.sort(key=lambda p: (p.name != "__init__.py", p.name))
        for path in files:
            rel = path.relative_to(ROOT).as_posix()
            deps = ", ".join(imports(path)) or "—"
            out.append(f"| `{rel}` | {summary(path)} | {deps} |")
    return out


if __name__ == "__main__":
    sys.stdout.write("\n".join(rows()) + "\n")
