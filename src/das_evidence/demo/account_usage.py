"""Shape of the ``SNOWFLAKE.ACCOUNT_USAGE`` views the product collects, for the fake Snowflake.

``VIEWS`` holds the five history views, ``POLICY_VIEW_COLUMNS`` the eleven policy-state
views (named, in order, by ``POLICY_VIEWS``); ``ALL_VIEWS`` is both, and is what
:func:`create_tables` creates. Column names, order and Snowflake types of the history
views follow the Snowflake documentation:

* ACCESS_HISTORY: https://docs.snowflake.com/en/sql-reference/account-usage/access_history
* LOGIN_HISTORY:  https://docs.snowflake.com/en/sql-reference/account-usage/login_history
  (CLIENT_PRIVATE_LINK_ID: bundle 2025_01, BCR-1847, appended last;
  FIRST/SECOND_AUTHENTICATION_FACTOR_ID: bundle 2025_04, BCR-1966)
* QUERY_HISTORY:  https://docs.snowflake.com/en/sql-reference/account-usage/query_history
  (AUTHN_EVENT_ID between SESSION_ID and USER_NAME, BIND_VALUES after USER_SCHEMA_ID:
  bundle 2025_06, BCR-1980/2050; SECONDARY_ROLE_STATS .. FAULT_HANDLING_TIME: 2024_02, BCR-1497)
* SESSIONS:       https://docs.snowflake.com/en/sql-reference/account-usage/sessions
  (documents its types as "Number"/"String"; written here as NUMBER/VARCHAR)
* TRUST_CENTER_FINDINGS:
  https://docs.snowflake.com/en/sql-reference/account-usage/trust_center_findings
  (the ORGANIZATION_USAGE copy adds ORGANIZATION_NAME, ACCOUNT_LOCATOR, ACCOUNT_NAME first)

The policy-state views and their sources are listed above ``POLICY_VIEW_COLUMNS``.

Columns that exist only in ``READER_ACCOUNT_USAGE`` (READER_ACCOUNT_NAME,
READER_ACCOUNT_DELETED_ON) are left out. In DuckDB, which backs fakesnow, the
views are plain tables: TIMESTAMP_LTZ becomes TIMESTAMPTZ, ARRAY/OBJECT/VARIANT
become JSON (served to the connector as VARIANT), NUMBER becomes BIGINT and
VARCHAR(n) becomes VARCHAR.
"""

from __future__ import annotations

import duckdb

DATABASE = "SNOWFLAKE"
SCHEMA = "ACCOUNT_USAGE"

ACCESS_HISTORY = "ACCESS_HISTORY"
LOGIN_HISTORY = "LOGIN_HISTORY"
QUERY_HISTORY = "QUERY_HISTORY"
SESSIONS = "SESSIONS"
TRUST_CENTER_FINDINGS = "TRUST_CENTER_FINDINGS"

GRANTS_TO_ROLES = "GRANTS_TO_ROLES"
GRANTS_TO_USERS = "GRANTS_TO_USERS"
USERS = "USERS"
ROLES = "ROLES"
MASKING_POLICIES = "MASKING_POLICIES"
ROW_ACCESS_POLICIES = "ROW_ACCESS_POLICIES"
POLICY_REFERENCES = "POLICY_REFERENCES"
TAG_REFERENCES = "TAG_REFERENCES"
NETWORK_POLICIES = "NETWORK_POLICIES"
PASSWORD_POLICIES = "PASSWORD_POLICIES"  # noqa: S105 - a view name, not a password
SESSION_POLICIES = "SESSION_POLICIES"

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
    TRUST_CENTER_FINDINGS: (
        ("ID", "NUMBER"),
        ("PROVIDER_ID", "VARCHAR"),
        ("SCANNER_PACKAGE_ID", "VARCHAR"),
        ("SCANNER_ID", "VARCHAR"),
        ("SEVERITY", "VARCHAR"),
        ("STATE", "VARCHAR"),
        ("CREATED_ON", "TIMESTAMP_LTZ"),
        ("UPDATED_ON", "TIMESTAMP_LTZ"),
    ),
}

