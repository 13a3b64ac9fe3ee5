"""CIS section 2 (monitoring and alerting) and trust-center-findings-open."""

from __future__ import annotations

import io
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.reports.checks import ALL_CHECKS
from das_evidence.reports.checks.cis_monitoring import (
    AdminRoleGrantsMonitored,
    TrustCenterFindingsOpen,
    UnsupportedClientSessionsMonitored,
    version_tuple,
)
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.timefmt import compact, rfc3339
from tests.unit.reports.checks import cases_cis_monitoring as cases
from tests.unit.reports.checks.cases_cis_monitoring import (
    BACKGROUND,
    EVENTS,
    history,
    session,
    sign_in,
    stmt,
    trust_center,
)
from tests.unit.reports.checks.conftest import END, START, EvidenceBuilder, config

CHECKS = {c.check_id: c for c in ALL_CHECKS}
SECTION_2 = sorted(EVENTS)
# What each failing fixture's one finding must say (beyond event, at, user and evidence).
EXPECTED_EVENT = {
    "admin-role-grants-monitored": ("q-grant-aa", {"granted_role": "ACCOUNTADMIN",
                                                   "grantee": "MALLORY"}),
    "manage-grants-grants-monitored": ("q-manage", {"role": "ACCOUNTADMIN"}),
    "sso-user-password-logins-monitored": (5, {"first_factor": "PASSWORD",
                                               "break_glass": False}),
    "password-logins-without-mfa-monitored": (6, {"second_factor": None}),
    "security-integration-changes-monitored": ("q-sec-int", {
        "query_type": "ALTER_SECURITY_INTEGRATION"}),
    "network-policy-changes-monitored": ("q-np", {"query_type": "ALTER_ACCOUNT"}),
    "scim-token-creation-monitored": ("q-scim", {
        "query_text": "SELECT SYSTEM$GENERATE_SCIM_ACCESS_TOKEN('?')"}),
    "share-exposures-monitored": ("q-share", {"query_type": "ALTER"}),
    "unsupported-client-sessions-monitored": (15, {"client": "JDBC", "version": "3.12.0",
                                                   "minimum": "3.13.30"}),
}  # fmt: skip


def test_every_section_2_recommendation_has_one_check() -> None:
    ids = sorted(c.cis for c in ALL_CHECKS if c.cis and c.cis.startswith("2."))
    assert ids == [f"2.{n}" for n in range(1, 10)]
    assert CHECKS["trust-center-findings-open"].cis is None


@pytest.mark.parametrize("check_id", SECTION_2)
def test_each_event_is_listed_as_one_finding(check_id: str) -> None:
    evidence, cfg = cases.FAILING[check_id]()
    result = CHECKS[check_id].run(evidence, cfg)
    assert result.status == "fail", result.summary
    [event] = result.findings
    key, facts = EXPECTED_EVENT[check_id]
    assert next(iter(event)) == "event" and event["event"] == key
    assert event["at"] == "2026-11-23T14:00:00Z"
    for name, value in facts.items():
        assert event[name] == value, name
    [ref] = result.evidence
    assert event["evidence"] == {"entry": ref.entry, "path": ref.path}
    assert result.cis == CHECKS[check_id].cis
    assert result.details["events"] == 1
    assert result.details["evaluated"] == len(BACKGROUND[EVENTS[check_id][0]]) + 1


@pytest.mark.parametrize("check_id", SECTION_2)
def test_look_alikes_pass_when_the_stream_covers_the_period(check_id: str) -> None:
    evidence, cfg = cases.PASSING[check_id]()
    result = CHECKS[check_id].run(evidence, cfg)
    assert result.status == "pass", result.summary
    assert result.details["evaluated"] == len(BACKGROUND[EVENTS[check_id][0]])
    assert result.details["passed"]  # the users whose activity was evaluated


@pytest.mark.parametrize("check_id", SECTION_2)
def test_a_hole_in_the_stream_is_not_evidenced_but_an_event_still_fails(check_id: str) -> None:
    kind, rows = EVENTS[check_id]
    on_23rd = [
        {k: (START + timedelta(days=3, hours=14) if k in _TIME else v) for k, v in r.items()}
        for r in BACKGROUND[kind]
    ]
    result = CHECKS[check_id].run(history(kind, on_23rd, hole=True), config())
    assert result.status == "not_evidenced", result.summary
    assert result.details["coverage_holes"] == {
        f"snowflake/ACME_PROD/{kind}": [
            {"start": "2026-11-22T00:00:00Z", "end": "2026-11-23T00:00:00Z"}
        ]
    }
    failing = CHECKS[check_id].run(history(kind, [*on_23rd, *rows], hole=True), config())
    assert failing.status == "fail"


