"""Configuration: one frozen settings object from defaults < evidence.toml < EVIDENCE_* < flags.

Library code receives a :class:`Settings`; only the CLI reads files and the
environment (through :func:`load_settings`). Snowflake settings use the
connector's own argument names and pass any other connector argument through,
so one file points at a real account or at a local server. Relative paths
resolve against the directory of the config file.

Types are strict where coercion would hide a mistake: a time is a TOML
datetime or an RFC 3339 string with a zone, a number is a number and a
boolean is ``true`` or ``false``, never a quoted string (``start = 42`` is not
1970). Values from ``EVIDENCE_*`` variables are text: numbers and booleans are
read from that text, tables and lists from JSON. A bad value is a
:class:`~das_evidence.errors.ConfigError` that names the key and where it came
from: ``evidence.toml line 12: streams.access_history.start: ...`` or
``EVIDENCE_SNOWFLAKE__PORT: snowflake.port: ...``.

Every secret is a ``SecretStr``: the declared ones, a connector argument
passed through under a secret-looking name (:func:`~das_evidence.validators.is_secret_name`),
and webhook URLs and routing keys. ``repr``, ``str`` and JSON dumps show
``**********``; :meth:`SnowflakeConfig.connector_args` reveals them, for the
connector call only.
"""

from __future__ import annotations

import base64
import contextvars
import json
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from das_evidence.errors import ConfigError, ConfigKeyError, WebhookError
from das_evidence.streams import DOCUMENTED_LATENCY, POLICY_STREAM, REQUIRED_STREAMS, STREAMS
from das_evidence.timefmt import format_duration, parse_rfc3339
from das_evidence.validators import (
    check_webhook_url,
    is_secret_name,
    parse_cron,
    validate_schedule_name,
    validate_timezone,
)

ENV_PREFIX = "EVIDENCE_"
ENV_DELIMITER = "__"

# --- strict value types ---------------------------------------------------------------


class EnvText(str):
    """A value read from an ``EVIDENCE_*`` variable: text, from which a number or a
    boolean may be read. A quoted ``"8123"`` in the file is text and stays text."""


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text in quotes"
    if isinstance(value, datetime | date):
        return "a date"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


_INT_TEXT = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _strict_int(value: object) -> object:
    if isinstance(value, EnvText):
        if _INT_TEXT.fullmatch(value.strip()):
            return int(value)
        raise ValueError("must be a whole number")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        raise ValueError("must be a whole number, not text: write it without quotes")
    raise ValueError(f"must be a whole number, not {_kind(value)}")


def _strict_bool(value: object) -> object:
    if isinstance(value, EnvText):
        text = value.strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError("must be true or false")
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        raise ValueError("must be true or false, not text: write it without quotes")
    raise ValueError(f"must be true or false, not {_kind(value)}")


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")
_LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")
_TIME_EXAMPLE = "e.g. 2026-11-01T00:00:00Z"


def _aware_time(value: object) -> object:
    """A TOML offset datetime, or an RFC 3339 string with a zone; as UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"needs a time zone, {_TIME_EXAMPLE}")
        return value.astimezone(UTC)
    if isinstance(value, date):
        raise ValueError(f"needs a time of day and a time zone, {_TIME_EXAMPLE}")
    if isinstance(value, str):
        text = value.strip()
        if _RFC3339.fullmatch(text):
            try:
                return parse_rfc3339(text.upper())
            except ValueError:
                raise ValueError(f"{text!r} is not a valid date and time") from None
        if _LOCAL_TIME.fullmatch(text):
            raise ValueError(f"needs a time zone, {_TIME_EXAMPLE}")
        raise ValueError(f"must be an RFC 3339 time with a zone, {_TIME_EXAMPLE}")
    raise ValueError(f"must be an RFC 3339 time with a zone ({_TIME_EXAMPLE}), not {_kind(value)}")


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: object) -> object:
    """``"90s"``, ``"45m"``, ``"3h"``, ``"2d"``; a bare number is refused (which unit?)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    example = 'a duration such as "90s", "45m", "3h" or "2d"'
    if isinstance(value, str):
        raise ValueError(f"must be {example}")
    raise ValueError(f"must be {example}, not {_kind(value)}")


Int = Annotated[int, BeforeValidator(_strict_int)]
Bool = Annotated[bool, BeforeValidator(_strict_bool)]
Time = Annotated[datetime, BeforeValidator(_aware_time)]


# Written back as "10m" (in JSON dumps, report scopes), so a dump reads back in.
Duration = Annotated[
    timedelta, BeforeValidator(_duration), PlainSerializer(format_duration, when_used="json")
]

# --- sections -------------------------------------------------------------------------


