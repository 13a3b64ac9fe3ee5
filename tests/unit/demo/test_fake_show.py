"""The SHOW/DESCRIBE answers of the demo, and the CIS state seeded behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest

from das_evidence.demo import account_usage as au
from das_evidence.demo import fake_show
from das_evidence.demo.policy_seed import seed_policy_state

NOW = datetime(2026, 11, 20, 3, tzinfo=UTC)


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    summary = seed_policy_state(conn, now=NOW)
    assert summary.cis["WAREHOUSES"] == 4 and summary.cis["TABLES"] > 0
    return conn


def _rows(duck: duckdb.DuckDBPyConnection, table: str) -> list[dict[str, Any]]:
    cur = duck.execute(f"SELECT * FROM {fake_show.qualified(table)}")
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.mark.parametrize(
    "statement",
    ["SHOW USERS", "SELECT 1", "SHOW PARAMETERS IN SESSION", "DESCRIBE TABLE X", "SHOW GRANTS"],
)
def test_other_statements_are_left_to_fakesnow(
    duck: duckdb.DuckDBPyConnection, statement: str
) -> None:
    assert fake_show.rewrite(duck, statement) is None


def test_each_command_becomes_a_select_of_its_table(duck: duckdb.DuckDBPyConnection) -> None:
    sql = fake_show.rewrite(duck, "show tasks in account;")
    assert isinstance(sql, str) and fake_show.qualified("TASKS") in sql
    sql = fake_show.rewrite(duck, "SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN USER \"SVC_FIVETRAN\"")
    assert isinstance(sql, str)
    assert duck.execute(sql).fetchall()[0][:2] == ("NETWORK_POLICY", "SERVICE_USERS_POLICY")
    refused = fake_show.rewrite(duck, 'DESC USER "NOBODY"')
    assert isinstance(refused, fake_show.Refusal)
    assert "does not exist or not authorized" in refused.msg


def test_a_denied_command_is_refused_as_snowflake_refuses_it() -> None:
    conn = duckdb.connect()
    fake_show.create_show_tables(conn)
    fake_show.deny(conn, "STAGES")
    refused = fake_show.rewrite(conn, "SHOW STAGES IN ACCOUNT")
    assert isinstance(refused, fake_show.Refusal)
    assert (refused.errno, refused.sqlstate) == (3001, "42501")


def test_the_seeded_state_has_failing_and_passing_subjects(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    params = {r["key"]: r["value"] for r in _rows(duck, "PARAMETERS_IN_ACCOUNT")}
    assert params["PERIODIC_DATA_REKEYING"] == "false"
    assert params["CLIENT_ENCRYPTION_KEY_SIZE"] == "256"
    assert params["MIN_DATA_RETENTION_TIME_IN_DAYS"] == "1"
    assert params["REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION"] == "true"
    assert params["REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION"] == "false"
    assert params["PREVENT_UNLOAD_TO_INLINE_URL"] == "false"
    allowed = duck.execute(
        f"SELECT ALLOWED_IP_LIST FROM {au.qualified_name(au.NETWORK_POLICIES)} WHERE NAME = ?",
        [params["NETWORK_POLICY"]],
    ).fetchone()
    assert allowed == ("198.51.100.0/24",)

    kinds = {r["type"]: r["enabled"] for r in _rows(duck, "SECURITY_INTEGRATIONS")}
    assert kinds["SAML2"] is True and kinds["SCIM - OKTA"] is True
    external = {r["name"]: r["storage_integration"] for r in _rows(duck, "STAGES")
                if r["type"] == "EXTERNAL"}  # fmt: skip
    assert external == {"EHR_LANDING_S3": "EHR_S3_INTEGRATION", "PARTNER_EXPORT_S3": None}
    unmonitored = [r["name"] for r in _rows(duck, "WAREHOUSES") if r["resource_monitor"] == "null"]
    assert unmonitored == ["ADMIN_WH"]
    assert {r["owner"] for r in _rows(duck, "TASKS")} == {
        "TRANSFORMER",
        "ACCOUNTADMIN",
        "OPS_AUTOMATION",
    }
    inherits = duck.execute(
        f"SELECT GRANTEE_NAME FROM {au.qualified_name(au.GRANTS_TO_ROLES)} WHERE PRIVILEGE ="
        " 'USAGE' AND GRANTED_ON = 'ROLE' AND NAME = 'SECURITYADMIN' AND DELETED_ON IS NULL"
    ).fetchall()
    assert ("OPS_AUTOMATION",) in inherits

    # service users: with and without key pairs and network policies
    policies = {r["user_name"]: r["value"] for r in _rows(duck, "USER_PARAMETERS")}
    assert policies["SVC_DBT_RUNNER"] == "SERVICE_USERS_POLICY" and policies["SVC_TABLEAU"] == ""
    set_times = {
        r["user_name"]: r["value"]
        for r in _rows(duck, "USER_PROPERTIES")
        if r["property"] == "RSA_PUBLIC_KEY_LAST_SET_TIME" and r["value"] != "null"
    }
    ages = {
        user: NOW - datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f %z")
        for user, value in set_times.items()
    }
    assert ages["SVC_DBT_RUNNER"] > timedelta(days=180) > ages["SVC_FIVETRAN"]
    assert "SVC_TABLEAU" not in ages

    retention = dict(
        duck.execute(
            f"SELECT TABLE_NAME, RETENTION_TIME FROM {au.qualified_name('TABLES')}"
            " WHERE DELETED IS NULL"
        ).fetchall()
    )
    assert retention["ENCOUNTERS"] == 1 and retention["PATIENTS"] == 90  # both PHI-tagged
    assert retention["CLAIMS"] == 90  # CRITICAL-tagged
    owners = dict(
        duck.execute(
            f"SELECT PROCEDURE_NAME, PROCEDURE_OWNER FROM {au.qualified_name('PROCEDURES')}"
            " WHERE DELETED IS NULL"
        ).fetchall()
    )
    assert set(owners.values()) == {"TRANSFORMER", "ACCOUNTADMIN", "OPS_AUTOMATION"}
