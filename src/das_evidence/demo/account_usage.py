"""Shape of the four ``SNOWFLAKE.ACCOUNT_USAGE`` views the product collects, for the fake Snowflake.

Column names, order and Snowflake types follow the Snowflake documentation:

* ACCESS_HISTORY: https://docs.snowflake.com/en/sql-reference/account-usage/access_history
* LOGIN_HISTORY:  https://docs.snowflake.com/en/sql-reference/account-usage/login_history
  (CLIENT_PRIVATE_LINK_ID: bundle 2025_01, BCR-1847, appended last;
  FIRST/SECOND_AUTHENTICATION_FACTOR_ID: bundle 2025_04, BCR-1966)
* QUERY_HISTORY:  https://docs.snowflake.com/en/sql-reference/account-usage/query_history
  (AUTHN_EVENT_ID between SESSION_ID and USER_NAME, BIND_VALUES after USER_SCHEMA_ID:
  bundle 2025_06, BCR-1980/2050; SECONDARY_ROLE_STATS .. FAULT_HANDLING_TIME: 2024_02, BCR-1497)
* SESSIONS:       https://docs.snowflake.com/en/sql-reference/account-usage/sessions
  (documents its types as "Number"/"String"; written here as NUMBER/VARCHAR)

Columns that exist only in ``READER_ACCOUNT_USAGE`` (READER_ACCOUNT_NAME,
READER_ACCOUNT_DELETED_ON) are left out. In DuckDB, which backs fakesnow, the
views are plain tables: TIMESTAMP_LTZ becomes TIMESTAMPTZ, ARRAY/OBJECT/VARIANT
become JSON (served to the connector as VARIANT), NUMBER becomes BIGINT.
"""

from __future__ import annotations

import duckdb

DATABASE = "SNOWFLAKE"
SCHEMA = "ACCOUNT_USAGE"

ACCESS_HISTORY = "ACCESS_HISTORY"
LOGIN_HISTORY = "LOGIN_HISTORY"
QUERY_HISTORY = "QUERY_HISTORY"
SESSIONS = "SESSIONS"