class SnowflakeConfig(BaseModel):
    """Connector arguments, named as ``snowflake.connector.connect`` names them.

    The arguments declared here are checked by type. Any other passes through
    unchanged, except that text under a secret-looking name (``*token*``,
    ``*secret*``, ``*pwd*``, ...) is held as a ``SecretStr`` like the declared
    secrets. :meth:`connector_args` is the one place that reveals them.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    account: str | None = None
    user: str | None = None
    role: str | None = None
    warehouse: str | None = None
    database: str | None = None
    # "schema" would shadow a BaseModel attribute.
    schema_: str | None = Field(default=None, alias="schema")
    region: str | None = None
    application: str | None = None
    host: str | None = None
    port: Int | None = Field(default=None, ge=1, le=65535)
    protocol: Literal["https", "http"] | None = None
    # Credentials: one of password, private_key_file (+ private_key_file_pwd),
    # token (authenticator = "oauth"), or connection_name.
    authenticator: str | None = None
    connection_name: str | None = None
    password: SecretStr | None = None
    passcode: SecretStr | None = None
    passcode_in_password: Bool | None = None
    private_key_file: Path | None = None
    private_key_file_pwd: SecretStr | None = None
    private_key: SecretStr | None = None
    token: SecretStr | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    proxy_password: SecretStr | None = None
    client_store_temporary_credential: Bool | None = None
    client_request_mfa_token: Bool | None = None
    # Timeouts in seconds. login_timeout bounds the whole login, the probe before it
    # (at most 6 s of it) and each login request's wait for an answer.
    login_timeout: Int = Field(default=20, ge=1)
    network_timeout: Int = Field(default=600, ge=1)
    socket_timeout: Int | None = Field(default=None, ge=1)
    external_browser_timeout: Int | None = Field(default=None, ge=1)
    client_prefetch_threads: Int | None = Field(default=None, ge=1)
    client_session_keep_alive: Bool | None = None
    client_session_keep_alive_heartbeat_frequency: Int | None = Field(default=None, ge=1)
    validate_default_parameters: Bool | None = None
    ocsp_fail_open: Bool | None = None
    disable_ocsp_checks: Bool | None = None
    autocommit: Bool | None = None
    session_parameters: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _hold_passed_through_secrets(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        known = {f.alias or name for name, f in cls.model_fields.items()}
        out: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                if isinstance(value, EnvText):
                    value = str(value)
                if isinstance(value, str) and is_secret_name(str(name)):
                    value = SecretStr(value)
            out[name] = value
        return out

    def check_files(self) -> None:
        """Fail before a run writes anything when the key file the login needs is missing.

        The connector would find out only at the first login, after the archive
        directory was made; the starter configuration names a key file that
        ``evidence init`` does not write (the collector's Snowflake key pair).
        """
        path = self.private_key_file
        if path is None or (path.is_file() and os.access(path, os.R_OK)):
            return
        if not path.exists():
            what = "does not exist"
        elif not path.is_file():
            what = "is not a file"
        else:
            what = "cannot be read by this user"
        raise ConfigError(
            f"snowflake.private_key_file {path} {what}",
            fix="create the collector's key pair and register its public key "
            "(docs/OPERATIONS.md, section 1, and deploy/snowflake/setup.sql), or point "
            "private_key_file in [snowflake] at the PKCS#8 file you have "
            "(or use password or connection_name instead)",
        )

    def connector_args(self) -> dict[str, Any]:
        """The keyword arguments for the connector, secrets revealed, ``None`` dropped."""
        args: dict[str, Any] = {}
        for name, value in self.model_dump(by_alias=True).items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, Path):
                value = str(value)
            args[name] = value
        return args


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = "archive"
    # S3 only. The endpoint may also come from AWS_ENDPOINT_URL(_S3), as boto3 reads it.
    endpoint_url: str | None = None
    region: str | None = None
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    retention_days: Int = Field(default=2557, ge=1, le=36500)
    # A collected file larger than this is split into parts (``.part-0001.parquet`` ...), so
    # every file stays one single-part PUT with a SHA-256 checksum (S3 allows up to 5 GiB).
    max_file_bytes: Int = Field(default=1024**3, ge=16 * 1024**2, le=5 * 1024**3)


class SigningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = "keys/signing.key"
    # Only with an ECDSA KMS key: checkpoints need an Ed25519 key of their own.
    note_key: str | None = None
    # KMS only; the endpoint may also come from AWS_ENDPOINT_URL(_KMS).
    region: str | None = None
    endpoint_url: str | None = None
    # Every key that has signed this log and the indexes each covers (key rotation):
    # what the run's own verification trusts besides its current keys.
    keys_file: Path | None = None


class LogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: str = Field(min_length=1)

    @field_validator("origin")
    @classmethod
    def _origin_plain(cls, v: str) -> str:
        if any(c.isspace() for c in v) or "+" in v:
            raise ValueError("must not contain spaces or '+' (it is also the note key name)")
        return v


class RedactionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hmac_key: Path = Path("keys/redaction.key")


_IDENTIFIER = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
_STAGE_NAME = re.compile(rf"^@{_IDENTIFIER}(?:\.{_IDENTIFIER}){{0,2}}$")
_STAGING_PREFIX = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(?:[A-Za-z0-9!_.*'()=-]+/)+$")


class StreamConfig(BaseModel):
    """One history stream, named after its view in ``[streams.<view>]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: Bool = True
    start: Time | None = None
    safety: Duration | None = None
    max_window: Duration = timedelta(days=1)
    min_window: Duration = timedelta(minutes=15)
    # History streams: a window with more rows is read in sub-range queries of at most this
    # many rows each (cut by time), so a result the source sends whole stays bounded.
    max_rows_per_query: Int = Field(default=100_000, ge=1)
    # ... and, once cut, of at most this many bytes of text each (the rows' columns as text,
    # summed per minute): wide rows are cut finer, so memory does not follow row width.
    max_bytes_per_query: Int = Field(default=64 << 20, ge=1 << 20)
    # Only query_history: keep raw query text (PHI risk): an explicit opt-in.
    keep_query_text: Bool = False
    # S3 Object Lock retention of this stream's files; default store.retention_days.
    retention_days: Int | None = Field(default=None, ge=1, le=36500)
    # Only policy_state: how often to snapshot, and USERS personal data per column.
    interval: Duration = timedelta(days=1)
    personal_data: dict[str, Literal["keep", "hmac", "drop"]] = Field(default_factory=dict)
    # History streams: "select" streams the rows through the collector; "server_side_unload"
    # has Snowflake write them (COPY INTO @stage) to staging_prefix, an external stage on
    # the evidence bucket, and copies the files into the archive (S3 store only).
    mode: Literal["select", "server_side_unload"] = "select"
    stage: str | None = None
    staging_prefix: str | None = None
    # COPY's MAX_FILE_SIZE: Snowflake's upper bound per unloaded file (S3: at most 5 GB).
    max_file_size: Int = Field(default=256 * 1024**2, ge=1, le=5 * 1024**3)

    @model_validator(mode="after")
    def _windows(self) -> StreamConfig:
        if self.max_window <= timedelta(0) or self.max_window > timedelta(days=1):
            raise ConfigKeyError("must be more than 0 and at most 1 day", key=("max_window",))
        if self.min_window < timedelta(0) or self.min_window > self.max_window:
            raise ConfigKeyError("must be between 0 and max_window", key=("min_window",))
        return self

    @model_validator(mode="after")
    def _unload(self) -> StreamConfig:
        if self.mode != "server_side_unload":
            for name in ("stage", "staging_prefix"):
                if getattr(self, name) is not None:
                    raise ConfigKeyError(
                        'is only read with mode = "server_side_unload"', key=(name,)
                    )
            return self
        if self.stage is None or not _STAGE_NAME.match(self.stage):
            raise ConfigKeyError(
                'must name the external stage, e.g. "@EVIDENCE_DB.EVIDENCE.UNLOAD_STAGE" '
                "(@ and one to three plain or double-quoted identifiers)",
                key=("stage",),
            )
        if self.staging_prefix is None or not _STAGING_PREFIX.match(self.staging_prefix):
            raise ConfigKeyError(
                'must be the stage\'s URL, e.g. "s3://evidence-bucket/staging/" '
                "(s3://, the evidence bucket, a prefix ending in /)",
                key=("staging_prefix",),
            )
        return self


class DbtConfig(BaseModel):
    """One dbt project: ``[[dbt]] project = "..."  target_dir = "path" or "s3://..."``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = Field(min_length=1)
    target_dir: str = Field(min_length=1)
    endpoint_url: str | None = None
    max_bytes: Int = Field(default=512 * 1024**2, ge=1)


class StatusConfig(BaseModel):
    """``[status]``: how far behind a stream may fall before ``evidence status`` calls it stale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Allowed lag beyond each stream's own latency (its safety margin; policy_state:
    # the views' 2 h plus any interval beyond a day); see status.default_objectives.
    objective: Duration = timedelta(hours=26)
    # Stream names or globs (matched as --only matches) -> allowed lag, taken as written.
    objectives: dict[str, Duration] = Field(default_factory=dict)
    # Written by `evidence run` after every run and read by `evidence status`; kept
    # outside the archive, which stays immutable. Relative to the config file.
    last_run_file: Path | None = None

    @model_validator(mode="after")
    def _positive(self) -> StatusConfig:
        if self.objective <= timedelta(0):
            raise ConfigKeyError("an objective must be more than 0", key=("objective",))
        for name, d in self.objectives.items():
            if d <= timedelta(0):
                raise ConfigKeyError(
                    "an objective must be more than 0",
                    key=(
                        "objectives",
                        name,
                    ),
                )
        return self


_SERVICENOW_INSTANCE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class WebhookConfig(BaseModel):
    """One ``[[alerts.webhooks]]``. ``url``, ``routing_key``, ``password`` and ``token``
    are secrets: prefer
    ``EVIDENCE_ALERTS__WEBHOOKS='[{"kind": "slack", "url": "..."}]'`` to the file.

    ``checks`` subscribes the webhook to failures of control checks, by check id
    (``accountadmin-grantees``) or CIS recommendation id (``1.12``), with ``"check"``
    in ``on``; the ids are checked against the registry when `evidence run` starts.
    A ``servicenow`` webhook opens an incident through the Table API of ``instance``
    (or of ``url``), with basic (``username`` + ``password``) or bearer (``token``) auth.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["generic", "slack", "pagerduty", "servicenow"]
    # pagerduty: default https://events.pagerduty.com/v2/enqueue;
    # servicenow: default https://<instance>.service-now.com/api/now/table/incident
    url: SecretStr | None = None
    routing_key: SecretStr | None = None
    on: tuple[Literal["failure", "stale", "retention", "check"], ...] = ("failure", "stale")
    # Plain http to a host other than loopback: an explicit, named opt-in.
    insecure_allow_http: Bool = False
    # check ids or CIS recommendation ids whose failures this webhook hears ("check" in on)
    checks: tuple[str, ...] = ()
    # servicenow only
    instance: str | None = None  # e.g. "acme" for https://acme.service-now.com
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    caller_id: str | None = None  # a sys_user sys_id or user name
    assignment_group: str | None = None  # a sys_user_group sys_id or name
    category: str | None = None  # an incident category of the instance, e.g. "software"

    @model_validator(mode="after")
    def _complete(self) -> WebhookConfig:
        servicenow = self.kind == "servicenow"
        if self.kind not in ("pagerduty", "servicenow") and self.url is None:
            raise ConfigKeyError(f"a {self.kind} webhook needs url", key=("url",))
        if self.kind == "pagerduty" and not (
            self.routing_key and self.routing_key.get_secret_value()
        ):
            raise ConfigKeyError("a pagerduty webhook needs routing_key", key=("routing_key",))
        if self.kind != "pagerduty" and self.routing_key is not None:
            raise ConfigKeyError("routing_key is only for pagerduty webhooks", key=("routing_key",))
        if not self.on:
            raise ConfigKeyError(
                "must list at least one of failure, stale, retention, check", key=("on",)
            )
        if "check" in self.on and not self.checks:
            raise ConfigKeyError(
                'on lists "check" but checks names none',
                key=("checks",),
                fix='name check ids or CIS ids, e.g. checks = ["1.12", "accountadmin-grantees"]',
            )
        if self.checks and "check" not in self.on:
            raise ConfigKeyError(
                'checks are named but on does not list "check"',
                key=("on",),
                fix='add "check" to on',
            )
        for name in (
            "instance",
            "username",
            "password",
            "token",
            "caller_id",
            "assignment_group",
            "category",
        ):
            if not servicenow and getattr(self, name) is not None:
                raise ConfigKeyError(f"{name} is only for servicenow webhooks", key=(name,))
        if servicenow:
            self._servicenow()
        if self.url is not None:
            try:
                check_webhook_url(self.url.get_secret_value(), allow_http=self.insecure_allow_http)
            except WebhookError as e:
                # The message never contains the URL: it is a secret.
                raise ConfigKeyError(str(e), key=("url",)) from None
        return self

    def _servicenow(self) -> None:
        if (self.instance is None) == (self.url is None):
            raise ConfigKeyError(
                "a servicenow webhook needs instance (or url, for another host), not both",
                key=("instance",),
                fix='instance = "acme" posts to https://acme.service-now.com/api/now/table/incident',
            )
        if self.instance is not None and not _SERVICENOW_INSTANCE.match(self.instance):
            raise ConfigKeyError(
                f"instance {self.instance!r} is not a ServiceNow instance name",
                key=("instance",),
                fix='the first label of <instance>.service-now.com, e.g. "acme"',
            )
        basic = self.username is not None or self.password is not None
        if basic and not (self.username and self.password and self.password.get_secret_value()):
            raise ConfigKeyError("basic auth needs both username and password", key=("password",))
        if basic == (self.token is not None):
            raise ConfigKeyError(
                "a servicenow webhook needs username and password (basic auth) or token "
                "(bearer), exactly one of them",
                key=("token",),
            )
        if self.token is not None and not self.token.get_secret_value():
            raise ConfigKeyError("token is empty", key=("token",))


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhooks: list[WebhookConfig] = Field(default_factory=list)


class ScheduleConfig(BaseModel):
    """``[schedules.<name>]``: when `evidence run --schedule <name>` runs, and what it collects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str
    streams: list[str] = Field(default_factory=lambda: ["*"])
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        return parse_cron(v).text

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        return validate_timezone(v)

    @field_validator("streams")
    @classmethod
    def _streams(cls, v: list[str]) -> list[str]:
        if not v or any(not g.strip() for g in v):
            raise ValueError('must list at least one non-empty glob, e.g. ["*"]')
        return v


@dataclass(frozen=True)
class _Layers:
    file: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)


