"""The pinned shape of the ACCOUNT_USAGE views a policy-state snapshot reads.

Columns follow Snowflake's documentation of each view
(https://docs.snowflake.com/en/sql-reference/account-usage). Each view also
names its natural key (how a row is recognised in the next snapshot), the
column that marks a row as deleted (deleted rows are evidence, but not part of
the current state that changes compare), and volatile columns that change
without any control changing (a user's last login) and so are not compared.
"""

from __future__ import annotations

from dataclasses import dataclass

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
