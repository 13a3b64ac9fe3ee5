"""CIS sections 3 and 4 and warehouses-without-resource-monitor: what each decides and why."""

from __future__ import annotations

from typing import Any

import pytest

from das_evidence.reports.checks import ALL_CHECKS, run_checks
from das_evidence.reports.checks.cis_data import parse_bool, parse_days
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult
from tests.unit.reports.checks.cases_cis_data import (
    FAILING,
    GOOD_PARAMETERS,
    PASSING,
    SERVICE_POLICIES,
    SERVICE_USERS,
    build,
    monitor,
    network_policy,
    parameters,
    service_evidence,
    table,
    user_policy,
    warehouse,
)
from tests.unit.reports.checks.conftest import config, tag

CHECKS = {c.check_id: c for c in ALL_CHECKS}
OURS = sorted(FAILING)

#: the snapshot file each check cannot do without
NEEDS = {
    "account-network-policy-allowlist": "SHOW_PARAMETERS_IN_ACCOUNT",
    "service-users-without-network-policy": "SHOW_USER_NETWORK_POLICIES",
    "periodic-data-rekeying": "SHOW_PARAMETERS_IN_ACCOUNT",
    "client-encryption-key-size": "SHOW_PARAMETERS_IN_ACCOUNT",
    "tagged-tables-below-retention": "TABLES",
    "min-data-retention": "SHOW_PARAMETERS_IN_ACCOUNT",
    "stage-creation-requires-storage-integration": "SHOW_PARAMETERS_IN_ACCOUNT",
    "stage-operation-requires-storage-integration": "SHOW_PARAMETERS_IN_ACCOUNT",
    "external-stages-without-storage-integration": "SHOW_STAGES",
    "unload-to-inline-url-prevented": "SHOW_PARAMETERS_IN_ACCOUNT",
    "warehouses-without-resource-monitor": "SHOW_RESOURCE_MONITORS",
}
GRANT = "grant MONITOR on the account to role EVIDENCE_READER"


def run(check_id: str, evidence: EvidenceSet, **settings: Any) -> CheckResult:
    [result] = run_checks(evidence, config(**settings), only=[check_id])
    return result


def test_cis_ids_and_benchmark_titles() -> None:
    from das_evidence.reports.checks.cis import RECOMMENDATIONS

    cis = {CHECKS[c].cis for c in OURS}
    assert cis == {"3.1", "3.2", *(f"4.{i}" for i in range(1, 9))} | {None}
    for check_id in OURS:
        check = CHECKS[check_id]
        if check.cis is not None:
            assert check.title == RECOMMENDATIONS[check.cis].title
        assert check.reads, check_id


def test_registered_after_the_existing_checks_in_benchmark_order() -> None:
    ids = [c.check_id for c in ALL_CHECKS]
    ours = [i for i in ids if i in FAILING]
    cis_order = [CHECKS[i].cis for i in ours if CHECKS[i].cis]
    assert cis_order == sorted(cis_order, key=lambda c: tuple(int(p) for p in c.split(".")))
    assert ids.index(ours[0]) > ids.index("stale-streams")


@pytest.mark.parametrize("check_id", OURS)
def test_failing_fixture_fails_with_subject_first_and_as_of(check_id: str) -> None:
    evidence, cfg = FAILING[check_id]()
    [result] = run_checks(evidence, cfg, only=[check_id])
    assert result.status == "fail", result.summary
    assert result.cis == CHECKS[check_id].cis
    for f in result.findings:
        assert next(iter(f)) in {
            "parameter",
            "network_policy",
            "user",
            "table",
            "stage",
            "warehouse",
        }
        assert f["as_of"]
    assert result.details["evaluated"] >= 1
    assert result.details["passed"] == sorted(result.details["passed"])


@pytest.mark.parametrize("check_id", OURS)
def test_passing_fixture_names_what_passed(check_id: str) -> None:
    evidence, cfg = PASSING[check_id]()
    [result] = run_checks(evidence, cfg, only=[check_id])
    assert result.status == "pass", result.summary
    assert result.details["evaluated"] == len(result.details["passed"]) >= 1


@pytest.mark.parametrize("check_id", OURS)
def test_a_view_the_role_cannot_read_is_not_evidenced_with_the_reason(check_id: str) -> None:
    evidence, cfg = PASSING[check_id]()
    view = NEEDS[check_id]
    entry = evidence.entries[0]
    views = dict(entry.predicate["views"])
    views[view] = {"status": "not_evidenced", "reason": GRANT}
    snap = type(entry)(entry.index, entry.stream, {**entry.predicate, "views": views})
    blind = EvidenceSet([snap], evidence.read_bytes, start=evidence.start, end=evidence.end)
    [result] = run_checks(blind, cfg, only=[check_id])
    assert result.status == "not_evidenced", result.summary
    assert view in result.summary and GRANT in result.summary