_layers: contextvars.ContextVar[_Layers] = contextvars.ContextVar("_layers")


class _LayerSource(PydanticBaseSettingsSource):
    """One layer that :func:`load_settings` has already read (the file, or the environment)."""

    def __init__(self, settings_cls: type[BaseSettings], layer: Literal["file", "env"]) -> None:
        super().__init__(settings_cls)
        self.layer = layer

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole layer

    def __call__(self) -> dict[str, Any]:
        layers = _layers.get(_Layers())
        return dict(getattr(layers, self.layer))


class ChecksConfig(BaseModel):
    """``[checks]``: what the control checks allow and when they call something a finding.

    Names (roles, users, tags, classifications) compare case-insensitively. The
    defaults are the checks' built-in values. Every setting is printed in the
    report's scope section and recorded in its JSON, so an auditor sees what was
    allowed; the descriptions below are what the report prints beside them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    phi_reader_roles: tuple[str, ...] = Field(
        default=("PHI_READER",),
        description="roles allowed to read PHI-tagged columns (phi-reads-outside-allowlist); "
        "a read by any other role is a finding",
    )
    phi_tags: tuple[str, ...] = Field(
        default=("PHI",),
        min_length=1,
        description="tag names (TAG_REFERENCES.TAG_NAME, any tag database and schema) that "
        "mark PHI, on a column or on a whole table or view",
    )
    sensitive_tags: tuple[str, ...] = Field(
        default=("PII", "PHI"),
        min_length=1,
        description="tag names that mark columns a masking policy must cover "
        "(sensitive-columns-without-masking)",
    )
    accountadmin_allowlist: tuple[str, ...] = Field(
        default=(),
        description="users approved to hold ACCOUNTADMIN (accountadmin-grantees); every "
        "other holder is a finding",
    )
    mfa_exempt_users: tuple[str, ...] = Field(
        default=(),
        description="human users allowed to have no MFA, e.g. a documented break-glass "
        "user (human-users-without-mfa)",
    )
    failed_login_threshold: int = Field(
        default=10,
        ge=2,
        description="failed logins that make a burst (failed-login-bursts-per-user and "
        "-per-ip), at least 2",
    )
    failed_login_window: Duration = Field(
        default=timedelta(minutes=10),
        description="the longest time from the first to the last failed login of a burst",
    )
    stale_after: Duration = Field(
        default=timedelta(hours=26),
        description="a stream whose evidence ends longer ago than this is stale, and a "
        "policy snapshot evidences the state for this long (stale-streams, evidence-gaps, "
        "and the coverage every history check needs to pass)",
    )
    required_streams: tuple[str, ...] = Field(
        default=REQUIRED_STREAMS,
        description="stream kinds that must have evidence in the period "
        "(snowflake/<ACCOUNT>/<kind>; evidence-gaps, stale-streams)",
    )
    dbt_sensitive_classifications: tuple[str, ...] = Field(
        default=("PII", "PHI"),
        min_length=1,
        description="dbt column meta.classification values, model tags and meta keys that "
        "make a model hold personal data (sensitive-dbt-models-without-contract)",
    )
    # -- CIS Snowflake Foundations Benchmark v1.0.0 (docs/CONTROLS.md) -----------------
    admin_roles: tuple[str, ...] = Field(
        default=("ACCOUNTADMIN", "SECURITYADMIN"),
        min_length=1,
        description="the highly privileged roles CIS 1.9-1.17 and 2.1 are about",
    )
    admin_users_min: int = Field(
        default=2,
        ge=0,
        description="fewest users that must hold ACCOUNTADMIN, so one is never locked out "
        "(CIS 1.10)",
    )
    admin_users_max: int = Field(
        default=10,
        ge=1,
        description="most users that may hold ACCOUNTADMIN or SECURITYADMIN (CIS 1.10)",
    )
    sso_break_glass_users: tuple[str, ...] = Field(
        default=(),
        description="SSO users allowed to keep a Snowflake password for an identity-provider "
        "outage (CIS 1.3)",
    )
    min_password_length: int = Field(
        default=14, ge=8, description="shortest PASSWORD_MIN_LENGTH allowed (CIS 1.5)"
    )
    key_rotation_max_age: Duration = Field(
        default=timedelta(days=180),
        description="oldest a user's RSA public key may be (CIS 1.7)",
    )
    inactive_user_max_age: Duration = Field(
        default=timedelta(days=90),
        description="an enabled user whose last login is older than this is a finding (CIS 1.8)",
    )
    admin_idle_timeout: Duration = Field(
        default=timedelta(minutes=15),
        description="longest session idle timeout for users holding an admin role (CIS 1.9)",
    )
    min_data_retention_days: int = Field(
        default=7,
        ge=0,
        description="smallest MIN_DATA_RETENTION_TIME_IN_DAYS for the account (CIS 4.4)",
    )
    retention_days_by_tag: dict[str, int] = Field(
        default_factory=lambda: {"CRITICAL": 90, "PHI": 90},
        description="Time Travel days (TABLES.RETENTION_TIME) each table tagged with the key "
        "must keep (CIS 4.3 for CRITICAL; the platform's PHI retention control)",
    )
    network_allowlist_max_prefix: int = Field(
        default=8,
        ge=0,
        le=32,
        description="an account network policy entry with a shorter IPv4 prefix than this "
        "(e.g. 0.0.0.0/0) is not an allowlist (CIS 3.1)",
    )
    min_client_versions: dict[str, str] = Field(
        default_factory=lambda: {
            "PythonConnector": "3.0.0",
            "JDBC": "3.13.30",
            "ODBC": "3.0.0",
        },
        description="oldest supported version per client (SESSIONS CLIENT_APPLICATION_ID "
        "family); a session from an older one is listed (CIS 2.9)",
    )
    trust_center_severities: tuple[str, ...] = Field(
        default=("HIGH", "CRITICAL"),
        min_length=1,
        description="Trust Center finding severities that must not stay open "
        "(trust-center-findings-open)",
    )
    trust_center_max_open: Duration = Field(
        default=timedelta(days=7),
        description="how long such a finding may stay open (trust-center-findings-open)",
    )

    @field_validator(
        "phi_reader_roles",
        "phi_tags",
        "sensitive_tags",
        "accountadmin_allowlist",
        "mfa_exempt_users",
        "required_streams",
        "dbt_sensitive_classifications",
        "admin_roles",
        "sso_break_glass_users",
        "trust_center_severities",
        mode="before",
    )
    @classmethod
    def _plain_names(cls, v: object) -> object:
        # " ANALYST" would never match a role: refuse it rather than strip it silently.
        for name in v if isinstance(v, list | tuple) else ():
            if isinstance(name, str) and (not name.strip() or name.strip() != name):
                raise ValueError(f"{name!r} is not a name: non-empty, no surrounding spaces")
        return v

    @field_validator(
        "failed_login_threshold",
        "admin_users_min",
        "admin_users_max",
        "min_password_length",
        "min_data_retention_days",
        "network_allowlist_max_prefix",
        mode="before",
    )
    @classmethod
    def _whole_number(cls, v: object) -> object:
        if isinstance(v, bool):
            raise ValueError("must be a whole number, e.g. 10")
        return v

    @field_validator(
        "failed_login_window",
        "stale_after",
        "key_rotation_max_age",
        "inactive_user_max_age",
        "admin_idle_timeout",
        "trust_center_max_open",
    )
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("must be more than 0, e.g. 10m or 26h")
        return v

    @model_validator(mode="after")
    def _admin_bounds(self) -> ChecksConfig:
        if self.admin_users_min > self.admin_users_max:
            raise ConfigKeyError(
                f"admin_users_min = {self.admin_users_min} is more than "
                f"admin_users_max = {self.admin_users_max}",
                key=("admin_users_min",),
            )
        for tag, days in self.retention_days_by_tag.items():
            if not tag.strip() or tag.strip() != tag or isinstance(days, bool) or days < 0:
                raise ConfigKeyError(
                    f"retention_days_by_tag: {tag!r} = {days!r} is not a tag name and a "
                    "whole number of days, e.g. PHI = 90",
                    key=("retention_days_by_tag",),
                )
        return self

    @field_validator("required_streams")
    @classmethod
    def _known_kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in v if k not in STREAMS]
        if unknown:
            raise ValueError(
                f"unknown stream kind(s) {', '.join(map(repr, unknown))}; "
                f"the kinds are {', '.join(STREAMS)}"
            )
        return v


class WitnessConfig(BaseModel):
    """One ``[[witnesses]]``: where every new checkpoint is published, outside the archive.

    ``kind = "store"`` keeps copies (a directory, ``file:///path``, ``s3://bucket/prefix``
    under its own Object Lock, or an ``https://`` endpoint that receives a POST);
    ``kind = "cosigner"`` is a C2SP tlog-witness at ``https://`` that cosigns, checked
    with its verifier key ``vkey``. ``required = true``: a run fails if it cannot publish.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = Field(min_length=1)
    kind: Literal["store", "cosigner"] = "store"
    # The witness's cosignature/v1 verifier key: <name>+<hex8>+<base64(0x04 || key)>.
    vkey: str | None = None
    required: Bool = False
    endpoint_url: str | None = None
    region: str | None = None
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    timeout_seconds: Int = Field(default=30, ge=1, le=600)
    # Plain http to a host other than loopback: an explicit, named opt-in.
    insecure_allow_http: Bool = False

    @model_validator(mode="after")
    def _complete(self) -> WitnessConfig:
        scheme = self.uri.partition("://")[0] if "://" in self.uri else ""
        if scheme in ("http", "https"):
            try:
                check_webhook_url(self.uri, allow_http=self.insecure_allow_http)
            except WebhookError as e:
                raise ConfigKeyError(str(e), key=("uri",)) from None
        elif self.kind == "cosigner":
            raise ConfigKeyError(
                "a cosigner witness is reached over https:// (C2SP tlog-witness)",
                key=("uri",),
                fix='use kind = "store" for a directory or an S3 bucket',
            )
        elif scheme not in ("", "file", "s3"):
            raise ConfigKeyError(
                f"unknown scheme {scheme!r}; use an absolute path, file:///path, "
                "s3://bucket/prefix or https://host/path",
                key=("uri",),
            )
        elif scheme == "" and not Path(self.uri).is_absolute():
            raise ConfigKeyError(
                "a directory witness must be an absolute path (it lives outside the archive)",
                key=("uri",),
            )
        if self.kind == "cosigner" and self.vkey is None:
            raise ConfigKeyError(
                "a cosigner witness needs vkey, its cosignature verifier key",
                key=("vkey",),
                fix="copy witness.vkey from `evidence witness keygen` on the witness",
            )
        if self.vkey is not None:
            name, _, rest = self.vkey.partition("+")
            key_id, _, key = rest.partition("+")
            try:
                raw = base64.b64decode(key, validate=True)
            except ValueError:
                raw = b""
            if not name or not re.fullmatch(r"[0-9a-f]{8}", key_id) or raw[:1] != b"\x04":
                raise ConfigKeyError(
                    "not a cosignature/v1 verifier key <name>+<8 hex>+<base64(0x04 || key)>",
                    key=("vkey",),
                )
        return self


class Settings(BaseSettings):
    """Everything a run needs. Frozen: library code never changes it."""

    # The environment is read by load_settings (see _env_layer), not by pydantic-settings:
    # an error must name the variable it came from.
    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    snowflake: SnowflakeConfig = SnowflakeConfig()
    store: StoreConfig = StoreConfig()
    signing: SigningConfig = SigningConfig()
    log: LogConfig
    redaction: RedactionConfig = RedactionConfig()
    streams: dict[str, StreamConfig] = Field(default_factory=dict)
    dbt: list[DbtConfig] = Field(default_factory=list)
    default_history_days: Int = Field(default=7, ge=1, le=365)
    # `evidence run` re-counts windows closed this many days back; late rows are amended.
    reconcile_days: Int = Field(default=2, ge=0, le=30)
    status: StatusConfig = StatusConfig()
    alerts: AlertsConfig = AlertsConfig()
    schedules: dict[str, ScheduleConfig] = Field(default_factory=dict)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    witnesses: list[WitnessConfig] = Field(default_factory=list)

    @field_validator("schedules")
    @classmethod
    def _schedule_names(cls, v: dict[str, ScheduleConfig]) -> dict[str, ScheduleConfig]:
        for name in v:
            try:
                validate_schedule_name(name)
            except ValueError as e:
                raise ConfigKeyError(str(e), key=(name,)) from None
        return v

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, v: dict[str, StreamConfig]) -> dict[str, StreamConfig]:
        for name in v:
            if name not in STREAMS:
                raise ConfigKeyError(
                    f"unknown stream {name!r}; the streams are {', '.join(STREAMS)}", key=(name,)
                )
        for name, stream in v.items():
            if name == POLICY_STREAM:
                continue
            if stream.safety is not None and stream.safety < DOCUMENTED_LATENCY[name]:
                raise ConfigKeyError(
                    f"{stream.safety} is shorter than the view's documented latency "
                    f"{DOCUMENTED_LATENCY[name]}; rows would be missed",
                    key=(name, "safety"),
                )
        return v

    @model_validator(mode="after")
    def _unload_streams(self) -> Settings:
        """``server_side_unload`` needs an S3 store whose bucket holds the stage, and a
        history stream whose rows are archived as the view returns them."""
        for name, stream in self.streams.items():
            if stream.mode != "server_side_unload":
                continue
            where = ("streams", name, "mode")
            if name == POLICY_STREAM:
                raise ConfigKeyError(
                    "policy_state is a set of SHOW results, not a history view: it has "
                    'no server_side_unload mode; use mode = "select"',
                    key=where,
                )
            if name == "query_history" and not stream.keep_query_text:
                raise ConfigKeyError(
                    "query_history's text is redacted by the collector, which an unload "
                    "bypasses: unload it only with keep_query_text = true, or use "
                    'mode = "select"',
                    key=where,
                )
            if not self.store.uri.startswith("s3://"):
                raise ConfigKeyError(
                    f"needs an S3 evidence store (store.uri is {self.store.uri!r}): "
                    "Snowflake unloads to a stage on the evidence bucket",
                    key=where,
                )
            store_bucket, _, store_prefix = self.store.uri[len("s3://") :].partition("/")
            staging = stream.staging_prefix or ""
            bucket, _, prefix = staging[len("s3://") :].partition("/")
            if bucket != store_bucket:
                raise ConfigKeyError(
                    f"{staging} is not on the evidence bucket {store_bucket}: stage on a "
                    "prefix of that bucket (one storage integration, one IAM policy)",
                    key=("streams", name, "staging_prefix"),
                )
            store_prefix = store_prefix.strip("/") + "/" if store_prefix.strip("/") else ""
            if (
                not store_prefix
                or prefix.startswith(store_prefix)
                or store_prefix.startswith(prefix)
            ):
                raise ConfigKeyError(
                    f"{staging} lies inside the archive {self.store.uri}: staged files "
                    "must be outside it (e.g. s3://bucket/staging/ beside s3://bucket/archive)",
                    key=("streams", name, "staging_prefix"),
                )
        return self

    @field_validator("dbt")
    @classmethod
    def _unique_projects(cls, v: list[DbtConfig]) -> list[DbtConfig]:
        names = [d.project for d in v]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ConfigKeyError(
                    f"dbt project {name!r} is listed twice; give each its own name",
                    key=(i, "project"),
                )
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env, file = _LayerSource(settings_cls, "env"), _LayerSource(settings_cls, "file")
        return (init_settings, env, file)

    def stream(self, name: str) -> StreamConfig:
        return self.streams.get(name, StreamConfig())

    def safety(self, name: str) -> timedelta:
        return self.stream(name).safety or DOCUMENTED_LATENCY[name]

    def shortest_retention_days(self) -> int:
        """The shortest Object Lock retention any stream is configured with."""
        return min(
            [self.store.retention_days]
            + [s.retention_days for s in self.streams.values() if s.retention_days]
        )

    def retention(self, name: str) -> timedelta:
        return timedelta(days=self.stream(name).retention_days or self.store.retention_days)

    def first_start(self, name: str, now: datetime) -> datetime:
        """Where a stream with nothing archived starts: configured, else N days back at midnight."""
        configured = self.stream(name).start
        if configured is not None:
            return configured
        back = now - timedelta(days=self.default_history_days)
        return back.replace(hour=0, minute=0, second=0, microsecond=0)

    def uses_snowflake(self) -> bool:
        """True when ``[snowflake]`` is configured: its streams are then collected.

        A configuration with only ``[[dbt]]`` (a dbt CI job archiving artifacts)
        collects no Snowflake stream and needs no account.
        """
        return bool(self.snowflake.model_fields_set or self.snowflake.model_extra)

    def account(self) -> str:
        if self.snowflake.account:
            return self.snowflake.account
        raise ConfigError(
            "snowflake.account is not set",
            fix="set account in [snowflake] of evidence.toml (it names the evidence streams)",
        )


