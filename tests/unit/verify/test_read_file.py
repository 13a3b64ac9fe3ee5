"""How `evidence verify` reads one evidence file: once, whatever its size
(``EvidenceStore.head_tail``: hashed, and a Parquet file's footer taken from the end of
the same read), a second read only for a footer longer than the first tail."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.evidence_store.interface import EvidenceStore, ObjectInfo
from das_evidence.evidence_store.local import HASH_CHUNK, LocalStore
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
from tests.unit.verify.days import append_day

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

    def head_tail(self, key: str, max_bytes: int) -> tuple[ObjectInfo, bytes] | None:
        if key.startswith("evidence/"):
            self.calls.append("head_tail")
        return super().head_tail(key, max_bytes)


class PlainStore(CountingStore):
    """A store without a one-read ``head_tail`` (as S3): the interface's default."""

    head_tail = EvidenceStore.head_tail


def _parquet(rows: int, width: int) -> bytes:
    table = pa.table({"V": pa.array([os.urandom(width) for _ in range(rows)], pa.binary())})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="none", use_dictionary=False)
    return buf.getvalue()


@pytest.mark.parametrize(("rows", "width"), [(3, 10), (40, 4096), (40, 20_000)])
def test_one_read_gives_the_digest_size_and_the_footers_rows(
    tmp_path: Path, rows: int, width: int
) -> None:
    """Small (whole in the footer's tail), larger than the tail, and larger than one
    hashing chunk: one read each (the old reader read a large file twice)."""
    store = CountingStore(tmp_path / "a")
    body = _parquet(rows, width)
    store.put_once("evidence/s/p.parquet", body)
    store.calls.clear()
    (digest, size), counted = _read_file(store, "evidence/s/p.parquet")  # type: ignore[misc]
    assert (digest, size, counted) == (hashlib.sha256(body).hexdigest(), len(body), rows)
    info = LocalStore(tmp_path / "a").head("evidence/s/p.parquet")
    assert info is not None and (info.sha256, info.size) == (digest, size)
    assert (len(body) <= FOOTER_GUESS) == (width < 1000)
    assert (len(body) > HASH_CHUNK) == (width > 10_000)
    assert store.calls == ["head_tail"]


def test_a_store_without_one_read_asks_for_the_digest_then_the_footer(tmp_path: Path) -> None:
    store = PlainStore(tmp_path / "a")
    body = _parquet(40, 4096)
    store.put_once("evidence/s/p.parquet", body)
    store.put_once("evidence/s/p.csv", b"a,b\n")
    store.calls.clear()
    assert _read_file(store, "evidence/s/p.parquet") == (
        (hashlib.sha256(body).hexdigest(), len(body)),
        40,
    )
    assert store.calls == ["head", "get_tail"]
    store.calls.clear()
    assert _read_file(store, "evidence/s/p.csv") == (
        (hashlib.sha256(b"a,b\n").hexdigest(), 4),
        None,
    )
    assert store.calls == ["head"]  # not Parquet: no footer to read


@pytest.mark.parametrize("store_type", [CountingStore, PlainStore])
def test_a_missing_parquet_file_is_gone_not_an_error(tmp_path: Path, store_type: type) -> None:
    store = store_type(tmp_path / "a")
    assert _read_file(store, "evidence/s/gone.parquet") == (None, None)
    assert _read_file(store, "evidence/s/gone.csv") == (None, None)


def test_a_footer_longer_than_the_first_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_mod, "FOOTER_GUESS", 16)
    store = CountingStore(tmp_path / "a")
    body = _parquet(5, 10)
    store.put_once("evidence/s/p.parquet", body)
    store.calls.clear()
    assert _read_file(store, "evidence/s/p.parquet") == (
        (hashlib.sha256(body).hexdigest(), len(body)),
        5,
    )
    assert store.calls == ["head_tail", "get_tail"]  # then the rest of the footer


def test_verify_reads_each_parquet_file_once(tmp_path: Path) -> None:
    """Through load_archive and check_archive, small and large files alike."""
    keys = write_key_pair(tmp_path / "keys", ORIGIN)
    signer = Ed25519Signer.from_file(keys["key"], ORIGIN)
    store = CountingStore(tmp_path / "a")
    log = ArchiveLog(store, ORIGIN)
    for day in range(1, 4):
        body = _parquet(day, 10 if day < 3 else 20_000)
        key = f"evidence/s/day={day:02d}.parquet"
        store.put_once(key, body)
        sha = hashlib.sha256(body).hexdigest()
        append_day(
            log,
            signer,
            day,
            [EvidenceFile(key, sha, len(body), "application/vnd.apache.parquet", day)],
        )
    trust = Trust(keys=(PublicKey.from_file(keys["pub"]),))
    store.calls.clear()
    report = check_archive(load_archive(store), trust)
    assert report.ok, report.findings
    assert report.stats["rows"] == 6
    assert store.calls == ["head_tail"] * 3  # one read per evidence file
