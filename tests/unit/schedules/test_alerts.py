"""Alerts: exact webhook payloads at a loopback receiver, failures reported not raised,
and secrets that never reach a request body or a log record."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from das_evidence.schedules.alerts import (
    ALERT_SCHEMA,
    REDACTED,
    Alert,
    Webhook,
    failure_alert,
    redact_text,
    redact_url,
    scrub,
    send_alerts,
    stale_alert,
)
from das_evidence.schedules.status import stream_status
from das_evidence.validators import is_secret_name
from tests.webhook_receiver import Receiver, receiving

AT = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
SOURCE = "evidence.example.org/prod"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIPEMCANARYPEMCANARYPEMCANARYPEMCANARY0000\n"
    "-----END PRIVATE KEY-----\n"
)
CANARIES = ("hunter2-CANARY", "passphrase-CANARY", "tok-CANARY", "PEMCANARY", "inline-CANARY")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


def _alert(**details: Any) -> Alert:
    return Alert(
        kind="failure",
        severity="error",
        summary="schedule nightly failed with exit code 3",
        source=SOURCE,
        details={"exit_code": 3, "schedule": "nightly", **details},
        streams=("snowflake/ACME/access_history",),
        at=AT,
    )


def _body(rec: Receiver, i: int = 0) -> Any:
    return json.loads(rec.requests[i]["body"])


def test_generic_webhook_gets_the_alert_as_json(receiver: Receiver) -> None:
    alert = _alert()
    [r] = send_alerts(alert, [Webhook("generic", url=SecretStr(receiver.url("/g/secret")))])
    assert r.ok and r.status == 202 and r.attempts == 1 and r.error is None
    [req] = receiver.requests
    assert req["path"] == "/g/secret"
    assert req["headers"]["Content-Type"] == "application/json"
    assert _body(receiver) == {
        "schema": ALERT_SCHEMA,
        "kind": "failure",
        "severity": "error",
        "summary": "schedule nightly failed with exit code 3",
        "source": SOURCE,
        "streams": ["snowflake/ACME/access_history"],
        "details": {"exit_code": 3, "schedule": "nightly"},
        "dedup_key": alert.dedup_key,
        "at": "2026-11-27T06:00:00Z",
    }
    assert alert.dedup_key.startswith(f"das-evidence/failure/{SOURCE}/")


def test_slack_webhook_gets_text_and_blocks(receiver: Receiver) -> None:
    alert = _alert(note="a < b & c")
    [r] = send_alerts(alert, [Webhook("slack", url=SecretStr(receiver.url("/services/T/B/X")))])
    assert r.ok
    title = f"[ERROR] evidence failure: {SOURCE}"
    assert _body(receiver) == {
        "text": f"{title}: schedule nightly failed with exit code 3",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "schedule nightly failed with exit code 3"},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*exit_code*\n3"},
                    {"type": "mrkdwn", "text": "*schedule*\nnightly"},
                    {"type": "mrkdwn", "text": "*note*\na &lt; b &amp; c"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"2026-11-27T06:00:00Z | dedup `{alert.dedup_key}` | "
                        "streams: snowflake/ACME/access_history",
                    }
                ],
            },
        ],
    }


def test_slack_splits_more_than_ten_fields(receiver: Receiver) -> None:
    alert = _alert(**{f"n{i}": i for i in range(12)})  # 14 fields
    send_alerts(alert, [Webhook("slack", url=SecretStr(receiver.url()))])
    sections = [b for b in _body(receiver)["blocks"] if "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10, 4]


def test_pagerduty_gets_an_events_v2_trigger(receiver: Receiver) -> None:
    alert = _alert()
    hook = Webhook(
        "pagerduty", url=SecretStr(receiver.url("/v2/enqueue")), routing_key=SecretStr("R0UTE")
    )
    [r] = send_alerts(alert, [hook])
    assert r.ok and r.kind == "pagerduty"
    assert receiver.requests[0]["path"] == "/v2/enqueue"
    assert _body(receiver) == {
        "routing_key": "R0UTE",
        "event_action": "trigger",
        "dedup_key": alert.dedup_key,
        "payload": {
            "summary": "schedule nightly failed with exit code 3",
            "source": SOURCE,
            "severity": "error",
            "class": "failure",
            "timestamp": "2026-11-27T06:00:00Z",
            "custom_details": {
                "exit_code": 3,
                "schedule": "nightly",
                "streams": ["snowflake/ACME/access_history"],
            },
        },
    }


def test_pagerduty_defaults_to_the_events_api() -> None:
    from das_evidence.schedules.alerts import PAGERDUTY_URL, _request

    url, body = _request(_alert(), Webhook("pagerduty", routing_key=SecretStr("R")))
    assert url == PAGERDUTY_URL == "https://events.pagerduty.com/v2/enqueue"
    assert json.loads(body)["routing_key"] == "R"


def test_only_webhooks_that_subscribe_to_the_kind_are_called(receiver: Receiver) -> None:
    hooks = [
        Webhook("generic", url=SecretStr(receiver.url("/stale-only")), on=("stale",)),
        Webhook("generic", url=SecretStr(receiver.url("/failures")), on=("failure",)),
    ]
    results = send_alerts(_alert(), hooks)
    assert [r.webhook for r in results] == [1]
    assert [q["path"] for q in receiver.requests] == ["/failures"]


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/SECRETPATH"


def test_connection_refused_is_retried_once_reported_and_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleeps: list[float] = []
    with caplog.at_level(logging.INFO):
        [r] = send_alerts(
            _alert(), [Webhook("slack", url=SecretStr(_refused_url()))], sleep=sleeps.append
        )
    assert not r.ok and r.attempts == 2 and r.status is None
    assert r.error is not None and "ConnectionRefusedError" in r.error
    assert sleeps == [1.0]
    assert r.target.startswith("http://127.0.0.1:") and r.target.endswith("/…")
    assert "not delivered" in caplog.text
    assert "SECRETPATH" not in caplog.text and "SECRETPATH" not in str(r)


def test_a_server_error_is_retried_then_reported(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    hook = Webhook("generic", url=SecretStr(receiver.url()))
    [r] = send_alerts(_alert(), [hook], retry_delay=0)
    assert (r.ok, r.attempts, r.status, r.error) == (False, 2, 503, "HTTP 503")
    assert len(receiver.requests) == 2


def test_a_retry_that_succeeds_is_ok(receiver: Receiver) -> None:
    receiver.statuses = [500, 200]
    [r] = send_alerts(_alert(), [Webhook("generic", url=SecretStr(receiver.url()))], retry_delay=0)
    assert (r.ok, r.attempts, r.status) == (True, 2, 200)


def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [404]
    [r] = send_alerts(_alert(), [Webhook("generic", url=SecretStr(receiver.url()))], retry_delay=0)
    assert (r.ok, r.attempts, r.status) == (False, 1, 404)


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.statuses = [302]
    [r] = send_alerts(_alert(), [Webhook("generic", url=SecretStr(receiver.url()))], retry_delay=0)
    assert not r.ok and r.status == 302
    assert [q["path"] for q in receiver.requests] == ["/hook"]


def test_one_failing_webhook_does_not_stop_the_next(receiver: Receiver) -> None:
    hooks: list[Any] = [
        Webhook("generic", url=SecretStr(_refused_url())),
        Webhook("pagerduty", url=SecretStr(receiver.url())),  # no routing key
        Webhook("generic", url=SecretStr("http://example.com/hook")),  # plain http
        Webhook("generic", url=SecretStr("file:///etc/passwd")),
        object(),  # not a webhook at all
        Webhook("generic", url=SecretStr(receiver.url("/last"))),
    ]
    results = send_alerts(_alert(), hooks, retry_delay=0)
    assert [r.ok for r in results] == [False, False, False, False, False, True]
    assert results[1].error == "a pagerduty webhook needs a routing_key"
    assert results[2].error is not None and "insecure_allow_http" in results[2].error
    assert results[3].error is not None and "https" in results[3].error
    assert [q["path"] for q in receiver.requests] == ["/last"]


def test_insecure_http_must_be_asked_for_by_name() -> None:
    from das_evidence.schedules.alerts import _request

    hook = Webhook("generic", url=SecretStr("http://relay.internal/h"), insecure_allow_http=True)
    assert _request(_alert(), hook)[0] == "http://relay.internal/h"


def test_secrets_never_reach_a_request_body_or_a_log_record(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    alert = Alert(
        kind="failure",
        severity="critical",
        summary="connect failed: password=inline-CANARY and " + PEM,
        source=SOURCE,
        details={
            "password": "hunter2-CANARY",
            "private_key_passphrase": "passphrase-CANARY",
            "oauthToken": "tok-CANARY",
            "note": "key follows " + PEM,
            "error": "OperationalError: Authorization: Bearer tok-CANARY-long-enough",
            "nested": {"password": "hunter2-CANARY"},  # type: ignore[dict-item]
        },
        at=AT,
    )
    refused = _refused_url()
    hooks = [
        Webhook("generic", url=SecretStr(receiver.url("/g/URLSECRET"))),
        Webhook("slack", url=SecretStr(receiver.url("/s/URLSECRET"))),
        Webhook("pagerduty", url=SecretStr(receiver.url("/pd")), routing_key=SecretStr("RKSECRET")),
        Webhook("pagerduty", url=SecretStr(refused), routing_key=SecretStr("RKSECRET")),
    ]
    with caplog.at_level(logging.DEBUG):
        results = send_alerts(alert, hooks, retry_delay=0)
    assert [r.ok for r in results] == [True, True, True, False]
    bodies = [q["body"].decode() for q in receiver.requests]
    assert len(bodies) == 3
    logged = [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
    reported = [repr(r) for r in results] + [repr(hooks), repr(alert)]
    for text in [*bodies, *logged, *reported]:
        for canary in CANARIES:
            assert canary not in text
        assert "BEGIN PRIVATE KEY" not in text
    for text in [*logged, *reported]:
        assert "URLSECRET" not in text and "RKSECRET" not in text
    # The routing key goes where it must: in the PagerDuty body, nowhere else.
    assert json.loads(bodies[2])["routing_key"] == "RKSECRET"
    assert json.loads(bodies[0])["details"] == {
        "password": REDACTED,
        "private_key_passphrase": REDACTED,
        "oauthToken": REDACTED,
        "note": f"key follows {REDACTED}\n",
        "error": f"OperationalError: Authorization: {REDACTED} {REDACTED}",
    }


def test_scrub_keeps_only_safe_scalars() -> None:
    got = scrub(
        {
            "rows": 5,
            "ratio": 0.5,
            "ok": True,
            "none": None,
            "nan": float("nan"),
            "list": [1],
            "obj": object(),
            7: "numeric name",
            "api_key": "x",
            "apiKey": "x",
            "private_key_file_pwd": "x",
            "AUTHORIZATION": "x",
            "monkey": "banana",
            "stream": "snowflake/KEYSTONE/access_history",
        }
    )
    assert got == {
        "rows": 5,
        "ratio": 0.5,
        "ok": True,
        "none": None,
        "api_key": REDACTED,
        "apiKey": REDACTED,
        "private_key_file_pwd": REDACTED,
        "AUTHORIZATION": REDACTED,
        "monkey": "banana",
        "stream": "snowflake/KEYSTONE/access_history",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=abc def", f"password={REDACTED} def"),
        ('{"token": "abc"}', f'{{"token": "{REDACTED}"}}'),
        ("snowflake://user:pw@acct/db", f"snowflake://{REDACTED}@acct/db"),
        ("key AKIAABCDEFGHIJKLMNOP used", f"key {REDACTED} used"),
        ("access_token=xyz", f"access_token={REDACTED}"),
        ("3 streams failed", "3 streams failed"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_secret_names() -> None:
    assert all(
        map(is_secret_name, ["pwd", "PassPhrase", "client_secret", "routingKey", "passcode"])
    )
    assert not any(map(is_secret_name, ["stream", "monkey", "keystone", "exit_code"]))


def test_redact_url_keeps_only_scheme_host_and_port() -> None:
    assert (
        redact_url("https://hooks.slack.com/services/T0/B0/XYZ?x=1") == "https://hooks.slack.com/…"
    )
    assert redact_url("http://u:p@[::1]:8080/a") == "http://[::1]:8080/…"


def test_stale_and_failure_alerts_from_run_results() -> None:
    t0 = AT - timedelta(days=3)
    report = stream_status([], now=AT, expected=["snowflake/ACME/sessions"])
    alert = stale_alert(report, source=SOURCE)
    assert alert is not None and alert.kind == "stale"
    assert alert.streams == ("snowflake/ACME/sessions",)
    assert alert.details["stale_streams"] == 1
    assert alert.details["lag_seconds snowflake/ACME/sessions"] is None
    assert stale_alert(stream_status([], now=t0), source=SOURCE) is None

    f = failure_alert(
        source=SOURCE,
        exit_code=3,
        errors={"snowflake/ACME/sessions": "CollectorError"},
        schedule="nightly",
        at=AT,
    )
    assert f.summary == "schedule nightly failed with exit code 3 (1 stream(s) failed)"
    assert f.details["error snowflake/ACME/sessions"] == "CollectorError"
    assert f.dedup_key == _alert_key(f)


def _alert_key(a: Alert) -> str:
    # Same kind, source and streams: the same incident.
    again = Alert(a.kind, "warning", "other words", a.source, streams=a.streams)
    return again.dedup_key


def test_an_alert_refuses_an_unknown_kind_or_severity() -> None:
    with pytest.raises(ValueError):
        Alert("oops", "error", "s", SOURCE)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Alert("stale", "fatal", "s", SOURCE)  # type: ignore[arg-type]


def test_a_transport_error_that_echoes_the_url_is_redacted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import urllib.error

    from das_evidence.schedules import alerts

    def echoing(url: str, body: bytes, timeout: float) -> int:
        raise urllib.error.URLError(f"proxy refused {url}")

    monkeypatch.setattr(alerts, "_post", echoing)
    secret_url = "https://hooks.example.com/services/T0/B0/URLSECRET"
    with caplog.at_level(logging.INFO):
        [r] = send_alerts(_alert(), [Webhook("slack", url=SecretStr(secret_url))], retry_delay=0)
    assert not r.ok and r.error is not None and r.error.startswith("str: proxy refused")
    assert "URLSECRET" not in r.error and "URLSECRET" not in caplog.text