def _resolve(path: str | Path, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p)


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """The text of a TOML file (for finding a key's line) and its data."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist",
            fix="run `evidence init` to write a starter config, or pass --config",
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    try:
        text = data.decode("utf-8")
        return text, tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text", fix="save the file as UTF-8") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}", fix="correct the TOML syntax") from e


def _connections_toml_account(name: str) -> str | None:
    home = Path(os.environ.get("SNOWFLAKE_HOME", "~/.snowflake")).expanduser()
    path = home / "connections.toml"
    if not path.is_file():
        return None
    _, conns = _read_toml(path)
    entry = conns.get(name)
    if isinstance(entry, dict) and isinstance(entry.get("account"), str):
        return str(entry["account"])
    return None


# --- the environment layer --------------------------------------------------------------

Loc = tuple[str | int, ...]


def _unwrap(tp: Any) -> Any:
    """``X`` from ``Annotated[X, ...]`` and ``X | None``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _target_type(path: tuple[str, ...]) -> Any:
    """The declared type at ``path`` below :class:`Settings`; None below a pass-through key."""
    tp: Any = Settings
    for part in path:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or name: f for name, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
    return _unwrap(tp)


def _is_structured(tp: Any) -> bool:
    return (isinstance(tp, type) and issubclass(tp, BaseModel)) or get_origin(tp) in (
        dict,
        list,
        tuple,
    )


