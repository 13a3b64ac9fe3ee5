"""The control-check contract: a small abstract :class:`Check` and the context it runs in.

A check is pure: it reads an :class:`~das_evidence.reports.evidence.EvidenceSet` and
one :class:`CheckContext` (the single reference time, ``now``, and the operator's
``[checks]`` settings, :class:`~das_evidence.config.ChecksConfig`) and returns a
:class:`~das_evidence.reports.model.CheckResult`. It never touches a store or the
network. When the evidence it needs is missing it returns ``not_evidenced`` with
the reason, never ``pass``: a skipped check is a value, not an exception.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from das_evidence.config import ChecksConfig
from das_evidence.errors import ConfigError
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef, Status

_CHECK_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class CheckContext:
    """What one run of the checks shares: the reference time and the ``[checks]`` settings."""

    now: datetime
    settings: ChecksConfig = field(default_factory=ChecksConfig)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ConfigError(
                f"checks: now = {self.now.isoformat()} has no time zone",
                fix="pass an aware UTC datetime from the clock",
            )

    def horizon(self, evidence: EvidenceSet) -> datetime:
        """Evidence is expected up to here: the earlier of ``now`` and the period end,
        less ``stale_after`` (the views' latency and a missed run fit inside it)."""
        return min(self.now, evidence.end) - self.settings.stale_after


class Check(ABC):
    """One named control check. Subclasses set the three class attributes and :meth:`run`."""

    check_id: ClassVar[str]  # stable, kebab-case
    title: ClassVar[str]
    control: ClassVar[Control]
    #: the CIS Snowflake Foundations Benchmark v1.0.0 recommendation this check
    #: evaluates (an id of :data:`~.cis.RECOMMENDATIONS`), or None for the platform's own
    cis: ClassVar[str | None] = None
    #: the evidence the check reads, for docs/CONTROLS.md: snapshot files, history
    #: streams, the SHOW command behind a file (e.g. ``"policy_state: users.parquet"``)
    reads: ClassVar[tuple[str, ...]] = ()
    #: a CIS check that is also one of the platform's own controls names that control here
    #: (one check, not two), so docs/CONTROLS.md lists it with the platform's checks too
    platform_control: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # ABCMeta sets __abstractmethods__ only after this hook, so look for them here.
        if any(getattr(getattr(cls, n, None), "__isabstractmethod__", False) for n in dir(cls)):
            return
        if not _CHECK_ID.match(getattr(cls, "check_id", "")):
            raise TypeError(f"{cls.__name__}.check_id must be kebab-case")
        if not cls.control.soc2 or not cls.control.hipaa:
            raise TypeError(f"{cls.__name__} must map to SOC 2 and HIPAA")
        if cls.cis is not None:
            from das_evidence.reports.checks.cis import RECOMMENDATIONS

            if cls.cis not in RECOMMENDATIONS:
                raise TypeError(f"{cls.__name__}.cis = {cls.cis!r} is not a CIS v1.0.0 id")

    @abstractmethod
    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        """Decide pass, fail or not_evidenced from ``evidence`` alone."""

    def result(
        self,
        status: Status,
        summary: str,
        *,
        findings: Iterable[Mapping[str, Any]] = (),
        evidence: Iterable[EvidenceRef] = (),
        details: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        return CheckResult(
            check_id=self.check_id,
            title=self.title,
            status=status,
            summary=summary,
            control=self.control,
            findings=tuple(dict(f) for f in findings),
            evidence=_unique(evidence),
            details=dict(details or {}),
            cis=self.cis,
        )

    def not_evidenced(
        self,
        reason: str,
        *,
        evidence: Iterable[EvidenceRef] = (),
        details: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        return self.result("not_evidenced", reason, evidence=evidence, details=details)


def _unique(refs: Iterable[EvidenceRef]) -> tuple[EvidenceRef, ...]:
    """Each ref once, sorted by entry then path, so the same evidence gives the same output."""
    return tuple(sorted(set(refs), key=lambda r: (r.entry, r.path)))
