"""Test archives of one stream of one-day windows in November 2026: one entry a day."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.signers import Ed25519Signer, PublicKey, Signer
from das_evidence.verify.archive import Trust


def new_archive(
    tmp_path: Path, origin: str, store: LocalStore | None = None
) -> tuple[LocalStore, ArchiveLog, Ed25519Signer, Trust]:
    """An empty archive (``tmp_path/archive``, or ``store``), its log, signer and trust."""
    keys = write_key_pair(tmp_path / "keys", origin)
    signer = Ed25519Signer.from_file(keys["key"], origin)
    store = store or LocalStore(tmp_path / "archive", create=True)
    trust = Trust(keys=(PublicKey.from_file(keys["pub"]),))
    return store, ArchiveLog(store, origin), signer, trust


def day_predicate(day: int) -> dict[str, Any]:
    """The predicate of day ``day``'s entry (window 2026-11-``day``, collected after)."""
    return {
        "collector": {"name": "test", "version": "0"},
        "window": {
            "start": f"2026-11-{day:02d}T00:00:00Z",
            "end": f"2026-11-{day + 1:02d}T00:00:00Z",
        },
        "collected_at": f"2026-11-{day + 1:02d}T00:00:00Z",
    }


def append_day(log: ArchiveLog, signer: Signer, day: int, files: Sequence[EvidenceFile]) -> None:
    """Day ``day``'s entry of stream ``s``, naming ``files``, sealed."""
    log.append(
        stream="s",
        files=list(files),
        predicate=day_predicate(day),
        signer=signer,
        note_signer=signer,
    )
