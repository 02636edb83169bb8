"""Keys on disk: a node's CURVE key pair and the mesh authority's signing key, each secret in a 0600 file.

A key directory (``security.key_dir``, default ``~/.config/zbus/keys``) holds, per key name:

- ``NAME.key``: the public key, Z85 text (40 characters, as ZeroMQ writes CURVE keys); safe to share;
- ``NAME.secret``: the public and the secret key, Z85, one per line; mode 0600, refused if looser;
- ``NAME.cred``: the node's credential issued by ``zbus enroll`` (see ``credentials``), if any.

The mesh authority made by ``zbus mesh init`` is ``mesh.sign`` (its Ed25519 seed, 0600) and ``mesh.pub``
(its verify key): only ``mesh.pub`` is given to nodes. CURVE keys are Curve25519 key pairs, generated
with libsodium (PyNaCl), the library CurveZMQ itself uses; Z85 is ZeroMQ's own encoding (RFC 32).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from ..errors import ConfigError

__all__ = [
    "DEFAULT_KEY_DIR",
    "NodeKeys",
    "generate_keys",
    "key_dir",
    "load_keys",
    "load_public",
    "load_signing_key",
    "save_keys",
    "save_signing_key",
    "z85_decode",
    "z85_encode",
]

DEFAULT_KEY_DIR = "~/.config/zbus/keys"
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,63}")
_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_INDEX = {c: i for i, c in enumerate(_Z85)}


def z85_encode(data: bytes) -> str:
    """ZeroMQ's Z85 text of ``data`` (length a multiple of 4): a 32-byte key becomes 40 characters."""
    if len(data) % 4:
        raise ValueError("Z85 encodes a multiple of 4 bytes")
    out = []
    for i in range(0, len(data), 4):
        value = int.from_bytes(data[i : i + 4], "big")
        chunk = []
        for _ in range(5):
            value, r = divmod(value, 85)
            chunk.append(_Z85[r])
        out.append("".join(reversed(chunk)))
    return "".join(out)


def z85_decode(text: str) -> bytes:
    """The bytes of Z85 ``text``. Raises ``ValueError`` when it is not Z85."""
    if len(text) % 5:
        raise ValueError("Z85 text has a multiple of 5 characters")
    out = bytearray()
    for i in range(0, len(text), 5):
        value = 0
        for c in text[i : i + 5]:
            digit = _Z85_INDEX.get(c)
            if digit is None:
                raise ValueError(f"{c!r} is not a Z85 character")
            value = value * 85 + digit
        if value >= 1 << 32:
            raise ValueError("Z85 group out of range")
        out += value.to_bytes(4, "big")
    return bytes(out)


def public_key(text: str, what: str = "public key") -> bytes:
    """A 32-byte key from its Z85 text (40 characters).

    Raises:
        ConfigError: it is not 40 characters of Z85 (the message names ``what``).
    """
    try:
        raw = z85_decode(text.strip())
    except ValueError as exc:
        raise ConfigError(f"{what} {text[:48]!r} is not Z85 text ({exc}); copy it from a .key file") from None
    if len(raw) != 32:
        raise ConfigError(f"{what} {text[:48]!r} is not a 32-byte key (40 Z85 characters)")
    return raw


@dataclass(frozen=True, slots=True)
class NodeKeys:
    """A node's CURVE key pair (32 raw bytes each; ``public_text`` is the Z85 form people share)."""

    public: bytes
    secret: bytes

    @property
    def public_text(self) -> str:
        """The public key as Z85 text (what goes in allow-lists, mDNS and ``zbus enroll --key``)."""
        return z85_encode(self.public)


def key_dir(configured: str) -> Path:
    """The key directory: ``configured`` with ``~`` expanded (``DEFAULT_KEY_DIR`` when empty)."""
    return Path(os.path.expanduser(configured or DEFAULT_KEY_DIR))


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"key name {name!r}: use 1-63 characters of A-Za-z0-9_.- (the node name, usually)")
    return name


def generate_keys() -> NodeKeys:
    """A fresh CURVE (Curve25519) key pair from libsodium's random source."""
    private = PrivateKey.generate()
    return NodeKeys(public=bytes(private.public_key), secret=bytes(private))


def _write(path: Path, text: str, mode: int, *, overwrite: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise ConfigError(
            f"{path} exists; pass --force to replace it (peers then need the new key)"
        ) from None
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), mode)  # the umask may have narrowed or the file may have existed
        f.write(text)


def save_keys(directory: Path, name: str, keys: NodeKeys, *, overwrite: bool = False) -> Path:
    """Write ``NAME.secret`` (0600) and ``NAME.key`` in ``directory`` (made 0700); return the secret's path.

    Raises:
        ConfigError: the name is invalid, or the files exist and ``overwrite`` is false.
    """
    _check_name(name)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = directory / f"{name}.secret"
    _write(secret, f"{keys.public_text}\n{z85_encode(keys.secret)}\n", 0o600, overwrite=overwrite)
    _write(directory / f"{name}.key", keys.public_text + "\n", 0o644, overwrite=True)
    return secret


def _read_secret_file(path: Path) -> list[str]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"no key file {path}: make one with `zbus keygen` (see docs/SECURITY.md)") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}): chmod 600 {path}"
        )
    return path.read_text().split()


def load_keys(path: Path) -> NodeKeys:
    """A node's key pair from its ``.secret`` file.

    Raises:
        ConfigError: the file is missing, readable by group or others, or not two Z85 keys that belong
            together.
    """
    words = _read_secret_file(path)
    if len(words) != 2:
        raise ConfigError(f"{path} is not a zbus key file (two Z85 lines): make one with `zbus keygen`")
    public, secret = public_key(words[0], f"{path}: public key"), public_key(words[1], f"{path}: secret key")
    if bytes(PrivateKey(secret).public_key) != public:
        raise ConfigError(f"{path}: the public key does not belong to the secret key; regenerate it")
    return NodeKeys(public=public, secret=secret)


def load_public(path: Path) -> bytes:
    """A 32-byte public key from a ``.key``/``.pub`` file (Z85 text). Raises ``ConfigError``."""
    try:
        return public_key(path.read_text(), str(path))
    except FileNotFoundError:
        raise ConfigError(f"no key file {path}") from None


def save_signing_key(directory: Path, *, overwrite: bool = False) -> tuple[Path, bytes]:
    """Make the mesh authority: ``mesh.sign`` (Ed25519 seed, 0600) and ``mesh.pub``; return the path of
    ``mesh.pub`` and the verify key. Raises ``ConfigError`` when one exists and ``overwrite`` is false."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    signing = SigningKey.generate()
    verify = bytes(signing.verify_key)
    _write(directory / "mesh.sign", z85_encode(bytes(signing)) + "\n", 0o600, overwrite=overwrite)
    _write(directory / "mesh.pub", z85_encode(verify) + "\n", 0o644, overwrite=True)
    return directory / "mesh.pub", verify


def load_signing_key(directory: Path) -> SigningKey:
    """The mesh authority's signing key from ``mesh.sign``. Raises ``ConfigError`` (missing, too open)."""
    words = _read_secret_file(directory / "mesh.sign")
    if len(words) != 1:
        raise ConfigError(f"{directory / 'mesh.sign'} is not a mesh signing key: run `zbus mesh init`")
    return SigningKey(public_key(words[0], "mesh signing key"))