_TIME = {"START_TIME", "EVENT_TIMESTAMP", "CREATED_ON"}


@pytest.mark.parametrize("check_id", [*SECTION_2, "trust-center-findings-open"])
def test_without_the_stream_the_reason_names_the_grant(check_id: str) -> None:
    b = EvidenceBuilder()
    b.history("access_history")  # some other stream is there
    result = CHECKS[check_id].run(b.build(), config())
    assert result.status == "not_evidenced"
    assert "GRANT " in result.summary
    if check_id == "trust-center-findings-open":
        assert "SNOWFLAKE.TRUST_CENTER_VIEWER" in result.summary
    assert result.details == {"evaluated": 0, "passed": []}


def test_events_outside_the_period_are_not_listed() -> None:
    early = stmt("q-early", "GRANT ROLE ACCOUNTADMIN TO USER MALLORY", "GRANT",
                 at=START - timedelta(hours=1))  # fmt: skip
    b = EvidenceBuilder()
    b.history("query_history", [early], start=START - timedelta(days=1))
    assert AdminRoleGrantsMonitored().run(b.build(), config()).status == "pass"


def test_admin_roles_come_from_the_settings() -> None:
    grant = stmt("q-g", 'GRANT ROLE "PLATFORM_ADMIN" TO ROLE DATA_OPS', "GRANT")
    evidence = history("query_history", [grant])
    check = AdminRoleGrantsMonitored()
    assert check.run(evidence, config()).status == "pass"
    result = check.run(evidence, config(admin_roles=("ACCOUNTADMIN", "PLATFORM_ADMIN")))
    [event] = result.findings
    assert event["granted_role"] == "PLATFORM_ADMIN" and event["grantee_type"] == "ROLE"


@pytest.mark.parametrize(
    ("text", "query_type"),
    [
        ("CREATE OR REPLACE NETWORK RULE CORP_IPS MODE = INGRESS TYPE = IPV4 "
         "VALUE_LIST = ('?')", "CREATE_NETWORK_RULE"),
        ("DROP NETWORK POLICY OLD_NP", "DROP_NETWORK_POLICY"),
        ("alter user svc_fivetran unset network_policy", "ALTER_USER"),
        ("CREATE NETWORK POLICY NP ALLOWED_IP_LIST = ('?')", "UNKNOWN"),
    ],
)  # fmt: skip
def test_network_policy_statements(text: str, query_type: str) -> None:
    evidence = history("query_history", [stmt("q", text, query_type)])
    result = CHECKS["network-policy-changes-monitored"].run(evidence, config())
    assert result.status == "fail", text


def test_new_share_and_security_integration_create_are_listed() -> None:
    rows = [
        stmt("q1", "CREATE SHARE CLINICAL_SHARE", "CREATE_SHARE"),
        stmt("q2", "CREATE SECURITY INTEGRATION OKTA_SCIM TYPE = SCIM SCIM_CLIENT = '?'",
             "CREATE_INTEGRATION"),
        stmt("q3", "DROP SECURITY INTEGRATION IF EXISTS OLD_SSO", "DROP_INTEGRATION"),
    ]  # fmt: skip
    evidence = history("query_history", rows)
    shares = CHECKS["share-exposures-monitored"].run(evidence, config())
    assert [f["event"] for f in shares.findings] == ["q1"]
    integrations = CHECKS["security-integration-changes-monitored"].run(evidence, config())
    assert [f["event"] for f in integrations.findings] == ["q2", "q3"]


def test_sso_users_are_those_with_an_sso_sign_in_and_break_glass_is_marked() -> None:
    evidence, _ = cases.FAILING["sso-user-password-logins-monitored"]()
    check = CHECKS["sso-user-password-logins-monitored"]
    result = check.run(evidence, config(sso_break_glass_users=("CAROL_BILLING",)))
    assert result.details["sso_users"] == ["CAROL_BILLING"]
    [event] = result.findings
    assert event["break_glass"] is True
    # ALICE signs in with a password too, but never through SSO: not listed here.
    assert {f["user"] for f in result.findings} == {"CAROL_BILLING"}


