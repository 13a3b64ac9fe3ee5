"""CIS Snowflake Foundations Benchmark v1.0.0 section 1 (identity and access management).

One check per recommendation 1.1 to 1.17, each over the latest policy-state snapshot
of the period (every view a check reads comes from that one snapshot, so the facts
it joins were true at the same moment). Ages are measured from the snapshot's
``as_of``, never from the wall clock, so a pack re-derives the same results. Two
checks also read the period's LOGIN_HISTORY windows, as their audit does: 1.3 to
tell which users sign in through SSO, 1.8 to find a user's last login.

Where a recommendation's audit queries a system role hierarchy (1.9 to 1.11, 1.13,
1.15, 1.17), a role holds an admin role when it is that role or inherits it through
a chain of role grants (``_support.roles_holding``), and a user holds it when any
such role is granted to them.

Two of these overlap the platform's own checks, and stay separate from them:

- 1.4 (``password-users-without-mfa``) asks for MFA only for human users who can sign
  in with a Snowflake password; ``human-users-without-mfa`` asks it of every human
  user (an SSO-only user relies on the identity provider's MFA, which CIS accepts and
  the platform's HIPAA 164.312(d) control does not). Both share ``is_human`` and
  ``has_mfa`` from ``_support``.
- 1.10 (``admin-user-count``) bounds how many users hold ACCOUNTADMIN or SECURITYADMIN
  (``admin_users_min``/``admin_users_max``); ``accountadmin-grantees`` lists every
  ACCOUNTADMIN holder outside an approved list. One counts, the other names.

| check | CIS | SOC 2 | HIPAA |
|---|---|---|---|
| ``sso-configured`` | 1.1 | CC6.1 | 164.312(d) |
| ``scim-provisioning-configured`` | 1.2 | CC6.2 | 164.308(a)(4)(ii)(C), 164.308(a)(3)(ii)(C) |
| ``sso-users-with-password`` | 1.3 | CC6.1 | 164.312(d) |
| ``password-users-without-mfa`` | 1.4 | CC6.1 | 164.312(d) |
| ``password-min-length`` | 1.5 | CC6.1 | 164.308(a)(5)(ii)(D) |
| ``service-users-without-key-pair`` | 1.6 | CC6.1 | 164.312(d) |
| ``key-pairs-not-rotated`` | 1.7 | CC6.1 | 164.312(d) |
| ``inactive-users-enabled`` | 1.8 | CC6.2 | 164.308(a)(3)(ii)(C), 164.308(a)(4)(ii)(C) |
| ``admin-session-idle-timeout`` | 1.9 | CC6.1 | 164.312(a)(2)(iii) |
| ``admin-user-count`` | 1.10 | CC6.3 | 164.308(a)(4)(ii)(B) |
| ``accountadmin-users-without-email`` | 1.11 | CC6.2 | 164.308(a)(4)(ii)(B) |
| ``admin-default-role`` | 1.12 | CC6.3 | 164.308(a)(4)(ii)(B) |
| ``admin-roles-granted-to-custom-roles`` | 1.13 | CC6.3 | 164.308(a)(4)(ii)(B) |
| ``tasks-owned-by-admin-roles`` | 1.14 | CC6.3 | 164.308(a)(4)(ii)(B) |
| ``tasks-running-with-admin-privileges`` | 1.15 | CC6.3 | 164.308(a)(4)(ii)(B) |
| ``procedures-owned-by-admin-roles`` | 1.16 | CC6.3 | 164.308(a)(4)(ii)(B) |
| ``procedures-running-with-admin-privileges`` | 1.17 | CC6.3 | 164.308(a)(4)(ii)(B) |
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import polars as pl

from das_evidence.reports.checks._support import (
    HistoryFile,
    Missing,
    SnapshotView,
    coverage_holes,
    has_mfa,
    history_files,
    holes_json,
    is_human,
    is_service_user,
    jsonable,
    roles_holding,
    scan_history,
    snapshot_view,
    truthy,
    ts,
    upper_set,
    users_holding,
)
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.evidence import (
    FILE_COLUMN,
    ROW_COLUMN,
    EvidenceEntry,
    EvidenceSet,
    collect,
)
from das_evidence.reports.model import CheckResult, Control, EvidenceRef

MAX_PASSED = 200  # subjects listed as passing; ``evaluated`` always has the full count

#: LOGIN_HISTORY.FIRST_AUTHENTICATION_FACTOR of a sign-in through an identity provider
SSO_FACTORS = frozenset({"SAML2_ASSERTION", "OAUTH_ACCESS_TOKEN"})
#: USERS.TYPE of a service (non-interactive) user
#: the account's system-defined roles; every other account role is a custom role (1.13)
SYSTEM_ROLES = frozenset(
    {"ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN", "SYSADMIN", "ORGADMIN", "PUBLIC"}
)
#: Snowflake's idle timeout when a session policy leaves it unset (four hours)
DEFAULT_IDLE_TIMEOUT_MINS = 240
ACCOUNTADMIN = "ACCOUNTADMIN"

_IDENTITY = Control(soc2=("CC6.1",), hipaa=("164.312(d)",))
_PROVISIONING = Control(soc2=("CC6.2",), hipaa=("164.308(a)(4)(ii)(C)", "164.308(a)(3)(ii)(C)"))
_LEAST_PRIVILEGE = Control(soc2=("CC6.3",), hipaa=("164.308(a)(4)(ii)(B)",))


# -- what several checks read -------------------------------------------------------------


@dataclass
class _Read:
    """The views one check read from one snapshot, and the refs to cite."""

    entry: EvidenceEntry
    views: dict[str, SnapshotView] = field(default_factory=dict)

    @property
    def as_of(self) -> datetime:
        return self.entry.start  # a snapshot's window is [as_of, as_of]

    @property
    def as_of_text(self) -> Any:
        return self.entry.predicate.get("as_of")

    @property
    def account(self) -> str:
        sid = self.entry.stream_id
        return sid.scope if sid is not None else self.entry.stream

    @property
    def refs(self) -> list[EvidenceRef]:
        return [v.ref for v in self.views.values()]

    def rows(self, view: str, *, current: bool = True) -> list[dict[str, Any]]:
        return self.views[view].rows(current=current)


def _read(evidence: EvidenceSet, *views: str) -> _Read | Missing:
    """``views`` from the latest snapshot, or the first one that is missing."""
    snap = evidence.latest_policy_snapshot()
    if snap is None:
        return Missing("no policy-state snapshot in the period")
    read = _Read(snap)
    for view in views:
        got = snapshot_view(evidence, view, snap)
        if isinstance(got, Missing):
            return got
        read.views[view] = got
    return read


def _users(read: _Read) -> dict[str, dict[str, Any]]:
    """Current (not dropped) USERS rows by name."""
    return {str(u.get("NAME")): u for u in read.rows("USERS")}


def _holders(read: _Read, roles: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """Each user holding any of ``roles``: role -> the chain of roles from it down to
    the role granted to the user (as ``accountadmin-grantees`` names it).

    Needs GRANTS_TO_USERS and GRANTS_TO_ROLES in ``read``; with USERS, a dropped user
    holds nothing (ACCOUNT_USAGE keeps a dropped user's grants until revoked).
    """
    role_grants = read.rows("GRANTS_TO_ROLES")
    dropped: set[str] = set()
    if "USERS" in read.views:
        dropped = {
            str(u.get("NAME"))
            for u in read.rows("USERS", current=False)
            if u.get("DELETED_ON") is not None
        }
    user_grants = read.rows("GRANTS_TO_USERS")
    out: dict[str, dict[str, list[str]]] = {}
    for role in sorted({r.upper() for r in roles}):
        held = users_holding(user_grants, roles_holding(role_grants, role))
        for user, (_, via) in held.items():
            if user not in dropped:
                out.setdefault(user, {})[role] = via
    return out


def _owner_paths(read: _Read, roles: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """Each role holding any of ``roles`` (itself or inherited): role -> chain."""
    grants = read.rows("GRANTS_TO_ROLES")
    out: dict[str, dict[str, list[str]]] = {}
    for role in sorted({r.upper() for r in roles}):
        for holder, path in roles_holding(grants, role).items():
            out.setdefault(holder, {})[role] = path
    return out


def _minutes(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


def _days(value: timedelta) -> float:
    return round(value.total_seconds() / 86400, 1)


def _parse_time(text: Any) -> datetime | None:
    """DESCRIBE USER's time text (``2026-05-01 10:00:00.000 +0000``) as an aware datetime."""
    if isinstance(text, datetime):
        return text
    if not isinstance(text, str) or text.strip().lower() in ("", "null"):
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%d %H:%M:%S %z"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@dataclass(frozen=True)
class _UserLogins:
    """What the period's successful logins before a time say about one user."""

    sso_factor: str | None  # the first SSO factor (SAML2, OAUTH ...) it signed in with
    last: datetime | None  # its last successful login


def _successful_logins(
    evidence: EvidenceSet, until: datetime
) -> tuple[list[HistoryFile], dict[str, _UserLogins]]:
    """The period's LOGIN_HISTORY files and, per user with a successful login before
    ``until``, its first SSO factor and its last login: aggregated by polars while the
    files are scanned, so a year of logins never becomes Python rows."""
    files = history_files(evidence, "login_history")
    if not files:
        return files, {}
    factor = pl.col("FIRST_AUTHENTICATION_FACTOR").fill_null("").str.to_uppercase()
    user = pl.col("USER_NAME").cast(pl.String).fill_null("None")
    place = pl.col(FILE_COLUMN).cast(pl.UInt64) * (1 << 32) + pl.col(ROW_COLUMN)

    def scan(each: Callable[[pl.LazyFrame], pl.LazyFrame]) -> pl.LazyFrame:
        return scan_history(
            evidence,
            files,
            ("EVENT_TIMESTAMP", "USER_NAME", "FIRST_AUTHENTICATION_FACTOR"),
            "EVENT_TIMESTAMP",
            end=min(until, evidence.end),
            where=pl.col("IS_SUCCESS").cast(pl.String).str.to_uppercase() == "YES",
            row_index=True,
            each=each,
        )

    # grouped file by file, then over the files: only groups are ever held
    def latest(rows: pl.LazyFrame) -> pl.LazyFrame:
        return rows.group_by(user.alias("USER_NAME")).agg(pl.col("EVENT_TIMESTAMP").max())

    def first_sso(rows: pl.LazyFrame) -> pl.LazyFrame:
        rows = rows.filter(factor.is_in(sorted(SSO_FACTORS)))
        return rows.group_by(user.alias("USER_NAME"), factor.alias("factor")).agg(
            place.min().alias("_place")
        )

    sso: dict[str, tuple[int, str]] = {}
    firsts = scan(first_sso).group_by("USER_NAME", "factor").agg(pl.col("_place").min())
    for name, sso_factor, at in collect(firsts).iter_rows():
        if name not in sso or at < sso[name][0]:
            sso[name] = (at, sso_factor)
    lasts = scan(latest).group_by("USER_NAME").agg(pl.col("EVENT_TIMESTAMP").max())
    return files, {
        name: _UserLogins(sso[name][1] if name in sso else None, at)
        for name, at in collect(lasts).iter_rows()
    }


# -- the shared shape of a result ---------------------------------------------------------


class _CisCheck(Check):
    """Reads, evaluates each subject, and words the result the same way for all 17."""

    #: what the subjects are called in a summary ("users", "tasks" ...)
    noun: ClassVar[str]

    def verdict(
        self,
        read: _Read,
        *,
        findings: Sequence[Mapping[str, Any]],
        passed: Iterable[str],
        failing: str,
        passing: str,
        undetermined: Sequence[Mapping[str, Any]] = (),
        refs: Iterable[EvidenceRef] = (),
        details: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        """``fail`` with ``findings``; else ``not_evidenced`` if some subject could not be
        decided; else ``pass``. ``failing``/``passing`` finish "N of M <noun> ..."."""
        ok = sorted(set(passed))
        evaluated = len(findings) + len(ok) + len(undetermined)
        info: dict[str, Any] = {
            "as_of": read.as_of_text,
            "evaluated": evaluated,
            "passed": ok[:MAX_PASSED],
            **(details or {}),
        }
        if undetermined:
            info["undetermined"] = [dict(u) for u in undetermined]
        cited = [*read.refs, *refs]
        if findings:
            names = ", ".join(str(next(iter(f.values()))) for f in findings[:20])
            more = f" and {len(findings) - 20} more" if len(findings) > 20 else ""
            return self.result(
                "fail",
                f"{len(findings)} of {evaluated} {self.noun} {failing}: {names}{more}",
                findings=findings,
                evidence=cited,
                details=info,
            )
        if undetermined:
            names = ", ".join(str(next(iter(u.values()))) for u in undetermined[:20])
            return self.not_evidenced(
                f"{len(undetermined)} of {evaluated} {self.noun} could not be decided: {names}",
                evidence=cited,
                details=info,
            )
        return self.result(
            "pass", f"{evaluated} {self.noun} evaluated, {passing}", evidence=cited, details=info
        )

    def missing(self, missing: Missing) -> CheckResult:
        return self.not_evidenced(missing.reason, evidence=missing.evidence)


# -- 1.1, 1.2: integrations ---------------------------------------------------------------


class _IntegrationConfigured(_CisCheck):
    """An enabled security integration of a kind must exist (SHOW SECURITY INTEGRATIONS)."""

    noun = "account"
    what: ClassVar[str]

    @property
    @abstractmethod
    def prefix(self) -> str:
        """SHOW SECURITY INTEGRATIONS ``type`` of the kind starts with this."""

    def legacy(self, evidence: EvidenceSet, read: _Read) -> tuple[str, EvidenceRef] | None:
        """A configuration outside integrations that also satisfies the audit: what it
        is, and the file that shows it."""
        return None

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "SHOW_SECURITY_INTEGRATIONS")
        if isinstance(read, Missing):
            return self.missing(read)
        rows = read.rows("SHOW_SECURITY_INTEGRATIONS")
        kind = [r for r in rows if str(r.get("type") or "").upper().startswith(self.prefix)]
        enabled = sorted(str(r.get("name")) for r in kind if truthy(r.get("enabled")))
        # The subject is the account: it has the integration or it does not.
        details: dict[str, Any] = {
            "security_integrations": sorted(str(r.get("name")) for r in rows),
            "enabled_of_kind": enabled,
            "disabled_of_kind": sorted(
                str(r.get("name")) for r in kind if not truthy(r.get("enabled"))
            ),
        }
        refs: list[EvidenceRef] = []
        through = f"the enabled integration(s) {', '.join(enabled)}" if enabled else None
        if through is None:
            alternative = self.legacy(evidence, read)
            if alternative is not None:
                through, ref = alternative
                refs.append(ref)
        findings = []
        if through is None:
            findings.append(
                {
                    "account": read.account,
                    "enabled_integrations": 0,
                    "disabled_integrations": details["disabled_of_kind"],
                    "as_of": read.as_of_text,
                }
            )
        else:
            details["configured_through"] = through
        return self.verdict(
            read,
            findings=findings,
            passed=[] if through is None else [read.account],
            failing=f"has no enabled {self.what} integration",
            passing=f"{self.what} is configured through {through}",
            refs=refs,
            details=details,
        )


class SsoConfigured(_IntegrationConfigured):
    """CIS 1.1: SSO is configured for the account.

    Audit: ``SHOW SECURITY INTEGRATIONS`` has an enabled integration of type SAML2 (or,
    for accounts set up before SAML2 integrations, the account parameter
    SAML_IDENTITY_PROVIDER is set). Evidence: the snapshot's
    ``show_security_integrations.parquet`` (``type`` starting ``SAML2``, ``enabled``
    true), else a non-empty ``SAML_IDENTITY_PROVIDER`` in
    ``show_parameters_in_account.parquet`` when that was archived.
    """

    check_id = "sso-configured"
    reads = (
        "policy_state: show_security_integrations.parquet (SHOW SECURITY INTEGRATIONS)",
        "policy_state: show_parameters_in_account.parquet (SHOW PARAMETERS IN ACCOUNT)",
    )
    title = "Ensure single sign-on (SSO) is configured for your account / organization"
    cis = "1.1"
    control = _IDENTITY
    prefix = "SAML2"
    what = "SAML2 SSO"

    def legacy(self, evidence: EvidenceSet, read: _Read) -> tuple[str, EvidenceRef] | None:
        params = snapshot_view(evidence, "SHOW_PARAMETERS_IN_ACCOUNT", read.entry)
        if isinstance(params, Missing):
            return None
        for p in params.rows():
            value = p.get("value")
            if str(p.get("key")).upper() == "SAML_IDENTITY_PROVIDER" and value not in (
                None,
                "",
                "{}",
                "null",
            ):
                return ("the SAML_IDENTITY_PROVIDER account parameter", params.ref)
        return None


class ScimProvisioningConfigured(_IntegrationConfigured):
    """CIS 1.2: a SCIM integration provisions and deprovisions users and roles.

    Audit: ``SHOW SECURITY INTEGRATIONS`` has an enabled integration whose type is
    ``SCIM - <provider>``. Evidence: ``show_security_integrations.parquet``, ``type``
    starting ``SCIM`` and ``enabled`` true. Whether the identity provider pushes
    every change is outside Snowflake; the monitoring checks (2.7) watch its tokens.
    """

    check_id = "scim-provisioning-configured"
    reads = ("policy_state: show_security_integrations.parquet (SHOW SECURITY INTEGRATIONS)",)
    title = (
        "Ensure Snowflake SCIM integration is configured to automatically provision and "
        "deprovision users and groups (i.e. roles)"
    )
    cis = "1.2"
    control = _PROVISIONING
    prefix = "SCIM"
    what = "SCIM"


# -- 1.3 to 1.8: users --------------------------------------------------------------------


class SsoUsersWithPassword(_CisCheck):
    """CIS 1.3: users who sign in through SSO have no Snowflake password.

    Audit: the users with a successful LOGIN_HISTORY sign-in whose
    FIRST_AUTHENTICATION_FACTOR is SAML2_ASSERTION or OAUTH_ACCESS_TOKEN are the SSO
    users; none of them may have USERS.HAS_PASSWORD true. Evidence: the period's
    archived LOGIN_HISTORY windows up to the snapshot's ``as_of`` and the snapshot's
    USERS (current users). ``sso_break_glass_users`` are the break-glass users the
    benchmark allows to keep a password. A pass needs LOGIN_HISTORY to cover the
    period (an SSO user who signed in during a hole would go unseen).
    """

    check_id = "sso-users-with-password"
    reads = (
        "policy_state: users.parquet (ACCOUNT_USAGE.USERS)",
        "stream login_history (ACCOUNT_USAGE.LOGIN_HISTORY)",
    )
    title = "Ensure that Snowflake password is unset for SSO users"
    cis = "1.3"
    control = _IDENTITY
    noun = "SSO users"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "USERS")
        if isinstance(read, Missing):
            return self.missing(read)
        files, logins = _successful_logins(evidence, read.as_of)
        if not files:
            return self.not_evidenced(
                f"no LOGIN_HISTORY (stream snowflake/{read.account}/login_history) in the "
                "period: the SSO users are those with SAML2 or OAuth sign-ins there",
                evidence=read.refs,
            )
        sso = {name: u.sso_factor for name, u in logins.items() if u.sso_factor is not None}
        users = _users(read)
        break_glass = upper_set(ctx.settings.sso_break_glass_users)
        findings, passed, exempted = [], [], []
        for name in sorted(sso):
            u = users.get(name)
            if u is None:
                continue  # dropped since it signed in
            if not truthy(u.get("HAS_PASSWORD")):
                passed.append(name)
            elif name.upper() in break_glass:
                exempted.append(name)
            else:
                findings.append(
                    {
                        "user": name,
                        "has_password": True,
                        "sso_factor": sso[name],
                        "password_last_set_time": jsonable(u.get("PASSWORD_LAST_SET_TIME")),
                        "as_of": read.as_of_text,
                    }
                )
        details = {"break_glass": exempted}
        refs = [f.ref for f in files]
        # Up to the snapshot, less the latency every stream is allowed (stale_after).
        horizon = read.as_of - ctx.settings.stale_after
        holes = coverage_holes(evidence, "login_history", horizon, ctx.settings.stale_after)
        if holes and not findings:
            return self.not_evidenced(
                f"no SSO user seen with a password, but LOGIN_HISTORY has holes before "
                f"{ts(horizon)}",
                evidence=[*read.refs, *refs],
                details={**details, "holes": {s: holes_json(h) for s, h in holes.items()}},
            )
        return self.verdict(
            read,
            findings=findings,
            passed=[*passed, *exempted],
            failing="still have a Snowflake password",
            passing="none has a Snowflake password outside the break-glass list",
            refs=refs,
            details=details,
        )


