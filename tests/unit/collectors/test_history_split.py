"""Bounded collection: sub-range queries and Parquet parts give the bytes of one query."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from das_evidence.collectors.interface import Collection, Window
from das_evidence.collectors.parquet import (
    ROW_GROUP_ROWS,
    DeterministicParquetWriter,
    ParquetParts,
)
from das_evidence.collectors.snowflake.connection import QueryResult
from das_evidence.collectors.snowflake.history import HistoryCollector, split_window
from das_evidence.collectors.snowflake.views import LOGIN_HISTORY

T = datetime(2026, 11, 1, tzinfo=UTC)
DAY = Window(T, T + timedelta(days=1))
_BOUNDS = re.compile(r">= '([^']+)'::TIMESTAMP_LTZ AND \w+ < '([^']+)'::TIMESTAMP_LTZ")


def _rows(n: int) -> pa.Table:
    """``n`` LOGIN_HISTORY rows over DAY, more of them in the afternoon, in time order."""
    schema = LOGIN_HISTORY.schema()
    step = 86_400_000_000 // (n + 1)
    micros = [
        i * step // 2 if i < n // 3 else (n // 3) * step // 2 + (i - n // 3) * step
        for i in range(n)
    ]
    start = int(T.timestamp() * 1_000_000)
    columns: dict[str, pa.Array] = {}
    for f in schema:
        if f.name == "EVENT_TIMESTAMP":
            columns[f.name] = pa.array([start + m for m in micros], f.type)
        elif f.name == "EVENT_ID":
            columns[f.name] = pa.array(range(n), f.type)
        elif f.name == "USER_NAME":
            columns[f.name] = pa.array([f"user-{i * 7919 % 1013}" for i in range(n)], f.type)
        else:
            columns[f.name] = pa.nulls(n, f.type)
    return pa.table(columns, schema=schema)


class TableSession:
    """A session over an in-memory LOGIN_HISTORY that answers the collector's three
    queries (count, per-minute histogram, rows) and records the SQL it was sent."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.sent: list[str] = []

    def _window(self, sql: str) -> pa.Table:
        m = _BOUNDS.search(sql)
        assert m, sql
        lo, hi = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in m.groups())
        t = self.table.column("EVENT_TIMESTAMP")
        lo_s = pa.scalar(lo, t.type)
        hi_s = pa.scalar(hi, t.type)
        return self.table.filter(pc.and_(pc.greater_equal(t, lo_s), pc.less(t, hi_s)))

    def columns(self, view: str) -> list[str]:
        return list(self.table.column_names)

    def count(self, sql: str, params: Any) -> int:
        self.sent.append(sql)
        return self._window(sql).num_rows

    def query_arrow(self, sql: str, params: Any) -> QueryResult:
        self.sent.append(sql)
        rows = self._window(sql)
        if "DATE_TRUNC('MINUTE'" in sql:
            # Per minute: rows, and their text length (only USER_NAME is not null here).
            assert "COALESCE(LENGTH(TO_VARCHAR(USER_NAME)), 0)" in sql, sql
            buckets = pc.floor_temporal(rows.column("EVENT_TIMESTAMP"), unit="minute")
            width = pc.fill_null(pc.utf8_length(rows.column("USER_NAME")), 0)
            grouped = (
                pa.table({"B": buckets, "W": width})
                .group_by("B")
                .aggregate([("B", "count"), ("W", "sum")])
            )
            result = grouped.select(["B", "B_count", "W_sum"]).sort_by("B")
        else:
            result = rows.sort_by([("EVENT_TIMESTAMP", "ascending"), ("EVENT_ID", "ascending")])
        # Batches of an odd size, as a server sends them.
        return QueryResult(f"q{len(self.sent)}", iter(result.to_batches(max_chunksize=10_007)))


