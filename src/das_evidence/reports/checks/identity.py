"""Identity checks over the latest policy-state snapshot of the period: MFA and ACCOUNTADMIN.

Both read the state as it stood at the last snapshot in the period (not every
snapshot: an earlier state is history, and the change checks cover what changed).

| check | SOC 2 | HIPAA |
|---|---|---|
| ``human-users-without-mfa`` | CC6.1 (logical access security: authentication) | 164.312(d) person or entity authentication |
| ``accountadmin-grantees`` | CC6.1, CC6.2 (access is authorised), CC6.3 (least privilege) | 164.308(a)(4) information access management, 164.308(a)(3)(ii)(B) workforce clearance |
"""  # noqa: E501

from __future__ import annotations

from typing import Any

from das_evidence.reports.checks._support import (
    Missing,
    SnapshotView,
    describe,
    has_mfa,
    is_human,
    jsonable,
    roles_holding,
    snapshot_view,
    truthy,
    upper_set,
    users_holding,
)
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef

ACCOUNTADMIN = "ACCOUNTADMIN"


class HumanUsersWithoutMfa(Check):
    """Active, enabled human users (USERS.TYPE PERSON or NULL) must have MFA enrolled.

    MFA counts when ``HAS_MFA`` or ``EXT_AUTHN_DUO`` is true. Fails for each other
    human user not in ``mfa_exempt_users``. Needs USERS in the latest snapshot.
    """

    check_id = "human-users-without-mfa"
    reads = ("policy_state: users.parquet (ACCOUNT_USAGE.USERS)",)
    title = "Human users without MFA"
    control = Control(soc2=("CC6.1",), hipaa=("164.312(d)",))

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        users = snapshot_view(evidence, "USERS")
        if isinstance(users, Missing):
            return self.not_evidenced(users.reason, evidence=users.evidence)
        if "HAS_MFA" not in users.table.column_names:
            return self.not_evidenced(
                f"USERS in {describe(users.entry)} has no HAS_MFA column", evidence=[users.ref]
            )
        exempt = upper_set(ctx.settings.mfa_exempt_users)
        humans = [u for u in users.rows() if is_human(u) and not truthy(u.get("DISABLED"))]
        findings = []
        exempted = []
        for u in sorted(humans, key=lambda u: str(u.get("NAME"))):
            if has_mfa(u):
                continue
            if str(u.get("NAME", "")).upper() in exempt:
                exempted.append(u.get("NAME"))
                continue
            findings.append(
                {
                    "user": u.get("NAME"),
                    "user_id": u.get("USER_ID"),
                    "type": u.get("TYPE"),
                    "has_mfa": u.get("HAS_MFA"),
                    "has_password": u.get("HAS_PASSWORD"),
                    "default_role": u.get("DEFAULT_ROLE"),
                    "last_success_login": jsonable(u.get("LAST_SUCCESS_LOGIN")),
                    "as_of": users.entry.predicate.get("as_of"),
                }
            )
        details = {
            "as_of": users.entry.predicate.get("as_of"),
            "human_users": len(humans),
            "exempted": exempted,
        }
        if findings:
            names = ", ".join(str(f["user"]) for f in findings)
            return self.result(
                "fail",
                f"{len(findings)} of {len(humans)} active human users have no MFA: {names}",
                findings=findings,
                evidence=[users.ref],
                details=details,
            )
        return self.result(
            "pass",
            f"all {len(humans)} active human users have MFA",
            evidence=[users.ref],
            details=details,
        )


class AccountadminGrantees(Check):
    """Every user holding ACCOUNTADMIN, directly or through a role granted ACCOUNTADMIN.

    Fails for each grantee not in ``accountadmin_allowlist`` (empty by default, so
    every holder is listed for review). Needs GRANTS_TO_USERS; GRANTS_TO_ROLES is
    needed to rule out inherited grants, so without it only a fail can be concluded.
    USERS, when evidenced, adds the user's type and MFA to each finding.
    """

    check_id = "accountadmin-grantees"
    reads = (
        "policy_state: grants_to_users.parquet, grants_to_roles.parquet, users.parquet "
        "(ACCOUNT_USAGE)",
    )
    title = "ACCOUNTADMIN grantees"
    control = Control(
        soc2=("CC6.1", "CC6.2", "CC6.3"), hipaa=("164.308(a)(4)", "164.308(a)(3)(ii)(B)")
    )

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        to_users = snapshot_view(evidence, "GRANTS_TO_USERS")
        if isinstance(to_users, Missing):
            return self.not_evidenced(to_users.reason, evidence=to_users.evidence)
        to_roles = snapshot_view(evidence, "GRANTS_TO_ROLES", to_users.entry)
        users = snapshot_view(evidence, "USERS", to_users.entry)
        refs: list[EvidenceRef] = [to_users.ref]
        paths = {ACCOUNTADMIN: [ACCOUNTADMIN]}
        if isinstance(to_roles, SnapshotView):
            refs.append(to_roles.ref)
            paths = roles_holding(to_roles.rows(), ACCOUNTADMIN)
        user_rows: dict[str, dict[str, Any]] = {}
        if isinstance(users, SnapshotView):
            refs.append(users.ref)
            user_rows = {str(u.get("NAME")): u for u in users.rows(current=False)}
        allowed = upper_set(ctx.settings.accountadmin_allowlist)

        holders: dict[str, dict[str, Any]] = {}
        for user, (g, via) in users_holding(to_users.rows(), paths).items():
            info = user_rows.get(user, {})
            if info.get("DELETED_ON") is not None:
                continue  # a dropped user holds nothing
            holders[user] = {
                "user": user,
                "via": via,
                "granted_on": jsonable(g.get("CREATED_ON")),
                "granted_by": g.get("GRANTED_BY"),
                "type": info.get("TYPE"),
                "has_mfa": info.get("HAS_MFA"),
                "default_role": info.get("DEFAULT_ROLE"),
                "allowlisted": user.upper() in allowed,
                "as_of": to_users.entry.predicate.get("as_of"),
            }
        findings = [h for _, h in sorted(holders.items()) if not h["allowlisted"]]
        details: dict[str, Any] = {
            "as_of": to_users.entry.predicate.get("as_of"),
            "holders": sorted(holders),
            "roles_holding_accountadmin": sorted(paths),
        }
        if findings:
            names = ", ".join(f["user"] for f in findings)
            return self.result(
                "fail",
                f"{len(findings)} user(s) hold ACCOUNTADMIN without being allowlisted: {names}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        if isinstance(to_roles, Missing):
            return self.not_evidenced(
                f"no user holds ACCOUNTADMIN directly outside the allowlist, but inherited "
                f"grants cannot be ruled out: {to_roles.reason}",
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"ACCOUNTADMIN is held only by allowlisted users ({len(holders)})",
            evidence=refs,
            details=details,
        )