# -- account parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check_id", "key", "raw"),
    [
        ("periodic-data-rekeying", "PERIODIC_DATA_REKEYING", "yes"),
        ("periodic-data-rekeying", "PERIODIC_DATA_REKEYING", ""),
        ("client-encryption-key-size", "CLIENT_ENCRYPTION_KEY_SIZE", "256 bits"),
        ("min-data-retention", "MIN_DATA_RETENTION_TIME_IN_DAYS", "7.5"),
        ("min-data-retention", "MIN_DATA_RETENTION_TIME_IN_DAYS", "-9"),
        ("unload-to-inline-url-prevented", "PREVENT_UNLOAD_TO_INLINE_URL", "1"),
    ],
)
def test_an_unparseable_parameter_value_is_a_finding_with_the_raw_value(
    check_id: str, key: str, raw: str
) -> None:
    evidence = build({"SHOW_PARAMETERS_IN_ACCOUNT": parameters({**GOOD_PARAMETERS, key: raw})})
    result = run(check_id, evidence)
    assert result.status == "fail"
    [finding] = result.findings
    assert finding["parameter"] == key and finding["value"] == raw
    assert finding["problem"] == "unparseable value"


def test_a_parameter_missing_from_show_parameters_is_not_evidenced() -> None:
    values = {k: v for k, v in GOOD_PARAMETERS.items() if k != "PERIODIC_DATA_REKEYING"}
    result = run(
        "periodic-data-rekeying", build({"SHOW_PARAMETERS_IN_ACCOUNT": parameters(values)})
    )
    assert result.status == "not_evidenced"
    assert "PERIODIC_DATA_REKEYING" in result.summary


def test_min_data_retention_follows_the_setting() -> None:
    evidence = build({"SHOW_PARAMETERS_IN_ACCOUNT": parameters(GOOD_PARAMETERS)})  # 7 days
    assert run("min-data-retention", evidence).status == "pass"
    stricter = run("min-data-retention", evidence, min_data_retention_days=14)
    assert stricter.status == "fail"
    assert stricter.findings[0]["expected"] == ">= 14"


def test_key_size_128_fails() -> None:
    evidence = build(
        {"SHOW_PARAMETERS_IN_ACCOUNT": parameters({"CLIENT_ENCRYPTION_KEY_SIZE": "128"})}
    )
    result = run("client-encryption-key-size", evidence)
    assert result.status == "fail" and result.findings[0]["value"] == "128"


def test_parsers_are_strict() -> None:
    assert parse_bool("true") is True and parse_bool("FALSE") is False
    assert parse_bool("1") is None and parse_bool(None) is None and parse_bool(True) is None
    assert parse_days("90") == 90 and parse_days(" 7 ") == 7
    assert parse_days("7.0") is None and parse_days("") is None and parse_days(7) is None


# -- networking -------------------------------------------------------------------------------


def _account_policy(value: str, allowed: str | None) -> EvidenceSet:
    return build(
        {
            "SHOW_PARAMETERS_IN_ACCOUNT": parameters({**GOOD_PARAMETERS, "NETWORK_POLICY": value}),
            "NETWORK_POLICIES": [network_policy("CORP_ALLOWLIST", allowed)],
        }
    )


def test_no_account_network_policy_fails() -> None:
    result = run("account-network-policy-allowlist", _account_policy("", "10.0.0.0/8"))
    assert result.status == "fail"
    assert result.findings[0]["problem"] == "no account-level network policy"


def test_a_policy_missing_from_network_policies_fails() -> None:
    result = run("account-network-policy-allowlist", _account_policy("GONE", "10.0.0.0/8"))
    assert result.status == "fail"
    assert result.findings[0]["network_policy"] == "GONE"


@pytest.mark.parametrize(
    ("allowed", "entry"),
    [
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("198.51.100.0/24,::/0", "::/0"),
        ("10.0.0.0/4", "10.0.0.0/4"),
        ("198.51.100.0/24,not-an-ip", "not-an-ip"),
    ],
)
def test_entries_broader_than_the_limit_or_unparseable_fail(allowed: str, entry: str) -> None:
    result = run("account-network-policy-allowlist", _account_policy("CORP_ALLOWLIST", allowed))
    assert result.status == "fail"
    assert [f["entry"] for f in result.findings] == [entry]


@pytest.mark.parametrize("allowed", [None, "", " , "])
def test_an_empty_allowlist_fails(allowed: str | None) -> None:
    result = run("account-network-policy-allowlist", _account_policy("CORP_ALLOWLIST", allowed))
    assert result.status == "fail"
    assert result.findings[0]["problem"] == "ALLOWED_IP_LIST is empty"


