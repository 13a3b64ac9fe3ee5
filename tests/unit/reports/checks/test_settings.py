"""``[checks]`` reaches the checks: the same evidence, another verdict, because of one setting.

The settings are read the way the CLI reads them (``load_settings`` on an
evidence.toml), then handed to the checks in a :class:`CheckContext`, so a key
that is misspelt, ignored or wired to the wrong check fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from das_evidence.config import ChecksConfig, load_settings
from das_evidence.reports.checks import CheckContext, run_checks
from tests.unit.reports.checks import cases
from tests.unit.reports.checks.conftest import NOW

BASE = """
[log]
origin = "evidence.example.com/checks-test"

[checks]
"""


def _settings(tmp_path: Path, checks: str) -> ChecksConfig:
    path = tmp_path / "evidence.toml"
    path.write_text(BASE + checks)
    return load_settings(path).checks


# (the [checks] lines, the check, the fixture, its verdict by default, its verdict with them)
FLIPS = [
    (
        'phi_reader_roles = ["PHI_READER", "analyst"]',
        "phi-reads-outside-allowlist",
        cases.phi_reads_fail,
        "fail",
        "pass",
    ),
    ("phi_reader_roles = []", "phi-reads-outside-allowlist", cases.phi_reads_pass, "pass", "fail"),
    (
        'phi_tags = ["PII"]',  # only SSN is tagged, and PHI: no read can be recognised
        "phi-reads-outside-allowlist",
        cases.phi_reads_fail,
        "fail",
        "not_evidenced",
    ),
    (
        'mfa_exempt_users = ["Erin_Contractor"]',
        "human-users-without-mfa",
        cases.mfa_fail,
        "fail",
        "pass",
    ),
    (
        'accountadmin_allowlist = ["DAVE_ADMIN"]',
        "accountadmin-grantees",
        cases.accountadmin_fail,
        "fail",
        "pass",
    ),
    (
        "failed_login_threshold = 13",
        "failed-login-bursts-per-user",
        cases.bursts_fail,
        "fail",
        "pass",
    ),
    (
        'failed_login_window = "30s"',
        "failed-login-bursts-per-ip",
        cases.bursts_fail,
        "fail",
        "pass",
    ),
    (
        'failed_login_threshold = 2\nfailed_login_window = "1d"',  # one failure a day
        "failed-login-bursts-per-user",
        cases.bursts_pass,
        "pass",
        "fail",
    ),
    (
        'sensitive_tags = ["PHI"]',
        "sensitive-columns-without-masking",
        cases.masking_fail,
        "fail",
        "pass",
    ),
    ('stale_after = "4d"', "stale-streams", cases.stale_fail, "fail", "pass"),
    (
        'dbt_sensitive_classifications = ["PCI"]',
        "sensitive-dbt-models-without-contract",
        cases.dbt_contracts_fail,
        "fail",
        "not_evidenced",
    ),
]


@pytest.mark.parametrize(
    ("lines", "check_id", "case", "default", "configured"),
    FLIPS,
    ids=[f"{f[1]}:{f[0]}" for f in FLIPS],
)
def test_a_setting_changes_the_verdict(
    tmp_path: Path,
    lines: str,
    check_id: str,
    case: cases.Case,
    default: str,
    configured: str,
) -> None:
    evidence, _ = case()
    [before] = run_checks(evidence, CheckContext(NOW, _settings(tmp_path, "")), only=[check_id])
    assert before.status == default, before.summary
    settings = _settings(tmp_path, lines + "\n")
    assert settings != ChecksConfig()
    [after] = run_checks(evidence, CheckContext(NOW, settings), only=[check_id])
    assert after.status == configured, after.summary


def test_required_streams_decide_which_missing_streams_are_gaps(tmp_path: Path) -> None:
    evidence, _ = cases.dbt_tests_pass()
    [default] = run_checks(evidence, CheckContext(NOW), only=["evidence-gaps"])
    settings = _settings(tmp_path, 'required_streams = ["access_history"]\n')
    [fewer] = run_checks(evidence, CheckContext(NOW, settings), only=["evidence-gaps"])
    assert {f["stream"] for f in default.findings} == {
        f"snowflake/*/{k}" for k in ChecksConfig().required_streams
    }
    assert [f["stream"] for f in fewer.findings] == ["snowflake/*/access_history"]


def test_an_empty_checks_section_is_the_built_in_behaviour(tmp_path: Path) -> None:
    assert _settings(tmp_path, "") == ChecksConfig()
    for check_id, case in cases.FAILING.items():
        evidence, ctx = case()
        assert ctx.settings == ChecksConfig()
        [r] = run_checks(evidence, CheckContext(NOW, _settings(tmp_path, "")), only=[check_id])
        assert r.status == "fail", check_id
