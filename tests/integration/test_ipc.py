"""transport.ipc on local scope: peers receive events over a Unix socket, and the file is removed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from zbus import Event, Node
from zbus.testing import eventually


async def test_events_flow_over_ipc_and_the_socket_file_goes_away(
    tmp_path: Path, mesh_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the stdlib's own override of TMPDIR
    config = {"transport": {"ipc": True}}
    async with Node("pub", mesh=mesh_name, config=config) as pub:
        async with Node("sub", mesh=mesh_name, config=config) as sub:
            got: list[Event] = []
            await sub.subscribe("ipc.*", handler=got.append)
            await pub.wait_for_subscribers("ipc.test", timeout=10)
            links = sub._transport._links.values()  # type: ignore[union-attr]
            assert [link.pub for link in links] == [f"ipc://{tmp_path}/zbus-ipc-{os.getuid()}/{pub.id}.pub"]
            for i in range(200):
                await pub.publish("ipc.test", {"i": i})
            await eventually(lambda: len(got) == 200, timeout=10)
            assert [e.payload["i"] for e in got] == list(range(200))
        assert list((tmp_path / f"zbus-ipc-{os.getuid()}").iterdir()) == [
            tmp_path / f"zbus-ipc-{os.getuid()}" / f"{pub.id}.pub"
        ]
    assert list((tmp_path / f"zbus-ipc-{os.getuid()}").iterdir()) == []
