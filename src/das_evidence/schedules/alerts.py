"""Alerts from scheduled runs, and their delivery to webhooks (generic JSON, Slack,
PagerDuty, ServiceNow incidents).

An :class:`Alert` holds only what is safe to send anywhere: stream names,
counts, times, exit codes and error names the caller made safe. Its details
pass through :func:`scrub` when it is made, so no alert can carry a nested
object, a value under a secret-looking name or a PEM block, whatever the
caller passed.

:func:`send_alerts` never raises: a webhook that fails is logged and reported
as a :class:`DeliveryResult`, and the run goes on. Webhook URLs, PagerDuty
routing keys and ServiceNow passwords and tokens are secrets: they are held as
``SecretStr`` and logged only as ``scheme://host/…``. Delivery uses the standard
library alone, with a short timeout, one retry on a network error, 429 or 5xx, and no redirects (a
redirect could carry the alert somewhere the operator did not configure).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from pydantic import SecretStr

from das_evidence.errors import WebhookError
from das_evidence.timefmt import rfc3339
from das_evidence.validators import check_webhook_url, is_secret_name

if TYPE_CHECKING:
    from das_evidence.reports.model import CheckResult
    from das_evidence.schedules.status import StatusReport

log = logging.getLogger(__name__)

AlertKind = Literal["failure", "stale", "retention", "check"]
Severity = Literal["critical", "error", "warning", "info"]
WebhookKind = Literal["generic", "slack", "pagerduty", "servicenow"]
Scalar = str | int | float | bool | None

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
SERVICENOW_URL = "https://{instance}.service-now.com/api/now/table/incident"
MAX_SUBJECTS = 20  # subjects a check alert names; the count says how many there are
ALERT_SCHEMA = "https://das-evidence.dev/alerts/v1"
REDACTED = "[redacted]"
MAX_TEXT = 1000

# --- scrubbing ----------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN[^-]*-----.*?(?:-----END[^-]*-----|\Z)", re.DOTALL)
_INLINE = re.compile(
    r"(?i)(?<![a-z0-9])(password|passwd|passphrase|passcode|pwd|secret|token|api[_-]?key|"
    r"private[_-]?key|routing[_-]?key|authorization|auth)(?![a-z0-9])"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_KNOWN_TOKENS = re.compile(
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bxox[abposr]-[A-Za-z0-9-]{8,}"  # Slack tokens
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWTs
)


def redact_text(text: str) -> str:
    """``text`` with PEM blocks, ``password=...``-style pairs, bearer credentials, URL
    user-info and well-known token shapes replaced by ``[redacted]``."""
    text = _PEM.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _INLINE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return _KNOWN_TOKENS.sub(REDACTED, text)


def scrub(details: Mapping[Any, object]) -> dict[str, Scalar]:
    """Only simple scalars under string names; secret-named values and PEM blocks redacted.

    Nested values (lists, mappings, objects), non-finite floats and non-string
    names are dropped: an alert cannot pass along something it did not mean to.
    """
    out: dict[str, Scalar] = {}
    for name, value in details.items():
        if not isinstance(name, str):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if not (value is None or isinstance(value, str | int | float | bool)):
            continue
        key = name[:100]
        if is_secret_name(name):
            out[key] = REDACTED
        elif isinstance(value, str):
            out[key] = redact_text(value)[:MAX_TEXT]
        else:
            out[key] = value
    return out


# --- alerts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One alert. ``source`` names the archive (its log origin); ``at`` is the run's clock."""

    kind: AlertKind
    severity: Severity
    summary: str
    source: str
    details: Mapping[str, Scalar] = field(default_factory=dict)
    streams: tuple[str, ...] = ()
    dedup_key: str = ""
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(AlertKind):
            raise ValueError(f"alert kind {self.kind!r} is not one of {get_args(AlertKind)}")
        if self.severity not in get_args(Severity):
            raise ValueError(f"severity {self.severity!r} is not one of {get_args(Severity)}")
        object.__setattr__(self, "summary", redact_text(self.summary)[:MAX_TEXT])
        object.__setattr__(self, "source", redact_text(self.source)[:255])
        object.__setattr__(self, "streams", tuple(redact_text(s) for s in self.streams))
        object.__setattr__(self, "details", MappingProxyType(scrub(self.details)))
        if not self.dedup_key:
            object.__setattr__(self, "dedup_key", default_dedup_key(self))

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": ALERT_SCHEMA,
            "kind": self.kind,
            "severity": self.severity,
            "summary": self.summary,
            "source": self.source,
            "streams": list(self.streams),
            "details": dict(self.details),
            "dedup_key": self.dedup_key,
            "at": None if self.at is None else rfc3339(self.at),
        }


