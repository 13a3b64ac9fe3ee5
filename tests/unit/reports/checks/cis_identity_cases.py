"""Failing and passing fixtures for the CIS section 1 checks, keyed by check id.

Modelled on the demo account: DAVE_ADMIN and FRANK_ADMIN hold ACCOUNTADMIN,
GRACE_SECURITY holds SECURITYADMIN, ALICE_ANALYST signs in through Okta, SVC_ETL is
a key-pair service user. ``cases.FAILING``/``cases.PASSING`` include these, so the
registry's contract tests run over them too.

The SHOW/DESCRIBE results and PROCEDURES are written with the columns and types
CONTRACT-12 gives them. ``conftest.POLICY_SCHEMAS`` gets a schema for each only
where the collector's own pinned schema (``POLICY_VIEWS``) does not list it yet;
once it does, the collector's schema is the one used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from das_evidence.collectors.snowflake.views import BOOL, TEXT, TS
from das_evidence.reports.checks import CheckContext
from das_evidence.reports.evidence import EvidenceSet
from tests.unit.reports.checks.conftest import (
    END,
    NOW,
    POLICY_SCHEMAS,
    EvidenceBuilder,
    config,
    login,
    role_grant,
    user,
    user_grant,
)

Case = Callable[[], tuple[EvidenceSet, CheckContext]]


def _schema(spec: str, types: Mapping[str, pa.DataType] | None = None) -> pa.Schema:
    names = [n.strip() for n in spec.split(",")]
    return pa.schema([pa.field(n, (types or {}).get(n, TEXT)) for n in names])


CONTRACT_SCHEMAS: dict[str, pa.Schema] = {
    "SHOW_SECURITY_INTEGRATIONS": _schema(
        "name, type, category, enabled, comment, created_on", {"enabled": BOOL, "created_on": TS}
    ),
    "SHOW_PARAMETERS_IN_ACCOUNT": _schema("key, value, default, level, description, type"),
    "SHOW_TASKS": _schema(
        "created_on, name, id, database_name, schema_name, owner, comment, warehouse, "
        "schedule, predecessors, state, definition, condition, allow_overlapping_execution, "
        "error_integration, last_committed_on, last_suspended_on, owner_role_type, config",
        {"created_on": TS},
    ),
    "SHOW_USER_NETWORK_POLICIES": _schema(
        "user_name, key, value, default, level, description, type"
    ),
    "DESCRIBE_USER_KEYS": _schema("user_name, property, value, default, description"),
    "PROCEDURES": _schema(
        "PROCEDURE_NAME, PROCEDURE_SCHEMA, PROCEDURE_CATALOG, PROCEDURE_OWNER, "
        "ARGUMENT_SIGNATURE, DATA_TYPE, PROCEDURE_LANGUAGE, CREATED, LAST_ALTERED, DELETED, "
        "OWNER_ROLE_TYPE",
        {"CREATED": TS, "LAST_ALTERED": TS, "DELETED": TS},
    ),
}
for _view, _s in CONTRACT_SCHEMAS.items():
    POLICY_SCHEMAS.setdefault(_view, _s)

AS_OF = END - timedelta(days=1)  # snapshots are on the day grid (00:00)
ADMIN_GRANTS = [
    user_grant("ACCOUNTADMIN", "DAVE_ADMIN"),
    user_grant("ACCOUNTADMIN", "FRANK_ADMIN"),
    user_grant("SECURITYADMIN", "GRACE_SECURITY"),
    user_grant("ANALYST", "ALICE_ANALYST"),
]
# The system hierarchy: SECURITYADMIN and SYSADMIN are granted *to* ACCOUNTADMIN.
SYSTEM_HIERARCHY = [
    role_grant("SYSADMIN", "ACCOUNTADMIN"),
    role_grant("SECURITYADMIN", "ACCOUNTADMIN"),
    role_grant("USERADMIN", "SECURITYADMIN"),
    role_grant("ANALYST", "SYSADMIN"),
    role_grant("ETL_ROLE", "SYSADMIN"),
]
ADMIN_USERS = [
    user("DAVE_ADMIN", EMAIL="9f2c" * 16, DEFAULT_ROLE="SYSADMIN"),
    user("FRANK_ADMIN", EMAIL="41d0" * 16, DEFAULT_ROLE="SYSADMIN"),
    user("GRACE_SECURITY", EMAIL="77ab" * 16, DEFAULT_ROLE="USERADMIN"),
    user("ALICE_ANALYST", EMAIL="03ee" * 16, DEFAULT_ROLE="ANALYST"),
]


def snapshot(views: Mapping[str, Sequence[Mapping[str, Any]]], **kwargs: Any) -> EvidenceSet:
    b = EvidenceBuilder()
    b.snapshot(AS_OF, views, **kwargs)
    return b.build()


# -- rows ---------------------------------------------------------------------------------


def integration(name: str, kind: str, *, enabled: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "category": "SECURITY",
        "enabled": enabled,
        "comment": None,
        "created_on": AS_OF - timedelta(days=400),
    }


def parameter(key: str, value: str, default: str = "") -> dict[str, Any]:
    return {
        "key": key,
        "value": value,
        "default": default,
        "level": "ACCOUNT" if value != default else "",
        "description": "",
        "type": "STRING",
    }


def sso_login(at: datetime, name: str, factor: str = "SAML2_ASSERTION") -> dict[str, Any]:
    return {
        **login(at, name, "198.51.100.23", ok=True),
        "FIRST_AUTHENTICATION_FACTOR": factor,
    }


def account_policy_ref(kind: str, name: str, policy_id: int) -> dict[str, Any]:
    return _policy_ref(kind, name, policy_id, "ACCOUNT", "ACME_PROD")


def user_policy_ref(kind: str, name: str, policy_id: int, user_name: str) -> dict[str, Any]:
    return _policy_ref(kind, name, policy_id, "USER", user_name)


def _policy_ref(kind: str, name: str, policy_id: int, domain: str, entity: str) -> dict[str, Any]:
    return {
        "POLICY_DB": "GOVERNANCE",
        "POLICY_SCHEMA": "POLICIES",
        "POLICY_ID": policy_id,
        "POLICY_NAME": name,
        "POLICY_KIND": kind,
        "REF_ENTITY_NAME": entity,
        "REF_ENTITY_DOMAIN": domain,
        "POLICY_STATUS": "ACTIVE",
    }


def password_policy(name: str, policy_id: int, min_length: int | None) -> dict[str, Any]:
    return {
        "NAME": name,
        "ID": policy_id,
        "SCHEMA": "POLICIES",
        "DATABASE": "GOVERNANCE",
        "OWNER": "SECURITYADMIN",
        "PASSWORD_MIN_LENGTH": min_length,
        "CREATED": AS_OF - timedelta(days=200),
    }


def session_policy(name: str, policy_id: int, idle: int | None, ui: int | None) -> dict[str, Any]:
    return {
        "ID": policy_id,
        "NAME": name,
        "SCHEMA": "POLICIES",
        "DATABASE": "GOVERNANCE",
        "OWNER": "SECURITYADMIN",
        "SESSION_IDLE_TIMEOUT_MINS": idle,
        "SESSION_UI_IDLE_TIMEOUT_MINS": ui,
        "CREATED": AS_OF - timedelta(days=200),
    }


def user_keys(name: str, *keys: tuple[str | None, str]) -> list[dict[str, Any]]:
    """DESCRIBE USER's key rows: one ``(fingerprint, last set time text)`` per key slot."""
    rows = []
    for slot, (fp, last_set) in zip(("RSA_PUBLIC_KEY", "RSA_PUBLIC_KEY_2"), keys, strict=False):
        rows.append({"user_name": name, "property": f"{slot}_FP", "value": fp or "null"})
        rows.append({"user_name": name, "property": f"{slot}_LAST_SET_TIME", "value": last_set})
    return [{**r, "default": "null", "description": ""} for r in rows]


