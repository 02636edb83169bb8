"""Checking an LMDB data file before it is mapped: a truncated file must be an error, not SIGBUS.

LMDB maps ``data.mdb`` into memory and follows page numbers into it. If the file is shorter than the
pages its last committed transaction uses (a copy cut short, a full disk during a copy, a file
truncated by hand), the first read of a missing page kills the process with SIGBUS (exit 135) before
any error can be raised. :func:`check_data_file` reads the two meta pages with plain file I/O and
compares, so :class:`~.journal.Journal` can refuse such a file with a message instead.

Layout read here (LMDB 0.9 ``MDB_page`` + ``MDB_meta``, native byte order, 64-bit ``pgno_t``): each of
pages 0 and 1 holds a 16-byte page header (flags at offset 10 must have ``P_META``), then the meta:
magic ``0xBEEFC0DE`` at 16, data version (1) at 20, the page size in the free database's ``md_pad``
at 40, the free and main databases' root pages at 80 and 128, the last used page at 136 and the
transaction id at 144. LMDB uses the meta with the higher transaction id; every page that meta reaches
is at most its last page, so the file must hold ``(last page + 1) * page size`` bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Final

from zbus.errors import JournalCorruptError

__all__ = ["DataFileInfo", "check_data_file"]

_MAGIC: Final = 0xBEEFC0DE
_DATA_VERSION: Final = 1
_P_META: Final = 0x08
_P_INVALID: Final = 2**64 - 1  # the root of an empty database
_META: Final = struct.Struct("=10xH4xII8x8xI36xQ40xQQQ")  # flags, magic, version, psize, roots, last, txnid
_HEADER_BYTES: Final = _META.size
_MIN_PAGE: Final = 512
_MAX_PAGE: Final = 65536


class DataFileInfo:
    """What the meta page LMDB will use says (see :func:`check_data_file`)."""

    __slots__ = ("file_size", "last_page", "page_size", "txnid")

    def __init__(self, *, page_size: int, last_page: int, txnid: int, file_size: int) -> None:
        self.page_size = page_size
        self.last_page = last_page
        self.txnid = txnid
        self.file_size = file_size

    @property
    def needed(self) -> int:
        """Bytes the file must hold: every page up to and including the last used one."""
        return (self.last_page + 1) * self.page_size


def _meta(data: bytes, page: int, path: Path) -> tuple[int, int, int, int, int]:
    flags, magic, version, psize, free_root, main_root, last, txnid = _META.unpack_from(data)
    where = f"{path}: meta page {page}"
    if magic != _MAGIC:
        raise JournalCorruptError(
            f"{where} has magic {magic:#x}, not LMDB's {_MAGIC:#x}: this is not an LMDB data file, or its "
            "header is damaged; restore the journal directory from a backup or move it aside"
        )
    if not flags & _P_META or version != _DATA_VERSION:
        raise JournalCorruptError(
            f"{where} is not a version-{_DATA_VERSION} meta page (flags {flags:#x}, version {version}); "
            "restore the journal directory from a backup or move it aside"
        )
    if not (_MIN_PAGE <= psize <= _MAX_PAGE and psize & (psize - 1) == 0):
        raise JournalCorruptError(f"{where} gives an impossible page size {psize}; the header is damaged")
    for root in (free_root, main_root):
        if root != _P_INVALID and root > last:
            raise JournalCorruptError(
                f"{where} has a database root at page {root}, past its last page {last}: the header "
                "is inconsistent; restore the journal directory from a backup or move it aside"
            )
    return psize, free_root, main_root, last, txnid


def check_data_file(path: Path) -> DataFileInfo | None:
    """Check ``path`` (a ``data.mdb``) against its own header before LMDB maps it.

    Returns None when the file is empty or cannot be opened (LMDB creates it, or reports why not), else
    what the header says.

    Raises:
        JournalCorruptError: the file is shorter than its two meta pages or than the pages its last
            transaction uses, or a meta page is not LMDB's or is inconsistent. The message names the
            file, the sizes and what to do.
    """
    try:
        f = path.open("rb")
    except OSError:
        return None  # missing, a directory in the way, no permission: LMDB reports it in its own words
    try:
        with f:
            size = f.seek(0, 2)
            if size == 0:
                return None
            f.seek(0)
            head = f.read(_HEADER_BYTES)
            if len(head) < _HEADER_BYTES:
                raise JournalCorruptError(
                    f"{path} is truncated: {size} bytes, less than an LMDB header; restore the journal "
                    "directory from a backup or move it aside"
                )
            psize = _meta(head, 0, path)[0]
            f.seek(psize)
            second = f.read(_HEADER_BYTES)
    except OSError as exc:
        raise JournalCorruptError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size < 2 * psize or len(second) < _HEADER_BYTES:
        raise JournalCorruptError(
            f"{path} is truncated: {size} bytes, less than its two {psize}-byte header pages; restore "
            "the journal directory from a backup or move it aside"
        )
    metas = [_meta(head, 0, path), _meta(second, 1, path)]
    _, _, _, last, txnid = max(metas, key=lambda m: m[4])  # the one LMDB will use
    info = DataFileInfo(page_size=psize, last_page=last, txnid=txnid, file_size=size)
    if size < info.needed:
        raise JournalCorruptError(
            f"{path} is truncated: {size} bytes, but its last transaction ({txnid}) uses pages up to "
            f"{last}, i.e. {info.needed} bytes; opening it would crash the process (SIGBUS). Restore the "
            "journal directory from a backup, or move it aside to start a fresh journal"
        )
    return info
