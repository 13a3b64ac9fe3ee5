"""What control checks return and reports render: frozen values, no IO.

A check looks at the evidence of a period and answers ``pass``, ``fail`` or
``not_evidenced`` (the evidence needed to decide is missing: never a silent
pass), with the rows that made it fail and references to the log entries and
files behind the answer, so an auditor can go from a finding to signed bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "not_evidenced"]


@dataclass(frozen=True)
class EvidenceRef:
    """One file of one log entry."""

    entry: int
    path: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"entry": self.entry, "path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class Control:
    """Where a check maps in the frameworks auditors use."""

    soc2: tuple[str, ...]  # e.g. ("CC6.1", "CC6.2")
    hipaa: tuple[str, ...]  # e.g. ("164.312(d)",)


@dataclass(frozen=True)
class CheckResult:
    check_id: str  # stable, kebab-case, e.g. "human-users-without-mfa"
    title: str
    status: Status
    summary: str  # one sentence a person reads
    control: Control
    findings: tuple[dict[str, Any], ...] = ()  # the rows behind a fail (JSON-able)
    evidence: tuple[EvidenceRef, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    # the CIS Snowflake Foundations Benchmark v1.0.0 recommendation, e.g. "1.12"; None for
    # the platform's own controls
    cis: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "cis": self.cis,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "soc2": list(self.control.soc2),
            "hipaa": list(self.control.hipaa),
            "findings": list(self.findings),
            "evidence": [e.to_json() for e in self.evidence],
            "details": self.details,
        }
