"""With security on, an event's ``source`` is the authenticated name of the node that sent it (PROTOCOL
§14): a real enrolled node that names another node as the source of its events, broadcast or directed, is
refused and counted (``source_mismatch``), while its events under its own name still pass."""

from __future__ import annotations

from pathlib import Path

from zbus import Event
from zbus.testing import eventually

from .test_security import dropped, node
from .test_security import keys as keys  # the module-wide three-command set-up (a fixture)


async def test_a_peer_that_forges_another_name_as_source_is_refused(keys: Path) -> None:
    async with node(keys, "boss") as boss, node(keys, "evil") as evil:
        await boss.wait_for_peers(1, timeout=10)
        got: list[Event] = []
        await boss.subscribe("result.*", handler=got.append)
        await evil.wait_for_subscribers("result.x", timeout=5)
        # evil may publish result.* (its credential says so), but only as "evil": its own node lets it
        # set any source through publish_batch (an attacker's would too), so boss must refuse these
        await evil.publish_batch([Event("result.x", {"forged": "broadcast"}, source="boss")])
        await evil.publish_batch([Event("result.x", {"forged": "directed"}, source="boss", target="boss")])
        await evil.publish("result.x", {"fine": True})
        await eventually(
            lambda: (
                any(e.payload.get("fine") for e in got)
                and dropped(boss).get("security_source_mismatch", 0) >= 2
            ),
            timeout=10,
            what="both forgeries refused, the honest event delivered",
        )
        assert [e.source for e in got] == ["evil"]
        assert not any("forged" in e.payload for e in got)


async def test_a_forged_source_in_a_queue_group_delivery_is_refused(keys: Path) -> None:
    async with node(keys, "boss") as boss, node(keys, "evil") as evil:
        await boss.wait_for_peers(1, timeout=10)
        got: list[Event] = []
        await boss.subscribe("result.*", handler=got.append, group="g")
        await evil.wait_for_subscribers("result.x", group="g", timeout=5)
        await evil.publish_batch([Event("result.x", {"forged": "group"}, source="boss")])  # a DELIVER
        await evil.publish("result.x", {"fine": True})
        await eventually(
            lambda: (
                any(e.payload.get("fine") for e in got)
                and dropped(boss).get("security_source_mismatch", 0) >= 1
            ),
            timeout=10,
            what="the forged delivery refused, the honest one delivered",
        )
        assert [e.source for e in got] == ["evil"]
