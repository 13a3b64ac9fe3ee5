"""The checks over a real archive: the demo account collected through the connector.

The same flow as ``evidence demo``: seed the fake Snowflake, collect yesterday,
change four controls during the day (apply_policy_changes), collect again tonight,
then read the archive back with ``from_archive`` and run every check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from das_evidence.config import ChecksConfig, load_settings
from das_evidence.demo.policy_seed import (
    EDITED_MASKING_POLICY,
    HUMAN_ACCOUNTADMIN,
    MFA_REMOVED_USER,
    USER_WITHOUT_MFA,
    apply_policy_changes,
    seed_policy_state,
)
from das_evidence.demo.run import DBT_TARGET, DEMO_ORIGIN, write_demo_config
from das_evidence.demo.seed import (
    BURST_ATTEMPTS,
    BURST_IP,
    BURST_USER,
    OLD_CLIENT_USER,
    OLD_PYTHON_CONNECTOR,
    SSO_PASSWORD_USER,
    seed_account_usage,
)
from das_evidence.demo.server import FakeSnowflake
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.reports import charts
from das_evidence.reports import evidence as evidence_module
from das_evidence.reports.bundle import report_documents
from das_evidence.reports.checks import CheckContext, run_checks
from das_evidence.reports.checks.phi import UNKNOWN_ROLE
from das_evidence.reports.evidence import EvidenceSet, from_archive
from das_evidence.reports.model import CheckResult
from das_evidence.services import Services

pytestmark = pytest.mark.integration

# Just after the committed dbt fixture ran (generated_at 2026-11-27T04:00:32Z).
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAYS = 2
START = (NOW - timedelta(days=DAYS)).replace(hour=0)
PHI_CHECK = "phi-reads-outside-allowlist"


@dataclass(frozen=True)
class Demo:
    evidence: EvidenceSet
    results: dict[str, CheckResult]
    archive: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    directory: Path = tmp_path_factory.mktemp("demo")
    write_key_pair(directory / "keys", DEMO_ORIGIN)
    with FakeSnowflake() as fake:
        seed_account_usage(fake.duck, end=NOW, days=DAYS + 1, access_rows_per_day=400)
        seed_policy_state(fake.duck, now=NOW - timedelta(days=1, hours=3))
        config = write_demo_config(directory, port=fake.port, start=START)
        with config.open("a") as out:
            out.write(f'\n[[dbt]]\nproject = "jaffle_health"\ntarget_dir = "{DBT_TARGET}"\n')
        settings = load_settings(config)
        first = Services(settings, clock=lambda: NOW - timedelta(days=1)).collect(only=None)
        apply_policy_changes(fake.duck, at=NOW - timedelta(hours=12))
        second = Services(settings, clock=lambda: NOW).collect(only=None)
    assert first.ok and second.ok
    evidence = from_archive(LocalStore(directory / "archive"), DEMO_ORIGIN, START, NOW)
    results = run_checks(evidence, CheckContext(NOW))
    yield Demo(evidence, {r.check_id: r for r in results}, directory / "archive")


def _status(demo: Demo) -> dict[str, str]:
    return {check_id: r.status for check_id, r in demo.results.items()}


def test_every_check_decides_and_nothing_crashed(demo: Demo) -> None:
    platform = {k: v for k, v in _status(demo).items() if demo.results[k].cis is None}
    assert platform == {
        "human-users-without-mfa": "fail",
        "accountadmin-grantees": "fail",
        "failed-login-bursts-per-user": "fail",
        "failed-login-bursts-per-ip": "fail",
        "sensitive-columns-without-masking": "fail",
        "policy-references-not-active": "pass",
        "protection-policies-changed": "fail",
        "phi-reads-outside-allowlist": "fail",
        "dbt-tests-failed-or-skipped": "fail",
        "sensitive-dbt-models-without-contract": "fail",
        "evidence-gaps": "fail",
        "stale-streams": "pass",
        "warehouses-without-resource-monitor": "fail",
        "trust-center-findings-open": "fail",
    }
    sections_2_3_4 = {
        k: v
        for k, v in _status(demo).items()
        if (demo.results[k].cis or "")[:2] in ("2.", "3.", "4.")
    }
    assert sections_2_3_4 == CIS_2 | CIS_3_4
    assert not any("error" in r.details for r in demo.results.values())


def test_cis_section_1_over_the_demo(demo: Demo) -> None:
    cis = {k: v for k, v in _status(demo).items() if (demo.results[k].cis or "").startswith("1.")}
    assert cis == CIS_1
    assert [f["user"] for f in demo.results["admin-default-role"].findings] == [HUMAN_ACCOUNTADMIN]


def test_every_cis_check_shows_its_passing_subjects_too(demo: Demo) -> None:
    # a fail lists the failing subjects; details name how many were evaluated and which passed
    for r in demo.results.values():
        if r.cis is None or r.status != "fail" or r.cis.startswith("2."):
            continue
        assert "evaluated" in r.details and "passed" in r.details, r.check_id


# The demo account is seeded so that most recommendations fail somewhere and a few pass.
CIS_1 = {
    "sso-configured": "pass",
    "scim-provisioning-configured": "pass",
    "sso-users-with-password": "pass",
    "password-users-without-mfa": "fail",
    "password-min-length": "fail",
    "service-users-without-key-pair": "fail",
    "key-pairs-not-rotated": "fail",
    "inactive-users-enabled": "pass",
    "admin-session-idle-timeout": "fail",
    "admin-user-count": "fail",
    "accountadmin-users-without-email": "pass",
    "admin-default-role": "fail",
    "admin-roles-granted-to-custom-roles": "fail",
    "tasks-owned-by-admin-roles": "fail",
    "tasks-running-with-admin-privileges": "fail",
    "procedures-owned-by-admin-roles": "fail",
    "procedures-running-with-admin-privileges": "fail",
}
# CIS section 2: one seeded event of each kind (seed.CIS_EVENTS and the logins)
CIS_2 = {
    "admin-role-grants-monitored": "fail",
    "manage-grants-grants-monitored": "fail",
    "sso-user-password-logins-monitored": "fail",
    "password-logins-without-mfa-monitored": "fail",
    "security-integration-changes-monitored": "fail",
    "network-policy-changes-monitored": "fail",
    "scim-token-creation-monitored": "fail",
    "share-exposures-monitored": "fail",
    "unsupported-client-sessions-monitored": "fail",
}
CIS_3_4 = {
    "account-network-policy-allowlist": "pass",
    "service-users-without-network-policy": "fail",
    "periodic-data-rekeying": "fail",
    "client-encryption-key-size": "pass",
    "tagged-tables-below-retention": "fail",
    "min-data-retention": "fail",
    "stage-creation-requires-storage-integration": "pass",
    "stage-operation-requires-storage-integration": "fail",
    "external-stages-without-storage-integration": "fail",
    "unload-to-inline-url-prevented": "fail",
}


def test_the_contractor_and_the_engineer_whose_mfa_was_removed(demo: Demo) -> None:
    users = [f["user"] for f in demo.results["human-users-without-mfa"].findings]
    assert users == sorted([USER_WITHOUT_MFA, MFA_REMOVED_USER])


def test_the_human_accountadmin(demo: Demo) -> None:
    [admin] = demo.results["accountadmin-grantees"].findings
    assert admin["user"] == HUMAN_ACCOUNTADMIN and admin["type"] == "PERSON"


def test_the_login_burst_by_user_and_by_ip(demo: Demo) -> None:
    [by_user] = demo.results["failed-login-bursts-per-user"].findings
    assert by_user["user"] == BURST_USER and by_user["failures"] == BURST_ATTEMPTS
    assert by_user["client_ips"] == [BURST_IP]
    [by_ip] = demo.results["failed-login-bursts-per-ip"].findings
    assert by_ip["client_ip"] == BURST_IP and by_ip["users"] == [BURST_USER]


def test_the_masking_policy_edited_during_the_day(demo: Demo) -> None:
    [edit] = demo.results["protection-policies-changed"].findings
    assert edit["policy"] == f"GOVERNANCE.POLICIES.{EDITED_MASKING_POLICY}"
    assert edit["change"] == "changed" and "ENGINEER" in edit["after"]["POLICY_BODY"]
    assert edit["at"] == "2026-11-27T00:00:00Z"


def test_unmasked_phi_columns_and_phi_reads_by_ordinary_roles(demo: Demo) -> None:
    unmasked = {
        f"{f['object']}.{f['column']}"
        for f in demo.results["sensitive-columns-without-masking"].findings
    }
    assert "CLINICAL.PUBLIC.PATIENTS.FIRST_NAME" in unmasked
    assert "CLINICAL.PUBLIC.PATIENTS.SSN" not in unmasked  # SSN_MASK
    readers = {f["role"] for f in demo.results["phi-reads-outside-allowlist"].findings}
    assert "ANALYST" in readers and "PHI_READER" not in readers
    # As in Snowflake, every ACCESS_HISTORY query is in QUERY_HISTORY: no read lacks a role.
    assert demo.results["phi-reads-outside-allowlist"].details["unresolved_reads"] == 0


def test_the_dbt_fixture_failures(demo: Demo) -> None:
    statuses = sorted(f["status"] for f in demo.results["dbt-tests-failed-or-skipped"].findings)
    assert statuses == ["fail", "skipped", "skipped", "skipped"]
    [model] = demo.results["sensitive-dbt-models-without-contract"].findings
    assert model["model"] == "model.jaffle_health.stg_patients"


def test_each_seeded_cis_section_2_event_is_listed(demo: Demo) -> None:
    def texts(check_id: str) -> list[str]:
        return [f["query_text"] for f in demo.results[check_id].findings]

    # Literals arrive redacted; the statement's structure is what matched.
    assert texts("admin-role-grants-monitored") == [
        "GRANT ROLE SECURITYADMIN TO USER ERIN_CONTRACTOR"
    ]
    assert texts("manage-grants-grants-monitored") == [
        "GRANT MANAGE GRANTS ON ACCOUNT TO ROLE ENGINEER"
    ]
    assert texts("network-policy-changes-monitored") == [
        "ALTER NETWORK POLICY CORP_ALLOWLIST SET ALLOWED_IP_LIST = ('?', '?')"
    ]
    assert texts("scim-token-creation-monitored") == [
        "SELECT SYSTEM$GENERATE_SCIM_ACCESS_TOKEN('?')"
    ]
    assert len(texts("security-integration-changes-monitored")) == 1
    assert len(texts("share-exposures-monitored")) == 1
    [sso] = demo.results["sso-user-password-logins-monitored"].findings
    assert sso["user"] == SSO_PASSWORD_USER
    no_mfa = {f["user"] for f in demo.results["password-logins-without-mfa-monitored"].findings}
    assert SSO_PASSWORD_USER in no_mfa and USER_WITHOUT_MFA in no_mfa
    [old] = demo.results["unsupported-client-sessions-monitored"].findings
    assert old["user"] == OLD_CLIENT_USER and old["version"] == OLD_PYTHON_CONNECTOR
    open_ = {f["finding"] for f in demo.results["trust-center-findings-open"].findings}
    assert open_ == {7001, 7002}


def test_policy_state_began_inside_the_period(demo: Demo) -> None:
    [gap] = demo.results["evidence-gaps"].findings
    assert gap["stream"] == "snowflake/ACME_PROD/policy_state"
    assert gap["start"] == "2026-11-25T00:00:00Z"


def test_refs_name_archived_files(demo: Demo) -> None:
    files = {(e.index, str(f["path"])): f["sha256"] for e in demo.evidence.entries for f in e.files}
    for result in demo.results.values():
        for ref in result.evidence:
            assert files[(ref.entry, ref.path)] == ref.sha256


def _phi_queries_by_hand(evidence: EvidenceSet, tags: set[str]) -> dict[str, set[str]]:
    """The documented definition, written out independently of reports.checks.phi:
    query ids per role (``"unknown role"`` when QUERY_HISTORY has no row)."""
    snap = evidence.policy_snapshots()[-1]  # the demo's newest snapshot has TAG_REFERENCES
    tag_file = next(f["path"] for f in snap.files if f["path"].endswith("/tag_references.parquet"))
    columns, objects = set(), set()
    for t in evidence.table(tag_file).to_pylist():
        if t["TAG_NAME"] not in tags or t["OBJECT_DELETED"] is not None:
            continue
        name = f"{t['OBJECT_DATABASE']}.{t['OBJECT_SCHEMA']}.{t['OBJECT_NAME']}"
        if t["DOMAIN"] == "COLUMN":
            columns.add((name, t["COLUMN_NAME"]))
        else:
            objects.add(name)
    roles = {
        r["QUERY_ID"]: r["ROLE_NAME"]
        for _, table in evidence.history_rows("query_history")
        for r in table.select(["QUERY_ID", "ROLE_NAME"]).to_pylist()
    }
    out: dict[str, set[str]] = {}
    for _, table in evidence.history_rows("access_history"):
        for r in table.to_pylist():
            if not evidence.start <= r["QUERY_START_TIME"] < evidence.end:
                continue
            for obj in json.loads(r["BASE_OBJECTS_ACCESSED"] or "[]"):
                name = obj.get("objectName")
                read = [c["columnName"] for c in obj.get("columns") or []]
                if any(name in objects or (name, c) in columns for c in read):
                    out.setdefault(roles.get(r["QUERY_ID"]) or UNKNOWN_ROLE, set()).add(
                        r["QUERY_ID"]
                    )
    return out


def test_the_phi_chart_and_the_phi_check_count_the_same_reads(demo: Demo) -> None:
    chart = charts.phi_reads_per_role(demo.evidence, tags=ChecksConfig().phi_tags)
    per_role = {r.role: r.queries for r in chart.roles}
    by_hand = _phi_queries_by_hand(demo.evidence, {"PHI"})
    assert per_role == {role: len(q) for role, q in by_hand.items()}
    assert UNKNOWN_ROLE not in per_role and len(per_role) > 2
    for allowlist in (("PHI_READER",), ("PHI_READER", "TRANSFORMER", "ENGINEER")):
        settings = ChecksConfig(phi_reader_roles=allowlist)
        [check] = run_checks(demo.evidence, CheckContext(NOW, settings), only=[PHI_CHECK])
        total = sum(per_role.values())
        assert total == check.details["phi_reads"] == len(set().union(*by_hand.values()))
        allowed = sum(n for role, n in per_role.items() if role in allowlist)
        assert allowed == check.details["allowed_reads"]
        assert per_role.get(UNKNOWN_ROLE, 0) == check.details["unresolved_reads"] == 0
        flagged = set(per_role) - {*allowlist, UNKNOWN_ROLE}
        assert flagged and {f["role"] for f in check.findings} == flagged
    assert check.details["allowed_reads"] > 0  # the second allowlist allows some reads


def test_the_report_draws_the_reads_of_the_tags_the_check_was_given(demo: Demo) -> None:
    settings = ChecksConfig(phi_tags=("PII",), phi_reader_roles=("PHI_READER", "ANALYST"))
    results = run_checks(demo.evidence, CheckContext(NOW, settings), only=[PHI_CHECK])
    docs = report_documents(
        demo.evidence,
        results,
        origin=DEMO_ORIGIN,
        generated_at=NOW,
        gaps=[],
        title="demo",
        checks=settings,
    )
    drawn = docs["data"].charts.phi_reads
    assert drawn.tags == ("PII",)
    [result] = results
    assert sum(r.queries for r in drawn.roles) == result.details["phi_reads"] > 0
    by_hand = _phi_queries_by_hand(demo.evidence, {"PII"})
    assert {r.role: r.queries for r in drawn.roles} == {k: len(v) for k, v in by_hand.items()}
    assert docs["data"].scope.check_settings == settings


def test_the_results_do_not_depend_on_how_many_files_one_polars_query_reads(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year's files are scanned a few per polars query (memory follows the files in
    flight); each row keeps its own file, so every finding names the same evidence."""
    monkeypatch.setattr(evidence_module, "FILES_PER_QUERY", 1)
    evidence = from_archive(LocalStore(demo.archive), DEMO_ORIGIN, START, NOW)
    again = {r.check_id: r.to_json() for r in run_checks(evidence, CheckContext(NOW))}
    assert again == {check_id: r.to_json() for check_id, r in demo.results.items()}
