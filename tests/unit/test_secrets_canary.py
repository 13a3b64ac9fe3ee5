"""Secrets canary: a distinctive value in every secret-bearing setting, and none of it in
``repr``, ``str``, JSON dumps, configuration errors, log records of a failing run, the
run's JSON summary or a webhook body (except the routing key PagerDuty needs).

So is `evidence doctor`'s report (text and JSON) and the test messages it sends.
The CLI's ``--json`` outputs are checked the same way in
``tests/integration/test_secrets_canary.py``.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from das_evidence.config import Settings, load_settings
from das_evidence.errors import ConfigError
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.schedules.runner import run
from tests.webhook_receiver import Receiver, receiving

CANARY = "CANARY-7f3a"
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
ORIGIN = "evidence.example.com/canary"

# Every secret-bearing setting, and the canary it holds. Keys are dotted setting names.
FILE_SECRETS = {
    "snowflake.password": f"{CANARY}-password",
    "snowflake.token": f"{CANARY}-token",
    "snowflake.passcode": f"{CANARY}-passcode",
    "snowflake.oauth_client_secret": f"{CANARY}-oauth-client-secret",
    # Not a declared setting: held as a secret because of its name.
    "snowflake.vendor_api_secret": f"{CANARY}-pass-through",
    "alerts.webhooks[0].url": f"/generic/{CANARY}-generic-url",
    "alerts.webhooks[1].url": f"/services/T0/B0/{CANARY}-slack-url",
}
ENV_SECRETS = {
    "EVIDENCE_SNOWFLAKE__PRIVATE_KEY_FILE_PWD": f"{CANARY}-private-key-file-pwd",
    "EVIDENCE_SNOWFLAKE__PROXY_PASSWORD": f"{CANARY}-proxy-password",
    "EVIDENCE_SNOWFLAKE__CUSTOM_AUTH_TOKEN": f"{CANARY}-env-pass-through",
}
PAGERDUTY_KEY = f"{CANARY}-routing-key"
PAGERDUTY_PATH = f"/v2/enqueue/{CANARY}-pagerduty-url"
HOOK_KINDS = ("generic", "slack", "pagerduty")
# A private key's text makes the connector fail before it connects, so it is only
# in the settings checks, not in the runs below.
PRIVATE_KEY = f"{CANARY}-private-key"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, receiver: Receiver, *, extra: str = "") -> Path:
    write_key_pair(tmp_path / "keys", ORIGIN)
    f = FILE_SECRETS
    text = f"""
[snowflake]
account = "ACME"
user = "EVIDENCE_COLLECTOR"
password = "{f["snowflake.password"]}"
token = "{f["snowflake.token"]}"
passcode = "{f["snowflake.passcode"]}"
oauth_client_secret = "{f["snowflake.oauth_client_secret"]}"
vendor_api_secret = "{f["snowflake.vendor_api_secret"]}"
host = "127.0.0.1"
port = {_closed_port()}
protocol = "http"
login_timeout = 2
network_timeout = 5
{extra}
[store]
uri = "archive"

[signing]
key = "keys/signing.key"

[log]
origin = "{ORIGIN}"

[redaction]
hmac_key = "keys/redaction.key"

[streams.access_history]
start = 2026-11-18T00:00:00Z

[status]
last_run_file = "state/last-run.json"

[[alerts.webhooks]]
kind = "generic"
url = "{receiver.url(f["alerts.webhooks[0].url"])}"

