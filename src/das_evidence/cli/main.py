"""The ``evidence`` command: thin typer commands that parse, call the library and render.

Errors from the library carry their own message and fix; :func:`main` is the
one place that turns them into output and an exit code: 0 ok, 1 evidence
failed a check, 2 usage or configuration, 3 could not reach or read a source,
the store or the signer, 4 an unexpected exception (a bug: one line, and the
traceback only with ``--verbose``), 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from das_evidence import __version__
from das_evidence.cli.doctor import doctor
from das_evidence.cli.options import (
    ConfigOpt,
    FormatOpt,
    JsonOpt,
    KeysOpt,
    OriginOpt,
    OutputFormat,
    PubOpt,
    VkeyOpt,
)
from das_evidence.cli.options import output_format as _format
from das_evidence.cli.output import console, err_console, print_json, progress_bar, setup_logging
from das_evidence.errors import EXIT_CODES, ConfigError, EvidenceError, InternalError

#: ``-h`` as well as ``--help``, on every command (sub-commands inherit it); help
#: as wide as the terminal up to 100 columns.
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _typer(help_text: str, **kwargs: Any) -> typer.Typer:
    """A command group as every group of ``evidence`` is made.

    Help is plain text (``rich_markup_mode=None``): help texts name TOML tables
    like [snowflake] and [[dbt]], which Rich markup would swallow as styles.
    """
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings=CONTEXT,
        pretty_exceptions_enable=False,
        **kwargs,
    )


app = _typer(
    "Collect audit evidence from Snowflake into a signed, append-only archive, "
    "and verify it.\n\nStart with `evidence demo`, or `evidence init` for a real account. "
    "An empty selection (--only, --schedule or a period that selects nothing) is a usage "
    "error in every command: exit 2, naming the selection.",
    name="evidence",
    epilog="Exit codes: "
    + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())
    + ".",
    add_completion=True,
)
keys_app = _typer("Create and export signing keys.")
app.add_typer(keys_app, name="keys")
store_app = _typer("Inspect the evidence store.")
app.add_typer(store_app, name="store")
from das_evidence.cli.sql import sql as _sql  # noqa: E402 (one file per command)

app.command("sql")(_sql)
app.command()(doctor)


class StatusFormat(StrEnum):
    text = "text"
    json = "json"
    prometheus = "prometheus"


class ReportFormat(StrEnum):
    html = "html"
    md = "md"
    json = "json"


class ScheduleFormat(StrEnum):
    crontab = "crontab"
    k8s = "k8s"


class LockMode(StrEnum):
    """S3 Object Lock modes (``LOCK_MODES`` of the store interface)."""

    COMPLIANCE = "COMPLIANCE"
    GOVERNANCE = "GOVERNANCE"


class DemoStore(StrEnum):
    local = "local"
    s3 = "s3"


OnlyOpt = Annotated[
    str | None,
    typer.Option(
        metavar="GLOB", help="Only streams matching this glob, e.g. 'login_history' or '*history'."
    ),
]
FromOpt = Annotated[
    str,
    typer.Option(
        "--from", metavar="DATE", help="Start of the period: YYYY-MM-DD (UTC) or RFC 3339."
    ),
]
ToOpt = Annotated[str, typer.Option("--to", metavar="DATE", help="End of the period, exclusive.")]
TrustedOpt = Annotated[
    list[Path] | None,
    typer.Option(
        metavar="FILE",
        help="A signed checkpoint seen before (log/checkpoints/<n>, or an earlier pack .zip): "
        "the log must extend it; repeatable.",
    ),
]


def clock() -> datetime:
    """The one clock: real UTC time, or EVIDENCE_NOW (RFC 3339) for tests and the demo."""
    fixed = os.environ.get("EVIDENCE_NOW")
    if not fixed:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(fixed.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"EVIDENCE_NOW={fixed!r} is not an RFC 3339 time",
            fix="use e.g. EVIDENCE_NOW=2026-11-27T06:00:00Z, or unset it",
        ) from None
    if t.tzinfo is None:
        raise ConfigError("EVIDENCE_NOW needs a time zone", fix="end it with Z")
    return t.astimezone(UTC)


@dataclass
class _Options:
    """Root options the commands and the error boundary in :func:`main` read."""

    verbose: bool = False
    quiet: bool = False


OPTIONS = _Options()


def _version(value: bool) -> None:
    if value:
        console.print(f"das-evidence {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Debug logging, and the traceback of an error."),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Only errors and the final result: no progress, no log records."
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    if verbose and quiet:
        raise ConfigError("--verbose and --quiet together", fix="pass one of them")
    OPTIONS.verbose = verbose
    OPTIONS.quiet = quiet
    setup_logging(verbose, quiet)


def _write_out(out: Path, text: str | bytes, *, example: str = "out.txt") -> None:
    """Write what a command produced to the ``--out`` path the user named."""
    if out.is_dir():
        raise ConfigError(
            f"--out {out} is a directory", fix=f"name a file in it, e.g. --out {out / example}"
        )
    try:
        if isinstance(text, bytes):
            out.write_bytes(text)
        else:
            out.write_text(text)
    except OSError as e:
        raise ConfigError(
            f"cannot write {out}: {e.strerror or e}", fix="choose a writable --out path"
        ) from e


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Where to write evidence.toml and keys/.")
    ] = Path("."),
    origin: Annotated[
        str,
        typer.Option(
            metavar="NAME", help="The log's origin: a name you own, e.g. evidence.example.com/prod."
        ),
    ] = "evidence.example.com/acme-prod",
    account: Annotated[
        str, typer.Option(metavar="ACCOUNT", help="Your Snowflake account identifier.")
    ] = "ACME_PROD",
) -> None:
    """Write a commented starter evidence.toml and a new key pair into DIR.

    Then edit the [snowflake] section (the collector's user and its key pair)
    and run `evidence collect`. Publish the signing key's fingerprint (printed)
    out of band for auditors.
    """
    from das_evidence.manifests.keyring import fingerprint_of_file
    from das_evidence.starter import write_starter

    written = write_starter(directory, origin=origin, account=account)
    pub = next(p for p in written if p.name == "signing.pub")
    if not OPTIONS.quiet:
        for path in written:
            console.print(f"wrote {path}")
        console.print(
            f"signing key fingerprint {fingerprint_of_file(pub)[0]}: publish it out of band "
            "for auditors (docs/OPERATIONS.md)"
        )
    console.print(
        f"next: edit the [snowflake] section of {directory / 'evidence.toml'}, "
        "then run `evidence collect`"
    )


@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path, typer.Option(metavar="DIR", help="Directory for the key files.")] = Path(
        "keys"
    ),
    origin: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Log origin (the note key name); default: log.origin of the config.",
        ),
    ] = None,
    config: ConfigOpt = Path("evidence.toml"),
    force: Annotated[bool, typer.Option(help="Overwrite existing key files.")] = False,
) -> None:
    """Write signing.key (PKCS#8, 0600), signing.pub (SPKI), signing.vkey and redaction.key."""
    from das_evidence.config import load_settings
    from das_evidence.manifests.keyring import write_key_pair

    if origin is None:
        origin = load_settings(config).log.origin
    from das_evidence.manifests.keyring import fingerprint_of_file

    paths = write_key_pair(out, origin, force=force)
    for kind, path in paths.items():
        console.print(f"{kind:10} {path}", markup=False)
    console.print(f"fingerprint {fingerprint_of_file(paths['pub'])[0]}", markup=False)


@keys_app.command("fingerprint")
def keys_fingerprint(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Public key files (signing.pub, note.pub, signing.vkey); "
            "default: the configured signing keys.",
            metavar="FILE...",
        ),
    ] = None,
    config: ConfigOpt = Path("evidence.toml"),
    format_: FormatOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print key fingerprints: SHA256: and the hex SHA-256 of the DER SubjectPublicKeyInfo.

    The one fingerprint used everywhere: `evidence init`, the pack's
    keys/FINGERPRINTS.txt and pack.json, VERIFY.md and docs/OPERATIONS.md. Publish it
    out of band. Reproduce it by hand with
    `openssl pkey -pubin -in signing.pub -outform DER | sha256sum`.
    """
    from das_evidence.manifests.keyring import fingerprint_of_file

    rows: list[tuple[str, str, str]] = []
    if files:
        for path in files:
            fp, what = fingerprint_of_file(path)
            rows.append((fp, str(path), what))
    else:
        from das_evidence.config import load_settings
        from das_evidence.manifests.signers import PublicKey
        from das_evidence.services import Services

        signer, note_signer = Services(load_settings(config), clock=clock).signers()
        note = PublicKey.from_ed25519_raw(note_signer.public_key_raw())
        rows.append((signer.fingerprint, "signing key", f"{signer.algorithm}, signs entries"))
        rows.append((note.fingerprint, "note key", f"{note.algorithm}, signs checkpoints"))
    if _format(format_, json_out) is OutputFormat.json:
        print_json([{"fingerprint": f, "key": k, "what": w} for f, k, w in rows])
    else:
        for f, k, w in rows:
            console.print(f"{f}  {k}  ({w})", markup=False)


@keys_app.command("export-public")
def keys_export_public(
    config: ConfigOpt = Path("evidence.toml"),
    out: Annotated[
        Path, typer.Option(metavar="DIR", help="Directory for signing.pub and signing.vkey.")
    ] = Path("keys"),
) -> None:
    """Write signing.pub (SPKI PEM) and signing.vkey for the configured key (file or kms:).

    Publish both out of band: auditors verify with them, never with keys that
    come inside an archive or a pack.
    """
    from das_evidence.config import load_settings
    from das_evidence.manifests.note import VerifierKey
    from das_evidence.services import Services

    signer, note_signer = Services(load_settings(config), clock=clock).signers()
    vkey = VerifierKey.from_public_key(note_signer.name, note_signer.public_key_raw())
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create {out}: {e.strerror or e}", fix="choose a writable --out directory"
        ) from e
    _write_out(out / "signing.pub", signer.public_key_pem())
    _write_out(out / "signing.vkey", vkey.to_string() + "\n")
    console.print(f"pub        {out / 'signing.pub'}  ({signer.fingerprint})", markup=False)
    console.print(f"vkey       {out / 'signing.vkey'}  ({vkey.to_string()})")


@store_app.command("check")
def store_check(
    uri: Annotated[
        str | None,
        typer.Argument(metavar="URI", help="s3://bucket/prefix; default: store.uri of the config."),
    ] = None,
    config: ConfigOpt = Path("evidence.toml"),
    retention_days: Annotated[
        int | None,
        typer.Option(
            metavar="DAYS", help="Required default retention; default: the config's shortest."
        ),
    ] = None,
    lock_mode: Annotated[
        LockMode | None,
        typer.Option(help="The Object Lock mode required; default: the config's."),
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(metavar="URL", help="S3 endpoint URL.")
    ] = None,
    format_: FormatOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check the bucket holds evidence safely: a pass/fail list with the fix for each.

    Versioning, Object Lock with a default COMPLIANCE retention of at least the
    configured period, SSE-KMS default encryption, all four public-access
    blocks, and a bucket policy that denies requests without TLS. Exit 1 if
    any check fails.
    """
    from das_evidence.config import load_settings
    from das_evidence.evidence_store import open_store
    from das_evidence.evidence_store.bucket_check import BucketReport, check_store

    fmt = _format(format_, json_out)
    settings = load_settings(config) if (uri is None or config.exists()) else None
    target = uri or (settings.store.uri if settings else "")
    if not target.startswith("s3://"):
        raise ConfigError(
            f"{target or 'no store'}: `store check` is for s3:// stores",
            fix="pass s3://bucket/prefix, or point --config at an S3 store",
        )
    mode = str(lock_mode) if lock_mode else (settings.store.lock_mode if settings else "COMPLIANCE")
    days = retention_days or (settings.shortest_retention_days() if settings else 2557)
    endpoint = endpoint_url or (settings.store.endpoint_url if settings else None)
    store = open_store(target, endpoint_url=endpoint, lock_mode=mode)
    checks = check_store(store, required_retention_days=days, lock_mode=mode) or []
    report = BucketReport(tuple(checks), bucket=target.removeprefix("s3://").split("/", 1)[0])
    if fmt is OutputFormat.json:
        print_json(report.to_json())
    else:
        for c in checks:
            if OPTIONS.quiet and c.passed:
                continue
            console.print(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}")
            if not c.passed and c.fix:
                console.print(f"     fix: {c.fix}")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def collect(
    config: ConfigOpt = Path("evidence.toml"),
    only: OnlyOpt = None,
    format_: FormatOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Collect every due window of every configured stream into the archive.

    The streams are the [streams.<view>] of [snowflake] and each [[dbt]]
    project. Each window becomes evidence files, then a signed log entry, then
    a new checkpoint. Safe to re-run at any time: nothing due means nothing
    written, and an interrupted run is completed by the next one. A
    configuration error (e.g. a missing private_key_file) stops the command
    before anything is written.
    """
    from das_evidence.config import load_settings
    from das_evidence.schedules.state import read_from_verified
    from das_evidence.services import Services

    fmt = _format(format_, json_out)
    services = Services(load_settings(config), clock=clock)
    with services, progress_bar("collect", enabled=not OPTIONS.quiet) as progress:
        read_from_verified(services)
        report = services.collect(only=only, progress=progress)
    if fmt is OutputFormat.json:
        print_json(report.to_json())
    else:
        for s in report.streams:
            if OPTIONS.quiet and not s.error:
                continue
            state = "failed" if s.error else "ok"
            console.print(
                f"{s.stream}: {state}, {len(s.entries)} new entries, {s.rows} rows, {s.bytes} bytes"
            )
            if s.error:
                err_console.print(f"  error: {s.error}")
    raise typer.Exit(report.exit_code)


@app.command("run")
def run_cmd(
    config: ConfigOpt = Path("evidence.toml"),
    schedule: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Only the streams of this [schedules.<name>]."),
    ] = None,
    only: OnlyOpt = None,
    trusted: TrustedOpt = None,
) -> None:
    """The cron entry point: collect, seal, verify what was appended, print one JSON line.

    Nothing is appended when the store's checkpoint does not extend the one the
    last run recorded ([status] last_run_file) or a --trusted one: a rolled-back
    or forked log is exit 1 with a failure alert.

    The JSON line is printed on every exit: exit 0 when everything is collected
    and verified, 1 when a check failed, 2 on a configuration error, 3 when a
    source, the store or the signer could not be reached, 4 on an internal
    error (a bug), 130 when interrupted.
    """
    import json as _json

    from das_evidence.schedules.runner import RunSummary

    try:
        started = clock()
    except ConfigError:
        started = datetime.now(UTC)  # the error is reported below, by clock() again
    started = started.replace(microsecond=0)
    try:
        from das_evidence.config import load_settings
        from das_evidence.schedules.runner import run
        from das_evidence.verify import load_trusted

        seen = load_trusted(trusted or ())
        summary = run(
            load_settings(config), clock=clock, only=only, schedule=schedule, trusted=seen
        )
    except EvidenceError as e:
        _show(e)
        summary = RunSummary(started, schedule=schedule, error=str(e), exit_code=e.exit_code)
    except KeyboardInterrupt:
        summary = RunSummary(started, schedule=schedule, error="interrupted", exit_code=130)
    except Exception as e:  # the cron boundary: a bug still prints its JSON line
        bug = _show_bug(e)
        summary = RunSummary(started, schedule=schedule, error=bug.message, exit_code=bug.exit_code)
    if summary.finished_at is None:
        summary.finished_at = datetime.now(UTC).replace(microsecond=0)
    sys.stdout.write(_json.dumps(summary.to_json(), sort_keys=True) + "\n")
    sys.stdout.flush()
    raise typer.Exit(summary.exit_code)


@app.command()
def verify(
    target: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="An archive directory, file:// URI, s3://bucket/prefix, or a pack .zip.",
        ),
    ],
    pub: PubOpt = None,
    vkey: VkeyOpt = None,
    keys: KeysOpt = None,
    origin: OriginOpt = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS).",
        ),
    ] = None,
    lock_mode: Annotated[
        LockMode,
        typer.Option(help="The Object Lock mode every S3 object must have."),
    ] = LockMode.COMPLIANCE,
    trusted: TrustedOpt = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            metavar="URI",
            help="A witness (directory, s3://, https://) whose newest checkpoint TARGET must "
            "extend; repeatable.",
        ),
    ] = None,
    witness_vkey: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY",
            help="Require a cosignature by this witness key (or a file holding it) on the "
            "checkpoint of every https:// witness; repeatable.",
        ),
    ] = None,
    at_rest: Annotated[
        bool,
        typer.Option(
            "--at-rest",
            help="s3:// only: check the log, then create an S3 Batch Operations job that has S3 "
            "compute each signed object's SHA-256 where it is stored (nothing is downloaded); "
            "prints the job id and what to run next. Needs --staging and --role-arn.",
        ),
    ] = False,
    checksum_report: Annotated[
        str | None,
        typer.Option(
            metavar="REPORT",
            help="s3:// only: check the completion report of an --at-rest job (its "
            "manifest.json, s3:// or a local copy of the job folder) against the signed log.",
        ),
    ] = None,
    staging: Annotated[
        str | None,
        typer.Option(
            metavar="URI",
            help="With --at-rest: s3://bucket/prefix (outside the archive) for the job's "
            "manifest and report.",
        ),
    ] = None,
    role_arn: Annotated[
        str | None,
        typer.Option(metavar="ARN", help="With --at-rest: the IAM role the job runs as."),
    ] = None,
    period_from: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DATE",
            help="With --at-rest or --checksum-report: only entries whose window meets the "
            "period from this date (UTC) or RFC 3339 time.",
        ),
    ] = None,
    period_to: Annotated[
        str | None,
        typer.Option("--to", metavar="DATE", help="End of that period, exclusive."),
    ] = None,
    format_: FormatOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check every entry, signature, evidence file, checkpoint and window of TARGET.

    With --witness, TARGET must also extend the newest checkpoint each witness
    holds (checked with the log's key, and with --witness-vkey the witness's
    cosignature): fewer entries than a witnessed checkpoint is a rollback, other
    entries under it a fork.

    For s3:// targets it also checks, per object, the Object Lock mode and
    retain-until, S3's checksum against the signed digest, that no other
    version or delete marker exists, and that the bucket has versioning and
    Object Lock enabled.

    With --trusted (a checkpoint saved earlier, or an earlier pack) TARGET must
    be the same tree or extend it: an archive by its own entries, a pack by the
    consistency proof it carries (`evidence pack --since-checkpoint`). Without
    it, a log cut back to an older checkpoint still verifies on its own.

    With --at-rest (s3:// only) nothing is downloaded: the log is checked, and
    an S3 Batch Operations job is created that computes the SHA-256 of every
    signed object version of the period (--from/--to) where S3 stores it. When
    the job is complete, --checksum-report checks its report: every signed
    object once, its task succeeded, S3's SHA-256 equal to the signed digest.

    Exit 0 when every check passes, 1 when evidence failed a check (each
    finding is listed), 2 on a usage error, 3 when the evidence cannot be read.
    """
    from das_evidence.verify import verify_target

    fmt = _format(format_, json_out)
    at_rest_mode = _at_rest_mode(
        target, at_rest, checksum_report, staging, role_arn, period_from, period_to
    )
    witnessed = (
        _witnessed(
            witness,
            witness_vkey or [],
            pub or [],
            vkey,
            origin or _origin_of(target),
            endpoint_url,
            keys,
        )
        if witness
        else []
    )
    newest = max(witnessed, key=lambda w: w.checkpoint.size, default=None)
    if at_rest_mode:
        _verify_at_rest(
            target,
            pubs=pub or [],
            vkey=vkey,
            origin=origin or (newest.checkpoint.origin if newest else None),
            trusted=trusted or [],
            checkpoint=(newest.checkpoint.size, newest.checkpoint.root_hash) if newest else None,
            keys_file=keys,
            endpoint_url=endpoint_url,
            checksum_report=checksum_report,
            staging=staging,
            role_arn=role_arn,
            start=_day(period_from, "--from") if period_from else None,
            end=_day(period_to, "--to") if period_to else None,
            fmt=fmt,
        )
    with progress_bar("verify", enabled=not OPTIONS.quiet, forks=True) as progress:
        report = verify_target(
            target,
            pubs=pub or [],
            vkey=vkey,
            keys_file=keys,
            origin=origin or (newest.checkpoint.origin if newest else None),
            endpoint_url=endpoint_url,
            lock_mode=str(lock_mode),
            trusted=trusted or (),
            progress=progress,
            checkpoint=(newest.checkpoint.size, newest.checkpoint.root_hash) if newest else None,
        )
    if witnessed:
        report.stats["witnessed"] = [
            {"uri": w.uri, "size": w.checkpoint.size, "cosigned_at": w.cosigned_at}
            for w in witnessed
        ]
        for w in witnessed:
            same = [v for v in witnessed if v.checkpoint.size == w.checkpoint.size]
            if any(v.checkpoint.root_hash != w.checkpoint.root_hash for v in same):
                report.fail(
                    "V7 checkpoint",
                    w.uri,
                    f"witnesses hold different trees of size {w.checkpoint.size} (forked)",
                )
    if fmt is OutputFormat.json:
        print_json(report.to_json())
    else:
        for f in report.findings:
            console.print(f"FAIL {f}")
        s = report.stats
        for w in witnessed:
            console.print(f"witnessed: {w.uri}: size {w.checkpoint.size}", markup=False)
        verdict = "PASS" if report.ok else f"FAIL ({len(report.findings)} findings)"
        console.print(
            f"{verdict}: {target}: {s.get('entries', 0)} entries, "
            f"{s.get('evidence_files', 0)} evidence files, {len(s.get('streams', []))} streams"
        )
        for warning in report.warnings:  # part of the result, so -q keeps it
            console.print(f"WARNING: {warning}", style="bold yellow", markup=False)
    raise typer.Exit(0 if report.ok else 1)


def _at_rest_mode(
    target: str,
    at_rest: bool,
    report: str | None,
    staging: str | None,
    role_arn: str | None,
    period_from: str | None,
    period_to: str | None,
) -> bool:
    """Whether verify runs at rest; a usage error when the options do not fit together."""
    if at_rest and report is not None:
        raise ConfigError(
            "--at-rest and --checksum-report together",
            fix="first --at-rest (creates the job), then --checksum-report with its report",
        )
    if not at_rest and (staging is not None or role_arn is not None):
        raise ConfigError("--staging and --role-arn belong to --at-rest", fix="add --at-rest")
    if at_rest and (staging is None or role_arn is None):
        raise ConfigError(
            "--at-rest needs --staging and --role-arn",
            fix="pass --staging s3://<bucket>/<prefix> (outside the archive) and the role the "
            "job runs as: --role-arn arn:aws:iam::<account>:role/<name> (docs/SCALE.md)",
        )
    mode = at_rest or report is not None
    if not mode and (period_from is not None or period_to is not None):
        raise ConfigError(
            "--from and --to belong to --at-rest and --checksum-report",
            fix="`evidence verify` without them checks the whole archive",
        )
    if mode and not target.startswith("s3://"):
        raise ConfigError(
            f"--at-rest and --checksum-report check an s3:// archive, not {target}",
            fix="pass s3://<bucket>/<prefix>, or drop the option to verify by reading the files",
        )
    return mode


def _verify_at_rest(
    target: str,
    *,
    pubs: list[Path],
    vkey: str | None,
    origin: str | None,
    trusted: list[Path],
    checkpoint: tuple[int, bytes] | None,
    keys_file: Path | None,
    endpoint_url: str | None,
    checksum_report: str | None,
    staging: str | None,
    role_arn: str | None,
    start: datetime | None,
    end: datetime | None,
    fmt: OutputFormat,
) -> None:
    """`verify --at-rest` and `verify --checksum-report`: render, then exit."""
    from das_evidence.timefmt import rfc3339
    from das_evidence.verify import auditor_trust
    from das_evidence.verify.batch import start_job, verify_report

    common: dict[str, Any] = {
        "trust": auditor_trust(pubs, vkey, origin, keys_file, trusted, checkpoint),
        "endpoint_url": endpoint_url,
        "start": start,
        "end": end,
    }
    if checksum_report is not None:
        report = verify_report(target, checksum_report, **common)
        if fmt is OutputFormat.json:
            print_json(report.to_json())
        else:
            for f in report.findings:
                console.print(f"FAIL {f}", markup=False)
            s = report.stats
            verdict = "PASS" if report.ok else f"FAIL ({len(report.findings)} findings)"
            console.print(
                f"{verdict}: {target} at rest: {s.get('entries', 0)} entries, "
                f"{s.get('at_rest_matched', 0)} of {s.get('at_rest_objects', 0)} signed objects "
                f"hashed by S3 to their signed SHA-256 ({s.get('period')})",
                markup=False,
            )
            for warning in report.warnings:
                console.print(f"WARNING: {warning}", style="bold yellow", markup=False)
        raise typer.Exit(0 if report.ok else 1)
    assert staging is not None and role_arn is not None  # _at_rest_mode saw to it
    report, started = start_job(target, staging=staging, role_arn=role_arn, **common)
    args = " ".join(
        [f"--pub {p}" for p in pubs]
        + ([f"--keys {keys_file}"] if keys_file else [])
        + ([f"--vkey {vkey}"] if vkey else [])
        + ([f"--origin {origin}"] if origin else [])
        + ([f"--from {rfc3339(start)}"] if start else [])
        + ([f"--to {rfc3339(end)}"] if end else [])
    )
    if started is None:
        if fmt is OutputFormat.json:
            print_json(report.to_json())
        else:
            for f in report.findings:
                console.print(f"FAIL {f}", markup=False)
            console.print(
                f"FAIL ({len(report.findings)} findings): the log of {target} fails its checks; "
                "no job created",
                markup=False,
            )
        raise typer.Exit(1)
    if fmt is OutputFormat.json:
        print_json(started.to_json(args))
    else:
        console.print(
            f"created S3 Batch Operations job {started.job_id}: SHA-256 (FULL_OBJECT) of "
            f"{started.objects} signed objects of {target}, {started.period}",
            markup=False,
        )
        console.print(f"  manifest: {started.manifest_uri}", markup=False)
        console.print(f"  report:   {started.report_uri} (once the job is Complete)", markup=False)
        console.print("next:", markup=False)
        for step in started.next_steps(args):
            console.print(f"  {step}", markup=False)
        for warning in started.warnings:
            console.print(f"WARNING: {warning}", style="bold yellow", markup=False)
    raise typer.Exit(0)


def _origin_of(target: str) -> str | None:
    """The origin TARGET's checkpoint names (unverified: it only picks the log a witness
    is asked about; what the witness returns is checked with the trusted keys)."""
    import zipfile

    from das_evidence.evidence_store import open_store
    from das_evidence.witness.fetch import origin_of

    try:
        if target.endswith(".zip"):
            with zipfile.ZipFile(target) as z, z.open("checkpoint") as member:
                data: bytes | None = member.read(1 << 20)  # a note, not a zip bomb
        elif "://" in target:
            return None  # an s3:// target: pass --origin or --vkey
        else:
            current = open_store(target).get_checkpoint()
            data = current[0] if current else None
        return origin_of(data) if data else None
    except (OSError, KeyError, zipfile.BadZipFile, EvidenceError):
        return None


def _witnessed(
    uris: list[str],
    vkeys: list[str],
    pubs: list[Path],
    vkey: str | None,
    origin: str | None,
    endpoint_url: str | None,
    keys_file: Path | None = None,
) -> list[Any]:
    """The newest checkpoint of each --witness, its signatures checked."""
    if not uris:
        if vkeys:
            raise ConfigError(
                "--witness-vkey without --witness", fix="name the witness: --witness URI"
            )
        return []
    from das_evidence.verify import load_trust
    from das_evidence.witness.cosignature import CosignerKey
    from das_evidence.witness.fetch import load_witnessed

    trust = load_trust(pubs, vkey, origin, keys_file)
    return load_witnessed(
        uris,
        note_key=trust.note_key,
        ed25519_keys=[k.ed25519_raw() for k in trust.keys if k.algorithm == "ed25519"],
        origin=origin,
        cosigners=[CosignerKey.load(v) for v in vkeys],
        endpoint_url=endpoint_url,
    )


def _day(value: str, flag: str) -> datetime:
    """A date (UTC midnight) or an RFC 3339 time."""
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{flag} {value!r} is not a date", fix="use YYYY-MM-DD or 2026-11-01T00:00:00Z"
        ) from None
    if t.tzinfo is None:
        raise ConfigError(f"{flag} {value!r} needs a time zone", fix="end it with Z")
    return t.astimezone(UTC)


_FRAMEWORKS = ("soc2", "hipaa", "soc2,hipaa")


def _frameworks(controls: str) -> tuple[str, ...]:
    frameworks = tuple(sorted({c.strip().lower() for c in controls.split(",") if c.strip()}))
    if not frameworks or not set(frameworks) <= {"soc2", "hipaa"}:
        raise ConfigError(f"--controls {controls!r}", fix="use soc2, hipaa or soc2,hipaa")
    return frameworks


@app.command()
def pack(
    from_: FromOpt,
    to: ToOpt,
    out: Annotated[Path, typer.Option(metavar="FILE", help="Where to write the pack.")] = Path(
        "pack.zip"
    ),
    only: OnlyOpt = None,
    controls: Annotated[
        str,
        typer.Option(
            metavar="|".join(_FRAMEWORKS),
            autocompletion=lambda: list(_FRAMEWORKS),
            help="Frameworks for the control mapping: soc2, hipaa or both.",
        ),
    ] = "soc2,hipaa",
    allow_gaps: Annotated[
        bool, typer.Option(help="Build even if windows are missing; list them in the report.")
    ] = False,
    since_checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="A checkpoint the auditor holds (a checkpoint file or their earlier pack): "
            "carry a consistency proof from it; repeatable.",
        ),
    ] = None,
    config: ConfigOpt = Path("evidence.toml"),
    format_: FormatOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Build a signed auditor pack for a period: evidence, proofs, report, OSCAL, VERIFY.md.

    The pack proves its entries without the rest of the archive: an auditor
    checks it offline with `evidence verify pack.zip --pub keys/signing.pub`, or by
    hand with sha256sum and openssl (VERIFY.md inside). The same selection always
    gives a byte-identical zip. A period the archive does not fully cover is an
    error naming the missing windows (exit 1), unless --allow-gaps; a period
    with no entries at all is an empty selection (exit 2). The report's checks
    run with the [checks] settings of the config.

    With --since-checkpoint the pack also carries consistency/<m>, the proof that
    its checkpoint extends the auditor's checkpoint of size m (checked with
    `evidence verify pack.zip --trusted FILE`, or by hand: VERIFY.md step 6); a
    log that does not extend it is an error (exit 1) and no pack is written.

    After a key rotation, list every key that signed the log in [signing]
    keys_file: entries count with the key covering their index, and the pack
    carries the keys and keys/keys.toml (`evidence verify pack.zip --keys
    keys/keys.toml`, after comparing the fingerprints).
    """
    from das_evidence.config import load_settings
    from das_evidence.reports.bundle import report_files
    from das_evidence.reports.pack import build_pack
    from das_evidence.services import Services
    from das_evidence.verify import load_trusted

    fmt = _format(format_, json_out)
    frameworks = _frameworks(controls)
    since = load_trusted(since_checkpoint or (), "--since-checkpoint")
    settings = load_settings(config)
    services = Services(settings, clock=clock)
    signer, note_signer = services.signers()
    start, end = _day(from_, "--from"), _day(to, "--to")
    with progress_bar("pack", enabled=not OPTIONS.quiet) as progress:
        result = build_pack(
            services.store(),
            origin=settings.log.origin,
            signer=signer,
            note_signer=note_signer,
            start=start,
            end=end,
            out=out,
            only=only,
            allow_gaps=allow_gaps,
            extras=report_files(frameworks, checks=settings.checks),
            since=since,
            progress=progress,
            keys=services.trust().ranges,
        )
    summary = {
        "pack": str(result.path),
        "entries": result.entries,
        "files": result.files,
        "bytes": result.bytes,
        "gaps": [g.to_json() for g in result.gaps],
        "checks": result.checks,
    }
    if fmt is OutputFormat.json:
        print_json(summary)
    else:
        console.print(
            f"wrote {result.path}: {result.entries} entries, {result.files} files, "
            f"{result.bytes:,} bytes; checks {result.checks or '-'}"
        )
        for g in result.gaps:
            console.print(f"  gap (allowed): {g}")


@app.command()
def recheck(
    pack: Annotated[Path, typer.Argument(metavar="PACK", help="An auditor pack (.zip).")],
    pub: PubOpt = None,
    vkey: VkeyOpt = None,
    keys: KeysOpt = None,
    origin: OriginOpt = None,
    format_: FormatOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Re-derive every finding of a pack from the pack's own files.

    Verifies PACK with the published keys (as `evidence verify PACK` does; a pack
    that does not verify is refused), runs every control check again over the
    pack's signed statements and evidence files with the period, [checks]
    settings and time the pack records, and compares each result (status,
    summary, findings, details, evidence, CIS id) with the pack's checks.json.
    Exit 0 when every result re-derives identically, 1 when any differs.
    """
    from das_evidence.reports.rederive import rederive
    from das_evidence.verify import load_trust

    fmt = _format(format_, json_out)
    trust = load_trust(pub or [], vkey, origin, keys)
    results = rederive(pack, trust)
    same = all(r.same for r in results)
    if fmt is OutputFormat.json:
        print_json({"pack": str(pack), "same": same, "checks": [r.to_json() for r in results]})
    else:
        for r in results:
            mark = "SAME" if r.same else "DIFFERS"
            cis = f" (CIS {r.cis})" if r.cis else ""
            detail = "" if r.same else f": {', '.join(r.differs)} differ"
            console.print(
                f"{mark:7} {r.check_id}{cis}: recorded {r.recorded}, re-derived {r.status}{detail}",
                markup=False,
            )
        differing = sum(not r.same for r in results)
        verdict = "PASS" if same else f"FAIL ({differing} of {len(results)} differ)"
        console.print(f"{verdict}: {pack}: {len(results)} checks re-derived from the pack alone")
    raise typer.Exit(0 if same else 1)