VIEWS: dict[str, tuple[tuple[str, str], ...]] = {
    ACCESS_HISTORY: (
        ("QUERY_ID", "VARCHAR"),
        ("QUERY_START_TIME", "TIMESTAMP_LTZ"),
        ("USER_NAME", "VARCHAR"),
        ("DIRECT_OBJECTS_ACCESSED", "ARRAY"),
        ("BASE_OBJECTS_ACCESSED", "ARRAY"),
        ("OBJECTS_MODIFIED", "ARRAY"),
        ("OBJECT_MODIFIED_BY_DDL", "OBJECT"),
        ("POLICIES_REFERENCED", "ARRAY"),
        ("PARENT_QUERY_ID", "VARCHAR"),
        ("ROOT_QUERY_ID", "VARCHAR"),
    ),
    LOGIN_HISTORY: (
        ("EVENT_ID", "NUMBER"),
        ("EVENT_TIMESTAMP", "TIMESTAMP_LTZ"),
        ("EVENT_TYPE", "VARCHAR"),
        ("USER_NAME", "VARCHAR"),
        ("CLIENT_IP", "VARCHAR"),
        ("REPORTED_CLIENT_TYPE", "VARCHAR"),
        ("REPORTED_CLIENT_VERSION", "VARCHAR"),
        ("FIRST_AUTHENTICATION_FACTOR", "VARCHAR"),
        ("SECOND_AUTHENTICATION_FACTOR", "VARCHAR"),
        ("IS_SUCCESS", "VARCHAR"),
        ("ERROR_CODE", "NUMBER"),
        ("ERROR_MESSAGE", "VARCHAR"),
        ("RELATED_EVENT_ID", "NUMBER"),
        ("CONNECTION", "VARCHAR"),
        ("CLIENT_PRIVATE_LINK_ID", "VARCHAR"),
        ("FIRST_AUTHENTICATION_FACTOR_ID", "VARCHAR"),
        ("SECOND_AUTHENTICATION_FACTOR_ID", "VARCHAR"),
    ),
    QUERY_HISTORY: (
        ("QUERY_ID", "VARCHAR"),
        ("QUERY_TEXT", "VARCHAR"),
        ("DATABASE_ID", "NUMBER"),
        ("DATABASE_NAME", "VARCHAR"),
        ("SCHEMA_ID", "NUMBER"),
        ("SCHEMA_NAME", "VARCHAR"),
        ("QUERY_TYPE", "VARCHAR"),
        ("SESSION_ID", "NUMBER"),
        ("AUTHN_EVENT_ID", "NUMBER"),
        ("USER_NAME", "VARCHAR"),
        ("ROLE_NAME", "VARCHAR"),
        ("WAREHOUSE_ID", "NUMBER"),
        ("WAREHOUSE_NAME", "VARCHAR"),
        ("WAREHOUSE_SIZE", "VARCHAR"),
        ("WAREHOUSE_TYPE", "VARCHAR"),
        ("CLUSTER_NUMBER", "NUMBER"),
        ("QUERY_TAG", "VARCHAR"),
        ("EXECUTION_STATUS", "VARCHAR"),
        ("ERROR_CODE", "VARCHAR"),
        ("ERROR_MESSAGE", "VARCHAR"),
        ("START_TIME", "TIMESTAMP_LTZ"),
        ("END_TIME", "TIMESTAMP_LTZ"),
        ("TOTAL_ELAPSED_TIME", "NUMBER"),
        ("BYTES_SCANNED", "NUMBER"),
        ("PERCENTAGE_SCANNED_FROM_CACHE", "FLOAT"),
        ("BYTES_WRITTEN", "NUMBER"),
        ("BYTES_WRITTEN_TO_RESULT", "NUMBER"),
        ("BYTES_READ_FROM_RESULT", "NUMBER"),
        ("ROWS_PRODUCED", "NUMBER"),
        ("ROWS_INSERTED", "NUMBER"),
        ("ROWS_UPDATED", "NUMBER"),
        ("ROWS_DELETED", "NUMBER"),
        ("ROWS_UNLOADED", "NUMBER"),
        ("BYTES_DELETED", "NUMBER"),
        ("PARTITIONS_SCANNED", "NUMBER"),
        ("PARTITIONS_TOTAL", "NUMBER"),
        ("BYTES_SPILLED_TO_LOCAL_STORAGE", "NUMBER"),
        ("BYTES_SPILLED_TO_REMOTE_STORAGE", "NUMBER"),
        ("BYTES_SENT_OVER_THE_NETWORK", "NUMBER"),
        ("COMPILATION_TIME", "NUMBER"),
        ("EXECUTION_TIME", "NUMBER"),
        ("QUEUED_PROVISIONING_TIME", "NUMBER"),
        ("QUEUED_REPAIR_TIME", "NUMBER"),
        ("QUEUED_OVERLOAD_TIME", "NUMBER"),
        ("TRANSACTION_BLOCKED_TIME", "NUMBER"),
        ("OUTBOUND_DATA_TRANSFER_CLOUD", "VARCHAR"),
        ("OUTBOUND_DATA_TRANSFER_REGION", "VARCHAR"),
        ("OUTBOUND_DATA_TRANSFER_BYTES", "NUMBER"),
        ("INBOUND_DATA_TRANSFER_CLOUD", "VARCHAR"),
        ("INBOUND_DATA_TRANSFER_REGION", "VARCHAR"),
        ("INBOUND_DATA_TRANSFER_BYTES", "NUMBER"),
        ("LIST_EXTERNAL_FILES_TIME", "NUMBER"),
        ("CREDITS_USED_CLOUD_SERVICES", "NUMBER"),
        ("RELEASE_VERSION", "VARCHAR"),
        ("EXTERNAL_FUNCTION_TOTAL_INVOCATIONS", "NUMBER"),
        ("EXTERNAL_FUNCTION_TOTAL_SENT_ROWS", "NUMBER"),
        ("EXTERNAL_FUNCTION_TOTAL_RECEIVED_ROWS", "NUMBER"),
        ("EXTERNAL_FUNCTION_TOTAL_SENT_BYTES", "NUMBER"),
        ("EXTERNAL_FUNCTION_TOTAL_RECEIVED_BYTES", "NUMBER"),
        ("QUERY_LOAD_PERCENT", "NUMBER"),
        ("IS_CLIENT_GENERATED_STATEMENT", "BOOLEAN"),
        ("QUERY_ACCELERATION_BYTES_SCANNED", "NUMBER"),
        ("QUERY_ACCELERATION_PARTITIONS_SCANNED", "NUMBER"),
        ("QUERY_ACCELERATION_UPPER_LIMIT_SCALE_FACTOR", "NUMBER"),
        ("TRANSACTION_ID", "NUMBER"),
        ("CHILD_QUERIES_WAIT_TIME", "NUMBER"),
        ("ROLE_TYPE", "VARCHAR"),
        ("QUERY_HASH", "VARCHAR"),
        ("QUERY_HASH_VERSION", "NUMBER"),
        ("QUERY_PARAMETERIZED_HASH", "VARCHAR"),
        ("QUERY_PARAMETERIZED_HASH_VERSION", "NUMBER"),
        ("SECONDARY_ROLE_STATS", "VARCHAR"),
        ("ROWS_WRITTEN_TO_RESULT", "NUMBER"),
        ("QUERY_RETRY_TIME", "NUMBER"),
        ("QUERY_RETRY_CAUSE", "VARCHAR"),
        ("FAULT_HANDLING_TIME", "NUMBER"),
        ("USER_TYPE", "VARCHAR"),
        ("USER_DATABASE_NAME", "VARCHAR"),
        ("USER_DATABASE_ID", "NUMBER"),
        ("USER_SCHEMA_NAME", "VARCHAR"),
        ("USER_SCHEMA_ID", "NUMBER"),
        ("BIND_VALUES", "VARIANT"),
    ),
    SESSIONS: (
        ("SESSION_ID", "NUMBER"),
        ("CREATED_ON", "TIMESTAMP_LTZ"),
        ("USER_NAME", "VARCHAR"),
        ("AUTHENTICATION_METHOD", "VARCHAR"),
        ("LOGIN_EVENT_ID", "NUMBER"),
        ("CLIENT_APPLICATION_VERSION", "VARCHAR"),
        ("CLIENT_APPLICATION_ID", "VARCHAR"),
        ("CLIENT_ENVIRONMENT", "VARCHAR"),
        ("CLIENT_BUILD_ID", "VARCHAR"),
        ("CLIENT_VERSION", "VARCHAR"),
        ("CLOSED_REASON", "VARCHAR"),
    ),
}

