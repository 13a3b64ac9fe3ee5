"""CIS coverage in every report format: JSON, OSCAL, HTML and Markdown.

The checks here are test-only subclasses of the real :class:`Check` with CIS ids, so
the reports are exercised over whatever checks the registry holds when they land.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from das_evidence.config import ChecksConfig
from das_evidence.reports.checks import CheckContext, run_checks
from das_evidence.reports.checks.cis import BENCHMARK, RECOMMENDATIONS, SECTIONS, manual
from das_evidence.reports.checks.interface import Check
from das_evidence.reports.cis_coverage import NO_CHECK, cis_coverage
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult, Control
from das_evidence.reports.oscal import CIS_CLASS, PROP_NS, assessment_results, validate
from das_evidence.reports.render import (
    build_report_data,
    render_html,
    render_json,
    render_markdown,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 2, tzinfo=UTC)
NOW = datetime(2026, 11, 2, 6, tzinfo=UTC)
CONTROL = Control(soc2=("CC6.1",), hipaa=("164.312(a)(1)",))


class _Fixed(Check):
    """A check that answers what its class says (or raises)."""

    check_id: ClassVar[str] = "test-fixed"
    title: ClassVar[str] = "Fixed"
    control: ClassVar[Control] = CONTROL
    answer: ClassVar[str] = "pass"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        if self.answer == "raise":
            raise RuntimeError("boom")
        if self.answer == "fail":
            return self.result(
                "fail",
                "2 users have an admin default role",
                findings=[{"user": "ALICE", "default_role": "ACCOUNTADMIN"}],
            )
        return self.result(self.answer, f"{self.check_id}: {self.answer}")  # type: ignore[arg-type]


class AdminDefaultRole(_Fixed):
    check_id = "test-admin-default-role"
    title = RECOMMENDATIONS["1.12"].title
    cis = "1.12"
    answer = "fail"


class AdminGrantsMonitored(_Fixed):
    check_id = "test-admin-grants-monitored"
    title = RECOMMENDATIONS["2.1"].title
    cis = "2.1"


class Rekeying(_Fixed):
    check_id = "test-rekeying"
    title = RECOMMENDATIONS["4.1"].title
    cis = "4.1"
    answer = "raise"  # the registry's boundary turns it into not_evidenced


class Sso(_Fixed):
    check_id = "test-sso"
    title = RECOMMENDATIONS["1.1"].title
    cis = "1.1"


class Platform(_Fixed):
    check_id = "test-platform-own"
    title = "A platform control"


CHECKS: tuple[Check, ...] = (
    Platform(),
    AdminGrantsMonitored(),
    Rekeying(),
    AdminDefaultRole(),
    Sso(),
)


def _evidence() -> EvidenceSet:
    return EvidenceSet([], lambda p: b"", start=START, end=END)


def _results() -> list[CheckResult]:
    return run_checks(_evidence(), CheckContext(NOW, ChecksConfig()), checks=CHECKS)


def _data() -> Any:
    return build_report_data(
        _evidence(),
        _results(),
        title="CIS",
        generated_at=NOW,
        origin="evidence.example.com/cis",
        checks=ChecksConfig(),
    )


def test_every_result_carries_its_cis_id_in_the_json() -> None:
    doc = json.loads(render_json(_data()))
    assert {r["check_id"]: r["cis"] for r in doc["results"]} == {
        "test-platform-own": None,
        "test-admin-grants-monitored": "2.1",
        "test-rekeying": "4.1",
        "test-admin-default-role": "1.12",
        "test-sso": "1.1",
    }


def test_cis_coverage_puts_every_recommendation_in_exactly_one_state() -> None:
    cov = json.loads(render_json(_data()))["cis_coverage"]
    assert cov["benchmark"] == BENCHMARK
    overall = cov["overall"]
    assert overall["pass"] == ["1.1", "2.1"]
    assert overall["fail"] == ["1.12"]
    assert overall["not_evidenced"] == ["4.1"]
    assert [m["cis"] for m in overall["manual"]] == [r.cis for r in manual()]
    assert all(m["reason"] for m in overall["manual"])
    listed = (
        overall["pass"]
        + overall["fail"]
        + overall["not_evidenced"]
        + overall["not_run"]
        + [m["cis"] for m in overall["manual"]]
    )
    assert sorted(listed) == sorted(RECOMMENDATIONS)  # complete, nothing twice
    assert overall["total"] == len(RECOMMENDATIONS) == sum(overall["counts"].values())
    assert overall["counts"]["fail"] == 1 and overall["automated"] == len(RECOMMENDATIONS) - 3
    sections = {s["section"]: s for s in cov["sections"]}
    assert list(sections) == list(SECTIONS)
    assert sections["1"]["title"] == "Identity and access management"
    assert sections["1"]["pass"] == ["1.1"] and sections["1"]["fail"] == ["1.12"]
    assert sections["4"]["not_evidenced"] == ["4.1"]
    assert [m["cis"] for m in sections["4"]["manual"]] == ["4.9", "4.10", "4.11"]
    assert sum(s["total"] for s in sections.values()) == len(RECOMMENDATIONS)
    by_id = {r["cis"]: r for r in cov["recommendations"]}
    assert by_id["1.12"]["check_ids"] == ["test-admin-default-role"]
    assert by_id["1.13"]["state"] == "not_run" and by_id["1.13"]["reason"]


def test_an_automated_recommendation_whose_check_did_not_run_says_why() -> None:
    results = [r for r in _results() if r.cis != "2.1"]
    cov = cis_coverage(results, checks=CHECKS)
    assert cov.of("2.1").state == "not_run"
    assert "test-admin-grants-monitored" in (cov.of("2.1").reason or "")
    assert cov.of("2.2").reason == NO_CHECK


def test_any_failing_result_fails_a_recommendation() -> None:
    a = CheckResult("a-check", "A", "pass", "ok", CONTROL, cis="3.1")
    b = CheckResult("b-check", "B", "fail", "no", CONTROL, cis="3.1")
    assert cis_coverage([a, b], checks=()).of("3.1").state == "fail"
    c = CheckResult("c-check", "C", "not_evidenced", "?", CONTROL, cis="3.1")
    assert cis_coverage([a, c], checks=()).of("3.1").state == "not_evidenced"


def _oscal(results: list[CheckResult]) -> dict[str, Any]:
    return assessment_results(
        results,
        _evidence(),
        title="CIS",
        generated_at=NOW,
        period_start=START,
        period_end=END,
        tool_version="0.1.0",
    )


def _cis_props(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in item.get("props", []) if p["name"] == "cis-recommendation"]


def test_oscal_observations_and_findings_carry_the_cis_id() -> None:
    doc = _oscal(_results())
    validate(doc)
    [result] = doc["assessment-results"]["results"]
    for obs in result["observations"]:
        check_id = next(p["value"] for p in obs["props"] if p["name"] == "check-id")
        props = _cis_props(obs)
        if check_id == "test-platform-own":
            assert props == []
        else:
            [prop] = props
            assert prop["ns"] == PROP_NS and prop["class"] == CIS_CLASS
    findings = {f["target"]["target-id"]: f for f in result["findings"]}
    [prop] = _cis_props(findings["test-admin-default-role"])
    assert prop["value"] == "1.12"
    [prop] = _cis_props(findings["test-rekeying"])
    assert prop["value"] == "4.1"


def test_oscal_lists_manual_recommendations_as_not_assessed_findings() -> None:
    doc = _oscal(_results())
    [result] = doc["assessment-results"]["results"]
    findings = {f["target"]["target-id"]: f for f in result["findings"]}
    for rec in manual():
        f = findings[f"cis-{rec.cis}"]
        assert {"name": "assessment", "ns": PROP_NS, "value": "manual"} in f["props"]
        assert _cis_props(f)[0]["value"] == rec.cis
        status = f["target"]["status"]
        assert status["state"] == "not-satisfied" and status["reason"] == "other"
        assert rec.manual_reason is not None and rec.manual_reason in status["remarks"]
    # only the platform's own checks: the benchmark is not in scope, nothing is claimed
    platform = [r for r in _results() if r.cis is None]
    [result] = _oscal(platform)["assessment-results"]["results"]
    assert "findings" not in result


def test_html_shows_coverage_first_then_checks_grouped_by_section() -> None:
    html = render_html(_data())
    cov = html.index('<section id="cis-coverage">')
    assert cov < html.index('<section id="scope">') < html.index('<section id="controls">')
    table = html[cov : html.index("</table>", cov)]
    assert '<td>1 Identity and access management</td><td class="num">17</td>' in table
    assert '<th scope="row">All sections</th>' in table
    manual_list = html[html.index('id="cis-manual"') :]
    for rec in manual():
        assert f'<td class="nw">{rec.cis}</td>' in manual_list
    findings = html[html.index('<section id="findings">') :]
    order = [
        findings.index('id="findings-group-cis-1"'),
        findings.index('id="check-test-sso"'),
        findings.index('id="check-test-admin-default-role"'),
        findings.index('id="findings-group-cis-2"'),
        findings.index('id="check-test-admin-grants-monitored"'),
        findings.index('id="findings-group-cis-4"'),
        findings.index('id="check-test-rekeying"'),
        findings.index('id="findings-group-platform"'),
        findings.index('id="check-test-platform-own"'),
    ]
    assert order == sorted(order)
    assert "findings-group-cis-3" not in findings  # no check of section 3 ran
    assert "CIS 1.12 · test-admin-default-role" in findings
    controls = html[html.index('<section id="controls">') : html.index('<section id="findings">')]
    assert '<tbody id="group-cis-1">' in controls and '<tbody id="group-platform">' in controls


def test_markdown_has_the_coverage_table_and_the_manual_list() -> None:
    md = render_markdown(_data())
    assert f"## {BENCHMARK}: coverage" in md
    assert "| All sections | 39 |" in md
    for rec in manual():
        assert f"- {rec.cis} " in md


@pytest.mark.parametrize("fmt", [render_html, render_markdown])
def test_platform_only_reports_still_render(fmt: Any) -> None:
    results = [r for r in _results() if r.cis is None]
    data = build_report_data(
        _evidence(),
        results,
        title="P",
        generated_at=NOW,
        origin="evidence.example.com/cis",
        checks=ChecksConfig(),
    )
    text = fmt(data)
    assert "test-platform-own" in text
