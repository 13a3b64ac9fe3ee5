"""The SHOW/DESCRIBE commands fakesnow lacks, answered from seeded DuckDB tables.

The policy-state snapshot archives eight SHOW/DESCRIBE results
(``collectors.snowflake.policy_views.SHOW_COMMANDS``). fakesnow answers none of them as
Snowflake does (SHOW PARAMETERS, SHOW WAREHOUSES and SHOW STAGES exist there, with other
columns; the rest do not parse). :func:`rewrite` turns exactly those commands into a
``SELECT`` of a table in ``SNOWFLAKE.FAKE_SHOW`` whose lowercase columns and types are the
ones Snowflake documents for the command's output:

* SHOW PARAMETERS: https://docs.snowflake.com/en/sql-reference/sql/show-parameters
* SHOW SECURITY INTEGRATIONS / SHOW INTEGRATIONS:
  https://docs.snowflake.com/en/sql-reference/sql/show-integrations
* SHOW STAGES: https://docs.snowflake.com/en/sql-reference/sql/show-stages
* SHOW RESOURCE MONITORS: https://docs.snowflake.com/en/sql-reference/sql/show-resource-monitors
* SHOW WAREHOUSES: https://docs.snowflake.com/en/sql-reference/sql/show-warehouses
* SHOW TASKS: https://docs.snowflake.com/en/sql-reference/sql/show-tasks
* DESCRIBE USER: https://docs.snowflake.com/en/sql-reference/sql/desc-user (property,
  value, default, description, as accounts return it before the property_type /
  property_value / property_default output change)

Per-user commands read ``USER_PARAMETERS`` / ``USER_PROPERTIES`` (a ``user_name`` column
plus the command's own). A command whose table is missing fails as Snowflake fails a
role without the privilege (``003001 Insufficient privileges``), so tests drop a table to
play a role that cannot run it (:func:`deny`); DESCRIBE/SHOW ... IN USER for a user with
no rows fails with ``002003 User '...' does not exist or not authorized``.

The ACCOUNT_USAGE views TABLES and PROCEDURES are created here too (``EXTRA_VIEWS``):
they are part of the same CIS evidence and ``account_usage`` holds the views of the
other collectors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import duckdb

from das_evidence.demo import account_usage as au

SCHEMA: Final = "FAKE_SHOW"

_TS = "TIMESTAMPTZ"
_T = "VARCHAR"

# Output columns of each command, in Snowflake's order, with the DuckDB type standing in
# for Snowflake's (TIMESTAMP_LTZ -> TIMESTAMPTZ, BOOLEAN, NUMBER -> DECIMAL, text).
_PARAMETER_COLUMNS: Final = (
    ("key", _T),
    ("value", _T),
    ("default", _T),
    ("level", _T),
    ("description", _T),
    ("type", _T),
)
TABLES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "PARAMETERS_IN_ACCOUNT": _PARAMETER_COLUMNS,
    "SECURITY_INTEGRATIONS": (
        ("name", _T),
        ("type", _T),
        ("category", _T),
        ("enabled", "BOOLEAN"),
        ("comment", _T),
        ("created_on", _TS),
    ),
    "STAGES": (
        ("created_on", _TS),
        ("name", _T),
        ("database_name", _T),
        ("schema_name", _T),
        ("url", _T),
        ("has_credentials", _T),
        ("has_encryption_key", _T),
        ("owner", _T),
        ("comment", _T),
        ("region", _T),
        ("type", _T),
        ("cloud", _T),
        ("notification_channel", _T),
        ("storage_integration", _T),
        ("endpoint", _T),
        ("owner_role_type", _T),
        ("directory_enabled", _T),
    ),
    "RESOURCE_MONITORS": (
        ("name", _T),
        ("credit_quota", "DECIMAL(38,2)"),
        ("used_credits", "DECIMAL(38,2)"),
        ("remaining_credits", "DECIMAL(38,2)"),
        ("level", _T),
        ("frequency", _T),
        ("start_time", _TS),
        ("end_time", _TS),
        ("notify_at", _T),
        ("suspend_at", _T),
        ("suspend_immediately_at", _T),
        ("created_on", _TS),
        ("owner", _T),
        ("comment", _T),
        ("notify_users", _T),
    ),
    "WAREHOUSES": (
        ("name", _T),
        ("state", _T),
        ("type", _T),
        ("size", _T),
        ("min_cluster_count", "DECIMAL(38,0)"),
        ("max_cluster_count", "DECIMAL(38,0)"),
        ("started_clusters", "DECIMAL(38,0)"),
        ("running", "DECIMAL(38,0)"),
        ("queued", "DECIMAL(38,0)"),
        ("is_default", _T),
        ("is_current", _T),
        ("auto_suspend", "DECIMAL(38,0)"),
        ("auto_resume", _T),
        ("available", _T),
        ("provisioning", _T),
        ("quiescing", _T),
        ("other", _T),
        ("created_on", _TS),
        ("resumed_on", _TS),
        ("updated_on", _TS),
        ("owner", _T),
        ("comment", _T),
        ("enable_query_acceleration", _T),
        ("query_acceleration_max_scale_factor", "DECIMAL(38,0)"),
        ("resource_monitor", _T),
        ("scaling_policy", _T),
        ("owner_role_type", _T),
    ),
    "TASKS": (
        ("created_on", _TS),
        ("name", _T),
        ("id", _T),
        ("database_name", _T),
        ("schema_name", _T),
        ("owner", _T),
        ("comment", _T),
        ("warehouse", _T),
        ("schedule", _T),
        ("predecessors", _T),
        ("state", _T),
        ("definition", _T),
        ("condition", _T),
        ("allow_overlapping_execution", _T),
        ("error_integration", _T),
        ("last_committed_on", _TS),
        ("last_suspended_on", _TS),
        ("owner_role_type", _T),
        ("config", _T),
        ("budget", _T),
        ("last_suspended_reason", _T),
    ),
    "USER_PARAMETERS": (("user_name", _T), *_PARAMETER_COLUMNS),
    "USER_PROPERTIES": (
        ("user_name", _T),
        ("property", _T),
        ("value", _T),
        ("default", _T),
        ("description", _T),
    ),
}

#: ACCOUNT_USAGE views of the CIS evidence, as documented (Snowflake types).
EXTRA_VIEWS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    # https://docs.snowflake.com/en/sql-reference/account-usage/tables (a subset: the
    # "not applicable" columns are left out)
    "TABLES": (
        ("TABLE_ID", "NUMBER"),
        ("TABLE_NAME", "VARCHAR"),
        ("TABLE_SCHEMA_ID", "NUMBER"),
        ("TABLE_SCHEMA", "VARCHAR"),
        ("TABLE_CATALOG_ID", "NUMBER"),
        ("TABLE_CATALOG", "VARCHAR"),
        ("TABLE_OWNER", "VARCHAR"),
        ("TABLE_TYPE", "VARCHAR"),
        ("IS_TRANSIENT", "VARCHAR"),
        ("CLUSTERING_KEY", "VARCHAR"),
        ("ROW_COUNT", "NUMBER"),
        ("BYTES", "NUMBER"),
        ("RETENTION_TIME", "NUMBER"),
        ("CREATED", "TIMESTAMP_LTZ"),
        ("LAST_ALTERED", "TIMESTAMP_LTZ"),
        ("LAST_DDL", "TIMESTAMP_LTZ"),
        ("LAST_DDL_BY", "VARCHAR"),
        ("AUTO_CLUSTERING_ON", "VARCHAR"),
        ("COMMENT", "VARCHAR"),
        ("DELETED", "TIMESTAMP_LTZ"),
        ("OWNER_ROLE_TYPE", "VARCHAR"),
    ),
    # https://docs.snowflake.com/en/sql-reference/account-usage/procedures (a subset)
    "PROCEDURES": (
        ("PROCEDURE_CATALOG", "VARCHAR"),
        ("PROCEDURE_SCHEMA", "VARCHAR"),
        ("PROCEDURE_NAME", "VARCHAR"),
        ("PROCEDURE_OWNER", "VARCHAR"),
        ("ARGUMENT_SIGNATURE", "VARCHAR"),
        ("DATA_TYPE", "VARCHAR"),
        ("PROCEDURE_LANGUAGE", "VARCHAR"),
        ("PROCEDURE_DEFINITION", "VARCHAR"),
        ("CREATED", "TIMESTAMP_LTZ"),
        ("LAST_ALTERED", "TIMESTAMP_LTZ"),
        ("COMMENT", "VARCHAR"),
        ("DELETED", "TIMESTAMP_LTZ"),
        ("OWNER_ROLE_TYPE", "VARCHAR"),
        ("PROCEDURE_SCHEMA_ID", "NUMBER"),
        ("PROCEDURE_CATALOG_ID", "NUMBER"),
    ),
}


def qualified(table: str) -> str:
    return f"{au.DATABASE}.{SCHEMA}.{table}"


def create_show_tables(duck: duckdb.DuckDBPyConnection) -> None:
    """Create (if missing) the FAKE_SHOW tables and the extra ACCOUNT_USAGE views, empty."""
    au.create_tables(duck)  # attaches SNOWFLAKE and creates ACCOUNT_USAGE
    duck.execute(f"CREATE SCHEMA IF NOT EXISTS {au.DATABASE}.{SCHEMA}")
    for table, columns in TABLES.items():
        body = ", ".join(f'"{name}" {kind}' for name, kind in columns)
        duck.execute(f"CREATE TABLE IF NOT EXISTS {qualified(table)} ({body})")
    for view, columns in EXTRA_VIEWS.items():
        body = ", ".join(f"{name} {au.duckdb_type(view, name, kind)}" for name, kind in columns)
        duck.execute(f"CREATE TABLE IF NOT EXISTS {au.qualified_name(view)} ({body})")


def deny(duck: duckdb.DuckDBPyConnection, table: str) -> None:
    """Play a role that cannot run the command answered from ``table`` (e.g. ``TASKS``)."""
    duck.execute(f"DROP TABLE IF EXISTS {qualified(table)}")


# --- the commands -------------------------------------------------------------------

_IDENT = r'(?P<user>"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'


@dataclass(frozen=True)
class _Command:
    pattern: re.Pattern[str]
    table: str
    where: Callable[[re.Match[str]], tuple[str, list[Any]]] | None = None


def _user_name(match: re.Match[str]) -> str:
    ident = match.group("user")
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident.upper()


def _user_parameter(match: re.Match[str]) -> tuple[str, list[Any]]:
    like = match.group("like").replace("''", "'")
    return '"user_name" = ? AND "key" ILIKE ?', [_user_name(match), like]


def _user(match: re.Match[str]) -> tuple[str, list[Any]]:
    return '"user_name" = ?', [_user_name(match)]


def _c(pattern: str) -> re.Pattern[str]:
    return re.compile(r"^\s*" + pattern + r"\s*;?\s*$", re.IGNORECASE)


COMMANDS: Final[tuple[_Command, ...]] = (
    _Command(_c(r"SHOW\s+PARAMETERS\s+IN\s+ACCOUNT"), "PARAMETERS_IN_ACCOUNT"),
    _Command(_c(r"SHOW\s+SECURITY\s+INTEGRATIONS"), "SECURITY_INTEGRATIONS"),
    _Command(_c(r"SHOW\s+STAGES\s+IN\s+ACCOUNT"), "STAGES"),
    _Command(_c(r"SHOW\s+RESOURCE\s+MONITORS"), "RESOURCE_MONITORS"),
    _Command(_c(r"SHOW\s+WAREHOUSES"), "WAREHOUSES"),
    _Command(_c(r"SHOW\s+TASKS\s+IN\s+ACCOUNT"), "TASKS"),
    _Command(
        _c(r"SHOW\s+PARAMETERS\s+LIKE\s+'(?P<like>(?:[^']|'')*)'\s+IN\s+USER\s+" + _IDENT),
        "USER_PARAMETERS",
        _user_parameter,
    ),
    _Command(_c(r"DESC(?:RIBE)?\s+USER\s+" + _IDENT), "USER_PROPERTIES", _user),
)


def _exists(duck: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = duck.execute(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?"
        " AND table_name = ?",
        [au.DATABASE, SCHEMA, table],
    ).fetchone()
    return row is not None


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Refusal:
    """Snowflake would refuse the command: the server raises the connector's
    ProgrammingError with these (see ``server._answer_show_commands``). A value, not an
    exception: exceptions live in ``das_evidence.errors``, and this is the fake's."""

    msg: str
    errno: int
    sqlstate: str


