"""docs/DEPLOYMENT_GUIDE.md works as pasted: its ``sh`` blocks run, its ``toml`` blocks load.

A block preceded by ``<!-- not run: REASON -->`` is skipped; the reason says why (and, where one
does, which test covers the same ground). The others run in order in one bash, as root, in a
private mount namespace where /var/lib is an empty tmpfs holding only a journal this test made
(``/var/lib/zbus/journal``, as the guide's systemd unit or image would have), with this venv's
``zbus`` first on PATH, no ZBUS_* variables but a mesh name of its own, and a fresh working
directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import zbus

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "DEPLOYMENT_GUIDE.md"
BLOCK = re.compile(r"(<!-- not run: (?P<reason>[^>]*?) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)

JOURNAL = """
import asyncio, zbus
async def main():
    config = {"persistence": {"enabled": True, "path": "/var/lib/zbus/journal"}}
    async with zbus.Node("orders", config=config) as node:
        for i in range(3):
            await node.publish("order.placed", {"i": i}, durable=True)
asyncio.run(main())
"""


def blocks(lang: str) -> list[tuple[str | None, str]]:
    return [(m["reason"], m["body"]) for m in BLOCK.finditer(GUIDE.read_text()) if m["lang"] == lang]


def test_every_block_not_run_says_why() -> None:
    reasons = [reason for reason, _ in blocks("sh") if reason is not None]
    assert all(len(reason.split()) >= 3 for reason in reasons), reasons
    covered = [r for r in reasons if re.search(r"tests/|scripts/", r)]
    assert len(covered) >= len(reasons) - 1  # only the firewall rules have no test (they change the host)


@pytest.mark.parametrize("body", [b for _, b in blocks("toml")], ids=lambda b: b.splitlines()[0])
def test_toml_blocks_are_valid_configuration(body: str) -> None:
    zbus.load_config(tomllib.loads(body), env={})


def test_sh_blocks_run_as_pasted(tmp_path: Path, mesh_name: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("the guide's commands use /var/lib: run as root (a private mount namespace)")
    runnable = [body for reason, body in blocks("sh") if reason is None]
    assert len(runnable) >= 6
    script = [
        "set -euo pipefail",
        "mount -t tmpfs -o mode=0755 zbus-guide /var/lib",
        "mkdir -p /var/lib/zbus",
    ]
    script.append(f"{sys.executable} -c {_quote(JOURNAL)}")
    for i, body in enumerate(runnable):
        script += [f"echo '::block {i}'", body.rstrip()]
    script.append("echo '::done'")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZBUS_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}", ZBUS_MESH__NAME=mesh_name
    )
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    ran = re.findall(r"^::block (\d+)$", out.stdout, re.M)
    failed = runnable[int(ran[-1])] if ran else "(set-up)"
    assert out.returncode == 0 and out.stdout.rstrip().endswith("::done"), (
        f"failed in:\n{failed}\nstdout:\n{out.stdout[-3000:]}\nstderr:\n{out.stderr[-3000:]}"
    )
    # what the blocks should have produced
    assert 'name = "billing"' in out.stdout  # ZBUS_MESH__NAME overrides the file in config show
    assert (tmp_path / "zbus.toml").is_file() and (tmp_path / "orders.jsonl").read_text().count("\n") == 3


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
