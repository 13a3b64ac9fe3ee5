"""What a verification says: a list of findings and a verdict.

A finding is a value, not an exception: the verifier runs every check it can
and reports all of them, so an auditor sees the whole picture at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One failed check: which check (numbered as in ARCHIVE-FORMAT section 6), where, and what."""

    check: str
    subject: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "subject": self.subject, "message": self.message}

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: {self.message}"


@dataclass
class Report:
    target: str
    findings: list[Finding] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    #: Not findings: what the auditor should know about how the target was checked.
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def fail(self, check: str, subject: str, message: str) -> None:
        self.findings.append(Finding(check, subject, message))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "verdict": "pass" if self.ok else "fail",
            "findings": [f.to_json() for f in self.findings],
            "warnings": list(self.warnings),
            "stats": self.stats,
        }
