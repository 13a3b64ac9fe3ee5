"""`evidence doctor`: whether this installation can collect, one check at a time.

Like ``dbt debug`` or ``snow connection test``, with a fix for every problem.
Each check is a value (:class:`Check`: a name, ``ok``/``warn``/``fail``/``skip``,
what was found, and the fix), so the CLI only renders them. In order:

1. ``config``: the configuration loads; where each setting came from.
2. ``signing key`` (and ``note key``): the keys load (a file parses; a KMS key
   answers GetPublicKey) and key files are not readable by other users.
3. ``redaction key``, ``snowflake private key``: present, loadable, private.
4. ``snowflake reachable``: DNS, TCP and TLS (or an HTTP answer) within the
   probe's few seconds, diagnosed as refused, DNS, TLS or timeout.
5. ``snowflake login``: logged in with the configured user and role.
6. ``view <VIEW>``: every view the configured streams read answers
   ``SELECT * LIMIT 0``; a failure names the grant that is missing.
   ``command <NAME>``: with policy_state, each SHOW/DESCRIBE the snapshot archives
   runs (a per-user one for the first qualifying user); one the role cannot run,
   or a SHOW that lists nothing, is a warning naming the privilege (the snapshot is
   still written, with that command not_evidenced).
7. ``store`` and ``bucket <check>``: the archive can be read (a directory:
   also written or created), and an S3 bucket passes ``evidence store check``.
8. ``dbt <project>``: each dbt target's artifacts parse as collect reads them.
9. ``webhook <n>``: each URL is usable and its host resolves; with
   ``--send-test`` a test message is posted and must be accepted.

A check that cannot run because an earlier one failed is ``skip``, not
``fail``. Exit codes (:data:`EXIT_CODES`): 0 no check failed (warnings and
skips allowed), 1 a check failed, 2 the configuration cannot be loaded.
Nothing is written: a missing archive directory is a warning, not created.
No output carries a secret: sources are names, webhook URLs are shown as
``scheme://host/…``, and source errors are scrubbed of configured secrets.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from das_evidence.config import Settings
from das_evidence.errors import ConfigError, EvidenceError, SourceConnectError
from das_evidence.services import Services
from das_evidence.streams import HISTORY_STREAMS, POLICY_STREAM

Status = Literal["ok", "warn", "fail", "skip"]

#: The exit codes of `evidence doctor`.
EXIT_CODES: dict[int, str] = {
    0: "every check passed (warnings and skipped checks allowed)",
    1: "a check failed: its line says what, and the fix",
    2: "the configuration cannot be loaded (or a usage error)",
}

#: How long a webhook's host may take to resolve.
DNS_TIMEOUT_S = 3.0
#: The longest the doctor waits for the Snowflake login (``login_timeout`` if shorter):
#: it answers within seconds even when the probe cannot run (behind a proxy).
LOGIN_TIMEOUT_S = 8


@dataclass(frozen=True)
class Check:
    """One check's verdict. ``fix`` says what to do about a ``warn`` or ``fail``."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def failed(name: str, e: EvidenceError) -> Check:
    return Check(name, "fail", e.message, e.fix or "")


@dataclass(frozen=True)
class DoctorReport:
    """Every check, and where each setting came from (names, never values)."""

    checks: tuple[Check, ...]
    sources: tuple[tuple[str, str], ...] = ()
    config_loaded: bool = True

    @property
    def exit_code(self) -> int:
        if not self.config_loaded:
            return 2
        return 1 if any(c.status == "fail" for c in self.checks) else 0

    def counts(self) -> dict[str, int]:
        out = {"ok": 0, "warn": 0, "fail": 0, "skip": 0}
        for c in self.checks:
            out[c.status] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "checks": [c.to_json() for c in self.checks],
            "sources": [{"key": k, "source": s} for k, s in self.sources],
        }


# --- 1. configuration ----------------------------------------------------------------


def config_report(config: Path, error: ConfigError) -> DoctorReport:
    """The report when the configuration itself does not load: exit 2."""
    return DoctorReport((Check("config", "fail", error.message, error.fix or ""),), (), False)


def config_check(config: Path | None, sources: Sequence[tuple[str, str]]) -> Check:
    where = str(config) if config is not None else "no file"
    from_env = sum(1 for _, s in sources if s.startswith("EVIDENCE_"))
    detail = f"{where}: valid"
    if from_env:
        detail += f" ({from_env} setting(s) from EVIDENCE_* variables)"
    return Check("config", "ok", detail)


