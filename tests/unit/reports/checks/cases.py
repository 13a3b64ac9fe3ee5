"""One failing and one passing fixture for every control check, keyed by check id.

Each fixture is the smallest evidence that makes its check fail (or pass), modelled
on the demo account: DAVE_ADMIN with ACCOUNTADMIN, ERIN_CONTRACTOR without MFA, a
burst of failed logins from 203.0.113.45, PHI tags on CLINICAL.PUBLIC.PATIENTS.
``test_registry`` checks that every check in ALL_CHECKS has both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from das_evidence.reports.checks import CheckContext
from das_evidence.reports.evidence import EvidenceSet
from tests.unit.reports.checks import cases_cis_data as cis_data
from tests.unit.reports.checks import cases_cis_monitoring, cis_identity_cases
from tests.unit.reports.checks.conftest import (
    END,
    NOW,
    PATIENTS,
    START,
    EvidenceBuilder,
    access,
    change,
    config,
    dbt_model,
    dbt_test,
    login,
    masking_policy,
    policy_ref,
    query,
    role_grant,
    tag,
    user,
    user_grant,
)

Case = Callable[[], tuple[EvidenceSet, CheckContext]]
AS_OF = END - timedelta(hours=2)
BURST_AT = START + timedelta(days=2, hours=9)
BURST_IP = "203.0.113.45"


# -- identity ---------------------------------------------------------------------------------


def _users(erin_mfa: bool) -> EvidenceSet:
    b = EvidenceBuilder()
    b.snapshot(
        AS_OF,
        {
            "USERS": [
                user("ALICE_ANALYST"),
                user("ERIN_CONTRACTOR", mfa=erin_mfa),
                user("SVC_DBT_RUNNER", mfa=None, TYPE="SERVICE", HAS_PASSWORD=False),
                user("FRANK_ANALYST", mfa=False, DELETED_ON=START - timedelta(days=120)),
                user("OLD_TEMP", mfa=False, DISABLED="true"),
            ]
        },
    )
    return b.build()


def mfa_fail() -> tuple[EvidenceSet, CheckContext]:
    return _users(erin_mfa=False), config()


def mfa_pass() -> tuple[EvidenceSet, CheckContext]:
    return _users(erin_mfa=True), config()


def _admins() -> EvidenceSet:
    b = EvidenceBuilder()
    b.snapshot(
        AS_OF,
        {
            "GRANTS_TO_USERS": [
                user_grant("ACCOUNTADMIN", "DAVE_ADMIN"),
                user_grant("ACCOUNTADMIN", "BOB_ENGINEER", DELETED_ON=START - timedelta(days=298)),
                user_grant("ANALYST", "ALICE_ANALYST"),
            ],
            # The system hierarchy: SYSADMIN is granted *to* ACCOUNTADMIN, not the other way.
            "GRANTS_TO_ROLES": [
                role_grant("SYSADMIN", "ACCOUNTADMIN"),
                role_grant("SECURITYADMIN", "ACCOUNTADMIN"),
                role_grant("ANALYST", "SYSADMIN"),
            ],
            "USERS": [user("DAVE_ADMIN"), user("BOB_ENGINEER"), user("ALICE_ANALYST")],
        },
    )
    return b.build()


def accountadmin_fail() -> tuple[EvidenceSet, CheckContext]:
    return _admins(), config()


def accountadmin_pass() -> tuple[EvidenceSet, CheckContext]:
    return _admins(), config(accountadmin_allowlist=("dave_admin",))


# -- logins -----------------------------------------------------------------------------------


def _logins(burst: bool) -> EvidenceSet:
    rows = [
        login(START + timedelta(hours=h), "ALICE_ANALYST", "198.51.100.23", ok=True)
        for h in range(0, 24 * 6, 5)
    ]
    # Background: a few failures, far apart.
    rows += [
        login(START + timedelta(days=d, hours=14), "ALICE_ANALYST", "198.51.100.23")
        for d in range(6)
    ]
    if burst:
        rows += [
            login(BURST_AT + timedelta(seconds=7 * k), "DAVE_ADMIN", BURST_IP, event_id=9000 + k)
            for k in range(12)
        ]
    b = EvidenceBuilder()
    b.history("login_history", sorted(rows, key=lambda r: r["EVENT_TIMESTAMP"]))
    return b.build()


def bursts_fail() -> tuple[EvidenceSet, CheckContext]:
    return _logins(burst=True), config()


def bursts_pass() -> tuple[EvidenceSet, CheckContext]:
    return _logins(burst=False), config()


# -- data protection --------------------------------------------------------------------------


def _masking(first_name_masked: bool) -> EvidenceSet:
    refs = [policy_ref(PATIENTS, "SSN")]
    if first_name_masked:
        refs.append(policy_ref(PATIENTS, "FIRST_NAME", "NAME_MASK", policy_id=2006))
    b = EvidenceBuilder()
    b.snapshot(
        AS_OF,
        {
            "TAG_REFERENCES": [
                tag(PATIENTS, "SSN", "PHI", "ssn"),
                tag(PATIENTS, "SSN", "PII", "ssn"),
                tag(PATIENTS, "FIRST_NAME", "PII", "name"),
                tag(PATIENTS, None, "DATA_DOMAIN", "clinical"),
            ],
            "POLICY_REFERENCES": refs,
        },
    )
    return b.build()


def masking_fail() -> tuple[EvidenceSet, CheckContext]:
    return _masking(first_name_masked=False), config()


def masking_pass() -> tuple[EvidenceSet, CheckContext]:
    return _masking(first_name_masked=True), config()


def _references(status: str) -> EvidenceSet:
    b = EvidenceBuilder()
    b.snapshot(
        AS_OF,
        {
            "POLICY_REFERENCES": [
                policy_ref(PATIENTS, "SSN"),
                policy_ref(PATIENTS, "DOB", "DOB_MASK", policy_id=2002, status=status),
            ]
        },
    )
    return b.build()


def references_fail() -> tuple[EvidenceSet, CheckContext]:
    return _references("MULTIPLE_MASKING_POLICY_ASSIGNED_TO_THE_COLUMN"), config()


def references_pass() -> tuple[EvidenceSet, CheckContext]:
    return _references("ACTIVE"), config()


OLD_BODY = "CASE WHEN IS_ROLE_IN_SESSION('PHI_READER') THEN val ELSE '***MASKED***' END"
NEW_BODY = (
    "CASE WHEN IS_ROLE_IN_SESSION('PHI_READER') OR IS_ROLE_IN_SESSION('ENGINEER')"
    " THEN val ELSE '***MASKED***' END"
)
EDITED_AT = END - timedelta(hours=12)


def _policy_views(ssn: dict[str, object]) -> dict[str, list[dict[str, object]]]:
    return {
        "MASKING_POLICIES": [ssn, masking_policy("DOB_MASK", 2002)],
        "ROW_ACCESS_POLICIES": [masking_policy("FACILITY_RAP", 2101)],
        "POLICY_REFERENCES": [policy_ref(PATIENTS, "SSN")],
    }


def policies_changed_fail() -> tuple[EvidenceSet, CheckContext]:
    before = masking_policy(body=OLD_BODY)
    after = masking_policy(body=NEW_BODY, altered=EDITED_AT)
    b = EvidenceBuilder()
    b.snapshot(END - timedelta(days=1, hours=2), _policy_views(before), changes=[])
    b.snapshot(
        AS_OF,
        _policy_views(after),
        changes=[
            change("MASKING_POLICIES", "changed", before, after, ["LAST_ALTERED", "POLICY_BODY"])
        ],
        since=END - timedelta(days=1, hours=2),
    )
    return b.build(), config()


def policies_changed_pass() -> tuple[EvidenceSet, CheckContext]:
    ssn = masking_policy(body=OLD_BODY)
    b = EvidenceBuilder()
    b.snapshot(START + timedelta(hours=22), _policy_views(ssn), changes=[])
    b.snapshot(AS_OF, _policy_views(ssn), changes=[])
    return b.build(), config()


PHI_AT = START + timedelta(days=3, hours=15)


def _phi_reads(analyst_reads_ssn: bool) -> EvidenceSet:
    reads = [
        access("q-dave", PHI_AT, "DAVE_ADMIN", (PATIENTS, ("PATIENT_ID", "SSN"))),
        # Not PHI: PATIENT_ID is untagged.
        access(
            "q-alice-id",
            PHI_AT + timedelta(minutes=1),
            "ALICE_ANALYST",
            (PATIENTS, ("PATIENT_ID",)),
        ),
    ]
    queries = [
        query("q-dave", PHI_AT, "DAVE_ADMIN", "PHI_READER"),
        query("q-alice-id", PHI_AT + timedelta(minutes=1), "ALICE_ANALYST", "ANALYST"),
    ]
    if analyst_reads_ssn:
        at = PHI_AT + timedelta(minutes=2)
        reads.append(
            access(
                "q-alice-ssn",
                at,
                "ALICE_ANALYST",
                (PATIENTS, ("PATIENT_ID", "SSN")),
                masked=[(PATIENTS, "SSN")],
            )
        )
        queries.append(query("q-alice-ssn", at, "ALICE_ANALYST", "ANALYST"))
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"TAG_REFERENCES": [tag(PATIENTS, "SSN", "PHI", "ssn")]})
    b.history("access_history", reads)
    b.history("query_history", queries)
    return b.build()


def phi_reads_fail() -> tuple[EvidenceSet, CheckContext]:
    return _phi_reads(analyst_reads_ssn=True), config()


def phi_reads_pass() -> tuple[EvidenceSet, CheckContext]:
    return _phi_reads(analyst_reads_ssn=False), config()


# -- dbt --------------------------------------------------------------------------------------

ACCEPTED = "test.jaffle_health.accepted_values_stg_encounters_encounter_status.147a9e6378"
SUMMARY_TEST = "test.jaffle_health.not_null_encounter_summary_patient_id.6d10e26e01"
UNIQUE_TEST = "test.jaffle_health.unique_stg_patients_patient_id.8907d3ccf0"


def dbt_tests_fail() -> tuple[EvidenceSet, CheckContext]:
    b = EvidenceBuilder()
    b.dbt(
        END - timedelta(hours=20),
        tests=[
            dbt_test(UNIQUE_TEST, "pass", "passed"),
            dbt_test(ACCEPTED, "fail", "failed", failures=1, message="Got 1 result"),
            dbt_test(SUMMARY_TEST, "skipped", "not_evidenced"),
        ],
    )
    return b.build(), config()


def dbt_tests_pass() -> tuple[EvidenceSet, CheckContext]:
    b = EvidenceBuilder()
    b.dbt(
        END - timedelta(hours=20),
        tests=[
            dbt_test(UNIQUE_TEST, "pass", "passed"),
            dbt_test(ACCEPTED, "warn", "warned", severity="warn", failures=1),
            dbt_test(SUMMARY_TEST, None, "not_evidenced"),  # in the manifest, not run
        ],
    )
    return b.build(), config()


def _models(stg_patients_contract: bool) -> EvidenceSet:
    b = EvidenceBuilder()
    b.dbt(
        END - timedelta(hours=20),
        nodes=[
            dbt_model(
                "stg_patients",
                contract=stg_patients_contract or None,
                classifications={"mrn": "PHI", "first_name": "PII", "email": "PII"},
            ),
            dbt_model(
                "patient_claims", contract=True, classifications={"mrn": "PHI"}, tags=["hipaa"]
            ),
            dbt_model("stg_claims", contract=None),  # holds nothing personal
        ],
    )
    return b.build()


def dbt_contracts_fail() -> tuple[EvidenceSet, CheckContext]:
    return _models(stg_patients_contract=False), config()


def dbt_contracts_pass() -> tuple[EvidenceSet, CheckContext]:
    return _models(stg_patients_contract=True), config()


# -- completeness -----------------------------------------------------------------------------


def _snapshots_daily(b: EvidenceBuilder) -> None:
    """A snapshot an hour into each day; the stream began before the period."""
    day = START
    while day < END:
        b.snapshot(day + timedelta(hours=1), {"USERS": [user("ALICE_ANALYST")]}, changes=[])
        day += timedelta(days=1)


def gaps_fail() -> tuple[EvidenceSet, CheckContext]:
    b = EvidenceBuilder()
    for kind in ("login_history", "query_history", "sessions"):
        b.history(kind)
    # ACCESS_HISTORY misses most of 22 November.
    b.history("access_history", start=START, end=START + timedelta(days=2, hours=3))
    b.history("access_history", start=START + timedelta(days=3), end=NOW - timedelta(hours=3))
    _snapshots_daily(b)
    return b.build(), config()


def gaps_pass() -> tuple[EvidenceSet, CheckContext]:
    b = EvidenceBuilder()
    b.all_history()
    _snapshots_daily(b)
    return b.build(), config()


def stale_fail() -> tuple[EvidenceSet, CheckContext]:
    b = EvidenceBuilder()
    for kind in ("access_history", "query_history", "sessions"):
        b.history(kind)
    # LOGIN_HISTORY stopped three days before the period closed.
    b.history("login_history", start=START, end=END - timedelta(days=3))
    _snapshots_daily(b)
    return b.build(), config()


def stale_pass() -> tuple[EvidenceSet, CheckContext]:
    return gaps_pass()


FAILING: dict[str, Case] = {
    "human-users-without-mfa": mfa_fail,
    "accountadmin-grantees": accountadmin_fail,
    "failed-login-bursts-per-user": bursts_fail,
    "failed-login-bursts-per-ip": bursts_fail,
    "sensitive-columns-without-masking": masking_fail,
    "policy-references-not-active": references_fail,
    "protection-policies-changed": policies_changed_fail,
    "phi-reads-outside-allowlist": phi_reads_fail,
    "dbt-tests-failed-or-skipped": dbt_tests_fail,
    "sensitive-dbt-models-without-contract": dbt_contracts_fail,
    "evidence-gaps": gaps_fail,
    "stale-streams": stale_fail,
    **cis_data.FAILING,
}

PASSING: dict[str, Case] = {
    "human-users-without-mfa": mfa_pass,
    "accountadmin-grantees": accountadmin_pass,
    "failed-login-bursts-per-user": bursts_pass,
    "failed-login-bursts-per-ip": bursts_pass,
    "sensitive-columns-without-masking": masking_pass,
    "policy-references-not-active": references_pass,
    "protection-policies-changed": policies_changed_pass,
    "phi-reads-outside-allowlist": phi_reads_pass,
    "dbt-tests-failed-or-skipped": dbt_tests_pass,
    "sensitive-dbt-models-without-contract": dbt_contracts_pass,
    "evidence-gaps": gaps_pass,
    "stale-streams": stale_pass,
    **cis_data.PASSING,
}

# CIS section 1 (tests/unit/reports/checks/cis_identity_cases.py)
FAILING.update(cis_identity_cases.FAILING)
PASSING.update(cis_identity_cases.PASSING)

# -- CIS section 2 and Trust Center (cases_cis_monitoring.py) ---------------------------------

FAILING.update(cases_cis_monitoring.FAILING)
PASSING.update(cases_cis_monitoring.PASSING)