@app.command()
def report(
    from_: FromOpt,
    to: ToOpt,
    format_: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="The report's format.")
    ] = ReportFormat.html,
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write to this file instead of standard output."),
    ] = None,
    only: OnlyOpt = None,
    config: ConfigOpt = Path("evidence.toml"),
) -> None:
    """Run the control checks over a period of the archive and render the report.

    The same report, with OSCAL results and everything an auditor needs to
    check it, is inside every pack (`evidence pack`); this command is for a
    quick look at the archive. The checks run with the [checks] settings of
    the config. A period with no entries is an empty selection (exit 2).
    """
    from das_evidence.config import load_settings
    from das_evidence.reports.bundle import report_documents, run_checks_for
    from das_evidence.reports.evidence import from_selection
    from das_evidence.reports.pack import select
    from das_evidence.reports.render import render_html, render_json, render_markdown
    from das_evidence.services import Services

    renderers = {
        ReportFormat.html: render_html,
        ReportFormat.md: render_markdown,
        ReportFormat.json: render_json,
    }
    settings = load_settings(config)
    services = Services(settings, clock=clock)
    start, end = _day(from_, "--from"), _day(to, "--to")
    selection = select(services.archive(), start, end, only)
    selection.require_entries()
    evidence = from_selection(services.store(), selection)
    now = clock()
    results = run_checks_for(evidence, now, settings.checks)
    docs = report_documents(
        evidence,
        results,
        origin=settings.log.origin,
        generated_at=now.replace(microsecond=0),
        gaps=selection.gaps,
        title=f"Evidence report {settings.log.origin}: {start.date()} to {end.date()}",
        checks=settings.checks,
    )
    text = renderers[format_](docs["data"])
    if out is None:
        sys.stdout.write(text)
    else:
        _write_out(out, text, example=f"report.{format_}")
        console.print(f"wrote {out}")


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", metavar="DIR", help="Where to put the demo.")
    ] = Path("evidence-demo"),
    days: Annotated[int, typer.Option(metavar="N", help="Days of activity to seed.")] = 7,
    access_rows_per_day: Annotated[
        int, typer.Option(metavar="N", help="ACCESS_HISTORY rows per seeded day.")
    ] = 8000,
    store: Annotated[
        DemoStore,
        typer.Option(help="local: a directory; s3: a local moto_server with Object Lock."),
    ] = DemoStore.local,
) -> None:
    """Run the whole product on a local fake Snowflake: seed, collect, verify, summarise."""
    import importlib.util

    if not all(importlib.util.find_spec(m) for m in ("fakesnow", "moto")):
        raise ConfigError(
            "evidence demo needs the local fake Snowflake and S3, which this install lacks",
            fix="pip install 'das-evidence[demo]' (a checkout: make demo)",
        )
    from das_evidence.demo.run import run_demo

    code = run_demo(
        directory, days=days, access_rows_per_day=access_rows_per_day, clock=clock, store=str(store)
    )
    raise typer.Exit(code)


