"""The contract every check keeps, run over every check's failing and passing fixture."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from das_evidence.config import ChecksConfig
from das_evidence.errors import ConfigError
from das_evidence.reports.checks import ALL_CHECKS, Check, CheckContext, check_ids, run_checks
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult, Control
from tests.unit.reports.checks.cases import FAILING, PASSING
from tests.unit.reports.checks.conftest import EvidenceBuilder, config

CHECKS = {c.check_id: c for c in ALL_CHECKS}


def test_every_check_has_a_failing_and_a_passing_fixture() -> None:
    assert set(FAILING) == set(CHECKS)
    assert set(PASSING) == set(CHECKS)


def test_ids_are_unique_and_each_maps_to_soc2_and_hipaa() -> None:
    assert len(CHECKS) == len(ALL_CHECKS) == 12 + 2 + 17 + 9 + 10  # platform, CIS 1-4
    for check in ALL_CHECKS:
        assert check.control.soc2 and check.control.hipaa, check.check_id
        assert all(c.startswith(("CC", "A1", "C1", "PI1")) for c in check.control.soc2)
        assert all(h.startswith(("164.312(", "164.308(")) for h in check.control.hipaa)


def _refs_resolve(result: CheckResult, evidence: EvidenceSet) -> None:
    """Every ref names a file of an entry in the set, with that file's digest."""
    files = {(e.index, str(f["path"])): str(f["sha256"]) for e in evidence.entries for f in e.files}
    for ref in result.evidence:
        assert files.get((ref.entry, ref.path)) == ref.sha256, ref


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_failing_fixture_fails_with_findings_and_refs(check_id: str) -> None:
    evidence, cfg = FAILING[check_id]()
    [result] = run_checks(evidence, cfg, only=[check_id])
    assert result.status == "fail", result.summary
    assert result.check_id == check_id and result.control == CHECKS[check_id].control
    assert result.findings and result.evidence
    _refs_resolve(result, evidence)
    json.dumps(result.to_json(), allow_nan=False)  # findings and details are plain JSON


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_passing_fixture_passes_without_findings(check_id: str) -> None:
    evidence, cfg = PASSING[check_id]()
    [result] = run_checks(evidence, cfg, only=[check_id])
    assert result.status == "pass", result.summary
    assert result.findings == ()
    assert result.evidence  # a pass still says what it rests on
    _refs_resolve(result, evidence)
    json.dumps(result.to_json(), allow_nan=False)


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_no_evidence_never_passes(check_id: str) -> None:
    [result] = run_checks(EvidenceBuilder().build(), config(), only=[check_id])
    # Completeness fails (every required stream is missing); the others cannot decide.
    expected = "fail" if check_id in ("evidence-gaps", "stale-streams") else "not_evidenced"
    assert result.status == expected, result.summary


def test_run_checks_runs_all_in_registry_order() -> None:
    results = run_checks(EvidenceBuilder().build(), config())
    assert [r.check_id for r in results] == check_ids()


def test_only_selects_and_unknown_ids_are_a_usage_error() -> None:
    evidence = EvidenceBuilder().build()
    results = run_checks(evidence, config(), only=["stale-streams", "human-users-without-mfa"])
    assert [r.check_id for r in results] == ["human-users-without-mfa", "stale-streams"]
    with pytest.raises(ConfigError, match="no-such-check"):
        run_checks(evidence, config(), only=["no-such-check"])


class Exploding(Check):
    check_id = "exploding"
    title = "Always raises"
    control = Control(soc2=("CC7.2",), hipaa=("164.312(b)",))

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        raise RuntimeError("boom")


def test_a_crashing_check_becomes_not_evidenced_and_the_others_still_run() -> None:
    evidence, cfg = FAILING["human-users-without-mfa"]()
    mfa = CHECKS["human-users-without-mfa"]
    crashed, after = run_checks(evidence, cfg, checks=[Exploding(), mfa])
    assert crashed.status == "not_evidenced"
    assert crashed.details["error"] == "RuntimeError: boom"
    assert after.status == "fail"


def test_an_unreadable_evidence_file_is_not_evidenced_not_an_exception() -> None:
    evidence, cfg = FAILING["human-users-without-mfa"]()
    broken = EvidenceSet(
        evidence.entries, lambda path: b"not parquet", start=evidence.start, end=evidence.end
    )
    [result] = run_checks(broken, cfg, only=["human-users-without-mfa"])
    assert result.status == "not_evidenced"
    assert "error" in result.details


def test_a_check_without_a_kebab_case_id_or_mapping_is_refused() -> None:
    with pytest.raises(TypeError, match="kebab-case"):

        class BadId(Exploding):
            check_id = "Bad_Id"

    with pytest.raises(TypeError, match="SOC 2 and HIPAA"):

        class NoHipaa(Exploding):
            check_id = "no-hipaa"
            control = Control(soc2=("CC6.1",), hipaa=())


def test_the_context_refuses_a_naive_clock() -> None:
    # Thresholds are validated where the operator sets them: tests/unit/test_config.py.
    with pytest.raises(ConfigError, match="time zone"):
        CheckContext(datetime(2026, 11, 27))
    assert CheckContext(datetime(2026, 11, 27, tzinfo=UTC)).settings == ChecksConfig()


def test_platform_checks_come_first_then_cis_checks_in_benchmark_order() -> None:
    from das_evidence.reports.checks.cis import RECOMMENDATIONS

    kinds = [c.cis is not None for c in ALL_CHECKS]
    assert kinds == sorted(kinds), "a platform check after a CIS check"
    order = [RECOMMENDATIONS[c.cis].sort_key() for c in ALL_CHECKS if c.cis is not None]
    assert order == sorted(order)