def test_client_versions_compare_numerically_and_unreadable_ones_are_listed() -> None:
    assert version_tuple("3.13.30") > version_tuple("3.13.4")  # type: ignore[operator]
    rows = [
        session(1, "A", "JDBC 3.13.4", "3.13.4"),  # older than 3.13.30
        session(2, "B", "JDBC 3.13.30", "3.13.30"),
        session(3, "C", "PythonConnector 2.7.9", None),  # version from the id
        session(4, "D", "ODBC unknown", ""),
        session(5, "E", "PythonConnector 3.0.0", "3.0.0"),
    ]
    result = UnsupportedClientSessionsMonitored().run(history("sessions", rows), config())
    by_id = {f["event"]: f for f in result.findings}
    assert sorted(by_id) == [1, 3, 4]
    assert by_id[3]["version"] == "2.7.9" and by_id[3]["minimum"] == "3.0.0"
    assert by_id[4]["version_unreadable"] is True
    newer = config(min_client_versions={"JDBC": "3.13.0", "PythonConnector": "2.0.0"})
    again = UnsupportedClientSessionsMonitored().run(history("sessions", rows), newer)
    assert [f["event"] for f in again.findings] == []  # ODBC no longer configured


def test_trust_center_lists_the_critical_finding_open_for_twelve_days() -> None:
    result = TrustCenterFindingsOpen().run(trust_center(critical_resolved=False), config())
    assert result.status == "fail"
    [open_] = result.findings
    assert open_["finding"] == 901 and open_["severity"] == "CRITICAL"
    assert open_["open_days"] == 12.0 and open_["as_of"] == "2026-11-27T00:00:00Z"
    assert result.details["evaluated"] == 4
    assert result.details["passed"] == ["902", "903", "904"]


def test_trust_center_settings_decide_severity_and_age() -> None:
    evidence = trust_center(critical_resolved=True)
    check = TrustCenterFindingsOpen()
    assert check.run(evidence, config()).status == "pass"
    low = check.run(evidence, config(trust_center_severities=("LOW",)))
    assert [f["finding"] for f in low.findings] == [902]
    short = check.run(evidence, config(trust_center_max_open=timedelta(days=1)))
    assert [f["finding"] for f in short.findings] == [903]


def test_trust_center_hole_is_not_evidenced() -> None:
    result = TrustCenterFindingsOpen().run(
        trust_center(critical_resolved=True, hole=True), config()
    )
    assert result.status == "not_evidenced", result.summary
    assert "does not cover" in result.summary


def _with_security_integrations(rows: list[dict[str, object]], names: list[str]) -> EvidenceSet:
    """QUERY_HISTORY ``rows`` and a snapshot whose SHOW SECURITY INTEGRATIONS lists ``names``
    (lowercase columns, as Snowflake returns them)."""
    b = EvidenceBuilder()
    b.history("query_history", rows)
    table = pa.table({"name": names, "type": ["SAML2"] * len(names)})
    out = io.BytesIO()
    pq.write_table(table, out)
    as_of = END - timedelta(hours=2)
    prefix = f"evidence/snowflake/ACME_PROD/policy_state/date=2026-11-26/as_of={compact(as_of)}"
    b._entry(
        "snowflake/ACME_PROD/policy_state",
        as_of,
        as_of,
        [(f"{prefix}/show_security_integrations.parquet", out.getvalue(), len(names))],
        as_of=rfc3339(as_of),
        views={"SHOW_SECURITY_INTEGRATIONS": {"status": "evidenced", "rows": len(names)}},
    )
    return b.build()


def test_integration_statements_without_security_are_matched_by_type_or_known_name() -> None:
    rows = [
        stmt("q-type", "CREATE INTEGRATION AZURE_SCIM TYPE = SCIM SCIM_CLIENT = '?'",
             "CREATE_INTEGRATION"),
        stmt("q-named", "DROP INTEGRATION IF EXISTS okta_sso", "DROP_INTEGRATION"),
        stmt("q-storage", "DROP INTEGRATION S3_LANDING", "DROP_INTEGRATION"),
        stmt("q-prefix", "ALTER INTEGRATION OKTA_SSO_OLD SET ENABLED = FALSE", "ALTER_INTEGRATION"),
    ]  # fmt: skip
    check = CHECKS["security-integration-changes-monitored"]
    result = check.run(_with_security_integrations(rows, ["OKTA_SSO"]), config())
    assert [f["event"] for f in result.findings] == ["q-named", "q-type"]
    assert result.details["security_integrations"] == ["OKTA_SSO"]
    # Without a snapshot the name is unknown: only the TYPE = SCIM statement is listed.
    alone = check.run(history("query_history", rows), config())
    assert [f["event"] for f in alone.findings] == ["q-type"]


def test_no_sso_sign_in_in_the_period_passes_rather_than_raising() -> None:
    """An account without SSO: no SSO users, so no password sign-in of one (the empty
    set of names once raised ArrowTypeError, "string vs null", and the check could not run)."""
    evidence = history("login_history", [sign_in(1, "ALICE", "PASSWORD", "DUO_PUSH")])
    result = CHECKS["sso-user-password-logins-monitored"].run(evidence, config())
    assert result.status == "pass", result.summary
    assert result.details["sso_users"] == []
