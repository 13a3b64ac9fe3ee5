"""Every control check, and the one loop that runs them.

:func:`run_checks` is the error boundary of the checks: a check that raises (an
unreadable file, a bug) becomes a ``not_evidenced`` result carrying the error,
and the other checks still run, so one broken check never hides the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from das_evidence.errors import ConfigError
from das_evidence.reports.checks.cis_monitoring import (
    AdminRoleGrantsMonitored,
    ManageGrantsGrantsMonitored,
    NetworkPolicyChangesMonitored,
    PasswordLoginsWithoutMfaMonitored,
    ScimTokenCreationMonitored,
    SecurityIntegrationChangesMonitored,
    ShareExposuresMonitored,
    SsoUserPasswordLoginsMonitored,
    TrustCenterFindingsOpen,
    UnsupportedClientSessionsMonitored,
)
from das_evidence.reports.checks.completeness import EvidenceGaps, StaleStreams
from das_evidence.reports.checks.data_protection import (
    PhiReadsOutsideAllowlist,
    PolicyReferencesNotActive,
    ProtectionPoliciesChanged,
    SensitiveColumnsWithoutMasking,
)
from das_evidence.reports.checks.dbt import (
    DbtTestsFailedOrSkipped,
    SensitiveDbtModelsWithoutContract,
)
from das_evidence.reports.checks.identity import AccountadminGrantees, HumanUsersWithoutMfa
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.checks.logins import FailedLoginBurstsPerIp, FailedLoginBurstsPerUser
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult

log = logging.getLogger(__name__)

#: in report order: identity, logins, data protection, dbt, completeness
ALL_CHECKS: tuple[Check, ...] = (
    HumanUsersWithoutMfa(),
    AccountadminGrantees(),
    FailedLoginBurstsPerUser(),
    FailedLoginBurstsPerIp(),
    SensitiveColumnsWithoutMasking(),
    PolicyReferencesNotActive(),
    ProtectionPoliciesChanged(),
    PhiReadsOutsideAllowlist(),
    DbtTestsFailedOrSkipped(),
    SensitiveDbtModelsWithoutContract(),
    EvidenceGaps(),
    StaleStreams(),
    # CIS section 2: monitoring and alerting
    AdminRoleGrantsMonitored(),
    ManageGrantsGrantsMonitored(),
    SsoUserPasswordLoginsMonitored(),
    PasswordLoginsWithoutMfaMonitored(),
    SecurityIntegrationChangesMonitored(),
    NetworkPolicyChangesMonitored(),
    ScimTokenCreationMonitored(),
    ShareExposuresMonitored(),
    UnsupportedClientSessionsMonitored(),
    TrustCenterFindingsOpen(),
)


def check_ids(checks: Sequence[Check] = ALL_CHECKS) -> list[str]:
    return [c.check_id for c in checks]


def run_checks(
    evidence: EvidenceSet,
    ctx: CheckContext,
    only: Sequence[str] | None = None,
    *,
    checks: Sequence[Check] = ALL_CHECKS,
) -> list[CheckResult]:
    """Run ``checks`` (or those named in ``only``, in registry order) over ``evidence``.

    Raises :class:`ConfigError` for an unknown id in ``only``; never for a check.
    """
    if only is not None:
        known = set(check_ids(checks))
        unknown = sorted(set(only) - known)
        if unknown:
            raise ConfigError(
                f"unknown check id(s): {', '.join(unknown)}",
                fix=f"use one of: {', '.join(check_ids(checks))}",
            )
        checks = [c for c in checks if c.check_id in set(only)]
    results = []
    for check in checks:
        try:
            result = check.run(evidence, ctx)
        except Exception as e:  # the boundary: one broken check must not hide the others
            log.exception("check %s raised", check.check_id)
            result = check.not_evidenced(
                f"the check could not run: {type(e).__name__}: {e}",
                details={"error": f"{type(e).__name__}: {e}"},
            )
        results.append(result)
    return results
