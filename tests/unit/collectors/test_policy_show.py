"""SHOW/DESCRIBE results in policy-state snapshots, against the fake Snowflake over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.collectors.interface import ArchiveReader, Collection, Window
from das_evidence.collectors.snowflake.connection import SnowflakeSession, show_table
from das_evidence.collectors.snowflake.policy import PolicyStateCollector, diff_tables
from das_evidence.collectors.snowflake.policy_views import (
    POLICY_VIEWS,
    SHOW_COMMANDS,
    quote_identifier,
)
from das_evidence.demo import fake_show
from das_evidence.demo.policy_seed import seed_policy_state
from das_evidence.demo.server import FakeSnowflake

NOW = datetime(2026, 11, 20, 6, tzinfo=UTC)
KEY = b"k" * 32
SHOWS = {c.view: c for c in SHOW_COMMANDS}
ROLE = "EVIDENCE_READER"

# connector type codes (snowflake.connector.constants.FIELD_TYPES)
FIXED, TEXT, TIMESTAMP_LTZ, TIMESTAMP_NTZ, BOOLEAN = 0, 2, 6, 8, 13


class MemoryArchive(ArchiveReader):
    def __init__(self) -> None:
        self.last: tuple[dict[str, Any], dict[str, bytes]] | None = None

    def last_files(self, stream: str) -> tuple[dict[str, Any], dict[str, bytes]] | None:
        return self.last


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSnowflake]:
    with FakeSnowflake() as server:
        yield server


@pytest.fixture
def seeded(fake: FakeSnowflake) -> FakeSnowflake:
    """Every test starts from the seeded account (tests change and drop tables)."""
    fake_show.create_show_tables(fake.duck)
    seed_policy_state(fake.duck, now=NOW - timedelta(hours=3))
    return fake


def _collect(
    fake: FakeSnowflake, tmp_path: Path, archive: ArchiveReader | None = None, **kw: Any
) -> tuple[Collection, dict[str, pa.Table]]:
    args = {**fake.connection_args(), "role": ROLE}
    with SnowflakeSession(args, preflight=False) as session:
        c = PolicyStateCollector(account="ACME_PROD", session=lambda: session, hmac_key=KEY, **kw)
        c.attach(archive or MemoryArchive())
        spool = tmp_path / f"spool-{len(list(tmp_path.iterdir()))}"
        spool.mkdir()
        col = c.collect(Window(c.as_of(NOW), c.as_of(NOW)), spool)
    tables = {
        f.key.rsplit("/", 1)[-1].removesuffix(".parquet"): pq.read_table(f.local_path)
        for f in col.files
    }
    return col, tables


# --- show(): the result as Arrow ------------------------------------------------------


def test_show_table_maps_timestamps_to_utc_booleans_to_bool_and_the_rest_to_text() -> None:
    plus2 = timezone(timedelta(hours=2))
    table = show_table(
        [("created_on", TIMESTAMP_LTZ), ("naive", TIMESTAMP_NTZ), ("enabled", BOOLEAN),
         ("credit_quota", FIXED), ("name", TEXT)],
        [
            (datetime(2026, 5, 1, 12, tzinfo=plus2), datetime(2026, 5, 1, 10), True,
             Decimal("100.00"), "X"),
            (None, None, None, None, None),
        ],
    )  # fmt: skip
    assert table.schema == pa.schema(
        [
            ("created_on", pa.timestamp("us", tz="UTC")),
            ("naive", pa.timestamp("us", tz="UTC")),
            ("enabled", pa.bool_()),
            ("credit_quota", pa.string()),
            ("name", pa.string()),
        ]
    )
    first, empty = table.to_pylist()
    assert first["created_on"] == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert first["naive"] == datetime(2026, 5, 1, 10, tzinfo=UTC)  # NTZ read as UTC
    assert (first["enabled"], first["credit_quota"], first["name"]) == (True, "100.00", "X")
    assert set(empty.values()) == {None}


def test_an_empty_result_keeps_its_columns() -> None:
    table = show_table([("name", TEXT), ("enabled", BOOLEAN)], [])
    assert table.num_rows == 0 and table.column_names == ["name", "enabled"]


def test_user_identifiers_are_quoted_with_double_quotes_doubled() -> None:
    assert quote_identifier('we"ird user') == '"we""ird user"'
    cmd = SHOWS["DESCRIBE_USER_KEYS"]
    assert cmd.sql('A"B') == 'DESCRIBE USER "A""B"'
    assert cmd.keeps("RSA_PUBLIC_KEY_2_LAST_SET_TIME") and cmd.keeps("RSA_PUBLIC_KEY_FP")
    assert not cmd.keeps("RSA_PUBLIC_KEY") and not cmd.keeps("EMAIL")


def test_the_session_runs_a_show_and_returns_its_query_id(seeded: FakeSnowflake) -> None:
    with SnowflakeSession(seeded.connection_args(), preflight=False) as session:
        table, query_id = session.show("SHOW SECURITY INTEGRATIONS", needs="USAGE")
    assert query_id
    assert table.column_names == ["name", "type", "category", "enabled", "comment", "created_on"]
    assert table.schema.field("enabled").type == pa.bool_()
    assert table.schema.field("created_on").type == pa.timestamp("us", tz="UTC")
    assert {r["type"] for r in table.to_pylist()} >= {"SAML2", "SCIM - OKTA"}


# --- the snapshot -----------------------------------------------------------------------


def test_the_snapshot_archives_every_show_result_as_returned(
    seeded: FakeSnowflake, tmp_path: Path
) -> None:
    col, tables = _collect(seeded, tmp_path)
    views = col.predicate["views"]
    for cmd in SHOW_COMMANDS:
        entry = views[cmd.view]
        assert entry["status"] == "evidenced", (cmd.view, entry)
        assert entry["command"] == cmd.command and entry["query_id"]
        assert entry["rows"] == tables[cmd.file].num_rows > 0, cmd.view
    for view in ("TABLES", "PROCEDURES"):
        assert views[view]["status"] == "evidenced"

    params = {r["key"]: r for r in tables["show_parameters_in_account"].to_pylist()}
    assert params["PERIODIC_DATA_REKEYING"]["value"] == "false"
    assert params["CLIENT_ENCRYPTION_KEY_SIZE"]["value"] == "256"
    assert params["NETWORK_POLICY"]["value"] == "CORP_VPN_POLICY"
    assert tables["show_parameters_in_account"].column_names == [
        "key", "value", "default", "level", "description", "type",
    ]  # fmt: skip
    warehouses = {r["name"]: r for r in tables["show_warehouses"].to_pylist()}
    assert warehouses["ADMIN_WH"]["resource_monitor"] == "null"
    assert warehouses["ANALYTICS_WH"]["resource_monitor"] == "ANALYTICS_MONITOR"
    stages = {r["name"]: r for r in tables["show_stages"].to_pylist()}
    assert stages["PARTNER_EXPORT_S3"]["storage_integration"] is None
    assert stages["EHR_LANDING_S3"]["storage_integration"] == "EHR_S3_INTEGRATION"
    owners = {r["name"]: r["owner"] for r in tables["show_tasks"].to_pylist()}
    assert owners["WEEKLY_KEY_ROTATION"] == "ACCOUNTADMIN"

    # per service user: the NETWORK_POLICY parameter, user_name first
    policies = tables["show_user_network_policies"]
    assert policies.column_names[0] == "user_name"
    assert {r["user_name"]: r["value"] for r in policies.to_pylist()} == {
        "SVC_DBT_RUNNER": "SERVICE_USERS_POLICY",
        "SVC_FIVETRAN": "SERVICE_USERS_POLICY",
        "SVC_TABLEAU": "",
    }
    # per key-pair user: only the key rows of DESCRIBE USER, nothing personal
    keys = tables["describe_user_keys"].to_pylist()
    assert {r["user_name"] for r in keys} == {"SVC_DBT_RUNNER", "SVC_FIVETRAN"}
    assert {r["property"] for r in keys} == {
        "RSA_PUBLIC_KEY_FP",
        "RSA_PUBLIC_KEY_LAST_SET_TIME",
        "RSA_PUBLIC_KEY_2_FP",
        "RSA_PUBLIC_KEY_2_LAST_SET_TIME",
    }
    assert not any("@" in str(r["value"]) for r in keys)
    assert views["DESCRIBE_USER_KEYS"]["users"]["queried"] == 2
    assert len(views["DESCRIBE_USER_KEYS"]["query_ids"]) == 2
    assert "visibility" in views["SHOW_WAREHOUSES"]  # SHOW lists what the role may see
    assert col.predicate["changes"]["natural_keys"]["SHOW_STAGES"] == [
        "database_name",
        "schema_name",
        "name",
    ]


def test_a_show_the_role_cannot_run_is_not_evidenced_naming_the_grant(
    seeded: FakeSnowflake, tmp_path: Path
) -> None:
    fake_show.deny(seeded.duck, "TASKS")
    col, tables = _collect(seeded, tmp_path)
    entry = col.predicate["views"]["SHOW_TASKS"]
    assert entry["status"] == "not_evidenced"
    assert "Insufficient privileges" in entry["reason"]
    assert "GRANT MONITOR ON FUTURE TASKS" in entry["reason"]
    assert "show_tasks" not in tables  # no empty file pretending to be evidence
    assert col.predicate["views"]["SHOW_WAREHOUSES"]["status"] == "evidenced"


def test_parameters_in_account_cannot_be_empty(seeded: FakeSnowflake, tmp_path: Path) -> None:
    seeded.duck.execute(f"DELETE FROM {fake_show.qualified('PARAMETERS_IN_ACCOUNT')}")
    col, tables = _collect(seeded, tmp_path)
    assert col.predicate["views"]["SHOW_PARAMETERS_IN_ACCOUNT"]["status"] == "not_evidenced"
    assert "show_parameters_in_account" not in tables


def test_a_user_the_role_cannot_describe_makes_the_whole_command_not_evidenced(
    seeded: FakeSnowflake, tmp_path: Path
) -> None:
    seeded.duck.execute(
        f"DELETE FROM {fake_show.qualified('USER_PROPERTIES')} WHERE \"user_name\" = 'SVC_FIVETRAN'"
    )
    col, tables = _collect(seeded, tmp_path)
    entry = col.predicate["views"]["DESCRIBE_USER_KEYS"]
    assert entry["status"] == "not_evidenced"
    assert "SVC_FIVETRAN" in entry["reason"] and "OWNERSHIP on each user" in entry["reason"]
    assert "describe_user_keys" not in tables


def test_per_user_commands_are_bounded_and_say_so(seeded: FakeSnowflake, tmp_path: Path) -> None:
    col, tables = _collect(seeded, tmp_path, max_user_commands=1)
    entry = col.predicate["views"]["SHOW_USER_NETWORK_POLICIES"]
    assert entry["users"]["queried"] == 1
    assert entry["users"]["not_queried"] == ["SVC_FIVETRAN", "SVC_TABLEAU"]
    assert "truncated" in entry["note"]
    assert tables["show_user_network_policies"].num_rows == 1


def test_a_user_name_with_a_double_quote_is_quoted_safely(
    seeded: FakeSnowflake, tmp_path: Path
) -> None:
    odd = 'SVC "ODD"; DROP USER X'
    seeded.duck.execute(
        "UPDATE SNOWFLAKE.ACCOUNT_USAGE.USERS SET NAME = ? WHERE NAME = 'SVC_FIVETRAN'", [odd]
    )
    for table in ("USER_PROPERTIES", "USER_PARAMETERS"):
        seeded.duck.execute(
            f'UPDATE {fake_show.qualified(table)} SET "user_name" = ?'
            " WHERE \"user_name\" = 'SVC_FIVETRAN'",
            [odd],
        )
    col, tables = _collect(seeded, tmp_path)
    assert col.predicate["views"]["DESCRIBE_USER_KEYS"]["status"] == "evidenced"
    assert odd in {r["user_name"] for r in tables["describe_user_keys"].to_pylist()}


def test_show_results_take_part_in_changes_without_volatile_columns(
    seeded: FakeSnowflake, tmp_path: Path
) -> None:
    archive = MemoryArchive()
    first, _ = _collect(seeded, tmp_path, archive)
    archive.last = (
        {"window": {"start": "2026-11-19T00:00:00Z"}},
        {f.key: f.local_path.read_bytes() for f in first.files},
    )
    duck = seeded.duck
    duck.execute(
        f"UPDATE {fake_show.qualified('WAREHOUSES')} SET \"resource_monitor\" = 'ETL_MONITOR',"
        ' "state" = \'STARTED\', "running" = 3 WHERE "name" = \'ADMIN_WH\''
    )
    duck.execute(
        f'UPDATE {fake_show.qualified("RESOURCE_MONITORS")} SET "used_credits" = 899'
    )  # spend, not a control change
    duck.execute(
        f"UPDATE {fake_show.qualified('PARAMETERS_IN_ACCOUNT')} SET \"value\" = 'true',"
        " \"level\" = 'ACCOUNT' WHERE \"key\" = 'PERIODIC_DATA_REKEYING'"
    )
    duck.execute(
        f"UPDATE {fake_show.qualified('TASKS')} SET \"state\" = 'suspended'"
        " WHERE \"name\" = 'NIGHTLY_MARTS_REFRESH'"
    )
    second, after = _collect(seeded, tmp_path, archive)
    changes = after["changes"].to_pylist()
    summary = sorted((c["VIEW"], c["CHANGE"], c["KEY"]) for c in changes)
    assert summary == [
        ("SHOW_PARAMETERS_IN_ACCOUNT", "changed", '{"key":"PERIODIC_DATA_REKEYING"}'),
        ("SHOW_WAREHOUSES", "changed", '{"name":"ADMIN_WH"}'),
    ]
    by_view = {c["VIEW"]: c for c in changes}
    assert json.loads(by_view["SHOW_WAREHOUSES"]["CHANGED_COLUMNS"]) == ["resource_monitor"]
    assert json.loads(by_view["SHOW_PARAMETERS_IN_ACCOUNT"]["CHANGED_COLUMNS"]) == [
        "value",
        "level",
    ]
    assert "SHOW_TASKS" in second.predicate["changes"]["compared_views"]
    assert second.predicate["changes"]["volatile"]["SHOW_TASKS"][0] == "state"


def test_diff_tables_takes_a_show_command() -> None:
    cmd = SHOWS["SHOW_RESOURCE_MONITORS"]
    before = pa.table({"name": ["M"], "credit_quota": ["100"], "used_credits": ["1"]})
    after = pa.table({"name": ["M", "N"], "credit_quota": ["200", "5"], "used_credits": ["9", "0"]})
    changes = diff_tables(cmd, before, after)
    assert [(c["CHANGE"], c["KEY"]) for c in changes] == [
        ("changed", '{"name":"M"}'),
        ("added", '{"name":"N"}'),
    ]
    assert json.loads(changes[0]["CHANGED_COLUMNS"] or "[]") == ["credit_quota"]


def test_tables_and_procedures_are_policy_views_with_deleted_rows_kept(
    seeded: FakeSnowflake, tmp_path: Path
) -> None:
    _, tables = _collect(seeded, tmp_path)
    names = {v.view for v in POLICY_VIEWS}
    assert {"TABLES", "PROCEDURES"} <= names
    rows = tables["tables"].to_pylist()
    retention = {r["TABLE_NAME"]: r["RETENTION_TIME"] for r in rows if r["DELETED"] is None}
    assert retention["ENCOUNTERS"] == 1 and retention["PATIENTS"] == 90
    assert any(r["DELETED"] is not None for r in rows)
    procs = {r["PROCEDURE_NAME"]: r for r in tables["procedures"].to_pylist()}
    assert procs["ROTATE_SERVICE_KEYS"]["PROCEDURE_OWNER"] == "ACCOUNTADMIN"
    assert procs["LEGACY_LOAD"]["DELETED"] is not None
    assert "PROCEDURE_DEFINITION" not in tables["procedures"].column_names
