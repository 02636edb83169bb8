"""A secured mesh across namespace hosts (docs/SECURITY.md): keys, mesh authority and credentials made with
the CLI, three lan-scope nodes with ``security.mode = "mesh"`` find each other over mDNS (the TXT record
carries each node's CURVE key), join over CURVE and exchange events. Root only, like every lab test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Lab
from .test_lab import NAMES, exchange, start_mesh

pytestmark = pytest.mark.lab


def cli(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "zbus", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_secured_lan_mesh_joins_and_exchanges_over_curve(lab: Lab, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    cli("mesh", "init", "--key-dir", str(keys))
    for name in NAMES:
        cli("keygen", name, "--key-dir", str(keys))
        cli("enroll", name, "--key", str(keys / f"{name}.key"), "--mesh", lab.mesh, "--key-dir", str(keys),
            "--publish", "lab.*", "--subscribe", "lab.**")  # fmt: skip

    def secured_env(lab: Lab, host: int) -> dict[str, str]:
        return lab.node_env(
            host,
            "lan",
            ZBUS_TRANSPORT__HOST="0.0.0.0",
            ZBUS_DISCOVERY__INTERFACES="lan0",
            ZBUS_SECURITY__MODE="mesh",
            ZBUS_SECURITY__KEY_DIR=str(keys),
            ZBUS_SECURITY__MESH_KEY=str(keys / "mesh.pub"),
        )

    n1, n2, n3 = start_mesh(lab, secured_env, {"n2": ("lab.*",), "n3": ("lab.*",)})
    exchange(n1, [n2, n3], "lab.secret")
    exchange(n3, [n2], "lab.reply")
