"""The decoded-table cache of an EvidenceSet: bounded, least recently used out, and its
size kept as tables come and go (not summed over every cached table per insertion)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.reports import evidence as evidence_module
from das_evidence.reports.evidence import EvidenceSet


def _parquet(rows: int, seed: int) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"X": pa.array(range(seed, seed + rows), pa.int64())}), out)
    return out.getvalue()


def test_the_cache_stays_within_its_bound_and_keeps_what_was_used_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evidence_module, "CACHE_BYTES", 40_000)  # ~5 tables of 8 kB
    files = {f"f{i}.parquet": _parquet(1_000, i) for i in range(20)}
    reads: list[str] = []

    def read(path: str) -> bytes:
        reads.append(path)
        return files[path]

    start = datetime(2026, 1, 1, tzinfo=UTC)
    ev = EvidenceSet([], read, start=start, end=start)
    for i in range(20):
        ev.table(f"f{i}.parquet")
        ev.table("f0.parquet")  # kept: used after every other table
        cached = ev._cache
        total = sum(t.nbytes for t, _ in cached.values())
        assert ev._cached_bytes == total <= 40_000
        assert all(size == t.nbytes for t, size in cached.values())
    assert reads.count("f0.parquet") == 1
    ev.table("f1.parquet")  # evicted long ago: read again
    assert reads.count("f1.parquet") == 2