# The column each view is bounded by when collected incrementally.
TIME_COLUMNS: dict[str, str] = {
    ACCESS_HISTORY: "QUERY_START_TIME",
    LOGIN_HISTORY: "EVENT_TIMESTAMP",
    QUERY_HISTORY: "START_TIME",
    SESSIONS: "CREATED_ON",
}

_DUCKDB_TYPES: dict[str, str] = {
    "VARCHAR": "VARCHAR",
    "NUMBER": "BIGINT",
    "FLOAT": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP_LTZ": "TIMESTAMPTZ",
    "ARRAY": "JSON",
    "OBJECT": "JSON",
    "VARIANT": "JSON",
}

# Documented as NUMBER but holding fractions in practice (credits such as 0.000005).
_DUCKDB_TYPE_OVERRIDES: dict[tuple[str, str], str] = {
    (QUERY_HISTORY, "CREDITS_USED_CLOUD_SERVICES"): "DECIMAL(38,9)",
}


def columns(view: str) -> tuple[str, ...]:
    """Column names of ``view``, in documented order."""
    return tuple(name for name, _ in VIEWS[view])


def qualified_name(view: str) -> str:
    """``SNOWFLAKE.ACCOUNT_USAGE.<view>``."""
    return f"{DATABASE}.{SCHEMA}.{view}"


def duckdb_type(view: str, column: str, snowflake_type: str) -> str:
    """The DuckDB type that stands in for a Snowflake column type."""
    if override := _DUCKDB_TYPE_OVERRIDES.get((view, column)):
        return override
    return _DUCKDB_TYPES[snowflake_type]


def create_table_sql(view: str, *, if_not_exists: bool = True) -> str:
    """DuckDB ``CREATE TABLE`` for one view, inside ``SNOWFLAKE.ACCOUNT_USAGE``."""
    body = ",\n".join(
        f"    {name} {duckdb_type(view, name, sf_type)}" for name, sf_type in VIEWS[view]
    )
    guard = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE TABLE {guard}{qualified_name(view)} (\n{body}\n)"


def create_tables(duck: duckdb.DuckDBPyConnection, *, replace: bool = False) -> None:
    """Create the (empty) views as tables; attach the SNOWFLAKE database if it is missing.

    ``replace`` drops existing tables first, so every column is back to its documented shape.
    """
    attached = duck.execute(
        "SELECT 1 FROM duckdb_databases() WHERE upper(database_name) = ?", [DATABASE]
    ).fetchone()
    if attached is None:
        duck.execute(f"ATTACH ':memory:' AS {DATABASE}")
    duck.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{SCHEMA}")
    for view in VIEWS:
        if replace:
            duck.execute(f"DROP TABLE IF EXISTS {qualified_name(view)}")
        duck.execute(create_table_sql(view))
