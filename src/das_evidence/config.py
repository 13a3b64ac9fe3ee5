"""Configuration: one frozen settings object from defaults < evidence.toml < EVIDENCE_* < flags.

Library code receives a :class:`Settings`; only the CLI reads files and the
environment (through :func:`load_settings`). Snowflake settings use the
connector's own argument names and pass any other connector argument through,
so one file points at a real account or at a local server. Relative paths
resolve against the directory of the config file.
"""

from __future__ import annotations

import contextvars
import os
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from das_evidence.errors import ConfigError
from das_evidence.streams import DOCUMENTED_LATENCY, POLICY_STREAM, STREAMS
from das_evidence.validators import (
    check_webhook_url,
    parse_cron,
    validate_schedule_name,
    validate_timezone,
)

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> object:
    """Accept ``"3h"``, ``"45m"``, ``"2d"``, ``"90s"`` besides what pydantic accepts."""
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("needs a time zone, e.g. 2026-11-01T00:00:00Z")
    return value.astimezone(UTC)


class SnowflakeConfig(BaseModel):
    """Connector arguments; unknown keys pass through to ``snowflake.connector.connect``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    account: str | None = None
    user: str | None = None
    password: SecretStr | None = None
    private_key_file: Path | None = None
    private_key_file_pwd: SecretStr | None = None
    authenticator: str | None = None
    connection_name: str | None = None
    login_timeout: int = 60
    network_timeout: int = 600

    def connector_args(self) -> dict[str, Any]:
        """The keyword arguments for the connector, secrets revealed, ``None`` dropped."""
        args: dict[str, Any] = {}
        for name, value in self.model_dump().items():
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
    retention_days: int = Field(default=2557, ge=1, le=36500)


class SigningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = "keys/signing.key"
    # Only with an ECDSA KMS key: checkpoints need an Ed25519 key of their own.
    note_key: str | None = None
    # KMS only; the endpoint may also come from AWS_ENDPOINT_URL(_KMS).
    region: str | None = None
    endpoint_url: str | None = None


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


class StreamConfig(BaseModel):
    """One history stream, named after its view in ``[streams.<view>]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    start: datetime | None = None
    safety: timedelta | None = None
    max_window: timedelta = timedelta(days=1)
    min_window: timedelta = timedelta(minutes=15)
    # Only query_history: keep raw query text (PHI risk): an explicit opt-in.
    keep_query_text: bool = False
    # S3 Object Lock retention of this stream's files; default store.retention_days.
    retention_days: int | None = Field(default=None, ge=1, le=36500)
    # Only policy_state: how often to snapshot, and USERS personal data per column.
    interval: timedelta = timedelta(days=1)
    personal_data: dict[str, Literal["keep", "hmac", "drop"]] = Field(default_factory=dict)

    _dur = field_validator("safety", "max_window", "min_window", "interval", mode="before")(
        classmethod(lambda cls, v: parse_duration(v))
    )

    @field_validator("start")
    @classmethod
    def _start_utc(cls, v: datetime | None) -> datetime | None:
        return _utc(v)

    @model_validator(mode="after")
    def _windows(self) -> StreamConfig:
        if self.max_window <= timedelta(0) or self.max_window > timedelta(days=1):
            raise ValueError("max_window must be more than 0 and at most 1 day")
        if self.min_window < timedelta(0) or self.min_window > self.max_window:
            raise ValueError("min_window must be between 0 and max_window")
        return self