class PasswordUsersWithoutMfa(_CisCheck):
    """CIS 1.4: human users who can sign in with a password have MFA.

    Audit: USERS rows not dropped with HAS_PASSWORD true and no MFA enrolled
    (EXT_AUTHN_DUO / HAS_MFA false). Evidence: the snapshot's USERS; human as in
    ``human-users-without-mfa`` (TYPE PERSON or NULL), disabled users left out (they
    cannot sign in), ``mfa_exempt_users`` honoured. Unlike ``human-users-without-mfa``
    an SSO-only user (no password) is out of scope here, as in the benchmark.
    """

    check_id = "password-users-without-mfa"
    reads = ("policy_state: users.parquet (ACCOUNT_USAGE.USERS)",)
    title = (
        "Ensure multi-factor authentication (MFA) is turned on for all human users with "
        "password-based authentication"
    )
    cis = "1.4"
    control = _IDENTITY
    noun = "human users with a password"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "USERS")
        if isinstance(read, Missing):
            return self.missing(read)
        if "HAS_MFA" not in read.views["USERS"].table.column_names:
            return self.not_evidenced("USERS has no HAS_MFA column", evidence=read.refs)
        exempt = upper_set(ctx.settings.mfa_exempt_users)
        findings, passed, exempted = [], [], []
        for name, u in sorted(_users(read).items()):
            if not is_human(u) or truthy(u.get("DISABLED")) or not truthy(u.get("HAS_PASSWORD")):
                continue
            if has_mfa(u):
                passed.append(name)
            elif name.upper() in exempt:
                exempted.append(name)
            else:
                findings.append(
                    {
                        "user": name,
                        "has_password": True,
                        "has_mfa": u.get("HAS_MFA"),
                        "ext_authn_duo": u.get("EXT_AUTHN_DUO"),
                        "last_success_login": jsonable(u.get("LAST_SUCCESS_LOGIN")),
                        "as_of": read.as_of_text,
                    }
                )
        return self.verdict(
            read,
            findings=findings,
            passed=[*passed, *exempted],
            failing="have no MFA",
            passing="all have MFA or are exempted",
            details={"exempted": exempted},
        )


