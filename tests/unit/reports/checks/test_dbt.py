"""dbt tests and contracts over the invocations of the period."""

from __future__ import annotations

from datetime import timedelta

from das_evidence.reports.checks.dbt import (
    DbtTestsFailedOrSkipped,
    SensitiveDbtModelsWithoutContract,
)
from tests.unit.reports.checks import cases
from tests.unit.reports.checks.conftest import (
    END,
    START,
    EvidenceBuilder,
    config,
    dbt_model,
    dbt_test,
)

TESTS = DbtTestsFailedOrSkipped()
CONTRACTS = SensitiveDbtModelsWithoutContract()


def test_failed_and_skipped_tests_fail() -> None:
    evidence, cfg = cases.dbt_tests_fail()
    result = TESTS.run(evidence, cfg)
    assert result.status == "fail"
    assert [(f["test"], f["status"]) for f in result.findings] == [
        (cases.ACCEPTED, "fail"),
        (cases.SUMMARY_TEST, "skipped"),
    ]
    failed = result.findings[0]
    assert failed["project"] == "jaffle_health" and failed["failures"] == 1
    assert failed["generated_at"] == "2026-11-26T04:00:00Z"
    assert failed["evidence"]["path"].endswith("/tests.parquet")
    assert "1 fail, 1 skipped" in result.summary


def test_passed_and_warned_tests_pass_and_tests_not_run_are_counted() -> None:
    evidence, cfg = cases.dbt_tests_pass()
    result = TESTS.run(evidence, cfg)
    assert result.status == "pass"
    assert result.details["tests_run"] == 2 and result.details["tests_not_run"] == 1
    assert [w["test"] for w in result.details["warned"]] == [cases.ACCEPTED]


def test_an_errored_test_fails() -> None:
    b = EvidenceBuilder()
    b.dbt(END - timedelta(hours=1), tests=[dbt_test(cases.UNIQUE_TEST, "error", "errored")])
    assert TESTS.run(b.build(), config()).status == "fail"


def test_a_failure_in_an_earlier_invocation_still_fails_the_period() -> None:
    b = EvidenceBuilder()
    b.dbt(
        START + timedelta(days=1),
        invocation_id="a",
        tests=[dbt_test(cases.ACCEPTED, "fail", "failed")],
    )
    b.dbt(
        START + timedelta(days=2),
        invocation_id="b",
        tests=[dbt_test(cases.ACCEPTED, "pass", "passed")],
    )
    [finding] = TESTS.run(b.build(), config()).findings
    assert finding["invocation_id"] == "a"


def test_tests_without_an_invocation_or_a_test_run_are_not_evidenced() -> None:
    assert TESTS.run(EvidenceBuilder().build(), config()).status == "not_evidenced"
    b = EvidenceBuilder()
    b.dbt(END - timedelta(hours=1), tests=[dbt_test(cases.UNIQUE_TEST, None, "not_evidenced")])
    result = TESTS.run(b.build(), config())
    assert result.status == "not_evidenced" and "no dbt test ran" in result.summary


def test_a_sensitive_model_without_a_contract_fails() -> None:
    evidence, cfg = cases.dbt_contracts_fail()
    result = CONTRACTS.run(evidence, cfg)
    assert result.status == "fail"
    [finding] = result.findings
    assert finding["model"] == "model.jaffle_health.stg_patients"
    assert finding["sensitive_columns"] == {"email": "PII", "first_name": "PII", "mrn": "PHI"}
    assert finding["contract_enforced"] is None
    assert result.details["sensitive_models"] == 2


def test_sensitive_models_with_contracts_pass() -> None:
    evidence, cfg = cases.dbt_contracts_pass()
    assert CONTRACTS.run(evidence, cfg).status == "pass"


def test_model_tags_and_meta_also_make_a_model_sensitive() -> None:
    b = EvidenceBuilder()
    b.dbt(
        END - timedelta(hours=1),
        nodes=[
            dbt_model("tagged", contract=False, tags=["pii"]),
            dbt_model("flagged", contract=None, meta={"contains_phi": True}),
            dbt_model("classified", contract=None, meta={"classification": "phi"}),
            dbt_model("hipaa_only", contract=None, tags=["hipaa"]),
        ],
    )
    result = CONTRACTS.run(b.build(), config())
    assert sorted(f["model"].rsplit(".", 1)[1] for f in result.findings) == [
        "classified",
        "flagged",
        "tagged",
    ]


def test_contracts_are_judged_on_the_latest_invocation_of_each_project() -> None:
    b = EvidenceBuilder()
    phi = {"mrn": "PHI"}
    b.dbt(
        START + timedelta(days=1),
        invocation_id="old",
        nodes=[dbt_model("stg_patients", contract=None, classifications=phi)],
    )
    b.dbt(
        START + timedelta(days=2),
        invocation_id="new",
        nodes=[dbt_model("stg_patients", contract=True, classifications=phi)],
    )
    b.dbt(
        START + timedelta(days=1),
        invocation_id="other",
        project="billing",
        nodes=[dbt_model("claims", contract=False, classifications=phi)],
    )
    result = CONTRACTS.run(b.build(), config())
    assert [(f["project"], f["invocation_id"]) for f in result.findings] == [("billing", "other")]
    assert result.details["projects"] == ["billing", "jaffle_health"]


def test_contracts_without_classified_models_or_invocations_are_not_evidenced() -> None:
    assert CONTRACTS.run(EvidenceBuilder().build(), config()).status == "not_evidenced"
    b = EvidenceBuilder()
    b.dbt(END - timedelta(hours=1), nodes=[dbt_model("stg_claims", contract=None)])
    assert CONTRACTS.run(b.build(), config()).status == "not_evidenced"


def test_test_results_are_read_once_and_not_kept_in_the_table_cache() -> None:
    """A year holds an invocation's tests.parquet per project a day: each is read once,
    so caching them only held memory (~1,500 tables, a handful of hits)."""
    b = EvidenceBuilder()
    for day in range(3):
        b.dbt(
            START + timedelta(days=day),
            invocation_id=f"i{day}",
            tests=[dbt_test(cases.ACCEPTED, "pass", "passed")],
        )
    evidence = b.build()
    assert TESTS.run(evidence, config()).details["tests_run"] == 3
    assert not [path for path, _ in evidence._cache if path.endswith("/tests.parquet")]
