"""Helpers for testing code that uses zbus (and for zbus's own tests).

Not imported by ``import zbus``; use ``from zbus.testing import local_mesh, eventually``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from .node import Node

__all__ = ["eventually", "local_mesh"]


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str = "",
) -> None:
    """Poll ``predicate`` until it is true; fail with AssertionError after ``timeout`` seconds.

    A deadline-bounded poll: the honest way to wait for something that has no event to await.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s{': ' + what if what else ''}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def local_mesh(
    n: int,
    *,
    mesh: str | None = None,
    config: Mapping[str, Any] | None = None,
    names: list[str] | None = None,
    join_timeout: float = 10.0,
) -> AsyncIterator[list[Node]]:
    """Start ``n`` real nodes on 127.0.0.1 in one mesh and wait until they all see each other.

    Args:
        mesh: the mesh name; default a random one, so parallel tests never mix.
        config: extra config for every node (nested mapping).
    """
    import os

    mesh = mesh or f"test-{os.urandom(4).hex()}"
    nodes = [Node(names[i] if names else f"n{i}", mesh=mesh, config=dict(config or {})) for i in range(n)]
    try:
        for node in nodes:
            await node.start()
        for node in nodes:
            await node.wait_for_peers(n - 1, timeout=join_timeout)
        yield nodes
    finally:
        for node in nodes:
            await node.close()
