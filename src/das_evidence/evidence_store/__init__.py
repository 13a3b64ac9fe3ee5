"""Evidence stores: where the archive's bytes live (a directory now, S3 later)."""

from __future__ import annotations

from pathlib import Path

from das_evidence.errors import ConfigError
from das_evidence.evidence_store.interface import EvidenceStore, ObjectInfo, PutResult
from das_evidence.evidence_store.local import LocalStore

__all__ = ["EvidenceStore", "LocalStore", "ObjectInfo", "PutResult", "open_store"]


def open_store(
    uri: str,
    *,
    create: bool = False,
    endpoint_url: str | None = None,
    region: str | None = None,
    lock_mode: str = "COMPLIANCE",
) -> EvidenceStore:
    """Open the store named by ``uri``: a directory path, ``file:///...`` or ``s3://bucket/prefix``."""
    if uri.startswith("s3://"):
        from das_evidence.evidence_store.s3 import S3Store

        return S3Store(uri, endpoint_url=endpoint_url, region=region, lock_mode=lock_mode)
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