# Policy state: what the account's access controls are now, with history rows (revoked
# grants, dropped users/policies) marked by a deleted-on column. Sources, one page each under
# https://docs.snowflake.com/en/sql-reference/account-usage/ :
#   grants_to_roles, grants_to_users, users, roles, masking_policies, row_access_policies,
#   policy_references, tag_references, network_policies, password_policies, session_policies
# Read in full (a Markdown copy of the page, column table complete): GRANTS_TO_ROLES,
#   GRANTS_TO_USERS, USERS, ROLES, MASKING_POLICIES, ROW_ACCESS_POLICIES, NETWORK_POLICIES,
#   PASSWORD_POLICIES; SESSION_POLICIES (see its note).
# Read from search excerpts of the page only: POLICY_REFERENCES (the excerpts end in the
#   POLICY_STATUS notes) and TAG_REFERENCES (they end in the APPLY_METHOD value list). Columns
#   documented after those, if any, were not seen and are missing here.
# Copies of a page differ by age; the newest seen is followed:
# * USERS: EXT_AUTHN_DUO is BOOLEAN (older copies: VARIANT); HAS_MFA follows EXT_AUTHN_UID;
#   HAS_PAT, HAS_WORKLOAD_IDENTITY sit between DEFAULT_SECONDARY_ROLE and TYPE (bundle 2025_06,
#   BCR-2102); DATABASE_NAME .. IS_FROM_ORGANIZATION_USER are last.
# * SESSION_POLICIES: the newest copy adds SESSION_MAX_LIFESPAN_MINS and
#   SESSION_UI_MAX_LIFESPAN_MINS after SESSION_UI_IDLE_TIMEOUT_MINS; its excerpt stops at
#   LAST_ALTERED, the rest (DELETED) is from the full older copy.
# * NETWORK_POLICIES: ALLOWED_IP_LIST / BLOCKED_IP_LIST are VARCHAR (a comma-separated list,
#   not an ARRAY), appended last by bundle 2024_06 (BCR-1661).
# Documented oddities kept as written: PASSWORD_POLICIES and SESSION_POLICIES type SCHEMA_ID and
# DATABASE_ID as VARCHAR; POLICY_REFERENCES types POLICY_KIND as VARCHAR(17); the POLICY_COMMENT
# and OPTIONS of masking / row access policies and USERS.DISABLED / SNOWFLAKE_LOCK are VARIANT.
POLICY_VIEW_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    GRANTS_TO_ROLES: (
        ("CREATED_ON", "TIMESTAMP_LTZ"),
        ("MODIFIED_ON", "TIMESTAMP_LTZ"),
        ("PRIVILEGE", "VARCHAR"),
        ("GRANTED_ON", "VARCHAR"),
        ("NAME", "VARCHAR"),
        ("TABLE_CATALOG", "VARCHAR"),
        ("TABLE_SCHEMA", "VARCHAR"),
        ("GRANTED_TO", "VARCHAR"),
        ("GRANTEE_NAME", "VARCHAR"),
        ("GRANT_OPTION", "BOOLEAN"),
        ("GRANTED_BY", "VARCHAR"),
        ("DELETED_ON", "TIMESTAMP_LTZ"),
        ("GRANTED_BY_ROLE_TYPE", "VARCHAR"),
        ("OBJECT_INSTANCE", "VARCHAR"),
    ),
    GRANTS_TO_USERS: (
        ("CREATED_ON", "TIMESTAMP_LTZ"),
        ("DELETED_ON", "TIMESTAMP_LTZ"),
        ("ROLE", "VARCHAR"),
        ("GRANTED_TO", "VARCHAR"),
        ("GRANTEE_NAME", "VARCHAR"),
        ("GRANTED_BY", "VARCHAR"),
    ),
    USERS: (
        ("USER_ID", "NUMBER"),
        ("NAME", "VARCHAR"),
        ("CREATED_ON", "TIMESTAMP_LTZ"),
        ("DELETED_ON", "TIMESTAMP_LTZ"),
        ("LOGIN_NAME", "VARCHAR"),
        ("DISPLAY_NAME", "VARCHAR"),
        ("FIRST_NAME", "VARCHAR"),
        ("LAST_NAME", "VARCHAR"),
        ("EMAIL", "VARCHAR"),
        ("MUST_CHANGE_PASSWORD", "BOOLEAN"),
        ("HAS_PASSWORD", "BOOLEAN"),
        ("COMMENT", "VARCHAR"),
        ("DISABLED", "VARIANT"),
        ("SNOWFLAKE_LOCK", "VARIANT"),
        ("DEFAULT_WAREHOUSE", "VARCHAR"),
        ("DEFAULT_NAMESPACE", "VARCHAR"),
        ("DEFAULT_ROLE", "VARCHAR"),
        ("EXT_AUTHN_DUO", "BOOLEAN"),
        ("EXT_AUTHN_UID", "VARCHAR"),
        ("HAS_MFA", "BOOLEAN"),
        ("BYPASS_MFA_UNTIL", "TIMESTAMP_LTZ"),
        ("LAST_SUCCESS_LOGIN", "TIMESTAMP_LTZ"),
        ("EXPIRES_AT", "TIMESTAMP_LTZ"),
        ("LOCKED_UNTIL_TIME", "TIMESTAMP_LTZ"),
        ("HAS_RSA_PUBLIC_KEY", "BOOLEAN"),
        ("PASSWORD_LAST_SET_TIME", "TIMESTAMP_LTZ"),
        ("OWNER", "VARCHAR"),
        ("DEFAULT_SECONDARY_ROLE", "VARCHAR"),
        ("HAS_PAT", "BOOLEAN"),
        ("HAS_WORKLOAD_IDENTITY", "BOOLEAN"),
        ("TYPE", "VARCHAR"),
        ("DATABASE_NAME", "VARCHAR"),
        ("DATABASE_ID", "NUMBER"),
        ("SCHEMA_NAME", "VARCHAR"),
        ("SCHEMA_ID", "NUMBER"),
        ("IS_FROM_ORGANIZATION_USER", "BOOLEAN"),
    ),
    ROLES: (
        ("ROLE_ID", "NUMBER"),
        ("CREATED_ON", "TIMESTAMP_LTZ"),
        ("DELETED_ON", "TIMESTAMP_LTZ"),
        ("NAME", "VARCHAR"),
        ("COMMENT", "VARCHAR"),
        ("OWNER", "VARCHAR"),
        ("ROLE_TYPE", "VARCHAR"),
        ("ROLE_DATABASE_NAME", "VARCHAR"),
        ("ROLE_INSTANCE_ID", "NUMBER"),
        ("OWNER_ROLE_TYPE", "VARCHAR"),
        ("IS_FROM_ORGANIZATION_USER_GROUP", "BOOLEAN"),
    ),
    MASKING_POLICIES: (
        ("POLICY_NAME", "VARCHAR"),
        ("POLICY_ID", "NUMBER"),
        ("POLICY_SCHEMA_ID", "NUMBER"),
        ("POLICY_SCHEMA", "VARCHAR"),
        ("POLICY_CATALOG_ID", "NUMBER"),
        ("POLICY_CATALOG", "VARCHAR"),
        ("POLICY_OWNER", "VARCHAR"),
        ("POLICY_SIGNATURE", "VARCHAR"),
        ("POLICY_RETURN_TYPE", "VARCHAR"),
        ("POLICY_BODY", "VARCHAR"),
        ("POLICY_COMMENT", "VARIANT"),
        ("CREATED", "TIMESTAMP_LTZ"),
        ("LAST_ALTERED", "TIMESTAMP_LTZ"),
        ("DELETED", "TIMESTAMP_LTZ"),
        ("OWNER_ROLE_TYPE", "VARCHAR"),
        ("OPTIONS", "VARIANT"),
    ),
    ROW_ACCESS_POLICIES: (
        ("POLICY_NAME", "VARCHAR"),
        ("POLICY_ID", "NUMBER"),
        ("POLICY_SCHEMA_ID", "NUMBER"),
        ("POLICY_SCHEMA", "VARCHAR"),
        ("POLICY_CATALOG_ID", "NUMBER"),
        ("POLICY_CATALOG", "VARCHAR"),
        ("POLICY_OWNER", "VARCHAR"),
        ("POLICY_SIGNATURE", "VARCHAR"),
        ("POLICY_RETURN_TYPE", "VARCHAR"),
        ("POLICY_BODY", "VARCHAR"),
        ("POLICY_COMMENT", "VARIANT"),
        ("CREATED", "TIMESTAMP_LTZ"),
        ("LAST_ALTERED", "TIMESTAMP_LTZ"),
        ("DELETED", "TIMESTAMP_LTZ"),
        ("OWNER_ROLE_TYPE", "VARCHAR"),
        ("OPTIONS", "VARIANT"),
    ),
    POLICY_REFERENCES: (
        ("POLICY_DB", "VARCHAR"),
        ("POLICY_SCHEMA", "VARCHAR"),
        ("POLICY_ID", "NUMBER"),
        ("POLICY_NAME", "VARCHAR"),
        ("POLICY_KIND", "VARCHAR(17)"),
        ("REF_DATABASE_NAME", "VARCHAR"),
        ("REF_SCHEMA_NAME", "VARCHAR"),
        ("REF_ENTITY_NAME", "VARCHAR"),
        ("REF_ENTITY_DOMAIN", "VARCHAR"),
        ("REF_COLUMN_NAME", "VARCHAR"),
        ("REF_ARG_COLUMN_NAMES", "VARCHAR"),
        ("TAG_DATABASE", "VARCHAR"),
        ("TAG_SCHEMA", "VARCHAR"),
        ("TAG_NAME", "VARCHAR"),
        ("POLICY_STATUS", "VARCHAR"),
    ),
    TAG_REFERENCES: (
        ("TAG_DATABASE", "VARCHAR"),
        ("TAG_SCHEMA", "VARCHAR"),
        ("TAG_ID", "NUMBER"),
        ("TAG_NAME", "VARCHAR"),
        ("TAG_VALUE", "VARCHAR"),
        ("OBJECT_DATABASE", "VARCHAR"),
        ("OBJECT_SCHEMA", "VARCHAR"),
        ("OBJECT_ID", "NUMBER"),
        ("OBJECT_NAME", "VARCHAR"),
        ("OBJECT_DELETED", "TIMESTAMP_LTZ"),
        ("DOMAIN", "VARCHAR"),
        ("COLUMN_ID", "NUMBER"),
        ("COLUMN_NAME", "VARCHAR"),
        ("APPLY_METHOD", "VARCHAR"),
    ),
    NETWORK_POLICIES: (
        ("ID", "NUMBER"),
        ("NAME", "VARCHAR"),
        ("OWNER", "VARCHAR"),
        ("OWNER_ROLE_TYPE", "VARCHAR"),
        ("COMMENT", "VARCHAR"),
        ("CREATED", "TIMESTAMP_LTZ"),
        ("LAST_ALTERED", "TIMESTAMP_LTZ"),
        ("DELETED", "TIMESTAMP_LTZ"),
        ("ALLOWED_IP_LIST", "VARCHAR"),
        ("BLOCKED_IP_LIST", "VARCHAR"),
    ),
    PASSWORD_POLICIES: (
        ("NAME", "VARCHAR"),
        ("ID", "NUMBER"),
        ("SCHEMA_ID", "VARCHAR"),
        ("SCHEMA", "VARCHAR"),
        ("DATABASE_ID", "VARCHAR"),
        ("DATABASE", "VARCHAR"),
        ("OWNER", "VARCHAR"),
        ("OWNER_ROLE_TYPE", "VARCHAR"),
        ("PASSWORD_MIN_LENGTH", "NUMBER"),
        ("PASSWORD_MAX_LENGTH", "NUMBER"),
        ("PASSWORD_MIN_UPPER_CASE_CHARS", "NUMBER"),
        ("PASSWORD_MIN_LOWER_CASE_CHARS", "NUMBER"),
        ("PASSWORD_MIN_NUMERIC_CHARS", "NUMBER"),
        ("PASSWORD_MIN_SPECIAL_CHARS", "NUMBER"),
        ("PASSWORD_MIN_AGE_DAYS", "NUMBER"),
        ("PASSWORD_MAX_AGE_DAYS", "NUMBER"),
        ("PASSWORD_MAX_RETRIES", "NUMBER"),
        ("PASSWORD_LOCKOUT_TIME_MINS", "NUMBER"),
        ("COMMENT", "VARCHAR"),
        ("CREATED", "TIMESTAMP_LTZ"),
        ("LAST_ALTERED", "TIMESTAMP_LTZ"),
        ("DELETED", "TIMESTAMP_LTZ"),
        ("PASSWORD_HISTORY", "NUMBER"),
    ),
    SESSION_POLICIES: (
        ("ID", "NUMBER"),
        ("NAME", "VARCHAR"),
        ("SCHEMA_ID", "VARCHAR"),
        ("SCHEMA", "VARCHAR"),
        ("DATABASE_ID", "VARCHAR"),
        ("DATABASE", "VARCHAR"),
        ("OWNER", "VARCHAR"),
        ("OWNER_ROLE_TYPE", "VARCHAR"),
        ("SESSION_IDLE_TIMEOUT_MINS", "NUMBER"),
        ("SESSION_UI_IDLE_TIMEOUT_MINS", "NUMBER"),
        ("SESSION_MAX_LIFESPAN_MINS", "NUMBER"),
        ("SESSION_UI_MAX_LIFESPAN_MINS", "NUMBER"),
        ("COMMENT", "VARCHAR"),
        ("CREATED", "TIMESTAMP_LTZ"),
        ("LAST_ALTERED", "TIMESTAMP_LTZ"),
        ("DELETED", "TIMESTAMP_LTZ"),
    ),
}