def default_dedup_key(alert: Alert) -> str:
    """``das-evidence/<kind>/<source>[/<streams digest>]``: the same problem with the same
    streams is one incident however often it is sent (PagerDuty allows 255 characters)."""
    key = f"das-evidence/{alert.kind}/{alert.source}"
    if alert.streams:
        digest = hashlib.sha256("\n".join(sorted(alert.streams)).encode()).hexdigest()[:16]
        key += f"/{digest}"
    return key[:255]


def stale_alert(report: StatusReport, *, source: str, severity: Severity = "error") -> Alert | None:
    """The alert for a :class:`~das_evidence.schedules.status.StatusReport`, or None if
    nothing is stale."""
    stale = [s for s in report.streams if s.stale]
    if not stale:
        return None
    details: dict[str, Scalar] = {"stale_streams": len(stale)}
    for s in stale:
        details[f"lag_seconds {s.stream}"] = None if s.lag is None else int(s.lag.total_seconds())
        details[f"objective_seconds {s.stream}"] = int(s.objective.total_seconds())
    names = tuple(s.stream for s in stale)
    return Alert(
        kind="stale",
        severity=severity,
        summary=f"{len(stale)} evidence stream(s) behind their objective: {', '.join(names)}",
        source=source,
        details=details,
        streams=names,
        at=report.now,
    )


def failure_alert(
    *,
    source: str,
    exit_code: int,
    errors: Mapping[str, str],
    schedule: str | None = None,
    at: datetime | None = None,
    severity: Severity = "error",
) -> Alert:
    """The alert for a run that failed. ``errors`` maps stream to a message the caller
    made safe (e.g. the error's class name); it is scrubbed again all the same."""
    what = f"schedule {schedule}" if schedule else "evidence run"
    details: dict[str, Scalar] = {"exit_code": exit_code, "failed_streams": len(errors)}
    if schedule:
        details["schedule"] = schedule
    for stream, message in errors.items():
        details[f"error {stream}"] = message
    return Alert(
        kind="failure",
        severity=severity,
        summary=f"{what} failed with exit code {exit_code}"
        + (f" ({len(errors)} stream(s) failed)" if errors else ""),
        source=source,
        details=details,
        streams=tuple(errors),
        at=at,
    )


def _subject(finding: Mapping[str, Any]) -> str | None:
    """A finding's subject: the value under its first key (``user``, ``role``, ...)."""
    first = next(iter(finding.values()), None)
    if isinstance(first, str | int) and not isinstance(first, bool):
        return str(first)
    return None


