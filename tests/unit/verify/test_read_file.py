"""How `evidence verify` reads one evidence file: a small Parquet file in one read, hashed
and its footer counted from the same bytes; a larger one hashed whole, then its footer."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.evidence_store.interface import ObjectInfo
from das_evidence.evidence_store.local import LocalStore
from das_evidence.verify import archive as archive_mod
from das_evidence.verify.archive import FOOTER_GUESS, _read_file


class CountingStore(LocalStore):
    """A directory store that counts its reads of evidence files."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, create=True)
        self.calls: list[str] = []

    def head(self, key: str) -> ObjectInfo | None:
        self.calls.append("head")
        return super().head(key)

    def get_tail(self, key: str, max_bytes: int) -> tuple[bytes, int]:
        self.calls.append("get_tail")
        return super().get_tail(key, max_bytes)


def _parquet(rows: int, width: int) -> bytes:
    table = pa.table({"V": pa.array([b"x" * width] * rows, pa.binary())})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="none")
    return buf.getvalue()


@pytest.mark.parametrize(("rows", "width"), [(3, 10), (40, 4096)])
def test_read_gives_the_stores_digest_size_and_the_footers_rows(
    tmp_path: Path, rows: int, width: int
) -> None:
    store = CountingStore(tmp_path / "a")
    body = _parquet(rows, width)
    store.put_once("evidence/s/p.parquet", body)
    store.calls.clear()
    (digest, size), counted = _read_file(store, "evidence/s/p.parquet")  # type: ignore[misc]
    assert (digest, size, counted) == (hashlib.sha256(body).hexdigest(), len(body), rows)
    info = LocalStore(tmp_path / "a").head("evidence/s/p.parquet")
    assert info is not None and (info.sha256, info.size) == (digest, size)
    if len(body) <= FOOTER_GUESS:
        assert store.calls == ["get_tail"]  # one read: hashed from the footer's read
    else:
        assert store.calls == ["get_tail", "head"]  # the footer, then the whole file hashed


def test_a_small_parquet_file_is_read_once(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "a")
    store.put_once("evidence/s/p.parquet", _parquet(3, 10))
    store.calls.clear()
    _read_file(store, "evidence/s/p.parquet")
    assert len(store.calls) == 1, store.calls


def test_a_missing_parquet_file_is_gone_not_an_error(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "a")
    assert _read_file(store, "evidence/s/gone.parquet") == (None, None)


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
    assert store.calls == ["get_tail", "head", "get_tail"]  # the rest of the footer
