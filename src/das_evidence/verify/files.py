"""The one digest-checked read of an archived file.

Everything that reads evidence back from an archive to build on it (the
policy-state comparison, reconciliation, packs, reports) reads through
:func:`read_verified`, so a file that no longer matches the digest its entry
signed is never compared, counted, packed or reported on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from das_evidence.errors import FormatError


def read_verified(read: Callable[[str], bytes], name: str, sha256: str, entry: int) -> bytes:
    """``name``'s bytes from ``read``, refused unless they match the digest ``entry`` signed."""
    data = read(name)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise FormatError(
            f"{name} (entry {entry}) does not match the digest its entry signed; "
            "refusing to build on it",
            fix="run `evidence verify` on the archive and restore the file",
        )
    return data


def verified_reader(
    read: Callable[[str], bytes], signed: Mapping[str, tuple[str, int]]
) -> Callable[[str], bytes]:
    """A reader of the files ``signed`` names (path -> (sha256, entry)), each digest-checked."""

    def reader(name: str) -> bytes:
        if name not in signed:
            raise FormatError(
                f"{name} is named by no entry of the selection",
                fix="read only the files the selected entries sign",
            )
        sha256, entry = signed[name]
        return read_verified(read, name, sha256, entry)

    return reader