# The eleven policy-state views, in the order above.
POLICY_VIEWS: tuple[str, ...] = tuple(POLICY_VIEW_COLUMNS)

# Every view the fake serves: the history views, then the policy-state views.
ALL_VIEWS: dict[str, tuple[tuple[str, str], ...]] = {**VIEWS, **POLICY_VIEW_COLUMNS}

# The column each view is bounded by when collected incrementally.
TIME_COLUMNS: dict[str, str] = {
    ACCESS_HISTORY: "QUERY_START_TIME",
    LOGIN_HISTORY: "EVENT_TIMESTAMP",
    QUERY_HISTORY: "START_TIME",
    SESSIONS: "CREATED_ON",
    TRUST_CENTER_FINDINGS: "UPDATED_ON",
}

_DUCKDB_TYPES: dict[str, str] = {
    "VARCHAR": "VARCHAR",
    "VARCHAR(17)": "VARCHAR",
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
    """Column names of ``view`` (a history or policy-state view), in documented order."""
    return tuple(name for name, _ in ALL_VIEWS[view])


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
        f"    {name} {duckdb_type(view, name, sf_type)}" for name, sf_type in ALL_VIEWS[view]
    )
    guard = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE TABLE {guard}{qualified_name(view)} (\n{body}\n)"


def create_tables(duck: duckdb.DuckDBPyConnection, *, replace: bool = False) -> None:
    """Create all (empty) views as tables; attach the SNOWFLAKE database if it is missing.

    ``replace`` drops existing tables first, so every column is back to its documented shape.
    """
    attached = duck.execute(
        "SELECT 1 FROM duckdb_databases() WHERE upper(database_name) = ?", [DATABASE]
    ).fetchone()
    if attached is None:
        duck.execute(f"ATTACH ':memory:' AS {DATABASE}")
    duck.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{SCHEMA}")
    for view in ALL_VIEWS:
        if replace:
            duck.execute(f"DROP TABLE IF EXISTS {qualified_name(view)}")
        duck.execute(create_table_sql(view))