def task(name: str, owner: str) -> dict[str, Any]:
    return {
        "created_on": AS_OF - timedelta(days=30),
        "name": name,
        "id": "01b2c3d4-0000-0001-0000-000000000001",
        "database_name": "ANALYTICS",
        "schema_name": "OPS",
        "owner": owner,
        "warehouse": "ETL_WH",
        "schedule": "USING CRON 0 3 * * * UTC",
        "state": "started",
        "definition": "CALL ANALYTICS.OPS.REFRESH()",
        "owner_role_type": "ROLE",
    }


def procedure(name: str, owner: str, **columns: Any) -> dict[str, Any]:
    return {
        "PROCEDURE_NAME": name,
        "PROCEDURE_SCHEMA": "OPS",
        "PROCEDURE_CATALOG": "ANALYTICS",
        "PROCEDURE_OWNER": owner,
        "ARGUMENT_SIGNATURE": "()",
        "DATA_TYPE": "VARCHAR",
        "PROCEDURE_LANGUAGE": "SQL",
        "CREATED": AS_OF - timedelta(days=60),
        "LAST_ALTERED": AS_OF - timedelta(days=60),
        "OWNER_ROLE_TYPE": "ROLE",
        **columns,
    }


# -- 1.1, 1.2 -----------------------------------------------------------------------------


