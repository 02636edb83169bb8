"""The layering rules of STYLE.md Part 3, checked statically (ast) and in fresh interpreters."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "zbus": ROOT / "zbus",
    "zbus.discovery": ROOT / "discovery",
    "zbus.store": ROOT / "store",
    "zbus.tools": ROOT / "tools",
}

PURE = [
    "zbus/errors.py",
    "zbus/event.py",
    "zbus/config.py",
    "zbus/topics.py",
    "zbus/filters.py",
    "zbus/wire.py",
    "zbus/transport.py",
    "zbus/statistics.py",
    "zbus/latency.py",
    "zbus/dashboard.py",
    "zbus/protocol/__init__.py",
    "zbus/protocol/messages.py",
    "zbus/protocol/peers.py",
    "zbus/protocol/repair.py",
    "zbus/protocol/requests.py",
    "zbus/protocol/greetings.py",
    "discovery/txt.py",
    "store/keys.py",
    "store/records.py",
]
IO_LIBRARIES = {"zmq", "asyncio", "lmdb", "zeroconf", "prometheus_client", "click", "socket", "threading"}
IO_TIER = {
    "node",
    "mesh",
    "links",
    "forwarding",
    "pump",
    "sockets",
    "memory",
    "router",
    "dispatch",
    "subscription",
    "blocking",
    "consume",
    "peerwatch",
    "testing",
}
ONLY_IN = {
    # zbus/pump.py is the mesh's socket drain (split out of mesh.py); tools/bench_raw.py is the raw
    # pyzmq + LMDB baseline of `zbus bench`, which must bypass zbus
    "zmq": {
        "zbus/sockets.py",
        "zbus/mesh.py",
        "zbus/pump.py",
        "zbus/links.py",
        "zbus/forwarding.py",
        "tools/doctor.py",
        "tools/bench_raw.py",
    },
    "zeroconf": {"discovery/"},
    "click": {"tools/"},
    "lmdb": {"store/", "tools/bench_raw.py"},
    "prometheus_client": {"zbus/metrics.py"},
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(
                f"{base}.{alias.name}" if base.endswith(".") is False else base + alias.name
                for alias in node.names
            )
    return names


def all_sources() -> list[Path]:
    return sorted(p for d in PACKAGES.values() for p in d.rglob("*.py"))


@pytest.mark.parametrize("rel", PURE)
def test_pure_modules_do_no_io(rel: str) -> None:
    for name in imports(ROOT / rel):
        top = name.lstrip(".").split(".")[0]
        assert top not in IO_LIBRARIES, f"{rel} imports {name}: pure modules must not do I/O"
        stripped = name.lstrip(".").split(".")
        tier = stripped[1] if stripped[0] == "zbus" and len(stripped) > 1 else stripped[0]
        assert tier not in IO_TIER, f"{rel} imports the I/O-tier module {name}"


def test_third_party_libraries_stay_in_their_layer() -> None:
    for path in all_sources():
        rel = path.relative_to(ROOT).as_posix()
        for name in imports(path):
            top = name.lstrip(".").split(".")[0]
            allowed = ONLY_IN.get(top)
            if allowed is not None and not name.startswith("."):
                assert any(rel == a or (a.endswith("/") and rel.startswith(a)) for a in allowed), (
                    f"{rel} imports {top}; only {sorted(allowed)} may"
                )


def test_tools_use_only_the_public_api() -> None:
    for path in (ROOT / "tools").rglob("*.py"):
        for name in imports(path):
            parts = name.split(".")
            if parts[0] == "zbus" and len(parts) > 1:
                assert (
                    # zbus.store: offline journal commands; zbus.discovery: doctor's mDNS self-test;
                    # zbus.forwarding: monitor --capture reads a forwarder's capture socket
                    parts[1] in {"tools", "__version__", "store", "discovery", "forwarding"}
                    or parts[1][0].isupper()
                    or parts[1] in dir(__import__("zbus"))
                ), f"{path.name} reaches into zbus.{parts[1]}"


def test_import_zbus_stays_light() -> None:
    code = "import sys, zbus; print([m for m in ('click', 'zbus.tools', 'zbus.testing') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def module_names() -> list[str]:
    names = []
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            names.append(".".join([package, *parts]))
    return names


@pytest.mark.parametrize("module", module_names())
def test_each_module_imports_alone(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr


def test_module_size_ceiling() -> None:
    too_big = {
        p.relative_to(ROOT).as_posix(): n
        for p in all_sources()
        if (n := len(p.read_text().splitlines())) > 600
    }
    assert not too_big, f"split these modules (house rule: ≤ 600 lines): {too_big}"
