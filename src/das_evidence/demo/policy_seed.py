"""Deterministic policy state of the demo healthcare account, in the ACCOUNT_USAGE policy views.

:func:`seed_policy_state` fills the eleven policy-state views (``account_usage.POLICY_VIEWS``)
with one snapshot of who may do what, consistent with the activity :mod:`seed` generates: the
same users (their default role and warehouse), roles, databases, objects, object and column ids
and masking-policy ids. What an auditor should find:

* DAVE_ADMIN is the one human holding ACCOUNTADMIN (BOB_ENGINEER held it for two days once:
  a revoked row);
* ERIN_CONTRACTOR is the one human without MFA (and logs in with a password only);
* the service users (SVC_DBT_RUNNER, SVC_FIVETRAN) are TYPE 'SERVICE' with RSA keys and sit
  behind a network policy; the corporate VPN network policy is the account's
  (SHOW PARAMETERS: NETWORK_POLICY); SVC_TABLEAU is a LEGACY_SERVICE user with a password,
  no key pair and no network policy of its own; SVC_DBT_RUNNER's key was set over 180 days
  ago, SVC_FIVETRAN's a month ago;
* PHI columns of CLINICAL.PUBLIC.PATIENTS are tagged (GOVERNANCE.TAGS.PII / PHI) and masked
  unless PHI_READER is in the session; EMAIL_MASK is defined but applied nowhere;
* history: revoked grants, a dropped user, role, masking policy, network policy and a tag on a
  dropped table, all with their deleted-on timestamps set.

The CIS evidence beyond ACCOUNT_USAGE (the SHOW/DESCRIBE results of
:mod:`das_evidence.demo.fake_show`, and the TABLES and PROCEDURES views) is seeded so each
check has failing and passing subjects: PERIODIC_DATA_REKEYING false,
CLIENT_ENCRYPTION_KEY_SIZE 256, MIN_DATA_RETENTION_TIME_IN_DAYS 1, stage integrations
required for creation but not for operations, unloads to inline URLs allowed; a SAML2 and a
SCIM integration (and a disabled OAuth one); one external stage with a storage integration
and one with credentials instead; ANALYTICS_WH, TRANSFORM_WH and LOADING_WH under resource
monitors, ADMIN_WH under none; tasks and procedures owned by TRANSFORMER, by ACCOUNTADMIN
and by OPS_AUTOMATION (a custom role SECURITYADMIN is granted to); PHI-tagged ENCOUNTERS
keeps 1 day of Time Travel, PATIENTS, LAB_RESULTS and CRITICAL-tagged CLAIMS 90.

:func:`apply_policy_changes` then moves the state on by exactly four changes, the way
ACCOUNT_USAGE shows them (a revoke sets DELETED_ON on the active grant row; nothing is deleted).

Content is fixed; ``seed`` only moves timestamps (by a stable hash of seed and row), so a given
``(now, seed)`` always gives the same rows. Every timestamp is at or before ``now`` except a
contractor's EXPIRES_AT, which lies ahead of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import duckdb

from das_evidence.demo import account_usage as au
from das_evidence.demo import fake_show
from das_evidence.demo.seed import (
    CLAIMS,
    ENCOUNTERS,
    ENCOUNTERS_RAW,
    FIVETRAN_STAGE,
    LAB_RESULTS,
    MASKED,
    PATIENT_DAILY,
    PATIENT_SUMMARY,
    PATIENTS,
    PAYERS,
    USERS,
)

ACCOUNT_NAME: Final = "ACME_PROD"
EMAIL_DOMAIN: Final = "acmehealth.example"

HUMAN_ACCOUNTADMIN: Final = "DAVE_ADMIN"  # the one human with an active ACCOUNTADMIN grant
USER_WITHOUT_MFA: Final = "ERIN_CONTRACTOR"  # the one active human without MFA

# The four changes apply_policy_changes makes.
NEW_GRANT: Final = ("SELECT", "TABLE", "CLINICAL", "PUBLIC", "LAB_RESULTS", "ANALYST")
REVOKED_GRANT: Final = ("SELECT", "TABLE", "BILLING", "PUBLIC", "CLAIMS", "ENGINEER")
EDITED_MASKING_POLICY: Final = "SSN_MASK"  # in GOVERNANCE.POLICIES
MFA_REMOVED_USER: Final = "BOB_ENGINEER"

_SSN_BODY: Final = "CASE WHEN IS_ROLE_IN_SESSION('PHI_READER') THEN val ELSE '***MASKED***' END"
_SSN_BODY_EDITED: Final = (
    "CASE WHEN IS_ROLE_IN_SESSION('PHI_READER') OR IS_ROLE_IN_SESSION('ENGINEER')"
    " THEN val ELSE '***MASKED***' END"
)

# Ids as seed.py numbers them (databases 11-14, schemas 101-104), plus the governance database.
_DATABASE_IDS: Final = {"CLINICAL": 11, "BILLING": 12, "ANALYTICS": 13, "RAW": 14, "GOVERNANCE": 15}
_SCHEMA_IDS: Final = {
    "CLINICAL.PUBLIC": 101,
    "BILLING.PUBLIC": 102,
    "ANALYTICS.MARTS": 103,
    "RAW.FIVETRAN_EHR": 104,
    "GOVERNANCE.POLICIES": 105,
    "GOVERNANCE.TAGS": 106,
}
_ACCOUNT_AGE_DAYS: Final = 900
# Service users with a key pair, and how many days ago the key was set (CIS: 180 at most).
_KEY_SET_DAYS: Final = {"SVC_DBT_RUNNER": 400, "SVC_FIVETRAN": 30}


@dataclass(frozen=True)
class PolicySummary:
    """Rows written to each policy-state view by :func:`seed_policy_state`, as of ``as_of``."""

    as_of: datetime
    grants_to_roles: int
    grants_to_users: int
    users: int
    roles: int
    masking_policies: int
    row_access_policies: int
    policy_references: int
    tag_references: int
    network_policies: int
    password_policies: int
    session_policies: int
    #: Rows of the FAKE_SHOW tables and the extra views (TABLES, PROCEDURES), by table.
    cis: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Rows per view name (``GRANTS_TO_ROLES`` ...), in ``POLICY_VIEWS`` order."""
        return {
            au.GRANTS_TO_ROLES: self.grants_to_roles,
            au.GRANTS_TO_USERS: self.grants_to_users,
            au.USERS: self.users,
            au.ROLES: self.roles,
            au.MASKING_POLICIES: self.masking_policies,
            au.ROW_ACCESS_POLICIES: self.row_access_policies,
            au.POLICY_REFERENCES: self.policy_references,
            au.TAG_REFERENCES: self.tag_references,
            au.NETWORK_POLICIES: self.network_policies,
            au.PASSWORD_POLICIES: self.password_policies,
            au.SESSION_POLICIES: self.session_policies,
        }

    def __str__(self) -> str:
        rows = ", ".join(f"{n} {view}" for view, n in self.counts.items())
        return f"{rows} as of {self.as_of.isoformat()}"


def seed_policy_state(
    duck: duckdb.DuckDBPyConnection, *, now: datetime, seed: int = 7
) -> PolicySummary:
    """Replace the policy-state views with the account's state as of ``now``.

    Creates the tables if needed; replaces whatever the eleven views held (they are a
    snapshot, not a window), in one transaction. Returns the rows written per view.
    """
    now = _utc(now)
    state = _State(now, seed)
    rows = state.rows()
    cis = state.cis_rows()
    au.create_tables(duck)
    fake_show.create_show_tables(duck)
    with _transaction(duck):
        for view in au.POLICY_VIEWS:
            duck.execute(f"DELETE FROM {au.qualified_name(view)}")
            if rows[view]:
                marks = ", ".join("?" * len(au.columns(view)))
                duck.executemany(
                    f"INSERT INTO {au.qualified_name(view)} VALUES ({marks})", rows[view]
                )
        for name, table_rows in cis.items():
            columns = _cis_columns(name)
            target = _cis_table(name)
            duck.execute(f"DELETE FROM {target}")
            if table_rows:
                names = ", ".join(f'"{c}"' for c in columns)
                marks = ", ".join("?" * len(columns))
                duck.executemany(
                    f"INSERT INTO {target} ({names}) VALUES ({marks})",
                    [tuple(r.get(c) for c in columns) for r in table_rows],
                )
    n = {view: len(rows[view]) for view in au.POLICY_VIEWS}
    return PolicySummary(
        as_of=now,
        grants_to_roles=n[au.GRANTS_TO_ROLES],
        grants_to_users=n[au.GRANTS_TO_USERS],
        users=n[au.USERS],
        roles=n[au.ROLES],
        masking_policies=n[au.MASKING_POLICIES],
        row_access_policies=n[au.ROW_ACCESS_POLICIES],
        policy_references=n[au.POLICY_REFERENCES],
        tag_references=n[au.TAG_REFERENCES],
        network_policies=n[au.NETWORK_POLICIES],
        password_policies=n[au.PASSWORD_POLICIES],
        session_policies=n[au.SESSION_POLICIES],
        cis={name: len(r) for name, r in cis.items()},
    )


