"""The report side of a pack: control checks, report.html, OSCAL results.

:func:`report_files` returns the hook :func:`~das_evidence.reports.pack.build_pack`
calls with the pack's evidence; it produces ``checks.json``, ``report.html``
and ``oscal/assessment-results.json``. :func:`report_for` serves
``evidence report`` from an archive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from das_evidence import __version__
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult
from das_evidence.reports.pack import Gap, ReportHook, Selection


def run_checks_for(evidence: EvidenceSet, now: datetime) -> list[CheckResult]:
    from das_evidence.reports.checks import ChecksConfig, run_checks

    return list(run_checks(evidence, ChecksConfig(now=now)))


def _restrict(results: Sequence[CheckResult], frameworks: Sequence[str]) -> list[CheckResult]:
    """Keep checks mapped to at least one requested framework."""
    keep = []
    for r in results:
        if ("soc2" in frameworks and r.control.soc2) or ("hipaa" in frameworks and r.control.hipaa):
            keep.append(r)
    return keep


def report_documents(
    evidence: EvidenceSet,
    results: Sequence[CheckResult],
    *,
    origin: str,
    generated_at: datetime,
    gaps: Sequence[Gap],
    title: str,
) -> dict[str, Any]:
    from das_evidence.reports.oscal import assessment_results
    from das_evidence.reports.render import build_report_data

    data = build_report_data(
        evidence, results, title=title, generated_at=generated_at, origin=origin, gaps=gaps
    )
    oscal = assessment_results(
        results,
        evidence,
        title=title,
        generated_at=generated_at,
        period_start=evidence.start,
        period_end=evidence.end,
        tool_version=__version__,
    )
    return {"data": data, "oscal": oscal}


def report_files(frameworks: Sequence[str] = ("hipaa", "soc2")) -> ReportHook:
    def hook(
        evidence: EvidenceSet, sel: Selection, origin: str, generated_at: datetime
    ) -> Mapping[str, bytes]:
        from das_evidence.reports.oscal import to_bytes
        from das_evidence.reports.render import render_html

        results = _restrict(run_checks_for(evidence, generated_at), frameworks)
        title = f"Evidence pack {origin}: {sel.start.date()} to {sel.end.date()}"
        docs = report_documents(
            evidence, results, origin=origin, generated_at=generated_at, gaps=sel.gaps, title=title
        )
        return {
            "checks.json": (
                json.dumps([r.to_json() for r in results], indent=2, sort_keys=True) + "\n"
            ).encode(),
            "report.html": render_html(docs["data"]).encode(),
            "oscal/assessment-results.json": to_bytes(docs["oscal"]),
        }

    return hook