# --- 2, 3. key files -------------------------------------------------------------------


def permission_verdict(path: Path, mode: int) -> tuple[Status, str, str]:
    """Whether a private key file's mode keeps it private: (status, detail, fix).

    Other users' access fails. Group access warns: the Kubernetes CronJob mounts
    its Secret 0440 for the pod's fsGroup, which is the collector's alone.
    """
    perms = stat.S_IMODE(mode)
    if perms & 0o007:
        return (
            "fail",
            f"mode {perms:04o}: other users can access it",
            f"chmod 600 {path}",
        )
    if perms & 0o070:
        return (
            "warn",
            f"mode {perms:04o}: its group can read it",
            f"chmod 600 {path}, unless the group is the collector's alone "
            "(e.g. a Kubernetes fsGroup)",
        )
    return "ok", f"mode {perms:04o}", ""


def key_file_check(
    name: str,
    path: Path,
    load: Callable[[], str] | None = None,
    *,
    missing_fix: str = "run `evidence keys generate`, or correct the path",
) -> Check:
    """``path`` exists, is a regular file, is private, and (with ``load``) loads.

    ``load`` returns a description of the loaded key or raises an EvidenceError.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return Check(name, "fail", f"{path} does not exist", missing_fix)
    except OSError as e:
        return Check(name, "fail", f"cannot read {path}: {e.strerror or e}", "check the path")
    if not stat.S_ISREG(st.st_mode):
        return Check(name, "fail", f"{path} is not a regular file", "point the setting at a file")
    status, mode_detail, fix = permission_verdict(path, st.st_mode)
    described = ""
    if load is not None:
        try:
            described = load()
        except EvidenceError as e:
            return failed(name, e)
    detail = f"{path}: {described + ', ' if described else ''}{mode_detail}"
    return Check(name, status, detail, fix)


def signing_checks(settings: Settings, services: Services) -> list[Check]:
    s = settings.signing
    files = [r for r in (s.key, s.note_key) if r is not None and not r.startswith("kms:")]

    def load() -> str:
        signer, note_signer = services.signers()
        kind = type(signer).__name__.removesuffix("Signer")
        return f"{kind}, key id {signer.key_id[:16]}…, note key name {note_signer.name}"

    checks: list[Check] = []
    if s.key.startswith("kms:"):
        try:
            what = load()
        except EvidenceError as e:
            return [failed("signing key", e)]
        refs = s.key + (f" and {s.note_key}" if s.note_key else "")
        return [Check("signing key", "ok", f"{refs}: GetPublicKey answered; {what}")]
    checks.append(key_file_check("signing key", Path(files[0]), load))
    if len(files) > 1 and files[1] != files[0]:
        checks.append(key_file_check("note key", Path(files[1])))
    return checks


def _needs_redaction_key(settings: Settings) -> bool:
    from das_evidence.collectors.snowflake.policy_views import USERS_PERSONAL_COLUMNS

    if not settings.uses_snowflake():
        return False
    query = settings.stream("query_history")
    if query.enabled and not query.keep_query_text:
        return True
    policy = settings.stream(POLICY_STREAM)
    personal = {k.upper(): v for k, v in policy.personal_data.items()}
    return policy.enabled and "hmac" in {**USERS_PERSONAL_COLUMNS, **personal}.values()


def redaction_check(settings: Settings) -> Check:
    from das_evidence.manifests.keyring import key_fingerprint, load_hmac_key

    path = settings.redaction.hmac_key
    if not _needs_redaction_key(settings) and not path.exists():
        return Check("redaction key", "skip", "not needed: no configured stream HMACs anything")

    def load() -> str:
        key = load_hmac_key(path)
        return f"{len(key)} bytes, sha256 {key_fingerprint(key)[:12]}…"

    return key_file_check("redaction key", path, load)


# --- 4-6. Snowflake -----------------------------------------------------------------


def configured_views(settings: Settings) -> list[tuple[str, tuple[str, ...]]]:
    """The views the configured streams read, each with the columns collect requires
    (empty: the view must only be readable)."""
    from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS
    from das_evidence.collectors.snowflake.views import VIEWS

    out: list[tuple[str, tuple[str, ...]]] = []
    for name in HISTORY_STREAMS:
        if settings.stream(name).enabled:
            spec = VIEWS[name]
            out.append((spec.qualified, tuple(c.name for c in spec.columns)))
    if settings.stream(POLICY_STREAM).enabled:
        out += [(v.qualified, tuple(c.name for c in v.columns)) for v in POLICY_VIEWS]
    return out


def _view_label(qualified: str) -> str:
    return f"view {qualified.rsplit('.', 1)[-1]}"


def snowflake_checks(settings: Settings) -> list[Check]:
    """Reachable, logged in with the role, and every configured view readable."""
    if not settings.uses_snowflake():
        return [
            Check(
                "snowflake",
                "skip",
                "[snowflake] is not configured: no Snowflake stream is collected",
            )
        ]
    from das_evidence.collectors.snowflake.connection import (
        PROBE_TIMEOUT_S,
        SnowflakeSession,
        endpoint_of,
        probe,
        proxied,
    )

    sf = settings.snowflake
    checks: list[Check] = []
    if sf.private_key_file is not None:
        checks.append(
            key_file_check(
                "snowflake private key",
                sf.private_key_file,
                missing_fix="check private_key_file in [snowflake] (docs/OPERATIONS.md, "
                "section 1, makes the key pair)",
            )
        )
    views = configured_views(settings)
    args = sf.connector_args()

    def skipped_views(why: str) -> list[Check]:
        names = ", ".join(v.rsplit(".", 1)[-1] for v, _ in views)
        return [Check("views", "skip", f"{why}: {names}")] if views else []

    ep = endpoint_of(args)
    if ep is None:
        checks.append(
            Check(
                "snowflake reachable",
                "skip",
                "connection_name (connections.toml) names the host: the login tests it",
            )
        )
    elif proxied(args, ep):
        checks.append(
            Check("snowflake reachable", "skip", f"{ep} is behind a proxy: the login tests it")
        )
    else:
        try:
            seconds = probe(ep, min(float(sf.login_timeout), PROBE_TIMEOUT_S))
        except EvidenceError as e:
            checks.append(failed("snowflake reachable", e))
            why = "not tried: Snowflake is not reachable"
            return [*checks, Check("snowflake login", "skip", why), *skipped_views(why)]
        what = "TLS handshake" if ep.protocol == "https" else "HTTP answer"
        checks.append(Check("snowflake reachable", "ok", f"{ep}: {what} in {seconds:.2f} s"))

    args["login_timeout"] = min(sf.login_timeout, LOGIN_TIMEOUT_S)
    try:
        session = SnowflakeSession(args, preflight=False)
    except EvidenceError as e:
        if getattr(e, "reason", None) == "timeout" and sf.login_timeout > LOGIN_TIMEOUT_S:
            e = SourceConnectError(
                f"{e.message}; the doctor waits at most {LOGIN_TIMEOUT_S} s, collect waits "
                f"login_timeout = {sf.login_timeout} s",
                reason="timeout",
                fix=e.fix,
            )
        checks.append(failed("snowflake login", e))
        return checks + skipped_views("not tried: the login failed")
    with session:
        try:
            user, role = session.identity()
        except EvidenceError as e:
            checks.append(failed("snowflake login", e))
            return checks + skipped_views("not tried: the session is unusable")
        checks.append(_login_check(sf.user, sf.role, user, role))
        for view, required in views:
            checks.append(_view_check(session, view, required))
        if settings.stream(POLICY_STREAM).enabled:
            checks += show_checks(session)
    return checks


def show_checks(session: Any) -> list[Check]:
    """Each SHOW/DESCRIBE of the policy snapshot, run once as the collector's role."""
    import pyarrow as pa

    from das_evidence.collectors.snowflake.policy import USER_SELECTION_COLUMNS, users_for
    from das_evidence.collectors.snowflake.policy_views import SHOW_COMMANDS

    checks: list[Check] = []
    users: pa.Table | EvidenceError | None = None
    for cmd in SHOW_COMMANDS:
        name = f"command {cmd.view}"
        fix = f"grant the collector's role {cmd.grant} (deploy/snowflake/setup.sql, 4b)"
        sql = cmd.command
        if cmd.per_user is not None:
            if users is None:
                columns = ", ".join(USER_SELECTION_COLUMNS)
                try:
                    result = session.query_arrow(
                        f"SELECT {columns} FROM SNOWFLAKE.ACCOUNT_USAGE.USERS", ()
                    )
                    batches = list(result.batches)
                    users = (
                        pa.Table.from_batches(batches)
                        if batches
                        else pa.table({c: pa.array([]) for c in USER_SELECTION_COLUMNS})
                    )
                except EvidenceError as e:
                    users = e
            if isinstance(users, EvidenceError):
                checks.append(
                    Check(name, "skip", f"not tried: USERS cannot be read ({users.message})")
                )
                continue
            chosen = users_for(cmd.per_user, users)
            if not chosen:
                checks.append(Check(name, "ok", f"no {cmd.per_user} user to query"))
                continue
            sql = cmd.sql(chosen[0])
        try:
            table, _ = session.show(sql, needs=cmd.grant)
        except EvidenceError as e:
            checks.append(Check(name, "warn", e.message, fix))
            continue
        if table.num_rows == 0 and cmd.per_user is None:
            status: Status = "warn" if cmd.scoped else "fail"
            checks.append(Check(name, status, f"{sql} lists nothing the role can see", fix))
            continue
        checks.append(Check(name, "ok", f"{sql}: {table.num_rows} rows"))
    return checks


