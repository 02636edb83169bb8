"""Every package of the source tree is in setup.cfg's ``packages`` (a wheel would silently miss it)."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_packaged() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {"zbus", "zbus.discovery", "zbus.store", "zbus.tools"}
    for init in (ROOT / "zbus").rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts[1:2] in (("store",), ("discovery",), ("tools",)):
            continue  # the symlinked top-level folders, mapped by package_dir
        found.add(".".join(rel.parts))
    assert found == listed, (
        f"setup.cfg packages: add {sorted(found - listed)}, remove {sorted(listed - found)}"
    )