class PasswordMinLength(_CisCheck):
    """CIS 1.5: the password policy in force requires at least 14 characters.

    Audit: POLICY_REFERENCES with POLICY_KIND PASSWORD_POLICY and REF_ENTITY_DOMAIN
    ACCOUNT names the account's policy, whose PASSWORD_MIN_LENGTH (PASSWORD_POLICIES,
    joined on POLICY_ID = ID) must be at least ``min_password_length``. A policy set
    on a user (REF_ENTITY_DOMAIN USER) takes precedence for that user, so each one is
    held to the same bound. Evidence: the snapshot's POLICY_REFERENCES and
    PASSWORD_POLICIES. Subjects: the account and each user with an own policy.
    """

    check_id = "password-min-length"
    reads = (
        "policy_state: policy_references.parquet (ACCOUNT_USAGE.POLICY_REFERENCES)",
        "policy_state: password_policies.parquet (ACCOUNT_USAGE.PASSWORD_POLICIES)",
    )
    title = "Ensure minimum password length is set to 14 characters or more"
    cis = "1.5"
    control = Control(soc2=("CC6.1",), hipaa=("164.308(a)(5)(ii)(D)",))
    noun = "password policy attachments"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "POLICY_REFERENCES", "PASSWORD_POLICIES")
        if isinstance(read, Missing):
            return self.missing(read)
        bound = ctx.settings.min_password_length
        policies = {p.get("ID"): p for p in read.rows("PASSWORD_POLICIES")}
        refs = [
            r
            for r in read.rows("POLICY_REFERENCES")
            if str(r.get("POLICY_KIND")).upper() == "PASSWORD_POLICY"
        ]
        account = [r for r in refs if str(r.get("REF_ENTITY_DOMAIN")).upper() == "ACCOUNT"]
        on_users = [r for r in refs if str(r.get("REF_ENTITY_DOMAIN")).upper() == "USER"]
        findings: list[dict[str, Any]] = []
        undetermined: list[dict[str, Any]] = []
        passed: list[str] = []
        if not account:
            findings.append(
                {
                    "account": read.account,
                    "policy": None,
                    "reason": "no password policy is attached to the account",
                    "min_password_length": bound,
                    "as_of": read.as_of_text,
                }
            )
        subjects = [("account", read.account, r) for r in account]
        subjects += [("user", str(r.get("REF_ENTITY_NAME")), r) for r in on_users]
        for kind, name, ref in sorted(subjects, key=lambda s: (s[0] != "account", s[1])):
            policy = policies.get(ref.get("POLICY_ID"))
            qualified = ".".join(
                str(ref.get(c)) for c in ("POLICY_DB", "POLICY_SCHEMA", "POLICY_NAME")
            )
            if policy is None:
                undetermined.append(
                    {kind: name, "policy": qualified, "reason": "not in PASSWORD_POLICIES"}
                )
                continue
            length = policy.get("PASSWORD_MIN_LENGTH")
            if length is not None and int(length) >= bound:
                passed.append(f"{kind} {name}")
                continue
            findings.append(
                {
                    kind: name,
                    "policy": qualified,
                    "password_min_length": length,
                    "min_password_length": bound,
                    "as_of": read.as_of_text,
                }
            )
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            undetermined=undetermined,
            failing=f"allow passwords shorter than {bound} characters",
            passing=f"every policy in force requires at least {bound} characters",
            details={"min_password_length": bound},
        )