[[alerts.webhooks]]
kind = "slack"
url = "{receiver.url(f["alerts.webhooks[1].url"])}"
"""
    path = tmp_path / "evidence.toml"
    path.write_text(text)
    return path


def _environ(receiver: Receiver) -> dict[str, str]:
    pagerduty = {
        "kind": "pagerduty",
        "url": receiver.url(PAGERDUTY_PATH),
        "routing_key": PAGERDUTY_KEY,
    }
    return {
        **ENV_SECRETS,
        # The environment's webhooks replace the file's: all three, in JSON.
        "EVIDENCE_ALERTS__WEBHOOKS": json.dumps(
            [
                {"kind": "generic", "url": receiver.url(FILE_SECRETS["alerts.webhooks[0].url"])},
                {"kind": "slack", "url": receiver.url(FILE_SECRETS["alerts.webhooks[1].url"])},
                pagerduty,
            ]
        ),
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


@pytest.fixture
def settings(tmp_path: Path, receiver: Receiver) -> Settings:
    return load_settings(_config(tmp_path, receiver), environ=_environ(receiver))


def _assert_clean(texts: list[str], what: str) -> None:
    for text in texts:
        assert CANARY not in text, f"a canary secret in {what}: {text[:2000]}"


def test_every_secret_is_held_as_a_secret_and_reaches_the_connector(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = _config(tmp_path, receiver, extra=f'private_key = "{PRIVATE_KEY}"')
    s = load_settings(config, environ=_environ(receiver))
    _assert_clean(
        [repr(s), str(s), s.model_dump_json(), str(s.model_dump()), repr(s.snowflake)],
        "the settings",
    )
    # ... and yet every one is there, for the connector call and the webhooks.
    args = s.snowflake.connector_args()
    for key, value in FILE_SECRETS.items():
        if key.startswith("snowflake."):
            assert args[key.split(".", 1)[1]] == value
    for name, value in ENV_SECRETS.items():
        assert args[name.removeprefix("EVIDENCE_SNOWFLAKE__").lower()] == value
    assert args["private_key"] == PRIVATE_KEY
    hooks = s.alerts.webhooks
    assert [h.url.get_secret_value() for h in hooks if h.url] == [
        receiver.url(FILE_SECRETS["alerts.webhooks[0].url"]),
        receiver.url(FILE_SECRETS["alerts.webhooks[1].url"]),
        receiver.url(PAGERDUTY_PATH),
    ]
    assert hooks[2].routing_key is not None
    assert hooks[2].routing_key.get_secret_value() == PAGERDUTY_KEY


def _hooks(*hooks: dict[str, str]) -> str:
    return json.dumps(list(hooks))


@pytest.mark.parametrize(
    ("extra", "env", "named"),
    [
        # Another key is wrong: the message names it and shows no secret.
        ('socket_timeout = "abc"', {}, "snowflake.socket_timeout"),
        ("", {"EVIDENCE_SNOWFLAKE__LOGIN_TIMEOUT": "soon"}, "EVIDENCE_SNOWFLAKE__LOGIN_TIMEOUT"),
        # A secret itself has the wrong shape: named, not shown.
        (f'private_key = ["{PRIVATE_KEY}"]', {}, "snowflake.private_key"),
        ("", {"EVIDENCE_SNOWFLAKE": json.dumps({"passcode": [CANARY]})}, "snowflake.passcode"),
        (
            "",
            {
                "EVIDENCE_ALERTS__WEBHOOKS": _hooks(
                    {"kind": "slack", "url": f"http://x.org/{CANARY}"}
                )
            },
            "alerts.webhooks[0].url: plain http is refused",
        ),
        (
            "",
            {"EVIDENCE_ALERTS__WEBHOOKS": _hooks({"kind": "generic", "url": CANARY})},
            "alerts.webhooks[0].url: the URL must be https://host/...",
        ),
        (
            "",
            {"EVIDENCE_ALERTS__WEBHOOKS": f'[{{"kind": "pagerduty", "routing_key": "{CANARY}'},
            "EVIDENCE_ALERTS__WEBHOOKS: alerts.webhooks is not valid JSON",
        ),
        (
            "",
            {
                "EVIDENCE_ALERTS__WEBHOOKS": _hooks(
                    {"kind": "generic", "url": f"https://h/{CANARY}", "routing_key": CANARY}
                )
            },
            "routing_key is only for pagerduty webhooks",
        ),
    ],
)
def test_a_failed_load_names_the_key_and_shows_no_secret(
    tmp_path: Path, receiver: Receiver, extra: str, env: dict[str, str], named: str
) -> None:
    config = _config(tmp_path, receiver, extra=extra)
    with pytest.raises(ConfigError) as e:
        load_settings(config, environ={**_environ(receiver), **env})
    assert named in str(e.value)
    _assert_clean([str(e.value), repr(e.value), e.value.message, e.value.fix or ""], "an error")


def test_a_failing_run_logs_reports_and_alerts_no_secret(
    settings: Settings, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        summary = run(settings, clock=lambda: T0)
    assert summary.exit_code == 3
    errors = [str(s["error"]) for s in summary.streams if s.get("error")]
    assert errors and all("Snowflake" in e for e in errors), summary.streams
    logged = [r.getMessage() for r in caplog.records]
    logged += [repr(r.args) for r in caplog.records]
    logged += [r.exc_text or "" for r in caplog.records]
    _assert_clean(logged, "a log record")
    _assert_clean([json.dumps(summary.to_json(), sort_keys=True)], "the run summary")
    state = settings.status.last_run_file
    assert state is not None and state.is_file()
    _assert_clean([state.read_text()], "the last-run file")

    # Every webhook was called, for the failure and for the stale streams.
    paths = {q["path"] for q in receiver.requests}
    assert paths == {
        FILE_SECRETS["alerts.webhooks[0].url"],
        FILE_SECRETS["alerts.webhooks[1].url"],
        PAGERDUTY_PATH,
    }
    kinds = {
        json.loads(q["body"]).get("kind")
        for q in receiver.requests
        if q["path"] == FILE_SECRETS["alerts.webhooks[0].url"]
    }
    assert kinds == {"failure", "stale"}
    for q in receiver.requests:
        body = json.loads(q["body"])
        if q["path"] == PAGERDUTY_PATH:
            # The one place a secret must go: PagerDuty authenticates by it.
            assert body.pop("routing_key") == PAGERDUTY_KEY
        _assert_clean([json.dumps(body), json.dumps(q["headers"])], "a webhook request")


def test_doctor_reports_and_test_messages_carry_no_secret(
    tmp_path: Path, settings: Settings, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    from das_evidence.cli.doctor import render_text
    from das_evidence.config import setting_sources
    from das_evidence.doctor import run_checks

    config = tmp_path / "evidence.toml"
    with caplog.at_level(logging.DEBUG):
        report = run_checks(
            settings,
            config=config,
            sources=setting_sources(config, environ=_environ(receiver)),
            clock=lambda: T0,
            send_test=True,
        )
    names = {c.name: c for c in report.checks}
    assert names["snowflake reachable"].status == "fail"  # a closed port
    assert [names[f"webhook {i} ({k})"].status for i, k in enumerate(HOOK_KINDS)] == ["ok"] * 3
    sources = dict(report.sources)
    assert sources["snowflake.password"] == f"{config} line 5"
    assert sources["snowflake.private_key_file_pwd"] == "EVIDENCE_SNOWFLAKE__PRIVATE_KEY_FILE_PWD"
    _assert_clean(
        [json.dumps(report.to_json()), "\n".join(render_text(report))], "the doctor's report"
    )
    _assert_clean([r.getMessage() for r in caplog.records], "a log record")
    assert len(receiver.requests) == 3  # one test message per webhook, whatever its `on`
    for q in receiver.requests:
        body = json.loads(q["body"])
        if q["path"] == PAGERDUTY_PATH:
            assert body.pop("routing_key") == PAGERDUTY_KEY
        _assert_clean([json.dumps(body), json.dumps(q["headers"])], "a test message")
