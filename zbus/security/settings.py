"""Settings: ``[security]`` resolved for one node: its mode on its scope, its keys, credential and mesh key.

One place decides what ``security.mode = "auto"`` means on a scope, where the key, credential and
revocation list live, and builds the node's :class:`Trust` from them: the mesh (``transport/zmq/curve.py``)
and ``zbus doctor`` use the same code, so the doctor reports exactly what a node would do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import ConfigError
from .credentials import decode_text
from .keys import NodeKeys, key_dir, load_keys, public_key
from .mode import effective_mode
from .trust import Audit, Trust

__all__ = ["Identity", "effective_mode", "load_identity"]


@dataclass(frozen=True, slots=True)
class Identity:
    """A secured node's keys and trust anchors, read from disk."""

    mode: str
    keys: NodeKeys
    key_path: Path
    credential: bytes
    verify: bytes
    allow: tuple[bytes, ...]
    revocations: Path

    def trust(self, mesh: str, audit: Audit, now: float | None = None) -> Trust:
        """The node's :class:`Trust` (raises ``ConfigError`` when its own credential is not valid)."""
        return Trust(mode=self.mode, mesh=mesh, own=self.keys, audit=audit, allow=self.allow,
                     verify=self.verify, credential=self.credential, now=now)  # fmt: skip


def _path(value: str) -> Path:
    return Path(os.path.expanduser(value))


def load_identity(config: Config, name: str) -> Identity:
    """Read the key (``key_dir/NAME.secret`` unless ``security.key`` says otherwise), the credential and
    the mesh key of a secured node named ``name``.

    Raises:
        ConfigError: a file is missing, too open or invalid (the message names it and the fix).
    """
    s = config.security
    mode = effective_mode(config)
    folder = key_dir(s.key_dir)
    key_path = _path(s.key) if os.sep in s.key else folder / f"{s.key or name}.secret"
    keys = load_keys(key_path)
    credential, verify = b"", b""
    if mode == "mesh":
        verify = _mesh_key(s.mesh_key)
        cred_path = _path(s.credential) if s.credential else key_path.with_suffix(".cred")
        credential = _read(cred_path, "credential", "issue one with `zbus enroll` (docs/SECURITY.md)")
    return Identity(
        mode=mode,
        keys=keys,
        key_path=key_path,
        credential=credential,
        verify=verify,
        allow=tuple(public_key(k, "security.allow entry") for k in s.allow),
        revocations=_path(s.revocations) if s.revocations else folder / "revoked",
    )


def _read(path: Path, what: str, fix: str) -> bytes:
    try:
        return decode_text(path.read_text(), str(path))
    except FileNotFoundError:
        raise ConfigError(f"no {what} {path}: {fix}") from None


def _mesh_key(value: str) -> bytes:
    if not value:
        raise ConfigError("security.mode = 'mesh' needs security.mesh_key: the mesh.pub of `zbus mesh init`")
    if len(value.strip()) == 40 and os.sep not in value:
        return public_key(value, "security.mesh_key")
    path = _path(value)
    try:
        return public_key(path.read_text(), str(path))
    except FileNotFoundError:
        raise ConfigError(f"security.mesh_key: no file {path}") from None