class DbtConfig(BaseModel):
    """One dbt project: ``[[dbt]] project = "..."  target_dir = "path" or "s3://..."``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = Field(min_length=1)
    target_dir: str = Field(min_length=1)
    endpoint_url: str | None = None
    max_bytes: int = Field(default=512 * 1024**2, ge=1)


class StatusConfig(BaseModel):
    """``[status]``: how far behind a stream may fall before ``evidence status`` calls it stale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Allowed lag beyond each stream's own latency (its safety margin; policy_state:
    # the views' 2 h plus any interval beyond a day); see status.default_objectives.
    objective: timedelta = timedelta(hours=26)
    # Stream names or globs (matched as --only matches) -> allowed lag, taken as written.
    objectives: dict[str, timedelta] = Field(default_factory=dict)
    # Written by `evidence run` after every run and read by `evidence status`; kept
    # outside the archive, which stays immutable. Relative to the config file.
    last_run_file: Path | None = None

    @field_validator("objective", mode="before")
    @classmethod
    def _objective(cls, v: object) -> object:
        return parse_duration(v)

    @field_validator("objectives", mode="before")
    @classmethod
    def _objectives(cls, v: object) -> object:
        return {k: parse_duration(x) for k, x in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _positive(self) -> StatusConfig:
        for name, d in [("objective", self.objective), *self.objectives.items()]:
            if d <= timedelta(0):
                raise ValueError(f"{name}: an objective must be more than 0")
        return self


class WebhookConfig(BaseModel):
    """One ``[[alerts.webhooks]]``. ``url`` and ``routing_key`` are secrets: prefer
    ``EVIDENCE_ALERTS__WEBHOOKS='[{"kind": "slack", "url": "..."}]'`` to the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["generic", "slack", "pagerduty"]
    # pagerduty: default https://events.pagerduty.com/v2/enqueue
    url: SecretStr | None = None
    routing_key: SecretStr | None = None
    on: tuple[Literal["failure", "stale", "retention"], ...] = ("failure", "stale")
    # Plain http to a host other than loopback: an explicit, named opt-in.
    insecure_allow_http: bool = False

    @model_validator(mode="after")
    def _complete(self) -> WebhookConfig:
        if self.kind != "pagerduty" and self.url is None:
            raise ValueError(f"a {self.kind} webhook needs url")
        if self.kind == "pagerduty" and not (
            self.routing_key and self.routing_key.get_secret_value()
        ):
            raise ValueError("a pagerduty webhook needs routing_key")
        if self.kind != "pagerduty" and self.routing_key is not None:
            raise ValueError("routing_key is only for pagerduty webhooks")
        if not self.on:
            raise ValueError("on must list at least one of failure, stale, retention")
        if self.url is not None:
            # The message never contains the URL: it is a secret.
            check_webhook_url(self.url.get_secret_value(), allow_http=self.insecure_allow_http)
        return self


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


_file_data: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("_file_data")


class _FileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole file

    def __call__(self) -> dict[str, Any]:
        return _file_data.get({})


class Settings(BaseSettings):
    """Everything a run needs. Frozen: library code never changes it."""

    model_config = SettingsConfigDict(
        env_prefix="EVIDENCE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    snowflake: SnowflakeConfig = SnowflakeConfig()
    store: StoreConfig = StoreConfig()
    signing: SigningConfig = SigningConfig()
    log: LogConfig
    redaction: RedactionConfig = RedactionConfig()
    streams: dict[str, StreamConfig] = Field(default_factory=dict)
    dbt: list[DbtConfig] = Field(default_factory=list)
    default_history_days: int = Field(default=7, ge=1, le=365)
    # `evidence run` re-counts windows closed this many days back; late rows are amended.
    reconcile_days: int = Field(default=2, ge=0, le=30)
    status: StatusConfig = StatusConfig()
    alerts: AlertsConfig = AlertsConfig()
    schedules: dict[str, ScheduleConfig] = Field(default_factory=dict)

    @field_validator("schedules")
    @classmethod
    def _schedule_names(cls, v: dict[str, ScheduleConfig]) -> dict[str, ScheduleConfig]:
        for name in v:
            validate_schedule_name(name)
        return v

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, v: dict[str, StreamConfig]) -> dict[str, StreamConfig]:
        for name in v:
            if name not in STREAMS:
                raise ValueError(f"unknown stream {name!r}; the streams are {', '.join(STREAMS)}")
        for name, stream in v.items():
            if name == POLICY_STREAM:
                continue
            if stream.safety is not None and stream.safety < DOCUMENTED_LATENCY[name]:
                raise ValueError(
                    f"streams.{name}.safety {stream.safety} is shorter than the view's "
                    f"documented latency {DOCUMENTED_LATENCY[name]}; rows would be missed"
                )
        return v

    @field_validator("dbt")
    @classmethod
    def _unique_projects(cls, v: list[DbtConfig]) -> list[DbtConfig]:
        names = [d.project for d in v]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"dbt project {name!r} is listed twice; give each its own name")
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
        return (init_settings, env_settings, _FileSource(settings_cls))

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


def _read_toml(path: Path) -> dict[str, Any]:
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
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text", fix="save the file as UTF-8") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}", fix="correct the TOML syntax") from e


def _connections_toml_account(name: str) -> str | None:
    home = Path(os.environ.get("SNOWFLAKE_HOME", "~/.snowflake")).expanduser()
    path = home / "connections.toml"
    if not path.is_file():
        return None
    conns = _read_toml(path)
    entry = conns.get(name)
    if isinstance(entry, dict) and isinstance(entry.get("account"), str):
        return str(entry["account"])
    return None


def describe_validation_error(e: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "is required but not set"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known setting (check the spelling)"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load_settings(config: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read ``config`` (TOML), then ``EVIDENCE_*`` variables, then ``overrides`` (flags)."""
    data: dict[str, Any] = {}
    base = Path.cwd()
    source = "the environment"
    if config is not None:
        data = _read_toml(config)
        base = config.resolve().parent
        source = str(config)
    token = _file_data.set(data)
    try:
        settings = Settings(**(overrides or {}))
    except ValidationError as e:
        raise ConfigError(
            describe_validation_error(e, source),
            fix="correct the keys named above (see `evidence init` for a commented example)",
        ) from None
    finally:
        _file_data.reset(token)

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
                update={"key": signing_key, "note_key": note_key}
            ),
            "redaction": RedactionConfig(
                hmac_key=_resolve(settings.redaction.hmac_key, base),
            ),
            "snowflake": settings.snowflake.model_copy(update=sf_updates),
        }
    )
