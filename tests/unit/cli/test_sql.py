"""`evidence sql` in process: formats, --list, --verified, and exit codes through main()."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from das_evidence.cli.main import main
from tests.unit.query.conftest import T0, ArchiveBuilder, parquet


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Sql = Callable[..., Result]


@pytest.fixture
def archive(tmp_path: Path) -> ArchiveBuilder:
    builder = ArchiveBuilder(tmp_path)
    logins = [
        {"EVENT_ID": 1, "EVENT_TIMESTAMP": T0, "USER_NAME": "ALICE", "CLIENT_IP": "10.0.0.1",
         "IS_SUCCESS": "NO", "ERROR_MESSAGE": "\x1b[2J[bold]wiped[/bold]"},
        {"EVENT_ID": 2, "EVENT_TIMESTAMP": T0 + timedelta(minutes=1), "USER_NAME": "ALICE",
         "CLIENT_IP": "10.0.0.1", "IS_SUCCESS": "NO"},
        {"EVENT_ID": 3, "EVENT_TIMESTAMP": T0 + timedelta(minutes=2), "USER_NAME": "BOB",
         "CLIENT_IP": "10.0.0.2", "IS_SUCCESS": "YES"},
    ]  # fmt: skip
    builder.history("login_history", logins)
    return builder


@pytest.fixture
def sql(
    archive: ArchiveBuilder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Sql]:
    """``evidence sql -c <the archive's config> ARGS...`` through :func:`main`."""
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["evidence", "sql", "-c", str(archive.config), *args])
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        code = exited.value.code
        return Result(code if isinstance(code, int) else 1, out, err)

    yield run
    root.handlers[:] = handlers
    root.setLevel(level)


FAILED = (
    "SELECT CLIENT_IP, COUNT(*) AS failed, MIN(EVENT_TIMESTAMP) AS first FROM login_history "
    "WHERE IS_SUCCESS = 'NO' GROUP BY CLIENT_IP"
)


def test_json_is_a_list_of_rows_in_column_order_with_rfc3339_times(sql: Sql) -> None:
    r = sql(FAILED, "--format", "json")
    assert r.code == 0, r.err
    assert r.out.index('"CLIENT_IP"') < r.out.index('"failed"') < r.out.index('"first"')
    assert json.loads(r.out) == [
        {"CLIENT_IP": "10.0.0.1", "failed": 2, "first": "2026-11-20T00:00:00Z"}
    ]


def test_csv_has_a_header_and_empty_nulls(sql: Sql) -> None:
    r = sql("SELECT EVENT_ID, ERROR_CODE FROM login_history ORDER BY EVENT_ID", "--format", "csv")
    assert r.code == 0, r.err
    assert list(csv.reader(io.StringIO(r.out))) == [
        ["EVENT_ID", "ERROR_CODE"],
        ["1", ""],
        ["2", ""],
        ["3", ""],
    ]


def test_text_is_a_table_whose_values_cannot_drive_the_terminal(sql: Sql) -> None:
    r = sql("SELECT USER_NAME, ERROR_MESSAGE FROM login_history ORDER BY EVENT_ID")
    assert r.code == 0, r.err
    assert "\x1b" not in r.out
    assert "\\x1b[2J[bold]wiped[/bold]" in r.out  # escaped, and no markup applied
    assert "NULL" in r.out and "3 rows" in r.err


def test_limit(sql: Sql) -> None:
    r = sql("SELECT * FROM login_history", "--limit", "1", "--format", "json")
    assert r.code == 0 and len(json.loads(r.out)) == 1


def test_list_names_views_rows_and_columns(sql: Sql) -> None:
    r = sql("--list", "--format", "json")
    assert r.code == 0, r.err
    [view] = json.loads(r.out)
    assert (view["view"], view["rows"], view["files"]) == ("login_history", 3, 1)
    assert {"CLIENT_IP", "_entry", "_file", "_account"} <= set(view["columns"])
    assert "login_history" in sql("--list").out


def test_bad_sql_exits_2_with_the_engine_message(sql: Sql) -> None:
    r = sql("SELECT * FROM login_history WHERE")
    assert r.code == 2 and r.out == ""
    assert "polars SQL refused the query" in r.err


def test_an_unknown_view_exits_2_listing_the_views(sql: Sql) -> None:
    r = sql("SELECT * FROM access_history")
    assert r.code == 2
    assert "no view 'access_history'" in r.err and "login_history" in r.err


@pytest.mark.parametrize(
    "args",
    [(), ("SELECT 1", "--format", "xml"), ("SELECT * FROM login_history", "--pub", "x.pub")],
)
def test_usage_errors_exit_2(sql: Sql, args: tuple[str, ...]) -> None:
    assert sql(*args).code == 2


def test_verified_uses_the_configured_key_or_pub(sql: Sql, archive: ArchiveBuilder) -> None:
    by_config = sql(FAILED, "--verified", "--format", "json")
    by_pub = sql(FAILED, "--verified", "--pub", str(archive.pub), "--format", "json")
    assert by_config.code == by_pub.code == 0, by_config.err + by_pub.err
    direct = sql(FAILED, "--format", "json")
    assert json.loads(by_config.out) == json.loads(by_pub.out) == json.loads(direct.out)
    assert json.loads(direct.out)[0]["failed"] == 2


def test_verified_exits_1_on_a_swapped_file_which_a_direct_query_reads(
    sql: Sql, archive: ArchiveBuilder
) -> None:
    archive.writable()
    [subject] = archive.log.entries[0].statement.subjects
    from das_evidence.collectors.snowflake.views import VIEWS

    data, _ = parquet([{"EVENT_ID": 9, "USER_NAME": "MALLORY"}], VIEWS["login_history"].schema())
    (archive.store.root / subject.name).write_bytes(data)
    users = "SELECT USER_NAME FROM login_history"
    assert json.loads(sql(users, "--format", "json").out) == [{"USER_NAME": "MALLORY"}]
    r = sql(users, "--verified", "--format", "json")
    assert r.code == 1 and r.out == ""
    assert "does not match the digest its entry signed" in r.err


def test_sql_from_a_file_or_stdin_may_start_with_a_comment(
    sql: Sql, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = "-- failed logins\nSELECT COUNT(*) AS n FROM login_history WHERE IS_SUCCESS = 'NO'\n"
    (tmp_path / "q.sql").write_text(query)
    assert json.loads(sql("--file", str(tmp_path / "q.sql"), "--format", "json").out) == [{"n": 2}]
    monkeypatch.setattr(sys, "stdin", io.StringIO(query))
    assert json.loads(sql("-f", "-", "--format", "json").out) == [{"n": 2}]
    assert json.loads(sql("--format", "json", "--", query).out) == [{"n": 2}]
    assert sql("--file", str(tmp_path / "missing.sql")).code == 2
    assert sql("SELECT 1", "--file", str(tmp_path / "q.sql")).code == 2
