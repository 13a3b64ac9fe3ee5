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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from das_evidence import __version__
from das_evidence.cli.doctor import doctor
from das_evidence.cli.output import console, err_console, print_json, setup_logging
from das_evidence.errors import EXIT_CODES, ConfigError, EvidenceError, InternalError
from das_evidence.manifests.log import LogEntry

if TYPE_CHECKING:
    from das_evidence.collectors.runner import CollectReport

app = typer.Typer(
    name="evidence",
    help=(
        "Collect audit evidence from Snowflake into a signed, append-only archive, "
        "and verify it.\n\nStart with `evidence demo`, or `evidence init` for a real account."
    ),
    epilog="Exit codes: "
    + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())
    + ".",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="Create and export signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
store_app = typer.Typer(help="Inspect the evidence store.", no_args_is_help=True)
app.add_typer(store_app, name="store")
app.command()(doctor)

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="EVIDENCE_CONFIG",
        help="The evidence.toml to read (EVIDENCE_* variables override it).",
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
    """Root options the error boundary in :func:`main` needs after the command ran."""

    verbose: bool = False


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
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    OPTIONS.verbose = verbose
    setup_logging(verbose)


def _write_out(out: Path, text: str | bytes) -> None:
    """Write what a command produced to the ``--out`` path the user named."""
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
        Path, typer.Argument(help="Where to write evidence.toml and keys/.")
    ] = Path("."),
    origin: Annotated[
        str, typer.Option(help="The log's origin: a name you own, e.g. evidence.example.com/prod.")
    ] = "evidence.example.com/acme-prod",
    account: Annotated[str, typer.Option(help="Your Snowflake account identifier.")] = "ACME_PROD",
) -> None:
    """Write a commented starter evidence.toml and a new key pair into DIRECTORY."""
    from das_evidence.starter import write_starter

    written = write_starter(directory, origin=origin, account=account)
    for path in written:
        console.print(f"wrote {path}")
    console.print("next: edit the [snowflake] section, then run `evidence collect`")


@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path, typer.Option(help="Directory for the key files.")] = Path("keys"),
    origin: Annotated[
        str | None,
        typer.Option(help="Log origin (the note key name); default: log.origin of the config."),
    ] = None,
    config: ConfigOpt = Path("evidence.toml"),
    force: Annotated[bool, typer.Option(help="Overwrite existing key files.")] = False,
) -> None:
    """Write signing.key (PKCS#8, 0600), signing.pub (SPKI), signing.vkey and redaction.key."""
    from das_evidence.config import load_settings
    from das_evidence.manifests.keyring import write_key_pair

    if origin is None:
        origin = load_settings(config).log.origin
    paths = write_key_pair(out, origin, force=force)
    for kind, path in paths.items():
        console.print(f"{kind:10} {path}")