def sso_fail() -> tuple[EvidenceSet, CheckContext]:
    rows = [
        integration("OKTA_SSO", "SAML2", enabled=False),
        integration("TABLEAU_OAUTH", "OAUTH - TABLEAU_DESKTOP"),
    ]
    return snapshot({"SHOW_SECURITY_INTEGRATIONS": rows}), config()


def sso_pass() -> tuple[EvidenceSet, CheckContext]:
    rows = [integration("OKTA_SSO", "SAML2"), integration("OKTA_PROVISIONING", "SCIM - OKTA")]
    return snapshot({"SHOW_SECURITY_INTEGRATIONS": rows}), config()


def scim_fail() -> tuple[EvidenceSet, CheckContext]:
    rows = [integration("OKTA_SSO", "SAML2"), integration("OLD_SCIM", "SCIM - OKTA", enabled=False)]
    return snapshot({"SHOW_SECURITY_INTEGRATIONS": rows}), config()


def scim_pass() -> tuple[EvidenceSet, CheckContext]:
    return sso_pass()


# -- 1.3 to 1.8 ---------------------------------------------------------------------------


def _sso_users(bob_password: bool) -> EvidenceSet:
    b = EvidenceBuilder()
    b.snapshot(
        AS_OF,
        {
            "USERS": [
                user("ALICE_ANALYST", HAS_PASSWORD=False),
                user("BOB_ENGINEER", HAS_PASSWORD=bob_password),
                user("SVC_ETL", TYPE="SERVICE", HAS_PASSWORD=False, HAS_RSA_PUBLIC_KEY=True),
            ]
        },
    )
    b.history(
        "login_history",
        [
            sso_login(AS_OF - timedelta(days=3), "ALICE_ANALYST"),
            sso_login(AS_OF - timedelta(days=2), "BOB_ENGINEER", "OAUTH_ACCESS_TOKEN"),
            {
                **login(AS_OF - timedelta(days=1), "SVC_ETL", "10.0.0.5", ok=True),
                "FIRST_AUTHENTICATION_FACTOR": "RSA_KEYPAIR",
            },
        ],
    )
    return b.build()


def sso_password_fail() -> tuple[EvidenceSet, CheckContext]:
    return _sso_users(bob_password=True), config()


def sso_password_pass() -> tuple[EvidenceSet, CheckContext]:
    return _sso_users(bob_password=False), config()


