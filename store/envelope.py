"""The record envelope: a checksum around every stored event and dead letter (pure: stdlib only).

A journal value used to be the bare msgpack body (an array of the event's three wire frames). Since
journal schema 2 every value is sealed::

    0xC1 | version (u8) | ext_len (u8) | crc32 (u32, big-endian) | ext (ext_len bytes) | body

``0xC1`` is the one byte msgpack never uses, so a sealed value can never be mistaken for a bare body
written by an older zbus: both kinds are read (the older without a check). The CRC-32 (``zlib.crc32``)
covers the record's LMDB key, the version and ext_len bytes, ``ext`` and the body, so a flipped bit
anywhere, a torn value or a value under the wrong key fails :func:`unseal`.

Versions: in version 1 ``ext`` is empty (dead letters, and events written before journal schema 3).
In version 2 (events since schema 3) ``ext`` is the 16-byte link of the stream's hash chain: the
digest of the stream's previous record (:mod:`.chain`). A version-1 reader refuses a version-2
value with "unknown envelope version", never misreads it.

CRC-32 detects damage (disk, copies, truncation), not tampering: anyone who can write the file can
recompute it. Tamper evidence is the hash chain's job (:mod:`.chain`), not this module's.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

from zbus.errors import JournalCorruptError

__all__ = [
    "ENVELOPE_VERSION",
    "LINK_SIZE",
    "MARK",
    "chain_parts",
    "is_sealed",
    "seal",
    "seal_linked",
    "unseal",
]

MARK: Final = 0xC1
ENVELOPE_VERSION: Final = 2  # the newest written; 1 is still written for records without a chain link
LINK_SIZE: Final = 16  # bytes of a chain link (BLAKE2b-128) in a version-2 ext
_HEAD: Final = struct.Struct(">BBBI")  # mark, version, ext_len, crc32
_V2_PREFIX: Final = bytes((2, LINK_SIZE))  # the version and ext_len bytes of a version-2 envelope
_V2_START: Final = _HEAD.size + LINK_SIZE  # where a version-2 body starts
_CRC: Final = struct.Struct(">I")


def seal(key: bytes, body: bytes, link: bytes | None = None) -> bytes:
    """Return the stored value for ``body`` under ``key``: the envelope with its checksum.

    Args:
        key: the record's LMDB key (covered by the checksum).
        body: the msgpack body.
        link: the stream's previous record's digest (version 2), or None (version 1, no chain).
    """
    version, ext = (1, b"") if link is None else (2, link)
    if len(ext) not in (0, LINK_SIZE):
        raise ValueError(f"a chain link is {LINK_SIZE} bytes, not {len(ext)}")
    prefix = bytes((version, len(ext)))
    crc = zlib.crc32(body, zlib.crc32(ext, zlib.crc32(prefix, zlib.crc32(key))))
    return _HEAD.pack(MARK, version, len(ext), crc) + ext + body


def seal_linked(key: bytes, body: bytes, link: bytes) -> bytes:
    """:func:`seal` with a 16-byte ``link`` (version 2), unchecked: the journal's append path."""
    return _HEAD.pack(MARK, 2, LINK_SIZE, zlib.crc32(body, zlib.crc32(key + _V2_PREFIX + link))) + link + body


def chain_parts(value: bytes) -> tuple[bytes, bytes] | None:
    """``(link, body)`` of a stored version-2 ``value``, unchecked; None for version 1, bare or cut short."""
    end = _HEAD.size + LINK_SIZE
    if len(value) < end or value[0] != MARK or value[1] != 2 or value[2] != LINK_SIZE:
        return None
    return value[_HEAD.size : end], value[end:]


def is_sealed(value: bytes) -> bool:
    """Whether ``value`` carries an envelope (False: a bare body from a schema-1 journal)."""
    return bool(value) and value[0] == MARK


def unseal(key: bytes, value: bytes) -> bytes:
    """Return the body of the stored ``value`` of ``key``, checked; a bare (older) body as it is.

    Raises:
        JournalCorruptError: the envelope is cut short, of an unknown version, or its checksum does
            not match (the message says which; the caller adds the stream and sequence).
    """
    if not is_sealed(value):
        return value
    # every event since schema 3; its checksum covers key, version and ext_len, then ext and body,
    # which are contiguous here (a mismatch falls through to the checks below, which name it)
    if (
        len(value) >= _V2_START
        and value[1] == 2
        and value[2] == LINK_SIZE
        and zlib.crc32(value[_HEAD.size :], zlib.crc32(value[1:3], zlib.crc32(key)))
        == _CRC.unpack_from(value, 3)[0]
    ):
        return value[_V2_START:]
    if len(value) < _HEAD.size:
        raise JournalCorruptError(f"the envelope is cut short ({len(value)} bytes)")
    _, version, ext_len, stored = _HEAD.unpack_from(value)
    if version not in (1, 2):
        raise JournalCorruptError(f"unknown envelope version {version} (written by a newer zbus?)")
    if version == 2 and ext_len != LINK_SIZE:
        raise JournalCorruptError(f"a version-2 envelope with an ext of {ext_len} bytes, not {LINK_SIZE}")
    start = _HEAD.size + ext_len
    if len(value) < start:
        raise JournalCorruptError(f"the envelope is cut short ({len(value)} bytes, ext of {ext_len})")
    prefix = bytes((version, ext_len))
    crc = zlib.crc32(
        value[start:], zlib.crc32(value[_HEAD.size : start], zlib.crc32(prefix, zlib.crc32(key)))
    )
    if crc != stored:
        raise JournalCorruptError(f"checksum mismatch (stored {stored:08x}, computed {crc:08x})")
    return value[start:]
