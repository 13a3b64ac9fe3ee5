"""`evidence doctor`'s checks, as values: against the in-process fake Snowflake, misbehaving
servers on loopback, key files with loose modes, stores, dbt targets and webhooks."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from das_evidence.cli.doctor import render_text
from das_evidence.config import Settings, load_settings, setting_sources
from das_evidence.demo import fake_show
from das_evidence.demo.policy_seed import seed_policy_state
from das_evidence.demo.run import write_demo_config
from das_evidence.demo.server import FakeSnowflake
from das_evidence.doctor import (
    Check,
    DoctorReport,
    config_report,
    key_file_check,
    permission_verdict,
    run_checks,
    store_checks,
)
from das_evidence.errors import ConfigError, KeyFileError
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.services import Services
from tests.conftest import ROOT
from tests.loopback_servers import blackhole, closed_port
from tests.webhook_receiver import receiving

ORIGIN = "evidence.example.com/doctor"
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
DBT_TARGET = ROOT / "tests" / "fixtures" / "dbt" / "target"


def _site(tmp_path: Path, port: int, extra: str = "") -> Path:
    write_key_pair(tmp_path / "keys", ORIGIN)
    config = write_demo_config(tmp_path, port=port, start=T0, origin=ORIGIN)
    config.write_text(config.read_text() + extra)
    return config


def _run(config: Path, *, send_test: bool = False) -> DoctorReport:
    settings = load_settings(config, environ={})
    return run_checks(
        settings,
        config=config,
        sources=setting_sources(config, environ={}),
        clock=lambda: T0,
        send_test=send_test,
    )


def _by_name(report: DoctorReport) -> dict[str, Check]:
    return {c.name: c for c in report.checks}


@pytest.fixture
def fake() -> Iterator[FakeSnowflake]:
    with FakeSnowflake() as server:
        yield server


# --- the whole report ---------------------------------------------------------------


def test_a_working_installation_passes_every_check(tmp_path: Path, fake: FakeSnowflake) -> None:
    seed_policy_state(fake.duck, now=T0 - timedelta(hours=3))  # what SHOW lists
    config = _site(tmp_path, fake.port)
    (tmp_path / "archive").mkdir()
    report = _run(config)
    checks = _by_name(report)
    assert report.exit_code == 0, render_text(report)
    assert {c.status for c in report.checks} == {"ok"}, render_text(report)
    assert checks["snowflake reachable"].detail.startswith(f"http://127.0.0.1:{fake.port}")
    assert "logged in as" in checks["snowflake login"].detail
    views = [n for n in checks if n.startswith("view ")]
    assert len(views) == 18 and "view ACCESS_HISTORY" in views and "view USERS" in views
    assert "view TABLES" in views and "view PROCEDURES" in views
    commands = {n: c.detail for n, c in checks.items() if n.startswith("command ")}
    assert len(commands) == 8
    assert commands["command DESCRIBE_USER_KEYS"].startswith('DESCRIBE USER "SVC_DBT_RUNNER"')
    assert "view TRUST_CENTER_FINDINGS" in views
    assert checks["store"].detail.endswith("is empty (no checkpoint yet)")
    assert dict(report.sources)["snowflake.port"] == f"{config} line 9"


def test_a_view_the_role_cannot_read_names_the_grant(tmp_path: Path, fake: FakeSnowflake) -> None:
    fake.duck.execute("DROP TABLE SNOWFLAKE.ACCOUNT_USAGE.LOGIN_HISTORY")
    fake.duck.execute(
        "ALTER TABLE SNOWFLAKE.ACCOUNT_USAGE.SESSIONS DROP COLUMN CLIENT_APPLICATION_ID"
    )
    report = _run(_site(tmp_path, fake.port))
    checks = _by_name(report)
    assert report.exit_code == 1
    login = checks["view LOGIN_HISTORY"]
    assert login.status == "fail" and "cannot read view" in login.detail
    assert login.fix.startswith("GRANT DATABASE ROLE SNOWFLAKE.SECURITY_VIEWER TO ROLE")
    sessions = checks["view SESSIONS"]
    assert sessions.status == "fail" and "no column CLIENT_APPLICATION_ID" in sessions.detail
    assert checks["view ACCESS_HISTORY"].status == "ok"


def test_a_refused_port_fails_reachability_and_skips_the_rest(tmp_path: Path) -> None:
    report = _run(_site(tmp_path, closed_port()))
    checks = _by_name(report)
    assert report.exit_code == 1
    reach = checks["snowflake reachable"]
    assert reach.status == "fail" and "(refused)" in reach.detail and reach.fix
    assert checks["snowflake login"].status == "skip"
    assert checks["views"].status == "skip" and "ACCESS_HISTORY" in checks["views"].detail
    # The checks that do not need Snowflake still ran.
    assert checks["signing key"].status == "ok"
    assert checks["store"].status == "warn"  # the archive directory is not made yet


def test_a_host_that_never_answers_is_a_timeout_within_the_login_timeout(tmp_path: Path) -> None:
    with blackhole() as port:
        config = _site(tmp_path, port)
        config.write_text(config.read_text().replace("[store]", "login_timeout = 2\n\n[store]"))
        started = time.monotonic()
        report = _run(config)
        took = time.monotonic() - started
    reach = _by_name(report)["snowflake reachable"]
    assert reach.status == "fail" and "(timeout)" in reach.detail
    assert took < 5


def test_a_dbt_only_configuration_skips_snowflake(tmp_path: Path) -> None:
    write_key_pair(tmp_path / "keys", ORIGIN)
    config = tmp_path / "evidence.toml"
    config.write_text(
        f'[log]\norigin = "{ORIGIN}"\n\n[[dbt]]\nproject = "jaffle_health"\n'
        f'target_dir = "{DBT_TARGET}"\n\n[[dbt]]\nproject = "empty"\ntarget_dir = "empty"\n'
    )
    (tmp_path / "empty").mkdir()
    checks = _by_name(_run(config))
    assert checks["snowflake"].status == "skip"
    assert checks["redaction key"].status == "ok"  # present, so checked anyway
    assert checks["dbt jaffle_health"].status == "ok"
    assert "invocation" in checks["dbt jaffle_health"].detail
    empty = checks["dbt empty"]
    assert empty.status == "fail" and "manifest.json" in empty.detail and empty.fix


def test_a_configuration_that_does_not_load_is_exit_2() -> None:
    report = config_report(Path("x.toml"), ConfigError("x.toml is not valid TOML", fix="fix it"))
    assert report.exit_code == 2
    assert report.checks == (Check("config", "fail", "x.toml is not valid TOML", "fix it"),)


def test_exit_codes_and_counts() -> None:
    ok, warn = Check("a", "ok", ""), Check("b", "warn", "", "do x")
    skip, fail = Check("c", "skip", ""), Check("d", "fail", "", "do y")
    assert DoctorReport((ok, warn, skip)).exit_code == 0
    report = DoctorReport((ok, warn, skip, fail))
    assert report.exit_code == 1
    assert report.to_json()["counts"] == {"ok": 1, "warn": 1, "fail": 1, "skip": 1}
    assert report.to_json()["ok"] is False


# --- key files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        (0o600, "ok"),
        (0o400, "ok"),
        (0o640, "warn"),
        (0o440, "warn"),
        (0o644, "fail"),
        (0o604, "fail"),
    ],
)
def test_a_key_file_must_not_be_readable_by_others(mode: int, status: str) -> None:
    verdict, detail, fix = permission_verdict(Path("k"), stat.S_IFREG | mode)
    assert verdict == status
    assert f"{mode:04o}" in detail
    assert (fix == "") == (status == "ok")
    if status != "ok":
        assert fix.startswith("chmod 600 k")


def test_key_file_checks(tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert key_file_check("k", key).status == "fail"
    key.write_text("x")
    key.chmod(0o644)
    loose = key_file_check("k", key)
    assert loose.status == "fail" and loose.fix == f"chmod 600 {key}"
    key.chmod(0o600)
    assert key_file_check("k", key, lambda: "Ed25519").detail == f"{key}: Ed25519, mode 0600"

    def bad() -> str:
        raise KeyFileError(f"{key} is not a PKCS#8 key", fix="run `evidence keys generate`")

    broken = key_file_check("k", key, bad)
    assert broken.status == "fail" and "PKCS#8" in broken.detail and broken.fix
    assert key_file_check("k", tmp_path).status == "fail"  # a directory


def test_a_world_readable_signing_key_fails(tmp_path: Path) -> None:
    config = _site(tmp_path, closed_port())
    (tmp_path / "keys" / "signing.key").chmod(0o644)
    signing = _by_name(_run(config))["signing key"]
    assert signing.status == "fail" and "0644" in signing.detail and "chmod 600" in signing.fix


# --- the store ------------------------------------------------------------------------


def _settings(tmp_path: Path, uri: str) -> Settings:
    config = tmp_path / "evidence.toml"
    config.write_text(f'[log]\norigin = "{ORIGIN}"\n[store]\nuri = "{uri}"\n')
    return load_settings(config, environ={})


def test_store_checks(tmp_path: Path) -> None:
    def store(uri: str) -> Check:
        settings = _settings(tmp_path, uri)
        [check] = store_checks(settings, Services(settings, clock=lambda: T0))
        return check

    assert store("archive").status == "warn"  # created by the first collect
    assert not (tmp_path / "archive").exists()  # the doctor writes nothing
    gone = store("no/such/parent/archive")
    assert gone.status == "fail" and "no/such/parent" in gone.detail
    (tmp_path / "archive").mkdir()
    assert store("archive").status == "ok"
    (tmp_path / "file").write_text("x")
    assert store("file").status == "fail"


# --- webhooks -------------------------------------------------------------------------


def _hooks(tmp_path: Path, hooks: list[dict[str, str]]) -> Path:
    config = tmp_path / "evidence.toml"
    config.write_text(f'[log]\norigin = "{ORIGIN}"\n')
    write_key_pair(tmp_path / "keys", ORIGIN)
    config.write_text(
        config.read_text()
        + "".join(
            "\n[[alerts.webhooks]]\n" + "".join(f'{k} = "{v}"\n' for k, v in h.items())
            for h in hooks
        )
    )
    return config


def test_webhooks_resolve_and_nothing_is_sent_without_send_test(tmp_path: Path) -> None:
    with receiving() as rec:
        config = _hooks(
            tmp_path,
            [
                {"kind": "generic", "url": rec.url("/hook/secret-path")},
                {"kind": "slack", "url": "https://nonexistent.invalid/services/T0/B0/x"},
            ],
        )
        checks = _by_name(_run(config))
        assert rec.requests == []
    ok = checks["webhook 0 (generic)"]
    assert ok.status == "ok" and ok.detail.startswith("http://127.0.0.1:")
    assert "secret-path" not in ok.detail  # the path is the webhook's secret
    bad = checks["webhook 1 (slack)"]
    assert bad.status == "fail" and "DNS" in bad.detail and "/services" not in bad.detail


def test_send_test_posts_one_message_and_reports_its_answer(tmp_path: Path) -> None:
    with receiving() as rec:
        rec.statuses = [202, 500, 500]
        config = _hooks(
            tmp_path,
            [
                {"kind": "generic", "url": rec.url("/ok")},
                {"kind": "slack", "url": rec.url("/broken")},
            ],
        )
        checks = _by_name(_run(config, send_test=True))
        paths = [q["path"] for q in rec.requests]
        body = json.loads(rec.requests[0]["body"])
    assert paths == ["/ok", "/broken", "/broken"]  # one retry on a 5xx
    assert "test message" in body["summary"] and body["source"] == ORIGIN
    assert checks["webhook 0 (generic)"].status == "ok"
    assert "HTTP 202" in checks["webhook 0 (generic)"].detail
    failed = checks["webhook 1 (slack)"]
    assert failed.status == "fail" and "HTTP 500" in failed.detail and failed.fix


# --- rendering ------------------------------------------------------------------------


def test_text_is_one_line_per_check_with_the_fix_below_a_failure() -> None:
    report = DoctorReport(
        (
            Check("config", "ok", "evidence.toml: valid"),
            Check("snowflake reachable", "fail", "cannot connect (refused)", "check port"),
            Check("store", "warn", "archive does not exist yet", "nothing to do"),
            Check("snowflake login", "skip", "not tried"),
        ),
        (("snowflake.port", "evidence.toml line 9"), ("dbt", "default")),
    )
    lines = render_text(report)
    assert lines[0].startswith("ok    config")
    assert lines[1].strip() == "snowflake.port  evidence.toml line 9"
    assert lines[2].strip() == "defaults: dbt"
    assert lines[3].startswith("FAIL  snowflake reachable  cannot connect (refused)")
    assert lines[4].strip() == "fix: check port"
    assert lines[5].startswith("WARN  store")
    assert lines[6].strip() == "fix: nothing to do"
    assert lines[7].startswith("skip  snowflake login")
    assert lines[8] == (
        "1 ok, 1 warnings, 1 failed, 1 skipped; exit 1: a check failed: its line says what, "
        "and the fix"
    )


def test_a_show_the_role_cannot_run_is_a_warning_naming_the_privilege(
    tmp_path: Path, fake: FakeSnowflake
) -> None:
    seed_policy_state(fake.duck, now=T0 - timedelta(hours=3))
    fake_show.deny(fake.duck, "TASKS")
    fake.duck.execute(f"DELETE FROM {fake_show.qualified('WAREHOUSES')}")
    fake.duck.execute(
        f"DELETE FROM {fake_show.qualified('USER_PROPERTIES')}"
        " WHERE \"user_name\" = 'SVC_DBT_RUNNER'"
    )
    report = _run(_site(tmp_path, fake.port))
    checks = _by_name(report)
    assert report.exit_code == 0, render_text(report)  # the snapshot is still written
    tasks = checks["command SHOW_TASKS"]
    assert tasks.status == "warn" and "Insufficient privileges" in tasks.detail
    assert "GRANT MONITOR ON FUTURE TASKS IN DATABASE" in tasks.fix
    warehouses = checks["command SHOW_WAREHOUSES"]
    assert warehouses.status == "warn" and "lists nothing" in warehouses.detail
    assert "GRANT MONITOR ON WAREHOUSE" in warehouses.fix
    keys = checks["command DESCRIBE_USER_KEYS"]
    assert keys.status == "warn" and "OWNERSHIP on each user" in keys.fix
    assert checks["command SHOW_PARAMETERS_IN_ACCOUNT"].status == "ok"


def test_account_parameters_that_list_nothing_fail(tmp_path: Path, fake: FakeSnowflake) -> None:
    report = _run(_site(tmp_path, fake.port))  # nothing seeded
    check = _by_name(report)["command SHOW_PARAMETERS_IN_ACCOUNT"]
    assert check.status == "fail" and report.exit_code == 1
    assert _by_name(report)["command SHOW_USER_NETWORK_POLICIES"].status == "ok"  # no users


def test_the_doctor_and_its_checks_are_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    guide = (ROOT / "docs" / "OPERATIONS.md").read_text()
    assert "evidence doctor" in readme and "evidence doctor" in guide
    for name in (
        "config",
        "signing key",
        "redaction key",
        "snowflake private key",
        "snowflake reachable",
        "snowflake login",
        "view <VIEW>",
        "command <NAME>",
        "store",
        "bucket <check>",
        "dbt <project>",
        "webhook <n> (<kind>)",
    ):
        assert f"`{name}`" in guide, name
    assert "`0` no check failed" in guide and "`2` the configuration cannot be loaded" in guide


# --- KMS and S3 (moto, in process) ------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    import boto3
    from moto import mock_aws

    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with mock_aws():
        yield


def test_kms_keys_answer_get_public_key_and_the_bucket_is_judged(tmp_path: Path, aws: None) -> None:
    from das_evidence.aws import make_client

    kms = make_client("kms", region="us-east-1")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    s3 = make_client("s3", region="us-east-1")
    s3.create_bucket(Bucket="evidence", ObjectLockEnabledForBucket=True)
    config = tmp_path / "evidence.toml"
    config.write_text(
        f'[log]\norigin = "{ORIGIN}"\n'
        f'[signing]\nkey = "kms:{key_id}"\nregion = "us-east-1"\n'
        '[store]\nuri = "s3://evidence/archive"\nregion = "us-east-1"\nretention_days = 30\n'
    )
    checks = _by_name(_run(config))
    # An ECDSA entry key needs an Ed25519 note key for checkpoints: GetPublicKey says so.
    signing = checks["signing key"]
    assert signing.status == "fail" and 'signing.note_key = "kms:' in signing.fix + signing.detail
    assert checks["store"].status == "ok" and "is empty" in checks["store"].detail
    bucket = {n.removeprefix("bucket "): c for n, c in checks.items() if n.startswith("bucket ")}
    assert bucket["versioning"].status == "ok" and bucket["object_lock"].status == "ok"
    assert bucket["default_retention"].status == "fail" and bucket["default_retention"].fix
    assert bucket["public_access_block"].status == "fail"
    assert bucket["tls_only_policy"].status == "fail"
