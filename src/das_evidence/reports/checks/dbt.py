"""dbt checks over the invocations archived in the period (``dbt/<project>/<invocation_id>``).

Tests are judged over every invocation of the period (a failure stays a finding
after a later run passes: the period had it). Contracts are judged on the
latest invocation of each project, which holds the project as it now stands.

| check | SOC 2 | HIPAA |
|---|---|---|
| ``dbt-tests-failed-or-skipped`` | CC8.1 (changes are tested), PI1.3 (processing is complete and accurate) | 164.312(c)(1) integrity |
| ``sensitive-dbt-models-without-contract`` | CC8.1, C1.1 (confidential information is identified and protected) | 164.312(c)(1), 164.308(a)(1)(ii)(D) activity review |
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from das_evidence.reports.checks._support import json_value, upper_set
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef

#: tests.parquet ``evidence_status`` values that fail the check; ``not_evidenced`` with
#: a dbt status is a test that ran but proved nothing (skipped), which fails too
FAILING = frozenset({"failed", "errored", "not_evidenced"})


def _invocation(entry: EvidenceEntry) -> dict[str, Any]:
    dbt = entry.predicate.get("dbt") or {}
    sid = entry.stream_id
    return {
        "project": dbt.get("project") or (sid.project if sid else None),
        "invocation_id": dbt.get("invocation_id") or (sid.invocation_id if sid else None),
        "generated_at": entry.predicate.get("window", {}).get("start"),
    }


def _described(entry: EvidenceEntry) -> str:
    inv = _invocation(entry)
    return f"dbt invocation {inv['invocation_id']} of {inv['project']} (entry {entry.index})"


class DbtTestsFailedOrSkipped(Check):
    """dbt tests that failed, errored or were skipped in any invocation of the period.

    Reads each invocation's ``tests.parquet``. Warnings are listed in ``details``;
    tests in the manifest that did not run in an invocation are counted there too.
    ``not_evidenced`` when there is no invocation, or no test ran in any of them.
    """

    check_id = "dbt-tests-failed-or-skipped"
    reads = ("dbt invocations: tests.parquet",)
    title = "dbt tests failed or skipped"
    control = Control(soc2=("CC8.1", "PI1.3"), hipaa=("164.312(c)(1)",))

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        invocations = evidence.dbt_invocations()
        if not invocations:
            return self.not_evidenced("no dbt invocation in the period")
        findings: list[dict[str, Any]] = []
        warned: list[dict[str, Any]] = []
        gaps: list[str] = []
        refs: list[EvidenceRef] = []
        ran = not_run = 0
        for inv in invocations:
            f = inv.file("tests.parquet")
            if f is None:
                gaps.append(f"{_described(inv)} has no tests.parquet")
                continue
            path = str(f["path"])
            refs.append(inv.ref(path))
            for t in evidence.table(path, cache=False).to_pylist():  # read once
                if t.get("status") is None:
                    not_run += 1
                    continue
                ran += 1
                row = {
                    **_invocation(inv),
                    "test": t.get("unique_id"),
                    "attached_node": t.get("attached_node"),
                    "column": t.get("column_name"),
                    "status": t.get("status"),
                    "evidence_status": t.get("evidence_status"),
                    "severity": t.get("severity"),
                    "failures": t.get("failures"),
                    "message": t.get("message"),
                    "evidence": {"entry": inv.index, "path": path},
                }
                if t.get("evidence_status") in FAILING:
                    findings.append(row)
                elif t.get("evidence_status") == "warned":
                    warned.append(row)
        details = {
            "invocations": len(invocations),
            "tests_run": ran,
            "tests_not_run": not_run,
            "warned": warned,
            "not_evidenced": gaps,
        }
        if findings:
            counts: dict[str, int] = {}
            for x in findings:
                counts[str(x["status"])] = counts.get(str(x["status"]), 0) + 1
            what = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            return self.result(
                "fail",
                f"{len(findings)} dbt test result(s) in the period did not pass: {what}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        if gaps or ran == 0:
            reason = "; ".join(gaps) if gaps else "no dbt test ran in the period's invocations"
            return self.not_evidenced(reason, evidence=refs, details=details)
        return self.result(
            "pass",
            f"all {ran} dbt test results in {len(invocations)} invocation(s) passed or warned",
            evidence=refs,
            details=details,
        )


def _sensitivity(
    node: Mapping[str, Any], wanted: frozenset[str]
) -> tuple[dict[str, str], list[str]]:
    """The node's columns classified as one of ``wanted``, and every reason it is sensitive."""
    classes = json_value(node.get("column_classifications")) or {}
    columns = {str(c): str(v) for c, v in sorted(classes.items()) if str(v).upper() in wanted}
    reasons = [f"column {c}: {v}" for c, v in columns.items()]
    tags = json_value(node.get("tags")) or []
    reasons += [f"tag {t}" for t in tags if isinstance(t, str) and t.upper() in wanted]
    meta = json_value(node.get("meta")) or {}
    if isinstance(meta, Mapping):
        value = meta.get("classification")
        if isinstance(value, str) and value.upper() in wanted:
            reasons.append(f"meta.classification: {value}")
        for w in sorted(wanted):
            for key in (w.lower(), f"contains_{w.lower()}"):
                if meta.get(key) is True:
                    reasons.append(f"meta.{key}: true")
    return columns, reasons


