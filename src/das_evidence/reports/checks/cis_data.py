"""CIS Snowflake Foundations Benchmark v1.0.0 sections 3 (networking) and 4 (data protection),
and the platform's cost-control check over warehouses and resource monitors.

Every check reads the latest policy-state snapshot of the period: the SHOW results archived
as returned (``show_parameters_in_account.parquet`` and friends, lowercase columns) and the
ACCOUNT_USAGE views (``tables.parquet``, ``tag_references.parquet``, uppercase columns).
SHOW PARAMETERS returns every value as text (``'true'``, ``'256'``): :func:`parse_bool` and
:func:`parse_days` accept only what Snowflake writes, and anything else is a finding that
carries the raw value, never a pass.

| check | CIS | SOC 2 | HIPAA |
|---|---|---|---|
| ``account-network-policy-allowlist`` | 3.1 | CC6.1, CC6.6 | 164.312(a)(1), 164.312(e)(1) |
| ``service-users-without-network-policy`` | 3.2 | CC6.1, CC6.6 | 164.312(a)(1), 164.312(e)(1) |
| ``periodic-data-rekeying`` | 4.1 | CC6.1, CC6.7 | 164.312(a)(2)(iv) |
| ``client-encryption-key-size`` | 4.2 | CC6.1, CC6.7 | 164.312(a)(2)(iv) |
| ``tagged-tables-below-retention`` | 4.3 | A1.2, CC7.5 | 164.308(a)(7)(ii)(A), 164.312(c)(1) |
| ``min-data-retention`` | 4.4 | A1.2, CC7.5 | 164.308(a)(7)(ii)(A), 164.312(c)(1) |
| ``stage-creation-requires-storage-integration`` | 4.5 | CC6.1, CC6.7 | 164.312(a)(1), 164.312(e)(1) |
| ``stage-operation-requires-storage-integration`` | 4.6 | CC6.1, CC6.7 | 164.312(a)(1), 164.312(e)(1) |
| ``external-stages-without-storage-integration`` | 4.7 | CC6.1, CC6.7 | 164.312(a)(1), 164.312(e)(1) |
| ``unload-to-inline-url-prevented`` | 4.8 | CC6.7 | 164.312(a)(1), 164.312(e)(1) |
| ``warehouses-without-resource-monitor`` | — | A1.1, CC7.2 | 164.308(a)(1)(ii)(B) |
"""  # noqa: E501

from __future__ import annotations

import ipaddress
import re
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from das_evidence.reports.checks._support import (
    Missing,
    SnapshotView,
    describe,
    is_service_user,
    jsonable,
    snapshot_view,
    truthy,
    upper_set,
)
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.checks.phi import qualified
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef

PARAMETERS = "SHOW_PARAMETERS_IN_ACCOUNT"
USER_NETWORK_POLICIES = "SHOW_USER_NETWORK_POLICIES"
MAX_PASSED = 200  # passing subjects listed in details; the count is always complete

_DIGITS = re.compile(r"[0-9]+")
_NETWORK = Control(soc2=("CC6.1", "CC6.6"), hipaa=("164.312(a)(1)", "164.312(e)(1)"))
_ENCRYPTION = Control(soc2=("CC6.1", "CC6.7"), hipaa=("164.312(a)(2)(iv)",))
_RETENTION = Control(soc2=("A1.2", "CC7.5"), hipaa=("164.308(a)(7)(ii)(A)", "164.312(c)(1)"))
_EGRESS = Control(soc2=("CC6.1", "CC6.7"), hipaa=("164.312(a)(1)", "164.312(e)(1)"))


# -- parsing SHOW results -----------------------------------------------------------------


def parse_bool(value: Any) -> bool | None:
    """``'true'`` / ``'false'`` (any case, as SHOW PARAMETERS writes them); else None."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return {"true": True, "false": False}.get(text)


def parse_days(value: Any) -> int | None:
    """A whole non-negative number written as digits; else None (``'7.5'``, ``''``, NULL)."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value.strip())


def _unset(value: Any) -> bool:
    """A SHOW column that says "nothing": NULL, empty, or the text ``null`` Snowflake prints."""
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "null"))


def _name(value: Any) -> str:
    """An identifier as SHOW prints it, for comparing: unquoted and upper-case."""
    return str(value).strip().strip('"').upper()


