"""ForwarderChoice: which forwarder a node uses, which publishers it confirmed, what each link wants.

The tests drive the choice with the inputs the mesh sees (links opened, heartbeats on a link's SUB,
peers leaving, dropped connections) and check the decisions: the state, the links to resubscribe and
what each link's SUB then carries.
"""

from __future__ import annotations

import itertools
from collections import Counter

from zbus.protocol.forwarder import FORWARDER, ForwarderChoice, Mode, Resubscribe, State

HB = b"$zbus.hb"
INTEREST = {HB, b"orders.", b"audit."}
FULL = Counter(INTEREST)
BEATS = Counter({HB: 1})


def auto() -> ForwarderChoice:
    return ForwarderChoice(node_id="me", mode=Mode.AUTO, heartbeat_topic=HB)


def wanted(c: ForwarderChoice, peer: str) -> Counter[bytes]:
    return c.wanted(peer, FORWARDER if peer.startswith("fwd") else "node", INTEREST)


def test_off_mode_takes_only_heartbeats_from_a_forwarder_and_everything_direct() -> None:
    c = ForwarderChoice(node_id="me", mode=Mode.OFF, heartbeat_topic=HB)
    assert c.added("fwd", FORWARDER) == Resubscribe(peers=("fwd",))
    assert c.heartbeat("fwd", FORWARDER, "pub") == Resubscribe()
    assert c.state is State.DIRECT and c.via is None
    assert wanted(c, "fwd") == BEATS and wanted(c, "pub") == FULL


def test_auto_mode_switches_a_publisher_only_once_its_heartbeat_came_through_the_forwarder() -> None:
    c = auto()
    c.added("pub", "node")
    assert wanted(c, "pub") == FULL
    c.added("fwd", FORWARDER)
    assert (c.state, c.via) == (State.FORWARDED, "fwd")
    assert wanted(c, "fwd") == FULL, "full interest at the forwarder"
    assert wanted(c, "pub") == FULL, "direct SUB kept until confirmed (both paths open)"
    assert c.heartbeat("pub", "node", "pub") == Resubscribe(), "a direct heartbeat confirms nothing"
    assert c.heartbeat("fwd", FORWARDER, "fwd") == Resubscribe(), "the forwarder's own heartbeat neither"
    assert c.heartbeat("fwd", FORWARDER, "me") == Resubscribe(), "nor our own, relayed back"
    assert c.heartbeat("fwd", FORWARDER, "pub") == Resubscribe(peers=("pub",))
    assert c.confirmed == {"pub"} and wanted(c, "pub") == Counter(), "direct SUB closed"
    assert c.heartbeat("fwd", FORWARDER, "pub") == Resubscribe(), "confirmed once"


def test_the_first_forwarder_is_kept_while_it_lives() -> None:
    c = auto()
    c.added("fwd-1", FORWARDER)
    c.added("fwd-2", FORWARDER)
    assert c.via == "fwd-1"
    assert wanted(c, "fwd-2") == BEATS
    assert c.heartbeat("fwd-2", FORWARDER, "pub") == Resubscribe(), "heartbeats via another forwarder"


def test_forwarder_leaving_reopens_every_direct_sub_or_moves_to_another_forwarder() -> None:
    c = auto()
    c.added("fwd-1", FORWARDER)
    c.added("pub", "node")
    c.heartbeat("fwd-1", FORWARDER, "pub")
    assert c.left("fwd-1", forwarders=["fwd-2"]) == Resubscribe(everyone=True)
    assert (c.state, c.via, c.confirmed) == (State.FORWARDED, "fwd-2", set())
    assert wanted(c, "pub") == FULL, "not confirmed through the new forwarder yet"
    assert c.left("fwd-2", forwarders=[]) == Resubscribe(everyone=True)
    assert (c.state, c.via) == (State.DIRECT, None)
    assert wanted(c, "pub") == FULL


def test_a_publisher_leaving_is_unconfirmed_and_changes_no_link() -> None:
    c = auto()
    c.added("fwd", FORWARDER)
    c.heartbeat("fwd", FORWARDER, "pub")
    assert c.left("pub", forwarders=["fwd"]) == Resubscribe()
    assert c.confirmed == set() and c.via == "fwd"


def test_dropped_connection_to_the_forwarder_goes_direct_at_once_and_heartbeats_bring_it_back() -> None:
    c = auto()
    c.added("fwd", FORWARDER)
    c.heartbeat("fwd", FORWARDER, "pub")
    assert c.link_dropped("pub") == Resubscribe(), "another peer's drop changes nothing"
    assert c.link_dropped("fwd") == Resubscribe(everyone=True)
    assert (c.state, c.via, c.confirmed) == (State.DIRECT, None, set())
    assert wanted(c, "pub") == FULL and wanted(c, "fwd") == BEATS
    assert c.heartbeat("fwd", FORWARDER, "pub") == Resubscribe(), "a relayed heartbeat is not the forwarder"
    assert c.heartbeat("fwd", FORWARDER, "fwd") == Resubscribe(everyone=True)
    assert (c.state, c.via) == (State.FORWARDED, "fwd")


def test_relay_subscribes_publishers_to_its_downstream_never_other_forwarders() -> None:
    c = ForwarderChoice(node_id="fwd", mode=Mode.RELAY, heartbeat_topic=HB)
    assert not c.auto
    c.added("other-fwd", FORWARDER)
    assert c.via is None, "a relay never takes events through a forwarder"
    assert wanted(c, "pub") == BEATS
    assert c.downstream_subscription(True, b"orders.") == Resubscribe(everyone=True)
    c.downstream_subscription(True, b"orders.")
    assert wanted(c, "pub") == BEATS + Counter({b"orders.": 2}), "one upstream subscription per subscriber"
    assert wanted(c, "fwd-other") == BEATS, "no loops"
    c.downstream_subscription(False, b"orders.")
    c.downstream_subscription(False, b"orders.")
    c.downstream_subscription(False, b"orders.")  # one unsubscribe too many is ignored
    assert +Counter(wanted(c, "pub")) == BEATS


def test_every_publisher_stays_reachable_whatever_the_order_of_inputs() -> None:
    """Rule 2 as an invariant: a publisher's direct SUB is closed only while its events come via the
    forwarder in use, over every short sequence of the inputs."""
    inputs = [
        ("added", "fwd-1"),
        ("added", "fwd-2"),
        ("hb", "fwd-1", "pub"),
        ("hb", "fwd-2", "pub"),
        ("hb", "fwd-1", "fwd-1"),
        ("left", "fwd-1"),
        ("dropped", "fwd-1"),
        ("dropped", "fwd-2"),
    ]
    for steps in itertools.product(inputs, repeat=4):
        c = auto()
        linked = ["pub"]
        c.added("pub", "node")
        for step in steps:
            if step[0] == "added" and step[1] not in linked:
                linked.append(step[1])
                c.added(step[1], FORWARDER)
            elif step[0] == "hb" and step[1] in linked:
                c.heartbeat(step[1], FORWARDER, step[2])
            elif step[0] == "left" and step[1] in linked:
                linked.remove(step[1])
                c.left(step[1], [p for p in linked if p.startswith("fwd")])
            elif step[0] == "dropped":
                c.link_dropped(step[1])
            if not wanted(c, "pub"):
                assert c.via in linked and "pub" in c.confirmed and wanted(c, c.via) == FULL, steps
            assert (c.state is State.FORWARDED) == (c.via is not None), steps
