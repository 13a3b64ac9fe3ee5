"""Pure checks of single configuration values, shared by the configuration and the schedules.

A leaf module: it imports nothing from the rest of the package, so
``config`` and ``schedules`` can both use it without importing each other.
Every check takes a value and returns it (checked, or normalised) or raises
``ValueError`` with a message that never repeats a secret it was given.

- cron expressions, the way both Vixie/cronie cron and the Kubernetes
  controller read them (:func:`parse_cron`);
- IANA time zone names and schedule names;
- webhook URLs (:func:`check_webhook_url`);
- names that hold secrets (:func:`is_secret_name`), for configuration keys
  that pass through to a connector and for alert details.
"""

from __future__ import annotations

import calendar
import re
import urllib.parse
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass

from das_evidence.errors import WebhookError

# --- cron expressions ---------------------------------------------------------------

MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
WEEKDAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
# name, lowest, highest, names
_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, WEEKDAYS),
)
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class CronExpr:
    """A checked cron expression: ``text`` as written (macros kept), and its value sets."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday; a written 7 is stored as 0


def _value(token: str, name: str, lo: int, hi: int, names: Mapping[str, int]) -> int:
    if token.isascii() and token.isdigit():
        n = int(token)
    elif token.upper() in names:
        n = names[token.upper()]
    else:
        hint = f" or a name like {next(iter(names))}" if names else ""
        raise ValueError(f"{name} {token!r} is not a number{hint}")
    if not lo <= n <= hi:
        raise ValueError(f"{name} {n} is outside {lo}-{hi}")
    return n


def _field(text: str, name: str, lo: int, hi: int, names: Mapping[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"{name} {text!r} has an empty list item")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) < 1:
                raise ValueError(f"{name} step {step_text!r} must be a whole number from 1")
            step = int(step_text)
            if step > hi - lo + 1:
                raise ValueError(f"{name} step {step} is larger than the range {lo}-{hi}")
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, name, lo, hi, names), _value(b, name, lo, hi, names)
            if start > end:
                raise ValueError(f"{name} range {base!r} runs backwards")
        else:
            if slash:
                raise ValueError(f"{name} {item!r}: write a step on * or a range, e.g. */{step}")
            start = end = _value(base, name, lo, hi, names)
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(text: str) -> CronExpr:
    """Check a five-field expression (or a macro such as ``@daily``). Raises ValueError
    naming the field and the problem.

    Refuses what only one of cron and Kubernetes accepts (``5/10``, ``?``, ``L``,
    ``W``, ``#``)."""
    written = " ".join(text.split())
    expanded = MACROS.get(written.lower(), written)
    if expanded.startswith("@"):
        raise ValueError(f"{written!r} is not a known macro; use one of {', '.join(MACROS)}")
    parts = expanded.split(" ")
    if len(parts) != 5:
        raise ValueError(
            f"{written!r} has {len(parts)} fields; cron needs 5: minute hour day-of-month "
            "month day-of-week, e.g. '15 3 * * *'"
        )
    sets = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
    minutes, hours, days, months, weekdays = sets
    weekdays = frozenset(0 if d == 7 else d for d in weekdays)
    # With the day of week unrestricted, cron runs only on the listed days of the month.
    if parts[4] == "*" and not any(d <= _DAYS_IN_MONTH[m - 1] for d in days for m in months):
        raise ValueError(f"{written!r} never runs: no listed month has those days")
    return CronExpr(written, minutes, hours, days, months, weekdays)


# --- names --------------------------------------------------------------------------

# A DNS-1123 label that still fits a CronJob name (52 characters) after "evidence-".
_SCHEDULE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,41}[a-z0-9])?")


def validate_timezone(name: str) -> str:
    """An IANA time zone name, e.g. ``UTC`` or ``Europe/Berlin``. Raises ValueError."""
    if name in ("UTC", "Etc/UTC"):  # valid even without a zoneinfo database
        return name
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"time zone {name!r} is not an IANA name like UTC or Europe/Berlin"
        ) from None
    return name


def validate_schedule_name(name: str) -> str:
    if not _SCHEDULE_NAME.fullmatch(name):
        raise ValueError(
            f"schedule name {name!r} must be 1-43 lower-case letters, digits or '-' "
            "(it names a Kubernetes CronJob), e.g. nightly"
        )
    return name


# --- webhook URLs -------------------------------------------------------------------

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_webhook_url(url: str, *, allow_http: bool = False) -> None:
    """Refuse what is not ``https://host/...`` (``http`` only to loopback, or by name).

    The URL is a secret (its path is the credential): no message repeats it."""
    try:
        p = urllib.parse.urlsplit(url)
        p.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise WebhookError("the URL cannot be parsed") from None
    if p.scheme not in ("https", "http") or not p.hostname:
        raise WebhookError("the URL must be https://host/...")
    if p.username is not None or p.password is not None:
        raise WebhookError("the URL must not carry user:password@")
    if p.scheme == "http" and not allow_http and p.hostname not in LOOPBACK_HOSTS:
        raise WebhookError("plain http is refused (set insecure_allow_http to allow it)")


# --- secret names -------------------------------------------------------------------

# Any name containing one of these is a secret ...
_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "authorization",
    "credential",
    "apikey",
    "privatekey",
    "cookie",
)
# ... and so is a name with one of these as a word of its own (not "monkey", "keystone").
_SECRET_TOKENS = {"key", "pwd", "auth", "pass", "pin"}
_NAME_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_secret_name(name: str) -> bool:
    """True for names like ``password``, ``passcode``, ``api_key``, ``apiKey``,
    ``oauth_client_secret``, ``private_key_file_pwd``."""
    flat = re.sub(r"[^a-z0-9]", "", name.lower())
    if any(w in flat for w in _SECRET_WORDS):
        return True
    return any(w.lower() in _SECRET_TOKENS for w in _NAME_WORDS.findall(name))
