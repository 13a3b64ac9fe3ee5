"""Failing and passing fixtures for the CIS section 3 and 4 checks and the resource-monitor check.

The policy-state snapshots here add the files the policy-state collector writes for SHOW
commands (lowercase columns, every value text as Snowflake returns it, ``created_on`` a UTC
timestamp) and ACCOUNT_USAGE.TABLES, with the columns the issue-12 contract pins. The
schemas are spelled out here because the collector's own pinned schemas for these files are
being written alongside; when they land in ``policy_views``, SCHEMAS should use them.
``cases.py`` merges FAILING and PASSING into the registry-wide fixtures.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from das_evidence.reports.checks import CheckContext
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.timefmt import compact, rfc3339
from tests.unit.reports.checks.conftest import (
    ACCOUNT,
    END,
    POLICY_SCHEMAS,
    START,
    EvidenceBuilder,
    _parquet,
    _table,
    config,
    tag,
    user,
)

Case = Callable[[], tuple[EvidenceSet, CheckContext]]
AS_OF = END - timedelta(hours=2)
TS = pa.timestamp("us", tz="UTC")


def _text(*names: str, ts: Sequence[str] = ()) -> pa.Schema:
    return pa.schema([pa.field(n, TS if n in ts else pa.string()) for n in names])


_PARAMETER_COLUMNS = ("key", "value", "default", "level", "description", "type")
SCHEMAS: dict[str, pa.Schema] = {
    **POLICY_SCHEMAS,
    "SHOW_PARAMETERS_IN_ACCOUNT": _text(*_PARAMETER_COLUMNS),
    "SHOW_USER_NETWORK_POLICIES": _text("user_name", *_PARAMETER_COLUMNS),
    "SHOW_STAGES": _text(
        "created_on",
        "name",
        "database_name",
        "schema_name",
        "url",
        "has_credentials",
        "has_encryption_key",
        "owner",
        "comment",
        "region",
        "type",
        "cloud",
        "notification_channel",
        "storage_integration",
        "endpoint",
        "owner_role_type",
        "directory_enabled",
        ts=("created_on",),
    ),
    "SHOW_RESOURCE_MONITORS": _text(
        "name",
        "credit_quota",
        "used_credits",
        "remaining_credits",
        "level",
        "frequency",
        "start_time",
        "end_time",
        "notify_at",
        "suspend_at",
        "suspend_immediately_at",
        "created_on",
        "owner",
        "comment",
        "notify_users",
    ),
    "SHOW_WAREHOUSES": _text(
        "name",
        "state",
        "type",
        "size",
        "min_cluster_count",
        "max_cluster_count",
        "running",
        "queued",
        "is_default",
        "is_current",
        "auto_suspend",
        "auto_resume",
        "available",
        "provisioning",
        "quiescing",
        "other",
        "created_on",
        "resumed_on",
        "updated_on",
        "owner",
        "comment",
        "resource_monitor",
        "owner_role_type",
        ts=("created_on", "resumed_on", "updated_on"),
    ),
    "TABLES": pa.schema(
        [
            pa.field("TABLE_ID", pa.int64()),
            pa.field("TABLE_NAME", pa.string()),
            pa.field("TABLE_SCHEMA", pa.string()),
            pa.field("TABLE_CATALOG", pa.string()),
            pa.field("TABLE_OWNER", pa.string()),
            pa.field("TABLE_TYPE", pa.string()),
            pa.field("IS_TRANSIENT", pa.string()),
            pa.field("RETENTION_TIME", pa.int64()),
            pa.field("CREATED", TS),
            pa.field("LAST_ALTERED", TS),
            pa.field("DELETED", TS),
        ]
    ),
}


def snapshot(
    b: EvidenceBuilder,
    views: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    as_of: datetime = AS_OF,
    not_evidenced: Mapping[str, str] | None = None,
) -> EvidenceEntry:
    """A baseline policy-state snapshot holding ``views`` (SHOW results included)."""
    prefix = (
        f"evidence/snowflake/{ACCOUNT}/policy_state/"
        f"date={as_of.strftime('%Y-%m-%d')}/as_of={compact(as_of)}"
    )
    files = []
    status: dict[str, Any] = {}
    for view, rows in views.items():
        table = _table(rows, SCHEMAS[view])
        files.append((f"{prefix}/{view.lower()}.parquet", _parquet(table), table.num_rows))
        status[view] = {"status": "evidenced", "rows": table.num_rows}
    for view, reason in (not_evidenced or {}).items():
        status[view] = {"status": "not_evidenced", "reason": reason}
    return b._entry(
        f"snowflake/{ACCOUNT}/policy_state",
        as_of,
        as_of,
        files,
        as_of=rfc3339(as_of),
        views=status,
        changes={"baseline": True, "since": None, "compared_views": [], "not_compared_views": []},
    )


def build(views: Mapping[str, Sequence[Mapping[str, Any]]], **kw: Any) -> EvidenceSet:
    b = EvidenceBuilder()
    snapshot(b, views, **kw)
    return b.build()


# -- rows -------------------------------------------------------------------------------------


def parameter(key: str, value: str, *, level: str = "ACCOUNT", default: str = "") -> dict[str, Any]:
    return {
        "key": key,
        "value": value,
        "default": default,
        "level": level,
        "description": f"{key.lower()} (fixture)",
        "type": "STRING",
    }


#: the account as the benchmark wants it
GOOD_PARAMETERS = {
    "NETWORK_POLICY": "CORP_ALLOWLIST",
    "PERIODIC_DATA_REKEYING": "true",
    "CLIENT_ENCRYPTION_KEY_SIZE": "256",
    "DATA_RETENTION_TIME_IN_DAYS": "1",
    "MIN_DATA_RETENTION_TIME_IN_DAYS": "7",
    "REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION": "true",
    "REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION": "true",
    "PREVENT_UNLOAD_TO_INLINE_URL": "true",
}
#: Snowflake's defaults: what a new account shows
DEFAULT_PARAMETERS = {
    "NETWORK_POLICY": "",
    "PERIODIC_DATA_REKEYING": "false",
    "CLIENT_ENCRYPTION_KEY_SIZE": "128",
    "DATA_RETENTION_TIME_IN_DAYS": "1",
    "MIN_DATA_RETENTION_TIME_IN_DAYS": "0",
    "REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION": "false",
    "REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION": "false",
    "PREVENT_UNLOAD_TO_INLINE_URL": "false",
}


def parameters(values: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        parameter(k, v, level="ACCOUNT" if v != DEFAULT_PARAMETERS.get(k) else "")
        for k, v in values.items()
    ]


def network_policy(name: str, allowed: str | None, policy_id: int = 4001) -> dict[str, Any]:
    return {
        "ID": policy_id,
        "NAME": name,
        "OWNER": "SECURITYADMIN",
        "CREATED": START - timedelta(days=200),
        "LAST_ALTERED": START - timedelta(days=200),
        "ALLOWED_IP_LIST": allowed,
        "BLOCKED_IP_LIST": None,
    }


def user_policy(user_name: str, value: str, level: str = "USER") -> dict[str, Any]:
    return {"user_name": user_name, **parameter("NETWORK_POLICY", value, level=level)}


def table(name: str, retention: int | None, **columns: Any) -> dict[str, Any]:
    db, schema, t = name.split(".")
    return {
        "TABLE_ID": zlib.crc32(name.encode()) % 100_000,
        "TABLE_NAME": t,
        "TABLE_SCHEMA": schema,
        "TABLE_CATALOG": db,
        "TABLE_OWNER": "SYSADMIN",
        "TABLE_TYPE": "BASE TABLE",
        "IS_TRANSIENT": "NO",
        "RETENTION_TIME": retention,
        "CREATED": START - timedelta(days=400),
        "LAST_ALTERED": START - timedelta(days=3),
        **columns,
    }


def stage(name: str, kind: str, integration: str | None, **columns: Any) -> dict[str, Any]:
    db, schema, s = name.split(".")
    return {
        "created_on": START - timedelta(days=90),
        "name": s,
        "database_name": db,
        "schema_name": schema,
        "url": "s3://acme-landing/raw/" if kind == "EXTERNAL" else "",
        "has_credentials": "N",
        "has_encryption_key": "N",
        "owner": "LOADER",
        "type": kind,
        "cloud": "AWS" if kind == "EXTERNAL" else None,
        "storage_integration": integration,
        "owner_role_type": "ROLE",
        "directory_enabled": "N",
        **columns,
    }


def warehouse(name: str, monitor: str = "null", **columns: Any) -> dict[str, Any]:
    return {
        "name": name,
        "state": "SUSPENDED",
        "type": "STANDARD",
        "size": "X-Small",
        "owner": "SYSADMIN",
        "resource_monitor": monitor,
        **columns,
    }


def monitor(name: str, level: str | None = "WAREHOUSE") -> dict[str, Any]:
    return {
        "name": name,
        "credit_quota": "100.00",
        "used_credits": "12.00",
        "remaining_credits": "88.00",
        "level": level,
        "frequency": "MONTHLY",
        "suspend_at": "100%",
        "owner": "ACCOUNTADMIN",
    }


# -- cases ------------------------------------------------------------------------------------

ENCOUNTERS = "CLINICAL.PUBLIC.ENCOUNTERS"
PATIENTS = "CLINICAL.PUBLIC.PATIENTS"
LEDGER = "FINANCE.CORE.LEDGER"


def _network(allowed: str | None) -> EvidenceSet:
    return build(
        {
            "SHOW_PARAMETERS_IN_ACCOUNT": parameters(GOOD_PARAMETERS),
            "NETWORK_POLICIES": [
                network_policy("CORP_ALLOWLIST", allowed),
                network_policy("SERVICE_USERS_POLICY", "192.0.2.0/28", 4002),
            ],
        }
    )


def network_fail() -> tuple[EvidenceSet, CheckContext]:
    return _network("198.51.100.0/24,0.0.0.0/0"), config()


def network_pass() -> tuple[EvidenceSet, CheckContext]:
    return _network("198.51.100.0/24, 203.0.113.7"), config()


SERVICE_USERS = [
    user("ALICE_ANALYST"),
    user("SVC_DBT_RUNNER", mfa=None, TYPE="SERVICE", HAS_PASSWORD=False),
    user("SVC_FIVETRAN", mfa=None, TYPE="LEGACY_SERVICE", HAS_PASSWORD=True),
    user("ETL_KEYPAIR", mfa=None, TYPE=None, HAS_PASSWORD=False, HAS_RSA_PUBLIC_KEY=True),
    user("SVC_OLD", mfa=None, TYPE="SERVICE", DISABLED="true"),
]


SERVICE_POLICIES = [
    network_policy("CORP_ALLOWLIST", "198.51.100.0/24"),
    network_policy("SERVICE_USERS_POLICY", "192.0.2.0/28,192.0.2.80/28", 4002),
]


def service_evidence(fivetran: dict[str, Any], **views: Sequence[Mapping[str, Any]]) -> EvidenceSet:
    return build(
        {
            "USERS": SERVICE_USERS,
            "SHOW_USER_NETWORK_POLICIES": [
                user_policy("SVC_DBT_RUNNER", "SERVICE_USERS_POLICY"),
                fivetran,
                user_policy("ETL_KEYPAIR", "SERVICE_USERS_POLICY"),
            ],
            "NETWORK_POLICIES": SERVICE_POLICIES,
            **views,
        }
    )


def service_fail() -> tuple[EvidenceSet, CheckContext]:
    return service_evidence(user_policy("SVC_FIVETRAN", "", level="")), config()


def service_pass() -> tuple[EvidenceSet, CheckContext]:
    return service_evidence(user_policy("SVC_FIVETRAN", "SERVICE_USERS_POLICY")), config()


def _parameter_case(key: str, good: bool) -> Case:
    def case() -> tuple[EvidenceSet, CheckContext]:
        values = dict(GOOD_PARAMETERS)
        if not good:
            values[key] = DEFAULT_PARAMETERS[key]
        return build({"SHOW_PARAMETERS_IN_ACCOUNT": parameters(values)}), config()

    return case


def _retention(encounters_days: int) -> EvidenceSet:
    return build(
        {
            "TAG_REFERENCES": [
                tag(PATIENTS, "SSN", "PHI", "ssn"),  # a column tag tags the table
                tag(ENCOUNTERS, None, "PHI", "clinical"),
                tag(LEDGER, None, "CRITICAL", "sox"),
                tag(LEDGER, None, "DATA_DOMAIN", "finance"),
            ],
            "TABLES": [
                table(PATIENTS, 90),
                table(ENCOUNTERS, encounters_days),
                table(LEDGER, 120),
                table("SCRATCH.PUBLIC.TMP", 1, IS_TRANSIENT="YES"),
            ],
        }
    )


def retention_fail() -> tuple[EvidenceSet, CheckContext]:
    return _retention(encounters_days=30), config()


def retention_pass() -> tuple[EvidenceSet, CheckContext]:
    return _retention(encounters_days=90), config()


def _stages(landing_integration: str | None) -> EvidenceSet:
    return build(
        {
            "SHOW_STAGES": [
                stage("RAW.LANDING.S3_EVENTS", "EXTERNAL", "S3_LANDING_INT"),
                stage("RAW.LANDING.S3_LEGACY", "EXTERNAL", landing_integration),
                stage("RAW.LANDING.UPLOADS", "INTERNAL", None),
            ]
        }
    )


def stages_fail() -> tuple[EvidenceSet, CheckContext]:
    return _stages(None), config()


def stages_pass() -> tuple[EvidenceSet, CheckContext]:
    return _stages("S3_LANDING_INT"), config()


def _warehouses(adhoc_monitor: str) -> EvidenceSet:
    return build(
        {
            "SHOW_WAREHOUSES": [
                warehouse("TRANSFORM_WH", "TRANSFORM_MONTHLY"),
                warehouse("ADHOC_WH", adhoc_monitor),
            ],
            "SHOW_RESOURCE_MONITORS": [
                monitor("TRANSFORM_MONTHLY"),
                monitor("ADHOC_MONTHLY"),
            ],
        }
    )


def warehouses_fail() -> tuple[EvidenceSet, CheckContext]:
    return _warehouses("null"), config()


def warehouses_pass() -> tuple[EvidenceSet, CheckContext]:
    return _warehouses("ADHOC_MONTHLY"), config()


_PARAMETER_CHECKS = {
    "periodic-data-rekeying": "PERIODIC_DATA_REKEYING",
    "client-encryption-key-size": "CLIENT_ENCRYPTION_KEY_SIZE",
    "min-data-retention": "MIN_DATA_RETENTION_TIME_IN_DAYS",
    "stage-creation-requires-storage-integration": "REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION",
    "stage-operation-requires-storage-integration": (
        "REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION"
    ),
    "unload-to-inline-url-prevented": "PREVENT_UNLOAD_TO_INLINE_URL",
}

FAILING: dict[str, Case] = {
    "account-network-policy-allowlist": network_fail,
    "service-users-without-network-policy": service_fail,
    "tagged-tables-below-retention": retention_fail,
    "external-stages-without-storage-integration": stages_fail,
    "warehouses-without-resource-monitor": warehouses_fail,
    **{cid: _parameter_case(key, good=False) for cid, key in _PARAMETER_CHECKS.items()},
}
PASSING: dict[str, Case] = {
    "account-network-policy-allowlist": network_pass,
    "service-users-without-network-policy": service_pass,
    "tagged-tables-below-retention": retention_pass,
    "external-stages-without-storage-integration": stages_pass,
    "warehouses-without-resource-monitor": warehouses_pass,
    **{cid: _parameter_case(key, good=True) for cid, key in _PARAMETER_CHECKS.items()},
}