def _cis_columns(name: str) -> tuple[str, ...]:
    spec = fake_show.EXTRA_VIEWS.get(name) or fake_show.TABLES[name]
    return tuple(column for column, _ in spec)


def _cis_table(name: str) -> str:
    if name in fake_show.EXTRA_VIEWS:
        return au.qualified_name(name)
    return fake_show.qualified(name)


def apply_policy_changes(duck: duckdb.DuckDBPyConnection, *, at: datetime) -> list[str]:
    """Change the seeded state at ``at`` by exactly four changes; describe each, in order.

    1. grant: a new active GRANTS_TO_ROLES row, SELECT on CLINICAL.PUBLIC.LAB_RESULTS to ANALYST;
    2. revoke: the active GRANTS_TO_ROLES row SELECT on BILLING.PUBLIC.CLAIMS to ENGINEER gets
       DELETED_ON = ``at`` (the row stays, as in ACCOUNT_USAGE);
    3. masking-policy edit: GOVERNANCE.POLICIES.SSN_MASK gets a new POLICY_BODY (ENGINEER now
       sees clear SSNs) and LAST_ALTERED = ``at``;
    4. MFA: BOB_ENGINEER's HAS_MFA goes from true to false.

    No other row or column changes. Raises ``ValueError`` (and changes nothing) if the state
    is not the seeded one, e.g. when called twice.
    """
    at = _utc(at)
    priv, kind, catalog, schema, name, grantee = NEW_GRANT
    r_priv, r_kind, r_catalog, r_schema, r_name, r_grantee = REVOKED_GRANT
    grants = au.qualified_name(au.GRANTS_TO_ROLES)
    grant_key = (
        "PRIVILEGE = ? AND GRANTED_ON = ? AND TABLE_CATALOG = ? AND TABLE_SCHEMA = ?"
        " AND NAME = ? AND GRANTED_TO = 'ROLE' AND GRANTEE_NAME = ? AND DELETED_ON IS NULL"
    )
    with _transaction(duck):
        active = duck.execute(
            f"SELECT count(*) FROM {grants} WHERE {grant_key}", list(NEW_GRANT)
        ).fetchone()
        _expect(active is not None and active[0] == 0, f"{priv} on {name} to {grantee} exists")
        duck.execute(
            f"INSERT INTO {grants} VALUES ({', '.join('?' * len(au.columns(au.GRANTS_TO_ROLES)))})",
            _grant_row(at, priv, kind, name, catalog, schema, grantee, "SYSADMIN", None, False),
        )
        revoked = duck.execute(
            f"UPDATE {grants} SET DELETED_ON = ? WHERE {grant_key} RETURNING 1",
            [at, *REVOKED_GRANT],
        ).fetchall()
        _expect(len(revoked) == 1, f"no active {r_priv} on {r_name} to {r_grantee}")
        altered = duck.execute(
            f"UPDATE {au.qualified_name(au.MASKING_POLICIES)} SET POLICY_BODY = ?, LAST_ALTERED = ?"
            " WHERE POLICY_CATALOG = 'GOVERNANCE' AND POLICY_SCHEMA = 'POLICIES'"
            " AND POLICY_NAME = ? AND DELETED IS NULL AND POLICY_BODY = ? RETURNING 1",
            [_SSN_BODY_EDITED, at, EDITED_MASKING_POLICY, _SSN_BODY],
        ).fetchall()
        _expect(len(altered) == 1, f"masking policy {EDITED_MASKING_POLICY} is not as seeded")
        mfa = duck.execute(
            f"UPDATE {au.qualified_name(au.USERS)} SET HAS_MFA = false"
            " WHERE NAME = ? AND DELETED_ON IS NULL AND HAS_MFA RETURNING 1",
            [MFA_REMOVED_USER],
        ).fetchall()
        _expect(len(mfa) == 1, f"user {MFA_REMOVED_USER} has no MFA to remove")
    return [
        f"grant: {priv} on {kind} {catalog}.{schema}.{name} to ROLE {grantee}",
        f"revoke: {r_priv} on {r_kind} {r_catalog}.{r_schema}.{r_name} from ROLE {r_grantee}",
        f"masking policy altered: GOVERNANCE.POLICIES.{EDITED_MASKING_POLICY} body"
        f" {_SSN_BODY!r} -> {_SSN_BODY_EDITED!r}",
        f"mfa: user {MFA_REMOVED_USER} HAS_MFA true -> false",
    ]


# ---------------------------------------------------------------------------
# The account's state
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    name: str
    user_id: int
    first: str | None
    last: str | None
    display: str
    email: str | None
    created_days: int
    has_mfa: bool | None
    has_password: bool | None
    comment: str | None = None
    has_pat: bool = False
    expires_in_days: int | None = None
    deleted_days: int | None = None
    type_: str | None = None  # defaults to seed.py's user type
    default_role: str | None = None  # defaults to seed.py's role
    default_warehouse: str | None = None
    default_namespace: str | None = None


_SEEDED = {u.name: u for u in USERS}

_PEOPLE: Final[tuple[_Person, ...]] = (
    _Person("ALICE_ANALYST", 101, "Alice", "Nguyen", "Alice Nguyen",
            f"alice.nguyen@{EMAIL_DOMAIN}", 610, True, True,
            default_namespace="ANALYTICS.MARTS"),
    _Person("BOB_ENGINEER", 102, "Robert", "Martinez", "Bob Martinez",
            f"bob.martinez@{EMAIL_DOMAIN}", 580, True, True, has_pat=True,
            default_namespace="CLINICAL.PUBLIC"),
    _Person("CAROL_BILLING", 103, "Carol", "Okafor", "Carol Okafor",
            f"carol.okafor@{EMAIL_DOMAIN}", 520, True, False, comment="SSO (Okta) user",
            default_namespace="BILLING.PUBLIC"),
    _Person("DAVE_ADMIN", 104, "David", "Fischer", "Dave Fischer",
            f"dave.fischer@{EMAIL_DOMAIN}", 880, True, True,
            comment="Platform lead, account administrator", default_namespace="CLINICAL.PUBLIC"),
    _Person("ERIN_CONTRACTOR", 105, "Erin", "Walsh", "Erin Walsh (contractor)",
            "erin.walsh@bi-partners.example", 75, False, True,
            comment="Contractor, BI dashboards (SOW-2291)", expires_in_days=45,
            default_namespace="ANALYTICS.MARTS"),
    _Person("SVC_DBT_RUNNER", 201, None, None, "SVC_DBT_RUNNER", f"data-platform@{EMAIL_DOMAIN}",
            600, None, None, comment="dbt Cloud production job runner",
            default_namespace="ANALYTICS.MARTS"),
    _Person("SVC_FIVETRAN", 202, None, None, "SVC_FIVETRAN", f"data-platform@{EMAIL_DOMAIN}",
            600, None, None, comment="Fivetran EHR connector",
            default_namespace="RAW.FIVETRAN_EHR"),
    _Person("SVC_TABLEAU", 204, None, None, "SVC_TABLEAU", f"bi-team@{EMAIL_DOMAIN}", 400, None,
            True, comment="Tableau Server extracts (password login; key pair pending, BI-77)",
            type_="LEGACY_SERVICE", default_role="ANALYST", default_warehouse="ANALYTICS_WH",
            default_namespace="ANALYTICS.MARTS"),
    _Person("FRANK_ANALYST", 106, "Frank", "Morris", "Frank Morris",
            f"frank.morris@{EMAIL_DOMAIN}", 700, True, True, deleted_days=120, type_="PERSON",
            default_role="ANALYST", default_warehouse="ANALYTICS_WH",
            default_namespace="ANALYTICS.MARTS"),
    _Person("SVC_LEGACY_ETL", 203, None, None, "SVC_LEGACY_ETL", None, 820, None, True,
            comment="Nightly ETL from the old EHR (replaced by Fivetran)", deleted_days=150,
            type_="LEGACY_SERVICE", default_role="LOADER", default_warehouse="LOADING_WH",
            default_namespace="RAW.FIVETRAN_EHR"),
)  # fmt: skip

_SYSTEM_ROLES: Final = (
    (1, "ACCOUNTADMIN", "Account administrator can manage all aspects of the account."),
    (2, "SECURITYADMIN", "Security administrator can manage security aspects of the account."),
    (3, "USERADMIN", "User administrator can create and manage users and roles"),
    (4, "SYSADMIN", "System administrator can create and manage databases and warehouses."),
    (5, "PUBLIC", "Public role is automatically available to every user in the account."),
)

