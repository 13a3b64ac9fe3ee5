"""The pinned shape of each ACCOUNT_USAGE view the history collectors read.

Columns are listed explicitly, as Snowflake documents them
(https://docs.snowflake.com/en/sql-reference/account-usage), so a view that
gains a column changes nothing and a view that loses one fails loudly. Each
view has one pinned Arrow schema that every batch is cast to: timestamps as
UTC microseconds, NUMBER ids as int64, ARRAY/OBJECT/VARIANT as JSON text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
TEXT = pa.string()
INT = pa.int64()
JSON = pa.string()  # ARRAY / OBJECT / VARIANT, kept as the JSON text Snowflake returns
FLOAT = pa.float64()
BOOL = pa.bool_()


@dataclass(frozen=True)
class Column:
    name: str
    snowflake_type: str
    arrow_type: pa.DataType


@dataclass(frozen=True)
class ViewSpec:
    """One ACCOUNT_USAGE view: columns, the time column that windows it, and a stable order."""

    stream: str
    view: str
    time_column: str
    order_by: tuple[str, ...]
    columns: tuple[Column, ...]
    latency: timedelta

    @property
    def qualified(self) -> str:
        return f"SNOWFLAKE.ACCOUNT_USAGE.{self.view}"

    def schema(self, extra: tuple[pa.Field, ...] = ()) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns] + list(extra))


def schema_fingerprint(view: str, schema: pa.Schema) -> str:
    """SHA-256 over the view name and the pinned (name, type) list; changes when the shape does."""
    shape = [view, [[f.name, str(f.type)] for f in schema]]
    return "sha256:" + hashlib.sha256(json.dumps(shape, separators=(",", ":")).encode()).hexdigest()


def _cols(*spec: tuple[str, str, pa.DataType]) -> tuple[Column, ...]:
    return tuple(Column(n, t, a) for n, t, a in spec)


ACCESS_HISTORY = ViewSpec(
    stream="access_history",
    view="ACCESS_HISTORY",
    time_column="QUERY_START_TIME",
    order_by=("QUERY_START_TIME", "QUERY_ID"),
    latency=timedelta(hours=3),
    columns=_cols(
        ("QUERY_ID", "VARCHAR", TEXT),
        ("QUERY_START_TIME", "TIMESTAMP_LTZ", TS),
        ("USER_NAME", "VARCHAR", TEXT),
        ("DIRECT_OBJECTS_ACCESSED", "ARRAY", JSON),
        ("BASE_OBJECTS_ACCESSED", "ARRAY", JSON),
        ("OBJECTS_MODIFIED", "ARRAY", JSON),
        ("OBJECT_MODIFIED_BY_DDL", "OBJECT", JSON),
        ("POLICIES_REFERENCED", "ARRAY", JSON),
        ("PARENT_QUERY_ID", "VARCHAR", TEXT),
        ("ROOT_QUERY_ID", "VARCHAR", TEXT),
    ),
)

LOGIN_HISTORY = ViewSpec(
    stream="login_history",
    view="LOGIN_HISTORY",
    time_column="EVENT_TIMESTAMP",
    order_by=("EVENT_TIMESTAMP", "EVENT_ID"),
    latency=timedelta(hours=2),
    columns=_cols(
        ("EVENT_ID", "NUMBER", INT),
        ("EVENT_TIMESTAMP", "TIMESTAMP_LTZ", TS),
        ("EVENT_TYPE", "VARCHAR", TEXT),
        ("USER_NAME", "VARCHAR", TEXT),
        ("CLIENT_IP", "VARCHAR", TEXT),
        ("REPORTED_CLIENT_TYPE", "VARCHAR", TEXT),
        ("REPORTED_CLIENT_VERSION", "VARCHAR", TEXT),
        ("FIRST_AUTHENTICATION_FACTOR", "VARCHAR", TEXT),
        ("SECOND_AUTHENTICATION_FACTOR", "VARCHAR", TEXT),
        ("IS_SUCCESS", "VARCHAR", TEXT),
        ("ERROR_CODE", "NUMBER", INT),
        ("ERROR_MESSAGE", "VARCHAR", TEXT),
        ("RELATED_EVENT_ID", "NUMBER", INT),
        ("CONNECTION", "VARCHAR", TEXT),
        ("CLIENT_PRIVATE_LINK_ID", "VARCHAR", TEXT),
    ),
)

SESSIONS = ViewSpec(
    stream="sessions",
    view="SESSIONS",
    time_column="CREATED_ON",
    order_by=("CREATED_ON", "SESSION_ID"),
    latency=timedelta(hours=3),
    columns=_cols(
        ("SESSION_ID", "NUMBER", INT),
        ("CREATED_ON", "TIMESTAMP_LTZ", TS),
        ("USER_NAME", "VARCHAR", TEXT),
        ("AUTHENTICATION_METHOD", "VARCHAR", TEXT),
        ("LOGIN_EVENT_ID", "NUMBER", INT),
        ("CLIENT_APPLICATION_VERSION", "VARCHAR", TEXT),
        ("CLIENT_APPLICATION_ID", "VARCHAR", TEXT),
        ("CLIENT_ENVIRONMENT", "VARCHAR", TEXT),
        ("CLIENT_BUILD_ID", "VARCHAR", TEXT),
        ("CLIENT_VERSION", "VARCHAR", TEXT),
        ("CLOSED_REASON", "VARCHAR", TEXT),
    ),
)

# QUERY_HISTORY has about eighty documented columns; these are the ones an access
# audit needs. BIND_VALUES is never selected: bound values are data, often PHI.
QUERY_HISTORY = ViewSpec(
    stream="query_history",
    view="QUERY_HISTORY",
    time_column="START_TIME",
    order_by=("START_TIME", "QUERY_ID"),
    latency=timedelta(minutes=45),
    columns=_cols(
        ("QUERY_ID", "VARCHAR", TEXT),
        ("QUERY_TEXT", "VARCHAR", TEXT),
        ("DATABASE_ID", "NUMBER", INT),
        ("DATABASE_NAME", "VARCHAR", TEXT),
        ("SCHEMA_ID", "NUMBER", INT),
        ("SCHEMA_NAME", "VARCHAR", TEXT),
        ("QUERY_TYPE", "VARCHAR", TEXT),
        ("SESSION_ID", "NUMBER", INT),
        ("USER_NAME", "VARCHAR", TEXT),
        ("ROLE_NAME", "VARCHAR", TEXT),
        ("WAREHOUSE_ID", "NUMBER", INT),
        ("WAREHOUSE_NAME", "VARCHAR", TEXT),
        ("WAREHOUSE_SIZE", "VARCHAR", TEXT),
        ("QUERY_TAG", "VARCHAR", TEXT),
        ("EXECUTION_STATUS", "VARCHAR", TEXT),
        ("ERROR_CODE", "VARCHAR", TEXT),
        ("ERROR_MESSAGE", "VARCHAR", TEXT),
        ("START_TIME", "TIMESTAMP_LTZ", TS),
        ("END_TIME", "TIMESTAMP_LTZ", TS),
        ("TOTAL_ELAPSED_TIME", "NUMBER", INT),
        ("BYTES_SCANNED", "NUMBER", INT),
        ("ROWS_PRODUCED", "NUMBER", INT),
        ("ROWS_INSERTED", "NUMBER", INT),
        ("ROWS_UPDATED", "NUMBER", INT),
        ("ROWS_DELETED", "NUMBER", INT),
        ("ROLE_TYPE", "VARCHAR", TEXT),
        ("QUERY_HASH", "VARCHAR", TEXT),
        ("QUERY_PARAMETERIZED_HASH", "VARCHAR", TEXT),
    ),
)

# One row per Trust Center finding, updated in place as the finding changes (STATE OPEN ->
# RESOLVED / RESOLVED MANUALLY). Windowed on UPDATED_ON, not CREATED_ON: a window archives
# every finding whose last change fell in it, as it stood then, so the archive holds each
# version of a finding once it is older than the latency, and the state of a finding at
# any time is its latest archived version up to then. A finding resolved after its window
# was archived reappears in a later window; its earlier version stays, signed.
# Columns: https://docs.snowflake.com/en/sql-reference/account-usage/trust_center_findings
# (latency up to 1 hour).
TRUST_CENTER_FINDINGS = ViewSpec(
    stream="trust_center_findings",
    view="TRUST_CENTER_FINDINGS",
    time_column="UPDATED_ON",
    order_by=("UPDATED_ON", "ID"),
    latency=timedelta(hours=1),
    columns=_cols(
        ("ID", "NUMBER", INT),
        ("PROVIDER_ID", "VARCHAR", TEXT),
        ("SCANNER_PACKAGE_ID", "VARCHAR", TEXT),
        ("SCANNER_ID", "VARCHAR", TEXT),
        ("SEVERITY", "VARCHAR", TEXT),
        ("STATE", "VARCHAR", TEXT),
        ("CREATED_ON", "TIMESTAMP_LTZ", TS),
        ("UPDATED_ON", "TIMESTAMP_LTZ", TS),
    ),
)

VIEWS: dict[str, ViewSpec] = {
    v.stream: v
    for v in (ACCESS_HISTORY, LOGIN_HISTORY, QUERY_HISTORY, SESSIONS, TRUST_CENTER_FINDINGS)
}


def cast_batch(
    view: str, columns: tuple[Column, ...], schema: pa.Schema, batch: pa.RecordBatch
) -> pa.RecordBatch:
    """``batch`` cast to the pinned ``schema``: timestamps to UTC microseconds, NUMBER to
    int64, and so on. A type that cannot be read as pinned names the view and column."""
    import pyarrow.compute as pc

    from das_evidence.errors import SchemaMismatchError

    arrays = []
    for col in columns:
        arr = batch.column(col.name)
        if arr.type != col.arrow_type:
            try:
                arr = pc.cast(arr, col.arrow_type, safe=not pa.types.is_timestamp(arr.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise SchemaMismatchError(
                    f"view {view} column {col.name} returned {arr.type}, "
                    f"which cannot be read as {col.snowflake_type}: {e}",
                    fix="the view's type changed; update the pinned schema",
                ) from None
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


#: The SNOWFLAKE database role that lets a role select each ACCOUNT_USAGE view the
#: collectors read, after Snowflake's table "Database role required to access
#: ACCOUNT_USAGE views"; deploy/snowflake/setup.sql grants these and checks every view.
DATABASE_ROLES: dict[str, str] = {
    **dict.fromkeys(
        (
            "ACCESS_HISTORY",
            "QUERY_HISTORY",
            "MASKING_POLICIES",
            "ROW_ACCESS_POLICIES",
            "POLICY_REFERENCES",
            "TAG_REFERENCES",
            "PASSWORD_POLICIES",
            "SESSION_POLICIES",
            "NETWORK_POLICIES",
        ),
        "GOVERNANCE_VIEWER",
    ),
    **dict.fromkeys(
        ("LOGIN_HISTORY", "SESSIONS", "USERS", "ROLES", "GRANTS_TO_ROLES", "GRANTS_TO_USERS"),
        "SECURITY_VIEWER",
    ),
    # The policy snapshot's CIS evidence (collectors/snowflake/policy_views.py).
    **dict.fromkeys(("TABLES", "PROCEDURES"), "OBJECT_VIEWER"),
}


#: Views read through a SNOWFLAKE application role rather than a database role. Trust
#: Center findings are visible to the TRUST_CENTER_VIEWER (or TRUST_CENTER_ADMIN)
#: application role (https://docs.snowflake.com/en/user-guide/ui-trust-center,
#: "Required roles"); the ACCOUNT_USAGE database-role table does not list the view.
APPLICATION_ROLES: dict[str, str] = {"TRUST_CENTER_FINDINGS": "TRUST_CENTER_VIEWER"}


def grant_for(view: str, role: str | None) -> str:
    """The grant that lets ``role`` read ``view`` (``SNOWFLAKE.ACCOUNT_USAGE.X`` or ``X``)."""
    name = view.rsplit(".", 1)[-1].upper()
    grantee = role or "<the collector's role>"
    app_role = APPLICATION_ROLES.get(name)
    if app_role is not None:
        return (
            f"GRANT APPLICATION ROLE SNOWFLAKE.{app_role} TO ROLE {grantee} "
            "(as ACCOUNTADMIN; deploy/snowflake/setup.sql), or disable the stream with "
            f"[streams.{name.lower()}] enabled = false"
        )
    db_role = DATABASE_ROLES.get(name)
    if db_role is None:
        return f"GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE {grantee}"
    return (
        f"GRANT DATABASE ROLE SNOWFLAKE.{db_role} TO ROLE {grantee} "
        "(as ACCOUNTADMIN; deploy/snowflake/setup.sql)"
    )
