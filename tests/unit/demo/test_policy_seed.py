"""The seeded policy state (ACCOUNT_USAGE policy views): shape, content, changes, and HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
import snowflake.connector

from das_evidence.demo import account_usage as au
from das_evidence.demo.policy_seed import (
    EDITED_MASKING_POLICY,
    HUMAN_ACCOUNTADMIN,
    MFA_REMOVED_USER,
    NEW_GRANT,
    REVOKED_GRANT,
    USER_WITHOUT_MFA,
    PolicySummary,
    apply_policy_changes,
    seed_policy_state,
)
from das_evidence.demo.seed import MASKED, USERS, seed_account_usage
from das_evidence.demo.server import FakeSnowflake

NOW = datetime(2025, 3, 1, 12, 30, 17, tzinfo=UTC)
AT = NOW + timedelta(days=1, hours=2)

# The natural key of each view's rows (active rows only where the view has a deleted column).
KEYS: dict[str, tuple[str, ...]] = {
    au.GRANTS_TO_ROLES: (
        "PRIVILEGE",
        "GRANTED_ON",
        "TABLE_CATALOG",
        "TABLE_SCHEMA",
        "NAME",
        "GRANTED_TO",
        "GRANTEE_NAME",
    ),
    au.GRANTS_TO_USERS: ("ROLE", "GRANTED_TO", "GRANTEE_NAME"),
    au.USERS: ("USER_ID",),
    au.ROLES: ("ROLE_ID",),
    au.MASKING_POLICIES: ("POLICY_ID",),
    au.ROW_ACCESS_POLICIES: ("POLICY_ID",),
    au.POLICY_REFERENCES: (
        "POLICY_ID",
        "REF_DATABASE_NAME",
        "REF_SCHEMA_NAME",
        "REF_ENTITY_NAME",
        "REF_ENTITY_DOMAIN",
        "REF_COLUMN_NAME",
    ),
    au.TAG_REFERENCES: (
        "TAG_DATABASE",
        "TAG_SCHEMA",
        "TAG_NAME",
        "OBJECT_DATABASE",
        "OBJECT_SCHEMA",
        "OBJECT_NAME",
        "DOMAIN",
        "COLUMN_NAME",
    ),
    au.NETWORK_POLICIES: ("ID",),
    au.PASSWORD_POLICIES: ("ID",),
    au.SESSION_POLICIES: ("ID",),
}
DELETED = {
    au.GRANTS_TO_ROLES: "DELETED_ON",
    au.GRANTS_TO_USERS: "DELETED_ON",
    au.USERS: "DELETED_ON",
    au.ROLES: "DELETED_ON",
    au.MASKING_POLICIES: "DELETED",
    au.ROW_ACCESS_POLICIES: "DELETED",
    au.TAG_REFERENCES: "OBJECT_DELETED",
    au.NETWORK_POLICIES: "DELETED",
    au.PASSWORD_POLICIES: "DELETED",
    au.SESSION_POLICIES: "DELETED",
}


def _all(duck: duckdb.DuckDBPyConnection, view: str) -> list[tuple[Any, ...]]:
    return duck.execute(f"SELECT * FROM {au.qualified_name(view)} ORDER BY ALL").fetchall()


def _dicts(duck: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = duck.execute(sql, params)
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _scalar(duck: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = duck.execute(sql, params or []).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def seeded() -> tuple[duckdb.DuckDBPyConnection, PolicySummary]:
    duck = duckdb.connect()
    return duck, seed_policy_state(duck, now=NOW)


def test_tables_have_the_documented_columns(
    seeded: tuple[duckdb.DuckDBPyConnection, PolicySummary],
) -> None:
    duck, _ = seeded
    assert len(au.POLICY_VIEWS) == 11
    assert set(au.POLICY_VIEWS).isdisjoint(au.VIEWS)  # the history views are left as they were
    assert list(au.ALL_VIEWS) == [*au.VIEWS, *au.POLICY_VIEWS]
    duckdb_names = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
    for view in au.POLICY_VIEWS:
        described = duck.execute(f"DESCRIBE {au.qualified_name(view)}").fetchall()
        expected = [
            (name, au.duckdb_type(view, name, sf_type))
            for name, sf_type in au.POLICY_VIEW_COLUMNS[view]
        ]
        assert [(r[0], r[1]) for r in described] == [
            (name, duckdb_names.get(t, t)) for name, t in expected
        ], view
    users = dict(au.POLICY_VIEW_COLUMNS[au.USERS])
    assert users["HAS_MFA"] == "BOOLEAN" and users["DISABLED"] == "VARIANT"
    assert users["TYPE"] == "VARCHAR" and users["LAST_SUCCESS_LOGIN"] == "TIMESTAMP_LTZ"
    assert dict(au.POLICY_VIEW_COLUMNS[au.NETWORK_POLICIES])["ALLOWED_IP_LIST"] == "VARCHAR"
    assert dict(au.POLICY_VIEW_COLUMNS[au.POLICY_REFERENCES])["POLICY_KIND"] == "VARCHAR(17)"


def test_summary_counts_match_the_tables(
    seeded: tuple[duckdb.DuckDBPyConnection, PolicySummary],
) -> None:
    duck, summary = seeded
    assert list(summary.counts) == list(au.POLICY_VIEWS)
    for view, n in summary.counts.items():
        assert n > 0, view
        assert _scalar(duck, f"SELECT count(*) FROM {au.qualified_name(view)}") == n, view
    assert summary.as_of == NOW


def test_seeding_is_deterministic_idempotent_and_seed_moves_only_time() -> None:
    a, b, c = duckdb.connect(), duckdb.connect(), duckdb.connect()
    assert seed_policy_state(a, now=NOW) == seed_policy_state(b, now=NOW)
    seed_policy_state(c, now=NOW, seed=8)
    for view in au.POLICY_VIEWS:
        assert _all(a, view) == _all(b, view), view
    assert _all(a, au.USERS) != _all(c, au.USERS)
    # The content (who may do what) does not depend on the seed.
    names = "SELECT NAME, HAS_MFA, TYPE FROM SNOWFLAKE.ACCOUNT_USAGE.USERS ORDER BY ALL"
    assert a.execute(names).fetchall() == c.execute(names).fetchall()
    again = seed_policy_state(b, now=NOW)  # replaces, does not append
    assert _all(a, au.GRANTS_TO_ROLES) == _all(b, au.GRANTS_TO_ROLES)
    assert again.grants_to_roles == len(_all(b, au.GRANTS_TO_ROLES))


def test_natural_keys_are_unique_among_active_rows(
    seeded: tuple[duckdb.DuckDBPyConnection, PolicySummary],
) -> None:
    duck, _ = seeded
    for view, key in KEYS.items():
        where = f"WHERE {DELETED[view]} IS NULL" if view in DELETED else ""
        dupes = duck.execute(
            f"SELECT {', '.join(key)}, count(*) FROM {au.qualified_name(view)} {where}"
            f" GROUP BY ALL HAVING count(*) > 1"
        ).fetchall()
        assert dupes == [], view


def test_timestamps_are_not_after_now_and_history_rows_exist(
    seeded: tuple[duckdb.DuckDBPyConnection, PolicySummary],
) -> None:
    duck, _ = seeded
    for view in au.POLICY_VIEWS:
        for name, sf_type in au.POLICY_VIEW_COLUMNS[view]:
            if sf_type == "TIMESTAMP_LTZ" and name != "EXPIRES_AT":
                late = f"SELECT count(*) FROM {au.qualified_name(view)} WHERE {name} > ?"
                assert _scalar(duck, late, [NOW]) == 0, (view, name)
    for view in (au.GRANTS_TO_ROLES, au.GRANTS_TO_USERS, au.USERS, au.ROLES):
        deleted = f"SELECT count(*) FROM {au.qualified_name(view)} WHERE DELETED_ON IS NOT NULL"
        assert _scalar(duck, deleted) > 0, view
        backwards = f"SELECT count(*) FROM {au.qualified_name(view)} WHERE DELETED_ON < CREATED_ON"
        assert _scalar(duck, backwards) == 0, view


def test_users_match_the_activity_seed_and_show_the_findings(
    seeded: tuple[duckdb.DuckDBPyConnection, PolicySummary],
) -> None:
    duck, _ = seeded
    users = {
        u["NAME"]: u
        for u in _dicts(
            duck, "SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.USERS WHERE DELETED_ON IS NULL", []
        )
    }
    for u in USERS:  # every user of seed.py exists, with its role, warehouse and type
        row = users[u.name]
        assert (row["DEFAULT_ROLE"], row["DEFAULT_WAREHOUSE"], row["TYPE"]) == (
            u.role,
            u.warehouse,
            u.user_type,
        )
    humans = [u for u in users.values() if u["TYPE"] == "PERSON"]
    assert all(u["EMAIL"] and u["FIRST_NAME"] and u["LAST_NAME"] for u in humans)
    assert [u["NAME"] for u in humans if not u["HAS_MFA"]] == [USER_WITHOUT_MFA]
    assert sum(bool(u["HAS_MFA"]) for u in humans) == len(humans) - 1 >= 3
    services = [u for u in users.values() if u["TYPE"] == "SERVICE"]
    assert {u["NAME"] for u in services} == {"SVC_DBT_RUNNER", "SVC_FIVETRAN"}
    assert all(u["HAS_RSA_PUBLIC_KEY"] and u["HAS_PASSWORD"] is None for u in services)

    admins = duck.execute(
        "SELECT g.GRANTEE_NAME FROM SNOWFLAKE.ACCOUNT_USAGE.GRANTS_TO_USERS g"
        " JOIN SNOWFLAKE.ACCOUNT_USAGE.USERS u ON u.NAME = g.GRANTEE_NAME AND u.DELETED_ON IS NULL"
        " WHERE g.ROLE = 'ACCOUNTADMIN' AND g.DELETED_ON IS NULL AND u.TYPE = 'PERSON'"
    ).fetchall()
    assert admins == [(HUMAN_ACCOUNTADMIN,)]
    revoked_admins = (
        "SELECT count(*) FROM SNOWFLAKE.ACCOUNT_USAGE.GRANTS_TO_USERS"
        " WHERE ROLE = 'ACCOUNTADMIN' AND DELETED_ON IS NOT NULL"
    )
    assert _scalar(duck, revoked_admins) == 1


def test_grants_policies_and_tags_are_consistent(
    seeded: tuple[duckdb.DuckDBPyConnection, PolicySummary],
) -> None:
    duck, _ = seeded
    grants = "SNOWFLAKE.ACCOUNT_USAGE.GRANTS_TO_ROLES"
    select_on_patients = duck.execute(
        f"SELECT GRANTEE_NAME FROM {grants} WHERE PRIVILEGE = 'SELECT' AND GRANTED_ON = 'TABLE'"
        " AND TABLE_CATALOG = 'CLINICAL' AND TABLE_SCHEMA = 'PUBLIC' AND NAME = 'PATIENTS'"
        " AND DELETED_ON IS NULL ORDER BY 1"
    ).fetchall()
    assert ("ANALYST",) in select_on_patients and ("PHI_READER",) in select_on_patients
    hierarchy = f"SELECT count(*) FROM {grants} WHERE GRANTED_ON = 'ROLE' AND DELETED_ON IS NULL"
    assert _scalar(duck, hierarchy) >= 8
    warehouse_usage = (
        f"SELECT count(*) FROM {grants} WHERE GRANTED_ON = 'WAREHOUSE' AND PRIVILEGE = 'USAGE'"
    )
    assert _scalar(duck, warehouse_usage) >= 4

    # Masking policies: seed.py's ids, bodies keyed on PHI_READER, each applied to its column.
    refs = duck.execute(
        "SELECT r.REF_DATABASE_NAME || '.' || r.REF_SCHEMA_NAME || '.' || r.REF_ENTITY_NAME,"
        " r.REF_COLUMN_NAME, r.POLICY_ID, 'GOVERNANCE.POLICIES.' || m.POLICY_NAME, m.POLICY_BODY"
        " FROM SNOWFLAKE.ACCOUNT_USAGE.POLICY_REFERENCES r"
        " JOIN SNOWFLAKE.ACCOUNT_USAGE.MASKING_POLICIES m ON m.POLICY_ID = r.POLICY_ID"
        " WHERE r.POLICY_KIND = 'MASKING_POLICY' AND m.DELETED IS NULL"
    ).fetchall()
    assert {(t, c): (pid, name) for t, c, pid, name, _ in refs} == {
        key: (p.policy_id, p.name) for key, p in MASKED.items()
    }
    assert all("IS_ROLE_IN_SESSION('PHI_READER')" in body for *_, body in refs)
    kinds = "SELECT DISTINCT POLICY_KIND FROM SNOWFLAKE.ACCOUNT_USAGE.POLICY_REFERENCES ORDER BY 1"
    assert duck.execute(kinds).fetchall() == [
        ("MASKING_POLICY",),
        ("NETWORK_POLICY",),
        ("ROW_ACCESS_POLICY",),
    ]

    tags = duck.execute(
        "SELECT TAG_NAME, COLUMN_NAME, TAG_VALUE FROM SNOWFLAKE.ACCOUNT_USAGE.TAG_REFERENCES"
        " WHERE TAG_DATABASE = 'GOVERNANCE' AND OBJECT_NAME = 'PATIENTS' AND DOMAIN = 'COLUMN'"
        " AND OBJECT_DELETED IS NULL"
    ).fetchall()
    assert ("PHI", "SSN", "ssn") in tags and ("PII", "DOB", "dob") in tags
    ip_list = _scalar(
        duck,
        "SELECT ALLOWED_IP_LIST FROM SNOWFLAKE.ACCOUNT_USAGE.NETWORK_POLICIES"
        " WHERE NAME = 'SERVICE_USERS_POLICY'",
    )
    assert isinstance(ip_list, str) and "192.0.2.0/28" in ip_list.split(",")


def _snapshot(duck: duckdb.DuckDBPyConnection, tag: str) -> None:
    for view in au.POLICY_VIEWS:
        duck.execute(f"CREATE TEMP TABLE {tag}_{view} AS SELECT * FROM {au.qualified_name(view)}")


def _diff(duck: duckdb.DuckDBPyConnection, view: str) -> tuple[list[Any], list[Any]]:
    """(rows only in after, rows only in before) of ``view``, as column dicts."""
    added = _dicts(duck, f"SELECT * FROM after_{view} EXCEPT ALL SELECT * FROM before_{view}", [])
    gone = _dicts(duck, f"SELECT * FROM before_{view} EXCEPT ALL SELECT * FROM after_{view}", [])
    return added, gone


def _changed_columns(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c: (before[c], after[c]) for c in before if before[c] != after[c]}


def test_apply_policy_changes_changes_exactly_four_things() -> None:
    duck = duckdb.connect()
    seed_policy_state(duck, now=NOW)
    _snapshot(duck, "before")
    changes = apply_policy_changes(duck, at=AT)
    _snapshot(duck, "after")

    assert [c.split(":")[0] for c in changes] == [
        "grant",
        "revoke",
        "masking policy altered",
        "mfa",
    ]
    diffs = {view: _diff(duck, view) for view in au.POLICY_VIEWS}
    changed = {view for view, (added, gone) in diffs.items() if added or gone}
    assert changed == {au.GRANTS_TO_ROLES, au.MASKING_POLICIES, au.USERS}

    # (1) one new grant row and (2) one revoke: the same row, DELETED_ON now set.
    added, gone = diffs[au.GRANTS_TO_ROLES]
    assert len(added) == 2 and len(gone) == 1
    key = KEYS[au.GRANTS_TO_ROLES]

    def grant(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[k] for k in key if k != "GRANTED_TO")

    new = next(r for r in added if r["DELETED_ON"] is None)
    revoked = next(r for r in added if r["DELETED_ON"] is not None)
    assert grant(new) == NEW_GRANT and new["GRANTED_TO"] == "ROLE"
    assert new["CREATED_ON"] == AT and new["GRANT_OPTION"] is False
    assert grant(revoked) == grant(gone[0]) == REVOKED_GRANT
    assert _changed_columns(gone[0], revoked) == {"DELETED_ON": (None, AT)}

    # (3) the masking policy: body and LAST_ALTERED only.
    added, gone = diffs[au.MASKING_POLICIES]
    assert len(added) == len(gone) == 1 and added[0]["POLICY_NAME"] == EDITED_MASKING_POLICY
    assert set(_changed_columns(gone[0], added[0])) == {"POLICY_BODY", "LAST_ALTERED"}
    assert added[0]["LAST_ALTERED"] == AT and "ENGINEER" in added[0]["POLICY_BODY"]

    # (4) MFA: HAS_MFA only; LAST_SUCCESS_LOGIN and everything else as before.
    added, gone = diffs[au.USERS]
    assert len(added) == len(gone) == 1 and added[0]["NAME"] == MFA_REMOVED_USER
    assert _changed_columns(gone[0], added[0]) == {"HAS_MFA": (True, False)}

    # Active rows compared by natural key: exactly one grant appears, one disappears.
    def active(tag: str) -> set[tuple[Any, ...]]:
        rows = duck.execute(
            f"SELECT {', '.join(key)} FROM {tag}_{au.GRANTS_TO_ROLES} WHERE DELETED_ON IS NULL"
        ).fetchall()
        return set(rows)

    assert active("after") - active("before") == {(*NEW_GRANT[:5], "ROLE", *NEW_GRANT[5:])}
    assert active("before") - active("after") == {(*REVOKED_GRANT[:5], "ROLE", *REVOKED_GRANT[5:])}

    with pytest.raises(ValueError, match="not the seeded one"):
        apply_policy_changes(duck, at=AT + timedelta(hours=1))
    for view in au.POLICY_VIEWS:  # the failed second call rolled back
        assert (
            _all(duck, view) == duck.execute(f"SELECT * FROM after_{view} ORDER BY ALL").fetchall()
        ), view


def test_naive_timestamps_are_refused() -> None:
    duck = duckdb.connect()
    with pytest.raises(ValueError, match="time zone"):
        seed_policy_state(duck, now=datetime(2025, 3, 1))
    seed_policy_state(duck, now=NOW)
    with pytest.raises(ValueError, match="time zone"):
        apply_policy_changes(duck, at=datetime(2025, 3, 2))


def test_history_seeding_leaves_the_policy_state_alone() -> None:
    duck = duckdb.connect()
    seed_policy_state(duck, now=NOW)
    before = {view: _all(duck, view) for view in au.POLICY_VIEWS}
    seed_account_usage(duck, end=NOW, days=1, access_rows_per_day=200)
    assert {view: _all(duck, view) for view in au.POLICY_VIEWS} == before


# ---------------------------------------------------------------------------
# Through the real connector, over HTTP
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    with FakeSnowflake() as server:
        seed_policy_state(server.duck, now=NOW)
        connection = snowflake.connector.connect(**server.connection_args(), network_timeout=30)
        try:
            yield connection
        finally:
            connection.close()


@pytest.mark.parametrize("view", au.POLICY_VIEWS)
def test_every_policy_view_reads_back_by_column_name(conn: Any, view: str) -> None:
    cur = conn.cursor()
    cur.execute(f"SELECT {', '.join(au.columns(view))} FROM {au.qualified_name(view)}")
    assert [d[0] for d in cur.description] == list(au.columns(view))
    assert len(cur.fetchall()) > 0


def test_types_come_through_the_connector(conn: Any) -> None:
    cur = conn.cursor()
    cur.execute(
        "SELECT USER_ID, NAME, CREATED_ON, DELETED_ON, HAS_MFA, HAS_PASSWORD, DISABLED, TYPE,"
        " EXPIRES_AT FROM SNOWFLAKE.ACCOUNT_USAGE.USERS WHERE NAME = %s",
        (USER_WITHOUT_MFA,),
    )
    user_id, name, created, _, has_mfa, has_password, disabled, kind, expires = cur.fetchone()
    assert isinstance(user_id, int) and name == USER_WITHOUT_MFA and kind == "PERSON"
    assert isinstance(created, datetime) and created.utcoffset() == timedelta(0)
    assert created < NOW < expires
    assert has_mfa is False and has_password is True
    assert disabled == "false"  # a VARIANT arrives as its JSON text
    cur.execute(
        "SELECT HAS_MFA, HAS_PASSWORD, TAG_ID FROM SNOWFLAKE.ACCOUNT_USAGE.USERS u"
        " JOIN SNOWFLAKE.ACCOUNT_USAGE.TAG_REFERENCES t ON t.TAG_NAME = 'SEMANTIC_CATEGORY'"
        " WHERE u.NAME = 'SVC_FIVETRAN'"
    )
    assert cur.fetchall() == [(None, None, None)]  # NULL booleans and numbers stay NULL
    cur.execute("SELECT count(*) FROM SNOWFLAKE.ACCOUNT_USAGE.USERS WHERE DELETED_ON IS NULL")
    assert cur.fetchone() == (8,)  # filtering on NULL timestamps works server-side

    cur.execute(
        "SELECT ALLOWED_IP_LIST, BLOCKED_IP_LIST, CREATED, DELETED"
        " FROM SNOWFLAKE.ACCOUNT_USAGE.NETWORK_POLICIES ORDER BY ID"
    )
    rows = cur.fetchall()
    assert [type(r[0]) for r in rows] == [str, str, str]
    assert rows[0][3] > rows[0][2]  # the dropped policy
    assert rows[2][0] == "192.0.2.0/28,192.0.2.80/28"

    cur.execute(
        "SELECT GRANT_OPTION, CREATED_ON FROM SNOWFLAKE.ACCOUNT_USAGE.GRANTS_TO_ROLES"
        " WHERE PRIVILEGE = 'OWNERSHIP' AND GRANTED_ON = 'TABLE' AND NAME = 'PATIENTS'"
    )
    grant_option, created_on = cur.fetchone()
    assert grant_option is True and isinstance(created_on, datetime)

    cur.execute(
        "SELECT PASSWORD_MIN_LENGTH, SCHEMA_ID FROM SNOWFLAKE.ACCOUNT_USAGE.PASSWORD_POLICIES"
    )
    assert cur.fetchall() == [(14, "105")]


def test_null_timestamps_arrive_as_none(conn: Any) -> None:
    cur = conn.cursor()
    cur.execute(
        "SELECT DELETED_ON FROM SNOWFLAKE.ACCOUNT_USAGE.USERS WHERE NAME = %s", (USER_WITHOUT_MFA,)
    )
    assert cur.fetchone() == (None,)