def test_the_prefix_limit_is_the_setting() -> None:
    evidence = _account_policy('"corp_allowlist"', "10.0.0.0/8,2001:db8::/32")
    assert run("account-network-policy-allowlist", evidence).status == "pass"
    strict = run("account-network-policy-allowlist", evidence, network_allowlist_max_prefix=16)
    assert [f["entry"] for f in strict.findings] == ["10.0.0.0/8", "2001:db8::/32"]


def test_network_policies_not_evidenced_is_not_evidenced() -> None:
    evidence = build(
        {"SHOW_PARAMETERS_IN_ACCOUNT": parameters(GOOD_PARAMETERS)},
        not_evidenced={"NETWORK_POLICIES": GRANT},
    )
    result = run("account-network-policy-allowlist", evidence)
    assert result.status == "not_evidenced" and GRANT in result.summary


def test_an_inherited_account_policy_is_not_a_user_level_one() -> None:
    evidence = service_evidence(user_policy("SVC_FIVETRAN", "CORP_ALLOWLIST", level="ACCOUNT"))
    result = run("service-users-without-network-policy", evidence)
    assert result.status == "fail"
    assert [f["user"] for f in result.findings] == ["SVC_FIVETRAN"]
    assert result.details["passed"] == ["ETL_KEYPAIR", "SVC_DBT_RUNNER"]  # not SVC_OLD, disabled


def test_a_service_user_policy_must_be_allowlist_only_and_exist() -> None:
    wide = [*SERVICE_POLICIES, network_policy("WIDE_OPEN", "0.0.0.0/0", 4003)]
    result = run(
        "service-users-without-network-policy",
        service_evidence(user_policy("SVC_FIVETRAN", "WIDE_OPEN"), NETWORK_POLICIES=wide),
    )
    [finding] = result.findings
    assert finding["problem"] == "the policy is not allowlist-only"
    assert finding["entries"][0]["entry"] == "0.0.0.0/0"
    gone = run(
        "service-users-without-network-policy",
        service_evidence(user_policy("SVC_FIVETRAN", "GONE")),
    )
    assert [f["problem"] for f in gone.findings] == ["policy not found in NETWORK_POLICIES"]


def test_service_user_policies_that_cannot_be_read_are_not_evidenced() -> None:
    evidence = build(
        {
            "USERS": SERVICE_USERS,
            "SHOW_USER_NETWORK_POLICIES": [
                user_policy(u, "SERVICE_USERS_POLICY")
                for u in ("SVC_DBT_RUNNER", "SVC_FIVETRAN", "ETL_KEYPAIR")
            ],
        },
        not_evidenced={"NETWORK_POLICIES": GRANT},
    )
    result = run("service-users-without-network-policy", evidence)
    assert result.status == "not_evidenced" and GRANT in result.summary
    assert result.details["not_verified"] == ["ETL_KEYPAIR", "SVC_DBT_RUNNER", "SVC_FIVETRAN"]


def test_a_service_user_without_a_show_row_is_not_evidenced() -> None:
    evidence = build(
        {
            "USERS": SERVICE_USERS,
            "SHOW_USER_NETWORK_POLICIES": [
                user_policy("SVC_DBT_RUNNER", "SERVICE_USERS_POLICY"),
                user_policy("SVC_FIVETRAN", "SERVICE_USERS_POLICY"),
            ],
        }
    )
    result = run("service-users-without-network-policy", evidence)
    assert result.status == "not_evidenced"
    assert result.details["not_shown"] == ["ETL_KEYPAIR"]


# -- retention --------------------------------------------------------------------------------

LEDGER = "FINANCE.CORE.LEDGER"
NOTES = "CLINICAL.PUBLIC.NOTES"


def test_retention_findings_name_the_tag_and_required_days() -> None:
    evidence, cfg = FAILING["tagged-tables-below-retention"]()
    [result] = run_checks(evidence, cfg, only=["tagged-tables-below-retention"])
    [finding] = result.findings
    assert finding["table"] == "CLINICAL.PUBLIC.ENCOUNTERS"
    assert (finding["tag"], finding["required_days"], finding["retention_time"]) == ("PHI", 90, 30)
    assert result.details["passed"] == ["CLINICAL.PUBLIC.PATIENTS", LEDGER]


def test_a_column_tag_holds_its_table_to_the_largest_requirement() -> None:
    evidence = build(
        {
            "TAG_REFERENCES": [tag(NOTES, "BODY", "PHI"), tag(NOTES, None, "critical")],
            "TABLES": [table(NOTES, 60)],
        }
    )
    result = run(
        "tagged-tables-below-retention", evidence, retention_days_by_tag={"PHI": 30, "CRITICAL": 90}
    )
    [finding] = result.findings
    assert (finding["tag"], finding["required_days"]) == ("CRITICAL", 90)
    assert finding["tags"] == {"CRITICAL": 90, "PHI": 30}