def _password_users(erin_mfa: bool) -> EvidenceSet:
    return snapshot(
        {
            "USERS": [
                user("ALICE_ANALYST"),
                user("ERIN_CONTRACTOR", mfa=erin_mfa),
                # SSO only: no password, so out of 1.4's scope (not of human-users-without-mfa).
                user("OKTA_ONLY", mfa=False, HAS_PASSWORD=False),
                user("LEGACY_LOADER", mfa=False, TYPE="LEGACY_SERVICE"),
                user("OLD_TEMP", mfa=False, DISABLED="true"),
            ]
        }
    )


def mfa_fail() -> tuple[EvidenceSet, CheckContext]:
    return _password_users(erin_mfa=False), config()


def mfa_pass() -> tuple[EvidenceSet, CheckContext]:
    return _password_users(erin_mfa=True), config()


def _password_policies(user_min: int) -> EvidenceSet:
    return snapshot(
        {
            "PASSWORD_POLICIES": [
                password_policy("ACCOUNT_PASSWORDS", 3001, 14),
                password_policy("BREAK_GLASS_PASSWORDS", 3002, user_min),
            ],
            "POLICY_REFERENCES": [
                account_policy_ref("PASSWORD_POLICY", "ACCOUNT_PASSWORDS", 3001),
                user_policy_ref("PASSWORD_POLICY", "BREAK_GLASS_PASSWORDS", 3002, "BREAK_GLASS"),
                account_policy_ref("SESSION_POLICY", "ADMIN_SESSIONS", 4001),
            ],
        }
    )


def password_length_fail() -> tuple[EvidenceSet, CheckContext]:
    return _password_policies(user_min=8), config()


def password_length_pass() -> tuple[EvidenceSet, CheckContext]:
    return _password_policies(user_min=20), config()


def _service_users(loader_key: bool) -> EvidenceSet:
    return snapshot(
        {
            "USERS": [
                user("SVC_ETL", TYPE="SERVICE", HAS_PASSWORD=False, HAS_RSA_PUBLIC_KEY=True),
                user(
                    "LEGACY_LOADER",
                    TYPE="LEGACY_SERVICE",
                    HAS_PASSWORD=not loader_key,
                    HAS_RSA_PUBLIC_KEY=loader_key,
                ),
                user("ALICE_ANALYST"),  # a person: not a service account
            ]
        }
    )


def service_fail() -> tuple[EvidenceSet, CheckContext]:
    return _service_users(loader_key=False), config()


def service_pass() -> tuple[EvidenceSet, CheckContext]:
    return _service_users(loader_key=True), config()


def _keys(loader_set: str) -> EvidenceSet:
    return snapshot(
        {
            "USERS": [
                user("SVC_ETL", TYPE="SERVICE", HAS_PASSWORD=False, HAS_RSA_PUBLIC_KEY=True),
                user("SVC_LOADER", TYPE="SERVICE", HAS_PASSWORD=False, HAS_RSA_PUBLIC_KEY=True),
                user("ALICE_ANALYST", HAS_RSA_PUBLIC_KEY=False),
            ],
            "DESCRIBE_USER_KEYS": [
                *user_keys(
                    "SVC_ETL",
                    ("SHA256:Zm9vYmFy", "2026-10-01 09:30:00.000 +0000"),
                    (None, "null"),
                ),
                # Mid-rotation: the new key in slot 2, the old one in slot 1.
                *user_keys(
                    "SVC_LOADER",
                    ("SHA256:b2xka2V5", loader_set),
                    ("SHA256:bmV3a2V5", "2026-11-20 08:00:00.000 +0000"),
                ),
            ],
        }
    )


def keys_fail() -> tuple[EvidenceSet, CheckContext]:
    return _keys("2026-05-01 10:00:00.000 +0000"), config()  # 209 days before as_of


def keys_pass() -> tuple[EvidenceSet, CheckContext]:
    return _keys("2026-06-10 10:00:00.000 +0000"), config()  # 169 days


