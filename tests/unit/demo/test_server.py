"""The fake Snowflake, read through the real snowflake-connector-python over HTTP."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import snowflake.connector

from das_evidence.demo import account_usage as au
from das_evidence.demo.seed import (
    BURST_USER,
    DEFAULT_PHI_CANARY,
    SeedSummary,
    seed_account_usage,
    seed_window,
)
from das_evidence.demo.server import FakeSnowflake

END = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
DAYS = 2
DEMO_DIR = Path(__file__).resolve().parents[3] / "src" / "das_evidence" / "demo"


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeSnowflake, SeedSummary]]:
    with FakeSnowflake() as server:
        summary = seed_account_usage(server.duck, end=END, days=DAYS, access_rows_per_day=3000)
        yield server, summary


@pytest.fixture()
def conn(fake: tuple[FakeSnowflake, SeedSummary]) -> Iterator[Any]:
    server, _ = fake
    connection = snowflake.connector.connect(**server.connection_args(), network_timeout=30)
    try:
        yield connection
    finally:
        connection.close()


def _window_table(conn: Any, view: str, start: datetime, end: datetime) -> pa.Table:
    column = au.TIME_COLUMNS[view]
    cur = conn.cursor()
    cur.execute(
        f"SELECT {', '.join(au.columns(view))} FROM {au.qualified_name(view)}"
        f" WHERE {column} >= %s AND {column} < %s ORDER BY {column}",
        (start, end),
    )
    tables = list(cur.fetch_arrow_batches())  # the connector yields one pyarrow.Table per chunk
    if not tables:
        return pa.table({c: pa.array([], pa.null()) for c in au.columns(view)})
    return pa.concat_tables(tables)


@pytest.mark.parametrize("view", list(au.VIEWS))
def test_each_view_reads_back_over_http(
    fake: tuple[FakeSnowflake, SeedSummary], conn: Any, view: str
) -> None:
    _, summary = fake
    table = _window_table(conn, view, summary.start, summary.end)
    assert table.column_names == list(au.columns(view))
    assert table.num_rows == summary.counts[view]
    times = table.column(au.TIME_COLUMNS[view]).to_pylist()
    assert summary.start <= min(times) and max(times) < summary.end

    # A bounded sub-window returns exactly the rows DuckDB holds in it.
    lo, hi = summary.start + timedelta(hours=13), summary.start + timedelta(hours=19)
    part = _window_table(conn, view, lo, hi)
    column = au.TIME_COLUMNS[view]
    row = (
        fake[0]
        .duck.execute(
            f"SELECT count(*) FROM {au.qualified_name(view)} WHERE {column} >= ? AND {column} < ?",
            [lo, hi],
        )
        .fetchone()
    )
    assert row is not None and part.num_rows == row[0]
    assert all(lo <= t < hi for t in part.column(column).to_pylist())


def test_canary_and_burst_are_visible_over_http(conn: Any) -> None:
    cur = conn.cursor()
    cur.execute(
        f"SELECT QUERY_ID, QUERY_TEXT FROM {au.qualified_name(au.QUERY_HISTORY)}"
        " WHERE QUERY_TEXT LIKE %s",
        (f"%{DEFAULT_PHI_CANARY}%",),
    )
    rows = cur.fetchall()
    assert len(rows) == 1 and DEFAULT_PHI_CANARY in rows[0][1]
    cur.execute(
        f"SELECT COUNT(*) FROM {au.qualified_name(au.LOGIN_HISTORY)}"
        " WHERE USER_NAME = %s AND IS_SUCCESS = 'NO' AND ERROR_CODE = 390100",
        (BURST_USER,),
    )
    assert cur.fetchone()[0] >= 40


def test_advancing_the_clock_adds_rows(fake: tuple[FakeSnowflake, SeedSummary], conn: Any) -> None:
    server, summary = fake
    later = seed_window(
        server.duck, summary.end, summary.end + timedelta(days=1), access_rows_per_day=3000
    )
    try:
        table = _window_table(conn, au.ACCESS_HISTORY, summary.end, later.end)
        assert table.num_rows == later.access_history > 0
    finally:
        for view, column in au.TIME_COLUMNS.items():
            server.duck.execute(
                f"DELETE FROM {au.qualified_name(view)} WHERE {column} >= ?", [summary.end]
            )


def test_server_output_is_quiet(conn: Any, capfd: pytest.CaptureFixture[str]) -> None:
    cur = conn.cursor()
    cur.execute(f"SELECT COUNT(*) FROM {au.qualified_name(au.SESSIONS)}")
    cur.fetchall()
    out, err = capfd.readouterr()
    assert "INFO" not in out + err
    assert "Arrow output" not in out + err


def test_only_one_server_per_process(fake: tuple[FakeSnowflake, SeedSummary]) -> None:
    with pytest.raises(RuntimeError, match="already running"), FakeSnowflake():
        pass


def test_demo_package_never_imports_the_connector() -> None:
    for path in DEMO_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.startswith("snowflake") for n in names), f"{path.name} imports {names}"


def test_server_runs_in_another_process(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "das_evidence.demo.server",
            "--port",
            "0",
            "--days",
            "1",
            "--end",
            END.isoformat(),
            "--access-rows-per-day",
            "500",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line + (proc.stderr.read() if proc.stderr else "")
        port = int(line.split()[1])
        connection = snowflake.connector.connect(
            user="U",
            password="P",
            account="ACME_PROD",
            host="127.0.0.1",
            port=port,
            protocol="http",
            session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            timezone="UTC",
            network_timeout=30,
        )
        try:
            cur = connection.cursor()
            cur.execute(f"SELECT COUNT(*) FROM {au.qualified_name(au.ACCESS_HISTORY)}")
            row = cur.fetchone()
            assert row is not None and int(str(row[0])) > 0
        finally:
            connection.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    assert proc.stderr is not None
    assert "INFO" not in proc.stderr.read()