class ServiceUsersWithoutKeyPair(_CisCheck):
    """CIS 1.6: service accounts authenticate with a key pair, not a password.

    Audit: each service account has HAS_RSA_PUBLIC_KEY true and HAS_PASSWORD false
    in USERS. Evidence: the snapshot's USERS; a service account is a current,
    enabled user of TYPE SERVICE or LEGACY_SERVICE (the type Snowflake gives
    non-interactive users; an untyped user counts as a person).
    """

    check_id = "service-users-without-key-pair"
    reads = ("policy_state: users.parquet (ACCOUNT_USAGE.USERS)",)
    title = "Ensure that service accounts use key pair authentication"
    cis = "1.6"
    control = _IDENTITY
    noun = "service users"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "USERS")
        if isinstance(read, Missing):
            return self.missing(read)
        findings, passed = [], []
        for name, u in sorted(_users(read).items()):
            if not is_service_user(u) or truthy(u.get("DISABLED")):
                continue
            key, password = truthy(u.get("HAS_RSA_PUBLIC_KEY")), truthy(u.get("HAS_PASSWORD"))
            if key and not password:
                passed.append(name)
                continue
            findings.append(
                {
                    "user": name,
                    "type": u.get("TYPE"),
                    "has_rsa_public_key": key,
                    "has_password": password,
                    "as_of": read.as_of_text,
                }
            )
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            failing="do not authenticate by key pair alone",
            passing="all use key pair authentication without a password",
        )


