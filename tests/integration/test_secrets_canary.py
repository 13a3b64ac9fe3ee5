"""Secrets canary through the CLI: every secret-bearing setting holds a canary, and no
byte of the CLI's output (``collect --json``, ``run``, ``status --json``, ``doctor`` in
text and JSON, logs at debug), of a webhook body (but PagerDuty's routing key) or of the
archive contains it: after a run that works and after runs that cannot reach Snowflake.

The settings, error and log-record checks are in tests/unit/test_secrets_canary.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.integration.conftest import T0, Env
from tests.webhook_receiver import Receiver, receiving

CANARY = "CANARY-7f3a"
PAGERDUTY_KEY = f"{CANARY}-routing-key"
PAGERDUTY_PATH = f"/v2/enqueue/{CANARY}-pagerduty-url"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


def _configure(env: Env, receiver: Receiver) -> None:
    text = env.config.read_text().replace(
        'password = "demo-only"',
        f'password = "{CANARY}-password"\n'
        f'token = "{CANARY}-token"\n'
        f'oauth_client_secret = "{CANARY}-oauth-client-secret"\n'
        f'vendor_api_secret = "{CANARY}-pass-through"\n'
        "login_timeout = 2",
    )
    text += (
        '\n[status]\nlast_run_file = "state/last-run.json"\n'
        "\n[[alerts.webhooks]]\n"
        f'kind = "generic"\nurl = "{receiver.url(f"/generic/{CANARY}-generic-url")}"\n'
        "\n[[alerts.webhooks]]\n"
        f'kind = "slack"\nurl = "{receiver.url(f"/services/T0/B0/{CANARY}-slack-url")}"\n'
        "\n[[alerts.webhooks]]\n"
        f'kind = "pagerduty"\nurl = "{receiver.url(PAGERDUTY_PATH)}"\n'
        f'routing_key = "{PAGERDUTY_KEY}"\n'
    )
    env.config.write_text(text)
    env.extra_env.update(
        {
            "EVIDENCE_SNOWFLAKE__PRIVATE_KEY_FILE_PWD": f"{CANARY}-private-key-file-pwd",
            "EVIDENCE_SNOWFLAKE__PROXY_PASSWORD": f"{CANARY}-proxy-password",
            "EVIDENCE_SNOWFLAKE__CUSTOM_AUTH_TOKEN": f"{CANARY}-env-pass-through",
        }
    )


def test_no_canary_secret_in_any_output_alert_or_archive_byte(env: Env, receiver: Receiver) -> None:
    _configure(env, receiver)
    outputs: list[str] = []

    ok = env.cli("-v", "run")
    outputs += [ok.stdout, ok.stderr]
    assert ok.returncode == 0, ok.stderr
    assert receiver.requests == []

    # The doctor on the working setup: its text and JSON list where every secret came
    # from, never the secret.
    for args in (("-v", "doctor"), ("doctor", "--json")):
        doctor = env.cli(*args)
        outputs += [doctor.stdout, doctor.stderr]
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "snowflake.password" in doctor.stdout
        assert "EVIDENCE_SNOWFLAKE__PRIVATE_KEY_FILE_PWD" in doctor.stdout
    assert receiver.requests == []

    # Snowflake is unreachable from now on (a closed port, a 2 s login timeout).
    env.config.write_text(env.config.read_text().replace(f"port = {env.fake.port}", "port = 9"))
    late = T0 + timedelta(days=2)
    collected = env.cli("-v", "collect", "--json", now=late)
    outputs += [collected.stdout, collected.stderr]
    assert collected.returncode == 3, collected.stderr
    assert '"level": ' in collected.stderr  # the log lines are checked too
    failures = [s for s in json.loads(collected.stdout)["streams"] if s["error"]]
    assert failures and all("Snowflake" in s["error"] for s in failures)

    failed = env.cli("-v", "run", now=late)
    outputs += [failed.stdout, failed.stderr]
    assert failed.returncode == 3
    [line] = failed.stdout.splitlines()
    assert json.loads(line)["event"] == "evidence.run"

    status = env.cli("-v", "status", "--json", now=late)
    outputs += [status.stdout, status.stderr]
    assert status.returncode == 1
    assert json.loads(status.stdout)["stale"]

    # The doctor when Snowflake cannot be reached, and its test messages.
    doctor = env.cli("-v", "doctor", "--send-test", now=late)
    outputs += [doctor.stdout, doctor.stderr]
    assert doctor.returncode == 1
    assert "(refused)" in doctor.stdout
    assert doctor.stdout.count("test message accepted") == 3

    # The failure and the stale streams reached all three webhooks.
    paths = {q["path"] for q in receiver.requests}
    assert len(paths) == 3 and PAGERDUTY_PATH in paths
    bodies: list[bytes] = []
    for q in receiver.requests:
        body = json.loads(q["body"])
        if q["path"] == PAGERDUTY_PATH:
            assert body.pop("routing_key") == PAGERDUTY_KEY  # where it must go
        bodies.append(json.dumps(body).encode())
        bodies.append(json.dumps(q["headers"]).encode())

    needle = CANARY.encode()
    for text in outputs:
        assert CANARY not in text, text[:2000]
    for body in bodies:
        assert needle not in body, body[:2000]
    written = [p for p in env.dir.rglob("*") if p.is_file() and p.name != "evidence.toml"]
    assert any(p.parent.name == "state" for p in written)
    for path in written:
        assert needle not in path.read_bytes(), path
