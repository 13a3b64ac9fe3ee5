"""CIS Snowflake Foundations v1.0.0 section 2 (monitoring and alerting), and open Trust
Center findings.

Section 2 asks that every security-relevant event of a kind be monitored and alerted on.
The benchmark's audit procedure for each is a query over ``SNOWFLAKE.ACCOUNT_USAGE``
(QUERY_HISTORY, LOGIN_HISTORY or SESSIONS) that lists the events, plus a look at whether
an alert is wired to it. This platform *is* that monitoring: each check runs the
benchmark's query over the archived, signed history of the period and lists every event
it finds, one finding per event, so each is reviewed (and the product's alerting can page
on the check's ``cis`` id). So:

* ``fail``: at least one event happened in the period; every one is listed;
* ``pass``: none happened, and the history stream covers the whole period up to the
  staleness horizon (the same coverage rule as ``failed-login-bursts-*``);
* ``not_evidenced``: the stream has no window in the period (the reason names the grant
  that makes the view readable), or it has holes and no event was found in what exists.

QUERY_HISTORY.QUERY_TEXT is archived with its literals replaced (``'?'``, ``0``) and its
comments dropped, keywords and identifiers kept. The checks therefore match the
*structure* of a statement (``GRANT ROLE <admin role> TO``, ``CREATE SHARE``, a call of
``SYSTEM$GENERATE_SCIM_ACCESS_TOKEN``) with a case-insensitive regular expression anchored
at the statement's start, or its QUERY_TYPE, never a literal value; only successful
statements (EXECUTION_STATUS ``SUCCESS``) count, as in the benchmark's queries. Filtering
is done with ``pyarrow.compute`` over whole columns: QUERY_HISTORY is large.

``trust-center-findings-open`` (no CIS id) reads the ``trust_center_findings`` stream
(windowed on UPDATED_ON, one version of a finding per update): the state of each finding
at the period's end is its latest archived version up to then; a finding whose severity
is in ``[checks] trust_center_severities``, whose STATE is OPEN and which was created
longer than ``trust_center_max_open`` before the period's end is a finding. Only findings
with a version archived in the period's windows are seen: a finding that no scan touched
during the period is not (``details.scope`` says so).

| check | CIS | SOC 2 | HIPAA |
|---|---|---|---|
| ``admin-role-grants-monitored`` | 2.1 | CC6.2, CC6.3, CC7.2 | 164.308(a)(1)(ii)(D), 164.312(b) |
| ``manage-grants-grants-monitored`` | 2.2 | CC6.2, CC6.3, CC7.2 | 164.308(a)(1)(ii)(D), 164.312(b) |
| ``sso-user-password-logins-monitored`` | 2.3 | CC6.1, CC7.2 | 164.308(a)(5)(ii)(C), 164.312(d) |
| ``password-logins-without-mfa-monitored`` | 2.4 | CC6.1, CC7.2 | 164.308(a)(5)(ii)(C), 164.312(d) |
| ``security-integration-changes-monitored`` | 2.5 | CC6.1, CC8.1, CC7.2 | 164.308(a)(1)(ii)(D), 164.312(b) |
| ``network-policy-changes-monitored`` | 2.6 | CC6.6, CC8.1, CC7.2 | 164.308(a)(1)(ii)(D), 164.312(e)(1) |
| ``scim-token-creation-monitored`` | 2.7 | CC6.2, CC7.2 | 164.308(a)(1)(ii)(D), 164.312(b) |
| ``share-exposures-monitored`` | 2.8 | CC6.7, CC7.2 | 164.308(a)(1)(ii)(D), 164.312(b) |
| ``unsupported-client-sessions-monitored`` | 2.9 | CC7.1, CC7.2 | 164.308(a)(1)(ii)(D), 164.308(a)(5)(ii)(B) |
| ``trust-center-findings-open`` | - | CC7.1, CC4.1 | 164.308(a)(1)(ii)(A), 164.308(a)(8) |
"""  # noqa: E501

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from das_evidence.collectors.snowflake.views import VIEWS, grant_for
from das_evidence.reports.checks._support import (
    HistoryFile,
    Missing,
    coverage_holes,
    history_chunks,
    history_files,
    holes_json,
    jsonable,
    snapshot_view,
    ts,
)
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.evidence import FILE_COLUMN, EvidenceSet, collect
from das_evidence.reports.model import CheckResult, Control
from das_evidence.streams import TRUST_CENTER_STREAM