def _login_check(
    configured_user: str | None, configured_role: str | None, user: str, role: str
) -> Check:
    detail = f"logged in as {user} with role {role}"
    if configured_role and configured_role.upper() != role.upper():
        return Check(
            "snowflake login",
            "warn",
            f"{detail}, not the configured role {configured_role}",
            f"GRANT ROLE {configured_role} TO USER {configured_user or user}",
        )
    if not configured_role:
        return Check(
            "snowflake login",
            "ok",
            f"{detail} (the user's default role: role is not set in [snowflake])",
        )
    return Check("snowflake login", "ok", detail)


def _view_check(session: Any, view: str, required: Sequence[str]) -> Check:
    name = _view_label(view)
    try:
        present = set(session.columns(view))
    except EvidenceError as e:
        return failed(name, e)
    missing = [c for c in required if c not in present]
    if missing:
        return Check(
            name,
            "fail",
            f"{view} has no column {', '.join(missing)}",
            "check the role sees the documented view (a view of another schema "
            "shadows it?); if Snowflake changed the view, upgrade das-evidence",
        )
    return Check(name, "ok", f"{view}: readable, {len(present)} columns")


# --- 7. the store -------------------------------------------------------------------


def _local_path(uri: str) -> Path | None:
    if uri.startswith("s3://"):
        return None
    if uri.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    return Path(uri)


