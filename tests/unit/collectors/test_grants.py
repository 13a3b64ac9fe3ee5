"""The grant a missing view names is the one deploy/snowflake/setup.sql documents."""

from __future__ import annotations

import re

from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS
from das_evidence.collectors.snowflake.views import (
    APPLICATION_ROLES,
    DATABASE_ROLES,
    VIEWS,
    grant_for,
)
from tests.conftest import ROOT

SETUP_SQL = ROOT / "deploy" / "snowflake" / "setup.sql"


def _documented_roles() -> dict[str, str]:
    """The ``--   GOVERNANCE_VIEWER  ACCESS_HISTORY, ...`` table in setup.sql's header."""
    roles: dict[str, str] = {}
    role = None
    for line in SETUP_SQL.read_text().splitlines():
        m = re.match(r"--\s+(?:([A-Z_]+_VIEWER)\s+)?([A-Z_]+(?:,\s*[A-Z_]+)*,?)\s*$", line)
        if not m:
            role = None if not line.startswith("--  ") else role
            continue
        role = m.group(1) or role
        if role is None:
            continue
        for view in filter(None, (v.strip() for v in m.group(2).split(","))):
            roles[view] = role
    return roles


def test_every_view_read_has_the_database_role_setup_sql_grants() -> None:
    read = {spec.view for spec in VIEWS.values()} | {v.view for v in POLICY_VIEWS}
    assert set(DATABASE_ROLES) | set(APPLICATION_ROLES) == read
    assert not set(DATABASE_ROLES) & set(APPLICATION_ROLES)
    assert _documented_roles() == {**DATABASE_ROLES, **APPLICATION_ROLES}
    for view, role in APPLICATION_ROLES.items():
        assert f"GRANT APPLICATION ROLE SNOWFLAKE.{role} TO ROLE" in SETUP_SQL.read_text(), view


def test_the_grant_names_the_database_role_and_the_role() -> None:
    assert grant_for("SNOWFLAKE.ACCOUNT_USAGE.LOGIN_HISTORY", "EVIDENCE_COLLECTOR_ROLE").startswith(
        "GRANT DATABASE ROLE SNOWFLAKE.SECURITY_VIEWER TO ROLE EVIDENCE_COLLECTOR_ROLE"
    )
    assert "SNOWFLAKE.GOVERNANCE_VIEWER TO ROLE <the collector's role>" in grant_for(
        "ACCESS_HISTORY", None
    )
    # A view no database role documents: the broad grant.
    assert grant_for("SNOWFLAKE.ACCOUNT_USAGE.WAREHOUSE_EVENTS_HISTORY", "R") == (
        "GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE R"
    )


def test_trust_center_findings_names_the_application_role_or_disabling_the_stream() -> None:
    fix = grant_for("SNOWFLAKE.ACCOUNT_USAGE.TRUST_CENTER_FINDINGS", "R")
    assert fix.startswith("GRANT APPLICATION ROLE SNOWFLAKE.TRUST_CENTER_VIEWER TO ROLE R")
    assert "[streams.trust_center_findings] enabled = false" in fix
