"""Status and alerts: `evidence status` turns stale, and alerts reach a local receiver.

That no secret reaches an output, an alert or the archive is checked in
test_secrets_canary.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.conftest import T0, Env
from tests.webhook_receiver import Receiver, receiving

PASSPHRASE = "CANARY-PASSPHRASE-41be0c"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


def _configure(env: Env, receiver: Receiver) -> None:
    env.config.write_text(
        env.config.read_text()
        + '\n[status]\nlast_run_file = "state/last-run.json"\n'
        + f'\n[[alerts.webhooks]]\nkind = "generic"\nurl = "{receiver.url()}"\n'
        + f'\n[[alerts.webhooks]]\nkind = "slack"\nurl = "{receiver.url()}"\n'
    )


def test_status_turns_stale_and_alerts_reach_the_webhooks(env: Env, receiver: Receiver) -> None:
    _configure(env, receiver)

    first = env.cli("run")
    assert first.returncode == 0, first.stderr
    fresh = env.cli("status", "--json", now=T0 + timedelta(hours=2))
    assert fresh.returncode == 0, fresh.stdout
    assert receiver.bodies == []  # nothing to alert about

    late = T0 + timedelta(days=2)
    stale = env.cli("status", "--json", now=late)
    assert stale.returncode == 1
    assert json.loads(stale.stdout)["stale"]
    prom = env.cli("status", "--prometheus", now=late)
    assert 'evidence_stream_stale{stream="snowflake/ACME_PROD/access_history"} 1' in prom.stdout

    # The next run cannot reach Snowflake: a failure alert and a stale alert go out.
    text = env.config.read_text()
    env.config.write_text(text.replace(f"port = {env.fake.port}", "port = 9"))
    failed = env.cli("run", now=late)
    assert failed.returncode == 3
    assert len(receiver.bodies) >= 2
    kinds = {json.loads(b).get("kind") for b in receiver.bodies if b.startswith(b"{")}
    assert {"failure", "stale"} <= kinds or any(b"stale" in b for b in receiver.bodies)


def test_a_wrong_key_passphrase_is_a_clear_message_and_exit_3(env: Env, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.p8").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    text = env.config.read_text().replace('password = "demo-only"\n', "")
    text = text.replace(
        "[snowflake]\n", f'[snowflake]\nprivate_key_file = "{tmp_path / "rsa.p8"}"\n'
    )
    env.config.write_text(text)
    env.extra_env["EVIDENCE_SNOWFLAKE__PRIVATE_KEY_FILE_PWD"] = "not-the-passphrase"
    r = env.cli("run")
    assert r.returncode == 3
    summary = json.loads(r.stdout)
    assert any("private key" in str(s["error"]) for s in summary["streams"]), summary
    assert "not-the-passphrase" not in r.stdout + r.stderr
    assert PASSPHRASE not in r.stdout + r.stderr


def test_retention_risk_is_reported_with_days_left(env: Env) -> None:
    far = T0 + timedelta(days=350)
    r = env.cli("run", "--only", "policy_state", now=far)
    summary = json.loads(r.stdout)
    days = summary["retention_days_left"]
    assert days and all(0 <= d <= 30 for d in days.values()), days


def test_a_run_alerts_subscribed_failing_checks_by_check_or_cis_id(
    env: Env, receiver: Receiver
) -> None:
    env.config.write_text(
        env.config.read_text()
        + f'\n[[alerts.webhooks]]\nkind = "generic"\nurl = "{receiver.url("/checks")}"\n'
        'on = ["check"]\nchecks = ["accountadmin-grantees", "human-users-without-mfa"]\n'
        + f'\n[[alerts.webhooks]]\nkind = "servicenow"\nurl = "{receiver.url("/sn")}"\n'
        'on = ["check"]\nchecks = ["human-users-without-mfa"]\n'
        'username = "svc"\npassword = "sn-CANARY-pw"\ncategory = "software"\n'
    )
    run = env.cli("run")
    assert run.returncode == 0, run.stderr

    from das_evidence.config import load_settings
    from das_evidence.evidence_store.local import LocalStore
    from das_evidence.manifests.log import ArchiveLog
    from das_evidence.reports.checks import CheckContext
    from das_evidence.reports.checks.registry import checks_for, run_checks
    from das_evidence.reports.evidence import of_run

    # what the run saw: every entry (it was the first run) and the newest snapshot
    settings = load_settings(env.config)
    store = LocalStore(env.archive)
    log = ArchiveLog(store, settings.log.origin)
    evidence = of_run(store, log, range(log.size))
    assert evidence is not None
    results = run_checks(
        evidence,
        CheckContext(T0, settings.checks),
        checks=checks_for(["accountadmin-grantees", "human-users-without-mfa"]),
    )
    failing = sorted(r.check_id for r in results if r.status == "fail")
    assert failing, [(r.check_id, r.status, r.summary) for r in results]

    generic = [json.loads(q["body"]) for q in receiver.requests if q["path"] == "/checks"]
    assert sorted(b["details"]["check_id"] for b in generic) == failing
    for b in generic:
        assert b["kind"] == "check" and b["details"]["findings"] > 0
        assert b["details"]["subjects"] and b["details"]["subjects_count"] > 0
    servicenow = [q for q in receiver.requests if q["path"] == "/sn"]
    expected = 1 if "human-users-without-mfa" in failing else 0
    assert len(servicenow) == expected
    for q in servicenow:
        body = json.loads(q["body"])
        assert body["short_description"].startswith("[ERROR] das-evidence check:")
        assert body["correlation_id"].startswith("das-evidence/check/")
        assert "sn-CANARY-pw" not in q["body"].decode()
    assert "sn-CANARY-pw" not in run.stdout + run.stderr


def test_an_unknown_check_id_in_a_subscription_is_exit_2_before_collecting(
    env: Env, receiver: Receiver
) -> None:
    env.config.write_text(
        env.config.read_text()
        + f'\n[[alerts.webhooks]]\nkind = "generic"\nurl = "{receiver.url()}"\n'
        'on = ["check"]\nchecks = ["1.12", "no-such-check", "9.9"]\n'
    )
    run = env.cli("run")
    assert run.returncode == 2, run.stdout + run.stderr
    out = run.stdout + run.stderr
    assert "alerts.webhooks[0].checks" in out and "no-such-check, 9.9" in out
    assert not env.entries()  # nothing was collected