class SensitiveDbtModelsWithoutContract(Check):
    """dbt models holding PII/PHI must have an enforced contract.

    A model is sensitive when a column's ``meta.classification``, a model tag,
    ``meta.classification``, or ``meta.<pii|phi>`` / ``meta.contains_<pii|phi>``
    names one of ``dbt_sensitive_classifications``. Reads ``nodes.parquet`` of the
    latest invocation of each project in the period.
    """

    check_id = "sensitive-dbt-models-without-contract"
    reads = ("dbt invocations: nodes.parquet",)
    title = "PII/PHI-tagged dbt models without an enforced contract"
    control = Control(soc2=("CC8.1", "C1.1"), hipaa=("164.312(c)(1)", "164.308(a)(1)(ii)(D)"))

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        latest: dict[str, EvidenceEntry] = {}
        for inv in evidence.dbt_invocations():
            project = str(_invocation(inv)["project"])
            if project not in latest or (inv.start, inv.index) > (
                latest[project].start,
                latest[project].index,
            ):
                latest[project] = inv
        if not latest:
            return self.not_evidenced("no dbt invocation in the period")
        wanted = upper_set(ctx.settings.dbt_sensitive_classifications)
        findings: list[dict[str, Any]] = []
        gaps: list[str] = []
        refs: list[EvidenceRef] = []
        sensitive = 0
        for _, inv in sorted(latest.items()):
            f = inv.file("nodes.parquet")
            if f is None:
                gaps.append(f"{_described(inv)} has no nodes.parquet")
                continue
            path = str(f["path"])
            refs.append(inv.ref(path))
            for node in evidence.table(path).to_pylist():
                if node.get("resource_type") != "model":
                    continue
                columns, reasons = _sensitivity(node, wanted)
                if not reasons:
                    continue
                sensitive += 1
                if node.get("contract_enforced") is True:
                    continue
                findings.append(
                    {
                        **_invocation(inv),
                        "model": node.get("unique_id"),
                        "relation": node.get("relation_name"),
                        "file": node.get("original_file_path"),
                        "contract_enforced": node.get("contract_enforced"),
                        "sensitive_columns": columns,
                        "reasons": reasons,
                        "evidence": {"entry": inv.index, "path": path},
                    }
                )
        details = {"projects": sorted(latest), "sensitive_models": sensitive, "not_evidenced": gaps}
        if findings:
            names = ", ".join(str(f["model"]) for f in findings)
            return self.result(
                "fail",
                f"{len(findings)} of {sensitive} PII/PHI dbt models have no enforced contract: "
                f"{names}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        if gaps:
            return self.not_evidenced("; ".join(gaps), evidence=refs, details=details)
        if sensitive == 0:
            return self.not_evidenced(
                f"no dbt model is classified {', '.join(sorted(wanted))}, so nothing "
                "identifies the models that hold personal data",
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"all {sensitive} PII/PHI dbt models have an enforced contract",
            evidence=refs,
            details=details,
        )
