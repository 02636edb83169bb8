"""The security core without sockets: permissions, Z85, credentials and revocation lists, Trust's rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import zmq.utils.z85
from nacl.signing import SigningKey

from zbus.errors import ConfigError, InvalidTopicError, WireError
from zbus.protocol.permissions import ALL, Permissions
from zbus.security.credentials import (
    decode_text,
    encode_text,
    issue,
    sign_revocations,
    verify_credential,
    verify_revocations,
)
from zbus.security.keys import NodeKeys, generate_keys, load_keys, save_keys, z85_decode, z85_encode
from zbus.security.trust import PUB_DOMAIN, ROUTER_DOMAIN, Trust

NOW = 1_800_000_000


def test_permissions_topics_and_subscription_prefixes() -> None:
    p = Permissions(publish=["task.*"], subscribe=["result.**", "audit.eu.*"], respond=["calc.*"])
    assert p.may_publish("task.a") and not p.may_publish("task.a.b") and not p.may_publish("other")
    assert p.may_respond("calc.add") and not p.may_respond("admin.wipe")
    # prefixes: granted when they start with a permitted pattern's literal prefix
    assert p.may_subscribe(b"result") and p.may_subscribe(b"result.x") and p.may_subscribe(b"audit.eu.")
    assert not p.may_subscribe(b"") and not p.may_subscribe(b"audit.") and not p.may_subscribe(b"task.")
    assert p.may_subscribe(b"$zbus.hb")  # system topics: the mesh needs them
    assert ALL.may_subscribe(b"") and ALL.may_publish("x.y.z")
    with pytest.raises(InvalidTopicError):
        Permissions(publish=["ord*"])


def test_z85_is_zeromqs() -> None:
    for _ in range(20):
        data = os.urandom(32)
        assert z85_encode(data) == zmq.utils.z85.encode(data).decode()
        assert z85_decode(z85_encode(data)) == data
    with pytest.raises(ValueError):
        z85_decode("abc~~")


def test_keys_on_disk(tmp_path: Path) -> None:
    keys = generate_keys()
    path = save_keys(tmp_path / "k", "n1", keys)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keys(path) == keys
    with pytest.raises(ConfigError, match="exists"):
        save_keys(tmp_path / "k", "n1", generate_keys())
    with pytest.raises(ConfigError, match="key name"):
        save_keys(tmp_path / "k", "../x", keys)
    with pytest.raises(ConfigError, match="zbus keygen"):
        load_keys(tmp_path / "missing.secret")


def test_credentials_sign_verify_and_tamper() -> None:
    authority = SigningKey.generate()
    key = generate_keys().public
    perms = Permissions(publish=["a.*"], subscribe=["b.**"])
    data = issue(authority, mesh="m", name="n", key=key, permissions=perms, issued=NOW, expires=NOW + 60)
    cred = verify_credential(data, authority.verify_key, "m")
    assert (cred.key, cred.name, cred.permissions, cred.expires) == (key, "n", perms, NOW + 60)
    assert not cred.expired(NOW) and cred.expired(NOW + 60)
    assert decode_text(encode_text(data), "x") == data
    with pytest.raises(WireError, match="mesh"):
        verify_credential(data, authority.verify_key, "other")
    with pytest.raises(WireError, match="signature"):
        verify_credential(data, SigningKey.generate().verify_key, "m")
    tampered = bytearray(data)
    tampered[-3] ^= 1
    with pytest.raises(WireError, match="signature"):
        verify_credential(bytes(tampered), authority.verify_key, "m")
    # a revocation list is never taken for a credential, nor the reverse
    rl = sign_revocations(authority, mesh="m", serial=1, issued=NOW, keys={key})
    with pytest.raises(WireError, match="kind"):
        verify_credential(rl, authority.verify_key, "m")
    with pytest.raises(WireError, match="kind"):
        verify_revocations(data, authority.verify_key, "m")
    assert verify_revocations(rl, authority.verify_key, "m").keys == {key}


class World:
    def __init__(self) -> None:
        self.authority = SigningKey.generate()
        self.me = generate_keys()
        self.log: list[tuple[str, str]] = []
        self.trust = Trust(
            mode="mesh",
            mesh="m",
            own=self.me,
            audit=lambda decision, reason, key, detail: self.log.append((decision, reason)),
            verify=bytes(self.authority.verify_key),
            credential=self.cred(self.me.public, "me"),
            now=NOW,
        )

    def cred(self, key: bytes, name: str, expires: int = 0) -> bytes:
        return issue(self.authority, mesh="m", name=name, key=key, permissions=Permissions(publish=["x.*"]),
                     issued=NOW, expires=expires)  # fmt: skip


def test_trust_admission_rules() -> None:
    w = World()
    t = w.trust
    a, b = generate_keys().public, generate_keys().public
    assert t.may_connect(ROUTER_DOMAIN, a) is True and t.may_connect(PUB_DOMAIN, a) is None  # not yet
    hello = {"node_id": "id-a", "epoch": 1, "name": "a", "now": NOW}
    assert t.admit(a, hello_key=b, cred=w.cred(a, "a"), **hello) is None  # HELLO names another key
    assert t.admit(a, hello_key=a, cred=w.cred(b, "a"), **hello) is None  # someone else's credential
    assert t.admit(a, hello_key=a, cred=w.cred(a, "z"), **hello) is None  # a name not its own
    assert t.admit(a, hello_key=a, cred=w.cred(a, "a", NOW - 1), **hello) is None  # expired
    assert t.admit(a, hello_key=a, cred=b"junk", **hello) is None
    assert [r for _, r in w.log] == [
        "key_mismatch",
        "stolen_credential",
        "name_mismatch",
        "expired",
        "bad_credential",
    ]
    admitted = t.admit(a, hello_key=a, cred=w.cred(a, "a", NOW + 10), **hello)
    assert admitted is not None and admitted.name == "a" and t.may_connect(PUB_DOMAIN, a) is True
    # rule 4: node id id-a is bound to key a; b with its own valid credential cannot take it over...
    assert t.admit(b, hello_key=b, cred=w.cred(b, "b"), node_id="id-a", epoch=2, name="b", now=NOW) is None
    assert w.log[-1] == ("refused_peer", "impersonation")
    # ...unless it is the same named node restarted with a new key (re-enrolled): higher epoch, same name
    assert t.admit(b, hello_key=b, cred=w.cred(b, "a"), node_id="id-a", epoch=2, name="a", now=NOW)
    assert t.peer(a) is None and t.by_node("id-a") is not None
    # expiry cuts off
    c = generate_keys().public
    t.admit(c, hello_key=c, cred=w.cred(c, "c", NOW + 5), node_id="id-c", epoch=1, name="c", now=NOW)
    assert [p.node_id for p in t.expire(NOW + 5)] == ["id-c"] and t.by_node("id-c") is None


def test_revocation_lists_newer_only_and_cut_off() -> None:
    w = World()
    t = w.trust
    a = generate_keys().public
    t.admit(a, hello_key=a, cred=w.cred(a, "a"), node_id="id-a", epoch=1, name="a", now=NOW)
    rl1 = sign_revocations(w.authority, mesh="m", serial=1, issued=NOW, keys={a})
    gone = t.revoke(rl1)
    assert gone is not None and [p.node_id for p in gone] == ["id-a"]
    assert t.may_connect(ROUTER_DOMAIN, a) is False
    assert t.revoke(rl1) is None  # the same serial again: nothing new
    assert (
        t.revoke(sign_revocations(SigningKey.generate(), mesh="m", serial=9, issued=NOW, keys=set())) is None
    )
    assert t.admit(a, hello_key=a, cred=w.cred(a, "a"), node_id="id-a", epoch=2, name="a", now=NOW) is None
    assert w.log[-1] == ("refused_peer", "revoked")


def test_own_credential_is_checked_at_start() -> None:
    w = World()
    verify = bytes(w.authority.verify_key)

    def trust(own: NodeKeys, credential: bytes, mesh: str = "m") -> Trust:
        return Trust(mode="mesh", mesh=mesh, own=own, audit=lambda *a: None, verify=verify,
                     credential=credential, now=NOW)  # fmt: skip

    with pytest.raises(ConfigError, match="another key"):
        trust(generate_keys(), w.cred(w.me.public, "me"))
    with pytest.raises(ConfigError, match="expired"):
        trust(w.me, w.cred(w.me.public, "me", NOW - 1))
    with pytest.raises(ConfigError, match="not valid"):
        trust(w.me, w.cred(w.me.public, "me"), mesh="other")


def test_allow_mode() -> None:
    a, b = generate_keys().public, generate_keys().public
    t = Trust(mode="allow", mesh="m", own=generate_keys(), audit=lambda *x: None, allow=[a])
    assert t.may_connect(PUB_DOMAIN, a) and t.may_connect(ROUTER_DOMAIN, a)
    assert not t.may_connect(PUB_DOMAIN, b) and not t.may_connect(ROUTER_DOMAIN, b)
    admitted = t.admit(a, hello_key=a, cred=b"", node_id="i", epoch=1, name="a", now=NOW)
    assert admitted is not None and admitted.permissions is ALL
