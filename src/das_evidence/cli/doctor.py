"""`evidence doctor`: parse, run the checks of :mod:`das_evidence.doctor`, render them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from das_evidence.cli.options import ConfigOpt, FormatOpt, JsonOpt, OutputFormat, output_format
from das_evidence.cli.output import console, print_json

if TYPE_CHECKING:
    # Imported when the command runs: every other command starts without it.
    from das_evidence.doctor import DoctorReport

_LABELS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def render_text(report: DoctorReport) -> list[str]:
    """One line per check, its fix indented below; the config's sources under it."""
    from das_evidence.doctor import EXIT_CODES

    width = max((len(c.name) for c in report.checks), default=0)
    lines: list[str] = []
    for c in report.checks:
        lines.append(f"{_LABELS[c.status]:<4}  {c.name:<{width}}  {c.detail}")
        if c.status in ("warn", "fail") and c.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
        if c.name == "config":
            lines.extend(_sources(report, width))
    n = report.counts()
    lines.append(
        f"{n['ok']} ok, {n['warn']} warnings, {n['fail']} failed, {n['skip']} skipped; "
        f"exit {report.exit_code}: {EXIT_CODES[report.exit_code]}"
    )
    return lines


def _sources(report: DoctorReport, width: int) -> list[str]:
    pad = f"{'':<4}  {'':<{width}}  "
    set_keys = [(k, s) for k, s in report.sources if s != "default"]
    key_width = max((len(k) for k, _ in set_keys), default=0)
    lines = [f"{pad}  {k:<{key_width}}  {s}" for k, s in set_keys]
    defaults = [k for k, s in report.sources if s == "default"]
    if defaults:
        lines.append(f"{pad}  defaults: {', '.join(defaults)}")
    return lines


def doctor(
    config: ConfigOpt = Path("evidence.toml"),
    format_: FormatOpt = None,
    json_out: JsonOpt = False,
    send_test: Annotated[
        bool,
        typer.Option(
            "--send-test",
            help="Post a test message to every webhook (PagerDuty opens an incident).",
        ),
    ] = False,
) -> None:
    """Check this installation can collect: one line per check, with the fix for each failure.

    Checks the configuration (and where each setting came from), the key files
    and their permissions (KMS keys: GetPublicKey), that Snowflake answers
    (a refused port, a name that does not resolve, TLS and a host that never
    answers are told apart, within seconds), the login with the configured role,
    every view the configured streams read (naming the missing grant), each
    SHOW/DESCRIBE the policy snapshot archives (a warning names the privilege), the store
    and its bucket settings (`evidence store check`), every dbt target, and every
    webhook (its host resolves; --send-test posts a test message). Writes
    nothing.

    Exit codes: 0 every check passed (warnings and skipped checks allowed),
    1 a check failed, 2 the configuration cannot be loaded.
    """
    from das_evidence.cli.main import clock
    from das_evidence.config import load_settings, setting_sources
    from das_evidence.doctor import config_report, run_checks
    from das_evidence.errors import ConfigError

    try:
        settings = load_settings(config)
    except ConfigError as e:
        report = config_report(config, e)
    else:
        report = run_checks(
            settings,
            config=config,
            sources=setting_sources(config),
            clock=clock,
            send_test=send_test,
        )
    if output_format(format_, json_out) is OutputFormat.json:
        print_json(report.to_json())
    else:
        for line in render_text(report):
            console.print(line, markup=False, highlight=False)
    raise typer.Exit(report.exit_code)
