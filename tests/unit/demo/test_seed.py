"""The seeded ACCOUNT_USAGE activity, checked in plain DuckDB (no server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from das_evidence.demo import account_usage as au
from das_evidence.demo.seed import (
    BURST_IP,
    BURST_USER,
    CIS_EVENTS,
    DEFAULT_PHI_CANARY,
    USERS,
    seed_account_usage,
    seed_window,
)

END = datetime(2025, 3, 1, 12, 30, 17, tzinfo=UTC)
KEYS = {
    au.ACCESS_HISTORY: "QUERY_ID",
    au.LOGIN_HISTORY: "EVENT_ID",
    au.QUERY_HISTORY: "QUERY_ID",
    au.SESSIONS: "SESSION_ID",
    au.TRUST_CENTER_FINDINGS: "ID",
}


def _rows(duck: duckdb.DuckDBPyConnection, view: str) -> list[tuple[object, ...]]:
    return duck.execute(f"SELECT * FROM {au.qualified_name(view)} ORDER BY {KEYS[view]}").fetchall()


def _count(duck: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    row = duck.execute(sql, params or []).fetchone()
    assert row is not None
    return int(str(row[0]))


@pytest.fixture(scope="module")
def seeded() -> duckdb.DuckDBPyConnection:
    duck = duckdb.connect()
    seed_account_usage(duck, end=END, days=3, access_rows_per_day=2000)
    return duck


def test_tables_have_the_documented_columns(seeded: duckdb.DuckDBPyConnection) -> None:
    for view, cols in au.VIEWS.items():
        described = seeded.execute(f"DESCRIBE {au.qualified_name(view)}").fetchall()
        assert [r[0] for r in described] == [c for c, _ in cols]
    assert "BIND_VALUES" in au.columns(au.QUERY_HISTORY)
    assert len(au.VIEWS[au.QUERY_HISTORY]) >= 80


def test_rows_fall_inside_the_window(seeded: duckdb.DuckDBPyConnection) -> None:
    start = END - timedelta(days=3)
    for view, column in au.TIME_COLUMNS.items():
        row = seeded.execute(
            f"SELECT min({column}), max({column}), count(*) FROM {au.qualified_name(view)}"
        ).fetchone()
        assert row is not None
        lo, hi, n = row
        assert isinstance(lo, datetime) and isinstance(hi, datetime)
        assert start <= lo and hi < END, view
        assert int(str(n)) > 0, view


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a, b, c = duckdb.connect(), duckdb.connect(), duckdb.connect()
    summary_a = seed_account_usage(a, end=END, days=1, access_rows_per_day=500)
    summary_b = seed_account_usage(b, end=END, days=1, access_rows_per_day=500)
    seed_account_usage(c, end=END, days=1, access_rows_per_day=500, seed=8)
    assert summary_a == summary_b
    for view in au.VIEWS:
        assert _rows(a, view) == _rows(b, view), view
    assert _rows(a, au.ACCESS_HISTORY) != _rows(c, au.ACCESS_HISTORY)


def test_adjacent_windows_equal_their_union_and_reseeding_is_idempotent() -> None:
    split, whole = duckdb.connect(), duckdb.connect()
    start, end = END - timedelta(days=1), END + timedelta(hours=30)
    first = seed_window(split, start, END, access_rows_per_day=800)
    second = seed_window(split, END, end, access_rows_per_day=800)
    union = seed_window(whole, start, end, access_rows_per_day=800)
    assert first.access_history + second.access_history == union.access_history
    for view in au.VIEWS:
        assert _rows(split, view) == _rows(whole, view), view
    again = seed_window(whole, start, end, access_rows_per_day=800)
    assert again == union
    assert _count(whole, f"SELECT count(*) FROM {au.qualified_name(au.ACCESS_HISTORY)}") == (
        union.access_history
    )


def test_summary_counts_match_the_tables(seeded: duckdb.DuckDBPyConnection) -> None:
    fresh = duckdb.connect()
    summary = seed_account_usage(fresh, end=END, days=2, access_rows_per_day=1000)
    for view, n in summary.counts.items():
        assert _count(fresh, f"SELECT count(*) FROM {au.qualified_name(view)}") == n, view
    # Midnight-aligned windows hold exactly access_rows_per_day per day (+2 canary queries).
    aligned = duckdb.connect()
    exact = seed_account_usage(aligned, end=datetime(2025, 3, 1, tzinfo=UTC), days=2)
    assert exact.access_history == 2 * 8000 + 2


def test_canary_appears_once_as_literal_and_once_as_bind(
    seeded: duckdb.DuckDBPyConnection,
) -> None:
    qh = au.qualified_name(au.QUERY_HISTORY)
    like = f"%{DEFAULT_PHI_CANARY}%"
    assert _count(seeded, f"SELECT count(*) FROM {qh} WHERE QUERY_TEXT LIKE ?", [like]) == 1
    assert (
        _count(seeded, f"SELECT count(*) FROM {qh} WHERE BIND_VALUES::VARCHAR LIKE ?", [like]) == 1
    )
    row = seeded.execute(f"SELECT QUERY_ID FROM {qh} WHERE QUERY_TEXT LIKE ?", [like]).fetchone()
    assert row is not None
    ah = au.qualified_name(au.ACCESS_HISTORY)
    policies = seeded.execute(
        f"SELECT POLICIES_REFERENCED FROM {ah} WHERE QUERY_ID = ?", [row[0]]
    ).fetchone()
    assert policies is not None
    names = {
        p["policyName"]
        for o in json.loads(str(policies[0]))
        for c in o["columns"]
        for p in c["policies"]
    }
    assert "GOVERNANCE.POLICIES.SSN_MASK" in names
    # Some other queries carry numeric literals and numeric bind values.
    assert (
        _count(seeded, f"SELECT count(*) FROM {qh} WHERE regexp_matches(QUERY_TEXT, '= [0-9]+')")
        > 0
    )
    assert _count(seeded, f"SELECT count(*) FROM {qh} WHERE BIND_VALUES IS NOT NULL") > 1


def test_every_access_history_query_is_in_query_history_with_its_user_and_role(
    seeded: duckdb.DuckDBPyConnection,
) -> None:
    ah, qh = au.qualified_name(au.ACCESS_HISTORY), au.qualified_name(au.QUERY_HISTORY)
    roles = {u.name: u.role for u in USERS}
    rows = seeded.execute(
        f"""
        SELECT a.QUERY_ID, a.USER_NAME, q.USER_NAME, q.ROLE_NAME,
               a.QUERY_START_TIME = q.START_TIME
        FROM {ah} a LEFT JOIN {qh} q USING (QUERY_ID)
        """
    ).fetchall()
    assert len(rows) == _count(seeded, f"SELECT count(*) FROM {ah}") > 1000
    missing = [r[0] for r in rows if r[2] is None]
    assert missing == []
    assert all(r[1] == r[2] and r[3] == roles[r[1]] and r[4] for r in rows)
    # The failed queries (about 1%) and the CIS section 2 statements (which touch no
    # object) are the only QUERY_HISTORY rows without an access row.
    unmatched = seeded.execute(
        f"SELECT EXECUTION_STATUS, count(*) FROM {qh} q ANTI JOIN {ah} a USING (QUERY_ID) "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [status for status, _ in unmatched] == ["FAIL", "SUCCESS"]
    assert 0 < unmatched[0][1] < len(rows) // 50
    assert unmatched[1][1] == len(CIS_EVENTS)


def test_query_rows_per_day_leaves_the_other_reads_without_a_role() -> None:
    duck = duckdb.connect()
    summary = seed_window(
        duck, END - timedelta(days=1), END, access_rows_per_day=400, query_rows_per_day=100
    )
    ah, qh = au.qualified_name(au.ACCESS_HISTORY), au.qualified_name(au.QUERY_HISTORY)
    orphans = _count(duck, f"SELECT count(*) FROM {ah} ANTI JOIN {qh} USING (QUERY_ID)")
    assert 0 < orphans < summary.access_history


def test_access_history_json_shape(seeded: duckdb.DuckDBPyConnection) -> None:
    ah = au.qualified_name(au.ACCESS_HISTORY)
    rows = seeded.execute(
        f"SELECT DIRECT_OBJECTS_ACCESSED, BASE_OBJECTS_ACCESSED, OBJECTS_MODIFIED FROM {ah}"
    ).fetchall()
    names = set()
    modified = 0
    for direct, base, objects_modified in rows:
        for obj in json.loads(str(direct)) + json.loads(str(base)):
            assert {"objectDomain", "objectId", "objectName"} <= obj.keys()
            names.add(obj["objectName"])
            for col in obj.get("columns", []):
                assert isinstance(col["columnId"], int) and isinstance(col["columnName"], str)
        modified += bool(json.loads(str(objects_modified)))
    assert {
        "CLINICAL.PUBLIC.PATIENTS",
        "CLINICAL.PUBLIC.ENCOUNTERS",
        "BILLING.PUBLIC.CLAIMS",
    } <= names
    assert modified > 0


def test_failed_login_burst(seeded: duckdb.DuckDBPyConnection) -> None:
    lh = au.qualified_name(au.LOGIN_HISTORY)
    row = seeded.execute(
        f"""
        SELECT count(*), max(EVENT_TIMESTAMP) - min(EVENT_TIMESTAMP)
        FROM {lh}
        WHERE USER_NAME = ? AND CLIENT_IP = ? AND IS_SUCCESS = 'NO' AND ERROR_CODE = 390100
          AND ERROR_MESSAGE = 'INCORRECT_USERNAME_PASSWORD'
        """,
        [BURST_USER, BURST_IP],
    ).fetchone()
    assert row is not None
    assert row[0] == 40
    assert isinstance(row[1], timedelta) and row[1] < timedelta(minutes=5)
    mfa = _count(
        seeded, f"SELECT count(*) FROM {lh} WHERE SECOND_AUTHENTICATION_FACTOR = 'DUO_PUSH'"
    )
    assert mfa > 0


def test_sessions_link_to_successful_logins(seeded: duckdb.DuckDBPyConnection) -> None:
    lh, ss = au.qualified_name(au.LOGIN_HISTORY), au.qualified_name(au.SESSIONS)
    orphans = _count(
        seeded,
        f"""
        SELECT count(*) FROM {ss} s LEFT JOIN {lh} l ON l.EVENT_ID = s.LOGIN_EVENT_ID
        WHERE l.EVENT_ID IS NULL AND s.CREATED_ON > (SELECT min(EVENT_TIMESTAMP) FROM {lh})
        """,
    )
    assert orphans == 0
    failed_sessions = _count(
        seeded,
        f"SELECT count(*) FROM {ss} s JOIN {lh} l ON l.EVENT_ID = s.LOGIN_EVENT_ID "
        "WHERE l.IS_SUCCESS = 'NO'",
    )
    assert failed_sessions == 0


def test_activity_follows_a_working_day(seeded: duckdb.DuckDBPyConnection) -> None:
    ah = au.qualified_name(au.ACCESS_HISTORY)
    peak = _count(seeded, f"SELECT count(*) FROM {ah} WHERE hour(QUERY_START_TIME) = 15")
    night = _count(seeded, f"SELECT count(*) FROM {ah} WHERE hour(QUERY_START_TIME) = 8")
    assert peak > 2 * night


def test_rejects_naive_timestamps() -> None:
    with pytest.raises(ValueError, match="time zone"):
        seed_account_usage(duckdb.connect(), end=datetime(2025, 3, 1))


def test_incidents_hold_one_event_of_each_cis_section_2_kind(
    seeded: duckdb.DuckDBPyConnection,
) -> None:
    qh = au.qualified_name(au.QUERY_HISTORY)
    texts = [
        r[0]
        for r in seeded.execute(
            f"SELECT QUERY_TEXT FROM {qh} WHERE EXECUTION_STATUS = 'SUCCESS' AND ("
            "QUERY_TEXT ILIKE 'GRANT ROLE SECURITYADMIN%' OR QUERY_TEXT ILIKE '%MANAGE GRANTS%'"
            " OR QUERY_TEXT ILIKE 'ALTER SECURITY INTEGRATION%'"
            " OR QUERY_TEXT ILIKE 'ALTER NETWORK POLICY%'"
            " OR QUERY_TEXT ILIKE '%SYSTEM$GENERATE_SCIM_ACCESS_TOKEN%'"
            " OR QUERY_TEXT ILIKE 'ALTER SHARE%ADD ACCOUNTS%') ORDER BY START_TIME"
        ).fetchall()
    ]
    assert len(texts) == len(CIS_EVENTS) == 6
    lh = au.qualified_name(au.LOGIN_HISTORY)
    sso_password = _count(
        seeded,
        f"SELECT count(*) FROM {lh} WHERE USER_NAME = 'CAROL_BILLING' AND IS_SUCCESS = 'YES'"
        " AND FIRST_AUTHENTICATION_FACTOR = 'PASSWORD' AND SECOND_AUTHENTICATION_FACTOR IS NULL",
    )
    assert sso_password == 1
    old = _count(
        seeded,
        f"SELECT count(*) FROM {au.qualified_name(au.SESSIONS)}"
        " WHERE CLIENT_APPLICATION_ID = 'PythonConnector 2.7.9'",
    )
    assert old == 1


def test_trust_center_findings_are_in_the_window_and_some_are_long_open(
    seeded: duckdb.DuckDBPyConnection,
) -> None:
    rows = seeded.execute(
        f"SELECT ID, SEVERITY, STATE, CREATED_ON, UPDATED_ON"
        f" FROM {au.qualified_name(au.TRUST_CENTER_FINDINGS)} ORDER BY ID"
    ).fetchall()
    start = END - timedelta(days=3)
    assert all(start <= r[4] < END and r[3] < r[4] for r in rows)
    long_open = {
        r[0] for r in rows if r[1] in ("HIGH", "CRITICAL") and r[2] == "OPEN"
        and END - r[3] > timedelta(days=7)
    }  # fmt: skip
    assert long_open == {7001, 7002}
    assert {r[2] for r in rows} == {"OPEN", "RESOLVED", "RESOLVED MANUALLY"}
    assert "LOW" in {r[1] for r in rows}