def check_alert(
    result: CheckResult,
    *,
    source: str,
    period: tuple[datetime, datetime],
    at: datetime | None = None,
    severity: Severity = "error",
) -> Alert:
    """The alert for a control check that failed over the evidence a run collected.

    Only scalars: the check and CIS ids, the number of findings and of subjects, and
    the first :data:`MAX_SUBJECTS` subjects (each finding's first value) as one text.
    """
    subjects = sorted({s for f in result.findings if (s := _subject(f)) is not None})
    shown = ", ".join(subjects[:MAX_SUBJECTS])
    if len(subjects) > MAX_SUBJECTS:
        shown += f" (+{len(subjects) - MAX_SUBJECTS} more)"
    details: dict[str, Scalar] = {
        "check_id": result.check_id,
        "cis": result.cis,
        "status": result.status,
        "findings": len(result.findings),
        "subjects_count": len(subjects),
        "subjects": shown,
        "period_start": rfc3339(period[0]),
        "period_end": rfc3339(period[1]),
    }
    evaluated = result.details.get("evaluated")
    if isinstance(evaluated, int) and not isinstance(evaluated, bool):
        details["evaluated"] = evaluated
    cis = f" (CIS {result.cis})" if result.cis else ""
    return Alert(
        kind="check",
        severity=severity,
        summary=f"check {result.check_id}{cis} failed: {result.summary}",
        source=source,
        details=details,
        dedup_key=f"das-evidence/check/{source}/{result.check_id}"[:255],
        at=at,
    )


def subscribed(result: CheckResult, ids: Sequence[str]) -> bool:
    """A webhook's ``checks`` name this result by its check id or its CIS id."""
    return result.check_id in ids or (result.cis is not None and result.cis in ids)


# --- webhooks -----------------------------------------------------------------------


class WebhookSettings(Protocol):
    """One configured webhook: ``[[alerts.webhooks]]`` in evidence.toml, or a :class:`Webhook`."""

    @property
    def kind(self) -> str: ...

    @property
    def url(self) -> SecretStr | None: ...

    @property
    def routing_key(self) -> SecretStr | None: ...

    @property
    def on(self) -> Sequence[str]: ...

    @property
    def insecure_allow_http(self) -> bool: ...

    @property
    def checks(self) -> Sequence[str]: ...

    @property
    def instance(self) -> str | None: ...

    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> SecretStr | None: ...

    @property
    def token(self) -> SecretStr | None: ...

    @property
    def caller_id(self) -> str | None: ...

    @property
    def assignment_group(self) -> str | None: ...

    @property
    def category(self) -> str | None: ...


@dataclass(frozen=True)
class Webhook:
    kind: WebhookKind
    url: SecretStr | None = None
    routing_key: SecretStr | None = None
    on: tuple[str, ...] = ("failure", "stale")
    insecure_allow_http: bool = False
    checks: tuple[str, ...] = ()
    instance: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    caller_id: str | None = None
    assignment_group: str | None = None
    category: str | None = None


def webhook_url(hook: WebhookSettings) -> str:
    """Where ``hook`` posts: its ``url``, or its kind's default endpoint."""
    if hook.url is not None:
        return hook.url.get_secret_value()
    if hook.kind == "servicenow" and hook.instance:
        return SERVICENOW_URL.format(instance=hook.instance)
    return PAGERDUTY_URL


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one alert at one webhook. ``target`` is the redacted URL."""

    webhook: int
    kind: str
    target: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "webhook": self.webhook,
            "kind": self.kind,
            "target": self.target,
            "ok": self.ok,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
        }


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: the path and query of a webhook URL are its secret."""
    try:
        p = urllib.parse.urlsplit(url)
        host = p.hostname or "?"
        port = p.port
    except ValueError:
        return "(unparseable URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{p.scheme or '?'}://{host}{f':{port}' if port else ''}/…"


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack incoming-webhook JSON: ``text`` for notifications, ``blocks`` for the message."""
    title = f"[{alert.severity.upper()}] evidence {alert.kind}: {alert.source}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(alert.summary)[:3000]}},
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{_mrkdwn(k)}*\n{_mrkdwn(str(v))}"[:2000]}
        for k, v in alert.details.items()
    ]
    for i in range(0, len(fields), 10):  # Slack allows ten fields per section
        blocks.append({"type": "section", "fields": fields[i : i + 10]})
    context = [f"dedup `{_mrkdwn(alert.dedup_key)}`"]
    if alert.at is not None:
        context.insert(0, rfc3339(alert.at))
    if alert.streams:
        context.append("streams: " + _mrkdwn(", ".join(alert.streams)))
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(context)[:3000]}]}
    )
    return {"text": f"{title}: {alert.summary}", "blocks": blocks}


def pagerduty_payload(alert: Alert, routing_key: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 ``trigger`` event."""
    payload: dict[str, Any] = {
        "summary": alert.summary[:1024],
        "source": alert.source,
        "severity": alert.severity,
        "class": alert.kind,
        "custom_details": {**alert.details, "streams": list(alert.streams)},
    }
    if alert.at is not None:
        payload["timestamp"] = rfc3339(alert.at)
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.dedup_key[:255],
        "payload": payload,
    }


