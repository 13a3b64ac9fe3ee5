"""CIS Snowflake Foundations v1.0.0 section 1 checks (reports/checks/cis_identity.py)."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from das_evidence.reports.checks import ALL_CHECKS, cis_identity
from das_evidence.reports.checks.cis import RECOMMENDATIONS
from das_evidence.reports.checks.identity import HumanUsersWithoutMfa
from das_evidence.reports.checks.interface import Check
from tests.unit.reports.checks import cis_identity_cases as cases
from tests.unit.reports.checks.cis_identity_cases import (
    ADMIN_GRANTS,
    ADMIN_USERS,
    AS_OF,
    PLATFORM_ADMIN,
    SYSTEM_HIERARCHY,
    account_policy_ref,
    integration,
    parameter,
    session_policy,
    snapshot,
    sso_login,
    user_keys,
)
from tests.unit.reports.checks.conftest import (
    END,
    NOW,
    POLICY_SCHEMAS,
    START,
    EvidenceBuilder,
    config,
    role_grant,
    user,
    user_grant,
)

CHECKS = {c.check_id: c for c in cis_identity.CIS_IDENTITY_CHECKS}

#: the first key of each failing fixture's findings: which subjects fail, and nothing else
FAILING_SUBJECTS: dict[str, list[str]] = {
    "sso-configured": ["ACME_PROD"],
    "scim-provisioning-configured": ["ACME_PROD"],
    "sso-users-with-password": ["BOB_ENGINEER"],
    "password-users-without-mfa": ["ERIN_CONTRACTOR"],
    "password-min-length": ["BREAK_GLASS"],
    "service-users-without-key-pair": ["LEGACY_LOADER"],
    "key-pairs-not-rotated": ["SVC_LOADER"],
    "inactive-users-enabled": ["OLD_CONTRACTOR"],
    "admin-session-idle-timeout": ["GRACE_SECURITY"],
    "admin-user-count": ["ACCOUNTADMIN"],
    "accountadmin-users-without-email": ["FRANK_ADMIN"],
    "admin-default-role": ["DAVE_ADMIN"],
    "admin-roles-granted-to-custom-roles": ["BREAKGLASS", "PLATFORM_ADMIN"],
    "tasks-owned-by-admin-roles": ["ANALYTICS.OPS.GRANT_SWEEPER"],
    "tasks-running-with-admin-privileges": ["ANALYTICS.OPS.GRANT_SWEEPER"],
    "procedures-owned-by-admin-roles": ["ANALYTICS.OPS.ROTATE_KEYS()"],
    "procedures-running-with-admin-privileges": ["ANALYTICS.OPS.ROTATE_KEYS()"],
}


def _subjects(findings: Any) -> list[str]:
    return [str(next(iter(f.values()))) for f in findings]


def test_one_check_per_automated_section_1_recommendation_in_benchmark_order() -> None:
    section_1 = [r.cis for r in RECOMMENDATIONS.values() if r.section == "1" and r.automated]
    assert [c.cis for c in cis_identity.CIS_IDENTITY_CHECKS] == section_1
    for check in cis_identity.CIS_IDENTITY_CHECKS:
        assert check.cis is not None
        assert check.title == RECOMMENDATIONS[check.cis].title
    # registered, together and in the same order
    ids = [c.check_id for c in ALL_CHECKS]
    first = ids.index(next(iter(CHECKS)))
    assert ids[first : first + len(CHECKS)] == list(CHECKS)
    assert set(FAILING_SUBJECTS) == set(cases.FAILING) == set(cases.PASSING) == set(CHECKS)


def test_every_check_class_in_the_module_has_a_cis_id_and_its_results_carry_it() -> None:
    classes = [
        cls
        for _, cls in inspect.getmembers(cis_identity, inspect.isclass)
        if issubclass(cls, Check) and cls.__module__ == cis_identity.__name__
        if not inspect.isabstract(cls)
    ]
    assert len(classes) == 17
    assert {type(c) for c in cis_identity.CIS_IDENTITY_CHECKS} == set(classes)
    for cls in classes:
        check = cls()
        assert cls.cis in RECOMMENDATIONS, cls.__name__
        evidence, cfg = cases.FAILING[check.check_id]()
        for result in (check.run(evidence, cfg), check.run(EvidenceBuilder().build(), cfg)):
            assert result.cis == cls.cis
            assert result.to_json()["cis"] == cls.cis


@pytest.mark.parametrize("check_id", list(CHECKS))
def test_failing_fixture_names_exactly_the_failing_subjects(check_id: str) -> None:
    evidence, cfg = cases.FAILING[check_id]()
    result = CHECKS[check_id].run(evidence, cfg)
    assert result.status == "fail", result.summary
    assert _subjects(result.findings) == FAILING_SUBJECTS[check_id]
    for finding in result.findings:
        assert finding["as_of"] == "2026-11-26T00:00:00Z"
    assert result.details["evaluated"] >= len(result.findings)
    assert not set(result.details["passed"]) & set(FAILING_SUBJECTS[check_id])


@pytest.mark.parametrize("check_id", list(CHECKS))
def test_passing_fixture_passes_and_lists_what_passed(check_id: str) -> None:
    evidence, cfg = cases.PASSING[check_id]()
    result = CHECKS[check_id].run(evidence, cfg)
    assert result.status == "pass", result.summary
    assert result.findings == ()
    assert result.details["evaluated"] >= 1
    assert len(result.details["passed"]) == result.details["evaluated"]


@pytest.mark.parametrize("check_id", list(CHECKS))
def test_a_view_recorded_not_evidenced_makes_the_check_not_evidenced(check_id: str) -> None:
    # Every other view is there, with the failing fixture's rows.
    evidence, cfg = cases.FAILING[check_id]()
    snap = evidence.latest_policy_snapshot()
    assert snap is not None
    views = {
        name: evidence.table(str(f["path"])).to_pylist()
        for name in snap.predicate["views"]
        for f in [snap.file(f"{name.lower()}.parquet")]
        if f is not None
    }
    for needed in cases.NEEDS[check_id]:
        reason = f"SHOW/SELECT on {needed} denied: GRANT the evidence role access"
        kept = {k: v for k, v in views.items() if k != needed}
        b = EvidenceBuilder()
        b.snapshot(AS_OF, kept, not_evidenced={needed: reason})
        for entry in evidence.entries:
            if entry.kind == "login_history":
                b.history("login_history", evidence.table(str(entry.files[0]["path"])).to_pylist())
        result = CHECKS[check_id].run(b.build(), cfg)
        assert result.status == "not_evidenced", (needed, result.summary)
        assert reason in result.summary
        assert result.findings == ()


@pytest.mark.parametrize("check_id", list(CHECKS))
def test_a_view_missing_from_the_snapshot_or_no_snapshot_is_not_evidenced(check_id: str) -> None:
    result = CHECKS[check_id].run(snapshot({"ROLES": []}), config())
    assert result.status == "not_evidenced"
    assert "does not list" in result.summary
    result = CHECKS[check_id].run(EvidenceBuilder().build(), config())
    assert result.status == "not_evidenced"
    assert "no policy-state snapshot" in result.summary


@pytest.mark.parametrize("check_id", list(CHECKS))
def test_age_is_measured_from_the_snapshot_not_the_clock(check_id: str) -> None:
    evidence, cfg = cases.PASSING[check_id]()
    later = config(now=NOW + timedelta(days=365))
    assert CHECKS[check_id].run(evidence, later).to_json() == (
        CHECKS[check_id].run(evidence, cfg).to_json()
    )


# -- 1.1, 1.2 -----------------------------------------------------------------------------


def test_sso_accepts_the_legacy_saml_account_parameter() -> None:
    check = CHECKS["sso-configured"]
    integrations = [integration("OKTA_PROVISIONING", "SCIM - OKTA")]
    legacy = snapshot(
        {
            "SHOW_SECURITY_INTEGRATIONS": integrations,
            "SHOW_PARAMETERS_IN_ACCOUNT": [
                parameter("SAML_IDENTITY_PROVIDER", '{"certificate": "MIIC", "ssoUrl": "x"}'),
                parameter("SSO_LOGIN_PAGE", "true", "false"),
            ],
        }
    )
    result = check.run(legacy, config())
    assert result.status == "pass"
    assert {r.path.rsplit("/", 1)[-1] for r in result.evidence} == {
        "show_security_integrations.parquet",
        "show_parameters_in_account.parquet",
    }
    unset = snapshot(
        {
            "SHOW_SECURITY_INTEGRATIONS": integrations,
            "SHOW_PARAMETERS_IN_ACCOUNT": [parameter("SAML_IDENTITY_PROVIDER", "")],
        }
    )
    assert check.run(unset, config()).status == "fail"


# -- 1.3 to 1.8 ---------------------------------------------------------------------------


def test_sso_password_honours_break_glass_users() -> None:
    evidence, _ = cases.sso_password_fail()
    result = CHECKS["sso-users-with-password"].run(
        evidence, config(sso_break_glass_users=("bob_engineer",))
    )
    assert result.status == "pass"
    assert result.details["break_glass"] == ["BOB_ENGINEER"]
    [finding] = CHECKS["sso-users-with-password"].run(evidence, config()).findings
    assert finding["sso_factor"] == "OAUTH_ACCESS_TOKEN"


def test_sso_password_needs_login_history_covering_the_period() -> None:
    check = CHECKS["sso-users-with-password"]
    users = {"USERS": [user("BOB_ENGINEER")]}
    result = check.run(snapshot(users), config())
    assert result.status == "not_evidenced"
    assert "LOGIN_HISTORY" in result.summary
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"USERS": [user("ALICE_ANALYST", HAS_PASSWORD=False), *users["USERS"]]})
    b.history(
        "login_history",
        [sso_login(START + timedelta(hours=3), "ALICE_ANALYST")],
        end=START + timedelta(days=2),
    )
    result = check.run(b.build(), config())
    assert result.status == "not_evidenced"
    assert "holes" in result.details


def test_sso_password_ignores_logins_after_the_snapshot() -> None:
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"USERS": [user("BOB_ENGINEER")]})
    b.history("login_history", [sso_login(AS_OF + timedelta(hours=5), "BOB_ENGINEER")])
    result = CHECKS["sso-users-with-password"].run(b.build(), config())
    assert result.status == "pass" and result.details["evaluated"] == 0


def test_cis_mfa_leaves_out_sso_only_users_that_the_platform_check_flags() -> None:
    evidence, cfg = cases.mfa_pass()
    assert CHECKS["password-users-without-mfa"].run(evidence, cfg).status == "pass"
    platform = HumanUsersWithoutMfa().run(evidence, cfg)
    assert [f["user"] for f in platform.findings] == ["OKTA_ONLY"]
    exempt = config(mfa_exempt_users=("erin_contractor",))
    evidence, _ = cases.mfa_fail()
    assert CHECKS["password-users-without-mfa"].run(evidence, exempt).status == "pass"


def test_password_length_fails_without_an_account_policy_and_for_a_short_one() -> None:
    check = CHECKS["password-min-length"]
    none = snapshot({"PASSWORD_POLICIES": [], "POLICY_REFERENCES": []})
    [finding] = check.run(none, config()).findings
    assert finding["account"] == "ACME_PROD" and finding["policy"] is None
    evidence, _ = cases.password_length_pass()
    result = check.run(evidence, config(min_password_length=16))
    assert _subjects(result.findings) == ["ACME_PROD"]
    assert result.findings[0]["password_min_length"] == 14
    assert result.details["passed"] == ["user BREAK_GLASS"]


def test_key_age_uses_both_slots_and_an_unknown_set_time_is_not_evidenced() -> None:
    check = CHECKS["key-pairs-not-rotated"]
    evidence, _ = cases.keys_fail()
    [finding] = check.run(evidence, config()).findings
    assert finding["key"] == "RSA_PUBLIC_KEY" and finding["age_days"] == 208.6
    assert finding["last_set_time"] == "2026-05-01T10:00:00Z"
    unknown = snapshot(
        {
            "USERS": [user("SVC_OLD", TYPE="SERVICE", HAS_RSA_PUBLIC_KEY=True)],
            "DESCRIBE_USER_KEYS": user_keys("SVC_OLD", ("SHA256:b2xk", "null")),
        }
    )
    result = check.run(unknown, config())
    assert result.status == "not_evidenced"
    assert result.details["undetermined"] == [
        {"user": "SVC_OLD", "key": "RSA_PUBLIC_KEY", "last_set_time": "null"}
    ]
    undescribed = snapshot(
        {
            "USERS": [user("SVC_NEW", TYPE="SERVICE", HAS_RSA_PUBLIC_KEY=True)],
            "DESCRIBE_USER_KEYS": [],
        }
    )
    assert check.run(undescribed, config()).status == "not_evidenced"


def test_inactive_counts_archived_logins_and_users_who_never_signed_in() -> None:
    check = CHECKS["inactive-users-enabled"]
    evidence, _ = cases.inactive_fail()
    assert check.run(evidence, config(inactive_user_max_age=timedelta(days=180))).status == "pass"
    b = EvidenceBuilder()
    b.snapshot(
        AS_OF,
        {
            "USERS": [
                user("OLD_CONTRACTOR", LAST_SUCCESS_LOGIN=AS_OF - timedelta(days=120)),
                user("NEVER_USED", CREATED_ON=AS_OF - timedelta(days=200)),
            ]
        },
    )
    b.history("login_history", [sso_login(START + timedelta(days=1), "OLD_CONTRACTOR")])
    result = check.run(b.build(), config())
    [never] = result.findings
    assert never["user"] == "NEVER_USED" and never["last_success_login"] is None
    assert never["inactive_days"] == 200.0
    assert result.details["passed"] == ["OLD_CONTRACTOR"]
    assert any(r.path.endswith(".parquet") and "login_history" in r.path for r in result.evidence)


# -- 1.9 to 1.13 --------------------------------------------------------------------------


def test_idle_timeout_user_policy_overrides_the_account_and_unset_is_four_hours() -> None:
    check = CHECKS["admin-session-idle-timeout"]
    evidence, _ = cases.idle_fail()
    [grace] = check.run(evidence, config()).findings
    assert grace["attached_to"] == "ACCOUNT" and grace["idle_timeout_mins"] == 60
    assert grace["ui_idle_timeout_mins"] == 240  # unset: Snowflake's default
    assert grace["roles"] == ["SECURITYADMIN"]
    views = {
        "GRANTS_TO_USERS": ADMIN_GRANTS,
        "GRANTS_TO_ROLES": SYSTEM_HIERARCHY,
        "USERS": ADMIN_USERS,
        "SESSION_POLICIES": [session_policy("ADMIN_SESSIONS", 4001, 10, 10)],
    }
    no_policy = check.run(snapshot({**views, "POLICY_REFERENCES": []}), config())
    assert _subjects(no_policy.findings) == ["DAVE_ADMIN", "FRANK_ADMIN", "GRACE_SECURITY"]
    account = [account_policy_ref("SESSION_POLICY", "ADMIN_SESSIONS", 4001)]
    assert check.run(snapshot({**views, "POLICY_REFERENCES": account}), config()).status == "pass"


def test_admin_count_counts_inherited_holders_against_the_maximum() -> None:
    check = CHECKS["admin-user-count"]
    evidence = snapshot(
        {
            "GRANTS_TO_USERS": [*ADMIN_GRANTS, user_grant("BREAKGLASS", "OPS_USER")],
            "GRANTS_TO_ROLES": [*SYSTEM_HIERARCHY, *PLATFORM_ADMIN],
            "USERS": [*ADMIN_USERS, user("OPS_USER")],
        }
    )
    result = check.run(evidence, config(admin_users_max=3))
    [finding] = result.findings
    assert finding["role"] == "ACCOUNTADMIN or SECURITYADMIN" and finding["max"] == 3
    assert finding["users"] == ["DAVE_ADMIN", "FRANK_ADMIN", "GRACE_SECURITY", "OPS_USER"]
    assert check.run(evidence, config(admin_users_max=4)).status == "pass"


def test_admin_count_ignores_grants_of_dropped_users() -> None:
    users = [*ADMIN_USERS, user("GONE_ADMIN", DELETED_ON=START)]
    evidence = snapshot(
        {
            "GRANTS_TO_USERS": [*ADMIN_GRANTS, user_grant("ACCOUNTADMIN", "GONE_ADMIN")],
            "GRANTS_TO_ROLES": SYSTEM_HIERARCHY,
            "USERS": users,
        }
    )
    result = CHECKS["admin-user-count"].run(evidence, config())
    assert result.details["accountadmin_users"] == ["DAVE_ADMIN", "FRANK_ADMIN"]


def test_email_follows_inherited_accountadmin(monkeypatch: pytest.MonkeyPatch) -> None:
    check = CHECKS["accountadmin-users-without-email"]
    evidence = snapshot(
        {
            "GRANTS_TO_USERS": [*ADMIN_GRANTS, user_grant("BREAKGLASS", "OPS_USER")],
            "GRANTS_TO_ROLES": [*SYSTEM_HIERARCHY, *PLATFORM_ADMIN],
            "USERS": [*ADMIN_USERS, user("OPS_USER")],
        }
    )
    [ops] = check.run(evidence, config()).findings
    assert ops["user"] == "OPS_USER"
    assert ops["via"] == ["ACCOUNTADMIN", "PLATFORM_ADMIN", "BREAKGLASS"]
    # The collector told to drop EMAIL: the column is gone and nothing can be decided.
    without = pa.schema([f for f in POLICY_SCHEMAS["USERS"] if f.name != "EMAIL"])
    monkeypatch.setitem(POLICY_SCHEMAS, "USERS", without)
    dropped = snapshot(
        {
            "GRANTS_TO_USERS": ADMIN_GRANTS,
            "GRANTS_TO_ROLES": SYSTEM_HIERARCHY,
            "USERS": [{k: v for k, v in u.items() if k != "EMAIL"} for u in ADMIN_USERS],
        }
    )
    result = check.run(dropped, config())
    assert result.status == "not_evidenced" and "EMAIL" in result.summary


def test_default_role_honours_the_configured_admin_roles() -> None:
    evidence, _ = cases.default_role_pass()
    result = CHECKS["admin-default-role"].run(
        evidence, config(admin_roles=("ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN"))
    )
    assert _subjects(result.findings) == ["GRACE_SECURITY"]


def test_custom_roles_name_the_chain_and_the_system_hierarchy_is_allowed() -> None:
    evidence, cfg = cases.custom_roles_fail()
    result = CHECKS["admin-roles-granted-to-custom-roles"].run(evidence, cfg)
    by_role = {f["role"]: f for f in result.findings}
    assert by_role["BREAKGLASS"]["via"]["ACCOUNTADMIN"] == [
        "ACCOUNTADMIN",
        "PLATFORM_ADMIN",
        "BREAKGLASS",
    ]
    assert by_role["PLATFORM_ADMIN"]["holds"] == ["ACCOUNTADMIN", "SECURITYADMIN"]
    assert "ACCOUNTADMIN" in result.details["passed"]
    revoked = snapshot(
        {
            "GRANTS_TO_ROLES": [
                *SYSTEM_HIERARCHY,
                role_grant("ACCOUNTADMIN", "PLATFORM_ADMIN", DELETED_ON=START),
            ]
        }
    )
    assert CHECKS["admin-roles-granted-to-custom-roles"].run(revoked, cfg).status == "pass"


# -- 1.14 to 1.17 -------------------------------------------------------------------------


def test_ownership_checks_differ_on_an_owner_that_inherits_an_admin_role() -> None:
    evidence, cfg = cases.tasks_privileges_fail()
    assert CHECKS["tasks-owned-by-admin-roles"].run(evidence, cfg).status == "pass"
    [task] = CHECKS["tasks-running-with-admin-privileges"].run(evidence, cfg).findings
    assert task["owner"] == "ETL_OWNER" and task["runs_with"] == ["SECURITYADMIN"]
    assert task["via"] == {"SECURITYADMIN": ["SECURITYADMIN", "ETL_OWNER"]}
    # owned by an admin role outright runs with its privileges too
    evidence, cfg = cases.procedures_owned_fail()
    with_grants = snapshot(
        {
            "PROCEDURES": evidence.table(
                next(
                    str(f["path"])
                    for f in evidence.entries[0].files
                    if str(f["path"]).endswith("procedures.parquet")
                )
            ).to_pylist(),
            "GRANTS_TO_ROLES": SYSTEM_HIERARCHY,
        }
    )
    [proc] = CHECKS["procedures-running-with-admin-privileges"].run(with_grants, cfg).findings
    assert proc["owner"] == "SECURITYADMIN"
    assert proc["runs_with"] == ["SECURITYADMIN"]


def test_results_are_plain_json_for_every_fixture() -> None:
    import json

    for check_id, check in CHECKS.items():
        for case in (cases.FAILING[check_id], cases.PASSING[check_id]):
            evidence, cfg = case()
            json.dumps(check.run(evidence, cfg).to_json(), allow_nan=False)
    assert END > AS_OF