class KeyPairsNotRotated(_CisCheck):
    """CIS 1.7: every RSA public key of a user was set at most 180 days ago.

    Audit: ``DESCRIBE USER`` for each user with HAS_RSA_PUBLIC_KEY, and
    RSA_PUBLIC_KEY_LAST_SET_TIME / RSA_PUBLIC_KEY_2_LAST_SET_TIME of each key that is
    set (its ``_FP`` is not null) no older than ``key_rotation_max_age``. Evidence:
    the snapshot's USERS and ``describe_user_keys.parquet``; age is measured from the
    snapshot's ``as_of``. A key whose set time is unknown, or a key user with no
    DESCRIBE rows, cannot be decided (``not_evidenced`` unless something fails).
    """

    check_id = "key-pairs-not-rotated"
    reads = (
        "policy_state: users.parquet (ACCOUNT_USAGE.USERS)",
        "policy_state: describe_user_keys.parquet (DESCRIBE USER, key rows)",
    )
    title = "Ensure authentication key pairs are rotated every 180 days"
    cis = "1.7"
    control = _IDENTITY
    noun = "RSA public keys"
    slots = ("RSA_PUBLIC_KEY", "RSA_PUBLIC_KEY_2")

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "USERS", "DESCRIBE_USER_KEYS")
        if isinstance(read, Missing):
            return self.missing(read)
        limit = ctx.settings.key_rotation_max_age
        props: dict[str, dict[str, Any]] = {}
        for r in read.rows("DESCRIBE_USER_KEYS"):
            # DESCRIBE USER's value column is "value", or "property_value" in newer accounts
            value = r.get("value", r.get("property_value"))
            props.setdefault(str(r.get("user_name")), {})[str(r.get("property")).upper()] = value
        findings: list[dict[str, Any]] = []
        passed: list[str] = []
        undetermined: list[dict[str, Any]] = []
        for name, u in sorted(_users(read).items()):
            if not truthy(u.get("HAS_RSA_PUBLIC_KEY")):
                continue
            described = props.get(name)
            if described is None:
                undetermined.append({"user": name, "reason": "no DESCRIBE USER rows"})
                continue
            for slot in self.slots:
                if str(described.get(f"{slot}_FP") or "null").lower() == "null":
                    continue  # this slot holds no key
                raw = described.get(f"{slot}_LAST_SET_TIME")
                at = _parse_time(raw)
                if at is None:
                    undetermined.append({"user": name, "key": slot, "last_set_time": raw})
                    continue
                age = read.as_of - at
                if age <= limit:
                    passed.append(f"{name} {slot}")
                    continue
                findings.append(
                    {
                        "user": name,
                        "key": slot,
                        "last_set_time": jsonable(at),
                        "age_days": _days(age),
                        "max_age_days": _days(limit),
                        "as_of": read.as_of_text,
                    }
                )
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            undetermined=undetermined,
            failing=f"are older than {_days(limit):g} days",
            passing=f"all were set within {_days(limit):g} days",
        )


class InactiveUsersEnabled(_CisCheck):
    """CIS 1.8: users who have not signed in for 90 days are disabled.

    Audit: USERS not dropped and not disabled whose LAST_SUCCESS_LOGIN is older than
    90 days (or who never signed in and were created longer ago). Evidence: the
    snapshot's USERS; the last login is the later of USERS.LAST_SUCCESS_LOGIN and the
    last successful LOGIN_HISTORY sign-in archived in the period (LOGIN_HISTORY is
    optional: it only moves a last login later). Age is measured from ``as_of``
    against ``inactive_user_max_age``.
    """

    check_id = "inactive-users-enabled"
    reads = (
        "policy_state: users.parquet (ACCOUNT_USAGE.USERS)",
        "stream login_history (ACCOUNT_USAGE.LOGIN_HISTORY)",
    )
    title = "Ensure that users who did not log in for 90 days are disabled"
    cis = "1.8"
    control = _PROVISIONING
    noun = "enabled users"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "USERS")
        if isinstance(read, Missing):
            return self.missing(read)
        limit = ctx.settings.inactive_user_max_age
        files, logins = _successful_logins(evidence, read.as_of)
        seen = {name: u.last for name, u in logins.items() if u.last is not None}
        findings, passed = [], []
        for name, u in sorted(_users(read).items()):
            if truthy(u.get("DISABLED")):
                continue
            candidates = [t for t in (u.get("LAST_SUCCESS_LOGIN"), seen.get(name)) if t]
            last = max(candidates) if candidates else None
            since = last if last is not None else u.get("CREATED_ON")
            if since is not None and read.as_of - since <= limit:
                passed.append(name)
                continue
            findings.append(
                {
                    "user": name,
                    "type": u.get("TYPE"),
                    "last_success_login": jsonable(last),
                    "created_on": jsonable(u.get("CREATED_ON")),
                    "inactive_days": None if since is None else _days(read.as_of - since),
                    "max_inactive_days": _days(limit),
                    "as_of": read.as_of_text,
                }
            )
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            failing=f"have not signed in for more than {_days(limit):g} days",
            passing=f"all signed in within {_days(limit):g} days (or are newer)",
            refs=[f.ref for f in files],
        )


