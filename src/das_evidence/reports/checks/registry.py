"""Every control check, and the one loop that runs them.

:func:`run_checks` is the error boundary of the checks: a check that raises (an
unreadable file, a bug) becomes a ``not_evidenced`` result carrying the error,
and the other checks still run, so one broken check never hides the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from das_evidence.errors import ConfigError
from das_evidence.reports.checks.cis_data import (
    AccountNetworkPolicyAllowlist,
    ClientEncryptionKeySize,
    ExternalStagesWithoutStorageIntegration,
    MinDataRetention,
    PeriodicDataRekeying,
    ServiceUsersWithoutNetworkPolicy,
    StageCreationRequiresStorageIntegration,
    StageOperationRequiresStorageIntegration,
    TaggedTablesBelowRetention,
    UnloadToInlineUrlPrevented,
    WarehousesWithoutResourceMonitor,
)
from das_evidence.reports.checks.cis_identity import CIS_IDENTITY_CHECKS
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

#: in report order: the platform's own (identity, logins, data protection, dbt,
#: completeness, cost), then the CIS benchmark's checks by section, in benchmark order
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
    WarehousesWithoutResourceMonitor(),
    TrustCenterFindingsOpen(),
    # the CIS benchmark's checks, in benchmark order
    *CIS_IDENTITY_CHECKS,
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
    AccountNetworkPolicyAllowlist(),
    ServiceUsersWithoutNetworkPolicy(),
    PeriodicDataRekeying(),
    ClientEncryptionKeySize(),
    TaggedTablesBelowRetention(),
    MinDataRetention(),
    StageCreationRequiresStorageIntegration(),
    StageOperationRequiresStorageIntegration(),
    ExternalStagesWithoutStorageIntegration(),
    UnloadToInlineUrlPrevented(),
)


def check_ids(checks: Sequence[Check] = ALL_CHECKS) -> list[str]:
    return [c.check_id for c in checks]


def check_subscriptions(
    ids: Sequence[str], *, where: str, checks: Sequence[Check] = ALL_CHECKS
) -> None:
    """Raise :class:`ConfigError` naming every id in ``ids`` that is neither a check id
    of ``checks`` nor an automated CIS recommendation (a manual one has no check, so it
    would never be heard of). ``where`` names the setting, e.g. ``alerts.webhooks[0].checks``.
    """
    from das_evidence.reports.checks.cis import RECOMMENDATIONS

    known = set(check_ids(checks))
    unknown = [i for i in ids if i not in known and i not in RECOMMENDATIONS]
    manual = [i for i in ids if i in RECOMMENDATIONS and not RECOMMENDATIONS[i].automated]
    if unknown:
        raise ConfigError(
            f"{where}: unknown check or CIS id(s): {', '.join(unknown)}",
            fix=f"use a check id ({', '.join(check_ids(checks))}) or a CIS Snowflake "
            f"Foundations v1.0.0 id ({', '.join(RECOMMENDATIONS)})",
        )
    if manual:
        raise ConfigError(
            f"{where}: CIS {', '.join(manual)} "
            f"{'is a manual recommendation' if len(manual) == 1 else 'are manual recommendations'}"
            ": no check decides it, so no alert would ever be sent",
            fix="remove it; an auditor reviews manual recommendations (see the report)",
        )


def checks_for(ids: Sequence[str], checks: Sequence[Check] = ALL_CHECKS) -> list[Check]:
    """The checks ``ids`` name, by check id or CIS id, in registry order."""
    wanted = set(ids)
    return [c for c in checks if c.check_id in wanted or (c.cis is not None and c.cis in wanted)]


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
