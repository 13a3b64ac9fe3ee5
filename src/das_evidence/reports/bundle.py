"""The report side of a pack: control checks, report.html, OSCAL results.

:func:`report_files` returns the hook :func:`~das_evidence.reports.pack.build_pack`
calls with the pack's evidence; it produces ``checks.json``, ``report.html``,
``report.json`` and ``oscal/assessment-results.json``. :func:`report_documents`
serves ``evidence report`` from an archive.

The ``[checks]`` settings the checks ran with are part of the report's data
(``scope.check_settings`` in ``report.json``, a table in the HTML), so an
auditor sees what was allowed and :func:`check_settings_of` re-runs the
checks of a pack with the same settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from das_evidence import __version__
from das_evidence.config import ChecksConfig
from das_evidence.errors import ReportError
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult
from das_evidence.reports.pack import Gap, ReportHook, Selection


def run_checks_for(
    evidence: EvidenceSet, now: datetime, settings: ChecksConfig
) -> list[CheckResult]:
    from das_evidence.reports.checks import CheckContext, run_checks

    return list(run_checks(evidence, CheckContext(now, settings)))


def check_settings_of(report_json: bytes) -> ChecksConfig:
    """The ``[checks]`` settings a pack's ``report.json`` says its checks ran with."""
    try:
        data = json.loads(report_json)
        return ChecksConfig.model_validate(data["scope"]["check_settings"])
    except (ValueError, KeyError, TypeError) as e:
        raise ReportError(
            f"report.json does not record valid check settings: {e}",
            fix="use a pack made by das-evidence with [checks] support, or verify the pack",
        ) from e


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
    checks: ChecksConfig,
) -> dict[str, Any]:
    from das_evidence.reports.oscal import assessment_results
    from das_evidence.reports.render import build_report_data

    data = build_report_data(
        evidence,
        results,
        title=title,
        generated_at=generated_at,
        origin=origin,
        gaps=gaps,
        checks=checks,
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


def report_files(
    frameworks: Sequence[str] = ("hipaa", "soc2"), *, checks: ChecksConfig
) -> ReportHook:
    """The pack's report files, from checks run with ``checks`` (``Settings.checks``)."""

    def hook(
        evidence: EvidenceSet, sel: Selection, origin: str, generated_at: datetime
    ) -> Mapping[str, bytes]:
        from das_evidence.reports.oscal import to_bytes
        from das_evidence.reports.render import render_html, render_json

        results = _restrict(run_checks_for(evidence, generated_at, checks), frameworks)
        title = f"Evidence pack {origin}: {sel.start.date()} to {sel.end.date()}"
        docs = report_documents(
            evidence,
            results,
            origin=origin,
            generated_at=generated_at,
            gaps=sel.gaps,
            title=title,
            checks=checks,
        )
        return {
            "checks.json": (
                json.dumps([r.to_json() for r in results], indent=2, sort_keys=True) + "\n"
            ).encode(),
            "report.html": render_html(docs["data"]).encode(),
            "report.json": render_json(docs["data"]).encode(),
            "oscal/assessment-results.json": to_bytes(docs["oscal"]),
        }

    return hook
