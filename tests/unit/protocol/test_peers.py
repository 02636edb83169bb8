"""PeerTable: joins, updates, restarts, goodbyes, expiry and disconnect grace."""

from __future__ import annotations

from zbus.model.peer import PeerInfo
from zbus.protocol.peers import PeerTable


def info(pid: str, name: str = "n", epoch: int = 1, mesh: str = "m", **kw: object) -> PeerInfo:
    return PeerInfo(id=pid, name=name, mesh=mesh, epoch=epoch, **kw)  # type: ignore[arg-type]


def table() -> PeerTable:
    return PeerTable(self_id="me", mesh="m", peer_timeout=10.0, disconnect_grace=2.0)


def test_join_update_and_ignore_self_and_other_mesh() -> None:
    t = table()
    assert [c.kind for c in t.hello(info("a"), 0)] == ["joined"]
    assert t.hello(info("a"), 1) == []
    assert [c.kind for c in t.hello(info("a", patterns=frozenset({"x"})), 2)] == ["updated"]
    assert t.hello(info("me"), 0) == [] and t.hello(info("z", mesh="other"), 0) == []
    assert [p.id for p in t.peers()] == ["a"]


def test_two_nodes_with_one_name_are_two_peers_not_a_restart() -> None:
    t = table()
    t.hello(info("a", name="worker", epoch=1), 0)
    changes = t.hello(info("b", name="worker", epoch=2), 1)
    assert [(c.kind, c.peer.id) for c in changes] == [("joined", "b")]
    assert sorted(p.id for p in t.peers()) == ["a", "b"]


def test_a_restart_keeps_the_id_and_updates_the_epoch() -> None:
    t = table()
    t.hello(info("a", name="worker", epoch=1), 0)
    changes = t.hello(info("a", name="worker", epoch=2), 1)
    assert [(c.kind, c.peer.epoch) for c in changes] == [("updated", 2)]


def test_expiry_and_heartbeats() -> None:
    t = table()
    t.hello(info("a"), 0)
    assert t.confirm("a", 1) and not t.confirm("ghost", 1)
    assert t.seen("a", 8) and not t.seen("ghost", 8)
    assert t.expire(17.9) == []
    assert [(c.peer.id, c.reason) for c in t.expire(18.0)] == [("a", "timeout")]


def test_a_handshake_never_completed_expires_whatever_the_peer_says_on_our_router() -> None:
    t = PeerTable(self_id="me", mesh="m", peer_timeout=10.0, disconnect_grace=2.0, handshake_timeout=25.0)
    t.hello(info("ghost"), 0)
    for now in range(2, 30, 2):  # PINGs and HELLOs again: none of them is its own XPUB speaking
        assert t.seen("ghost", now)
        t.hello(info("ghost"), now)
        if now < 25:
            assert t.expire(now) == []
    assert not t.confirmed("ghost")
    assert [(c.peer.id, c.reason) for c in t.expire(25.0)] == [("ghost", "timeout")]


def test_a_restart_must_be_heard_on_its_new_xpub() -> None:
    t = table()
    t.hello(info("a", epoch=1), 0)
    t.confirm("a", 1)
    t.hello(info("a", epoch=2), 5)  # restarted: its old XPUB's confirmation no longer counts
    assert not t.confirmed("a")
    for now in range(6, 36):
        t.seen("a", now)  # its PINGs keep it only until the handshake's deadline (30 s by default)
    assert [c.reason for c in t.expire(35.0)] == ["timeout"]


def test_max_peers_refuses_new_nodes_but_keeps_updating_known_ones() -> None:
    t = PeerTable(self_id="me", mesh="m", peer_timeout=10.0, disconnect_grace=2.0, max_peers=2)
    t.hello(info("a"), 0)
    t.hello(info("b"), 0)
    assert not t.admits("c") and t.hello(info("c"), 0) == []
    assert t.admits("a") and [c.kind for c in t.hello(info("a", epoch=2), 1)] == ["updated"]
    t.bye("b")
    assert t.admits("c") and [c.kind for c in t.hello(info("c"), 2)] == ["joined"]


def test_disconnect_shortens_deadline_heartbeat_restores() -> None:
    t = table()
    t.hello(info("a"), 0)
    t.confirm("a", 0.5)
    t.disconnected("a", 1)
    assert t.expire(2.9) == []
    t.seen("a", 2.9)  # it was a blip
    assert t.expire(5) == []
    t.disconnected("a", 6)
    assert [c.reason for c in t.expire(8)] == ["timeout"]


def test_bye() -> None:
    t = table()
    t.hello(info("a"), 0)
    assert [c.reason for c in t.bye("a")] == ["goodbye"]
    assert t.bye("a") == [] and len(t) == 0


def test_round_robin_is_fair_and_stable() -> None:
    from zbus.protocol.requests import RoundRobin

    rr = RoundRobin()
    assert rr.pick("calc", []) is None
    picks = [rr.pick("calc", ["b", "a", "c"]) for _ in range(6)]
    assert picks == ["a", "b", "c", "a", "b", "c"]
    assert rr.pick("other", ["z", "y"]) == "y"  # each type has its own turn


def test_rule_6_only_the_peers_own_link_vouches_for_a_new_incarnation() -> None:
    t = table()
    t.hello(info("a", epoch=1), 0)
    assert t.vouches("a", 2) and not t.heard_live("a")  # not heard yet: nothing to protect
    t.confirm("a", 1, epoch=1)
    assert t.heard_live("a")
    assert t.vouches("a", 1)  # the same incarnation (an UPDATE)
    assert not t.vouches("a", 2) and not t.vouches("a", 0)  # another socket's claim
    t.confirm("a", 2, epoch=2)  # the new epoch heard on its link: a restart on the same endpoint
    assert t.vouches("a", 2)
    t.hello(info("a", epoch=2), 2)
    t.disconnected("a", 3)  # its link dropped (a crash): the next incarnation may introduce itself
    assert not t.heard_live("a") and t.vouches("a", 3)
    t.confirm("a", 3)  # events read on the link (a restart on the same endpoint) are not a heartbeat
    assert t.vouches("a", 3)
    t.confirm("a", 3, epoch=2)  # its heartbeat heard again: protected again
    assert t.heard_live("a") and not t.vouches("a", 3)
    assert t.vouches("b", 7)  # a new node