def _env_layer(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The ``EVIDENCE_*`` variables as nested data, and the variable behind each path.

    ``EVIDENCE_SNOWFLAKE__PORT=443`` sets ``snowflake.port`` to the text "443"
    (:class:`EnvText`, read as a number by the field); a table or a list is
    JSON, e.g. ``EVIDENCE_ALERTS__WEBHOOKS='[{"kind": "slack", "url": "..."}]'``.
    Names are case-insensitive; variables that name no setting (``EVIDENCE_NOW``,
    ``EVIDENCE_CONFIG``) are not settings and are left alone.
    """
    data: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    found = []
    for name in environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        path = tuple(upper[len(ENV_PREFIX) :].lower().split(ENV_DELIMITER))
        if path[0] in Settings.model_fields:
            found.append((path, name))
    # A whole table first, then the variables that set single keys inside it.
    for path, name in sorted(found, key=lambda p: (len(p[0]), p[0])):
        if "" in path:
            raise ConfigError(
                f"{name}: an empty part between '{ENV_DELIMITER}' names no setting",
                fix=f"write one '{ENV_DELIMITER}' between section and key, "
                "e.g. EVIDENCE_SNOWFLAKE__ROLE",
            )
        raw = environ[name]
        value: Any = EnvText(raw)
        target = _target_type(path)
        if _is_structured(target):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as e:
                shape = "list ([...])" if get_origin(target) in (list, tuple) else "object ({...})"
                # e.msg and the position only: the text may hold a secret.
                raise ConfigError(
                    f"{name}: {'.'.join(path)} is not valid JSON: {e.msg} (character {e.pos + 1})",
                    fix=f"set {name} to a JSON {shape}",
                ) from None
        node = data
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"{name}: {'.'.join(path[: i + 1])} is already set as a whole by "
                    f"{names.get(path[: i + 1], 'another variable')}",
                    fix=f"unset one of them, or set {name}'s value inside the other",
                )
            node = child
        node[path[-1]] = value
        names.update(dict.fromkeys(_owned_paths(path, value), name))
    return data, names


def _owned_paths(path: tuple[str, ...], value: Any) -> list[tuple[str, ...]]:
    """The paths a variable's value decides: a JSON table merges with the file key by
    key, so it decides only the keys it has; anything else replaces the file's value."""
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in _owned_paths((*path, str(k).lower()), v)]
    return [path]


