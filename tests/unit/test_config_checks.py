"""``[checks]``: the control-check settings load, validate and name the bad key."""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from das_evidence.config import ChecksConfig, load_settings
from das_evidence.errors import ConfigError
from das_evidence.starter import STARTER

BASE = "[log]\norigin = 'evidence.example.com/checks'\n"


def _load(tmp_path: Path, checks: str) -> ChecksConfig:
    path = tmp_path / "evidence.toml"
    path.write_text(BASE + "[checks]\n" + checks)
    return load_settings(path).checks


def test_defaults_are_the_checks_built_in_values() -> None:
    # Written out, not derived: a default that drifts changes every report's verdicts.
    assert ChecksConfig().model_dump() == {
        "phi_reader_roles": ("PHI_READER",),
        "phi_tags": ("PHI",),
        "sensitive_tags": ("PII", "PHI"),
        "accountadmin_allowlist": (),
        "mfa_exempt_users": (),
        "failed_login_threshold": 10,
        "failed_login_window": timedelta(minutes=10),
        "stale_after": timedelta(hours=26),
        "required_streams": (
            "access_history",
            "login_history",
            "query_history",
            "sessions",
            "policy_state",
        ),
        "dbt_sensitive_classifications": ("PII", "PHI"),
        "admin_roles": ("ACCOUNTADMIN", "SECURITYADMIN"),
        "admin_users_min": 2,
        "admin_users_max": 10,
        "sso_break_glass_users": (),
        "min_password_length": 14,
        "key_rotation_max_age": timedelta(days=180),
        "inactive_user_max_age": timedelta(days=90),
        "admin_idle_timeout": timedelta(minutes=15),
        "min_data_retention_days": 7,
        "retention_days_by_tag": {"CRITICAL": 90, "PHI": 90},
        "network_allowlist_max_prefix": 8,
        "min_client_versions": {"PythonConnector": "3.0.0", "JDBC": "3.13.30", "ODBC": "3.0.0"},
        "trust_center_severities": ("HIGH", "CRITICAL"),
        "trust_center_max_open": timedelta(days=7),
    }


def test_admin_bounds_are_ordered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="admin_users_min"):
        _load(tmp_path, "admin_users_min = 5\nadmin_users_max = 3\n")


def test_every_setting_is_documented() -> None:
    for name, info in ChecksConfig.model_fields.items():
        assert info.description and len(info.description) > 20, name


def test_a_checks_section_loads(tmp_path: Path) -> None:
    checks = _load(
        tmp_path,
        'phi_reader_roles = ["PHI_READER", "TRANSFORMER"]\n'
        'mfa_exempt_users = ["BREAK_GLASS"]\n'
        "failed_login_threshold = 5\n"
        'failed_login_window = "15m"\n'
        'stale_after = "2d"\n'
        'required_streams = ["access_history", "login_history"]\n',
    )
    assert checks.phi_reader_roles == ("PHI_READER", "TRANSFORMER")
    assert checks.mfa_exempt_users == ("BREAK_GLASS",)
    assert checks.failed_login_threshold == 5
    assert checks.failed_login_window == timedelta(minutes=15)
    assert checks.stale_after == timedelta(days=2)
    assert checks.required_streams == ("access_history", "login_history")
    assert checks.phi_tags == ("PHI",)  # not set: the default


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_CHECKS__ACCOUNTADMIN_ALLOWLIST", '["DAVE_ADMIN"]')
    monkeypatch.setenv("EVIDENCE_CHECKS__FAILED_LOGIN_THRESHOLD", "20")
    checks = _load(tmp_path, 'accountadmin_allowlist = ["SOMEONE_ELSE"]\n')
    assert checks.accountadmin_allowlist == ("DAVE_ADMIN",)
    assert checks.failed_login_threshold == 20