#: ServiceNow's incident urgency and impact: 1 high, 2 medium, 3 low
SERVICENOW_LEVELS: dict[str, tuple[str, str]] = {
    "critical": ("1", "1"),
    "error": ("2", "2"),
    "warning": ("3", "2"),
    "info": ("3", "3"),
}
SERVICENOW_CORRELATION_MAX = 100  # the incident's correlation_id column holds 100 characters


def servicenow_correlation_id(dedup_key: str) -> str:
    """The dedup key, or (when longer than the column) its head and a digest of it all."""
    if len(dedup_key) <= SERVICENOW_CORRELATION_MAX:
        return dedup_key
    digest = hashlib.sha256(dedup_key.encode()).hexdigest()[:16]
    return f"{dedup_key[: SERVICENOW_CORRELATION_MAX - 17]}/{digest}"


def servicenow_payload(alert: Alert, hook: WebhookSettings) -> dict[str, Any]:
    """A Table API incident (``POST /api/now/table/incident``): fields of the incident table."""
    urgency, impact = SERVICENOW_LEVELS[alert.severity]
    lines = [alert.summary, "", f"source: {alert.source}", f"kind: {alert.kind}"]
    if alert.at is not None:
        lines.append(f"at: {rfc3339(alert.at)}")
    lines += [f"{k}: {v}" for k, v in alert.details.items()]
    if alert.streams:
        lines.append("streams: " + ", ".join(alert.streams))
    lines.append(f"dedup key: {alert.dedup_key}")
    body: dict[str, Any] = {
        "short_description": f"[{alert.severity.upper()}] das-evidence {alert.kind}: "
        f"{alert.summary}"[:160],
        "description": "\n".join(lines)[:4000],
        "urgency": urgency,
        "impact": impact,
        "correlation_id": servicenow_correlation_id(alert.dedup_key),
        "correlation_display": "das-evidence",
    }
    for name in ("category", "caller_id", "assignment_group"):
        value = getattr(hook, name, None)
        if value:
            body[name] = value
    return body


def _auth_header(hook: WebhookSettings) -> dict[str, str]:
    if hook.token is not None:
        return {"Authorization": f"Bearer {hook.token.get_secret_value()}"}
    if hook.username and hook.password is not None:
        raw = f"{hook.username}:{hook.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    raise WebhookError("a servicenow webhook needs username and password, or token")


def _headers(hook: WebhookSettings) -> dict[str, str]:
    """Headers beyond the JSON content type: ServiceNow's authorization."""
    if hook.kind == "servicenow":
        return {"Accept": "application/json", **_auth_header(hook)}
    return {}


def _request(alert: Alert, hook: WebhookSettings) -> tuple[str, bytes]:
    """The URL and JSON body for ``hook``. Raises WebhookError if the hook is unusable."""
    if hook.kind == "servicenow":
        if hook.url is None and not hook.instance:
            raise WebhookError("a servicenow webhook needs instance or url")
        url = webhook_url(hook)
        body: dict[str, Any] = servicenow_payload(alert, hook)
    elif hook.kind == "pagerduty":
        url = hook.url.get_secret_value() if hook.url is not None else PAGERDUTY_URL
        if hook.routing_key is None or not hook.routing_key.get_secret_value():
            raise WebhookError("a pagerduty webhook needs a routing_key")
        body = pagerduty_payload(alert, hook.routing_key.get_secret_value())
    elif hook.kind in ("generic", "slack"):
        if hook.url is None or not hook.url.get_secret_value():
            raise WebhookError(f"a {hook.kind} webhook needs a url")
        url = hook.url.get_secret_value()
        body = slack_payload(alert) if hook.kind == "slack" else alert.to_json()
    else:
        raise WebhookError(f"unknown webhook kind {hook.kind!r}")
    check_webhook_url(url, allow_http=hook.insecure_allow_http)
    return url, json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError for the 3xx