# (id, name, comment, created days ago, deleted days ago); owned by USERADMIN.
_CUSTOM_ROLES: Final[tuple[tuple[int, str, str, int, int | None], ...]] = (
    (11, "ANALYST", "Clinical and operational analytics", 700, None),
    (12, "ENGINEER", "Data engineering", 700, None),
    (13, "BILLING_ANALYST", "Revenue cycle analytics", 650, None),
    (14, "TRANSFORMER", "dbt transformations", 600, None),
    (15, "LOADER", "Ingestion (Fivetran)", 600, None),
    (16, "PHI_READER", "Sees PHI unmasked; grant to named users only", 540, None),
    (17, "GOVERNANCE_ADMIN", "Owns masking, row access policies and tags", 540, None),
    (18, "LEGACY_REPORTING", "Old reporting tool", 800, 200),
    (19, "OPS_AUTOMATION", "Owns scheduled account maintenance (tasks, procedures)", 320, None),
)

# Where a custom role is rolled up (granted to); SYSADMIN unless named here.
_ROLE_PARENTS: Final = {"GOVERNANCE_ADMIN": "SECURITYADMIN", "OPS_AUTOMATION": "ACCOUNTADMIN"}

# Role grants to users: (role, user, created days ago, granted by, deleted days ago).
_USER_GRANTS: Final[tuple[tuple[str, str, int, str, int | None], ...]] = (
    ("ANALYST", "ALICE_ANALYST", 600, "USERADMIN", None),
    ("PHI_READER", "ALICE_ANALYST", 500, "SECURITYADMIN", None),
    ("ENGINEER", "BOB_ENGINEER", 575, "USERADMIN", None),
    ("ACCOUNTADMIN", "BOB_ENGINEER", 300, "ACCOUNTADMIN", 298),  # break-glass, revoked
    ("BILLING_ANALYST", "CAROL_BILLING", 515, "USERADMIN", None),
    ("ACCOUNTADMIN", "DAVE_ADMIN", 875, "ACCOUNTADMIN", None),
    ("SECURITYADMIN", "DAVE_ADMIN", 875, "ACCOUNTADMIN", None),
    ("SYSADMIN", "DAVE_ADMIN", 875, "ACCOUNTADMIN", None),
    ("GOVERNANCE_ADMIN", "DAVE_ADMIN", 530, "SECURITYADMIN", None),
    ("PHI_READER", "DAVE_ADMIN", 500, "SECURITYADMIN", None),
    ("ANALYST", "ERIN_CONTRACTOR", 74, "USERADMIN", None),
    ("TRANSFORMER", "SVC_DBT_RUNNER", 599, "USERADMIN", None),
    ("LOADER", "SVC_FIVETRAN", 599, "USERADMIN", None),
    ("ANALYST", "FRANK_ANALYST", 690, "USERADMIN", 120),  # user dropped
    ("LEGACY_REPORTING", "FRANK_ANALYST", 690, "USERADMIN", 200),  # role dropped
    ("LOADER", "SVC_LEGACY_ETL", 790, "USERADMIN", 150),  # user dropped
    ("ANALYST", "SVC_TABLEAU", 399, "USERADMIN", None),
)


@dataclass(frozen=True)
class _Masking:
    name: str
    policy_id: int
    signature: str
    return_type: str
    body: str
    comment: str
    created_days: int
    altered_days: int
    deleted_days: int | None = None


_MASKING: Final[tuple[_Masking, ...]] = (
    _Masking("SSN_MASK_V0", 2000, "(VAL VARCHAR)", "VARCHAR(16777216)",
             "CASE WHEN CURRENT_ROLE() IN ('ACCOUNTADMIN', 'PHI_READER') THEN val"
             " ELSE '***MASKED***' END",
             "First SSN mask; replaced by SSN_MASK", 560, 560, deleted_days=400),
    _Masking("SSN_MASK", MASKED[(PATIENTS.name, "SSN")].policy_id, "(VAL VARCHAR)",
             "VARCHAR(16777216)", _SSN_BODY, "Social Security numbers: clear for PHI_READER only",
             410, 410),
    _Masking("DOB_MASK", MASKED[(PATIENTS.name, "DOB")].policy_id, "(VAL DATE)", "DATE",
             "CASE WHEN IS_ROLE_IN_SESSION('PHI_READER') THEN val"
             " ELSE DATE_FROM_PARTS(YEAR(val), 1, 1) END",
             "Dates of birth: year only outside PHI_READER", 410, 260),
    _Masking("MRN_MASK", MASKED[(PATIENTS.name, "MRN")].policy_id, "(VAL VARCHAR)",
             "VARCHAR(16777216)",
             "CASE WHEN IS_ROLE_IN_SESSION('PHI_READER') OR IS_ROLE_IN_SESSION('TRANSFORMER')"
             " THEN val ELSE SHA2(val, 256) END",
             "Medical record numbers: hashed, still joinable", 405, 405),
    _Masking("PHONE_MASK", MASKED[(PATIENTS.name, "PHONE")].policy_id, "(VAL VARCHAR)",
             "VARCHAR(16777216)",
             "CASE WHEN IS_ROLE_IN_SESSION('PHI_READER') THEN val"
             " ELSE '***-***-' || RIGHT(val, 4) END",
             "Phone numbers: last four digits outside PHI_READER", 405, 405),
    _Masking("EMAIL_MASK", 2005, "(VAL VARCHAR)", "VARCHAR(16777216)",
             "CASE WHEN IS_ROLE_IN_SESSION('PHI_READER') THEN val"
             " ELSE REGEXP_REPLACE(val, '.+@', '*****@') END",
             "Email addresses (not applied yet)", 30, 30),
)  # fmt: skip

_RAP_ID: Final = 2101
_RAP_BODY: Final = (
    "IS_ROLE_IN_SESSION('PHI_READER') OR EXISTS (SELECT 1 FROM"
    " GOVERNANCE.POLICIES.FACILITY_ENTITLEMENTS e WHERE e.ROLE_NAME = CURRENT_ROLE()"
    " AND e.FACILITY_ID = facility_id)"
)

# (tag, tag id or None for a system tag, table, column or None, value)
_TAG_IDS: Final = {"PII": 3001, "PHI": 3002, "DATA_DOMAIN": 3003, "CRITICAL": 3004}
_PHI_COLUMNS: Final = (
    (PATIENTS, "MRN", "mrn"),
    (PATIENTS, "FIRST_NAME", "name"),
    (PATIENTS, "LAST_NAME", "name"),
    (PATIENTS, "DOB", "dob"),
    (PATIENTS, "SSN", "ssn"),
    (PATIENTS, "ZIP_CODE", "zip"),
    (PATIENTS, "PHONE", "phone"),
    (ENCOUNTERS, "DIAGNOSIS_CODE", "diagnosis"),
    (LAB_RESULTS, "RESULT_VALUE", "lab_result"),
)
_PII_COLUMNS: Final = (
    (PATIENTS, "FIRST_NAME", "name"),
    (PATIENTS, "LAST_NAME", "name"),
    (PATIENTS, "DOB", "dob"),
    (PATIENTS, "SSN", "ssn"),
    (PATIENTS, "PHONE", "phone"),
)
_DATA_DOMAINS: Final = ((PATIENTS, "clinical"), (ENCOUNTERS, "clinical"), (CLAIMS, "billing"))