#: findings listed per check; the count in ``details.events`` is always complete
MAX_FINDINGS = 1000
MAX_PASSED = 200

_CHANGE = r"(?:CREATE(?:\s+OR\s+REPLACE)?|ALTER|DROP)"
_LEAD = r"(?is)^\s*"


def _regex_mask(column: pa.ChunkedArray | pa.Array, pattern: str) -> pa.ChunkedArray:
    """``pattern`` (RE2) matched against each value; null text never matches."""
    return pc.fill_null(pc.match_substring_regex(column, pattern), False)


def _in(column: pa.ChunkedArray | pa.Array, values: Sequence[str]) -> pa.ChunkedArray:
    upper = pc.utf8_upper(column)
    wanted = pa.array([v.upper() for v in values], pa.string())  # typed: may be empty
    return pc.fill_null(pc.is_in(upper, value_set=wanted), False)


def _equals(column: pa.ChunkedArray | pa.Array, value: str) -> pa.ChunkedArray:
    return pc.fill_null(pc.equal(pc.utf8_upper(column), value.upper()), False)


def _names(values: Sequence[str]) -> str:
    """A regex alternation of identifiers, bare or double-quoted."""
    return "(?:" + "|".join(rf'"?{re.escape(v)}"?' for v in sorted(values)) + ")"


