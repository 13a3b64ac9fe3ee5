"""How far a report covers the CIS Snowflake Foundations Benchmark: one place, no IO.

:func:`cis_coverage` puts every recommendation of
:data:`~das_evidence.reports.checks.cis.RECOMMENDATIONS` in exactly one state,
from the check results of a run:

- ``pass`` / ``fail`` / ``not_evidenced``: an automated recommendation whose
  check ran (several results for one id: any fail fails, else any
  not_evidenced, else pass);
- ``manual``: decided by an auditor, with the catalogue's reason;
- ``not_run``: automated, but no result names it (no check is registered for
  it in this build, or the run selected other checks); the reason says which.

So the JSON report, the HTML coverage table and the OSCAL export all count
the same way, and coverage always adds up to the whole benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from das_evidence.reports.checks.cis import BENCHMARK, RECOMMENDATIONS, SECTIONS
from das_evidence.reports.model import CheckResult

if TYPE_CHECKING:
    from das_evidence.reports.checks.interface import Check

CoverageState = Literal["pass", "fail", "not_evidenced", "manual", "not_run"]
#: the states in the order reports list them; JSON keys are ``<state>``
STATES: tuple[CoverageState, ...] = ("pass", "fail", "not_evidenced", "manual", "not_run")
STATE_LABELS: dict[CoverageState, str] = {
    "pass": "automated, passed",
    "fail": "automated, failed",
    "not_evidenced": "automated, not evidenced",
    "manual": "manual",
    "not_run": "automated, no check ran",
}
NO_CHECK = "no check for this recommendation is registered in this version of das-evidence"
NOT_SELECTED = "its check ({checks}) was not run in this report"


@dataclass(frozen=True)
class RecommendationState:
    cis: str
    title: str
    section: str
    state: CoverageState
    check_ids: tuple[str, ...] = ()  # the checks whose results decided it
    reason: str | None = None  # manual: the catalogue's reason; not_run: why

    def to_json(self) -> dict[str, Any]:
        return {
            "cis": self.cis,
            "title": self.title,
            "section": self.section,
            "state": self.state,
            "check_ids": list(self.check_ids),
            "reason": self.reason,
        }


def _counts(items: Sequence[RecommendationState]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "total": len(items),
        "automated": sum(1 for i in items if i.state != "manual"),
        "counts": {s: sum(1 for i in items if i.state == s) for s in STATES},
    }
    for s in STATES:
        if s == "manual":
            out[s] = [
                {"cis": i.cis, "title": i.title, "reason": i.reason} for i in items if i.state == s
            ]
        else:
            out[s] = [i.cis for i in items if i.state == s]
    return out


@dataclass(frozen=True)
class SectionCoverage:
    section: str
    title: str
    items: tuple[RecommendationState, ...]

    def count(self, state: CoverageState) -> int:
        return sum(1 for i in self.items if i.state == state)

    def to_json(self) -> dict[str, Any]:
        return {"section": self.section, "title": self.title, **_counts(self.items)}


@dataclass(frozen=True)
class CisCoverage:
    benchmark: str
    sections: tuple[SectionCoverage, ...]

    @property
    def items(self) -> tuple[RecommendationState, ...]:
        return tuple(i for s in self.sections for i in s.items)

    def count(self, state: CoverageState) -> int:
        return sum(s.count(state) for s in self.sections)

    def manual(self) -> list[RecommendationState]:
        return [i for i in self.items if i.state == "manual"]

    def of(self, cis: str) -> RecommendationState:
        return next(i for i in self.items if i.cis == cis)

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "overall": _counts(self.items),
            "sections": [s.to_json() for s in self.sections],
            "recommendations": [i.to_json() for i in self.items],
        }


def _decided(results: Sequence[CheckResult]) -> CoverageState:
    statuses = {r.status for r in results}
    if "fail" in statuses:
        return "fail"
    if "not_evidenced" in statuses:
        return "not_evidenced"
    return "pass"


def cis_coverage(
    results: Iterable[CheckResult], checks: Sequence[Check] | None = None
) -> CisCoverage:
    """Every recommendation's state from ``results``; ``checks`` is the registry
    (:data:`~das_evidence.reports.checks.registry.ALL_CHECKS` by default), used only to
    say why an automated recommendation has no result."""
    if checks is None:
        from das_evidence.reports.checks.registry import ALL_CHECKS

        checks = ALL_CHECKS
    by_cis: dict[str, list[CheckResult]] = {}
    for r in results:
        if r.cis is not None:
            by_cis.setdefault(r.cis, []).append(r)
    registered: dict[str, list[str]] = {}
    for c in checks:
        if c.cis is not None:
            registered.setdefault(c.cis, []).append(c.check_id)
    items: dict[str, list[RecommendationState]] = {s: [] for s in SECTIONS}
    for rec in RECOMMENDATIONS.values():
        got = by_cis.get(rec.cis, [])
        ids = tuple(r.check_id for r in got)
        if not rec.automated:
            item = RecommendationState(
                rec.cis, rec.title, rec.section, "manual", ids, rec.manual_reason
            )
        elif got:
            item = RecommendationState(rec.cis, rec.title, rec.section, _decided(got), ids)
        else:
            names = registered.get(rec.cis)
            reason = NOT_SELECTED.format(checks=", ".join(names)) if names else NO_CHECK
            item = RecommendationState(rec.cis, rec.title, rec.section, "not_run", (), reason)
        items.setdefault(rec.section, []).append(item)
    return CisCoverage(
        BENCHMARK,
        tuple(
            SectionCoverage(s, SECTIONS.get(s, s), tuple(its)) for s, its in items.items() if its
        ),
    )