# --- where a setting came from ----------------------------------------------------------

_KEY_PART = re.compile(r"""\s*(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)"|'([^']*)')\s*""")


def _dotted_key(text: str) -> tuple[tuple[str, ...], str] | None:
    """A TOML dotted key at the start of ``text``, and the rest of the text."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _KEY_PART.match(text, pos)
        if not m or m.end() == pos:
            return None
        parts.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
        if not text.startswith(".", pos):
            return tuple(parts), text[pos:]
        pos += 1


def _key_lines(text: str) -> dict[Loc, int]:
    """The line (from 1) of every table header and key in a TOML text, by its path.

    A plain scan, not a parser: it only has to find keys in a file that
    ``tomllib`` has already read. ``[[array]]`` tables count from 0, as
    pydantic's locations do; a prefix maps to its first line.
    """
    lines: dict[Loc, int] = {}
    counts: dict[tuple[str, ...], int] = {}
    table: Loc = ()
    open_quote: str | None = None

    def add(path: Loc, n: int) -> None:
        for i in range(1, len(path) + 1):
            lines.setdefault(path[:i], n)

    for n, line in enumerate(text.splitlines(), 1):
        if open_quote is not None:  # inside a multi-line string
            if line.count(open_quote) % 2:
                open_quote = None
            continue
        s = line.strip()
        array = s.startswith("[[")
        header = _dotted_key(s[2:] if array else s[1:]) if s.startswith("[") else None
        if header is not None and header[1].lstrip().startswith("]"):
            parts = header[0]
            if array:
                index = counts.get(parts, 0)
                counts[parts] = index + 1
                table = (*parts, index)
            else:
                table = parts
            add(table, n)
            continue
        key = _dotted_key(s)
        if key is not None and key[1].startswith("="):
            add((*table, *key[0]), n)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2:
                open_quote = quote
                break
    return lines


def _flat_paths(data: Mapping[str, Any], prefix: Loc = ()) -> list[Loc]:
    out: list[Loc] = []
    for k, v in data.items():
        if isinstance(v, Mapping) and v:
            out.extend(_flat_paths(v, (*prefix, k)))
        else:
            out.append((*prefix, k))
    return out


def _is_prefix(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return b[: len(a)] == a


@dataclass(frozen=True)
class _Origins:
    """Where each setting came from: flags, an ``EVIDENCE_*`` variable, or a line of the file."""

    config: Path | None = None
    lines: Mapping[Loc, int] = field(default_factory=dict)
    env: Mapping[tuple[str, ...], str] = field(default_factory=dict)
    flags: tuple[Loc, ...] = ()

    def where(self, loc: Loc) -> str | None:
        """The source of the value at ``loc``, in the order the layers override each other."""
        if any(_is_prefix(p, loc) or _is_prefix(loc, p) for p in self.flags):
            return "command line"
        lower = tuple(str(p).lower() for p in loc)
        above = [p for p in self.env if _is_prefix(p, lower)]
        if above:
            return self.env[max(above, key=len)]
        below = sorted(p for p in self.env if _is_prefix(lower, p))
        if below:
            return self.env[below[0]]
        if self.config is None:
            return None
        for i in range(len(loc), 0, -1):
            if loc[:i] in self.lines:
                return f"{self.config} line {self.lines[loc[:i]]}"
        return str(self.config)


def _key_name(loc: Loc) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _message(err: Mapping[str, Any]) -> str:
    error = (err.get("ctx") or {}).get("error")
    if err["type"] == "value_error" and isinstance(error, ValueError):
        return str(error)
    if err["type"] == "missing":
        return "is required but not set"
    if err["type"] == "extra_forbidden":
        return "is not a known setting (check the spelling)"
    if err["type"] == "string_type":
        return f"must be text in quotes, not {_kind(err['input'])}"
    # pydantic's messages name the expected type or values, never the input.
    msg = str(err["msg"])
    lead = "Input should be "
    return "must be " + msg[len(lead) :] if msg.startswith(lead) else msg


def describe_validation_error(e: ValidationError, origins: _Origins | None = None) -> str:
    """One line per problem: ``<where>: <key>: <what is wrong>``."""
    origins = origins or _Origins()
    lines = ["invalid configuration:"]
    for err in e.errors():
        loc: Loc = tuple(p for p in err["loc"] if p != "[key]")
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, ConfigKeyError):
            loc = (*loc, *error.key)
        where = origins.where(loc)
        prefix = f"{where}: " if where else ""
        lines.append(f"  {prefix}{_key_name(loc)}: {_message(err)}")
    return "\n".join(lines)


def setting_sources(
    config: Path | None,
    overrides: dict[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """Where each setting came from, as ``(key, source)`` pairs in the order of the settings.

    Every key the file, an ``EVIDENCE_*`` variable or a flag sets is listed with
    its source (``evidence.toml line 5``, ``EVIDENCE_SNOWFLAKE__PASSWORD``,
    ``command line``); every top-level setting none of them touches is listed as
    ``default``. Names only, never values: some are secrets. Reads the same
    layers as :func:`load_settings`, which should have succeeded first.
    """
    text, data = ("", {}) if config is None else _read_toml(config)
    env_data, env_names = _env_layer(os.environ if environ is None else environ)
    flags = tuple(_flat_paths(overrides or {}))
    lines = _key_lines(text)
    origins = _Origins(config, lines, env_names, flags)
    order = {name: i for i, name in enumerate(Settings.model_fields)}
    paths: dict[str, Loc] = {}
    for path in [*_flat_paths(data), *_flat_paths(env_data), *flags]:
        paths.setdefault(_key_name(path).lower(), path)
    listed = sorted(
        paths.values(),
        key=lambda p: (order.get(str(p[0]).lower(), len(order)), lines.get(p, len(lines) + 1)),
    )
    out = [(_key_name(p), origins.where(p) or "default") for p in listed]
    touched = {str(p[0]).lower() for p in listed}
    out += [(name, "default") for name in Settings.model_fields if name not in touched]
    return sorted(out, key=lambda kv: order.get(kv[0].split(".")[0].split("[")[0], len(order)))


def load_settings(
    config: Path | None,
    overrides: dict[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read ``config`` (TOML), then ``EVIDENCE_*`` variables, then ``overrides`` (flags).

    ``environ`` defaults to ``os.environ``. Raises ConfigError naming every bad key
    and where it came from."""
    data: dict[str, Any] = {}
    text = ""
    base = Path.cwd()
    if config is not None:
        text, data = _read_toml(config)
        base = config.resolve().parent
    env_data, env_names = _env_layer(os.environ if environ is None else environ)
    token = _layers.set(_Layers(file=data, env=env_data))
    try:
        settings = Settings(**(overrides or {}))
    except ValidationError as e:
        origins = _Origins(config, _key_lines(text), env_names, tuple(_flat_paths(overrides or {})))
        message = describe_validation_error(e, origins)
        fix = "correct the keys named above (see `evidence init` for a commented example)"
        if any(name in message for name in env_names.values()):
            fix += ", or the EVIDENCE_* variables named"
        raise ConfigError(message, fix=fix) from None
    finally:
        _layers.reset(token)

    # Resolve relative paths against the config file's directory.
    store_uri = settings.store.uri
    if "://" not in store_uri:
        store_uri = str(_resolve(store_uri, base))
    signing_key = settings.signing.key
    if not signing_key.startswith("kms:"):
        signing_key = str(_resolve(signing_key, base))
    note_key = settings.signing.note_key
    if note_key is not None and not note_key.startswith("kms:"):
        note_key = str(_resolve(note_key, base))
    sf_updates: dict[str, Any] = {}
    if settings.snowflake.private_key_file is not None:
        sf_updates["private_key_file"] = _resolve(settings.snowflake.private_key_file, base)
    if not settings.snowflake.account and settings.snowflake.connection_name:
        account = _connections_toml_account(settings.snowflake.connection_name)
        if account:
            sf_updates["account"] = account
    dbt = [
        d
        if "://" in d.target_dir
        else d.model_copy(update={"target_dir": str(_resolve(d.target_dir, base))})
        for d in settings.dbt
    ]
    last_run_file = settings.status.last_run_file
    return settings.model_copy(
        update={
            "status": settings.status.model_copy(
                update={"last_run_file": last_run_file and _resolve(last_run_file, base)}
            ),
            "dbt": dbt,
            "store": settings.store.model_copy(update={"uri": store_uri}),
            "signing": settings.signing.model_copy(
                update={
                    "key": signing_key,
                    "note_key": note_key,
                    "keys_file": settings.signing.keys_file
                    and _resolve(settings.signing.keys_file, base),
                }
            ),
            "redaction": RedactionConfig(
                hmac_key=_resolve(settings.redaction.hmac_key, base),
            ),
            "snowflake": settings.snowflake.model_copy(update=sf_updates),
        }
    )