_opener = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, timeout: float, headers: Mapping[str, str] | None = None) -> int:
    # The scheme was checked to be http(s) by check_webhook_url.
    req = urllib.request.Request(  # noqa: S310
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "das-evidence",
            **(headers or {}),
        },
    )
    with _opener.open(req, timeout=timeout) as resp:
        resp.read(65536)
        return int(resp.status)


def _hide(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, REDACTED)
    return redact_text(text)


def _deliver(
    alert: Alert,
    index: int,
    hook: WebhookSettings,
    *,
    timeout: float,
    retry_delay: float,
    sleep: Callable[[float], None],
) -> DeliveryResult:
    raw_url = webhook_url(hook)
    secrets = [raw_url, urllib.parse.urlsplit(raw_url).path]
    for secret in (hook.routing_key, getattr(hook, "password", None), getattr(hook, "token", None)):
        if secret is not None:
            secrets.append(secret.get_secret_value())
    secrets = [s for s in secrets if len(s) > 1]
    target = redact_url(raw_url)
    attempts = 0
    status: int | None = None
    error: str | None = None
    try:
        url, body = _request(alert, hook)
        headers = _headers(hook)
        for attempt in (1, 2):
            attempts = attempt
            retry = False
            try:
                status = (
                    _post(url, body, timeout, headers) if headers else _post(url, body, timeout)
                )
                if 200 <= status < 300:
                    log.info("alert %s sent to %s webhook %s", alert.kind, hook.kind, target)
                    return DeliveryResult(index, hook.kind, target, True, attempts, status)
                error = f"HTTP {status}"
            except urllib.error.HTTPError as e:
                status = e.code
                error = f"HTTP {e.code}"
                retry = e.code == 429 or e.code >= 500
                e.close()
            except (urllib.error.URLError, OSError) as e:
                reason = e.reason if isinstance(e, urllib.error.URLError) else e
                error = f"{type(reason).__name__}: {reason}"
                retry = True
            if not retry:
                break
            if attempt == 1:
                sleep(retry_delay)
    except WebhookError as e:
        error = str(e)
    except Exception as e:  # never let an alert fail the run
        error = type(e).__name__
    error = _hide(error or "unknown error", secrets)
    log.warning(
        "alert %s not delivered to %s webhook %s after %d attempt(s): %s",
        alert.kind,
        hook.kind,
        target,
        attempts,
        error,
    )
    return DeliveryResult(index, hook.kind, target, False, attempts, status, error)


def send_alerts(
    alert: Alert,
    webhooks: Sequence[WebhookSettings],
    *,
    timeout: float = 5.0,
    retry_delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryResult]:
    """Send ``alert`` to every webhook whose ``on`` lists its kind. Never raises."""
    results: list[DeliveryResult] = []
    for index, hook in enumerate(webhooks):
        try:
            if alert.kind not in hook.on:
                continue
            results.append(
                _deliver(alert, index, hook, timeout=timeout, retry_delay=retry_delay, sleep=sleep)
            )
        except Exception as e:  # a broken hook object must not stop the others
            log.warning("alert %s: webhook %d unusable: %s", alert.kind, index, type(e).__name__)
            results.append(
                DeliveryResult(
                    index, str(getattr(hook, "kind", "?")), "?", False, 0, None, type(e).__name__
                )
            )
    return results