def _collect(
    tmp: Path,
    session: TableSession,
    *,
    max_rows: int,
    max_bytes: int = 1 << 30,
    max_query_bytes: int = 1 << 30,
) -> Collection:
    collector = HistoryCollector(
        LOGIN_HISTORY,
        account="ACME",
        session=lambda: session,
        first_start=T,
        safety=timedelta(hours=2),
        max_rows_per_query=max_rows,
        max_file_bytes=max_bytes,
        max_bytes_per_query=max_query_bytes,
    )
    spool = tmp / f"spool-{max_rows}-{max_bytes}-{max_query_bytes}"
    spool.mkdir()
    return collector.collect(DAY, spool)


def test_a_window_over_the_limit_is_read_in_bounded_queries_with_the_same_bytes(
    tmp_path: Path,
) -> None:
    table = _rows(20_000)
    whole = _collect(tmp_path, TableSession(table), max_rows=1_000_000)
    session = TableSession(table)
    split = _collect(tmp_path, session, max_rows=3_000)

    queries = split.predicate["query"]["split"]["queries"]
    assert len(queries) >= 20_000 // 3_000
    assert all(q["rows"] <= 3_000 for q in queries)
    assert sum(q["rows"] for q in queries) == 20_000
    row_queries = [s for s in session.sent if s.startswith("SELECT EVENT_ID")]
    assert row_queries == [q["sql"] for q in queries]
    # Contiguous sub-ranges of the window, cut at whole minutes.
    bounds = [_BOUNDS.search(q["sql"]).groups() for q in queries]  # type: ignore[union-attr]
    assert bounds[0][0] == "2026-11-01T00:00:00Z" and bounds[-1][1] == "2026-11-02T00:00:00Z"
    assert all(a[1] == b[0] and a[1].endswith(":00Z") for a, b in itertools.pairwise(bounds))

    [one] = whole.files
    [file] = split.files
    assert file.key == one.key and file.local_path.read_bytes() == one.local_path.read_bytes()
    assert (file.sha256, file.rows) == (one.sha256, 20_000)
    assert split.predicate["query"]["sql"] == whole.predicate["query"]["sql"]
    assert "split" not in whole.predicate["query"] and whole.predicate["query"]["query_id"]


def test_split_window_cuts_at_buckets_and_keeps_a_large_bucket_whole() -> None:
    m = [T + timedelta(minutes=i) for i in range(5)]
    histogram = [(m[0], 4, 0), (m[1], 4, 0), (m[2], 9, 0), (m[3], 1, 0), (m[4], 1, 0)]
    pieces = split_window(DAY, histogram, 5)
    assert [(p.start, p.end) for p in pieces] == [
        (DAY.start, m[1]),
        (m[1], m[2]),
        (m[2], m[3]),
        (m[3], DAY.end),
    ]
    assert split_window(DAY, [], 5) == [DAY]


def test_split_window_cuts_where_the_rows_or_their_bytes_reach_the_budget() -> None:
    """Wide rows (a batch job's) are cut finer than narrow ones: memory follows the bytes
    of a query, whatever the width of the rows."""
    m = [T + timedelta(minutes=i) for i in range(6)]
    narrow = [(t, 10, 100) for t in m]  # 10 bytes a row
    wide = [(t, 10, 5_000) for t in m]  # 500 bytes a row
    assert len(split_window(DAY, narrow, 30, 10_000)) == 2  # by rows: 3 minutes a query
    pieces = split_window(DAY, wide, 30, 10_000)
    assert [(p.start, p.end) for p in pieces] == [
        (DAY.start, m[2]),
        (m[2], m[4]),
        (m[4], DAY.end),
    ]  # by bytes: 2 minutes a query
    assert split_window(DAY, [(m[1], 1, 50_000)], 30, 10_000) == [DAY]  # one bucket: whole