# -- 1.9 to 1.13: admin roles -------------------------------------------------------------


class AdminSessionIdleTimeout(_CisCheck):
    """CIS 1.9: users holding ACCOUNTADMIN or SECURITYADMIN time out after 15 idle minutes.

    Audit: for each user granted an admin role, the session policy in force (set on
    the user, else on the account: POLICY_REFERENCES with POLICY_KIND SESSION_POLICY,
    REF_ENTITY_DOMAIN USER or ACCOUNT) has SESSION_IDLE_TIMEOUT_MINS and
    SESSION_UI_IDLE_TIMEOUT_MINS (SESSION_POLICIES, joined on ID) at most
    ``admin_idle_timeout``; an unset timeout is Snowflake's 240 minutes. Evidence: the
    snapshot's GRANTS_TO_USERS, GRANTS_TO_ROLES (inherited grants), USERS (dropped
    users), POLICY_REFERENCES and SESSION_POLICIES.
    """

    check_id = "admin-session-idle-timeout"
    reads = (
        "policy_state: grants_to_users.parquet (ACCOUNT_USAGE.GRANTS_TO_USERS)",
        "policy_state: grants_to_roles.parquet (ACCOUNT_USAGE.GRANTS_TO_ROLES)",
        "policy_state: users.parquet (ACCOUNT_USAGE.USERS)",
        "policy_state: policy_references.parquet (ACCOUNT_USAGE.POLICY_REFERENCES)",
        "policy_state: session_policies.parquet (ACCOUNT_USAGE.SESSION_POLICIES)",
    )
    title = (
        "Ensure that the idle session timeout is set to 15 minutes or less for users with "
        "the ACCOUNTADMIN and SECURITYADMIN roles"
    )
    cis = "1.9"
    control = Control(soc2=("CC6.1",), hipaa=("164.312(a)(2)(iii)",))
    noun = "admin users"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(
            evidence,
            "GRANTS_TO_USERS",
            "GRANTS_TO_ROLES",
            "USERS",
            "POLICY_REFERENCES",
            "SESSION_POLICIES",
        )
        if isinstance(read, Missing):
            return self.missing(read)
        bound = _minutes(ctx.settings.admin_idle_timeout)
        policies = {p.get("ID"): p for p in read.rows("SESSION_POLICIES")}
        account: dict[str, Any] | None = None
        on_user: dict[str, dict[str, Any]] = {}
        for r in read.rows("POLICY_REFERENCES"):
            if str(r.get("POLICY_KIND")).upper() != "SESSION_POLICY":
                continue
            domain = str(r.get("REF_ENTITY_DOMAIN")).upper()
            if domain == "ACCOUNT":
                account = r
            elif domain == "USER":
                on_user[str(r.get("REF_ENTITY_NAME"))] = r
        findings: list[dict[str, Any]] = []
        passed: list[str] = []
        undetermined: list[dict[str, Any]] = []
        for name, held in sorted(_holders(read, ctx.settings.admin_roles).items()):
            ref = on_user.get(name, account)
            base = {"user": name, "roles": sorted(held)}
            if ref is None:
                findings.append(
                    {
                        **base,
                        "session_policy": None,
                        "idle_timeout_mins": DEFAULT_IDLE_TIMEOUT_MINS,
                        "max_idle_timeout_mins": bound,
                        "as_of": read.as_of_text,
                    }
                )
                continue
            policy = policies.get(ref.get("POLICY_ID"))
            qualified = ".".join(
                str(ref.get(c)) for c in ("POLICY_DB", "POLICY_SCHEMA", "POLICY_NAME")
            )
            if policy is None:
                undetermined.append({**base, "session_policy": qualified})
                continue
            idle = policy.get("SESSION_IDLE_TIMEOUT_MINS") or DEFAULT_IDLE_TIMEOUT_MINS
            ui = policy.get("SESSION_UI_IDLE_TIMEOUT_MINS") or DEFAULT_IDLE_TIMEOUT_MINS
            if int(idle) <= bound and int(ui) <= bound:
                passed.append(name)
                continue
            findings.append(
                {
                    **base,
                    "session_policy": qualified,
                    "attached_to": str(ref.get("REF_ENTITY_DOMAIN")).upper(),
                    "idle_timeout_mins": idle,
                    "ui_idle_timeout_mins": ui,
                    "max_idle_timeout_mins": bound,
                    "as_of": read.as_of_text,
                }
            )
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            undetermined=undetermined,
            failing=f"can stay idle longer than {bound} minutes",
            passing=f"all time out within {bound} idle minutes",
            details={"max_idle_timeout_mins": bound},
        )


class AdminUserCount(_CisCheck):
    """CIS 1.10: between 2 and 10 users hold ACCOUNTADMIN or SECURITYADMIN.

    Audit: count the users granted ACCOUNTADMIN or SECURITYADMIN (GRANTS_TO_USERS,
    DELETED_ON null). Fails when fewer than ``admin_users_min`` hold ACCOUNTADMIN (an
    account must not be locked out) or more than ``admin_users_max`` hold any of
    ``admin_roles``. Evidence: the snapshot's GRANTS_TO_USERS and GRANTS_TO_ROLES (a
    user holding a role that inherits an admin role counts), USERS (dropped users).
    The subjects are the two bounds.
    """

    check_id = "admin-user-count"
    reads = (
        "policy_state: grants_to_users.parquet (ACCOUNT_USAGE.GRANTS_TO_USERS)",
        "policy_state: grants_to_roles.parquet (ACCOUNT_USAGE.GRANTS_TO_ROLES)",
        "policy_state: users.parquet (ACCOUNT_USAGE.USERS)",
    )
    title = "Limit the number of users with ACCOUNTADMIN and SECURITYADMIN"
    cis = "1.10"
    control = _LEAST_PRIVILEGE
    noun = "bounds"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "GRANTS_TO_USERS", "GRANTS_TO_ROLES", "USERS")
        if isinstance(read, Missing):
            return self.missing(read)
        roles = sorted(upper_set(ctx.settings.admin_roles))
        holders = _holders(read, [*roles, ACCOUNTADMIN])
        admins = sorted(u for u, held in holders.items() if set(held) & set(roles))
        accountadmins = sorted(u for u, held in holders.items() if ACCOUNTADMIN in held)
        lo, hi = ctx.settings.admin_users_min, ctx.settings.admin_users_max
        findings, passed = [], []
        if len(accountadmins) < lo:
            findings.append(
                {
                    "role": ACCOUNTADMIN,
                    "users": accountadmins,
                    "count": len(accountadmins),
                    "min": lo,
                    "as_of": read.as_of_text,
                }
            )
        else:
            passed.append(f"at least {lo} hold {ACCOUNTADMIN}")
        if len(admins) > hi:
            findings.append(
                {
                    "role": " or ".join(roles),
                    "users": admins,
                    "count": len(admins),
                    "max": hi,
                    "as_of": read.as_of_text,
                }
            )
        else:
            passed.append(f"at most {hi} hold {' or '.join(roles)}")
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            failing="are not met",
            passing=(
                f"{len(accountadmins)} user(s) hold {ACCOUNTADMIN}, {len(admins)} hold "
                f"{' or '.join(roles)}"
            ),
            details={"admin_users": admins, "accountadmin_users": accountadmins},
        )


