"""Named schedules: their cron expressions, and the crontab or Kubernetes CronJobs that run them.

A schedule (``[schedules.<name>]`` in evidence.toml) is a five-field cron
expression, the streams it collects (globs, matched as ``--only`` matches
them) and a time zone. :func:`parse_cron` checks an expression the way both
targets read it (Vixie/cronie cron and the Kubernetes controller), and refuses
what only one of them accepts (``5/10``, ``?``, ``L``, ``W``, ``#``).

The renderers are deterministic: the same schedules give the same bytes, so
the output can be committed and diffed. The YAML is emitted here, with every
string double-quoted, so nothing depends on a YAML library's choices.
"""

from __future__ import annotations

import calendar
import re
import shlex
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from das_evidence.errors import ConfigError
from das_evidence.streams import stream_matches

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
# A DNS-1123 label that still fits a CronJob name (52 characters) after "evidence-".
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,41}[a-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")
CONFIG_DIR = "/etc/evidence"
# The pod's private emptyDir, not a shared host /tmp.
POD_TMP = "/tmp"  # noqa: S108
JOB_PREFIX = "evidence-"


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
    naming the field and the problem."""
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
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"schedule name {name!r} must be 1-43 lower-case letters, digits or '-' "
            "(it names a Kubernetes CronJob), e.g. nightly"
        )
    return name


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: CronExpr
    streams: tuple[str, ...] = ("*",)
    timezone: str = "UTC"

    def selects(self, stream: str) -> bool:
        """True when one of the globs matches the stream or its last part."""
        return stream_matches(stream, self.streams)


class ScheduleSettings(Protocol):
    """``[schedules.<name>]`` of evidence.toml."""

    @property
    def cron(self) -> str: ...

    @property
    def streams(self) -> Sequence[str]: ...

    @property
    def timezone(self) -> str: ...


def make_schedule(
    name: str, cron: str, streams: Sequence[str] = ("*",), timezone: str = "UTC"
) -> Schedule:
    """A checked schedule. Raises ValueError."""
    if not streams or any(not g.strip() for g in streams):
        raise ValueError(f"schedule {name!r}: streams must list at least one non-empty glob")
    return Schedule(
        validate_schedule_name(name), parse_cron(cron), tuple(streams), validate_timezone(timezone)
    )


def schedules_from(config: Mapping[str, ScheduleSettings]) -> list[Schedule]:
    """Schedules in name order; a bad one raises ConfigError naming it."""
    out: list[Schedule] = []
    for name in sorted(config):
        s = config[name]
        try:
            out.append(make_schedule(name, s.cron, s.streams, s.timezone))
        except ValueError as e:
            raise ConfigError(
                f"schedules.{name}: {e}", fix=f"correct [schedules.{name}] in evidence.toml"
            ) from None
    return out


# --- crontab ------------------------------------------------------------------------


def _crontab_safe(text: str, what: str) -> str:
    if any(c in text for c in "\n\r\0"):
        raise ConfigError(f"{what} contains a line break", fix=f"use a {what} on one line")
    return text.replace("%", "\\%")  # cron turns an unescaped % into a line break


def render_crontab(
    schedules: Sequence[Schedule], *, config_path: str, command: str = "evidence"
) -> str:
    """Crontab lines, one per schedule, each after the ``CRON_TZ`` it runs in.

    ``CRON_TZ`` is read by cronie (RHEL, Fedora); a cron that ignores it runs
    every line in the daemon's own time zone, so check yours before relying on it.
    """
    if not schedules:
        raise ConfigError("no schedules are configured", fix="add a [schedules.<name>] table")
    lines = [
        "# das-evidence schedules, generated by `evidence schedule render --format crontab`.",
        "# Edit [schedules] in evidence.toml and render again; do not edit these lines.",
    ]
    cmd = _crontab_safe(command, "command")
    cfg = _crontab_safe(shlex.quote(config_path), "config path")
    tz: str | None = None
    for s in schedules:
        if s.timezone != tz:
            tz = s.timezone
            lines.append(f"CRON_TZ={tz}")
        lines.append(f"{s.cron.text} {cmd} run --schedule {s.name} --config {cfg}")
    return "\n".join(lines) + "\n"


# --- Kubernetes ---------------------------------------------------------------------

DEFAULT_RESOURCES: Mapping[str, Any] = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "2Gi"},
}


def _check_name(value: str, pattern: re.Pattern[str], what: str) -> None:
    if not pattern.fullmatch(value):
        raise ConfigError(
            f"{what} {value!r} is not a valid Kubernetes name",
            fix="use lower-case letters, digits and '-'",
        )


def k8s_cronjobs(
    schedules: Sequence[Schedule],
    *,
    image: str,
    config_secret: str,
    namespace: str,
    config_file: str = "evidence.toml",
    service_account: str | None = None,
    starting_deadline_seconds: int = 3600,
    active_deadline_seconds: int = 4 * 3600,
    run_as_user: int = 65532,
    resources: Mapping[str, Any] = DEFAULT_RESOURCES,
) -> list[dict[str, Any]]:
    """One ``batch/v1`` CronJob per schedule, as data (see :func:`render_k8s`).

    The Secret ``config_secret`` is mounted read-only at /etc/evidence and must
    hold ``config_file``; files the config names (key files) must sit beside it
    in the same Secret, named relative to it (``key = "signing.key"``), or be
    KMS keys. The root file system is read-only; /tmp is an emptyDir, and HOME
    points there for the Snowflake connector's caches.
    """
    if not schedules:
        raise ConfigError("no schedules are configured", fix="add a [schedules.<name>] table")
    if not image or any(c.isspace() for c in image):
        raise ConfigError(f"image {image!r} is not an image reference", fix="pass --image")
    _check_name(namespace, _DNS_LABEL, "namespace")
    _check_name(config_secret, _DNS_SUBDOMAIN, "secret")
    if service_account is not None:
        _check_name(service_account, _DNS_SUBDOMAIN, "service account")
    if "/" in config_file or not config_file:
        raise ConfigError(f"config file {config_file!r} must be a plain file name")
    out: list[dict[str, Any]] = []
    for s in schedules:
        labels = {
            "app.kubernetes.io/name": "das-evidence",
            "app.kubernetes.io/component": "collector",
            "das-evidence.dev/schedule": s.name,
        }
        pod_spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
        }
        if service_account is not None:
            pod_spec["serviceAccountName"] = service_account
        pod_spec |= {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": run_as_user,
                "runAsGroup": run_as_user,
                "fsGroup": run_as_user,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "evidence",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["evidence"],
                    "args": [
                        "run",
                        "--schedule",
                        s.name,
                        "--config",
                        f"{CONFIG_DIR}/{config_file}",
                    ],
                    "env": [
                        {"name": "HOME", "value": POD_TMP},
                        {"name": "TMPDIR", "value": POD_TMP},
                    ],
                    "resources": resources,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                        "privileged": False,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumeMounts": [
                        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                        {"name": "tmp", "mountPath": POD_TMP},
                    ],
                }
            ],
            "volumes": [
                # 0440 with fsGroup: readable by the non-root user, by nobody else.
                {"name": "config", "secret": {"secretName": config_secret, "defaultMode": 0o440}},
                {"name": "tmp", "emptyDir": {}},
            ],
        }
        out.append(
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {
                    "name": f"{JOB_PREFIX}{s.name}",
                    "namespace": namespace,
                    "labels": labels,
                },
                "spec": {
                    "schedule": s.cron.text,
                    "timeZone": s.timezone,
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": starting_deadline_seconds,
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 3,
                    "jobTemplate": {
                        "metadata": {"labels": labels},
                        "spec": {
                            # No retry inside the job: the next scheduled run completes an
                            # interrupted one, and each failed attempt would alert again.
                            "backoffLimit": 0,
                            "activeDeadlineSeconds": active_deadline_seconds,
                            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                        },
                    },
                },
            }
        )
    return out


def render_k8s(
    schedules: Sequence[Schedule],
    *,
    image: str,
    config_secret: str,
    namespace: str,
    service_account: str | None = None,
) -> str:
    """The CronJobs of :func:`k8s_cronjobs` (default options) as one multi-document YAML text."""
    docs = k8s_cronjobs(
        schedules,
        image=image,
        config_secret=config_secret,
        namespace=namespace,
        service_account=service_account,
    )
    header = "# das-evidence schedules, generated by `evidence schedule render --format k8s`.\n"
    return header + "".join("---\n" + dump_yaml(d) for d in docs)


# --- a small YAML emitter -----------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"}


def _quoted(s: str) -> str:
    """A YAML double-quoted scalar in printable ASCII: everything else escaped.

    Not ``json.dumps``: JSON writes a character beyond the BMP as a surrogate
    pair, which YAML reads as two characters.
    """
    out = []
    for c in s:
        n = ord(c)
        if c in ('"', "\\"):
            out.append("\\" + c)
        elif 0x20 <= n < 0x7F:
            out.append(c)
        elif n <= 0xFF:
            out.append(f"\\x{n:02x}")
        elif n <= 0xFFFF:
            out.append(f"\\u{n:04x}")
        else:
            out.append(f"\\U{n:08x}")
    return '"' + "".join(out) + '"'


def _key(k: object) -> str:
    if not isinstance(k, str):
        raise TypeError(f"YAML keys here are strings, not {type(k).__name__}")
    if _PLAIN_KEY.fullmatch(k) and k.lower() not in _YAML_WORDS:
        return k
    return _quoted(k)


def _scalar(v: object) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _quoted(v)
    if isinstance(v, Mapping) and not v:
        return "{}"
    if isinstance(v, list | tuple) and not v:
        return "[]"
    raise TypeError(f"cannot write {type(v).__name__} as YAML")


def _emit(obj: object, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if isinstance(v, Mapping | list | tuple) and v:
                lines.append(f"{pad}{_key(k)}:")
                _emit(v, indent + 1, lines)
            else:
                lines.append(f"{pad}{_key(k)}: {_scalar(v)}")
    elif isinstance(obj, list | tuple):
        for item in obj:
            if isinstance(item, Mapping | list | tuple) and item:
                sub: list[str] = []
                _emit(item, 0, sub)
                lines.append(f"{pad}- {sub[0]}")
                lines.extend(f"{pad}  {line}" for line in sub[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(f"{pad}{_scalar(obj)}")


def dump_yaml(obj: object) -> str:
    """Block-style YAML of mappings, lists, strings, ints, booleans and None."""
    lines: list[str] = []
    _emit(obj, 0, lines)
    return "\n".join(lines) + "\n"
