"""Check alerts and ServiceNow incidents: subscriptions by check or CIS id, the alert a
failing check makes, and the Table API request a loopback receiver gets."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from das_evidence.config import WebhookConfig
from das_evidence.errors import ConfigError
from das_evidence.reports.checks.registry import check_subscriptions, checks_for
from das_evidence.reports.model import CheckResult, Control
from das_evidence.schedules.alerts import (
    MAX_SUBJECTS,
    SERVICENOW_CORRELATION_MAX,
    Alert,
    Webhook,
    check_alert,
    send_alerts,
    servicenow_correlation_id,
    subscribed,
    webhook_url,
)
from tests.webhook_receiver import Receiver, receiving

AT = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
PERIOD = (datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
SOURCE = "evidence.example.org/prod"
CONTROL = Control(("CC6.1",), ("164.312(a)(1)",))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


def _failed(n: int = 2, **kw: Any) -> CheckResult:
    return CheckResult(
        check_id="admin-default-role",
        title="Ensure that no users have ACCOUNTADMIN or SECURITYADMIN as the default role",
        status="fail",
        summary=f"{n} users have an admin default role",
        control=CONTROL,
        findings=tuple(
            {"user": f"USER_{i:03d}", "default_role": "ACCOUNTADMIN", "as_of": "2026-11-26"}
            for i in range(n)
        ),
        details={"evaluated": 40, "passed": ["A", "B"]},
        cis="1.12",
        **kw,
    )


# --- configuration ---------------------------------------------------------------------


def test_a_webhook_subscribes_to_checks_with_check_in_on() -> None:
    hook = WebhookConfig(
        kind="generic",
        url=SecretStr("https://h/x"),
        on=("failure", "check"),
        checks=("1.12", "accountadmin-grantees"),
    )
    assert hook.checks == ("1.12", "accountadmin-grantees")
    with pytest.raises(ValidationError, match='on lists "check" but checks names none'):
        WebhookConfig(kind="generic", url=SecretStr("https://h/x"), on=("check",))
    with pytest.raises(ValidationError, match='on does not list "check"'):
        WebhookConfig(kind="generic", url=SecretStr("https://h/x"), checks=("1.12",))


def test_unknown_and_manual_ids_are_a_config_error_naming_them() -> None:
    check_subscriptions(["1.12", "accountadmin-grantees"], where="alerts.webhooks[0].checks")
    with pytest.raises(ConfigError) as e:
        check_subscriptions(["1.12", "9.99", "no-such-check"], where="alerts.webhooks[2].checks")
    assert "alerts.webhooks[2].checks" in e.value.message
    assert "9.99, no-such-check" in e.value.message and "1.12," not in e.value.message
    assert e.value.fix is not None and "accountadmin-grantees" in e.value.fix
    with pytest.raises(ConfigError, match=r"4\.9 is a manual recommendation"):
        check_subscriptions(["4.9"], where="alerts.webhooks[0].checks")


def test_checks_for_finds_checks_by_check_id() -> None:
    assert [c.check_id for c in checks_for(["accountadmin-grantees"])] == ["accountadmin-grantees"]
    assert checks_for(["4.9"]) == []  # manual: no check


def test_servicenow_needs_an_instance_and_one_auth_scheme() -> None:
    ok = WebhookConfig(kind="servicenow", instance="acme", username="svc", password=SecretStr("pw"))
    assert webhook_url(ok) == "https://acme.service-now.com/api/now/table/incident"
    bearer = WebhookConfig(kind="servicenow", instance="acme", token=SecretStr("t"))
    assert bearer.token is not None
    for bad, match in [
        ({"username": "svc", "password": SecretStr("pw")}, "needs instance"),
        ({"instance": "acme"}, "exactly one of them"),
        (
            {
                "instance": "acme",
                "token": SecretStr("t"),
                "username": "u",
                "password": SecretStr("p"),
            },
            "exactly one of them",
        ),
        ({"instance": "acme", "username": "svc"}, "needs both username and password"),
        ({"instance": "acme.evil.example", "token": SecretStr("t")}, "not a ServiceNow instance"),
    ]:
        with pytest.raises(ValidationError, match=match):
            WebhookConfig(kind="servicenow", **bad)
    with pytest.raises(ValidationError, match="instance is only for servicenow"):
        WebhookConfig(kind="slack", url=SecretStr("https://h/x"), instance="acme")


def test_a_servicenow_secret_is_never_printed() -> None:
    hook = WebhookConfig(
        kind="servicenow", instance="acme", username="svc", password=SecretStr("PW-CANARY")
    )
    assert "PW-CANARY" not in repr(hook) and "PW-CANARY" not in hook.model_dump_json()


# --- the alert -------------------------------------------------------------------------


def test_a_failing_check_makes_an_alert_of_safe_scalars() -> None:
    alert = check_alert(_failed(), source=SOURCE, period=PERIOD, at=AT)
    assert alert.kind == "check" and alert.severity == "error"
    assert alert.summary == (
        "check admin-default-role (CIS 1.12) failed: 2 users have an admin default role"
    )
    assert dict(alert.details) == {
        "check_id": "admin-default-role",
        "cis": "1.12",
        "status": "fail",
        "findings": 2,
        "subjects_count": 2,
        "subjects": "USER_000, USER_001",
        "period_start": "2026-11-26T00:00:00Z",
        "period_end": "2026-11-27T00:00:00Z",
        "evaluated": 40,
    }
    assert alert.dedup_key == f"das-evidence/check/{SOURCE}/admin-default-role"


def test_many_subjects_are_counted_and_cut_short() -> None:
    alert = check_alert(_failed(MAX_SUBJECTS + 5), source=SOURCE, period=PERIOD)
    assert alert.details["subjects_count"] == MAX_SUBJECTS + 5
    assert str(alert.details["subjects"]).endswith("USER_019 (+5 more)")


def test_a_secret_in_a_finding_is_scrubbed() -> None:
    r = _failed(1)
    leaky = CheckResult(
        **{
            **r.__dict__,
            "findings": ({"user": "password=hunter2-CANARY", "default_role": "ACCOUNTADMIN"},),
        }
    )
    alert = check_alert(leaky, source=SOURCE, period=PERIOD)
    assert "hunter2-CANARY" not in json.dumps(alert.to_json())


def test_a_webhook_hears_a_check_by_its_check_id_or_its_cis_id() -> None:
    r = _failed()
    assert subscribed(r, ["1.12"]) and subscribed(r, ["admin-default-role"])
    assert not subscribed(r, ["1.13", "accountadmin-grantees"])
    platform = CheckResult("accountadmin-grantees", "t", "fail", "s", CONTROL)
    assert subscribed(platform, ["accountadmin-grantees"]) and not subscribed(platform, ["1.10"])


def test_check_alerts_go_only_to_webhooks_with_check_in_on(receiver: Receiver) -> None:
    alert = check_alert(_failed(), source=SOURCE, period=PERIOD, at=AT)
    hooks = [
        Webhook("generic", url=SecretStr(receiver.url("/checks")), on=("check",)),
        Webhook("generic", url=SecretStr(receiver.url("/failures")), on=("failure",)),
    ]
    [r] = send_alerts(alert, hooks, retry_delay=0)
    assert r.ok and [q["path"] for q in receiver.requests] == ["/checks"]
    body = json.loads(receiver.requests[0]["body"])
    assert body["kind"] == "check" and body["details"]["cis"] == "1.12"


# --- ServiceNow --------------------------------------------------------------------------


def _servicenow(receiver: Receiver, **kw: Any) -> Webhook:
    auth: dict[str, Any] = kw or {"username": "svc", "password": SecretStr("pw-CANARY")}
    return Webhook(
        "servicenow",
        url=SecretStr(receiver.url("/api/now/table/incident")),
        on=("check", "failure"),
        category="software",
        assignment_group="Data Platform",
        **auth,
    )


def test_servicenow_gets_a_table_api_incident_with_basic_auth(receiver: Receiver) -> None:
    receiver.statuses = [201]
    alert = check_alert(_failed(), source=SOURCE, period=PERIOD, at=AT)
    [r] = send_alerts(alert, [_servicenow(receiver)], retry_delay=0)
    assert r.ok and r.status == 201 and r.kind == "servicenow"
    [q] = receiver.requests
    assert q["path"] == "/api/now/table/incident"
    headers = {k.lower(): v for k, v in q["headers"].items()}
    assert headers["authorization"] == "Basic " + base64.b64encode(b"svc:pw-CANARY").decode()
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    body = json.loads(q["body"])
    assert set(body) == {
        "short_description",
        "description",
        "urgency",
        "impact",
        "correlation_id",
        "correlation_display",
        "category",
        "assignment_group",
    }
    assert body["short_description"].startswith("[ERROR] das-evidence check: check admin-default")
    assert len(body["short_description"]) <= 160
    assert (body["urgency"], body["impact"]) == ("2", "2")
    assert body["correlation_id"] == alert.dedup_key
    assert body["category"] == "software" and body["assignment_group"] == "Data Platform"
    assert "subjects: USER_000, USER_001" in body["description"]
    assert "cis: 1.12" in body["description"]
    assert "pw-CANARY" not in q["body"].decode()


def test_servicenow_bearer_auth_and_severity_mapping(receiver: Receiver) -> None:
    hook = _servicenow(receiver, token=SecretStr("tok-CANARY"))
    alert = Alert(kind="failure", severity="critical", summary="down", source=SOURCE, at=AT)
    [r] = send_alerts(alert, [hook], retry_delay=0)
    assert r.ok
    headers = {k.lower(): v for k, v in receiver.requests[0]["headers"].items()}
    assert headers["authorization"] == "Bearer tok-CANARY"
    body = json.loads(receiver.requests[0]["body"])
    assert (body["urgency"], body["impact"]) == ("1", "1")
    assert "caller_id" not in body  # optional, not configured


def test_a_long_dedup_key_fits_the_correlation_id_column() -> None:
    key = "das-evidence/check/" + "o" * 300
    cid = servicenow_correlation_id(key)
    assert len(cid) == SERVICENOW_CORRELATION_MAX
    assert cid != servicenow_correlation_id(key + "x")  # the digest keeps them apart


def test_a_rejected_servicenow_post_is_reported_without_its_credentials(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [401]
    with caplog.at_level(logging.INFO):
        [r] = send_alerts(
            check_alert(_failed(), source=SOURCE, period=PERIOD),
            [_servicenow(receiver)],
            retry_delay=0,
        )
    assert not r.ok and r.status == 401 and r.attempts == 1  # a client error: no retry
    assert "pw-CANARY" not in caplog.text and "pw-CANARY" not in str(r.to_json())