class AccountadminUsersWithoutEmail(_CisCheck):
    """CIS 1.11: every user granted ACCOUNTADMIN has an email address.

    Audit: GRANTS_TO_USERS (ROLE ACCOUNTADMIN, DELETED_ON null) joined with USERS on
    the name, EMAIL null. Evidence: the snapshot's GRANTS_TO_USERS, GRANTS_TO_ROLES
    (inherited grants count) and USERS; USERS.EMAIL is archived as a keyed HMAC, so
    set or unset is all this check needs. If the collector was told to drop EMAIL the
    column is absent and the check is ``not_evidenced``.
    """

    check_id = "accountadmin-users-without-email"
    reads = (
        "policy_state: grants_to_users.parquet (ACCOUNT_USAGE.GRANTS_TO_USERS)",
        "policy_state: grants_to_roles.parquet (ACCOUNT_USAGE.GRANTS_TO_ROLES)",
        "policy_state: users.parquet (ACCOUNT_USAGE.USERS)",
    )
    title = "Ensure that all users granted the ACCOUNTADMIN role have an email address assigned"
    cis = "1.11"
    control = _LEAST_PRIVILEGE
    noun = "ACCOUNTADMIN users"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "GRANTS_TO_USERS", "GRANTS_TO_ROLES", "USERS")
        if isinstance(read, Missing):
            return self.missing(read)
        if "EMAIL" not in read.views["USERS"].table.column_names:
            return self.not_evidenced(
                "USERS has no EMAIL column (dropped by the collector's personal_data "
                "setting); keep it as hmac to evidence this recommendation",
                evidence=read.refs,
            )
        users = _users(read)
        findings, passed = [], []
        for name, held in sorted(_holders(read, [ACCOUNTADMIN]).items()):
            u = users.get(name, {})
            if u.get("EMAIL") not in (None, ""):
                passed.append(name)
                continue
            findings.append(
                {
                    "user": name,
                    "via": held[ACCOUNTADMIN],
                    "email": None,
                    "as_of": read.as_of_text,
                }
            )
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            failing="have no email address",
            passing="all have an email address",
        )


class AdminDefaultRole(_CisCheck):
    """CIS 1.12: no user has ACCOUNTADMIN or SECURITYADMIN as the default role.

    Audit: USERS with DELETED_ON null and DEFAULT_ROLE in (ACCOUNTADMIN,
    SECURITYADMIN). Evidence: the snapshot's USERS (current users, disabled ones
    included as in the audit), ``admin_roles``.
    """

    check_id = "admin-default-role"
    reads = ("policy_state: users.parquet (ACCOUNT_USAGE.USERS)",)
    title = "Ensure that no users have ACCOUNTADMIN or SECURITYADMIN as the default role"
    cis = "1.12"
    control = _LEAST_PRIVILEGE
    noun = "users"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "USERS")
        if isinstance(read, Missing):
            return self.missing(read)
        admin = upper_set(ctx.settings.admin_roles)
        findings, passed = [], []
        for name, u in sorted(_users(read).items()):
            role = u.get("DEFAULT_ROLE")
            if role is None or str(role).upper() not in admin:
                passed.append(name)
                continue
            findings.append({"user": name, "default_role": role, "as_of": read.as_of_text})
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            failing="default to an admin role",
            passing="none defaults to an admin role",
        )


class AdminRolesGrantedToCustomRoles(_CisCheck):
    """CIS 1.13: ACCOUNTADMIN and SECURITYADMIN are not granted to any custom role.

    Audit: GRANTS_TO_ROLES (GRANTED_ON ROLE, NAME an admin role, DELETED_ON null)
    whose grantee is not a system role. Evidence: the snapshot's GRANTS_TO_ROLES,
    followed through chains (a custom role granted a custom role that holds
    ACCOUNTADMIN holds it too); system roles are ``SYSTEM_ROLES``. Subjects: every
    role in the grants.
    """

    check_id = "admin-roles-granted-to-custom-roles"
    reads = ("policy_state: grants_to_roles.parquet (ACCOUNT_USAGE.GRANTS_TO_ROLES)",)
    title = "Ensure that the ACCOUNTADMIN or SECURITYADMIN role is not granted to any custom role"
    cis = "1.13"
    control = _LEAST_PRIVILEGE
    noun = "roles"

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        read = _read(evidence, "GRANTS_TO_ROLES")
        if isinstance(read, Missing):
            return self.missing(read)
        holding = _owner_paths(read, ctx.settings.admin_roles)
        every: set[str] = set()
        for g in read.rows("GRANTS_TO_ROLES"):
            if str(g.get("GRANTED_TO", "ROLE")).upper() == "ROLE":
                every.add(str(g.get("GRANTEE_NAME")))
                if str(g.get("GRANTED_ON")).upper() == "ROLE":
                    every.add(str(g.get("NAME")))
        findings, passed = [], []
        for role in sorted(every | set(holding)):
            held = holding.get(role, {})
            if role.upper() in SYSTEM_ROLES or not held:
                passed.append(role)
                continue
            findings.append(
                {
                    "role": role,
                    "holds": sorted(held),
                    "via": {r: p for r, p in sorted(held.items())},
                    "as_of": read.as_of_text,
                }
            )
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            failing="are custom roles holding an admin role",
            passing="no custom role holds an admin role",
        )


# -- 1.14 to 1.17: tasks and procedures ---------------------------------------------------