def test_wide_rows_are_read_in_queries_bounded_by_their_bytes(tmp_path: Path) -> None:
    table = _rows(20_000)
    whole = _collect(tmp_path, TableSession(table), max_rows=1_000_000)
    split = _collect(tmp_path, TableSession(table), max_rows=15_000, max_query_bytes=40_000)
    queries = split.predicate["query"]["split"]["queries"]
    # By rows alone it would be 2 queries; USER_NAME text ("user-N", 6-9 characters) of
    # 20,000 rows is ~160 kB, so the byte budget makes it at least 4.
    assert len(queries) >= 4, queries
    assert split.predicate["query"]["split"]["max_bytes_per_query"] == 40_000
    [one], [file] = whole.files, split.files
    assert file.local_path.read_bytes() == one.local_path.read_bytes()


def test_a_large_window_is_split_into_parts_each_with_its_digest_and_rows(
    tmp_path: Path,
) -> None:
    n = 2 * ROW_GROUP_ROWS + 100
    collection = _collect(tmp_path, TableSession(_rows(n)), max_rows=50_000, max_bytes=1)
    stem = "evidence/snowflake/ACME/login_history/date=2026-11-01/20261101T000000Z_20261102T000000Z"
    assert [f.key for f in collection.files] == [
        f"{stem}.part-0001.parquet",
        f"{stem}.part-0002.parquet",
        f"{stem}.part-0003.parquet",
    ]
    assert [f.rows for f in collection.files] == [ROW_GROUP_ROWS, ROW_GROUP_ROWS, 100]
    assert collection.predicate["rows"] == n
    ids: list[int] = []
    for f in collection.files:
        part = pq.read_table(f.local_path)
        assert part.num_rows == f.rows
        ids.extend(part.column("EVENT_ID").to_pylist())
    assert ids == list(range(n))
    # The runner's sweep leaves a part of a window not archived yet, like the whole file.
    collector = HistoryCollector(
        LOGIN_HISTORY, account="ACME", session=lambda: None, first_start=T, safety=timedelta(0)
    )
    assert collector.pending(collection.files[1].key, T)
    assert collector.pending(f"{stem}.part-0002.retry-1.parquet", T)
    assert not collector.pending(f"{stem}.amend-1.part-0002.parquet", T)


def _batches(table: pa.Table) -> Iterator[pa.RecordBatch]:
    return iter(table.to_batches(max_chunksize=7_777))


def test_parts_under_the_limit_are_the_bytes_of_one_writer(tmp_path: Path) -> None:
    schema = pa.schema([pa.field("N", pa.int64()), pa.field("S", pa.string())])
    n = 3 * ROW_GROUP_ROWS + 5
    table = pa.table({"N": range(n), "S": [f"r{i}" for i in range(n)]}, schema=schema)
    with DeterministicParquetWriter(tmp_path / "one.parquet", schema) as w:
        for b in _batches(table):
            w.write(b)
    parts = ParquetParts(lambda i: tmp_path / f"p{i}.parquet", schema, 1 << 30)
    for b in _batches(table):
        parts.write(b)
    [part] = parts.close()
    assert part.path.read_bytes() == (tmp_path / "one.parquet").read_bytes()
    assert part.rows == n


def test_parts_stay_under_the_limit_and_hold_every_row_in_order(tmp_path: Path) -> None:
    import os

    schema = pa.schema([pa.field("N", pa.int64()), pa.field("B", pa.binary())])
    n = 6 * ROW_GROUP_ROWS
    table = pa.table({"N": range(n), "B": [os.urandom(24) for _ in range(n)]}, schema=schema)
    limit = 6 << 20  # about three row groups of incompressible bytes
    parts = ParquetParts(lambda i: tmp_path / f"p{i}.parquet", schema, limit)
    for b in _batches(table):
        parts.write(b)
    written = parts.close()
    assert len(written) >= 2
    assert all(p.size <= limit for p in written)
    assert all(p.size == p.path.stat().st_size for p in written)
    assert pa.concat_tables(pq.read_table(p.path) for p in written).equals(table)


def test_no_rows_is_one_zero_row_part(tmp_path: Path) -> None:
    schema = LOGIN_HISTORY.schema()
    [part] = ParquetParts(lambda i: tmp_path / f"p{i}.parquet", schema, 1).close()
    assert part.rows == 0 and pq.read_schema(part.path).names == schema.names
