"""Every Python block in README.md and docs/API_REFERENCE.md runs when pasted (docs that work)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
REFERENCE = README.parent / "docs" / "API_REFERENCE.md"
REFERENCE_BLOCKS = re.findall(r"```python\n(.*?)```", REFERENCE.read_text(), re.S)


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert text.index("make demo") < text.index("```python")


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_python_block_runs(code: str) -> None:
    env = dict(os.environ, ZBUS_MESH__NAME=f"readme-{os.getpid()}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


@pytest.mark.parametrize(
    "code", REFERENCE_BLOCKS, ids=[f"reference{i}" for i in range(len(REFERENCE_BLOCKS))]
)
def test_api_reference_block_runs(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
