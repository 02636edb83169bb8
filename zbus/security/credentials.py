"""Credentials and revocation lists: documents signed by the mesh authority (Ed25519, PyNaCl).

A **credential** says "the holder of CURVE key K is node NAME of mesh M and may publish, subscribe to
and answer these topic patterns until T". Its bytes (docs/PROTOCOL.md, "Credentials") are a 64-byte
Ed25519 signature followed by the signed body, a msgpack map::

    {"t": "zbus.cred", "v": 1, "mesh": str, "name": str, "key": bin 32 (CURVE public key),
     "pub": [pattern...], "sub": [pattern...], "resp": [pattern...], "iat": int, "exp": int (0 = never)}

A **revocation list** is signed the same way with body
``{"t": "zbus.revoked", "v": 1, "mesh": str, "serial": int, "iat": int, "keys": [bin 32...]}``; a node
applies a list only if its serial is higher than the one it holds. ``t`` separates the two kinds so
one can never be passed off as the other. Times are Unix seconds. Verification checks the signature
against the mesh's verify key (the only key nodes are given), the kind, the version and the mesh name;
expiry and revocation are the caller's (``trust``), because they depend on ``now``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import msgpack
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from ..errors import ConfigError, WireError
from ..protocol.permissions import Permissions

__all__ = [
    "MAX_CREDENTIAL_BYTES",
    "Credential",
    "Revocations",
    "decode_text",
    "encode_text",
    "issue",
    "sign_revocations",
    "verify_credential",
    "verify_revocations",
]

CREDENTIAL_VERSION = 1
#: a credential or revocation list longer than this is refused before its signature is checked
MAX_CREDENTIAL_BYTES = 16 * 1024
_SIG = 64


@dataclass(frozen=True, slots=True)
class Credential:
    """A verified credential: who the key's holder is and what it may do."""

    key: bytes
    name: str
    mesh: str
    permissions: Permissions
    issued: int
    expires: int  # Unix seconds; 0 = never

    def expired(self, now: float) -> bool:
        """True once ``now`` (Unix seconds) has reached the expiry."""
        return bool(self.expires) and now >= self.expires


@dataclass(frozen=True, slots=True)
class Revocations:
    """A verified revocation list: the keys the authority withdrew, and the list's serial number."""

    serial: int
    issued: int
    keys: frozenset[bytes]


def _sign(signing: SigningKey, body: dict[str, Any]) -> bytes:
    return bytes(signing.sign(msgpack.packb(body, use_bin_type=True)))


def issue(
    signing: SigningKey,
    *,
    mesh: str,
    name: str,
    key: bytes,
    permissions: Permissions,
    issued: int,
    expires: int = 0,
) -> bytes:
    """A credential's bytes (signature + body), signed by the mesh authority."""
    if len(key) != 32:
        raise ConfigError("a credential binds a 32-byte CURVE public key")
    return _sign(
        signing,
        {
            "t": "zbus.cred",
            "v": CREDENTIAL_VERSION,
            "mesh": mesh,
            "name": name,
            "key": key,
            "pub": list(permissions.publish),
            "sub": list(permissions.subscribe),
            "resp": list(permissions.respond),
            "iat": issued,
            "exp": expires,
        },
    )


def sign_revocations(signing: SigningKey, *, mesh: str, serial: int, issued: int, keys: set[bytes]) -> bytes:
    """A revocation list's bytes (signature + body)."""
    return _sign(
        signing,
        {"t": "zbus.revoked", "v": CREDENTIAL_VERSION, "mesh": mesh, "serial": serial, "iat": issued,
         "keys": sorted(keys)},
    )  # fmt: skip


def _open(data: bytes, verify: VerifyKey, kind: str, mesh: str) -> dict[str, Any]:
    if not isinstance(data, bytes) or not _SIG < len(data) <= MAX_CREDENTIAL_BYTES:
        raise WireError(f"{kind}: not 65 to {MAX_CREDENTIAL_BYTES} bytes")
    try:
        body_bytes = verify.verify(data)
    except BadSignatureError:
        raise WireError(f"{kind}: bad signature (not issued by this mesh's authority)") from None
    try:
        body = msgpack.unpackb(body_bytes, raw=False, strict_map_key=True)
    except Exception as exc:
        raise WireError(f"{kind}: undecodable body ({type(exc).__name__})") from None
    if type(body) is not dict or body.get("t") != kind or body.get("v") != CREDENTIAL_VERSION:
        raise WireError(f"{kind}: wrong kind or version")
    if body.get("mesh") != mesh:
        raise WireError(f"{kind}: issued for mesh {str(body.get('mesh'))[:64]!r}, not {mesh!r}")
    return body


def _strs(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key, [])
    if type(value) is not list or not all(type(v) is str for v in value):
        raise WireError(f"credential field {key!r} is not a list of strings")
    return tuple(value)


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if type(value) is not int or value < 0:
        raise WireError(f"field {key!r} is not a non-negative integer")
    return value


def verify_credential(data: bytes, verify: VerifyKey, mesh: str) -> Credential:
    """The credential in ``data`` if the mesh authority signed it for ``mesh``.

    Raises:
        WireError: bad signature, wrong kind, version or mesh, or a malformed field.
    """
    body = _open(data, verify, "zbus.cred", mesh)
    key, name = body.get("key"), body.get("name")
    if type(key) is not bytes or len(key) != 32 or type(name) is not str or not 0 < len(name) <= 63:
        raise WireError("credential: malformed key or name")
    try:
        permissions = Permissions(
            publish=_strs(body, "pub"), subscribe=_strs(body, "sub"), respond=_strs(body, "resp")
        )
    except Exception as exc:  # InvalidTopicError: the authority signed a bad pattern
        raise WireError(f"credential: bad permission pattern ({exc})") from None
    return Credential(
        key=key,
        name=name,
        mesh=mesh,
        permissions=permissions,
        issued=_int(body, "iat"),
        expires=_int(body, "exp"),
    )


def verify_revocations(data: bytes, verify: VerifyKey, mesh: str) -> Revocations:
    """The revocation list in ``data`` if the mesh authority signed it for ``mesh``. Raises ``WireError``."""
    body = _open(data, verify, "zbus.revoked", mesh)
    keys = body.get("keys")
    if type(keys) is not list or not all(type(k) is bytes and len(k) == 32 for k in keys):
        raise WireError("revocation list: malformed keys")
    return Revocations(serial=_int(body, "serial"), issued=_int(body, "iat"), keys=frozenset(keys))


def encode_text(data: bytes) -> str:
    """A credential or revocation list as one line of base64 (its file form)."""
    return base64.b64encode(data).decode() + "\n"


def decode_text(text: str, what: str) -> bytes:
    """The bytes of a file written by :func:`encode_text`. Raises ``ConfigError`` naming ``what``."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{what} is not a zbus credential file (one line of base64)") from None