class _HistoryEvents(Check):
    """Lists every row of one history stream in the period that ``select`` picks."""

    kind: ClassVar[str]  # the history stream kind
    time_column: ClassVar[str]
    key_column: ClassVar[str]
    subject: ClassVar[str] = "user"  # the column summarised in ``passed``
    columns: ClassVar[tuple[str, ...]]
    what: ClassVar[str]  # a plural noun for summaries: "ACCOUNTADMIN/SECURITYADMIN grants"

    @abstractmethod
    def select(self, rows: pa.Table, ctx: CheckContext, known: Any) -> pa.ChunkedArray | pa.Array:
        """A boolean mask over ``rows`` (the period's rows of one file): the events.
        ``known`` is what :meth:`prepare` returned."""

    def facts(self, row: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
        """What a finding says beyond the event id, time, user and evidence."""
        return {}

    def prepare(self, files: Sequence[HistoryFile], evidence: EvidenceSet) -> Any:
        """What ``select`` needs from every file of the stream (kept out of ``self``: a
        check object is shared and stateless)."""
        return None

    def known_details(self, known: Any) -> dict[str, Any]:
        """What of ``known`` the result's details show."""
        return {}

    @property
    def view(self) -> str:
        return VIEWS[self.kind].view

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        files = history_files(evidence, self.kind)
        if not files:
            return self.not_evidenced(
                f"no {self.view} window in the period: nothing to list "
                f"{self.what} from; the collector's role needs "
                f"{grant_for(self.view, None)}",
                details={"evaluated": 0, "passed": []},
            )
        known = self.prepare(files, evidence)
        found: list[tuple[dict[str, Any], HistoryFile]] = []
        evaluated = 0
        seen: set[str] = set()
        flagged: set[str] = set()
        user_col = "USER_NAME"
        # a chunk of files at a time, only their period's rows of these columns (polars)
        for chunk, rows in history_chunks(evidence, files, self.columns, self.time_column):
            evaluated += rows.num_rows
            if rows.num_rows == 0:
                continue
            seen.update(str(u) for u in pc.unique(rows.column(user_col)).to_pylist() if u)
            hits = rows.filter(self.select(rows, ctx, known))
            sources = hits.column(FILE_COLUMN).to_pylist()
            for r, source in zip(
                hits.drop_columns([FILE_COLUMN]).to_pylist(), sources, strict=True
            ):
                found.append((r, chunk[source]))
                if r.get(user_col):
                    flagged.add(str(r[user_col]))
        found.sort(key=lambda x: (x[0][self.time_column], str(x[0][self.key_column])))
        holes = coverage_holes(evidence, self.kind, ctx.horizon(evidence), ctx.settings.stale_after)
        passed = sorted(seen - flagged)
        details: dict[str, Any] = {
            "evaluated": evaluated,
            "passed": passed[:MAX_PASSED],
            "events": len(found),
            "coverage_holes": {s: holes_json(h) for s, h in holes.items()},
            **self.known_details(known),
        }
        refs = [f.ref for f in files]
        if found:
            findings = [self._finding(r, f, ctx) for r, f in found[:MAX_FINDINGS]]
            listed = "" if len(found) <= MAX_FINDINGS else f" (first {MAX_FINDINGS} listed)"
            users = sorted({str(r.get(user_col)) for r, _ in found})
            return self.result(
                "fail",
                f"{len(found)} {self.what} in the period{listed}, each to be reviewed; "
                f"by {', '.join(users[:20])}{' ...' if len(users) > 20 else ''}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        if holes:
            return self.not_evidenced(
                f"no {self.what} in the evidenced windows, but {self.view} does not cover "
                "the whole period: " + ", ".join(sorted(holes)),
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"no {self.what} in the period ({evaluated} {self.view} rows of "
            f"{len(seen)} users evaluated)",
            evidence=refs,
            details=details,
        )

    def _finding(self, row: dict[str, Any], f: HistoryFile, ctx: CheckContext) -> dict[str, Any]:
        at = row[self.time_column]
        return {
            "event": jsonable(row[self.key_column]),
            "at": ts(at) if isinstance(at, datetime) else at,
            "user": row.get("USER_NAME"),
            **{k: jsonable(v) for k, v in self.facts(row, ctx).items()},
            "evidence": {"entry": f.entry.index, "path": f.path},
        }


# -- QUERY_HISTORY ----------------------------------------------------------------------------

_QUERY_COLUMNS = (
    "QUERY_ID",
    "START_TIME",
    "USER_NAME",
    "ROLE_NAME",
    "QUERY_TYPE",
    "EXECUTION_STATUS",
    "QUERY_TEXT",
)


class _StatementEvents(_HistoryEvents):
    """Successful QUERY_HISTORY statements of one structure."""

    kind = "query_history"
    time_column = "START_TIME"
    key_column = "QUERY_ID"
    columns = _QUERY_COLUMNS
    query_types: ClassVar[tuple[str, ...]] = ()  # QUERY_TYPE values that match on their own

    @abstractmethod
    def patterns(self, ctx: CheckContext) -> Sequence[str]:
        """RE2 patterns over the redacted QUERY_TEXT; any one matching selects the row."""

    def select(self, rows: pa.Table, ctx: CheckContext, known: Any) -> pa.ChunkedArray | pa.Array:
        text = rows.column("QUERY_TEXT")
        mask: Any = None
        for p in self.patterns(ctx):
            m = _regex_mask(text, p)
            mask = m if mask is None else pc.or_(mask, m)
        if self.query_types:
            m = _in(rows.column("QUERY_TYPE"), self.query_types)
            mask = m if mask is None else pc.or_(mask, m)
        ok = _equals(rows.column("EXECUTION_STATUS"), "SUCCESS")
        return pc.and_(ok, mask)

    def facts(self, row: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
        return {
            "role": row.get("ROLE_NAME"),
            "query_type": row.get("QUERY_TYPE"),
            "query_text": row.get("QUERY_TEXT"),
        }


_MONITORING_CONTROL = Control(
    soc2=("CC6.2", "CC6.3", "CC7.2"), hipaa=("164.308(a)(1)(ii)(D)", "164.312(b)")
)


class AdminRoleGrantsMonitored(_StatementEvents):
    """CIS 2.1: every grant of an admin role (``[checks] admin_roles``) in the period.

    Audit procedure: QUERY_HISTORY rows with QUERY_TYPE GRANT and EXECUTION_STATUS SUCCESS
    whose text grants ACCOUNTADMIN or SECURITYADMIN. Here: a successful statement whose
    redacted text is ``GRANT ROLE <admin role> TO {USER|ROLE} ...`` (the role is an
    identifier, so redaction keeps it), the admin roles taken from the settings.
    """

    check_id = "admin-role-grants-monitored"
    reads = ("stream query_history (ACCOUNT_USAGE.QUERY_HISTORY)",)
    title = "Ensure monitoring and alerting exist for ACCOUNTADMIN and SECURITYADMIN role grants"
    cis = "2.1"
    control = _MONITORING_CONTROL
    what = "admin-role grants"

    def patterns(self, ctx: CheckContext) -> Sequence[str]:
        roles = _names(ctx.settings.admin_roles)
        return (rf"{_LEAD}GRANT\s+ROLE\s+{roles}\s+TO\s",)

    def facts(self, row: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
        m = re.match(
            r'(?is)^\s*GRANT\s+ROLE\s+"?([^\s"]+)"?\s+TO\s+(USER|ROLE)\s+"?([^\s";]+)',
            row.get("QUERY_TEXT") or "",
        )
        granted = (
            {"granted_role": m[1].upper(), "grantee_type": m[2].upper(), "grantee": m[3]}
            if m
            else {}
        )
        return {**granted, **super().facts(row, ctx)}


class ManageGrantsGrantsMonitored(_StatementEvents):
    """CIS 2.2: every grant of the MANAGE GRANTS privilege in the period.

    Audit procedure: successful QUERY_HISTORY rows of type GRANT whose text grants MANAGE
    GRANTS. Here: a successful statement ``GRANT ... MANAGE GRANTS ... ON ACCOUNT TO ...``
    (keywords survive redaction).
    """

    check_id = "manage-grants-grants-monitored"
    reads = ("stream query_history (ACCOUNT_USAGE.QUERY_HISTORY)",)
    title = "Ensure monitoring and alerting exist for MANAGE GRANTS privilege grants"
    cis = "2.2"
    control = _MONITORING_CONTROL
    what = "MANAGE GRANTS grants"

    def patterns(self, ctx: CheckContext) -> Sequence[str]:
        return (rf"{_LEAD}GRANT\s[^;]*?\bMANAGE\s+GRANTS\b[^;]*?\bTO\s",)


class SecurityIntegrationChangesMonitored(_StatementEvents):
    """CIS 2.5: every CREATE, ALTER or DROP of a security integration in the period.

    Audit procedure: successful QUERY_HISTORY rows of QUERY_TYPE CREATE, ALTER or DROP
    whose text contains ``security integration``. Here, on the redacted text: a
    successful statement ``{CREATE [OR REPLACE]|ALTER|DROP} SECURITY INTEGRATION``
    whatever its QUERY_TYPE; and, since Snowflake lets ``SECURITY`` be left out, ``{CREATE
    |ALTER} INTEGRATION ... TYPE = {SAML2|SCIM|OAUTH|EXTERNAL_OAUTH|API_AUTHENTICATION}``
    and ``{ALTER|DROP} INTEGRATION <name>`` where <name> is a security integration of
    the period's latest SHOW_SECURITY_INTEGRATIONS snapshot (when one is archived;
    ``details.security_integrations`` lists the names used). The QUERY_TYPEs
    ``*_SECURITY_INTEGRATION`` match on their own.
    """

    check_id = "security-integration-changes-monitored"
    reads = (
        "stream query_history (ACCOUNT_USAGE.QUERY_HISTORY)",
        "policy_state: show_security_integrations.parquet (SHOW SECURITY INTEGRATIONS)",
    )
    title = (
        "Ensure monitoring and alerting exist for creating, updating and deleting security "
        "integrations"
    )
    cis = "2.5"
    control = Control(
        soc2=("CC6.1", "CC8.1", "CC7.2"), hipaa=("164.308(a)(1)(ii)(D)", "164.312(b)")
    )
    what = "security-integration changes"
    query_types = (
        "CREATE_SECURITY_INTEGRATION",
        "ALTER_SECURITY_INTEGRATION",
        "DROP_SECURITY_INTEGRATION",
    )

    def patterns(self, ctx: CheckContext) -> Sequence[str]:
        return (
            rf"{_LEAD}{_CHANGE}\s+SECURITY\s+INTEGRATION\b",
            rf"{_LEAD}(?:CREATE(?:\s+OR\s+REPLACE)?|ALTER)\s+INTEGRATION\b[^;]*?\bTYPE\s*=\s*"
            r"(?:SAML2|SCIM|OAUTH|EXTERNAL_OAUTH|API_AUTHENTICATION)\b",
        )

    def prepare(self, files: Sequence[HistoryFile], evidence: EvidenceSet) -> tuple[str, ...]:
        view = snapshot_view(evidence, "SHOW_SECURITY_INTEGRATIONS")
        if isinstance(view, Missing) or "name" not in view.table.column_names:
            return ()
        return tuple(sorted({str(n) for n in view.table.column("name").to_pylist() if n}))

    def known_details(self, known: Any) -> dict[str, Any]:
        return {"security_integrations": list(known)}

    def select(self, rows: pa.Table, ctx: CheckContext, known: Any) -> pa.ChunkedArray | pa.Array:
        mask = super().select(rows, ctx, known)
        if not known:
            return mask
        named = _regex_mask(
            rows.column("QUERY_TEXT"),
            rf"{_LEAD}(?:ALTER|DROP)\s+INTEGRATION\s+(?:IF\s+EXISTS\s+)?{_names(known)}(?:\s|;|$)",
        )
        ok = _equals(rows.column("EXECUTION_STATUS"), "SUCCESS")
        return pc.or_(mask, pc.and_(ok, named))


class NetworkPolicyChangesMonitored(_StatementEvents):
    """CIS 2.6: every change to a network policy or the objects it uses, in the period.

    Audit procedure: successful QUERY_HISTORY rows of QUERY_TYPE CREATE_NETWORK_POLICY,
    ALTER_NETWORK_POLICY or DROP_NETWORK_POLICY, or whose text has ``set ... network_policy``
    / ``unset ... network_policy`` (a policy attached to or removed from the account, a
    user or a security integration). Here: those query types, ``{CREATE|ALTER|DROP}
    NETWORK {POLICY|RULE}`` (network rules are what a policy allows), and any ``ALTER ...
    [UN]SET ... NETWORK_POLICY`` statement.
    """

    check_id = "network-policy-changes-monitored"
    reads = ("stream query_history (ACCOUNT_USAGE.QUERY_HISTORY)",)
    title = (
        "Ensure monitoring and alerting exist for changes to network policies and associated "
        "objects"
    )
    cis = "2.6"
    control = Control(
        soc2=("CC6.6", "CC8.1", "CC7.2"), hipaa=("164.308(a)(1)(ii)(D)", "164.312(e)(1)")
    )
    what = "network-policy changes"
    query_types = ("CREATE_NETWORK_POLICY", "ALTER_NETWORK_POLICY", "DROP_NETWORK_POLICY")

    def patterns(self, ctx: CheckContext) -> Sequence[str]:
        return (
            rf"{_LEAD}{_CHANGE}\s+NETWORK\s+(?:POLICY|RULE)\b",
            rf"{_LEAD}ALTER\s[^;]*?\b(?:UN)?SET\b[^;]*?\bNETWORK_POLICY\b",
        )


class ScimTokenCreationMonitored(_StatementEvents):
    """CIS 2.7: every SCIM access token generated in the period.

    Audit procedure: successful QUERY_HISTORY rows whose text calls
    ``SYSTEM$GENERATE_SCIM_ACCESS_TOKEN``. Here: the same call anywhere in the redacted text
    (the function name is kept; its integration-name argument is a literal, redacted).
    """

    check_id = "scim-token-creation-monitored"
    reads = ("stream query_history (ACCOUNT_USAGE.QUERY_HISTORY)",)
    title = "Ensure monitoring and alerting exist for SCIM token creation"
    cis = "2.7"
    control = Control(soc2=("CC6.2", "CC7.2"), hipaa=("164.308(a)(1)(ii)(D)", "164.312(b)"))
    what = "SCIM token creations"

    def patterns(self, ctx: CheckContext) -> Sequence[str]:
        return (r"(?i)\bSYSTEM\$GENERATE_SCIM_ACCESS_TOKEN\s*\(",)


class ShareExposuresMonitored(_StatementEvents):
    """CIS 2.8: every new share and every account added to a share, in the period.

    Audit procedure: successful QUERY_HISTORY rows creating a share or altering one to add
    consumer accounts. Here: ``CREATE [OR REPLACE] SHARE`` and ``ALTER SHARE ... {ADD|SET}
    ACCOUNTS`` (QUERY_TYPE CREATE_SHARE also counts).
    """

    check_id = "share-exposures-monitored"
    reads = ("stream query_history (ACCOUNT_USAGE.QUERY_HISTORY)",)
    title = "Ensure monitoring and alerting exist for new share exposures"
    cis = "2.8"
    control = Control(soc2=("CC6.7", "CC7.2"), hipaa=("164.308(a)(1)(ii)(D)", "164.312(b)"))
    what = "share exposures"
    query_types = ("CREATE_SHARE",)

    def patterns(self, ctx: CheckContext) -> Sequence[str]:
        return (
            rf"{_LEAD}CREATE(?:\s+OR\s+REPLACE)?\s+SHARE\b",
            rf"{_LEAD}ALTER\s+SHARE\b[^;]*?\b(?:ADD|SET)\s+ACCOUNTS\b",
        )


# -- LOGIN_HISTORY ----------------------------------------------------------------------------

_LOGIN_COLUMNS = (
    "EVENT_ID",
    "EVENT_TIMESTAMP",
    "USER_NAME",
    "CLIENT_IP",
    "REPORTED_CLIENT_TYPE",
    "FIRST_AUTHENTICATION_FACTOR",
    "SECOND_AUTHENTICATION_FACTOR",
    "IS_SUCCESS",
)
_LOGIN_CONTROL = Control(soc2=("CC6.1", "CC7.2"), hipaa=("164.308(a)(5)(ii)(C)", "164.312(d)"))


class _LoginEvents(_HistoryEvents):
    kind = "login_history"
    time_column = "EVENT_TIMESTAMP"
    key_column = "EVENT_ID"
    columns = _LOGIN_COLUMNS

    def password_sign_ins(self, rows: pa.Table) -> pa.ChunkedArray | pa.Array:
        return pc.and_(
            _equals(rows.column("IS_SUCCESS"), "YES"),
            _equals(rows.column("FIRST_AUTHENTICATION_FACTOR"), "PASSWORD"),
        )

    def facts(self, row: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
        return {
            "client_ip": row.get("CLIENT_IP"),
            "client_type": row.get("REPORTED_CLIENT_TYPE"),
            "first_factor": row.get("FIRST_AUTHENTICATION_FACTOR"),
            "second_factor": row.get("SECOND_AUTHENTICATION_FACTOR"),
        }


#: LOGIN_HISTORY first factors that mean the user signed in through the identity provider
SSO_FACTORS = ("SAML2_ASSERTION",)


class SsoUserPasswordLoginsMonitored(_LoginEvents):
    """CIS 2.3: every password sign-in of an SSO user in the period.

    Audit procedure: LOGIN_HISTORY rows with FIRST_AUTHENTICATION_FACTOR PASSWORD of users
    who sign in through SSO. An SSO user is one with a successful SAML2_ASSERTION sign-in in
    any archived LOGIN_HISTORY window of the evidence set (USERS records no SSO flag).
    Every successful PASSWORD sign-in of such a user is listed; one by a user in
    ``[checks] sso_break_glass_users`` is listed too, marked ``break_glass``, since the
    break-glass path being used is itself what must be reviewed.
    """

    check_id = "sso-user-password-logins-monitored"
    reads = ("stream login_history (ACCOUNT_USAGE.LOGIN_HISTORY)",)
    title = "Ensure monitoring and alerting exist for password sign-ins of SSO users"
    cis = "2.3"
    control = _LOGIN_CONTROL
    what = "password sign-ins of SSO users"

    def prepare(self, files: Sequence[HistoryFile], evidence: EvidenceSet) -> frozenset[str]:
        """The SSO users: every user with a successful SSO sign-in in any file."""

        def upper(column: str) -> pl.Expr:
            return pl.col(column).cast(pl.String).str.to_uppercase()

        mask = (upper("IS_SUCCESS") == "YES") & upper("FIRST_AUTHENTICATION_FACTOR").is_in(
            [f.upper() for f in SSO_FACTORS]
        )
        users = evidence.scan(
            [f.path for f in files],
            ["USER_NAME"],
            where=mask.fill_null(False),
            each=lambda rows: rows.select(pl.col("USER_NAME").unique()),
        )
        names = collect(users.unique())["USER_NAME"].to_list()
        return frozenset(str(u).upper() for u in names if u)

    def known_details(self, known: Any) -> dict[str, Any]:
        return {"sso_users": sorted(known)}

    def select(self, rows: pa.Table, ctx: CheckContext, known: Any) -> pa.ChunkedArray | pa.Array:
        return pc.and_(self.password_sign_ins(rows), _in(rows.column("USER_NAME"), sorted(known)))

    def facts(self, row: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
        glass = {u.upper() for u in ctx.settings.sso_break_glass_users}
        return {
            **super().facts(row, ctx),
            "break_glass": str(row.get("USER_NAME") or "").upper() in glass,
        }


class PasswordLoginsWithoutMfaMonitored(_LoginEvents):
    """CIS 2.4: every password sign-in without a second factor in the period.

    Audit procedure: LOGIN_HISTORY rows with FIRST_AUTHENTICATION_FACTOR PASSWORD and no
    SECOND_AUTHENTICATION_FACTOR. Here: the same, successful sign-ins only (IS_SUCCESS YES;
    a failed attempt signed no one in), an empty second factor counting as none.
    """

    check_id = "password-logins-without-mfa-monitored"
    reads = ("stream login_history (ACCOUNT_USAGE.LOGIN_HISTORY)",)
    title = "Ensure monitoring and alerting exist for password sign-in without MFA"
    cis = "2.4"
    control = _LOGIN_CONTROL
    what = "password sign-ins without MFA"

    def select(self, rows: pa.Table, ctx: CheckContext, known: Any) -> pa.ChunkedArray | pa.Array:
        second = rows.column("SECOND_AUTHENTICATION_FACTOR")
        none = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(second), ""), True)
        return pc.and_(self.password_sign_ins(rows), none)


# -- SESSIONS ---------------------------------------------------------------------------------


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """``"3.12.3"`` as ``(3, 12, 3)``; None when it does not start with a number."""
    m = re.match(r"\s*(\d+(?:\.\d+)*)", text or "")
    return tuple(int(p) for p in m[1].split(".")) if m else None


def client_family(application_id: str | None) -> str:
    """``"PythonConnector 3.12.3"`` -> ``PythonConnector`` (the first word)."""
    return (application_id or "").strip().split(" ", 1)[0]


class UnsupportedClientSessionsMonitored(_HistoryEvents):
    """CIS 2.9: every session from a Python connector, JDBC or ODBC driver older than
    supported, in the period.

    Audit procedure: SESSIONS rows whose CLIENT_APPLICATION_ID names the Snowflake
    Connector for Python, JDBC or ODBC driver at a version below Snowflake's minimum
    supported one. Here: the client family is the first word of CLIENT_APPLICATION_ID
    (``PythonConnector``, ``JDBC``, ``ODBC``), its version CLIENT_APPLICATION_VERSION (else
    the rest of the id), compared numerically with ``[checks] min_client_versions``; a
    version that cannot be read is listed too (``version_unreadable``). Other clients are
    not evaluated.
    """

    check_id = "unsupported-client-sessions-monitored"
    reads = ("stream sessions (ACCOUNT_USAGE.SESSIONS)",)
    title = (
        "Ensure monitoring and alerting exist for sessions from unsupported Snowflake "
        "Connector for Python and JDBC and ODBC drivers"
    )
    cis = "2.9"
    control = Control(
        soc2=("CC7.1", "CC7.2"), hipaa=("164.308(a)(1)(ii)(D)", "164.308(a)(5)(ii)(B)")
    )
    kind = "sessions"
    time_column = "CREATED_ON"
    key_column = "SESSION_ID"
    columns = (
        "SESSION_ID",
        "CREATED_ON",
        "USER_NAME",
        "CLIENT_APPLICATION_ID",
        "CLIENT_APPLICATION_VERSION",
    )
    what = "sessions from unsupported clients"

    def _version(self, app_id: str | None, version: str | None) -> str | None:
        if version and version.strip():
            return version.strip()
        rest = (app_id or "").strip().split(" ", 1)
        return rest[1].strip() if len(rest) == 2 else None

    def _unsupported(
        self, app_id: str | None, version: str | None, ctx: CheckContext
    ) -> dict[str, Any] | None:
        minimums = {k.upper(): v for k, v in ctx.settings.min_client_versions.items()}
        family = client_family(app_id)
        minimum = minimums.get(family.upper())
        if minimum is None:
            return None
        text = self._version(app_id, version)
        got, need = version_tuple(text), version_tuple(minimum)
        if got is not None and need is not None and got >= need:
            return None
        return {
            "client": family,
            "version": text,
            "minimum": minimum,
            "version_unreadable": got is None,
        }

    def select(self, rows: pa.Table, ctx: CheckContext, known: Any) -> pa.ChunkedArray | pa.Array:
        # Few distinct clients, many sessions: decide per distinct (id, version), then match.
        ids = pc.fill_null(rows.column("CLIENT_APPLICATION_ID"), "")
        versions = pc.fill_null(rows.column("CLIENT_APPLICATION_VERSION"), "")
        keys = pc.binary_join_element_wise(ids, versions, "\x1f")
        bad = []
        for k in pc.unique(keys).to_pylist():
            app_id, _, version = str(k).partition("\x1f")
            if self._unsupported(app_id, version, ctx) is not None:
                bad.append(k)
        return pc.is_in(keys, value_set=pa.array(bad, pa.string()))

    def facts(self, row: dict[str, Any], ctx: CheckContext) -> dict[str, Any]:
        facts = self._unsupported(
            row.get("CLIENT_APPLICATION_ID"), row.get("CLIENT_APPLICATION_VERSION"), ctx
        )
        return {"client_application_id": row.get("CLIENT_APPLICATION_ID"), **(facts or {})}


# -- Trust Center -----------------------------------------------------------------------------

_OPEN = "OPEN"


class TrustCenterFindingsOpen(Check):
    """Trust Center findings of a severity in ``[checks] trust_center_severities`` still open
    longer than ``trust_center_max_open`` at the period's end.

    The ``trust_center_findings`` stream archives each version of a finding (the view is
    windowed on UPDATED_ON). The latest version of each finding ID updated before the
    period's end is its state then; an OPEN one of a listed severity created more than
    ``trust_center_max_open`` before the end is a finding. A pass needs the stream to cover
    the period (as the history checks do); without any window the reason names the grant
    (the SNOWFLAKE.TRUST_CENTER_VIEWER application role).
    """

    check_id = "trust-center-findings-open"
    reads = ("stream trust_center_findings (ACCOUNT_USAGE.TRUST_CENTER_FINDINGS)",)
    title = "Trust Center findings left open"
    control = Control(soc2=("CC7.1", "CC4.1"), hipaa=("164.308(a)(1)(ii)(A)", "164.308(a)(8)"))
    _COLUMNS = ("ID", "SCANNER_PACKAGE_ID", "SCANNER_ID", "SEVERITY", "STATE", "CREATED_ON",
                "UPDATED_ON")  # fmt: skip

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        settings = ctx.settings
        files = history_files(evidence, TRUST_CENTER_STREAM)
        view = VIEWS[TRUST_CENTER_STREAM].view
        if not files:
            return self.not_evidenced(
                f"no {view} window in the period; the collector's role needs "
                f"{grant_for(view, None)}",
                details={"evaluated": 0, "passed": []},
            )
        end = evidence.end
        latest: dict[Any, tuple[dict[str, Any], HistoryFile]] = {}
        # the findings as last updated before the period's end, however old
        chunks = history_chunks(
            evidence, files, self._COLUMNS, "UPDATED_ON", end=end, open_start=True
        )
        for chunk, rows in chunks:
            sources = rows.column(FILE_COLUMN).to_pylist()
            for r, source in zip(
                rows.drop_columns([FILE_COLUMN]).to_pylist(), sources, strict=True
            ):
                key = r["ID"]
                if key not in latest or r["UPDATED_ON"] >= latest[key][0]["UPDATED_ON"]:
                    latest[key] = (r, chunk[source])
        severities = {s.upper() for s in settings.trust_center_severities}
        findings = []
        passed = []
        for key in sorted(latest, key=lambda k: (k is None, str(k))):
            r, f = latest[key]
            severity = str(r["SEVERITY"] or "").upper()
            state = str(r["STATE"] or "").upper()
            created = r["CREATED_ON"]
            open_for = end - created if isinstance(created, datetime) else None
            if (
                severity in severities
                and state == _OPEN
                and open_for is not None
                and open_for > settings.trust_center_max_open
            ):
                findings.append(
                    {
                        "finding": jsonable(key),
                        "scanner_package": r["SCANNER_PACKAGE_ID"],
                        "scanner": r["SCANNER_ID"],
                        "severity": severity,
                        "state": state,
                        "created_on": ts(created),
                        "updated_on": ts(r["UPDATED_ON"]),
                        "open_days": round(open_for.total_seconds() / 86400, 1),
                        "as_of": ts(end),
                        "evidence": {"entry": f.entry.index, "path": f.path},
                    }
                )
            else:
                passed.append(str(key))
        holes = coverage_holes(
            evidence, TRUST_CENTER_STREAM, ctx.horizon(evidence), settings.stale_after
        )
        max_days = settings.trust_center_max_open.total_seconds() / 86400
        details: dict[str, Any] = {
            "evaluated": len(latest),
            "passed": sorted(passed)[:MAX_PASSED],
            "severities": sorted(severities),
            "max_open_days": max_days,
            "scope": "findings with a version archived in the period's windows",
            "coverage_holes": {s: holes_json(h) for s, h in holes.items()},
        }
        refs = [f.ref for f in files]
        if findings:
            return self.result(
                "fail",
                f"{len(findings)} {'/'.join(sorted(severities))} Trust Center finding(s) open "
                f"longer than {max_days:g} days at {ts(end)}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        if holes:
            return self.not_evidenced(
                f"no {'/'.join(sorted(severities))} Trust Center finding open too long in the "
                f"evidenced windows, but {view} does not cover the whole period: "
                + ", ".join(sorted(holes)),
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"none of {len(latest)} Trust Center findings is a "
            f"{'/'.join(sorted(severities))} one open longer than {max_days:g} days",
            evidence=refs,
            details=details,
        )