def store_checks(settings: Settings, services: Services) -> list[Check]:
    uri = settings.store.uri
    path = _local_path(uri)
    if path is not None and not path.exists():
        parent = path.absolute().parent
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return [
                Check(
                    "store",
                    "warn",
                    f"{path} does not exist yet; the first `evidence collect` creates it",
                    "nothing to do for a new archive; otherwise check store.uri",
                )
            ]
        return [
            Check(
                "store",
                "fail",
                f"{path} does not exist, and {parent} is not a writable directory",
                f"create {parent} (or mount the volume), writable by the collector's user",
            )
        ]
    try:
        store = services.store()
        checkpoint = store.get_checkpoint()
    except EvidenceError as e:
        return [failed("store", e)]
    state = "has a checkpoint" if checkpoint else "is empty (no checkpoint yet)"
    if path is not None and not os.access(path, os.W_OK | os.X_OK):
        return [
            Check(
                "store",
                "fail",
                f"{path} {state} but is not writable by this user",
                f"make {path} writable by the user that runs evidence",
            )
        ]
    checks = [Check("store", "ok", f"{store.uri}: readable, {state}")]
    from das_evidence.evidence_store.bucket_check import check_store

    try:
        bucket = check_store(
            store,
            required_retention_days=settings.shortest_retention_days(),
            lock_mode=settings.store.lock_mode,
        )
    except EvidenceError as e:
        return [*checks, failed("bucket", e)]
    for c in bucket or ():
        checks.append(Check(f"bucket {c.name}", "ok" if c.passed else "fail", c.detail, c.fix))
    return checks


# --- 8. dbt -------------------------------------------------------------------------