class _State:
    """Builds every row of the snapshot as of ``now``; timestamps jittered by ``seed``."""

    def __init__(self, now: datetime, seed: int) -> None:
        self.now = now
        self.seed = seed

    # -- time ---------------------------------------------------------------

    def ago(self, days: float, key: str, spread_h: int = 10) -> datetime:
        """``days`` before now, less up to ``spread_h`` hours picked by (seed, key); in ms."""
        jitter = timedelta(milliseconds=_hash(self.seed, key, spread_h * 3_600_000))
        ts = self.now - timedelta(days=days) - jitter
        return ts.replace(microsecond=ts.microsecond // 1000 * 1000)

    def maybe_ago(self, days: float | None, key: str) -> datetime | None:
        return None if days is None else self.ago(days, key)

    # -- views --------------------------------------------------------------

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        return {
            au.GRANTS_TO_ROLES: self.grants_to_roles(),
            au.GRANTS_TO_USERS: self.grants_to_users(),
            au.USERS: self.users(),
            au.ROLES: self.roles(),
            au.MASKING_POLICIES: self.masking_policies(),
            au.ROW_ACCESS_POLICIES: self.row_access_policies(),
            au.POLICY_REFERENCES: self.policy_references(),
            au.TAG_REFERENCES: self.tag_references(),
            au.NETWORK_POLICIES: self.network_policies(),
            au.PASSWORD_POLICIES: self.password_policies(),
            au.SESSION_POLICIES: self.session_policies(),
        }

    def users(self) -> list[tuple[Any, ...]]:
        out = []
        for p in _PEOPLE:
            seeded = _SEEDED.get(p.name)
            user_type = p.type_ or (seeded.user_type if seeded else "PERSON")
            person = user_type == "PERSON"
            gone = p.deleted_days or 0  # days since the user was dropped (0: active)
            if p.deleted_days is not None:
                last_login_days = gone + 3.0
            elif p.name == USER_WITHOUT_MFA:
                last_login_days = 3.0  # the contractor logs in now and then
            else:
                last_login_days = 0.0 if person else 0.02
            password_days = min(p.created_days - 1, gone + 20 + _hash(self.seed, p.name, 60))
            out.append(_row(
                au.USERS,
                USER_ID=p.user_id,
                NAME=p.name,
                CREATED_ON=self.ago(p.created_days, f"user:{p.name}"),
                DELETED_ON=self.maybe_ago(p.deleted_days, f"user-drop:{p.name}"),
                LOGIN_NAME=p.email.upper() if person and p.email else p.name,
                DISPLAY_NAME=p.display,
                FIRST_NAME=p.first,
                LAST_NAME=p.last,
                EMAIL=p.email,
                MUST_CHANGE_PASSWORD=False if person else None,
                HAS_PASSWORD=p.has_password,
                COMMENT=p.comment,
                DISABLED=json.dumps(p.deleted_days is not None),
                SNOWFLAKE_LOCK=json.dumps(False),
                DEFAULT_WAREHOUSE=p.default_warehouse or (seeded.warehouse if seeded else None),
                DEFAULT_NAMESPACE=p.default_namespace,
                DEFAULT_ROLE=p.default_role or (seeded.role if seeded else None),
                EXT_AUTHN_DUO=False if person else None,
                HAS_MFA=p.has_mfa,
                LAST_SUCCESS_LOGIN=self.ago(last_login_days, f"login:{p.name}", spread_h=20),
                EXPIRES_AT=(
                    None if p.expires_in_days is None
                    else _midnight(self.now + timedelta(days=p.expires_in_days))
                ),
                HAS_RSA_PUBLIC_KEY=user_type == "SERVICE",
                PASSWORD_LAST_SET_TIME=(
                    self.ago(password_days, f"pw:{p.name}") if p.has_password else None
                ),
                OWNER="USERADMIN",
                DEFAULT_SECONDARY_ROLE='["ALL"]' if person else None,
                HAS_PAT=p.has_pat,
                HAS_WORKLOAD_IDENTITY=False,
                TYPE=user_type,
                IS_FROM_ORGANIZATION_USER=False,
            ))  # fmt: skip
        return out

    def roles(self) -> list[tuple[Any, ...]]:
        out = [
            _row(
                au.ROLES,
                ROLE_ID=role_id,
                CREATED_ON=self.ago(_ACCOUNT_AGE_DAYS, "account", spread_h=1),
                NAME=name,
                COMMENT=comment,
                ROLE_TYPE="ROLE",
                IS_FROM_ORGANIZATION_USER_GROUP=False,
            )
            for role_id, name, comment in _SYSTEM_ROLES
        ]
        for role_id, name, comment, created, deleted in _CUSTOM_ROLES:
            out.append(
                _row(
                    au.ROLES,
                    ROLE_ID=role_id,
                    CREATED_ON=self.ago(created, f"role:{name}"),
                    DELETED_ON=self.maybe_ago(deleted, f"role-drop:{name}"),
                    NAME=name,
                    COMMENT=comment,
                    OWNER="USERADMIN",
                    ROLE_TYPE="ROLE",
                    OWNER_ROLE_TYPE=None if deleted else "ROLE",
                    IS_FROM_ORGANIZATION_USER_GROUP=False,
                )
            )
        return out

    def grants_to_users(self) -> list[tuple[Any, ...]]:
        return [
            _row(
                au.GRANTS_TO_USERS,
                CREATED_ON=self.ago(created, f"gu:{role}:{user}"),
                DELETED_ON=self.maybe_ago(deleted, f"gu-drop:{role}:{user}"),
                ROLE=role,
                GRANTED_TO="USER",
                GRANTEE_NAME=user,
                GRANTED_BY=by,
            )
            for role, user, created, by, deleted in _USER_GRANTS
        ]

    def grants_to_roles(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []

        def g(
            privilege: str,
            kind: str,
            name: str,
            grantee: str,
            created: float,
            by: str,
            *,
            catalog: str | None = None,
            schema: str | None = None,
            deleted: float | None = None,
        ) -> None:
            key = f"gr:{privilege}:{kind}:{catalog}.{schema}.{name}:{grantee}"
            out.append(
                _grant_row(
                    self.ago(created, key),
                    privilege,
                    kind,
                    name,
                    catalog,
                    schema,
                    grantee,
                    by,
                    self.maybe_ago(deleted, key + ":drop"),
                    privilege == "OWNERSHIP",
                )
            )

        age = _ACCOUNT_AGE_DAYS
        # The role hierarchy: system roles (granted by the SYSTEM role: GRANTED_BY empty) ...
        g("USAGE", "ROLE", "SYSADMIN", "ACCOUNTADMIN", age, "")
        g("USAGE", "ROLE", "SECURITYADMIN", "ACCOUNTADMIN", age, "")
        g("USAGE", "ROLE", "USERADMIN", "SECURITYADMIN", age, "")
        # ... and custom roles rolled up under SYSADMIN / SECURITYADMIN by their owner.
        for role_id, role, _, created, deleted in _CUSTOM_ROLES:
            parent = _ROLE_PARENTS.get(role, "SYSADMIN")
            g("USAGE", "ROLE", role, parent, created - 1 + role_id / 100, "USERADMIN",
              deleted=deleted)  # fmt: skip
        # OPS_AUTOMATION inherits SECURITYADMIN (the CIS tasks/procedures checks flag it).
        g("USAGE", "ROLE", "SECURITYADMIN", "OPS_AUTOMATION", 318, "ACCOUNTADMIN")
        # Account-level privileges.
        for privilege, grantee, by in (
            ("CREATE DATABASE", "SYSADMIN", ""),
            ("CREATE WAREHOUSE", "SYSADMIN", ""),
            ("MANAGE GRANTS", "SECURITYADMIN", ""),
            ("CREATE USER", "USERADMIN", ""),
            ("CREATE ROLE", "USERADMIN", ""),
            ("APPLY MASKING POLICY", "GOVERNANCE_ADMIN", "ACCOUNTADMIN"),
            ("APPLY ROW ACCESS POLICY", "GOVERNANCE_ADMIN", "ACCOUNTADMIN"),
            ("APPLY TAG", "GOVERNANCE_ADMIN", "ACCOUNTADMIN"),
        ):
            g(privilege, "ACCOUNT", ACCOUNT_NAME, grantee, age if by == "" else 530, by)
        # Warehouses (seed.py's), owned by SYSADMIN.
        for warehouse, users in (
            ("ANALYTICS_WH", ("ANALYST", "ENGINEER", "BILLING_ANALYST")),
            ("TRANSFORM_WH", ("TRANSFORMER",)),
            ("LOADING_WH", ("LOADER",)),
            ("ADMIN_WH", ("SECURITYADMIN",)),
        ):
            g("OWNERSHIP", "WAREHOUSE", warehouse, "SYSADMIN", 690, "SYSADMIN")
            for grantee in users:
                g("USAGE", "WAREHOUSE", warehouse, grantee, 590, "SYSADMIN")
        g("OPERATE", "WAREHOUSE", "TRANSFORM_WH", "TRANSFORMER", 590, "SYSADMIN")
        # Databases and schemas.
        readers = {
            "CLINICAL.PUBLIC": ("ANALYST", "ENGINEER", "BILLING_ANALYST", "TRANSFORMER", "LOADER",
                                "PHI_READER"),
            "BILLING.PUBLIC": ("BILLING_ANALYST", "ENGINEER", "TRANSFORMER"),
            "ANALYTICS.MARTS": ("ANALYST", "BILLING_ANALYST", "TRANSFORMER"),
            "RAW.FIVETRAN_EHR": ("LOADER", "TRANSFORMER"),
        }  # fmt: skip
        for qualified, grantees in readers.items():
            database, schema = qualified.split(".")
            g("OWNERSHIP", "DATABASE", database, "SYSADMIN", 680, "SYSADMIN")
            g("OWNERSHIP", "SCHEMA", schema, "SYSADMIN", 680, "SYSADMIN", catalog=database)
            for grantee in grantees:
                g("USAGE", "DATABASE", database, grantee, 585, "SYSADMIN")
                g("USAGE", "SCHEMA", schema, grantee, 585, "SYSADMIN", catalog=database)
        g("OWNERSHIP", "DATABASE", "GOVERNANCE", "GOVERNANCE_ADMIN", 535, "SYSADMIN")
        for schema in ("POLICIES", "TAGS"):
            g("OWNERSHIP", "SCHEMA", schema, "GOVERNANCE_ADMIN", 535, "GOVERNANCE_ADMIN",
              catalog="GOVERNANCE")  # fmt: skip
        for privilege in ("CREATE TABLE", "CREATE VIEW"):
            g(privilege, "SCHEMA", "MARTS", "TRANSFORMER", 585, "SYSADMIN", catalog="ANALYTICS")
        g("CREATE TABLE", "SCHEMA", "FIVETRAN_EHR", "LOADER", 585, "SYSADMIN", catalog="RAW")
        g("CREATE STAGE", "SCHEMA", "FIVETRAN_EHR", "LOADER", 585, "SYSADMIN", catalog="RAW")
        # Tables, views and the stage of seed.py: (object, owner, {privilege: grantees}).
        objects: tuple[tuple[Any, str, dict[str, tuple[str, ...]]], ...] = (
            (PATIENTS, "SYSADMIN",
             {"SELECT": ("ANALYST", "ENGINEER", "PHI_READER", "TRANSFORMER")}),
            (ENCOUNTERS, "SYSADMIN",
             {"SELECT": ("ANALYST", "ENGINEER", "BILLING_ANALYST", "TRANSFORMER"),
              "INSERT": ("LOADER",), "UPDATE": ("ENGINEER", "LOADER")}),
            (LAB_RESULTS, "SYSADMIN", {"SELECT": ("ENGINEER", "TRANSFORMER")}),
            (CLAIMS, "SYSADMIN", {"SELECT": ("BILLING_ANALYST", "TRANSFORMER")}),
            (PAYERS, "SYSADMIN", {"SELECT": ("BILLING_ANALYST", "TRANSFORMER")}),
            (PATIENT_DAILY, "TRANSFORMER", {"SELECT": ("ANALYST", "BILLING_ANALYST")}),
            (PATIENT_SUMMARY, "TRANSFORMER", {"SELECT": ("ANALYST", "BILLING_ANALYST")}),
            (ENCOUNTERS_RAW, "LOADER", {"SELECT": ("TRANSFORMER",)}),
            (FIVETRAN_STAGE, "LOADER", {}),
        )  # fmt: skip
        for obj, owner, privileges in objects:
            database, schema, name = obj.name.split(".")
            kind = obj.domain.upper()
            g("OWNERSHIP", kind, name, owner, 570, "SYSADMIN", catalog=database, schema=schema)
            for privilege, grantees in privileges.items():
                for grantee in grantees:
                    g(privilege, kind, name, grantee, 560, owner, catalog=database, schema=schema)
        # SELECT on CLAIMS for ENGINEER: granted for a debugging ticket; apply_policy_changes
        # revokes it.
        g("SELECT", "TABLE", "CLAIMS", "ENGINEER", 40, "SYSADMIN", catalog="BILLING",
          schema="PUBLIC")  # fmt: skip
        # History: an over-broad grant revoked, and the dropped role's grant.
        g("SELECT", "TABLE", "PATIENTS", "LOADER", 500, "SYSADMIN", catalog="CLINICAL",
          schema="PUBLIC", deleted=480)  # fmt: skip
        g("SELECT", "TABLE", "PATIENTS", "LEGACY_REPORTING", 790, "SYSADMIN", catalog="CLINICAL",
          schema="PUBLIC", deleted=200)  # fmt: skip
        # Governance objects, owned by GOVERNANCE_ADMIN.
        for m in _MASKING:
            g("OWNERSHIP", "MASKING_POLICY", m.name, "GOVERNANCE_ADMIN", m.created_days,
              "GOVERNANCE_ADMIN", catalog="GOVERNANCE", schema="POLICIES",
              deleted=m.deleted_days)  # fmt: skip
        g("OWNERSHIP", "ROW_ACCESS_POLICY", "FACILITY_RAP", "GOVERNANCE_ADMIN", 380,
          "GOVERNANCE_ADMIN", catalog="GOVERNANCE", schema="POLICIES")  # fmt: skip
        for tag in _TAG_IDS:
            g("OWNERSHIP", "TAG", tag, "GOVERNANCE_ADMIN", 420, "GOVERNANCE_ADMIN",
              catalog="GOVERNANCE", schema="TAGS")  # fmt: skip
        return out

    def masking_policies(self) -> list[tuple[Any, ...]]:
        out = []
        for m in _MASKING:
            created_key = f"mp:{m.name}"
            altered_key = created_key if m.altered_days == m.created_days else f"mp-alter:{m.name}"
            out.append(_row(
                au.MASKING_POLICIES,
                POLICY_NAME=m.name,
                POLICY_ID=m.policy_id,
                POLICY_SCHEMA_ID=_SCHEMA_IDS["GOVERNANCE.POLICIES"],
                POLICY_SCHEMA="POLICIES",
                POLICY_CATALOG_ID=_DATABASE_IDS["GOVERNANCE"],
                POLICY_CATALOG="GOVERNANCE",
                POLICY_OWNER="GOVERNANCE_ADMIN",
                POLICY_SIGNATURE=m.signature,
                POLICY_RETURN_TYPE=m.return_type,
                POLICY_BODY=m.body,
                POLICY_COMMENT=json.dumps(m.comment),
                CREATED=self.ago(m.created_days, created_key),
                LAST_ALTERED=self.ago(m.altered_days, altered_key),
                DELETED=self.maybe_ago(m.deleted_days, f"mp-drop:{m.name}"),
                OWNER_ROLE_TYPE=None if m.deleted_days else "ROLE",
            ))  # fmt: skip
        return out

    def row_access_policies(self) -> list[tuple[Any, ...]]:
        return [
            _row(
                au.ROW_ACCESS_POLICIES,
                POLICY_NAME="FACILITY_RAP",
                POLICY_ID=_RAP_ID,
                POLICY_SCHEMA_ID=_SCHEMA_IDS["GOVERNANCE.POLICIES"],
                POLICY_SCHEMA="POLICIES",
                POLICY_CATALOG_ID=_DATABASE_IDS["GOVERNANCE"],
                POLICY_CATALOG="GOVERNANCE",
                POLICY_OWNER="GOVERNANCE_ADMIN",
                POLICY_SIGNATURE="(FACILITY_ID NUMBER)",
                POLICY_RETURN_TYPE="BOOLEAN",
                POLICY_BODY=_RAP_BODY,
                POLICY_COMMENT=json.dumps("Encounters: only the facilities a role is entitled to"),
                CREATED=self.ago(380, "rap"),
                LAST_ALTERED=self.ago(350, "rap-alter"),
                OWNER_ROLE_TYPE="ROLE",
            )
        ]

    def policy_references(self) -> list[tuple[Any, ...]]:
        out = []
        for (table, column), policy in MASKED.items():
            database, schema, name = table.split(".")
            out.append(
                _row(
                    au.POLICY_REFERENCES,
                    POLICY_DB="GOVERNANCE",
                    POLICY_SCHEMA="POLICIES",
                    POLICY_ID=policy.policy_id,
                    POLICY_NAME=policy.name.rsplit(".", 1)[1],
                    POLICY_KIND="MASKING_POLICY",
                    REF_DATABASE_NAME=database,
                    REF_SCHEMA_NAME=schema,
                    REF_ENTITY_NAME=name,
                    REF_ENTITY_DOMAIN="TABLE",
                    REF_COLUMN_NAME=column,
                    POLICY_STATUS="ACTIVE",
                )
            )
        database, schema, name = ENCOUNTERS.name.split(".")
        out.append(
            _row(
                au.POLICY_REFERENCES,
                POLICY_DB="GOVERNANCE",
                POLICY_SCHEMA="POLICIES",
                POLICY_ID=_RAP_ID,
                POLICY_NAME="FACILITY_RAP",
                POLICY_KIND="ROW_ACCESS_POLICY",
                REF_DATABASE_NAME=database,
                REF_SCHEMA_NAME=schema,
                REF_ENTITY_NAME=name,
                REF_ENTITY_DOMAIN="TABLE",
                REF_ARG_COLUMN_NAMES='[ "FACILITY_ID" ]',
                POLICY_STATUS="ACTIVE",
            )
        )
        # Network policies are account-level objects (no database or schema).
        for user in ("SVC_DBT_RUNNER", "SVC_FIVETRAN"):
            out.append(
                _row(
                    au.POLICY_REFERENCES,
                    POLICY_ID=4002,
                    POLICY_NAME="SERVICE_USERS_POLICY",
                    POLICY_KIND="NETWORK_POLICY",
                    REF_ENTITY_NAME=user,
                    REF_ENTITY_DOMAIN="USER",
                    POLICY_STATUS="ACTIVE",
                )
            )
        return out

    def tag_references(self) -> list[tuple[Any, ...]]:
        out = []

        def tag(
            tag_db: str,
            tag_schema: str,
            tag_name: str,
            tag_id: int | None,
            value: str,
            obj: Any,
            column: str | None,
            method: str = "MANUAL",
            deleted: float | None = None,
        ) -> None:
            database, schema, name = obj.name.split(".")
            out.append(
                _row(
                    au.TAG_REFERENCES,
                    TAG_DATABASE=tag_db,
                    TAG_SCHEMA=tag_schema,
                    TAG_ID=tag_id,
                    TAG_NAME=tag_name,
                    TAG_VALUE=value,
                    OBJECT_DATABASE=database,
                    OBJECT_SCHEMA=schema,
                    OBJECT_ID=obj.object_id,
                    OBJECT_NAME=name,
                    OBJECT_DELETED=self.maybe_ago(deleted, f"tag-drop:{obj.name}"),
                    DOMAIN="COLUMN" if column else obj.domain.upper(),
                    COLUMN_ID=obj.column_id(column) if column else None,
                    COLUMN_NAME=column,
                    APPLY_METHOD=method,
                )
            )

        for obj, column, value in _PHI_COLUMNS:
            tag("GOVERNANCE", "TAGS", "PHI", _TAG_IDS["PHI"], value, obj, column)
        for obj, column, value in _PII_COLUMNS:
            tag("GOVERNANCE", "TAGS", "PII", _TAG_IDS["PII"], value, obj, column)
        for obj, value in _DATA_DOMAINS:
            tag("GOVERNANCE", "TAGS", "DATA_DOMAIN", _TAG_IDS["DATA_DOMAIN"], value, obj, None)
        tag("GOVERNANCE", "TAGS", "CRITICAL", _TAG_IDS["CRITICAL"], "revenue", CLAIMS, None)
        # Classification's system tags (no TAG_ID), on the SSN column.
        tag("SNOWFLAKE", "CORE", "SEMANTIC_CATEGORY", None, "NATIONAL_IDENTIFIER", PATIENTS,
            "SSN", "CLASSIFIED")  # fmt: skip
        tag("SNOWFLAKE", "CORE", "PRIVACY_CATEGORY", None, "IDENTIFIER", PATIENTS, "SSN",
            "CLASSIFIED")  # fmt: skip
        # History: an export table that was tagged, then dropped.
        export = _DroppedTable("ANALYTICS.MARTS.PATIENT_EXPORT_TMP", 1010, ("PATIENT_ID", "SSN"))
        tag("GOVERNANCE", "TAGS", "PHI", _TAG_IDS["PHI"], "ssn", export, "SSN", deleted=45)
        return out

    def network_policies(self) -> list[tuple[Any, ...]]:
        policies = (
            (4000, "OLD_OFFICE_POLICY", "Old office egress", 800, 300, "192.0.2.128/25", None),
            (4001, "CORP_VPN_POLICY", "Corporate VPN egress; the account's policy (SEC-412)",
             200, None, "198.51.100.0/24", None),
            (4002, "SERVICE_USERS_POLICY", "dbt Cloud and Fivetran egress IPs", 590, None,
             "192.0.2.0/28,192.0.2.80/28", None),
        )  # fmt: skip
        return [
            _row(
                au.NETWORK_POLICIES,
                ID=policy_id,
                NAME=name,
                OWNER="SECURITYADMIN",
                OWNER_ROLE_TYPE=None if deleted else "ROLE",
                COMMENT=comment,
                CREATED=self.ago(created, f"np:{name}"),
                LAST_ALTERED=self.ago(created, f"np:{name}"),
                DELETED=self.maybe_ago(deleted, f"np-drop:{name}"),
                ALLOWED_IP_LIST=allowed,
                BLOCKED_IP_LIST=blocked,
            )
            for policy_id, name, comment, created, deleted, allowed, blocked in policies
        ]

    def password_policies(self) -> list[tuple[Any, ...]]:
        return [
            _row(
                au.PASSWORD_POLICIES,
                NAME="HUMAN_PASSWORD_POLICY",
                ID=5001,
                SCHEMA_ID=str(_SCHEMA_IDS["GOVERNANCE.POLICIES"]),
                SCHEMA="POLICIES",
                DATABASE_ID=str(_DATABASE_IDS["GOVERNANCE"]),
                DATABASE="GOVERNANCE",
                OWNER="SECURITYADMIN",
                OWNER_ROLE_TYPE="ROLE",
                PASSWORD_MIN_LENGTH=14,
                PASSWORD_MAX_LENGTH=256,
                PASSWORD_MIN_UPPER_CASE_CHARS=1,
                PASSWORD_MIN_LOWER_CASE_CHARS=1,
                PASSWORD_MIN_NUMERIC_CHARS=1,
                PASSWORD_MIN_SPECIAL_CHARS=1,
                PASSWORD_MIN_AGE_DAYS=1,
                PASSWORD_MAX_AGE_DAYS=90,
                PASSWORD_MAX_RETRIES=5,
                PASSWORD_LOCKOUT_TIME_MINS=15,
                COMMENT="HIPAA password standard for people",
                CREATED=self.ago(500, "pp"),
                LAST_ALTERED=self.ago(120, "pp-alter"),
                PASSWORD_HISTORY=12,
            )
        ]

    def session_policies(self) -> list[tuple[Any, ...]]:
        return [
            _row(
                au.SESSION_POLICIES,
                ID=6001,
                NAME="HIPAA_SESSION_POLICY",
                SCHEMA_ID=str(_SCHEMA_IDS["GOVERNANCE.POLICIES"]),
                SCHEMA="POLICIES",
                DATABASE_ID=str(_DATABASE_IDS["GOVERNANCE"]),
                DATABASE="GOVERNANCE",
                OWNER="SECURITYADMIN",
                OWNER_ROLE_TYPE="ROLE",
                SESSION_IDLE_TIMEOUT_MINS=15,
                SESSION_UI_IDLE_TIMEOUT_MINS=15,
                SESSION_MAX_LIFESPAN_MINS=720,
                SESSION_UI_MAX_LIFESPAN_MINS=720,
                COMMENT="Automatic logoff after 15 idle minutes (HIPAA 164.312(a)(2)(iii))",
                CREATED=self.ago(480, "sp"),
                LAST_ALTERED=self.ago(480, "sp"),
            )
        ]

    # -- CIS evidence beyond the policy views ---------------------------------

    def cis_rows(self) -> dict[str, list[dict[str, Any]]]:
        """Rows of the FAKE_SHOW tables and of TABLES / PROCEDURES, by table name."""
        return {
            "TABLES": self.tables(),
            "PROCEDURES": self.procedures(),
            "PARAMETERS_IN_ACCOUNT": self.account_parameters(),
            "SECURITY_INTEGRATIONS": self.security_integrations(),
            "STAGES": self.stages(),
            "RESOURCE_MONITORS": self.resource_monitors(),
            "WAREHOUSES": self.warehouses(),
            "TASKS": self.tasks(),
            "USER_PARAMETERS": self.user_parameters(),
            "USER_PROPERTIES": self.user_properties(),
        }

    def tables(self) -> list[dict[str, Any]]:
        # (object, owner, retention days, row count)
        tables = (
            (PATIENTS, "SYSADMIN", 90, 48_210),
            (ENCOUNTERS, "SYSADMIN", 1, 912_004),  # PHI-tagged, 1 day: fails the 90-day rule
            (LAB_RESULTS, "SYSADMIN", 90, 2_310_577),
            (CLAIMS, "SYSADMIN", 90, 1_044_318),  # CRITICAL-tagged
            (PAYERS, "SYSADMIN", 1, 212),
            (PATIENT_DAILY, "TRANSFORMER", 1, 48_190),
            (PATIENT_SUMMARY, "TRANSFORMER", 1, 48_190),
            (ENCOUNTERS_RAW, "LOADER", 1, 913_530),
        )
        out = []
        for obj, owner, retention, row_count in tables:
            database, schema, name = obj.name.split(".")
            view = obj.domain == "View"
            out.append({
                "TABLE_ID": obj.object_id,
                "TABLE_NAME": name,
                "TABLE_SCHEMA_ID": _SCHEMA_IDS[f"{database}.{schema}"],
                "TABLE_SCHEMA": schema,
                "TABLE_CATALOG_ID": _DATABASE_IDS[database],
                "TABLE_CATALOG": database,
                "TABLE_OWNER": owner,
                "TABLE_TYPE": "VIEW" if view else "BASE TABLE",
                "IS_TRANSIENT": "NO",
                "ROW_COUNT": None if view else row_count,
                "BYTES": None if view else row_count * 96,
                "RETENTION_TIME": None if view else retention,
                "CREATED": self.ago(570, f"table:{obj.name}"),
                "LAST_ALTERED": self.ago(0.5, f"table-alter:{obj.name}"),
                "LAST_DDL": self.ago(200, f"table-ddl:{obj.name}"),
                "LAST_DDL_BY": owner,
                "AUTO_CLUSTERING_ON": "NO",
                "OWNER_ROLE_TYPE": "ROLE",
            })  # fmt: skip
        export = "ANALYTICS.MARTS.PATIENT_EXPORT_TMP"
        out.append({
            "TABLE_ID": 1010, "TABLE_NAME": "PATIENT_EXPORT_TMP",
            "TABLE_SCHEMA_ID": _SCHEMA_IDS["ANALYTICS.MARTS"], "TABLE_SCHEMA": "MARTS",
            "TABLE_CATALOG_ID": _DATABASE_IDS["ANALYTICS"], "TABLE_CATALOG": "ANALYTICS",
            "TABLE_OWNER": None, "TABLE_TYPE": "BASE TABLE", "IS_TRANSIENT": "YES",
            "RETENTION_TIME": 0, "CREATED": self.ago(60, f"table:{export}"),
            "LAST_ALTERED": self.ago(45, f"tag-drop:{export}"),
            "DELETED": self.ago(45, f"tag-drop:{export}"),
        })  # fmt: skip
        return out

    def procedures(self) -> list[dict[str, Any]]:
        procs = (
            ("ANALYTICS", "MARTS", "REFRESH_MARTS", "TRANSFORMER", "()", "SQL",
             "Rebuilds the marts after dbt", 300, None),
            ("GOVERNANCE", "POLICIES", "ROTATE_SERVICE_KEYS", "ACCOUNTADMIN",
             "(USER_NAME VARCHAR)", "PYTHON", "Sets RSA_PUBLIC_KEY_2 and swaps keys", 250, None),
            ("GOVERNANCE", "POLICIES", "DISABLE_INACTIVE_USERS", "OPS_AUTOMATION",
             "(IDLE_DAYS NUMBER)", "SQL", "Disables users idle for IDLE_DAYS", 310, None),
            ("RAW", "FIVETRAN_EHR", "LEGACY_LOAD", "LOADER", "()", "JAVASCRIPT",
             "Old EHR load (replaced by Fivetran)", 800, 150),
        )  # fmt: skip
        return [
            {
                "PROCEDURE_CATALOG": db,
                "PROCEDURE_SCHEMA": schema,
                "PROCEDURE_NAME": name,
                "PROCEDURE_OWNER": None if deleted else owner,
                "ARGUMENT_SIGNATURE": signature,
                "DATA_TYPE": "VARCHAR",
                "PROCEDURE_LANGUAGE": language,
                "PROCEDURE_DEFINITION": "...",
                "CREATED": self.ago(created, f"proc:{name}"),
                "LAST_ALTERED": self.ago(created, f"proc:{name}"),
                "COMMENT": comment,
                "DELETED": self.maybe_ago(deleted, f"proc-drop:{name}"),
                "OWNER_ROLE_TYPE": None if deleted else "ROLE",
                "PROCEDURE_SCHEMA_ID": _SCHEMA_IDS[f"{db}.{schema}"],
                "PROCEDURE_CATALOG_ID": _DATABASE_IDS[db],
            }
            for db, schema, name, owner, signature, language, comment, created, deleted in procs
        ]

    def account_parameters(self) -> list[dict[str, Any]]:
        # (key, value, default, level, type, description)
        params = (
            ("CLIENT_ENCRYPTION_KEY_SIZE", "256", "128", "ACCOUNT", "NUMBER",
             "Client-side encryption key size in bits. Either 128 or 256."),
            ("DATA_RETENTION_TIME_IN_DAYS", "1", "1", "", "NUMBER",
             "number of days to retain the old version of deleted/updated data"),
            ("MIN_DATA_RETENTION_TIME_IN_DAYS", "1", "0", "ACCOUNT", "NUMBER",
             "minimum number of days to retain the old version of deleted/updated data"),
            ("NETWORK_POLICY", "CORP_VPN_POLICY", "", "ACCOUNT", "STRING",
             "Network policy assigned for the given target."),
            ("PERIODIC_DATA_REKEYING", "false", "false", "", "BOOLEAN",
             "Enables periodic rekeying of data older than one year."),
            ("PREVENT_UNLOAD_TO_INLINE_URL", "false", "false", "", "BOOLEAN",
             "Prevent COPY INTO <location> statements that unload to an inline URL."),
            ("PREVENT_UNLOAD_TO_INTERNAL_STAGES", "false", "false", "", "BOOLEAN",
             "Prevent unloading data to internal stages."),
            ("REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION", "true", "false", "ACCOUNT",
             "BOOLEAN", "Require a storage integration when creating an external stage."),
            ("REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION", "false", "false", "", "BOOLEAN",
             "Require a storage integration when loading from or unloading to a location."),
            ("SAML_IDENTITY_PROVIDER", "", "", "", "STRING",
             "Authentication attributes for the SAML identity provider (deprecated)."),
            ("SSO_LOGIN_PAGE", "false", "false", "", "BOOLEAN",
             "Enable the federated authentication login page (deprecated)."),
            ("STATEMENT_TIMEOUT_IN_SECONDS", "14400", "172800", "ACCOUNT", "NUMBER",
             "Timeout in seconds for statements."),
            ("TIMEZONE", "America/New_York", "America/Los_Angeles", "ACCOUNT", "STRING",
             "time zone"),
        )  # fmt: skip
        return [
            {"key": k, "value": v, "default": d, "level": lvl, "description": desc, "type": t}
            for k, v, d, lvl, t, desc in params
        ]

    def security_integrations(self) -> list[dict[str, Any]]:
        integrations = (
            ("OKTA_SSO", "SAML2", True, "Okta SSO for people", 520),
            ("OKTA_PROVISIONING", "SCIM - OKTA", True, "Okta provisions users and roles", 515),
            ("TABLEAU_OAUTH", "OAUTH - TABLEAU_SERVER", False, "Retired with SVC_TABLEAU", 700),
        )
        return [
            {
                "name": name,
                "type": kind,
                "category": "SECURITY",
                "enabled": enabled,
                "comment": comment,
                "created_on": self.ago(days, f"integration:{name}"),
            }
            for name, kind, enabled, comment, days in integrations
        ]

    def stages(self) -> list[dict[str, Any]]:
        base = {
            "region": None,
            "cloud": None,
            "notification_channel": None,
            "endpoint": None,
            "owner_role_type": "ROLE",
            "directory_enabled": "N",
            "has_encryption_key": "N",
        }
        return [
            {
                **base,
                "created_on": self.ago(590, "stage:FIVETRAN_STAGE"),
                "name": FIVETRAN_STAGE.name.rsplit(".", 1)[1],
                "database_name": "RAW",
                "schema_name": "FIVETRAN_EHR",
                "url": "",
                "has_credentials": "N",
                "owner": "LOADER",
                "comment": "Fivetran file landing",
                "type": "INTERNAL",
                "storage_integration": None,
            },
            {
                **base,
                "created_on": self.ago(420, "stage:EHR_LANDING_S3"),
                "name": "EHR_LANDING_S3",
                "database_name": "RAW",
                "schema_name": "FIVETRAN_EHR",
                "url": "s3://acme-ehr-landing/exports/",
                "has_credentials": "N",
                "owner": "LOADER",
                "comment": "EHR bulk exports",
                "region": "us-east-1",
                "type": "EXTERNAL",
                "cloud": "AWS",
                "storage_integration": "EHR_S3_INTEGRATION",
            },
            {
                **base,
                "created_on": self.ago(610, "stage:PARTNER_EXPORT_S3"),
                "name": "PARTNER_EXPORT_S3",
                "database_name": "ANALYTICS",
                "schema_name": "MARTS",
                "url": "s3://bi-partners-exchange/acme/",
                "has_credentials": "Y",
                "owner": "TRANSFORMER",
                "comment": "Dashboard extracts for BI partners (keys in the stage)",
                "region": "us-east-1",
                "type": "EXTERNAL",
                "cloud": "AWS",
                "storage_integration": None,
            },
        ]

    def resource_monitors(self) -> list[dict[str, Any]]:
        start = self.ago(600, "monitors").replace(hour=0, minute=0, second=0, microsecond=0)
        return [
            {
                "name": name,
                "credit_quota": quota,
                "used_credits": used,
                "remaining_credits": quota - used,
                "level": "WAREHOUSE",
                "frequency": "MONTHLY",
                "start_time": start,
                "end_time": None,
                "notify_at": "75%,90%",
                "suspend_at": "100%",
                "suspend_immediately_at": "110%",
                "created_on": start,
                "owner": "ACCOUNTADMIN",
                "comment": comment,
                "notify_users": "DAVE_ADMIN",
            }
            for name, quota, used, comment in (
                ("ANALYTICS_MONITOR", 400, 212.5, "Analysts' monthly budget"),
                ("ETL_MONITOR", 900, 604.25, "Loading and dbt"),
            )
        ]

    def warehouses(self) -> list[dict[str, Any]]:
        out = []
        for name, size, monitor, state in (
            ("ADMIN_WH", "X-Small", "null", "SUSPENDED"),
            ("ANALYTICS_WH", "Small", "ANALYTICS_MONITOR", "STARTED"),
            ("LOADING_WH", "X-Small", "ETL_MONITOR", "STARTED"),
            ("TRANSFORM_WH", "Medium", "ETL_MONITOR", "SUSPENDED"),
        ):
            running = 1 if state == "STARTED" else 0
            out.append({
                "name": name, "state": state, "type": "STANDARD", "size": size,
                "min_cluster_count": 1, "max_cluster_count": 1, "started_clusters": running,
                "running": running, "queued": 0, "is_default": "N", "is_current": "N",
                "auto_suspend": 60, "auto_resume": "true", "available": "100" if running else "",
                "provisioning": "0" if running else "", "quiescing": "0" if running else "",
                "other": "0" if running else "",
                "created_on": self.ago(690, f"wh:{name}"),
                "resumed_on": self.ago(0.2, f"wh-resume:{name}"),
                "updated_on": self.ago(0.2, f"wh-resume:{name}"),
                "owner": "SYSADMIN", "comment": None, "enable_query_acceleration": "false",
                "query_acceleration_max_scale_factor": 8, "resource_monitor": monitor,
                "scaling_policy": "STANDARD", "owner_role_type": "ROLE",
            })  # fmt: skip
        return out

    def tasks(self) -> list[dict[str, Any]]:
        tasks = (
            ("NIGHTLY_MARTS_REFRESH", "ANALYTICS", "MARTS", "TRANSFORMER", "TRANSFORM_WH",
             "USING CRON 0 3 * * * UTC", "started", "CALL ANALYTICS.MARTS.REFRESH_MARTS()", 300),
            ("WEEKLY_KEY_ROTATION", "GOVERNANCE", "POLICIES", "ACCOUNTADMIN", "ADMIN_WH",
             "USING CRON 0 6 * * 1 UTC", "started",
             "CALL GOVERNANCE.POLICIES.ROTATE_SERVICE_KEYS('SVC_FIVETRAN')", 250),
            ("DAILY_INACTIVE_USER_SWEEP", "GOVERNANCE", "POLICIES", "OPS_AUTOMATION", "ADMIN_WH",
             "USING CRON 30 5 * * * UTC", "suspended",
             "CALL GOVERNANCE.POLICIES.DISABLE_INACTIVE_USERS(90)", 310),
        )  # fmt: skip
        return [
            {
                "created_on": self.ago(days, f"task:{name}"),
                "name": name,
                "id": f"01b{_hash(self.seed, name, 16**12):012x}",
                "database_name": db,
                "schema_name": schema,
                "owner": owner,
                "comment": None,
                "warehouse": warehouse,
                "schedule": schedule,
                "predecessors": "[]",
                "state": state,
                "definition": definition,
                "condition": None,
                "allow_overlapping_execution": "false",
                "error_integration": "null",
                "last_committed_on": self.ago(days - 1, f"task-commit:{name}"),
                "last_suspended_on": self.ago(2, f"task-suspend:{name}")
                if state == "suspended"
                else None,
                "owner_role_type": "ROLE",
                "config": None,
                "budget": None,
                "last_suspended_reason": "USER_SUSPENDED" if state == "suspended" else None,
            }
            for name, db, schema, owner, warehouse, schedule, state, definition, days in tasks
        ]

    def _active_people(self) -> list[_Person]:
        return [p for p in _PEOPLE if p.deleted_days is None]

    def user_parameters(self) -> list[dict[str, Any]]:
        out = []
        for p in self._active_people():
            policy = "SERVICE_USERS_POLICY" if p.name in _KEY_SET_DAYS else ""
            out.append({
                "user_name": p.name, "key": "NETWORK_POLICY", "value": policy, "default": "",
                "level": "USER" if policy else "", "type": "STRING",
                "description": "Network policy assigned for the given target.",
            })  # fmt: skip
        return out

    def user_properties(self) -> list[dict[str, Any]]:
        out = []
        for p in self._active_people():
            set_days = _KEY_SET_DAYS.get(p.name)
            if set_days is None:
                fingerprint = last_set = "null"
            else:
                digest = hashlib.sha256(f"{self.seed}|rsa|{p.name}".encode()).digest()
                fingerprint = "SHA256:" + base64.b64encode(digest).decode()
                last_set = self.ago(set_days, f"rsa:{p.name}").strftime(
                    "%Y-%m-%d %H:%M:%S.000 +0000"
                )
            # A few of the properties DESCRIBE USER returns besides the key's, so the
            # collector's filter has personal data to leave out.
            for prop, value, default, description in (
                ("NAME", p.name, "null", "Name"),
                ("DISPLAY_NAME", p.display, "null", "Display name of the associated object"),
                ("EMAIL", p.email or "null", "null", "Email address of the user"),
                ("PASSWORD", "********" if p.has_password else "null", "null", "Password"),
                ("RSA_PUBLIC_KEY_FP", fingerprint, "null", "Fingerprint of user's RSA public key."),
                ("RSA_PUBLIC_KEY_LAST_SET_TIME", last_set, "null",
                 "The timestamp at which the RSA public key was last set for the user."),
                ("RSA_PUBLIC_KEY_2_FP", "null", "null",
                 "Fingerprint of user's second RSA public key."),
                ("RSA_PUBLIC_KEY_2_LAST_SET_TIME", "null", "null",
                 "The timestamp at which the second RSA public key was last set for the user."),
            ):  # fmt: skip
                out.append(
                    {
                        "user_name": p.name,
                        "property": prop,
                        "value": value,
                        "default": default,
                        "description": description,
                    }
                )
        return out


@dataclass(frozen=True)
class _DroppedTable:
    """A table that no longer exists, for history rows (not one of seed.py's objects)."""

    name: str
    object_id: int
    columns: tuple[str, ...]
    domain: str = "Table"

    def column_id(self, column: str) -> int:
        return self.object_id * 100 + self.columns.index(column) + 1


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _grant_row(
    created: datetime,
    privilege: str,
    kind: str,
    name: str,
    catalog: str | None,
    schema: str | None,
    grantee: str,
    by: str,
    deleted: datetime | None,
    grant_option: bool,
) -> tuple[Any, ...]:
    # GRANTED_TO is 'ROLE' for account roles, as the view returns it (the page lists the kinds
    # as ACCOUNT ROLE, APPLICATION, ...).
    return _row(
        au.GRANTS_TO_ROLES,
        CREATED_ON=created,
        MODIFIED_ON=created,
        PRIVILEGE=privilege,
        GRANTED_ON=kind,
        NAME=name,
        TABLE_CATALOG=catalog,
        TABLE_SCHEMA=schema,
        GRANTED_TO="ROLE",
        GRANTEE_NAME=grantee,
        GRANT_OPTION=grant_option,
        GRANTED_BY=by,
        DELETED_ON=deleted,
        GRANTED_BY_ROLE_TYPE="ROLE" if by else None,
    )


def _row(view: str, **values: Any) -> tuple[Any, ...]:
    """A row of ``view`` in column order; columns not given are NULL."""
    names: Sequence[str] = au.columns(view)
    unknown = set(values) - set(names)
    if unknown:
        raise AssertionError(f"{view} has no column(s) {sorted(unknown)}")
    return tuple(values.get(name) for name in names)


def _hash(seed: int, key: str, modulus: int) -> int:
    """A stable (across processes and platforms) pseudo-random number in ``[0, modulus)``."""
    digest = hashlib.blake2b(f"{seed}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % modulus


def _midnight(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no time zone; pass an aware datetime")
    return ts.astimezone(UTC)


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise ValueError(f"policy state is not the seeded one: {problem}")


@contextmanager
def _transaction(duck: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction, so fakesnow sessions see the whole change or none of it."""
    duck.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        duck.execute("ROLLBACK")
        raise
    duck.execute("COMMIT")