schedule_app = _typer("Render the named schedules for cron or Kubernetes.")
app.add_typer(schedule_app, name="schedule")


@app.command()
def status(
    config: ConfigOpt = Path("evidence.toml"),
    only: OnlyOpt = None,
    format_: Annotated[
        StatusFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="text (the default), json, or Prometheus text exposition "
            "(for node_exporter's textfile collector).",
        ),
    ] = None,
    json_out: JsonOpt = False,
    prometheus: Annotated[
        bool,
        typer.Option("--prometheus", hidden=True, help="The same as --format prometheus."),
    ] = False,
) -> None:
    """How far behind each stream is; exit 1 if one is stale.

    A stream is stale when the end of its newest window is further back than its
    objective ([status] objective, plus the stream's own latency, or as set in
    [status.objectives]), or when a configured stream has no entry at all. The
    output is printed in full before the exit code is set.
    """
    from das_evidence.schedules.status import (
        load_last_run,
        render_json,
        render_prometheus,
        render_table,
    )

    given = {StatusFormat.json: json_out, StatusFormat.prometheus: prometheus}
    chosen = {f for f, flag in given.items() if flag} | ({format_} if format_ else set())
    if len(chosen) > 1:
        raise ConfigError(
            "more than one output format: " + " and ".join(sorted(chosen)),
            fix="pass one --format: text, json or prometheus",
        )
    fmt = chosen.pop() if chosen else StatusFormat.text
    import logging

    from das_evidence.config import load_settings
    from das_evidence.schedules.runner import status_report
    from das_evidence.schedules.state import read_from_verified
    from das_evidence.services import Services

    settings = load_settings(config)
    services = Services(settings, clock=clock)
    try:
        # From the run's verified log, as a collect: the store's entries after it only.
        read_from_verified(services)
    except EvidenceError as e:
        # A probe without the run's keys (a key file it cannot read, KMS it cannot
        # reach) reads the whole log, as before: the start is an optimization only.
        services.known = None
        logging.getLogger(__name__).info("reading the whole log: %s", e.message)
    report = status_report(
        services,
        clock(),
        load_last_run(settings.status.last_run_file),
        archive=services.collect_archive(),
        only=only,
    )
    render = {
        StatusFormat.text: render_table,
        StatusFormat.json: render_json,
        StatusFormat.prometheus: render_prometheus,
    }[fmt]
    sys.stdout.write(render(report))
    sys.stdout.flush()
    raise typer.Exit(report.exit_code)