def dbt_checks(settings: Settings) -> list[Check]:
    from das_evidence.collectors.dbt import dbt_collectors

    checks = []
    for d in settings.dbt:
        name = f"dbt {d.project}"
        error: EvidenceError | None
        try:
            [collector] = dbt_collectors(
                [(d.project, d.target_dir)],
                endpoint_url=d.endpoint_url or settings.store.endpoint_url,
                max_bytes=d.max_bytes,
            )
            error = collector.error
        except EvidenceError as e:
            error = e
        if error is not None:
            checks.append(failed(name, error))
            continue
        target = collector.target
        artifacts = ", ".join(sorted(a.filename for a in target.artifacts.values()))
        checks.append(
            Check(name, "ok", f"{d.target_dir}: invocation {target.invocation_id} ({artifacts})")
        )
    return checks


# --- 9. webhooks --------------------------------------------------------------------


def resolve(host: str, timeout: float = DNS_TIMEOUT_S) -> str | None:
    """None when ``host`` resolves within ``timeout``, else why not."""
    answer: list[BaseException | None] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            answer.append(None)
        except OSError as e:
            answer.append(e)
        done.set()

    threading.Thread(target=lookup, name="doctor-dns", daemon=True).start()
    if not done.wait(timeout):
        return f"the resolver did not answer within {timeout:.0f} s"
    error = answer[0]
    if error is None:
        return None
    return getattr(error, "strerror", None) or str(error)


def webhook_checks(settings: Settings, *, send_test: bool, now: datetime) -> list[Check]:
    from pydantic import SecretStr

    from das_evidence.schedules.alerts import (
        Alert,
        Webhook,
        redact_url,
        send_alerts,
        webhook_url,
    )
    from das_evidence.validators import check_webhook_url

    checks = []
    for i, hook in enumerate(settings.alerts.webhooks):
        name = f"webhook {i} ({hook.kind})"
        url = webhook_url(hook)
        target = redact_url(url)
        try:
            check_webhook_url(url, allow_http=hook.insecure_allow_http)
        except EvidenceError as e:
            checks.append(Check(name, "fail", f"{target}: {e.message}", e.fix or ""))
            continue
        host = urllib.parse.urlsplit(url).hostname or ""
        problem = resolve(host)
        if problem is not None:
            checks.append(
                Check(
                    name,
                    "fail",
                    f"{target}: DNS: {host} does not resolve ({problem})",
                    "check the webhook URL and the DNS resolver",
                )
            )
            continue
        if not send_test:
            checks.append(
                Check(name, "ok", f"{target}: {host} resolves (--send-test posts a test message)")
            )
            continue
        alert = Alert(
            kind="failure",
            severity="info",
            summary="das-evidence doctor: a test message, no action needed",
            source=settings.log.origin,
            details={"test": True},
            dedup_key=f"das-evidence/doctor-test/{settings.log.origin}"[:255],
            at=now,
        )
        # Sent whatever the webhook's `on` lists: the test is of the delivery.
        test_hook = Webhook(
            kind=hook.kind,
            url=SecretStr(url),
            routing_key=hook.routing_key,
            on=("failure",),
            insecure_allow_http=hook.insecure_allow_http,
            username=hook.username,
            password=hook.password,
            token=hook.token,
            caller_id=hook.caller_id,
            assignment_group=hook.assignment_group,
            category=hook.category,
        )
        [result] = send_alerts(alert, [test_hook], retry_delay=0.5)
        if result.ok:
            checks.append(
                Check(name, "ok", f"{target}: test message accepted (HTTP {result.status})")
            )
        else:
            checks.append(
                Check(
                    name,
                    "fail",
                    f"{target}: test message not accepted: {result.error}",
                    "check the webhook URL (and routing_key for PagerDuty) and that the "
                    "receiver accepts JSON posts from this network",
                )
            )
    return checks


# --- all of them --------------------------------------------------------------------


def run_checks(
    settings: Settings,
    *,
    config: Path | None,
    sources: Sequence[tuple[str, str]],
    clock: Callable[[], datetime],
    send_test: bool = False,
) -> DoctorReport:
    """Run every check against ``settings`` (loaded from ``config``)."""
    checks = [config_check(config, sources)]
    with Services(settings, clock=clock) as services:
        checks += signing_checks(settings, services)
        checks.append(redaction_check(settings))
        checks += snowflake_checks(settings)
        checks += store_checks(settings, services)
    checks += dbt_checks(settings)
    checks += webhook_checks(settings, send_test=send_test, now=clock())
    return DoctorReport(tuple(checks), tuple(sources))
