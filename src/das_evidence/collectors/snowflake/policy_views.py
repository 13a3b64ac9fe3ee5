"""The pinned shape of the ACCOUNT_USAGE views a policy-state snapshot reads, and the
SHOW/DESCRIBE commands it archives as returned.

Columns follow Snowflake's documentation of each view
(https://docs.snowflake.com/en/sql-reference/account-usage). Each view also
names its natural key (how a row is recognised in the next snapshot), the
column that marks a row as deleted (deleted rows are evidence, but not part of
the current state that changes compare), and volatile columns that change
without any control changing (a user's last login) and so are not compared.

SHOW and DESCRIBE results (:data:`SHOW_COMMANDS`) have no pinned schema: they are
archived with the columns Snowflake returns (lowercase names), typed per column from
the result (see ``SnowflakeSession.show``). Each command names its natural key and
volatile columns the same way a view does, so ``changes.parquet`` covers both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from das_evidence.collectors.snowflake.views import BOOL, FLOAT, INT, JSON, TEXT, TS, Column

_ARROW = {
    "VARCHAR": TEXT,
    "TEXT": TEXT,
    "NUMBER": INT,
    "BOOLEAN": BOOL,
    "TIMESTAMP_LTZ": TS,
    "ARRAY": JSON,
    "OBJECT": JSON,
    "VARIANT": JSON,
    "FLOAT": FLOAT,
}


class Compared(Protocol):
    """What ``diff_tables`` needs of a snapshot file: its name in ``changes.parquet``, the
    natural key, the column marking deleted rows, and the columns not compared."""

    @property
    def view(self) -> str: ...
    @property
    def key(self) -> tuple[str, ...]: ...
    @property
    def deleted(self) -> str | None: ...
    @property
    def volatile(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class PolicyView:
    view: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    deleted: str | None = None
    volatile: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        return self.view.lower()

    @property
    def qualified(self) -> str:
        return f"SNOWFLAKE.ACCOUNT_USAGE.{self.view}"

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])


def _v(
    view: str,
    spec: str,
    key: tuple[str, ...],
    deleted: str | None = None,
    volatile: tuple[str, ...] = (),
) -> PolicyView:
    cols = []
    for item in spec.split(","):
        name, sf_type = item.split()
        cols.append(Column(name, sf_type, _ARROW[sf_type]))
    return PolicyView(view, tuple(cols), key, deleted, volatile)


POLICY_VIEWS: tuple[PolicyView, ...] = (
    _v(
        "GRANTS_TO_ROLES",
        "CREATED_ON TIMESTAMP_LTZ, MODIFIED_ON TIMESTAMP_LTZ, PRIVILEGE VARCHAR, "
        "GRANTED_ON VARCHAR, NAME VARCHAR, TABLE_CATALOG VARCHAR, TABLE_SCHEMA VARCHAR, "
        "GRANTED_TO VARCHAR, GRANTEE_NAME VARCHAR, GRANT_OPTION BOOLEAN, GRANTED_BY VARCHAR, "
        "DELETED_ON TIMESTAMP_LTZ, GRANTED_BY_ROLE_TYPE VARCHAR, OBJECT_INSTANCE VARCHAR",
        key=(
            "PRIVILEGE",
            "GRANTED_ON",
            "TABLE_CATALOG",
            "TABLE_SCHEMA",
            "NAME",
            "GRANTED_TO",
            "GRANTEE_NAME",
        ),
        deleted="DELETED_ON",
    ),
    _v(
        "GRANTS_TO_USERS",
        "CREATED_ON TIMESTAMP_LTZ, DELETED_ON TIMESTAMP_LTZ, ROLE VARCHAR, "
        "GRANTED_TO VARCHAR, GRANTEE_NAME VARCHAR, GRANTED_BY VARCHAR",
        key=("ROLE", "GRANTED_TO", "GRANTEE_NAME"),
        deleted="DELETED_ON",
    ),
    _v(
        "USERS",
        "USER_ID NUMBER, NAME VARCHAR, CREATED_ON TIMESTAMP_LTZ, DELETED_ON TIMESTAMP_LTZ, "
        "LOGIN_NAME VARCHAR, DISPLAY_NAME VARCHAR, FIRST_NAME VARCHAR, LAST_NAME VARCHAR, "
        "EMAIL VARCHAR, MUST_CHANGE_PASSWORD BOOLEAN, HAS_PASSWORD BOOLEAN, COMMENT VARCHAR, "
        "DISABLED VARIANT, SNOWFLAKE_LOCK VARIANT, DEFAULT_WAREHOUSE VARCHAR, "
        "DEFAULT_NAMESPACE VARCHAR, DEFAULT_ROLE VARCHAR, EXT_AUTHN_DUO BOOLEAN, "
        "EXT_AUTHN_UID VARCHAR, HAS_MFA BOOLEAN, BYPASS_MFA_UNTIL TIMESTAMP_LTZ, "
        "LAST_SUCCESS_LOGIN TIMESTAMP_LTZ, EXPIRES_AT TIMESTAMP_LTZ, "
        "LOCKED_UNTIL_TIME TIMESTAMP_LTZ, HAS_RSA_PUBLIC_KEY BOOLEAN, "
        "PASSWORD_LAST_SET_TIME TIMESTAMP_LTZ, OWNER VARCHAR, "
        "DEFAULT_SECONDARY_ROLE VARCHAR, HAS_PAT BOOLEAN, HAS_WORKLOAD_IDENTITY BOOLEAN, "
        "TYPE VARCHAR, DATABASE_NAME VARCHAR, DATABASE_ID NUMBER, SCHEMA_NAME VARCHAR, "
        "SCHEMA_ID NUMBER, IS_FROM_ORGANIZATION_USER BOOLEAN",
        key=("USER_ID",),
        deleted="DELETED_ON",
        volatile=("LAST_SUCCESS_LOGIN", "LOCKED_UNTIL_TIME"),
    ),
    _v(
        "ROLES",
        "ROLE_ID NUMBER, CREATED_ON TIMESTAMP_LTZ, DELETED_ON TIMESTAMP_LTZ, NAME VARCHAR, "
        "COMMENT VARCHAR, OWNER VARCHAR, ROLE_TYPE VARCHAR, ROLE_DATABASE_NAME VARCHAR, "
        "ROLE_INSTANCE_ID NUMBER, OWNER_ROLE_TYPE VARCHAR, "
        "IS_FROM_ORGANIZATION_USER_GROUP BOOLEAN",
        key=("ROLE_ID",),
        deleted="DELETED_ON",
    ),
    _v(
        "MASKING_POLICIES",
        "POLICY_NAME VARCHAR, POLICY_ID NUMBER, POLICY_SCHEMA_ID NUMBER, "
        "POLICY_SCHEMA VARCHAR, POLICY_CATALOG_ID NUMBER, POLICY_CATALOG VARCHAR, "
        "POLICY_OWNER VARCHAR, POLICY_SIGNATURE VARCHAR, POLICY_RETURN_TYPE VARCHAR, "
        "POLICY_BODY VARCHAR, POLICY_COMMENT VARIANT, CREATED TIMESTAMP_LTZ, "
        "LAST_ALTERED TIMESTAMP_LTZ, DELETED TIMESTAMP_LTZ, OWNER_ROLE_TYPE VARCHAR, "
        "OPTIONS VARIANT",
        key=("POLICY_ID",),
        deleted="DELETED",
    ),
    _v(
        "ROW_ACCESS_POLICIES",
        "POLICY_NAME VARCHAR, POLICY_ID NUMBER, POLICY_SCHEMA_ID NUMBER, "
        "POLICY_SCHEMA VARCHAR, POLICY_CATALOG_ID NUMBER, POLICY_CATALOG VARCHAR, "
        "POLICY_OWNER VARCHAR, POLICY_SIGNATURE VARCHAR, POLICY_RETURN_TYPE VARCHAR, "
        "POLICY_BODY VARCHAR, POLICY_COMMENT VARIANT, CREATED TIMESTAMP_LTZ, "
        "LAST_ALTERED TIMESTAMP_LTZ, DELETED TIMESTAMP_LTZ, OWNER_ROLE_TYPE VARCHAR, "
        "OPTIONS VARIANT",
        key=("POLICY_ID",),
        deleted="DELETED",
    ),
    _v(
        "POLICY_REFERENCES",
        "POLICY_DB VARCHAR, POLICY_SCHEMA VARCHAR, POLICY_ID NUMBER, POLICY_NAME VARCHAR, "
        "POLICY_KIND VARCHAR, REF_DATABASE_NAME VARCHAR, REF_SCHEMA_NAME VARCHAR, "
        "REF_ENTITY_NAME VARCHAR, REF_ENTITY_DOMAIN VARCHAR, REF_COLUMN_NAME VARCHAR, "
        "REF_ARG_COLUMN_NAMES VARCHAR, TAG_DATABASE VARCHAR, TAG_SCHEMA VARCHAR, "
        "TAG_NAME VARCHAR, POLICY_STATUS VARCHAR",
        key=(
            "POLICY_ID",
            "REF_DATABASE_NAME",
            "REF_SCHEMA_NAME",
            "REF_ENTITY_NAME",
            "REF_ENTITY_DOMAIN",
            "REF_COLUMN_NAME",
        ),
    ),
    _v(
        "TAG_REFERENCES",
        "TAG_DATABASE VARCHAR, TAG_SCHEMA VARCHAR, TAG_ID NUMBER, TAG_NAME VARCHAR, "
        "TAG_VALUE VARCHAR, OBJECT_DATABASE VARCHAR, OBJECT_SCHEMA VARCHAR, "
        "OBJECT_ID NUMBER, OBJECT_NAME VARCHAR, OBJECT_DELETED TIMESTAMP_LTZ, "
        "DOMAIN VARCHAR, COLUMN_ID NUMBER, COLUMN_NAME VARCHAR, APPLY_METHOD VARCHAR",
        key=(
            "TAG_DATABASE",
            "TAG_SCHEMA",
            "TAG_NAME",
            "OBJECT_DATABASE",
            "OBJECT_SCHEMA",
            "OBJECT_NAME",
            "DOMAIN",
            "COLUMN_NAME",
        ),
        deleted="OBJECT_DELETED",
    ),
    _v(
        "NETWORK_POLICIES",
        "ID NUMBER, NAME VARCHAR, OWNER VARCHAR, OWNER_ROLE_TYPE VARCHAR, COMMENT VARCHAR, "
        "CREATED TIMESTAMP_LTZ, LAST_ALTERED TIMESTAMP_LTZ, DELETED TIMESTAMP_LTZ, "
        "ALLOWED_IP_LIST VARCHAR, BLOCKED_IP_LIST VARCHAR",
        key=("ID",),
        deleted="DELETED",
    ),
    _v(
        "PASSWORD_POLICIES",
        "NAME VARCHAR, ID NUMBER, SCHEMA_ID VARCHAR, SCHEMA VARCHAR, DATABASE_ID VARCHAR, "
        "DATABASE VARCHAR, OWNER VARCHAR, OWNER_ROLE_TYPE VARCHAR, "
        "PASSWORD_MIN_LENGTH NUMBER, PASSWORD_MAX_LENGTH NUMBER, "
        "PASSWORD_MIN_UPPER_CASE_CHARS NUMBER, PASSWORD_MIN_LOWER_CASE_CHARS NUMBER, "
        "PASSWORD_MIN_NUMERIC_CHARS NUMBER, PASSWORD_MIN_SPECIAL_CHARS NUMBER, "
        "PASSWORD_MIN_AGE_DAYS NUMBER, PASSWORD_MAX_AGE_DAYS NUMBER, "
        "PASSWORD_MAX_RETRIES NUMBER, PASSWORD_LOCKOUT_TIME_MINS NUMBER, COMMENT VARCHAR, "
        "CREATED TIMESTAMP_LTZ, LAST_ALTERED TIMESTAMP_LTZ, DELETED TIMESTAMP_LTZ, "
        "PASSWORD_HISTORY NUMBER",
        key=("ID",),
        deleted="DELETED",
    ),
    _v(
        "SESSION_POLICIES",
        "ID NUMBER, NAME VARCHAR, SCHEMA_ID VARCHAR, SCHEMA VARCHAR, DATABASE_ID VARCHAR, "
        "DATABASE VARCHAR, OWNER VARCHAR, OWNER_ROLE_TYPE VARCHAR, "
        "SESSION_IDLE_TIMEOUT_MINS NUMBER, SESSION_UI_IDLE_TIMEOUT_MINS NUMBER, "
        "SESSION_MAX_LIFESPAN_MINS NUMBER, SESSION_UI_MAX_LIFESPAN_MINS NUMBER, "
        "COMMENT VARCHAR, CREATED TIMESTAMP_LTZ, LAST_ALTERED TIMESTAMP_LTZ, "
        "DELETED TIMESTAMP_LTZ",
        key=("ID",),
        deleted="DELETED",
    ),
    # https://docs.snowflake.com/en/sql-reference/account-usage/tables (ROW_COUNT, BYTES and
    # the "not applicable" columns are left out; LAST_ALTERED moves with every DML).
    _v(
        "TABLES",
        "TABLE_ID NUMBER, TABLE_NAME VARCHAR, TABLE_SCHEMA_ID NUMBER, TABLE_SCHEMA VARCHAR, "
        "TABLE_CATALOG_ID NUMBER, TABLE_CATALOG VARCHAR, TABLE_OWNER VARCHAR, "
        "TABLE_TYPE VARCHAR, IS_TRANSIENT VARCHAR, RETENTION_TIME NUMBER, "
        "CREATED TIMESTAMP_LTZ, LAST_ALTERED TIMESTAMP_LTZ, DELETED TIMESTAMP_LTZ",
        key=("TABLE_ID",),
        deleted="DELETED",
        volatile=("LAST_ALTERED",),
    ),
    # https://docs.snowflake.com/en/sql-reference/account-usage/procedures documents no
    # PROCEDURE_ID: a procedure is its database, schema, name and argument signature.
    # PROCEDURE_DEFINITION is left out (code, and sometimes literals that are secrets).
    _v(
        "PROCEDURES",
        "PROCEDURE_NAME VARCHAR, PROCEDURE_SCHEMA_ID NUMBER, PROCEDURE_SCHEMA VARCHAR, "
        "PROCEDURE_CATALOG_ID NUMBER, PROCEDURE_CATALOG VARCHAR, PROCEDURE_OWNER VARCHAR, "
        "ARGUMENT_SIGNATURE VARCHAR, DATA_TYPE VARCHAR, PROCEDURE_LANGUAGE VARCHAR, "
        "CREATED TIMESTAMP_LTZ, LAST_ALTERED TIMESTAMP_LTZ, DELETED TIMESTAMP_LTZ, "
        "OWNER_ROLE_TYPE VARCHAR",
        key=("PROCEDURE_CATALOG", "PROCEDURE_SCHEMA", "PROCEDURE_NAME", "ARGUMENT_SIGNATURE"),
        deleted="DELETED",
    ),
)

# Personal data in USERS and what happens to it by default: `name` and
# `login_name` are kept (they join with LOGIN_HISTORY); the rest is replaced by
# a keyed HMAC unless configured otherwise (keep, hmac, drop).
USERS_PERSONAL_COLUMNS = {
    "EMAIL": "hmac",
    "FIRST_NAME": "hmac",
    "LAST_NAME": "hmac",
    "DISPLAY_NAME": "hmac",
    "NAME": "keep",
    "LOGIN_NAME": "keep",
}


#: What the collector's role needs for a SHOW/DESCRIBE, named in not_evidenced reasons,
#: doctor output and deploy/snowflake/setup.sql.
_OWNS_USERS = (
    "OWNERSHIP on each user (DESCRIBE USER and SHOW PARAMETERS IN USER show another "
    "user's properties only to the role owning it, or a role above it)"
)


@dataclass(frozen=True)
class ShowCommand:
    """One SHOW/DESCRIBE whose result a snapshot archives as returned.

    ``per_user`` is None for an account-wide command; otherwise ``command`` is a template
    with ``{user}`` (a quoted identifier) run once per ``"service"`` user or once per
    ``"key_pair"`` user, and a ``user_name`` column is added first. ``keep_properties``
    filters DESCRIBE rows (DESCRIBE USER: key fingerprints and times only; the rest is
    personal data).
    """

    view: str
    command: str
    key: tuple[str, ...]
    grant: str
    volatile: tuple[str, ...] = ()
    per_user: str | None = None
    #: DESCRIBE: keep only rows whose ``property`` starts with the first and ends with one
    #: of the others; None keeps every row.
    keep_properties: tuple[str, tuple[str, ...]] | None = None
    #: Whether the result lists only what the role has a privilege on (most SHOWs do).
    scoped: bool = True
    deleted: str | None = None

    @property
    def file(self) -> str:
        return self.view.lower()

    def keeps(self, prop: object) -> bool:
        if self.keep_properties is None:
            return True
        prefix, suffixes = self.keep_properties
        text = str(prop or "")
        return text.startswith(prefix) and text.endswith(suffixes)

    def sql(self, user: str | None = None) -> str:
        if self.per_user is None:
            return self.command
        if user is None:
            raise ValueError(f"{self.view} runs once per user")
        return self.command.format(user=quote_identifier(user))


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted Snowflake identifier (double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


#: Snowflake returns at most this many rows for a SHOW without LIMIT ... FROM.
SHOW_ROW_LIMIT = 10_000

#: DESCRIBE USER rows kept: RSA_PUBLIC_KEY_FP, RSA_PUBLIC_KEY_LAST_SET_TIME, and the same
#: for RSA_PUBLIC_KEY_2 (the rotation slot).
RSA_KEY_PROPERTIES: tuple[str, tuple[str, ...]] = ("RSA_PUBLIC_KEY", ("_FP", "_LAST_SET_TIME"))

SHOW_COMMANDS: tuple[ShowCommand, ...] = (
    ShowCommand(
        "SHOW_PARAMETERS_IN_ACCOUNT",
        "SHOW PARAMETERS IN ACCOUNT",
        key=("key",),
        grant="no privilege: any role can list the account's parameters",
        scoped=False,
    ),
    ShowCommand(
        "SHOW_SECURITY_INTEGRATIONS",
        "SHOW SECURITY INTEGRATIONS",
        key=("name",),
        grant="USAGE on each security integration (GRANT USAGE ON INTEGRATION <name> TO ROLE "
        "<role>); without it SHOW lists none",
    ),
    ShowCommand(
        "SHOW_STAGES",
        "SHOW STAGES IN ACCOUNT",
        key=("database_name", "schema_name", "name"),
        grant="USAGE on the databases and schemas and a privilege on each stage "
        "(GRANT USAGE ON FUTURE STAGES IN DATABASE <db> TO ROLE <role>)",
    ),
    ShowCommand(
        "SHOW_RESOURCE_MONITORS",
        "SHOW RESOURCE MONITORS",
        key=("name",),
        volatile=("used_credits", "remaining_credits"),
        grant="MONITOR on each resource monitor (GRANT MONITOR ON RESOURCE MONITOR <name> "
        "TO ROLE <role>)",
    ),
    ShowCommand(
        "SHOW_WAREHOUSES",
        "SHOW WAREHOUSES",
        key=("name",),
        volatile=(
            "state",
            "started_clusters",
            "running",
            "queued",
            "is_default",
            "is_current",
            "available",
            "provisioning",
            "quiescing",
            "other",
            "resumed_on",
            "updated_on",
            "actives",
            "pendings",
            "failed",
            "suspended",
        ),
        grant="MONITOR on each warehouse (GRANT MONITOR ON WAREHOUSE <name> TO ROLE <role>)",
    ),
    ShowCommand(
        "SHOW_TASKS",
        "SHOW TASKS IN ACCOUNT",
        key=("database_name", "schema_name", "name"),
        volatile=("state", "last_committed_on", "last_suspended_on", "last_suspended_reason"),
        grant="MONITOR on the tasks (GRANT MONITOR ON FUTURE TASKS IN DATABASE <db> TO ROLE "
        "<role>, and USAGE on the database and schemas)",
    ),
    ShowCommand(
        "SHOW_USER_NETWORK_POLICIES",
        "SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN USER {user}",
        key=("user_name", "key"),
        grant=_OWNS_USERS,
        per_user="service",
        scoped=False,
    ),
    ShowCommand(
        "DESCRIBE_USER_KEYS",
        "DESCRIBE USER {user}",
        key=("user_name", "property"),
        grant=_OWNS_USERS,
        per_user="key_pair",
        keep_properties=RSA_KEY_PROPERTIES,
        scoped=False,
    ),
)