def _inactive(old_disabled: str) -> EvidenceSet:
    return snapshot(
        {
            "USERS": [
                user("ALICE_ANALYST", LAST_SUCCESS_LOGIN=AS_OF - timedelta(days=2)),
                user(
                    "OLD_CONTRACTOR",
                    LAST_SUCCESS_LOGIN=AS_OF - timedelta(days=120),
                    DISABLED=old_disabled,
                ),
                user("NEW_HIRE", CREATED_ON=AS_OF - timedelta(days=5)),  # not signed in yet
            ]
        }
    )


def inactive_fail() -> tuple[EvidenceSet, CheckContext]:
    return _inactive("false"), config()


def inactive_pass() -> tuple[EvidenceSet, CheckContext]:
    return _inactive("true"), config()


# -- 1.9 to 1.13 --------------------------------------------------------------------------


def _sessions(grace_policy: bool) -> EvidenceSet:
    refs = [
        account_policy_ref("SESSION_POLICY", "DEFAULT_SESSIONS", 4002),
        user_policy_ref("SESSION_POLICY", "ADMIN_SESSIONS", 4001, "DAVE_ADMIN"),
        user_policy_ref("SESSION_POLICY", "ADMIN_SESSIONS", 4001, "FRANK_ADMIN"),
    ]
    if grace_policy:
        refs.append(user_policy_ref("SESSION_POLICY", "ADMIN_SESSIONS", 4001, "GRACE_SECURITY"))
    return snapshot(
        {
            "GRANTS_TO_USERS": ADMIN_GRANTS,
            "GRANTS_TO_ROLES": SYSTEM_HIERARCHY,
            "USERS": ADMIN_USERS,
            "POLICY_REFERENCES": refs,
            "SESSION_POLICIES": [
                session_policy("ADMIN_SESSIONS", 4001, 15, 10),
                session_policy("DEFAULT_SESSIONS", 4002, 60, None),
            ],
        }
    )


def idle_fail() -> tuple[EvidenceSet, CheckContext]:
    return _sessions(grace_policy=False), config()


def idle_pass() -> tuple[EvidenceSet, CheckContext]:
    return _sessions(grace_policy=True), config()


def _admins(*extra_grants: dict[str, Any]) -> EvidenceSet:
    return snapshot(
        {
            "GRANTS_TO_USERS": [*ADMIN_GRANTS, *extra_grants],
            "GRANTS_TO_ROLES": SYSTEM_HIERARCHY,
            "USERS": ADMIN_USERS,
        }
    )


def admin_count_fail() -> tuple[EvidenceSet, CheckContext]:
    # FRANK_ADMIN's grant was revoked: DAVE_ADMIN alone holds ACCOUNTADMIN.
    grants = [g for g in ADMIN_GRANTS if g["GRANTEE_NAME"] != "FRANK_ADMIN"]
    evidence = snapshot(
        {"GRANTS_TO_USERS": grants, "GRANTS_TO_ROLES": SYSTEM_HIERARCHY, "USERS": ADMIN_USERS}
    )
    return evidence, config()


def admin_count_pass() -> tuple[EvidenceSet, CheckContext]:
    return _admins(), config()


def _emails(frank_email: str | None) -> EvidenceSet:
    users = [u for u in ADMIN_USERS if u["NAME"] != "FRANK_ADMIN"]
    users.append(user("FRANK_ADMIN", EMAIL=frank_email))
    return snapshot(
        {"GRANTS_TO_USERS": ADMIN_GRANTS, "GRANTS_TO_ROLES": SYSTEM_HIERARCHY, "USERS": users}
    )


def email_fail() -> tuple[EvidenceSet, CheckContext]:
    return _emails(None), config()


def email_pass() -> tuple[EvidenceSet, CheckContext]:
    return _emails("41d0" * 16), config()