def test_settings_round_trip_through_json() -> None:
    checks = ChecksConfig(failed_login_window=timedelta(seconds=90), mfa_exempt_users=("X",))
    assert ChecksConfig.model_validate(checks.model_dump(mode="json")) == checks


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("failed_login_threshold = 1", "checks.failed_login_threshold"),
        ("failed_login_threshold = -3", "checks.failed_login_threshold"),
        ("failed_login_threshold = 'ten'", "checks.failed_login_threshold"),
        ("failed_login_threshold = true", "checks.failed_login_threshold"),
        ("failed_login_threshold = 2.5", "checks.failed_login_threshold"),
        ("failed_login_window = '0m'", "checks.failed_login_window"),
        ("failed_login_window = -60", "checks.failed_login_window"),
        ("failed_login_window = 'soon'", "checks.failed_login_window"),
        ("stale_after = '-1h'", "checks.stale_after"),
        ("stale_after = 0", "checks.stale_after"),
        ("phi_tags = []", "checks.phi_tags"),
        ("sensitive_tags = []", "checks.sensitive_tags"),
        ("dbt_sensitive_classifications = []", "checks.dbt_sensitive_classifications"),
        ("phi_reader_roles = ['']", "checks.phi_reader_roles"),
        ("phi_reader_roles = [' ANALYST']", "checks.phi_reader_roles"),
        ("phi_reader_roles = 'PHI_READER'", "checks.phi_reader_roles"),
        ("mfa_exempt_users = [42]", "checks.mfa_exempt_users"),
        ("accountadmin_allowlist = ['   ']", "checks.accountadmin_allowlist"),
        ("required_streams = ['acces_history']", "checks.required_streams"),
        ("phi_reader_role = ['TYPO']", "checks.phi_reader_role"),
    ],
)
def test_a_bad_value_names_the_key(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, line + "\n")
    # The key, or the key and the index of the bad list item (checks.mfa_exempt_users[0]).
    # Each problem names its source (file and line) and its key.
    pattern = rf"^  \S*evidence\.toml line \d+: {re.escape(key)}(\[\d+\])?: "
    assert re.search(pattern, str(e.value), re.M), str(e.value)
    assert e.value.exit_code == 2


def test_messages_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="greater than or equal to 2"):
        _load(tmp_path, "failed_login_threshold = 1\n")
    with pytest.raises(ConfigError, match="must be more than 0"):
        _load(tmp_path, "stale_after = '0h'\n")
    with pytest.raises(ConfigError, match=r"'acces_history'.*the kinds are access_history"):
        _load(tmp_path, "required_streams = ['acces_history']\n")
    with pytest.raises(ConfigError, match="not a known setting"):
        _load(tmp_path, "phi_reader_role = ['TYPO']\n")


def test_the_starter_config_shows_every_setting_with_its_default(tmp_path: Path) -> None:
    text = STARTER.format(origin="evidence.example.com/x", account="ACME")
    section = text[text.index("\n[checks]\n") :].splitlines()
    # Uncomment the examples (a key line, or the continuation of a multi-line array).
    lines = [ln[1:] if re.match(r'#( [a-z_]+ = |\s+")', ln) else ln for ln in section]
    shown = tomllib.loads("\n".join(lines))["checks"]
    assert sorted(shown) == sorted(ChecksConfig.model_fields)
    assert ChecksConfig.model_validate(shown) == ChecksConfig()
    starter = tmp_path / "evidence.toml"
    starter.write_text(text)
    assert load_settings(starter).checks == ChecksConfig()  # as written: all commented out


def test_trust_center_findings_is_a_stream_but_not_required_by_default(tmp_path: Path) -> None:
    assert "trust_center_findings" not in ChecksConfig().required_streams
    checks = _load(tmp_path, 'required_streams = ["trust_center_findings"]\n')
    assert checks.required_streams == ("trust_center_findings",)
    path = tmp_path / "streams.toml"
    path.write_text(BASE + '[streams.trust_center_findings]\nsafety = "30m"\n')
    with pytest.raises(ConfigError, match="shorter than the view's documented latency"):
        load_settings(path)
    path.write_text(BASE + '[streams.trust_center_findings]\nsafety = "1h"\nenabled = false\n')
    assert not load_settings(path).stream("trust_center_findings").enabled
