"""Parquet in and out of the collectors: pyarrow's errors arrive as CollectorErrors."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.collectors.parquet import (
    DeterministicParquetWriter,
    read_parquet,
    read_parquet_rows,
)
from das_evidence.errors import CollectorError

SCHEMA = pa.schema([pa.field("N", pa.int64())])


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    with DeterministicParquetWriter(path, SCHEMA) as w:
        w.write(pa.record_batch([pa.array([1, 2, 3], pa.int64())], schema=SCHEMA))
    data = path.read_bytes()
    assert read_parquet(data, "evidence/f.parquet").column("N").to_pylist() == [1, 2, 3]
    assert read_parquet_rows(data, "evidence/f.parquet") == 3


def test_archived_bytes_that_are_not_parquet_name_the_file() -> None:
    with pytest.raises(CollectorError, match=r"evidence/x\.parquet cannot be read as Parquet"):
        read_parquet(b"PAR1 but not really", "evidence/x.parquet")
    with pytest.raises(CollectorError, match=r"evidence/x\.parquet"):
        read_parquet_rows(b"", "evidence/x.parquet")


def test_a_missing_column_is_a_collector_error() -> None:
    table = pa.table({"N": [1]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    with pytest.raises(CollectorError, match=r"evidence/y\.parquet"):
        read_parquet(sink.getvalue(), "evidence/y.parquet", columns=["QUERY_ID"])


def test_a_spool_that_cannot_be_written_is_a_collector_error(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match=r"cannot write .*f\.parquet as Parquet"):
        DeterministicParquetWriter(tmp_path / "no-such-dir" / "f.parquet", SCHEMA)


def test_a_batch_of_another_schema_is_a_collector_error(tmp_path: Path) -> None:
    other = pa.schema([pa.field("M", pa.string())])
    path = tmp_path / "f.parquet"
    with (
        pytest.raises(CollectorError, match=r"f\.parquet"),
        DeterministicParquetWriter(path, SCHEMA) as w,
    ):
        w.write(pa.record_batch([pa.array(["x"] * 70_000)], schema=other))
