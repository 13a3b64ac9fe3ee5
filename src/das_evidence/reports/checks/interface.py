"""The control-check contract: a small abstract :class:`Check` and its frozen configuration.

A check is pure: it reads an :class:`~das_evidence.reports.evidence.EvidenceSet` and
one :class:`ChecksConfig` (which carries the single reference time, ``now``) and
returns a :class:`~das_evidence.reports.model.CheckResult`. It never touches a store
or the network. When the evidence it needs is missing it returns ``not_evidenced``
with the reason, never ``pass``: a skipped check is a value, not an exception.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from das_evidence.errors import ConfigError
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef, Status

_CHECK_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

#: the history and snapshot streams an account is expected to have (by stream kind)
DEFAULT_REQUIRED_STREAMS = (
    "access_history",
    "login_history",
    "query_history",
    "sessions",
    "policy_state",
)


@dataclass(frozen=True)
class ChecksConfig:
    """What the checks take from the operator. ``now`` is the one reference time.

    Names (roles, users, tags, classifications) are compared case-insensitively.
    """

    now: datetime
    #: roles whose reads of PHI-tagged columns are expected. The demo account's masking
    #: policies show PHI in clear only to PHI_READER (``IS_ROLE_IN_SESSION('PHI_READER')``),
    #: so that is the default; add pipeline roles (e.g. TRANSFORMER) deliberately.
    phi_reader_roles: tuple[str, ...] = ("PHI_READER",)
    #: tag names (TAG_REFERENCES.TAG_NAME, any database/schema) that mark PHI
    phi_tags: tuple[str, ...] = ("PHI",)
    #: tag names that mark personal data a masking policy must cover
    sensitive_tags: tuple[str, ...] = ("PII", "PHI")
    #: users approved to hold ACCOUNTADMIN; every other grantee is a finding
    accountadmin_allowlist: tuple[str, ...] = ()
    #: human users allowed to have no MFA (e.g. a documented break-glass user)
    mfa_exempt_users: tuple[str, ...] = ()
    #: a burst is at least this many failed logins ...
    failed_login_threshold: int = 10
    #: ... within this long (per user, and separately per client IP)
    failed_login_window: timedelta = timedelta(minutes=10)
    #: a stream whose evidence ends longer ago than this is stale; a policy snapshot
    #: counts as evidence of the state for this long after its ``as_of``
    stale_after: timedelta = timedelta(hours=26)
    #: stream kinds that must have entries in the period (``snowflake/<ACCOUNT>/<kind>``)
    required_streams: tuple[str, ...] = DEFAULT_REQUIRED_STREAMS
    #: dbt column ``meta.classification`` values, model tags and model ``meta`` keys that
    #: make a model hold personal data
    dbt_sensitive_classifications: tuple[str, ...] = ("PII", "PHI")

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ConfigError(
                f"checks: now = {self.now.isoformat()} has no time zone",
                fix="pass an aware UTC datetime from the clock",
            )
        if self.failed_login_threshold < 2:
            raise ConfigError(
                f"checks: failed_login_threshold = {self.failed_login_threshold} is below 2",
                fix="a burst needs at least two failures; the default is 10",
            )
        for name in ("failed_login_window", "stale_after"):
            if getattr(self, name) <= timedelta(0):
                raise ConfigError(f"checks: {name} must be positive", fix="e.g. 10m or 26h")

    def horizon(self, evidence: EvidenceSet) -> datetime:
        """Evidence is expected up to here: the earlier of ``now`` and the period end,
        less ``stale_after`` (the views' latency and a missed run fit inside it)."""
        return min(self.now, evidence.end) - self.stale_after


class Check(ABC):
    """One named control check. Subclasses set the three class attributes and :meth:`run`."""

    check_id: ClassVar[str]  # stable, kebab-case
    title: ClassVar[str]
    control: ClassVar[Control]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # ABCMeta sets __abstractmethods__ only after this hook, so look for them here.
        if any(getattr(getattr(cls, n, None), "__isabstractmethod__", False) for n in dir(cls)):
            return
        if not _CHECK_ID.match(getattr(cls, "check_id", "")):
            raise TypeError(f"{cls.__name__}.check_id must be kebab-case")
        if not cls.control.soc2 or not cls.control.hipaa:
            raise TypeError(f"{cls.__name__} must map to SOC 2 and HIPAA")

    @abstractmethod
    def run(self, evidence: EvidenceSet, config: ChecksConfig) -> CheckResult:
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
