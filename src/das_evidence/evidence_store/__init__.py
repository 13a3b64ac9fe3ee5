"""Evidence stores: where the archive's bytes live (a directory now, S3 later)."""

from __future__ import annotations

from pathlib import Path

from das_evidence.errors import ConfigError
from das_evidence.evidence_store.interface import EvidenceStore, ObjectInfo, PutResult
from das_evidence.evidence_store.local import LocalStore

__all__ = ["EvidenceStore", "LocalStore", "ObjectInfo", "PutResult", "open_store"]


def open_store(uri: str, *, create: bool = False) -> EvidenceStore:
    """Open the store named by ``uri``: a directory path or ``file:///...``."""
    if uri.startswith("s3://"):
        raise ConfigError(
            f"store {uri}: S3 stores are not supported by this version",
            fix="use a local directory for store.uri",
        )
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"store {uri}: file URIs must name a local path")
        return LocalStore(Path(unquote(parsed.path)), create=create)
    if "://" in uri:
        raise ConfigError(
            f"store.uri {uri!r} has an unknown scheme",
            fix="use a directory path, file:///path, or s3://bucket/prefix",
        )
    return LocalStore(Path(uri), create=create)
