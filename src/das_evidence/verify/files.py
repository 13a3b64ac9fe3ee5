"""The one digest-checked read of an archived file.

Everything that reads evidence back from an archive to build on it (the
policy-state comparison, reconciliation, packs, reports) reads through
:func:`read_verified`, :func:`copy_verified` or :func:`verified_opener`, so a
file that no longer matches the digest its entry signed is never compared,
counted, packed or reported on. The last two stream: they hold one chunk of a
file at a time, whatever its size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import BinaryIO

from das_evidence.errors import FormatError

CHUNK = 1 << 20


def _mismatch(name: str, entry: int) -> FormatError:
    return FormatError(
        f"{name} (entry {entry}) does not match the digest its entry signed; "
        "refusing to build on it",
        fix="run `evidence verify` on the archive and restore the file",
    )


def read_verified(read: Callable[[str], bytes], name: str, sha256: str, entry: int) -> bytes:
    """``name``'s bytes from ``read``, refused unless they match the digest ``entry`` signed."""
    data = read(name)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise _mismatch(name, entry)
    return data


def copy_verified(
    open_: Callable[[str], BinaryIO],
    name: str,
    sha256: str,
    entry: int,
    sink: Callable[[bytes], object] | None = None,
) -> int:
    """Stream ``name`` into ``sink`` chunk by chunk, hashing as it goes; its size.

    Raises :class:`FormatError` after the last chunk when the bytes do not match the
    digest ``entry`` signed: the caller must then discard what ``sink`` received.
    """
    digest = hashlib.sha256()
    size = 0
    with open_(name) as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if sink is not None:
                sink(chunk)
    if digest.hexdigest() != sha256:
        raise _mismatch(name, entry)
    return size


def verified_reader(
    read: Callable[[str], bytes], signed: Mapping[str, tuple[str, int]]
) -> Callable[[str], bytes]:
    """A reader of the files ``signed`` names (path -> (sha256, entry)), each digest-checked."""

    def reader(name: str) -> bytes:
        sha256, entry = _signed(signed, name)
        return read_verified(read, name, sha256, entry)

    return reader


def verified_opener(
    open_: Callable[[str], BinaryIO], signed: Mapping[str, tuple[str, int]]
) -> Callable[[str], BinaryIO]:
    """An opener of the files ``signed`` names, for reading in parts (Parquet columns).

    A file is hashed in one streamed pass the first time it is opened and refused
    unless it matches; later opens of it are not hashed again. This suits stores
    whose objects never change once written (put-once): a reader that seeks cannot
    hash what it reads.
    """
    checked: set[str] = set()

    def opener(name: str) -> BinaryIO:
        sha256, entry = _signed(signed, name)
        if name not in checked:
            copy_verified(open_, name, sha256, entry)
            checked.add(name)
        return open_(name)

    return opener


def _signed(signed: Mapping[str, tuple[str, int]], name: str) -> tuple[str, int]:
    if name not in signed:
        raise FormatError(
            f"{name} is named by no entry of the selection",
            fix="read only the files the selected entries sign",
        )
    return signed[name]
