"""Failing, passing and not-evidenced fixtures for the CIS section 2 checks and
``trust-center-findings-open`` (reports/checks/cis_monitoring.py).

Each fixture is the period's history of one stream, shaped as the collector writes it
(QUERY_TEXT already redacted: literals are ``'?'`` and ``0``). The passing history holds
look-alikes that must not match (a GRANT of another role, a SELECT that mentions a share,
a password sign-in with Duo, a current driver); the failing one adds the event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from das_evidence.reports.checks import CheckContext
from das_evidence.reports.evidence import EvidenceSet
from tests.unit.reports.checks.conftest import END, NOW, START, EvidenceBuilder, config

Case = Callable[[], tuple[EvidenceSet, CheckContext]]
T = START + timedelta(days=3, hours=14)


def stmt(
    query_id: str,
    text: str,
    query_type: str,
    *,
    at: datetime = T,
    user_name: str = "DAVE_ADMIN",
    role: str = "ACCOUNTADMIN",
    status: str = "SUCCESS",
) -> dict[str, Any]:
    return {
        "QUERY_ID": query_id,
        "QUERY_TEXT": text,
        "QUERY_TYPE": query_type,
        "START_TIME": at,
        "USER_NAME": user_name,
        "ROLE_NAME": role,
        "EXECUTION_STATUS": status,
    }


def sign_in(
    event_id: int,
    user_name: str,
    first: str,
    second: str | None,
    *,
    at: datetime = T,
    ok: bool = True,
) -> dict[str, Any]:
    return {
        "EVENT_ID": event_id,
        "EVENT_TIMESTAMP": at,
        "EVENT_TYPE": "LOGIN",
        "USER_NAME": user_name,
        "CLIENT_IP": "198.51.100.57",
        "REPORTED_CLIENT_TYPE": "SNOWFLAKE_UI",
        "FIRST_AUTHENTICATION_FACTOR": first,
        "SECOND_AUTHENTICATION_FACTOR": second,
        "IS_SUCCESS": "YES" if ok else "NO",
        "ERROR_CODE": None if ok else 390100,
    }


def session(
    session_id: int, user_name: str, app_id: str, version: str | None, *, at: datetime = T
) -> dict[str, Any]:
    return {
        "SESSION_ID": session_id,
        "CREATED_ON": at,
        "USER_NAME": user_name,
        "CLIENT_APPLICATION_ID": app_id,
        "CLIENT_APPLICATION_VERSION": version,
    }


def finding(
    finding_id: int,
    severity: str,
    state: str,
    *,
    created: datetime,
    updated: datetime,
    scanner: str = "CIS_BENCHMARKS_CIS1_4",
) -> dict[str, Any]:
    return {
        "ID": finding_id,
        "PROVIDER_ID": "SNOWFLAKE",
        "SCANNER_PACKAGE_ID": "CIS_BENCHMARKS",
        "SCANNER_ID": scanner,
        "SEVERITY": severity,
        "STATE": state,
        "CREATED_ON": created,
        "UPDATED_ON": updated,
    }


# -- background: what every history holds and no check may flag ------------------------------

QUERIES = [
    stmt("q-select", "SELECT * FROM CLINICAL.PUBLIC.PATIENTS WHERE ID = 0", "SELECT",
         user_name="ALICE_ANALYST", role="ANALYST"),
    stmt("q-grant-analyst", "GRANT ROLE ANALYST TO USER ERIN_CONTRACTOR", "GRANT",
         role="SECURITYADMIN"),
    stmt("q-grant-select", "GRANT SELECT ON TABLE CLINICAL.PUBLIC.PATIENTS TO ROLE ANALYST",
         "GRANT"),
    # Mentions, not statements: a comment was dropped by redaction, names in a SELECT stay.
    stmt("q-share-name", "SELECT * FROM SHARES_LOG WHERE NOTE = '?'", "SELECT",
         user_name="ALICE_ANALYST", role="ANALYST"),
    stmt("q-desc-integration", "DESCRIBE SECURITY INTEGRATION OKTA_SSO", "DESCRIBE"),
    stmt("q-show-np", "SHOW NETWORK POLICIES", "SHOW"),
    stmt("q-alter-user", "ALTER USER ERIN_CONTRACTOR SET DEFAULT_ROLE = ANALYST", "ALTER_USER"),
    # A failed admin grant changed nothing: the benchmark counts successful ones only.
    stmt("q-grant-failed", "GRANT ROLE ACCOUNTADMIN TO USER ERIN_CONTRACTOR", "GRANT",
         role="ANALYST", status="FAIL"),
]  # fmt: skip

LOGINS = [
    sign_in(1, "CAROL_BILLING", "SAML2_ASSERTION", None),
    sign_in(2, "ALICE_ANALYST", "PASSWORD", "DUO_PUSH"),
    sign_in(3, "SVC_DBT_RUNNER", "RSA_KEYPAIR", None),
    # A failed password attempt on an SSO user signed no one in.
    sign_in(4, "CAROL_BILLING", "PASSWORD", None, ok=False),
]

SESSIONS = [
    session(11, "BOB_ENGINEER", "PythonConnector 3.12.3", "3.12.3"),
    session(12, "ERIN_CONTRACTOR", "JDBC 3.19.0", "3.19.0"),
    session(13, "ALICE_ANALYST", "Snowflake UI 9.2.1", "9.2.1"),
    session(14, "SVC_GO", "Go 1.1.0", "1.1.0"),  # not a client the benchmark names
]

# The events, one per check, keyed by check id: (stream kind, rows).
EVENTS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "admin-role-grants-monitored": (
        "query_history",
        [stmt("q-grant-aa", "grant role accountadmin to user MALLORY", "GRANT")],
    ),
    "manage-grants-grants-monitored": (
        "query_history",
        [stmt("q-manage", "GRANT MANAGE GRANTS ON ACCOUNT TO ROLE DATA_OPS", "GRANT")],
    ),
    "sso-user-password-logins-monitored": (
        "login_history",
        [sign_in(5, "CAROL_BILLING", "PASSWORD", "DUO_PUSH")],
    ),
    "password-logins-without-mfa-monitored": (
        "login_history",
        [sign_in(6, "ERIN_CONTRACTOR", "PASSWORD", None)],
    ),
    "security-integration-changes-monitored": (
        "query_history",
        [
            stmt(
                "q-sec-int",
                "ALTER SECURITY INTEGRATION OKTA_SSO SET SAML2_ISSUER = '?'",
                "ALTER_SECURITY_INTEGRATION",
            )
        ],
    ),
    "network-policy-changes-monitored": (
        "query_history",
        [stmt("q-np", "ALTER ACCOUNT SET NETWORK_POLICY = OPEN_NP", "ALTER_ACCOUNT")],
    ),
    "scim-token-creation-monitored": (
        "query_history",
        [stmt("q-scim", "SELECT SYSTEM$GENERATE_SCIM_ACCESS_TOKEN('?')", "SELECT")],
    ),
    "share-exposures-monitored": (
        "query_history",
        [stmt("q-share", "ALTER SHARE CLINICAL_SHARE ADD ACCOUNTS = PARTNER.ACCT", "ALTER")],
    ),
    "unsupported-client-sessions-monitored": (
        "sessions",
        [session(15, "ERIN_CONTRACTOR", "JDBC 3.12.0", "3.12.0")],
    ),
}

BACKGROUND: Mapping[str, Sequence[dict[str, Any]]] = {
    "query_history": QUERIES,
    "login_history": LOGINS,
    "sessions": SESSIONS,
}


def history(kind: str, rows: Sequence[dict[str, Any]], *, hole: bool = False) -> EvidenceSet:
    """The period's windows of ``kind`` holding ``rows``; with ``hole``, 22 November is
    missing (the rows all lie on 23 November, in the second window)."""
    b = EvidenceBuilder()
    if hole:
        b.history(kind, [], start=START, end=START + timedelta(days=2))
        b.history(kind, rows, start=START + timedelta(days=3))
    else:
        b.history(kind, rows)
    return b.build()


def _failing(check_id: str) -> Case:
    kind, rows = EVENTS[check_id]
    return lambda: (history(kind, [*BACKGROUND[kind], *rows]), config())


def _passing(check_id: str) -> Case:
    kind, _ = EVENTS[check_id]
    return lambda: (history(kind, BACKGROUND[kind]), config())


# -- Trust Center -----------------------------------------------------------------------------

TC_OLD = END - timedelta(days=12)
TWO_DAYS = timedelta(days=2)


def trust_center(*, critical_resolved: bool, hole: bool = False) -> EvidenceSet:
    rows = [
        # Open 12 days at the period's end, re-scanned during the period.
        finding(901, "CRITICAL", "OPEN", created=TC_OLD, updated=START + timedelta(days=1)),
        # LOW findings may stay open.
        finding(902, "LOW", "OPEN", created=TC_OLD, updated=START + timedelta(days=1)),
        # HIGH but opened two days ago: within trust_center_max_open (7 days).
        finding(903, "HIGH", "OPEN", created=END - timedelta(days=2), updated=END - TWO_DAYS),
        # HIGH, open for long, resolved during the period.
        finding(904, "HIGH", "OPEN", created=TC_OLD, updated=START + timedelta(hours=5)),
        finding(904, "HIGH", "RESOLVED", created=TC_OLD, updated=START + timedelta(days=4)),
    ]  # fmt: skip
    if critical_resolved:
        rows.append(
            finding(
                901,
                "CRITICAL",
                "RESOLVED MANUALLY",
                created=TC_OLD,
                updated=START + timedelta(days=4, hours=1),
            )
        )
    if hole:
        rows = [r for r in rows if r["UPDATED_ON"] >= START + timedelta(days=3)]
    return history("trust_center_findings", rows, hole=hole)


FAILING: dict[str, Case] = {c: _failing(c) for c in EVENTS}
FAILING["trust-center-findings-open"] = lambda: (trust_center(critical_resolved=False), config())

PASSING: dict[str, Case] = {c: _passing(c) for c in EVENTS}
PASSING["trust-center-findings-open"] = lambda: (trust_center(critical_resolved=True), config())

__all__ = ["EVENTS", "FAILING", "NOW", "PASSING"]
