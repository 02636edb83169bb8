"""Shared fixtures. Every test is bounded by pytest-timeout (pyproject: timeout = 60)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def mesh_name() -> str:
    """A random mesh name, so concurrent tests and other zbus users on this machine never mix."""
    return f"test-{os.urandom(4).hex()}"


@pytest.fixture
def memory_config() -> dict[str, object]:
    """Config for nodes that talk in memory (no sockets)."""
    return {"transport": {"kind": "memory"}, "queue": {"retry_base_delay": 0.01, "retry_max_delay": 0.05}}
