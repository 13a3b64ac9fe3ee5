"""The evidence-store contract: a key space where every key but one is written once.

A store holds the archive (ARCHIVE-FORMAT section 1). Keys are POSIX paths
relative to the store root whose segments use only ``A-Z a-z 0-9 . _ = -``.
Every key except :data:`CHECKPOINT_KEY` is put once and never changed: a
second put of the same key succeeds only when the bytes are identical, which
makes every write safe to retry after a crash.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from das_evidence.errors import ConfigError

if TYPE_CHECKING:
    from das_evidence.evidence_store.bucket_check import BucketSettings

CHECKPOINT_KEY = "log/checkpoint"
CHECKPOINTS_PREFIX = "log/checkpoints/"
ENTRIES_PREFIX = "log/entries/"
EVIDENCE_PREFIX = "evidence/"
# S3 Object Lock modes; COMPLIANCE unless an operator must use GOVERNANCE.
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")

_SEGMENT = re.compile(r"^[A-Za-z0-9._=-]+$")
_CHUNK = 1 << 20


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid store key, else raise :class:`ConfigError`."""
    segments = key.split("/")
    for segment in segments:
        if not _SEGMENT.match(segment) or segment in {".", ".."}:
            raise ConfigError(
                f"invalid store key {key!r}: segment {segment!r} is empty or uses a character "
                "outside A-Z a-z 0-9 . _ = -",
                fix="use only those characters in account, stream and file names",
            )
    return key


ANY = object()  # replace_checkpoint: no condition


def entry_key(index: int) -> str:
    return f"{ENTRIES_PREFIX}{index:012d}.dsse.json"


def checkpoint_key(size: int) -> str:
    return f"{CHECKPOINTS_PREFIX}{size}"


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one stored object."""

    key: str
    size: int
    sha256: str
    version_id: str | None = None
    lock_mode: str | None = None
    retain_until: datetime | None = None

    def storage_json(self) -> dict[str, Any]:
        """What the store did with the bytes, for the statement (S3: version and lock)."""
        out: dict[str, Any] = {"path": self.key}
        if self.version_id is not None:
            out["version_id"] = self.version_id
            # S3's x-amz-checksum-sha256: base64 of the same digest as files[].sha256.
            out["checksum_sha256"] = base64.b64encode(bytes.fromhex(self.sha256)).decode()
        if self.lock_mode is not None:
            out["lock_mode"] = self.lock_mode
        if self.retain_until is not None:
            out["retain_until"] = self.retain_until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return out


@dataclass(frozen=True)
class PutResult:
    """The outcome of a put: ``created`` is False when identical bytes were already there."""

    info: ObjectInfo
    created: bool


def sha256_file(path: Path) -> tuple[str, int]:
    """Hex SHA-256 and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class EvidenceStore(ABC):
    """Put-once, get, head and list over one archive."""

    uri: str

    #: True when the store locks objects (S3 Object Lock) and records versions.
    locks = False

    @abstractmethod
    def put_once(
        self, key: str, source: bytes | Path, *, retain_until: datetime | None = None
    ) -> PutResult:
        """Write ``source`` under ``key`` exactly once.

        Identical bytes already under ``key`` are success (``created=False``);
        different bytes raise :class:`~das_evidence.errors.PutOnceError`.
        ``retain_until`` locks the object until then where the store can.
        """

    @abstractmethod
    def replace_checkpoint(self, data: bytes, *, if_match: str | object | None = ANY) -> str:
        """Atomically replace :data:`CHECKPOINT_KEY`, the only mutable key.

        ``if_match`` makes it a compare-and-swap: the token :meth:`get_checkpoint`
        returned (None: only if there is none yet). A lost race raises
        :class:`CheckpointConflict`. Returns the new token.
        """

    @abstractmethod
    def get_checkpoint(self) -> tuple[bytes, str] | None:
        """The current checkpoint and its token for :meth:`replace_checkpoint`."""

    def bucket_settings(self) -> BucketSettings | None:
        """The settings of the bucket behind the store (S3), or None (a directory)."""
        return None

    @contextmanager
    def lock(self, timeout: float = 600.0) -> Iterator[None]:
        """Exclusive access for one writer, where the store needs it (a directory does;
        S3 writers coordinate through conditional writes instead)."""
        yield

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`~das_evidence.errors.StoreError` if absent."""

    def open(self, key: str) -> BinaryIO:
        """``key`` as a seekable binary file, for reading in chunks (packs, reports).

        Stores that can read a range or a stream override this so that no caller
        holds a whole object; the default reads it whole. Errors as :meth:`get`,
        when opening or while reading.
        """
        return io.BytesIO(self.get(key))

    def get_tail(self, key: str, max_bytes: int) -> tuple[bytes, int]:
        """At most the last ``max_bytes`` of ``key`` and its whole size (the Parquet footer
        check). Stores that can read a range override this; the default reads it all."""
        data = self.get(key)
        return data[-max_bytes:] if max_bytes else b"", len(data)

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Size and digest of ``key``, or None when it does not exist."""

    def head_tail(self, key: str, max_bytes: int) -> tuple[ObjectInfo, bytes] | None:
        """:meth:`head` and :meth:`get_tail` of ``key`` together (what checking a Parquet
        file needs: its digest and its footer), or None when it does not exist.

        A store that hashes by reading (a directory) overrides this to take both from
        one read; the default asks :meth:`head`, then :meth:`get_tail`."""
        info = self.head(key)
        if info is None:
            return None
        return info, self.get_tail(key, max_bytes)[0] if max_bytes else b""

    @abstractmethod
    def list(self, prefix: str = "", *, start_after: str = "") -> Iterator[str]:
        """Every key under ``prefix``, sorted; with ``start_after``, only the keys after it
        (S3 lists those without paging through the ones before)."""

    def exists(self, key: str) -> bool:
        return self.head(key) is not None