def _whole(value: Any) -> int | None:
    """A NUMBER column's whole value (int64 or an integral Decimal); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return None


def _as_of(view: SnapshotView) -> Any:
    return view.entry.predicate.get("as_of")


def _details(
    view: SnapshotView, evaluated: int, passed: Iterable[str], **more: Any
) -> dict[str, Any]:
    return {
        "as_of": _as_of(view),
        "evaluated": evaluated,
        "passed": sorted(passed)[:MAX_PASSED],
        **more,
    }


def _parameters(view: SnapshotView) -> dict[str, dict[str, Any]]:
    """SHOW PARAMETERS rows by upper-case key."""
    return {str(r.get("key")).upper(): r for r in view.rows() if r.get("key") is not None}


# -- account parameters (CIS 4.1, 4.2, 4.4, 4.5, 4.6, 4.8) ---------------------------------


class _AccountParameter(Check):
    """One account parameter of ``SHOW PARAMETERS IN ACCOUNT`` held to one rule.

    The benchmark's audit for each of these is ``SHOW PARAMETERS LIKE '<P>' IN ACCOUNT``
    and a look at ``value``: the archived ``show_parameters_in_account.parquet`` is that
    command's full result, so the check reads the row whose ``key`` is the parameter.
    A row missing from the result is ``not_evidenced`` (the command lists every account
    parameter, so its absence means the evidence is incomplete); a value that does not
    parse is a finding with the raw text.
    """

    parameter: ClassVar[str]
    expected: ClassVar[str]  # what the finding says the value should be
    reads = ("policy_state: show_parameters_in_account.parquet (SHOW PARAMETERS IN ACCOUNT)",)

    @abstractmethod
    def decide(self, value: Any, ctx: CheckContext) -> bool | None:
        """True when ``value`` meets the rule, False when not, None when it does not parse."""

    def expectation(self, ctx: CheckContext) -> str:
        return self.expected

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        params = snapshot_view(evidence, PARAMETERS)
        if isinstance(params, Missing):
            return self.not_evidenced(params.reason, evidence=params.evidence)
        row = _parameters(params).get(self.parameter)
        if row is None:
            return self.not_evidenced(
                f"{PARAMETERS} in {describe(params.entry)} has no {self.parameter} row",
                evidence=[params.ref],
            )
        value = row.get("value")
        verdict = self.decide(value, ctx)
        expected = self.expectation(ctx)
        if verdict:
            return self.result(
                "pass",
                f"{self.parameter} = {value} in the account (required: {expected})",
                evidence=[params.ref],
                details=_details(params, 1, [self.parameter], value=value, level=row.get("level")),
            )
        finding = {
            "parameter": self.parameter,
            "value": value,
            "expected": expected,
            "problem": "unparseable value" if verdict is None else "value does not meet the rule",
            "level": row.get("level"),
            "default": row.get("default"),
            "as_of": _as_of(params),
        }
        return self.result(
            "fail",
            f"{self.parameter} = {value!r} in the account; required: {expected}"
            + (" (the value does not parse)" if verdict is None else ""),
            findings=[finding],
            evidence=[params.ref],
            details=_details(params, 1, []),
        )


class _MustBeTrue:
    """The rule of a boolean parameter the benchmark wants ``true`` (mixed in before
    :class:`_AccountParameter`; not a Check itself, so it needs no check id)."""

    expected: ClassVar[str] = "true"

    def decide(self, value: Any, ctx: CheckContext) -> bool | None:
        return parse_bool(value)


class PeriodicDataRekeying(_MustBeTrue, _AccountParameter):
    """CIS 4.1: ``PERIODIC_DATA_REKEYING`` is ``true`` in SHOW PARAMETERS IN ACCOUNT.

    Audit procedure: ``SHOW PARAMETERS LIKE 'PERIODIC_DATA_REKEYING' IN ACCOUNT`` and
    confirm the value is true. Mapped to the archived full result of SHOW PARAMETERS IN
    ACCOUNT, row ``PERIODIC_DATA_REKEYING``. The parameter needs Enterprise Edition; on a
    lower edition the row is absent and the check is not_evidenced.
    """

    check_id = "periodic-data-rekeying"
    title = "Ensure yearly rekeying is enabled for a Snowflake account"
    cis = "4.1"
    control = _ENCRYPTION
    parameter = "PERIODIC_DATA_REKEYING"


class ClientEncryptionKeySize(_AccountParameter):
    """CIS 4.2: ``CLIENT_ENCRYPTION_KEY_SIZE`` is ``256`` in SHOW PARAMETERS IN ACCOUNT.

    Audit procedure: ``SHOW PARAMETERS LIKE 'CLIENT_ENCRYPTION_KEY_SIZE' IN ACCOUNT`` and
    confirm the value is 256 (the other allowed value is 128). Mapped to the row of the
    archived SHOW PARAMETERS IN ACCOUNT; the text must be exactly the digits ``256``.
    """

    check_id = "client-encryption-key-size"
    title = (
        "Ensure AES encryption key size used to encrypt files stored in internal stages is "
        "set to 256 bits"
    )
    cis = "4.2"
    control = _ENCRYPTION
    parameter = "CLIENT_ENCRYPTION_KEY_SIZE"
    expected = "256"

    def decide(self, value: Any, ctx: CheckContext) -> bool | None:
        bits = parse_days(value)
        return None if bits is None else bits == 256


class MinDataRetention(_AccountParameter):
    """CIS 4.4: ``MIN_DATA_RETENTION_TIME_IN_DAYS`` >= ``[checks] min_data_retention_days``.

    Audit procedure: ``SHOW PARAMETERS LIKE 'MIN_DATA_RETENTION_TIME_IN_DAYS' IN ACCOUNT``
    and confirm the value is 7 or more (the setting's default). Mapped to the row of the
    archived SHOW PARAMETERS IN ACCOUNT; the value must be whole days written as digits.
    """

    check_id = "min-data-retention"
    title = (
        "Ensure that the MIN_DATA_RETENTION_TIME_IN_DAYS account parameter is set to 7 or higher"
    )
    cis = "4.4"
    control = _RETENTION
    parameter = "MIN_DATA_RETENTION_TIME_IN_DAYS"
    expected = ">= min_data_retention_days"

    def expectation(self, ctx: CheckContext) -> str:
        return f">= {ctx.settings.min_data_retention_days}"

    def decide(self, value: Any, ctx: CheckContext) -> bool | None:
        days = parse_days(value)
        return None if days is None else days >= ctx.settings.min_data_retention_days


class StageCreationRequiresStorageIntegration(_MustBeTrue, _AccountParameter):
    """CIS 4.5: ``REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION`` is ``true``.

    Audit procedure: ``SHOW PARAMETERS LIKE 'REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION'
    IN ACCOUNT`` and confirm the value is true. Mapped to the row of the archived SHOW
    PARAMETERS IN ACCOUNT.
    """

    check_id = "stage-creation-requires-storage-integration"
    title = (
        "Ensure that the REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION account parameter is "
        "set to true"
    )
    cis = "4.5"
    control = _EGRESS
    parameter = "REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION"


class StageOperationRequiresStorageIntegration(_MustBeTrue, _AccountParameter):
    """CIS 4.6: ``REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION`` is ``true``.

    Audit procedure: ``SHOW PARAMETERS LIKE 'REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION'
    IN ACCOUNT`` and confirm the value is true. Mapped to the row of the archived SHOW
    PARAMETERS IN ACCOUNT.
    """

    check_id = "stage-operation-requires-storage-integration"
    title = (
        "Ensure that the REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION account parameter is "
        "set to true"
    )
    cis = "4.6"
    control = _EGRESS
    parameter = "REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION"


class UnloadToInlineUrlPrevented(_MustBeTrue, _AccountParameter):
    """CIS 4.8: ``PREVENT_UNLOAD_TO_INLINE_URL`` is ``true``.

    Audit procedure: ``SHOW PARAMETERS LIKE 'PREVENT_UNLOAD_TO_INLINE_URL' IN ACCOUNT`` and
    confirm the value is true. Mapped to the row of the archived SHOW PARAMETERS IN ACCOUNT.
    """

    check_id = "unload-to-inline-url-prevented"
    title = "Ensure that the PREVENT_UNLOAD_TO_INLINE_URL account parameter is set to true"
    cis = "4.8"
    control = Control(soc2=("CC6.7",), hipaa=("164.312(a)(1)", "164.312(e)(1)"))
    parameter = "PREVENT_UNLOAD_TO_INLINE_URL"


# -- networking (CIS 3.1, 3.2) -------------------------------------------------------------


def _too_broad(entry: str, max_prefix: int) -> tuple[str, int | None] | None:
    """Why one ALLOWED_IP_LIST entry is not an allowlist entry, or None when it is.

    An IPv4 entry with a prefix shorter than ``max_prefix`` (``0.0.0.0/0``) is too broad;
    an IPv6 entry is held to four times the prefix (IPv6 has four times the bits), so
    ``::/0`` is too broad too. A bare address is a /32 (/128).
    """
    try:
        net = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return ("unparseable entry", None)
    limit = max_prefix if net.version == 4 else max_prefix * 4
    if net.prefixlen < limit:
        return (f"prefix /{net.prefixlen} is broader than /{limit}", net.prefixlen)
    return None


def allowlist_problems(policy: Mapping[str, Any], max_prefix: int) -> list[dict[str, Any]]:
    """Why a NETWORK_POLICIES row is not allowlist-only: an empty ALLOWED_IP_LIST, or each
    entry broader than ``max_prefix`` or not an address at all. Empty when it is."""
    raw = policy.get("ALLOWED_IP_LIST")
    entries = _entries(raw)
    if not entries:
        return [{"allowed_ip_list": raw, "problem": "ALLOWED_IP_LIST is empty"}]
    problems = []
    for entry in entries:
        broad = _too_broad(entry, max_prefix)
        if broad is not None:
            problems.append({"entry": entry, "prefix": broad[1], "problem": broad[0]})
    return problems


def _entries(raw: Any) -> list[str]:
    """ALLOWED_IP_LIST text (comma-separated, as ACCOUNT_USAGE.NETWORK_POLICIES keeps it)."""
    return [e.strip() for e in str(raw or "").split(",") if e.strip()]


def _policies_by_name(view: SnapshotView) -> dict[str, dict[str, Any]]:
    return {_name(p.get("NAME")): p for p in view.rows() if p.get("NAME") is not None}


class AccountNetworkPolicyAllowlist(Check):
    """CIS 3.1 and the platform's "network policy present and allowlist-only" control.

    Audit procedure: ``SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN ACCOUNT`` names the account's
    policy; ``DESCRIBE NETWORK POLICY`` shows that its ALLOWED_IP_LIST holds only trusted
    addresses. Mapped to archived evidence: the ``NETWORK_POLICY`` row of SHOW PARAMETERS
    IN ACCOUNT must name a policy (level ACCOUNT), that policy must be a current row of
    ACCOUNT_USAGE.NETWORK_POLICIES, and its ALLOWED_IP_LIST (comma-separated text) must be
    non-empty with no entry broader than ``[checks] network_allowlist_max_prefix``
    (``0.0.0.0/0`` allows the whole internet). Which addresses are trusted is the
    operator's call; an auditor reads the list in ``details``. A policy that allows
    through network rules only has an empty ALLOWED_IP_LIST here and fails: the archive
    holds no network rules to show what it allows.
    """

    check_id = "account-network-policy-allowlist"
    title = (
        "Ensure that an account-level network policy has been configured to only allow "
        "access from trusted IP addresses"
    )
    cis = "3.1"
    control = _NETWORK
    platform_control = "network policy present and allowlist-only"
    reads = (
        "policy_state: show_parameters_in_account.parquet (SHOW PARAMETERS IN ACCOUNT)",
        "policy_state: network_policies.parquet (ACCOUNT_USAGE.NETWORK_POLICIES)",
    )

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        params = snapshot_view(evidence, PARAMETERS)
        if isinstance(params, Missing):
            return self.not_evidenced(params.reason, evidence=params.evidence)
        row = _parameters(params).get("NETWORK_POLICY")
        if row is None:
            return self.not_evidenced(
                f"{PARAMETERS} in {describe(params.entry)} has no NETWORK_POLICY row",
                evidence=[params.ref],
            )
        as_of = _as_of(params)
        value = row.get("value")
        if _unset(value):
            return self.result(
                "fail",
                "no account-level network policy is set (NETWORK_POLICY is empty)",
                findings=[
                    {
                        "parameter": "NETWORK_POLICY",
                        "value": value,
                        "level": row.get("level"),
                        "problem": "no account-level network policy",
                        "as_of": as_of,
                    }
                ],
                evidence=[params.ref],
                details=_details(params, 1, []),
            )
        policies = snapshot_view(evidence, "NETWORK_POLICIES", params.entry)
        if isinstance(policies, Missing):
            return self.not_evidenced(
                f"NETWORK_POLICY = {value}, but its allowed IPs cannot be read: {policies.reason}",
                evidence=[params.ref],
            )
        refs = [params.ref, policies.ref]
        policy = _policies_by_name(policies).get(_name(value))
        if policy is None:
            return self.result(
                "fail",
                f"the account network policy {value} is not in NETWORK_POLICIES",
                findings=[
                    {
                        "network_policy": value,
                        "problem": "policy named by NETWORK_POLICY not found in NETWORK_POLICIES",
                        "as_of": as_of,
                    }
                ],
                evidence=refs,
                details=_details(params, 1, []),
            )
        entries = _entries(policy.get("ALLOWED_IP_LIST"))
        max_prefix = ctx.settings.network_allowlist_max_prefix
        findings = [
            {"network_policy": policy.get("NAME"), **problem, "as_of": as_of}
            for problem in allowlist_problems(policy, max_prefix)
        ]
        details = _details(
            params,
            1,
            [] if findings else [str(policy.get("NAME"))],
            network_policy=policy.get("NAME"),
            level=row.get("level"),
            allowed_ip_list=entries,
            blocked_ip_list=policy.get("BLOCKED_IP_LIST"),
            network_allowlist_max_prefix=max_prefix,
        )
        if findings:
            return self.result(
                "fail",
                f"the account network policy {policy.get('NAME')} is not allowlist-only: "
                + "; ".join(f"{f.get('entry', '')} {f['problem']}".strip() for f in findings),
                findings=findings,
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"the account network policy {policy.get('NAME')} allows only {len(entries)} "
            f"entries, none broader than /{max_prefix}",
            evidence=refs,
            details=details,
        )


class ServiceUsersWithoutNetworkPolicy(Check):
    """CIS 3.2: every service user has a user-level, allowlist-only network policy.

    Audit procedure: for each service account, ``SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN
    USER <name>`` names the user's policy; ``DESCRIBE NETWORK POLICY`` shows it allows only
    trusted ranges. Mapped to archived evidence: the
    service users are the current, enabled users of ACCOUNT_USAGE.USERS with TYPE SERVICE or
    LEGACY_SERVICE, or a key pair and no password (:func:`is_service_user`); each must have
    a row in SHOW_USER_NETWORK_POLICIES (one such SHOW per service user) whose value names a
    policy at level USER (an inherited account policy is not a user-level one). The
    benchmark's steps 4-5 (``DESCRIBE NETWORK POLICY``: ALLOWED_IP_LIST set, trusted ranges
    only) map to that policy's row of ACCOUNT_USAGE.NETWORK_POLICIES, held to the same
    allowlist rule as CIS 3.1 (:func:`allowlist_problems`). A service user with no SHOW
    row, or NETWORK_POLICIES not evidenced, makes the check not_evidenced unless another
    user already fails.
    """

    check_id = "service-users-without-network-policy"
    title = "Ensure that user-level network policies have been configured for service accounts"
    cis = "3.2"
    control = _NETWORK
    reads = (
        "policy_state: users.parquet (ACCOUNT_USAGE.USERS)",
        "policy_state: show_user_network_policies.parquet "
        "(SHOW PARAMETERS LIKE 'NETWORK_POLICY' IN USER, per service user)",
        "policy_state: network_policies.parquet (ACCOUNT_USAGE.NETWORK_POLICIES)",
    )

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        users = snapshot_view(evidence, "USERS")
        if isinstance(users, Missing):
            return self.not_evidenced(users.reason, evidence=users.evidence)
        shown = snapshot_view(evidence, USER_NETWORK_POLICIES, users.entry)
        if isinstance(shown, Missing):
            return self.not_evidenced(shown.reason, evidence=[users.ref])
        refs = [users.ref, shown.ref]
        as_of = _as_of(users)
        service = sorted(
            str(u.get("NAME"))
            for u in users.rows()
            if is_service_user(u) and not truthy(u.get("DISABLED"))
        )
        by_user = {
            _name(r.get("user_name")): r
            for r in shown.rows()
            if str(r.get("key") or "").upper() == "NETWORK_POLICY"
        }
        policies = snapshot_view(evidence, "NETWORK_POLICIES", users.entry)
        known = _policies_by_name(policies) if isinstance(policies, SnapshotView) else {}
        if isinstance(policies, SnapshotView):
            refs.append(policies.ref)
        max_prefix = ctx.settings.network_allowlist_max_prefix
        findings: list[dict[str, Any]] = []
        passed = []
        unshown = []
        unverified = []
        for name in service:
            row = by_user.get(_name(name))
            if row is None:
                unshown.append(name)
                continue
            value, level = row.get("value"), str(row.get("level") or "").upper()
            finding = {"user": name, "network_policy": value, "level": row.get("level")}
            if _unset(value):
                findings.append({**finding, "problem": "no user-level network policy"})
                continue
            if level != "USER":
                problem = (
                    f"network policy set at level {row.get('level') or 'none'}, not on the user"
                )
                findings.append({**finding, "problem": problem})
                continue
            if isinstance(policies, Missing):
                unverified.append(name)
                continue
            policy = known.get(_name(value))
            if policy is None:
                findings.append({**finding, "problem": "policy not found in NETWORK_POLICIES"})
                continue
            problems = allowlist_problems(policy, max_prefix)
            if problems:
                findings.append(
                    {**finding, "problem": "the policy is not allowlist-only", "entries": problems}
                )
                continue
            passed.append(name)
        findings = [{**f, "as_of": as_of} for f in findings]
        details = _details(
            users,
            len(service),
            passed,
            not_shown=unshown,
            not_verified=unverified,
            network_allowlist_max_prefix=max_prefix,
        )
        if findings:
            return self.result(
                "fail",
                f"{len(findings)} of {len(service)} service users have no allowlist-only "
                f"user-level network policy: "
                + ", ".join(f"{f['user']} ({f['problem']})" for f in findings),
                findings=findings,
                evidence=refs,
                details=details,
            )
        if unshown:
            return self.not_evidenced(
                f"{USER_NETWORK_POLICIES} in {describe(shown.entry)} has no row for service "
                f"user(s) {', '.join(unshown)}",
                evidence=refs,
                details=details,
            )
        if isinstance(policies, Missing):
            return self.not_evidenced(
                f"service users {', '.join(unverified)} have a user-level network policy, but "
                f"its allowed IPs cannot be read: {policies.reason}",
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"all {len(service)} service users have a user-level network policy that allows "
            f"only entries no broader than /{max_prefix}",
            evidence=refs,
            details=details,
        )


# -- data protection (CIS 4.3, 4.7) --------------------------------------------------------


TableKey = tuple[str, str, str]  # (database, schema, table), upper-case


def _keeps_data(table: Mapping[str, Any]) -> bool:
    """A TABLES row Time Travel applies to: not a view or an external table."""
    kind = str(table.get("TABLE_TYPE") or "").upper()
    return "VIEW" not in kind and "EXTERNAL" not in kind and table.get("RETENTION_TIME") is not None


class TaggedTablesBelowRetention(Check):
    """CIS 4.3 and the platform's per-classification retention control, as one check.

    Every table tagged with a key of ``[checks] retention_days_by_tag`` (CRITICAL=90 is
    CIS 4.3, PHI=90 the platform's PHI retention) keeps at least that many days of Time
    Travel. Audit procedure: for the critical tables, the effective
    DATA_RETENTION_TIME_IN_DAYS (``SHOW PARAMETERS LIKE 'DATA_RETENTION_TIME_IN_DAYS' IN
    TABLE``, or ACCOUNT_USAGE.TABLES.RETENTION_TIME) is 90. Mapped to archived evidence:
    TAG_REFERENCES of the latest snapshot gives the tagged tables (a tag on the table, or
    on any of its columns, tags the table; tag names compare case-insensitively, any tag
    database and schema). TAG_REFERENCES records only direct assignments, so a tag on a
    schema or database is applied here as Snowflake's tag inheritance does, to every
    table of TABLES in it (views and external tables keep no Time Travel and are left
    out). TABLES.RETENTION_TIME of the same snapshot is the table's effective retention.
    A table carrying several such tags is held to the largest, and the finding names that
    tag, its days and where it is set. A directly tagged object that TABLES does not list, or
    lists with no RETENTION_TIME (a view), is named in ``details``; tables not found make
    the check not_evidenced unless another table already fails.
    """

    check_id = "tagged-tables-below-retention"
    title = "Ensure that the DATA_RETENTION_TIME_IN_DAYS parameter is set to 90 for critical data"
    cis = "4.3"
    control = _RETENTION
    platform_control = "retention per data classification tag ([checks] retention_days_by_tag)"
    reads = (
        "policy_state: tag_references.parquet (ACCOUNT_USAGE.TAG_REFERENCES)",
        "policy_state: tables.parquet (ACCOUNT_USAGE.TABLES)",
    )

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        required_by_tag = {t.upper(): d for t, d in ctx.settings.retention_days_by_tag.items()}
        tags = snapshot_view(evidence, "TAG_REFERENCES")
        if isinstance(tags, Missing):
            return self.not_evidenced(tags.reason, evidence=tags.evidence)
        tables = snapshot_view(evidence, "TABLES", tags.entry)
        if isinstance(tables, Missing):
            return self.not_evidenced(tables.reason, evidence=[tags.ref])
        refs = [tags.ref, tables.ref]
        as_of = _as_of(tags)
        direct: dict[TableKey, dict[str, str]] = {}  # table -> {tag: where it is set}
        inherited: dict[tuple[str, ...], dict[str, str]] = {}  # (db,) or (db, schema) -> ...
        for r in tags.rows():
            tag = str(r.get("TAG_NAME") or "").upper()
            if tag not in required_by_tag:
                continue
            domain = str(r.get("DOMAIN") or "").upper()
            db, schema, name = (
                str(r.get(c) or "").upper()
                for c in ("OBJECT_DATABASE", "OBJECT_SCHEMA", "OBJECT_NAME")
            )
            if domain == "TABLE":
                direct.setdefault((db, schema, name), {}).setdefault(tag, "table")
            elif domain == "COLUMN":
                where = f"column {r.get('COLUMN_NAME')}"
                direct.setdefault((db, schema, name), {}).setdefault(tag, where)
            elif domain == "SCHEMA":
                inherited.setdefault((db, name), {}).setdefault(tag, f"schema {db}.{name}")
            elif domain == "DATABASE":
                inherited.setdefault((name,), {}).setdefault(tag, f"database {name}")
        by_name: dict[TableKey, dict[str, Any]] = {
            (
                str(t.get("TABLE_CATALOG")).upper(),
                str(t.get("TABLE_SCHEMA")).upper(),
                str(t.get("TABLE_NAME")).upper(),
            ): t
            for t in tables.rows()
            if t.get("DELETED") is None  # a dropped table keeps no data to retain
        }
        tagged = {key: dict(where) for key, where in direct.items()}
        for key, t in by_name.items():
            if not _keeps_data(t):
                continue
            for container in (key[:1], key[:2]):
                for tag, where in inherited.get(container, {}).items():
                    tagged.setdefault(key, {}).setdefault(tag, where)
        if not tagged:
            return self.not_evidenced(
                f"no table is tagged {', '.join(sorted(required_by_tag)) or '(no tags set)'} in "
                f"{describe(tags.entry)}, so nothing identifies the tables to hold to a retention",
                evidence=refs,
                details={"tagged_containers": sorted(".".join(c) for c in inherited)},
            )
        findings = []
        passed = []
        not_found = []
        not_tables = []
        for key in sorted(tagged):
            name = qualified(*key)
            table = by_name.get(key)
            if table is None:
                not_found.append(name)
                continue
            if table.get("RETENTION_TIME") is None:
                not_tables.append(name)
                continue
            days_by_tag = {t: required_by_tag[t] for t in tagged[key]}
            tag, days = max(days_by_tag.items(), key=lambda kv: (kv[1], kv[0]))
            retention = _whole(table.get("RETENTION_TIME"))
            if retention is None or retention < days:
                findings.append(
                    {
                        "table": name,
                        "tag": tag,
                        "required_days": days,
                        "retention_time": jsonable(table.get("RETENTION_TIME")),
                        "tagged_on": tagged[key][tag],
                        "tags": dict(sorted(days_by_tag.items())),
                        "table_type": table.get("TABLE_TYPE"),
                        "is_transient": table.get("IS_TRANSIENT"),
                        "as_of": as_of,
                    }
                )
            else:
                passed.append(name)
        evaluated = len(findings) + len(passed)
        details = _details(
            tags,
            evaluated,
            passed,
            retention_days_by_tag=dict(sorted(required_by_tag.items())),
            not_in_tables=not_found,
            without_retention=not_tables,
        )
        if findings:
            return self.result(
                "fail",
                f"{len(findings)} of {evaluated} tagged tables keep fewer days than their tag "
                "requires: "
                + ", ".join(
                    f"{f['table']} ({f['tag']}: {f['retention_time']} < {f['required_days']})"
                    for f in findings
                ),
                findings=findings,
                evidence=refs,
                details=details,
            )
        if not_found or not passed:
            missing = not_found or not_tables
            return self.not_evidenced(
                f"tagged object(s) {', '.join(missing)} have no retention in TABLES of "
                f"{describe(tables.entry)}",
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"all {evaluated} tagged tables keep at least the days their tags require",
            evidence=refs,
            details=details,
        )


class ExternalStagesWithoutStorageIntegration(Check):
    """CIS 4.7: every external stage references a storage integration.

    Audit procedure: ``SHOW STAGES IN ACCOUNT`` and confirm each stage of type EXTERNAL has a
    ``storage_integration``. Mapped to the archived result of that command
    (``show_stages.parquet``): a stage whose ``type`` starts with EXTERNAL and whose
    ``storage_integration`` is empty, NULL or the text ``null`` is a finding, with its URL
    and whether it carries credentials.
    """

    check_id = "external-stages-without-storage-integration"
    title = "Ensure that all external stages have storage integrations"
    cis = "4.7"
    control = _EGRESS
    reads = ("policy_state: show_stages.parquet (SHOW STAGES IN ACCOUNT)",)

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        stages = snapshot_view(evidence, "SHOW_STAGES")
        if isinstance(stages, Missing):
            return self.not_evidenced(stages.reason, evidence=stages.evidence)
        as_of = _as_of(stages)
        external = [
            s for s in stages.rows() if str(s.get("type") or "").upper().startswith("EXTERNAL")
        ]
        findings = []
        passed = []
        for s in sorted(external, key=_stage_name):
            if _unset(s.get("storage_integration")):
                findings.append(
                    {
                        "stage": _stage_name(s),
                        "url": s.get("url"),
                        "has_credentials": s.get("has_credentials"),
                        "storage_integration": s.get("storage_integration"),
                        "owner": s.get("owner"),
                        "created_on": jsonable(s.get("created_on")),
                        "as_of": as_of,
                    }
                )
            else:
                passed.append(_stage_name(s))
        details = _details(stages, len(external), passed)
        if findings:
            return self.result(
                "fail",
                f"{len(findings)} of {len(external)} external stages have no storage "
                f"integration: {', '.join(f['stage'] for f in findings)}",
                findings=findings,
                evidence=[stages.ref],
                details=details,
            )
        return self.result(
            "pass",
            f"all {len(external)} external stages use a storage integration",
            evidence=[stages.ref],
            details=details,
        )


def _stage_name(stage: Mapping[str, Any]) -> str:
    return qualified(stage.get("database_name"), stage.get("schema_name"), stage.get("name"))


# -- platform: cost control ----------------------------------------------------------------


class WarehousesWithoutResourceMonitor(Check):
    """Every warehouse is covered by a resource monitor: the platform's cost-control evidence.

    Not a CIS recommendation. Reads SHOW WAREHOUSES and SHOW RESOURCE MONITORS of the
    latest snapshot: a warehouse is covered when its ``resource_monitor`` names a monitor
    that SHOW RESOURCE MONITORS lists, or when any monitor has ``level`` ACCOUNT (it
    governs every warehouse). Each other warehouse is a finding; a warehouse naming a
    monitor that is not listed is one too, with that name.
    """

    check_id = "warehouses-without-resource-monitor"
    title = "Warehouses without a resource monitor"
    control = Control(soc2=("A1.1", "CC7.2"), hipaa=("164.308(a)(1)(ii)(B)",))
    reads = (
        "policy_state: show_warehouses.parquet (SHOW WAREHOUSES)",
        "policy_state: show_resource_monitors.parquet (SHOW RESOURCE MONITORS)",
    )

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        warehouses = snapshot_view(evidence, "SHOW_WAREHOUSES")
        if isinstance(warehouses, Missing):
            return self.not_evidenced(warehouses.reason, evidence=warehouses.evidence)
        monitors = snapshot_view(evidence, "SHOW_RESOURCE_MONITORS", warehouses.entry)
        if isinstance(monitors, Missing):
            return self.not_evidenced(monitors.reason, evidence=[warehouses.ref])
        refs: list[EvidenceRef] = [warehouses.ref, monitors.ref]
        as_of = _as_of(warehouses)
        names = upper_set(str(m.get("name")) for m in monitors.rows() if m.get("name"))
        account = sorted(
            str(m.get("name"))
            for m in monitors.rows()
            if str(m.get("level") or "").upper() == "ACCOUNT"
        )
        rows = sorted(warehouses.rows(), key=lambda w: str(w.get("name")))
        findings = []
        passed = []
        for w in rows:
            monitor = w.get("resource_monitor")
            if not _unset(monitor) and _name(monitor) in names:
                passed.append(str(w.get("name")))
                continue
            if account:
                passed.append(str(w.get("name")))
                continue
            findings.append(
                {
                    "warehouse": w.get("name"),
                    "resource_monitor": monitor,
                    "problem": "no resource monitor"
                    if _unset(monitor)
                    else f"resource monitor {monitor} is not in SHOW RESOURCE MONITORS",
                    "state": w.get("state"),
                    "size": w.get("size"),
                    "owner": w.get("owner"),
                    "as_of": as_of,
                }
            )
        details = _details(warehouses, len(rows), passed, account_monitors=account)
        if findings:
            return self.result(
                "fail",
                f"{len(findings)} of {len(rows)} warehouses have no resource monitor and no "
                f"account-level monitor covers them: "
                f"{', '.join(str(f['warehouse']) for f in findings)}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"all {len(rows)} warehouses are covered by a resource monitor"
            + (f" (account-level: {', '.join(account)})" if account else ""),
            evidence=refs,
            details=details,
        )