def _default_roles(dave_default: str) -> EvidenceSet:
    users = [u for u in ADMIN_USERS if u["NAME"] != "DAVE_ADMIN"]
    users.append(user("DAVE_ADMIN", DEFAULT_ROLE=dave_default))
    return snapshot({"USERS": users})


def default_role_fail() -> tuple[EvidenceSet, CheckContext]:
    return _default_roles("ACCOUNTADMIN"), config()


def default_role_pass() -> tuple[EvidenceSet, CheckContext]:
    return _default_roles("SYSADMIN"), config()


PLATFORM_ADMIN = [
    role_grant("ACCOUNTADMIN", "PLATFORM_ADMIN"),
    role_grant("PLATFORM_ADMIN", "BREAKGLASS"),
]


def custom_roles_fail() -> tuple[EvidenceSet, CheckContext]:
    return snapshot({"GRANTS_TO_ROLES": [*SYSTEM_HIERARCHY, *PLATFORM_ADMIN]}), config()


def custom_roles_pass() -> tuple[EvidenceSet, CheckContext]:
    return snapshot({"GRANTS_TO_ROLES": SYSTEM_HIERARCHY}), config()


# -- 1.14 to 1.17 -------------------------------------------------------------------------

# ETL_OWNER is a custom role that was granted SECURITYADMIN: it owns no admin role by
# name, but everything it owns runs with SECURITYADMIN's privileges.
ETL_OWNER_GRANTS = [*SYSTEM_HIERARCHY, role_grant("SECURITYADMIN", "ETL_OWNER")]


def tasks_owned_fail() -> tuple[EvidenceSet, CheckContext]:
    rows = [task("NIGHTLY_REFRESH", "ETL_ROLE"), task("GRANT_SWEEPER", "ACCOUNTADMIN")]
    return snapshot({"SHOW_TASKS": rows}), config()


def tasks_owned_pass() -> tuple[EvidenceSet, CheckContext]:
    rows = [task("NIGHTLY_REFRESH", "ETL_ROLE"), task("GRANT_SWEEPER", "ETL_OWNER")]
    return snapshot({"SHOW_TASKS": rows}), config()


def tasks_privileges_fail() -> tuple[EvidenceSet, CheckContext]:
    rows = [task("NIGHTLY_REFRESH", "ETL_ROLE"), task("GRANT_SWEEPER", "ETL_OWNER")]
    return snapshot({"SHOW_TASKS": rows, "GRANTS_TO_ROLES": ETL_OWNER_GRANTS}), config()


def tasks_privileges_pass() -> tuple[EvidenceSet, CheckContext]:
    rows = [task("NIGHTLY_REFRESH", "ETL_ROLE"), task("GRANT_SWEEPER", "ETL_OWNER")]
    return snapshot({"SHOW_TASKS": rows, "GRANTS_TO_ROLES": SYSTEM_HIERARCHY}), config()


def procedures_owned_fail() -> tuple[EvidenceSet, CheckContext]:
    rows = [procedure("REFRESH", "ETL_ROLE"), procedure("ROTATE_KEYS", "SECURITYADMIN")]
    return snapshot({"PROCEDURES": rows}), config()


def procedures_owned_pass() -> tuple[EvidenceSet, CheckContext]:
    rows = [procedure("REFRESH", "ETL_ROLE"), procedure("ROTATE_KEYS", "ETL_OWNER")]
    return snapshot({"PROCEDURES": rows}), config()


def procedures_privileges_fail() -> tuple[EvidenceSet, CheckContext]:
    rows = [procedure("REFRESH", "ETL_ROLE"), procedure("ROTATE_KEYS", "ETL_OWNER")]
    return snapshot({"PROCEDURES": rows, "GRANTS_TO_ROLES": ETL_OWNER_GRANTS}), config()