@keys_app.command("export-public")
def keys_export_public(
    config: ConfigOpt = Path("evidence.toml"),
    out: Annotated[Path, typer.Option(help="Directory for signing.pub and signing.vkey.")] = Path(
        "keys"
    ),
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
    console.print(f"pub        {out / 'signing.pub'}  (key id {signer.key_id})")
    console.print(f"vkey       {out / 'signing.vkey'}  ({vkey.to_string()})")


@store_app.command("check")
def store_check(
    uri: Annotated[
        str | None, typer.Argument(help="s3://bucket/prefix; default: store.uri of the config.")
    ] = None,
    config: ConfigOpt = Path("evidence.toml"),
    retention_days: Annotated[
        int | None,
        typer.Option(help="Required default retention; default: the config's shortest."),
    ] = None,
    lock_mode: Annotated[str | None, typer.Option(help="COMPLIANCE or GOVERNANCE.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="S3 endpoint URL.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
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

    settings = load_settings(config) if (uri is None or config.exists()) else None
    target = uri or (settings.store.uri if settings else "")
    if not target.startswith("s3://"):
        raise ConfigError(
            f"{target or 'no store'}: `store check` is for s3:// stores",
            fix="pass s3://bucket/prefix, or point --config at an S3 store",
        )
    mode = lock_mode or (settings.store.lock_mode if settings else "COMPLIANCE")
    days = retention_days or (settings.shortest_retention_days() if settings else 2557)
    endpoint = endpoint_url or (settings.store.endpoint_url if settings else None)
    store = open_store(target, endpoint_url=endpoint, lock_mode=mode)
    checks = check_store(store, required_retention_days=days, lock_mode=mode) or []
    report = BucketReport(tuple(checks), bucket=target.removeprefix("s3://").split("/", 1)[0])
    if json_out:
        print_json(report.to_json())
    else:
        for c in checks:
            console.print(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}", markup=False)
            if not c.passed and c.fix:
                console.print(f"     fix: {c.fix}", markup=False)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def collect(
    config: ConfigOpt = Path("evidence.toml"),
    only: Annotated[
        str | None,
        typer.Option(help="Only streams matching this glob, e.g. 'login_history' or '*history'."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Collect every due window of every configured stream into the archive.

    Each window becomes evidence files, then a signed log entry, then a new
    checkpoint. Safe to re-run at any time: nothing due means nothing written,
    and an interrupted run is completed by the next one.
    """
    from das_evidence.config import load_settings
    from das_evidence.services import Services

    services = Services(load_settings(config), clock=clock)

    def collect_all(on_entry: Callable[[LogEntry], None] | None = None) -> CollectReport:
        with services:
            return services.collect(only=only, on_entry=on_entry)

    if sys.stderr.isatty() and not json_out:
        # A person is watching: a live line per entry instead of log records.
        with err_console.status("collecting...") as status:

            def progress(entry: LogEntry) -> None:
                p = entry.predicate
                status.update(
                    f"entry {entry.index}: {p['stream']} {p['window']['start']} "
                    f"({p.get('rows', 0):,} rows)"
                )

            report = collect_all(progress)
    else:
        report = collect_all()
    if json_out:
        print_json(report.to_json())
    else:
        for s in report.streams:
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
        str | None, typer.Option(help="Only the streams of this named schedule.")
    ] = None,
    only: Annotated[str | None, typer.Option(help="Only streams matching this glob.")] = None,
) -> None:
    """The cron entry point: collect, seal, verify what was appended, print one JSON line.

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

        summary = run(load_settings(config), clock=clock, only=only, schedule=schedule)
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
        str, typer.Argument(help="An archive directory, file:// URI, or s3://bucket/prefix.")
    ],
    pub: Annotated[
        list[Path],
        typer.Option(help="Trusted public key (SPKI PEM) of the entry signer; repeatable."),
    ],
    vkey: Annotated[
        str | None,
        typer.Option(help="Note verifier key (name+hex8+base64), or a file holding it."),
    ] = None,
    origin: Annotated[str | None, typer.Option(help="The log origin to expect.")] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(help="S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS)."),
    ] = None,
    lock_mode: Annotated[
        str, typer.Option(help="The Object Lock mode every S3 object must have.")
    ] = "COMPLIANCE",
    json_out: Annotated[bool, typer.Option("--json", help="Print findings as JSON.")] = False,
) -> None:
    """Check every entry, signature, evidence file, checkpoint and window of TARGET.

    For s3:// targets it also checks, per object, the Object Lock mode and
    retain-until, S3's checksum against the signed digest, that no other
    version or delete marker exists, and that the bucket has versioning and
    Object Lock enabled.

    Exit 0 when every check passes, 1 when evidence failed a check (each
    finding is listed), 2 on a usage error, 3 when the evidence cannot be read.
    """
    from das_evidence.verify import verify_target

    report = verify_target(
        target, pubs=pub, vkey=vkey, origin=origin, endpoint_url=endpoint_url, lock_mode=lock_mode
    )
    if json_out:
        print_json(report.to_json())
    else:
        for f in report.findings:
            console.print(f"FAIL {f}")
        s = report.stats
        verdict = "PASS" if report.ok else f"FAIL ({len(report.findings)} findings)"
        console.print(
            f"{verdict}: {target}: {s.get('entries', 0)} entries, "
            f"{s.get('evidence_files', 0)} evidence files, {len(s.get('streams', []))} streams"
        )
    raise typer.Exit(0 if report.ok else 1)


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


@app.command()
def pack(
    from_: Annotated[str, typer.Option("--from", help="Start of the period (YYYY-MM-DD, UTC).")],
    to: Annotated[str, typer.Option("--to", help="End of the period, exclusive.")],
    out: Annotated[Path, typer.Option(help="Where to write the pack.")] = Path("pack.zip"),
    only: Annotated[
        str | None, typer.Option(help="Only streams matching this glob, e.g. 'snowflake/*'.")
    ] = None,
    controls: Annotated[
        str, typer.Option(help="Frameworks for the control mapping: soc2, hipaa or both.")
    ] = "soc2,hipaa",
    allow_gaps: Annotated[
        bool, typer.Option(help="Build even if windows are missing; list them in the report.")
    ] = False,
    config: ConfigOpt = Path("evidence.toml"),
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Build a signed auditor pack for a period: evidence, proofs, report, OSCAL, VERIFY.md.

    The pack proves its entries without the rest of the archive: an auditor
    checks it offline with `evidence verify pack.zip --pub keys/signing.pub`, or by
    hand with sha256sum and openssl (VERIFY.md inside). The same selection always
    gives a byte-identical zip. A period the archive does not fully cover is an
    error naming the missing windows, unless --allow-gaps.
    """
    from das_evidence.config import load_settings
    from das_evidence.reports.bundle import report_files
    from das_evidence.reports.pack import build_pack
    from das_evidence.services import Services

    frameworks = tuple(sorted({c.strip().lower() for c in controls.split(",") if c.strip()}))
    if not frameworks or not set(frameworks) <= {"soc2", "hipaa"}:
        raise ConfigError(f"--controls {controls!r}", fix="use soc2, hipaa or soc2,hipaa")
    settings = load_settings(config)
    services = Services(settings, clock=clock)
    signer, note_signer = services.signers()
    result = build_pack(
        services.store(),
        origin=settings.log.origin,
        signer=signer,
        note_signer=note_signer,
        start=_day(from_, "--from"),
        end=_day(to, "--to"),
        out=out,
        only=only,
        allow_gaps=allow_gaps,
        extras=report_files(frameworks, checks=settings.checks),
    )
    summary = {
        "pack": str(result.path),
        "entries": result.entries,
        "files": result.files,
        "bytes": result.bytes,
        "gaps": [g.to_json() for g in result.gaps],
        "checks": result.checks,
    }
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"wrote {result.path}: {result.entries} entries, {result.files} files, "
            f"{result.bytes:,} bytes; checks {result.checks or '-'}"
        )
        for g in result.gaps:
            console.print(f"  gap (allowed): {g}")


@app.command()
def report(
    from_: Annotated[str, typer.Option("--from", help="Start of the period (YYYY-MM-DD, UTC).")],
    to: Annotated[str, typer.Option("--to", help="End of the period, exclusive.")],
    format_: Annotated[str, typer.Option("--format", help="html, md or json.")] = "html",
    out: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
    only: Annotated[str | None, typer.Option(help="Only streams matching this glob.")] = None,
    config: ConfigOpt = Path("evidence.toml"),
) -> None:
    """Run the control checks over a period of the archive and render the report.

    The same report, with OSCAL results and everything an auditor needs to
    check it, is inside every pack (`evidence pack`); this command is for a
    quick look at the archive.
    """
    from das_evidence.config import load_settings
    from das_evidence.reports.bundle import report_documents, run_checks_for
    from das_evidence.reports.evidence import from_archive
    from das_evidence.reports.pack import select
    from das_evidence.reports.render import render_html, render_json, render_markdown

    renderers = {"html": render_html, "md": render_markdown, "json": render_json}
    if format_ not in renderers:
        raise ConfigError(f"--format {format_!r}", fix="use html, md or json")
    from das_evidence.services import Services

    settings = load_settings(config)
    services = Services(settings, clock=clock)
    start, end = _day(from_, "--from"), _day(to, "--to")
    evidence = from_archive(services.store(), settings.log.origin, start, end, only)
    gaps = select(services.archive(), start, end, only).gaps
    now = clock()
    results = run_checks_for(evidence, now, settings.checks)
    docs = report_documents(
        evidence,
        results,
        origin=settings.log.origin,
        generated_at=now.replace(microsecond=0),
        gaps=gaps,
        title=f"Evidence report {settings.log.origin}: {start.date()} to {end.date()}",
        checks=settings.checks,
    )
    text = renderers[format_](docs["data"])
    if out is None:
        sys.stdout.write(text)
    else:
        _write_out(out, text)
        console.print(f"wrote {out}")


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to put the demo.")] = Path(
        "evidence-demo"
    ),
    days: Annotated[int, typer.Option(help="Days of activity to seed.")] = 7,
    access_rows_per_day: Annotated[
        int, typer.Option(help="ACCESS_HISTORY rows per seeded day.")
    ] = 8000,
    store: Annotated[
        str, typer.Option(help="local: a directory; s3: a local moto_server with Object Lock.")
    ] = "local",
) -> None:
    """Run the whole product on a local fake Snowflake: seed, collect, verify, summarise."""
    import importlib.util

    if not all(importlib.util.find_spec(m) for m in ("fakesnow", "moto")):
        raise ConfigError(
            "evidence demo needs the local fake Snowflake and S3, which this install lacks",
            fix="pip install 'das-evidence[demo]' (a checkout: make demo)",
        )
    from das_evidence.demo.run import run_demo

    if store not in ("local", "s3"):
        raise ConfigError(f"--store {store!r}", fix="use --store local or --store s3")
    code = run_demo(
        directory, days=days, access_rows_per_day=access_rows_per_day, clock=clock, store=store
    )
    raise typer.Exit(code)


schedule_app = typer.Typer(
    help="Render the named schedules for cron or Kubernetes.", no_args_is_help=True
)
app.add_typer(schedule_app, name="schedule")


@app.command()
def status(
    config: ConfigOpt = Path("evidence.toml"),
    json_out: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    prometheus: Annotated[
        bool,
        typer.Option(
            "--prometheus",
            help="Print Prometheus text exposition (for node_exporter's textfile collector).",
        ),
    ] = False,
) -> None:
    """How far behind each stream is. Exit 1 if any stream is stale.

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

    if json_out and prometheus:
        raise ConfigError("--json and --prometheus together", fix="pass one of them")
    from das_evidence.config import load_settings
    from das_evidence.schedules.runner import status_report
    from das_evidence.services import Services

    settings = load_settings(config)
    report = status_report(
        Services(settings, clock=clock), clock(), load_last_run(settings.status.last_run_file)
    )
    render = render_json if json_out else render_prometheus if prometheus else render_table
    sys.stdout.write(render(report))
    sys.stdout.flush()
    raise typer.Exit(report.exit_code)


@schedule_app.command("render")
def schedule_render(
    format_: Annotated[str, typer.Option("--format", help="crontab or k8s.")] = "crontab",
    config: ConfigOpt = Path("evidence.toml"),
    config_path: Annotated[
        str | None,
        typer.Option(
            help="crontab: the config path the cron line passes; default: --config, absolute."
        ),
    ] = None,
    command: Annotated[str, typer.Option(help="crontab: the evidence executable.")] = "evidence",
    image: Annotated[str | None, typer.Option(help="k8s: the container image (required).")] = None,
    config_volume: Annotated[
        str,
        typer.Option(
            "--config-secret",
            help="k8s: the Secret holding evidence.toml (and key files beside it).",
        ),
    ] = "evidence-config",
    namespace: Annotated[str, typer.Option(help="k8s: the CronJobs' namespace.")] = "evidence",
    service_account: Annotated[
        str | None, typer.Option(help="k8s: the pods' service account (e.g. for IRSA).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
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
    if format_ == "crontab":
        text = render_crontab(
            schedules, command=command, config_path=config_path or str(config.resolve())
        )
    elif format_ == "k8s":
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
    else:
        raise ConfigError(f"--format {format_!r}", fix="use --format crontab or --format k8s")
    if out is None:
        sys.stdout.write(text)
    else:
        _write_out(out, text)
        console.print(f"wrote {out}")


def _traceback(e: BaseException) -> None:
    if OPTIONS.verbose:
        traceback.print_exception(e, file=sys.stderr)


def _show(e: EvidenceError) -> None:
    """A product error: its message and fix; the traceback (and the vendor error
    it wraps) only with --verbose."""
    _traceback(e)
    prefix = "" if isinstance(e, InternalError) else "error: "  # it says "internal error:"
    err_console.print(f"{prefix}{e}", markup=False, highlight=False)


def _show_bug(e: Exception) -> InternalError:
    """An unexpected exception: one line naming it as a bug; the traceback only with
    --verbose."""
    _traceback(e)
    bug = InternalError.from_exception(e, traceback_shown=OPTIONS.verbose)
    err_console.print(bug.message, markup=False, highlight=False)
    return bug


def main() -> None:
    """Entry point and the one error boundary: click handles usage errors (exit 2),
    product errors exit with their own code, anything else is a bug (exit 4)."""
    OPTIONS.verbose = False
    try:
        app()
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
