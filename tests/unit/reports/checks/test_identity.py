"""MFA and ACCOUNTADMIN over the latest policy snapshot."""

from __future__ import annotations

from datetime import timedelta

from das_evidence.reports.checks.identity import AccountadminGrantees, HumanUsersWithoutMfa
from tests.unit.reports.checks import cases
from tests.unit.reports.checks.conftest import (
    START,
    EvidenceBuilder,
    config,
    role_grant,
    user,
    user_grant,
)

MFA = HumanUsersWithoutMfa()
ADMINS = AccountadminGrantees()


def test_mfa_fails_for_the_active_human_without_mfa_only() -> None:
    evidence, cfg = cases.mfa_fail()
    result = MFA.run(evidence, cfg)
    assert result.status == "fail"
    # Not the service user, the dropped user or the disabled one.
    assert [f["user"] for f in result.findings] == ["ERIN_CONTRACTOR"]
    [users_file] = result.evidence
    assert users_file.path.endswith("/users.parquet")
    assert result.details["human_users"] == 2


def test_mfa_passes_when_every_human_has_it() -> None:
    evidence, cfg = cases.mfa_pass()
    assert MFA.run(evidence, cfg).status == "pass"


def test_mfa_counts_duo_and_honours_the_exemption_list() -> None:
    b = EvidenceBuilder()
    b.snapshot(
        START + timedelta(days=1),
        {
            "USERS": [
                user("DUO_USER", mfa=False, EXT_AUTHN_DUO=True),
                user("BREAK_GLASS", mfa=False),
                user("NO_TYPE", mfa=None, TYPE=None),  # NULL type behaves as PERSON
            ]
        },
    )
    result = MFA.run(b.build(), config(mfa_exempt_users=("break_glass",)))
    assert [f["user"] for f in result.findings] == ["NO_TYPE"]
    assert result.details["exempted"] == ["BREAK_GLASS"]


def test_mfa_reads_the_latest_snapshot_and_is_not_evidenced_without_its_users() -> None:
    b = EvidenceBuilder()
    b.snapshot(START + timedelta(days=1), {"USERS": [user("ERIN_CONTRACTOR", mfa=False)]})
    b.snapshot(
        START + timedelta(days=2),
        {"ROLES": []},
        changes=[],
        not_evidenced={"USERS": "insufficient privileges"},
    )
    result = MFA.run(b.build(), config())
    assert result.status == "not_evidenced"
    assert "insufficient privileges" in result.summary


def test_mfa_is_not_evidenced_without_a_snapshot() -> None:
    result = MFA.run(EvidenceBuilder().build(), config())
    assert result.status == "not_evidenced"
    assert "no policy-state snapshot" in result.summary


def test_accountadmin_lists_the_active_holder_with_type_and_mfa() -> None:
    evidence, cfg = cases.accountadmin_fail()
    result = ADMINS.run(evidence, cfg)
    assert result.status == "fail"
    [dave] = result.findings  # BOB_ENGINEER's grant was revoked
    assert dave["user"] == "DAVE_ADMIN" and dave["via"] == ["ACCOUNTADMIN"]
    assert dave["type"] == "PERSON" and dave["has_mfa"] is True
    assert dave["granted_on"].endswith("Z")
    assert {r.path.rsplit("/", 1)[-1] for r in result.evidence} == {
        "grants_to_users.parquet",
        "grants_to_roles.parquet",
        "users.parquet",
    }


def test_accountadmin_passes_when_every_holder_is_allowlisted() -> None:
    evidence, cfg = cases.accountadmin_pass()
    result = ADMINS.run(evidence, cfg)
    assert result.status == "pass"
    assert result.details["holders"] == ["DAVE_ADMIN"]


def test_accountadmin_inherited_through_a_role_is_found() -> None:
    b = EvidenceBuilder()
    b.snapshot(
        START + timedelta(days=1),
        {
            "GRANTS_TO_USERS": [user_grant("BREAKGLASS", "OPS_USER")],
            "GRANTS_TO_ROLES": [
                role_grant("ACCOUNTADMIN", "PLATFORM_ADMIN"),
                role_grant("PLATFORM_ADMIN", "BREAKGLASS"),
                role_grant("ANALYST", "BREAKGLASS", DELETED_ON=START),  # revoked: ignored
            ],
        },
    )
    [finding] = ADMINS.run(b.build(), config()).findings
    assert finding["user"] == "OPS_USER"
    assert finding["via"] == ["ACCOUNTADMIN", "PLATFORM_ADMIN", "BREAKGLASS"]


def test_accountadmin_without_role_grants_can_fail_but_not_pass() -> None:
    direct = EvidenceBuilder()
    direct.snapshot(
        START + timedelta(days=1),
        {"GRANTS_TO_USERS": [user_grant("ACCOUNTADMIN", "DAVE_ADMIN")]},
        not_evidenced={"GRANTS_TO_ROLES": "denied"},
    )
    assert ADMINS.run(direct.build(), config()).status == "fail"
    allowed = ADMINS.run(direct.build(), config(accountadmin_allowlist=("DAVE_ADMIN",)))
    assert allowed.status == "not_evidenced"
    assert "inherited grants cannot be ruled out" in allowed.summary


def test_accountadmin_is_not_evidenced_without_grants_to_users() -> None:
    b = EvidenceBuilder()
    b.snapshot(START + timedelta(days=1), {"USERS": [user("DAVE_ADMIN")]})
    assert ADMINS.run(b.build(), config()).status == "not_evidenced"


def test_a_dropped_user_holds_nothing_even_if_the_grant_row_is_current() -> None:
    b = EvidenceBuilder()
    b.snapshot(
        START + timedelta(days=1),
        {
            "GRANTS_TO_USERS": [user_grant("ACCOUNTADMIN", "FRANK_ANALYST")],
            "GRANTS_TO_ROLES": [],
            "USERS": [user("FRANK_ANALYST", DELETED_ON=START)],
        },
    )
    result = ADMINS.run(b.build(), config())
    assert result.status == "pass" and result.details["holders"] == []