def rewrite(duck: duckdb.DuckDBPyConnection, command: str) -> str | Refusal | None:
    """The SELECT that answers ``command`` as Snowflake would, or None if it is not one of
    the commands this module answers; a :class:`Refusal` where Snowflake would
    refuse the command."""
    for c in COMMANDS:
        match = c.pattern.match(command)
        if match is None:
            continue
        if not _exists(duck, c.table):
            return Refusal(
                "SQL access control error:\nInsufficient privileges to operate on account",
                3001,
                "42501",
            )
        own = [name for name, _ in TABLES[c.table] if name != "user_name"]
        columns = ", ".join(f'"{name}"' for name in own)
        sql = f"SELECT {columns} FROM {qualified(c.table)}"
        if c.where is not None:
            condition, params = c.where(match)
            found = duck.execute(
                f'SELECT count(*) FROM {qualified(c.table)} WHERE "user_name" = ?', [params[0]]
            ).fetchone()
            if not found or not found[0]:
                return Refusal(
                    f"SQL compilation error:\nUser '{params[0]}' does not exist or not authorized.",
                    2003,
                    "02000",
                )
            for value in params:  # literals: fakesnow runs the rewritten text without binds
                condition = condition.replace("?", _literal(value), 1)
            sql += f" WHERE {condition}"
        order = "name" if "name" in own else own[0]
        return f'{sql} ORDER BY "{order}"'
    return None
