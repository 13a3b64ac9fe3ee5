"""Window planning and deterministic Parquet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from das_evidence.collectors.parquet import ROW_GROUP_ROWS, DeterministicParquetWriter
from das_evidence.collectors.snowflake.history import HistoryCollector, plan_windows
from das_evidence.collectors.snowflake.views import LOGIN_HISTORY, VIEWS
from das_evidence.errors import SchemaMismatchError

T = datetime(2026, 11, 1, tzinfo=UTC)


def test_windows_are_cut_at_midnight_and_stop_before_the_safety_margin() -> None:
    ws = plan_windows(T + timedelta(hours=5), T + timedelta(days=2, hours=7), timedelta(hours=3))
    assert [(w.start, w.end) for w in ws] == [
        (T + timedelta(hours=5), T + timedelta(days=1)),
        (T + timedelta(days=1), T + timedelta(days=2)),
        (T + timedelta(days=2), T + timedelta(days=2, hours=4)),
    ]


def test_a_short_last_window_waits() -> None:
    ws = plan_windows(T, T + timedelta(hours=3, minutes=10), timedelta(hours=3))
    assert ws == []


@given(
    start_min=st.integers(0, 60 * 24 * 30),
    span_min=st.integers(0, 60 * 24 * 30),
    safety_min=st.integers(45, 600),
)
@settings(max_examples=200, deadline=None)
def test_windows_tile_without_gaps(start_min: int, span_min: int, safety_min: int) -> None:
    start = T + timedelta(minutes=start_min)
    now = start + timedelta(minutes=span_min)
    ws = plan_windows(start, now, timedelta(minutes=safety_min))
    cursor = start
    for w in ws:
        assert w.start == cursor and w.start < w.end <= now - timedelta(minutes=safety_min)
        assert w.end - w.start <= timedelta(days=1)
        assert w.start.date() == (w.end - timedelta(microseconds=1)).date()
        cursor = w.end


def _write(path: Path, batches: list[pa.RecordBatch], schema: pa.Schema) -> bytes:
    with DeterministicParquetWriter(path, schema) as w:
        for b in batches:
            w.write(b)
    return path.read_bytes()


def test_same_rows_in_different_batches_give_the_same_bytes(tmp_path: Path) -> None:
    schema = pa.schema([pa.field("N", pa.int64()), pa.field("S", pa.string())])
    n = ROW_GROUP_ROWS * 2 + 123
    table = pa.table({"N": list(range(n)), "S": [f"r{i}" for i in range(n)]}, schema=schema)
    one = _write(tmp_path / "a.parquet", table.to_batches(max_chunksize=n), schema)
    many = _write(tmp_path / "b.parquet", table.to_batches(max_chunksize=997), schema)
    assert one == many
    other = pa.table({"N": list(range(n)), "S": [f"x{i}" for i in range(n)]}, schema=schema)
    assert _write(tmp_path / "c.parquet", other.to_batches(), schema) != one


def test_an_empty_window_is_a_zero_row_file(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    schema = LOGIN_HISTORY.schema()
    _write(tmp_path / "e.parquet", [], schema)
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0
    assert pq.read_schema(tmp_path / "e.parquet").names == schema.names


def _collector() -> HistoryCollector:
    return HistoryCollector(
        LOGIN_HISTORY,
        account="ACME",
        session=lambda: None,
        first_start=T,
        safety=timedelta(hours=2),
    )


def test_cast_to_the_pinned_schema() -> None:
    c = _collector()
    arrays = []
    for col in LOGIN_HISTORY.columns:
        if col.name == "EVENT_TIMESTAMP":
            arrays.append(pa.array([1_700_000_000_123_456_789], pa.timestamp("ns", tz="Etc/UTC")))
        elif col.name in ("EVENT_ID", "ERROR_CODE", "RELATED_EVENT_ID"):
            arrays.append(pa.array([7], pa.decimal128(38, 0)))
        else:
            arrays.append(pa.array(["x"], pa.string()))
    batch = pa.record_batch(arrays, names=[c.name for c in LOGIN_HISTORY.columns])
    out = c._cast(batch)
    assert out.schema == LOGIN_HISTORY.schema()
    assert out.column("EVENT_TIMESTAMP").type == pa.timestamp("us", tz="UTC")


def test_an_incompatible_type_names_the_view_and_column() -> None:
    c = _collector()
    arrays = [
        pa.array(["not a number"]) if col.name == "EVENT_ID" else pa.nulls(1, col.arrow_type)
        for col in LOGIN_HISTORY.columns
    ]
    batch = pa.record_batch(arrays, names=[c.name for c in LOGIN_HISTORY.columns])
    with pytest.raises(SchemaMismatchError, match=r"LOGIN_HISTORY column EVENT_ID"):
        c._cast(batch)


def test_sql_is_bounded_explicit_and_ordered() -> None:
    from das_evidence.collectors.interface import Window

    sql = _collector().sql(Window(T, T + timedelta(days=1)))
    assert "SELECT *" not in sql
    assert "EVENT_TIMESTAMP >= '2026-11-01T00:00:00Z'::TIMESTAMP_LTZ" in sql
    assert "EVENT_TIMESTAMP < '2026-11-02T00:00:00Z'::TIMESTAMP_LTZ" in sql
    assert sql.endswith("ORDER BY EVENT_TIMESTAMP, EVENT_ID")
    assert set(VIEWS) == {
        "access_history",
        "login_history",
        "query_history",
        "sessions",
        "trust_center_findings",
    }


def test_keys_are_one_date_partition_below_the_stream() -> None:
    from das_evidence.collectors.interface import Window

    start = T + timedelta(hours=5)
    key = _collector().key(Window(start, T + timedelta(days=1)))
    assert key == (
        "evidence/snowflake/ACME/login_history/date=2026-11-01/"
        "20261101T050000Z_20261102T000000Z.parquet"
    )


@given(
    start_min=st.integers(0, 60 * 24 * 3),
    now_min=st.integers(0, 60 * 24 * 3),
    apart=st.integers(0, 59),
)
@settings(max_examples=200, deadline=None)
def test_clocks_minutes_apart_plan_the_same_windows_unless_an_hour_divides_them(
    start_min: int, now_min: int, apart: int
) -> None:
    """The trailing window ends on the hour: a run that follows a stopped one, or a
    concurrent writer, computes the same keys when no hour line falls between clocks."""
    start = T + timedelta(minutes=start_min)
    now = T + timedelta(minutes=now_min)
    safety = timedelta(hours=3)
    a = plan_windows(start, now, safety)
    b = plan_windows(start, now + timedelta(minutes=apart), safety)
    for w in a + b:
        assert w.end.minute == w.end.second == 0
    if (now - safety).hour == (now + timedelta(minutes=apart) - safety).hour:
        assert a == b
    else:
        assert not a or (b and a[-1].end <= b[-1].end)


def test_only_windows_from_the_stream_end_on_are_pending() -> None:
    c = _collector()
    root = "evidence/snowflake/ACME/login_history/"
    assert c.evidence_prefix() == root
    end = T + timedelta(hours=5)
    at_end = root + "date=2026-11-01/20261101T050000Z_20261101T070000Z.parquet"
    behind = root + "date=2026-11-01/20261101T040000Z_20261101T060000Z.parquet"
    amend = root + "date=2026-11-01/20261101T000000Z_20261101T050000Z.amend-1.parquet"
    assert c.pending(at_end, end) and c.pending(behind, None)
    assert not c.pending(behind, end)
    assert not c.pending(amend, end)
    assert not c.pending(root + "date=2026-11-01/stray.bin", end)


def test_trust_center_findings_is_windowed_on_updated_on() -> None:
    """A finding's every update lands in the window of its UPDATED_ON, so the archive
    holds each version; CREATED_ON would archive a finding once, never its resolution."""
    from das_evidence.collectors.interface import Window
    from das_evidence.streams import DOCUMENTED_LATENCY

    spec = VIEWS["trust_center_findings"]
    assert spec.qualified == "SNOWFLAKE.ACCOUNT_USAGE.TRUST_CENTER_FINDINGS"
    assert spec.time_column == "UPDATED_ON" and spec.order_by == ("UPDATED_ON", "ID")
    assert spec.latency == DOCUMENTED_LATENCY["trust_center_findings"] == timedelta(hours=1)
    assert [c.name for c in spec.columns] == [
        "ID", "PROVIDER_ID", "SCANNER_PACKAGE_ID", "SCANNER_ID", "SEVERITY", "STATE",
        "CREATED_ON", "UPDATED_ON",
    ]  # fmt: skip
    sql = HistoryCollector(
        spec, account="ACME", session=lambda: None, first_start=T, safety=spec.latency
    ).sql(Window(T, T + timedelta(days=1)))
    assert "UPDATED_ON >= '2026-11-01T00:00:00Z'::TIMESTAMP_LTZ" in sql
    assert sql.endswith("ORDER BY UPDATED_ON, ID")