def procedures_privileges_pass() -> tuple[EvidenceSet, CheckContext]:
    rows = [procedure("REFRESH", "ETL_ROLE"), procedure("ROTATE_KEYS", "ETL_OWNER")]
    return snapshot({"PROCEDURES": rows, "GRANTS_TO_ROLES": SYSTEM_HIERARCHY}), config()


FAILING: dict[str, Case] = {
    "sso-configured": sso_fail,
    "scim-provisioning-configured": scim_fail,
    "sso-users-with-password": sso_password_fail,
    "password-users-without-mfa": mfa_fail,
    "password-min-length": password_length_fail,
    "service-users-without-key-pair": service_fail,
    "key-pairs-not-rotated": keys_fail,
    "inactive-users-enabled": inactive_fail,
    "admin-session-idle-timeout": idle_fail,
    "admin-user-count": admin_count_fail,
    "accountadmin-users-without-email": email_fail,
    "admin-default-role": default_role_fail,
    "admin-roles-granted-to-custom-roles": custom_roles_fail,
    "tasks-owned-by-admin-roles": tasks_owned_fail,
    "tasks-running-with-admin-privileges": tasks_privileges_fail,
    "procedures-owned-by-admin-roles": procedures_owned_fail,
    "procedures-running-with-admin-privileges": procedures_privileges_fail,
}

PASSING: dict[str, Case] = {
    "sso-configured": sso_pass,
    "scim-provisioning-configured": scim_pass,
    "sso-users-with-password": sso_password_pass,
    "password-users-without-mfa": mfa_pass,
    "password-min-length": password_length_pass,
    "service-users-without-key-pair": service_pass,
    "key-pairs-not-rotated": keys_pass,
    "inactive-users-enabled": inactive_pass,
    "admin-session-idle-timeout": idle_pass,
    "admin-user-count": admin_count_pass,
    "accountadmin-users-without-email": email_pass,
    "admin-default-role": default_role_pass,
    "admin-roles-granted-to-custom-roles": custom_roles_pass,
    "tasks-owned-by-admin-roles": tasks_owned_pass,
    "tasks-running-with-admin-privileges": tasks_privileges_pass,
    "procedures-owned-by-admin-roles": procedures_owned_pass,
    "procedures-running-with-admin-privileges": procedures_privileges_pass,
}

#: the views (and history) each check needs, for the not_evidenced cases
NEEDS: dict[str, tuple[str, ...]] = {
    "sso-configured": ("SHOW_SECURITY_INTEGRATIONS",),
    "scim-provisioning-configured": ("SHOW_SECURITY_INTEGRATIONS",),
    "sso-users-with-password": ("USERS",),
    "password-users-without-mfa": ("USERS",),
    "password-min-length": ("POLICY_REFERENCES", "PASSWORD_POLICIES"),
    "service-users-without-key-pair": ("USERS",),
    "key-pairs-not-rotated": ("USERS", "DESCRIBE_USER_KEYS"),
    "inactive-users-enabled": ("USERS",),
    "admin-session-idle-timeout": (
        "GRANTS_TO_USERS",
        "GRANTS_TO_ROLES",
        "USERS",
        "POLICY_REFERENCES",
        "SESSION_POLICIES",
    ),
    "admin-user-count": ("GRANTS_TO_USERS", "GRANTS_TO_ROLES", "USERS"),
    "accountadmin-users-without-email": ("GRANTS_TO_USERS", "GRANTS_TO_ROLES", "USERS"),
    "admin-default-role": ("USERS",),
    "admin-roles-granted-to-custom-roles": ("GRANTS_TO_ROLES",),
    "tasks-owned-by-admin-roles": ("SHOW_TASKS",),
    "tasks-running-with-admin-privileges": ("SHOW_TASKS", "GRANTS_TO_ROLES"),
    "procedures-owned-by-admin-roles": ("PROCEDURES",),
    "procedures-running-with-admin-privileges": ("PROCEDURES", "GRANTS_TO_ROLES"),
}

__all__ = ["FAILING", "NEEDS", "NOW", "PASSING"]