@schedule_app.command("render")
def schedule_render(
    format_: Annotated[
        ScheduleFormat, typer.Option("--format", "-f", help="What to print.")
    ] = ScheduleFormat.crontab,
    config: ConfigOpt = Path("evidence.toml"),
    config_path: Annotated[
        str | None,
        typer.Option(
            metavar="PATH",
            help="crontab: the config path the cron line passes; default: --config, absolute.",
        ),
    ] = None,
    command: Annotated[
        str, typer.Option(metavar="PATH", help="crontab: the evidence executable.")
    ] = "evidence",
    image: Annotated[
        str | None, typer.Option(metavar="IMAGE", help="k8s: the container image (required).")
    ] = None,
    config_volume: Annotated[
        str,
        typer.Option(
            "--config-secret",
            metavar="NAME",
            help="k8s: the Secret holding evidence.toml (and key files beside it).",
        ),
    ] = "evidence-config",
    namespace: Annotated[
        str, typer.Option(metavar="NAME", help="k8s: the CronJobs' namespace.")
    ] = "evidence",
    service_account: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="k8s: the pods' service account (e.g. for IRSA)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write to this file instead of standard output."),
    ] = None,
) -> None:
    """Print the [schedules.<name>] of the config as crontab lines or Kubernetes CronJobs.

    Each schedule runs `evidence run --schedule <name>`. The output is the same
    for the same config, so it can be committed and diffed.
    """
    from das_evidence.config import load_settings
    from das_evidence.schedules.cron import render_crontab, render_k8s, schedules_from

    settings = load_settings(config)
    schedules = schedules_from(settings.schedules)
    if format_ is ScheduleFormat.crontab:
        text = render_crontab(
            schedules, command=command, config_path=config_path or str(config.resolve())
        )
    else:
        if not image:
            raise ConfigError(
                "--format k8s needs --image", fix="pass --image registry/das-evidence:<version>"
            )
        text = render_k8s(
            schedules,
            image=image,
            config_secret=config_volume,
            namespace=namespace,
            service_account=service_account,
        )
    if out is None:
        sys.stdout.write(text)
    else:
        example = "crontab" if format_ is ScheduleFormat.crontab else "k8s.yaml"
        _write_out(out, text, example=example)
        console.print(f"wrote {out}")