class _Owned(_CisCheck):
    """Objects whose owner role is, or (``inherited``) holds, an admin role."""

    view: ClassVar[str]
    subject: ClassVar[str]  # the finding's first key
    owner_column: ClassVar[str]

    @property
    @abstractmethod
    def inherited(self) -> bool:
        """Whether an owner role that inherits an admin role counts (1.15, 1.17)."""

    @abstractmethod
    def name(self, row: Mapping[str, Any]) -> str: ...

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        views = (self.view, "GRANTS_TO_ROLES") if self.inherited else (self.view,)
        read = _read(evidence, *views)
        if isinstance(read, Missing):
            return self.missing(read)
        if self.inherited:
            holding = _owner_paths(read, ctx.settings.admin_roles)
        else:
            holding = {r.upper(): {r.upper(): [r.upper()]} for r in ctx.settings.admin_roles}
        findings, passed = [], []
        for row in sorted(read.rows(self.view), key=self.name):
            owner = str(row.get(self.owner_column) or "")
            held = holding.get(owner) or holding.get(owner.upper())
            if not held:
                passed.append(self.name(row))
                continue
            finding: dict[str, Any] = {self.subject: self.name(row), "owner": owner}
            if self.inherited:
                finding["runs_with"] = sorted(held)
                finding["via"] = {r: p for r, p in sorted(held.items())}
            finding["as_of"] = read.as_of_text
            findings.append(finding)
        return self.verdict(
            read,
            findings=findings,
            passed=passed,
            failing=(
                "run with an admin role's privileges"
                if self.inherited
                else "are owned by an admin role"
            ),
            passing=(
                "none runs with an admin role's privileges"
                if self.inherited
                else "none is owned by an admin role"
            ),
        )


class _Tasks(_Owned):
    view = "SHOW_TASKS"
    subject = "task"
    owner_column = "owner"
    noun = "tasks"

    def name(self, row: Mapping[str, Any]) -> str:
        return ".".join(str(row.get(c)) for c in ("database_name", "schema_name", "name"))


class _Procedures(_Owned):
    view = "PROCEDURES"
    subject = "procedure"
    owner_column = "PROCEDURE_OWNER"
    noun = "procedures"

    def name(self, row: Mapping[str, Any]) -> str:
        path = ".".join(
            str(row.get(c)) for c in ("PROCEDURE_CATALOG", "PROCEDURE_SCHEMA", "PROCEDURE_NAME")
        )
        return f"{path}{row.get('ARGUMENT_SIGNATURE') or '()'}"


class TasksOwnedByAdminRoles(_Tasks):
    """CIS 1.14: no task is owned by ACCOUNTADMIN or SECURITYADMIN.

    Audit: ``SHOW TASKS IN ACCOUNT``, ``owner`` in (ACCOUNTADMIN, SECURITYADMIN).
    Evidence: the snapshot's ``show_tasks.parquet``; ``admin_roles``.
    """

    check_id = "tasks-owned-by-admin-roles"
    reads = ("policy_state: show_tasks.parquet (SHOW TASKS IN ACCOUNT)",)
    title = "Ensure that Snowflake tasks are not owned by the ACCOUNTADMIN or SECURITYADMIN roles"
    cis = "1.14"
    control = _LEAST_PRIVILEGE
    inherited = False


class TasksWithAdminPrivileges(_Tasks):
    """CIS 1.15: no task runs with ACCOUNTADMIN or SECURITYADMIN privileges.

    Audit: a task runs with its owner role's privileges, so a task whose ``owner``
    (SHOW TASKS) is an admin role or a role that inherits one (the role hierarchy
    from GRANTS_TO_ROLES) fails. Evidence: the snapshot's ``show_tasks.parquet`` and
    GRANTS_TO_ROLES; each finding names the chain of grants.
    """

    check_id = "tasks-running-with-admin-privileges"
    reads = (
        "policy_state: show_tasks.parquet (SHOW TASKS IN ACCOUNT)",
        "policy_state: grants_to_roles.parquet (ACCOUNT_USAGE.GRANTS_TO_ROLES)",
    )
    title = (
        "Ensure that Snowflake tasks do not run with the ACCOUNTADMIN or SECURITYADMIN role "
        "privileges"
    )
    cis = "1.15"
    control = _LEAST_PRIVILEGE
    inherited = True


class ProceduresOwnedByAdminRoles(_Procedures):
    """CIS 1.16: no stored procedure is owned by ACCOUNTADMIN or SECURITYADMIN.

    Audit: PROCEDURES with DELETED null and PROCEDURE_OWNER in (ACCOUNTADMIN,
    SECURITYADMIN). Evidence: the snapshot's ``procedures.parquet`` (dropped
    procedures left out); ``admin_roles``.
    """

    check_id = "procedures-owned-by-admin-roles"
    reads = ("policy_state: procedures.parquet (ACCOUNT_USAGE.PROCEDURES)",)
    title = (
        "Ensure that Snowflake stored procedures are not owned by the ACCOUNTADMIN or "
        "SECURITYADMIN roles"
    )
    cis = "1.16"
    control = _LEAST_PRIVILEGE
    inherited = False


class ProceduresWithAdminPrivileges(_Procedures):
    """CIS 1.17: no stored procedure runs with ACCOUNTADMIN or SECURITYADMIN privileges.

    Audit: an owner's-rights procedure runs with its owner role's privileges, so one
    whose PROCEDURE_OWNER is an admin role or inherits one (role hierarchy from
    GRANTS_TO_ROLES) fails. Evidence: the snapshot's ``procedures.parquet`` and
    GRANTS_TO_ROLES. PROCEDURES does not say whether a procedure executes as owner
    or caller, so every procedure so owned is a finding for the reviewer to confirm
    (the benchmark's own audit cannot tell them apart from this view either).
    """

    check_id = "procedures-running-with-admin-privileges"
    reads = (
        "policy_state: procedures.parquet (ACCOUNT_USAGE.PROCEDURES)",
        "policy_state: grants_to_roles.parquet (ACCOUNT_USAGE.GRANTS_TO_ROLES)",
    )
    title = (
        "Ensure Snowflake stored procedures do not run with ACCOUNTADMIN or SECURITYADMIN "
        "role privileges"
    )
    cis = "1.17"
    control = _LEAST_PRIVILEGE
    inherited = True


#: in benchmark order
CIS_IDENTITY_CHECKS: tuple[Check, ...] = (
    SsoConfigured(),
    ScimProvisioningConfigured(),
    SsoUsersWithPassword(),
    PasswordUsersWithoutMfa(),
    PasswordMinLength(),
    ServiceUsersWithoutKeyPair(),
    KeyPairsNotRotated(),
    InactiveUsersEnabled(),
    AdminSessionIdleTimeout(),
    AdminUserCount(),
    AccountadminUsersWithoutEmail(),
    AdminDefaultRole(),
    AdminRolesGrantedToCustomRoles(),
    TasksOwnedByAdminRoles(),
    TasksWithAdminPrivileges(),
    ProceduresOwnedByAdminRoles(),
    ProceduresWithAdminPrivileges(),
)
