"""Trust: who may connect, which name and node id a CURVE key speaks for, and what it may do.

The node's security decisions, without sockets: the ZeroMQ side (``transport/zmq/curve.py``) asks and
carries out. Inputs are the authenticated CURVE key of a connection (the ZAP User-Id), a HELLO, a
signed revocation list and ``now``; outputs are yes/no with a reason, permissions, and the peers to
cut off.

Rules:

1. A key on the revocation list never connects, and a peer whose key is revoked or whose credential
   expires is cut off (``revoke``/``expire`` return it).
2. ``allow`` mode: only listed keys connect; each may do everything; names are what HELLO says.
3. ``mesh`` mode: any key may open a ROUTER connection (its credential only arrives in HELLO), but
   nothing but a HELLO is accepted from it until that HELLO carries a credential the mesh authority
   signed for this very key and mesh, unexpired, whose name is the HELLO's name. Only admitted keys
   may connect to the XPUB (receive events).
4. A node id is bound to the first key admitted for it; a HELLO claiming that id with another key is
   impersonation, unless it is a restart of the same named node (higher epoch, same credential name).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nacl.signing import VerifyKey

from ..errors import ConfigError, WireError
from ..protocol.permissions import ALL, Permissions
from .credentials import Credential, Revocations, verify_credential, verify_revocations
from .keys import NodeKeys, z85_encode

__all__ = ["Admitted", "Audit", "Trust"]

#: ``audit(decision, reason, key, detail)``: a security decision for the audit log and the counters
Audit = Callable[[str, str, bytes, str], None]

#: ZAP domains: the node's ROUTER (anyone may knock in mesh mode) and its XPUB (admitted keys only)
ROUTER_DOMAIN = "zbus.router"
PUB_DOMAIN = "zbus.pub"


@dataclass(frozen=True, slots=True)
class Admitted:
    """A peer whose key passed: its node id, epoch, name (from the credential in mesh mode) and grants."""

    key: bytes
    node_id: str
    epoch: int
    name: str
    permissions: Permissions
    expires: int  # Unix seconds, 0 = never


class Trust:
    """One node's trust state (see the module doc for the rules).

    Raises (constructor):
        ConfigError: ``mesh`` mode without a verify key, or this node's own credential is invalid,
            expired, for another mesh or for another key (the message says which and what to run).
    """

    def __init__(
        self,
        *,
        mode: str,
        mesh: str,
        own: NodeKeys,
        audit: Audit,
        allow: Iterable[bytes] = (),
        verify: bytes = b"",
        credential: bytes = b"",
        now: float | None = None,
    ) -> None:
        self.mode = mode
        self.mesh = mesh
        self.own = own
        self.allow = frozenset(allow)
        self._audit = audit
        self._verify = VerifyKey(verify) if verify else None
        self.credential = credential
        self.own_credential: Credential | None = None
        #: admitted peers by key, and node id -> key (rule 4)
        self.peers: dict[bytes, Admitted] = {}
        self.nodes: dict[str, bytes] = {}
        self.revocations: Revocations | None = None
        self.revocations_bytes = b""
        now = time.time() if now is None else now
        if mode == "mesh":
            if self._verify is None:
                raise ConfigError(
                    "security.mode = 'mesh' needs security.mesh_key (the mesh.pub of `zbus mesh init`)"
                )
            try:
                mine = verify_credential(credential, self._verify, mesh)
            except WireError as exc:
                raise ConfigError(
                    f"this node's credential is not valid for mesh {mesh!r}: {exc}; issue one with "
                    "`zbus enroll NAME --key KEYFILE` on the mesh authority's machine"
                ) from None
            if mine.key != own.public:
                raise ConfigError(
                    "this node's credential was issued for another key; enroll this node's key again"
                )
            if mine.expired(now):
                raise ConfigError("this node's credential has expired; enroll it again (`zbus enroll`)")
            self.own_credential = mine

    # -- connections (called from the ZAP thread: reads only) -----------------------------------------
    def may_connect(self, domain: str, key: bytes) -> bool | None:
        """Whether a CURVE client with ``key`` may complete its handshake on ``domain``; None: not yet
        (``mesh`` mode, an XPUB subscriber whose HELLO has not been admitted: ask again shortly)."""
        revoked = self.revocations
        if revoked is not None and key in revoked.keys:
            return False
        if self.mode == "allow":
            return key in self.allow
        if domain == PUB_DOMAIN:
            return True if key in self.peers else None
        return True

    # -- HELLO -------------------------------------------------------------------------------------------
    def admit(self, key: bytes, *, node_id: str, epoch: int, name: str, hello_key: bytes, cred: bytes,
              now: float) -> Admitted | None:  # fmt: skip
        """Admit the sender of a HELLO authenticated as ``key``, or refuse it (audited, None)."""
        reason = self._refusal(key, hello_key)
        admitted: Admitted | None = None
        if not reason:
            admitted, reason = self._admitted(key, node_id, epoch, name, cred, now)
        if admitted is None:
            self._audit("refused_peer", reason, key, f"node {node_id[:40]!r} name {name[:40]!r}")
            return None
        bound = self.nodes.get(node_id)
        old = self.peers.get(bound) if bound is not None else None
        if bound is not None and bound != key and old is not None:
            if not (epoch > old.epoch and admitted.name == old.name):
                self._audit(
                    "refused_peer", "impersonation", key, f"node {node_id[:40]!r} is bound to another key"
                )
                return None
            self.peers.pop(bound, None)
        if key not in self.peers:
            self._audit("admitted", "ok", key, f"node {node_id[:40]!r} as {admitted.name!r}")
        self.peers[key] = admitted
        self.nodes[node_id] = key
        return admitted

    def _refusal(self, key: bytes, hello_key: bytes) -> str:
        if hello_key != key:
            return "key_mismatch"  # HELLO names another key than the connection's
        if self.revocations is not None and key in self.revocations.keys:
            return "revoked"
        if self.mode == "allow" and key not in self.allow:
            return "not_allowed"
        return ""

    def _admitted(
        self, key: bytes, node_id: str, epoch: int, name: str, cred: bytes, now: float
    ) -> tuple[Admitted | None, str]:
        if self.mode == "allow":
            return Admitted(key, node_id, epoch, name, ALL, 0), ""
        assert self._verify is not None
        try:
            c = verify_credential(cred, self._verify, self.mesh)
        except WireError:
            return None, "bad_credential"
        if c.key != key:
            return None, "stolen_credential"
        if c.expired(now):
            return None, "expired"
        if c.name != name:
            return None, "name_mismatch"
        return Admitted(key, node_id, epoch, c.name, c.permissions, c.expires), ""

    # -- what an admitted key may do --------------------------------------------------------------------
    def peer(self, key: bytes) -> Admitted | None:
        """The admitted peer holding ``key``, if any."""
        return self.peers.get(key)

    def by_node(self, node_id: str) -> Admitted | None:
        """The admitted peer with ``node_id``, if any."""
        key = self.nodes.get(node_id)
        return None if key is None else self.peers.get(key)

    def forget(self, node_id: str) -> None:
        """The peer left: its key must HELLO again before it is trusted again."""
        key = self.nodes.pop(node_id, None)
        if key is not None:
            self.peers.pop(key, None)

    # -- rotation and revocation ------------------------------------------------------------------------
    def revoke(self, data: bytes) -> list[Admitted] | None:
        """Apply a signed revocation list if it is newer than the one held; return the admitted peers it
        cuts off (None when the list was not applied: older, the same, or not signed by the authority)."""
        if self._verify is None or not data:
            return None
        try:
            rl = verify_revocations(data, self._verify, self.mesh)
        except WireError as exc:
            self._audit("refused_revocations", "bad_signature", b"", str(exc))
            return None
        if self.revocations is not None and rl.serial <= self.revocations.serial:
            return None
        self.revocations, self.revocations_bytes = rl, data
        self._audit("revocations_applied", "ok", b"", f"serial {rl.serial}, {len(rl.keys)} keys")
        if self.own.public in rl.keys:
            self._audit(
                "revocations_applied", "own_key_revoked", self.own.public, "this node's key is revoked"
            )
        gone = [p for k, p in self.peers.items() if k in rl.keys]
        for p in gone:
            self._audit("cut_off", "revoked", p.key, f"node {p.node_id!r} ({p.name})")
            self.forget(p.node_id)
        return gone

    def expire(self, now: float) -> list[Admitted]:
        """Cut off peers whose credentials expired by ``now``; return them."""
        gone = [p for p in self.peers.values() if p.expires and now >= p.expires]
        for p in gone:
            self._audit("cut_off", "expired", p.key, f"node {p.node_id!r} ({p.name})")
            self.forget(p.node_id)
        return gone

    def describe(self) -> dict[str, object]:
        """The security state for ``zbus doctor`` and ``/api/state``: mode, own key, peers, revocations."""
        own = self.own_credential
        return {
            "mode": self.mode,
            "key": z85_encode(self.own.public),
            "name": own.name if own else None,
            "expires": own.expires if own else None,
            "peers": len(self.peers),
            "revocation_serial": self.revocations.serial if self.revocations else None,
        }