witness_app = _typer(
    "Witness checkpoints outside the archive's trust domain (C2SP tlog-witness).\n\n"
    "Run `keygen` and `serve` where the archive's operators have no access (another "
    "account or host); list the witness in [[witnesses]] of evidence.toml."
)
app.add_typer(witness_app, name="witness")
LogKeyOpt = Annotated[
    list[str],
    typer.Option(
        "--log",
        metavar="KEY",
        help="The note verifier key of a log to witness (signing.vkey, or the file); repeatable.",
    ),
]
WitnessKeyOpt = Annotated[
    Path, typer.Option("--key", metavar="FILE", help="The witness's private key (witness.key).")
]


def _log_keys(values: list[str]) -> list[Any]:
    from das_evidence.manifests.note import VerifierKey

    keys = []
    for v in values:
        keys.append(VerifierKey.from_file(v) if "+" not in v else VerifierKey.from_string(v))
    return keys


@witness_app.command("keygen")
def witness_keygen(
    name: Annotated[
        str,
        typer.Option(metavar="NAME", help="The witness's name, e.g. witness.example.com/w1."),
    ],
    out: Annotated[Path, typer.Option(metavar="DIR", help="Directory for the key files.")] = Path(
        "witness-keys"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite existing key files.")] = False,
) -> None:
    """Write witness.key (0600) and witness.vkey (the cosignature/v1 verifier key)."""
    from das_evidence.witness.cosignature import WitnessSigner

    signer = WitnessSigner.generate(name)
    key, vkey = signer.write(out, force=force)
    console.print(f"key        {key}", markup=False)
    console.print(f"vkey       {vkey}  ({signer.verifier.to_string()})", markup=False)


@witness_app.command("serve")
def witness_serve(
    key: WitnessKeyOpt,
    state: Annotated[
        Path, typer.Option(metavar="DIR", help="Where the witness keeps what it cosigned.")
    ],
    log_key: LogKeyOpt,
    listen: Annotated[
        str, typer.Option(metavar="HOST:PORT", help="Address to listen on (port 0: any free).")
    ] = "127.0.0.1:8089",
) -> None:
    """Serve C2SP tlog-witness add-checkpoint: cosign checkpoints that extend the last one.

    POST /add-checkpoint cosigns a checkpoint signed by a --log key whose tree
    extends the one last cosigned for that log (a consistency proof comes with
    it); a rollback gets 409 and the latest size, a fork 422. GET
    /checkpoint/<origin> returns the newest cosigned checkpoint. Plain HTTP:
    put TLS in front of it when it is not on loopback.
    """
    from das_evidence.witness.cosignature import WitnessSigner
    from das_evidence.witness.server import Witness, make_server

    witness = Witness(WitnessSigner.from_file(key), _log_keys(log_key), state, clock)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create --state {state}: {e.strerror or e}") from e
    server = make_server(witness, listen)
    host = listen.rpartition(":")[0]
    # The first line says where: with port 0 the caller learns the port from it.
    err_console.print(
        f"witness {witness.signer.name} listening on {host}:{server.server_port}", markup=False
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


@witness_app.command("cosign")
def witness_cosign(
    checkpoint: Annotated[
        Path, typer.Argument(metavar="CHECKPOINT", help="A signed checkpoint file.")
    ],
    key: WitnessKeyOpt,
    log_key: LogKeyOpt,
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write the cosigned checkpoint here (default: stdout)."),
    ] = None,
) -> None:
    """Cosign one checkpoint offline, after checking the log's signature on it.

    An offline witness attests that it saw this checkpoint at this time; it
    checks no consistency with what it cosigned before (`serve` does).
    """
    from das_evidence.manifests.checkpoint import open_checkpoint
    from das_evidence.manifests.note import SignedNote
    from das_evidence.witness.cosignature import WitnessSigner, add_cosignature

    signer = WitnessSigner.from_file(key)
    try:
        data = checkpoint.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {checkpoint}: {e.strerror or e}") from e
    keys = _log_keys(log_key)
    errors = []
    for k in keys:
        try:
            open_checkpoint(data, k)
            break
        except EvidenceError as e:
            errors.append(e)
    else:
        raise errors[-1] if errors else ConfigError("no --log key given")
    text = SignedNote.from_bytes(data).text
    cosigned = add_cosignature(data, signer.cosign(text, int(clock().timestamp())))
    if out is None:
        sys.stdout.write(cosigned.decode("utf-8"))
    else:
        _write_out(out, cosigned, example="checkpoint.cosigned")


@witness_app.command("publish")
def witness_publish(
    config: ConfigOpt = Path("evidence.toml"),
    format_: FormatOpt = None,
) -> None:
    """Publish the archive's current checkpoint to every [[witnesses]] now.

    What `evidence run` does after it seals and verifies. Exit 1 when a witness
    holds a checkpoint the log does not extend, 3 when one cannot be reached.
    """
    from das_evidence.config import load_settings
    from das_evidence.manifests.checkpoint import open_checkpoint
    from das_evidence.services import Services
    from das_evidence.witness.publish import publish_for_run

    settings = load_settings(config)
    if not settings.witnesses:
        raise ConfigError(
            "no [[witnesses]] configured", fix=f"add a [[witnesses]] table with uri to {config}"
        )
    with Services(settings, clock=clock) as services:
        current = services.store().get_checkpoint()
        if current is None:
            raise ConfigError("the archive has no checkpoint yet", fix="run `evidence run` first")
        note_key = services.trust().note_key
        assert note_key is not None
        size = open_checkpoint(current[0], note_key, settings.log.origin).size
        published = publish_for_run(services, size)
    if _format(format_, False) is OutputFormat.json:
        print_json([p.to_json() for p in published])
    else:
        for p in published:
            console.print(f"{'ok  ' if p.ok else 'FAIL'} {p.uri}: {p.detail}", markup=False)
    raise typer.Exit(max((p.exit_code for p in published), default=0))


def _traceback(e: BaseException) -> None:
    if OPTIONS.verbose:
        traceback.print_exception(e, file=sys.stderr)


def _show(e: EvidenceError) -> None:
    """A product error: its message and fix; the traceback (and the vendor error
    it wraps) only with --verbose."""
    _traceback(e)
    prefix = "" if isinstance(e, InternalError) else "error: "  # it says "internal error:"
    err_console.print(f"{prefix}{e}")


def _show_bug(e: Exception) -> InternalError:
    """An unexpected exception: one line naming it as a bug; the traceback only with
    --verbose."""
    _traceback(e)
    bug = InternalError.from_exception(e, traceback_shown=OPTIONS.verbose)
    err_console.print(bug.message)
    return bug


def _no_type(ctx: Any) -> None:
    return None


def _plain_arguments(command: Any) -> Any:
    """Show each argument by its metavar alone (TARGET, DIR), as options are: typer
    prints its Python type beside it (``<str>``, ``<path>``)."""
    for param in command.params:
        if param.param_type_name == "argument" and param.metavar:
            param.display_type_rich = _no_type
    for sub in getattr(command, "commands", {}).values():
        _plain_arguments(sub)
    return command


def command() -> Any:
    """The click command tree of ``evidence``, as :func:`main` runs it (and tests walk it)."""
    return _plain_arguments(typer.main.get_command(app))


def main() -> None:
    """Entry point and the one error boundary: click handles usage errors (exit 2),
    product errors exit with their own code, anything else is a bug (exit 4)."""
    OPTIONS.verbose = OPTIONS.quiet = False
    try:
        command()(prog_name="evidence")
    except EvidenceError as e:
        _show(e)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:  # the boundary: whatever was not wrapped is a bug
        sys.exit(_show_bug(e).exit_code)


if __name__ == "__main__":
    main()