def test_a_transient_tagged_table_fails_and_a_dropped_one_is_not_found() -> None:
    evidence = build(
        {
            "TAG_REFERENCES": [tag(NOTES, None, "PHI"), tag(LEDGER, None, "CRITICAL")],
            "TABLES": [
                table(NOTES, 1, IS_TRANSIENT="YES"),
                table(LEDGER, 90, DELETED=table(LEDGER, 0)["LAST_ALTERED"]),
            ],
        }
    )
    result = run("tagged-tables-below-retention", evidence)
    assert result.status == "fail" and [f["table"] for f in result.findings] == [NOTES]
    assert result.details["not_in_tables"] == [LEDGER]


def test_a_tagged_table_missing_from_tables_is_not_evidenced() -> None:
    evidence = build(
        {
            "TAG_REFERENCES": [tag(NOTES, None, "PHI"), tag(LEDGER, None, "CRITICAL")],
            "TABLES": [table(LEDGER, 90)],
        }
    )
    result = run("tagged-tables-below-retention", evidence)
    assert result.status == "not_evidenced" and NOTES in result.summary


def test_nothing_tagged_is_not_evidenced() -> None:
    evidence = build(
        {"TAG_REFERENCES": [tag(NOTES, None, "DATA_DOMAIN")], "TABLES": [table(NOTES, 1)]}
    )
    result = run("tagged-tables-below-retention", evidence)
    assert result.status == "not_evidenced" and "CRITICAL, PHI" in result.summary


# -- stages and warehouses --------------------------------------------------------------------


def test_stage_findings_carry_the_url_and_credentials() -> None:
    evidence, cfg = FAILING["external-stages-without-storage-integration"]()
    [result] = run_checks(evidence, cfg, only=["external-stages-without-storage-integration"])
    [finding] = result.findings
    assert finding["stage"] == "RAW.LANDING.S3_LEGACY"
    assert finding["url"].startswith("s3://") and "has_credentials" in finding
    assert result.details["evaluated"] == 2  # the internal stage is not evaluated


def test_an_account_level_monitor_covers_every_warehouse() -> None:
    evidence = build(
        {
            "SHOW_WAREHOUSES": [warehouse("ADHOC_WH"), warehouse("BI_WH", "")],
            "SHOW_RESOURCE_MONITORS": [monitor("ACCOUNT_BUDGET", "ACCOUNT")],
        }
    )
    result = run("warehouses-without-resource-monitor", evidence)
    assert result.status == "pass"
    assert result.details["account_monitors"] == ["ACCOUNT_BUDGET"]


def test_a_warehouse_naming_an_unlisted_monitor_fails() -> None:
    evidence = build(
        {
            "SHOW_WAREHOUSES": [warehouse("ADHOC_WH", "DROPPED_MONITOR")],
            "SHOW_RESOURCE_MONITORS": [monitor("OTHER")],
        }
    )
    result = run("warehouses-without-resource-monitor", evidence)
    assert result.status == "fail"
    assert result.findings[0]["resource_monitor"] == "DROPPED_MONITOR"


def _schema_tag(name: str, tag_name: str, domain: str) -> dict[str, Any]:
    db, _, schema = name.partition(".")
    row = tag(f"{db}.X.{schema or db}", None, tag_name)
    if domain == "SCHEMA":
        return {**row, "OBJECT_DATABASE": db, "OBJECT_SCHEMA": None, "DOMAIN": "SCHEMA"}
    return {**row, "OBJECT_DATABASE": None, "OBJECT_SCHEMA": None, "DOMAIN": "DATABASE"}


def test_a_schema_or_database_tag_is_inherited_by_its_tables_not_its_views() -> None:
    evidence = build(
        {
            "TAG_REFERENCES": [
                _schema_tag("CLINICAL.PUBLIC", "PHI", "SCHEMA"),
                _schema_tag("FINANCE", "CRITICAL", "DATABASE"),
            ],
            "TABLES": [
                table(NOTES, 30),
                table("CLINICAL.PUBLIC.NOTES_V", None, TABLE_TYPE="VIEW"),
                table("CLINICAL.STAGING.RAW", 1),  # another schema: not tagged
                table(LEDGER, 90),
            ],
        }
    )
    result = run("tagged-tables-below-retention", evidence)
    assert result.status == "fail"
    [finding] = result.findings
    assert finding["table"] == NOTES and finding["tagged_on"] == "schema CLINICAL.PUBLIC"
    assert result.details["passed"] == [LEDGER]
    assert result.details["evaluated"] == 2
