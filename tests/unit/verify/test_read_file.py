"""How `evidence verify` reads one evidence file: a Parquet file signed as small in one
read, hashed and its footer counted from the same bytes; a larger one hashed whole, then
its footer read (in that order: see ``_read_file``)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.evidence_store.interface import ObjectInfo
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.signers import Ed25519Signer, PublicKey
from das_evidence.verify import archive as archive_mod
from das_evidence.verify.archive import (
    FOOTER_GUESS,
    Trust,
    _read_file,
    check_archive,
    load_archive,
)

ORIGIN = "evidence.example.com/read-file-test"


class CountingStore(LocalStore):
    """A directory store that counts its reads of evidence files (not of the log)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, create=True)
        self.calls: list[str] = []

    def head(self, key: str) -> ObjectInfo | None:
        if key.startswith("evidence/"):
            self.calls.append("head")
        return super().head(key)

    def get_tail(self, key: str, max_bytes: int) -> tuple[bytes, int]:
        if key.startswith("evidence/"):
            self.calls.append("get_tail")
        return super().get_tail(key, max_bytes)


def _parquet(rows: int, width: int) -> bytes:
    table = pa.table({"V": pa.array([os.urandom(width) for _ in range(rows)], pa.binary())})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="none", use_dictionary=False)
    return buf.getvalue()


@pytest.mark.parametrize(("rows", "width"), [(3, 10), (40, 4096)])
def test_read_gives_the_stores_digest_size_and_the_footers_rows(
    tmp_path: Path, rows: int, width: int
) -> None:
    store = CountingStore(tmp_path / "a")
    body = _parquet(rows, width)
    store.put_once("evidence/s/p.parquet", body)
    store.calls.clear()
    (digest, size), counted = _read_file(store, "evidence/s/p.parquet", len(body))  # type: ignore[misc]
    assert (digest, size, counted) == (hashlib.sha256(body).hexdigest(), len(body), rows)
    info = LocalStore(tmp_path / "a").head("evidence/s/p.parquet")
    assert info is not None and (info.sha256, info.size) == (digest, size)
    assert (len(body) <= FOOTER_GUESS) == (width < 1000)
    if len(body) <= FOOTER_GUESS:
        assert store.calls == ["get_tail"]  # one read: hashed from the footer's read
    else:
        assert store.calls == ["head", "get_tail"]  # hashed whole, then the footer
    store.calls.clear()
    assert _read_file(store, "evidence/s/p.parquet", None) == ((digest, size), rows)
    assert store.calls == ["head", "get_tail"]  # size not known: hashed first


def test_a_file_signed_small_but_larger_is_hashed_whole(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "a")
    body = _parquet(40, 4096)
    assert len(body) > FOOTER_GUESS
    store.put_once("evidence/s/p.parquet", body)
    store.calls.clear()
    assert _read_file(store, "evidence/s/p.parquet", 100) == (
        (hashlib.sha256(body).hexdigest(), len(body)),
        40,
    )
    assert store.calls == ["get_tail", "head", "get_tail"]


def test_a_small_parquet_file_is_read_once(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "a")
    store.put_once("evidence/s/p.parquet", _parquet(3, 10))
    store.calls.clear()
    _read_file(store, "evidence/s/p.parquet", 2000)
    assert len(store.calls) == 1, store.calls


def test_a_missing_parquet_file_is_gone_not_an_error(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "a")
    assert _read_file(store, "evidence/s/gone.parquet", 100) == (None, None)
    assert _read_file(store, "evidence/s/gone.parquet", None) == (None, None)


def test_a_footer_longer_than_the_first_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_mod, "FOOTER_GUESS", 16)
    store = CountingStore(tmp_path / "a")
    body = _parquet(5, 10)
    store.put_once("evidence/s/p.parquet", body)
    store.calls.clear()
    assert _read_file(store, "evidence/s/p.parquet", len(body)) == (
        (hashlib.sha256(body).hexdigest(), len(body)),
        5,
    )
    assert store.calls == ["head", "get_tail", "get_tail"]  # then the rest of the footer


def test_verify_reads_each_small_parquet_file_once(tmp_path: Path) -> None:
    """Through load_archive and check_archive: the signed size reaches the read."""
    keys = write_key_pair(tmp_path / "keys", ORIGIN)
    signer = Ed25519Signer.from_file(keys["key"], ORIGIN)
    store = CountingStore(tmp_path / "a")
    log = ArchiveLog(store, ORIGIN)
    for day in range(1, 4):
        body = _parquet(day, 10)
        key = f"evidence/s/day={day:02d}.parquet"
        store.put_once(key, body)
        sha = hashlib.sha256(body).hexdigest()
        log.append(
            stream="s",
            files=[EvidenceFile(key, sha, len(body), "application/vnd.apache.parquet", day)],
            predicate={
                "collector": {"name": "test", "version": "0"},
                "window": {
                    "start": f"2026-11-{day:02d}T00:00:00Z",
                    "end": f"2026-11-{day + 1:02d}T00:00:00Z",
                },
                "collected_at": f"2026-11-{day + 1:02d}T00:00:00Z",
            },
            signer=signer,
            note_signer=signer,
        )
    trust = Trust(keys=(PublicKey.from_file(keys["pub"]),))
    store.calls.clear()
    report = check_archive(load_archive(store), trust)
    assert report.ok, report.findings
    assert report.stats["rows"] == 6
    assert store.calls == ["get_tail"] * 3  # one read per evidence file
