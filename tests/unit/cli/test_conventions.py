"""CLI conventions a new user relies on: help that keeps every [table] it names, -h,
completion, choices and human metavars in help, one --format, --quiet, progress on a
terminal, and one empty-selection rule."""

from __future__ import annotations

import io
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from das_evidence.cli import output
from das_evidence.cli.main import LockMode, command
from das_evidence.evidence_store.interface import LOCK_MODES
from tests.unit.cli.conftest import Evidence

# A TOML table as help texts name them: [snowflake], [[dbt]], [schedules.<name>].
TABLE = re.compile(r"\[\[?[A-Za-z_][^\]\s]*\]\]?")
# A Python type where a person expects a word: <str>, <int>, <bool>, <list[Path]> ...
PYTHON_TYPE = re.compile(r"<(?:str|int|float|bool|path|file|dir|datetime|list\[[^>]*\])>")


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(command()))


def _source_help(cmd: Any) -> str:
    texts = [cmd.help or "", cmd.epilog or ""]
    texts += [getattr(p, "help", None) or "" for p in cmd.params if not getattr(p, "hidden", 0)]
    return "\n".join(texts)


def test_the_walk_finds_every_command_and_the_tables_they_name() -> None:
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"", "collect", "verify", "pack", "report", "status", "store check"} <= paths
    assert {"keys generate", "schedule render", "init", "run", "demo"} <= paths
    named = {t for _, cmd in COMMANDS for t in TABLE.findall(_source_help(cmd))}
    # The test means something only if the help texts do name tables.
    assert {"[snowflake]", "[[dbt]]", "[schedules.<name>]", "[checks]", "[status]"} <= named


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "evidence")
def test_help_keeps_every_bracketed_token_and_shows_no_python_types(
    path: tuple[str, ...], evidence: Evidence, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    cmd = dict(COMMANDS)[path]
    long, short = evidence(*path, "--help"), evidence(*path, "-h")
    assert long.code == short.code == 0, long.err
    assert long.out == short.out
    for token in TABLE.findall(_source_help(cmd)):
        assert token in long.out, f"{token} lost from `evidence {' '.join(path)} --help`"
    assert not PYTHON_TYPE.findall(long.out), long.out


def test_choices_are_shown_and_checked(evidence: Evidence, collected: Path) -> None:
    helps = {name: evidence(*name.split(), "-h").out for name in ("verify", "report", "demo")}
    assert "--lock-mode <COMPLIANCE|GOVERNANCE>" in helps["verify"]
    assert "--format <html|md|json>" in helps["report"]
    assert "--store <local|s3>" in helps["demo"]
    for args in (
        ("verify", "archive", "--pub", "keys/signing.pub", "--lock-mode", "bogus"),
        ("verify", "archive", "--pub", "keys/signing.pub", "--format", "yaml"),
        ("report", "--from", "2026-11-27", "--to", "2026-11-28", "--format", "pdf"),
        ("status", "--format", "xml"),
        ("schedule", "render", "--format", "systemd"),
        ("demo", "--store", "gcs"),
        ("store", "check", "s3://b/p", "--lock-mode", "sometimes"),
    ):
        r = evidence(*args)
        assert r.code == 2, args
        assert "Invalid value" in r.err and args[-1] in r.err, r.err


def test_the_lock_mode_choices_are_the_stores() -> None:
    assert [str(m) for m in LockMode] == list(LOCK_MODES)


def test_shell_completion_is_offered(evidence: Evidence, monkeypatch: pytest.MonkeyPatch) -> None:
    root = evidence("--help").out
    assert "--install-completion" in root and "--show-completion" in root
    # typer finds the shell from the process tree (shellingham), which a test runner
    # started from cron or a background job may not have: name it.
    import typer.completion

    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    r = evidence("--show-completion")
    assert r.code == 0 and "_EVIDENCE_COMPLETE" in r.out


# -- one --format, and --json where it was ---------------------------------------------


def test_format_json_and_the_old_json_flag_print_the_same(
    evidence: Evidence, collected: Path
) -> None:
    for args in (("verify", "archive", "--pub", "keys/signing.pub"), ("status",), ("collect",)):
        new, old = evidence(*args, "--format", "json"), evidence(*args, "--json")
        assert new.code == old.code == 0, new.err
        assert json.loads(new.out).keys() == json.loads(old.out).keys()
        text = evidence(*args)
        assert text.code == 0 and not text.out.startswith("{")
    assert evidence("status", "--prometheus").out == evidence("status", "-f", "prometheus").out


@pytest.mark.parametrize(
    "args",
    [
        ("verify", "archive", "--pub", "keys/signing.pub", "--json", "--format", "text"),
        ("status", "--json", "--prometheus"),
        ("status", "--format", "text", "--prometheus"),
    ],
)
def test_two_output_formats_are_a_usage_error(
    args: tuple[str, ...], evidence: Evidence, collected: Path
) -> None:
    r = evidence(*args)
    assert r.code == 2 and r.out == ""
    assert r.err_lines[0].startswith("error: ")
    assert "together" in r.err or "more than one" in r.err


# -- the empty-selection rule ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("collect", "--only", "nomatch"), "--only 'nomatch'"),
        (("run", "--only", "nomatch"), "--only 'nomatch'"),
        (("status", "--only", "nomatch"), "--only 'nomatch'"),
        (("pack", "--from", "2025-01-01", "--to", "2025-02-01"), "[2025-01-01T00:00:00Z, "),
        (("pack", "--from", "2026-11-27", "--to", "2026-11-28", "--only", "nomatch"), "'nomatch'"),
        (("report", "--from", "2025-01-01", "--to", "2025-02-01", "--out", "r.html"), "[2025-01"),
        (("report", "--from", "2026-11-27", "--to", "2026-11-28", "--only", "nomatch"), "nomatch"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_an_empty_selection_is_exit_2_naming_it_in_every_command(
    args: tuple[str, ...], names: str, evidence: Evidence, collected: Path
) -> None:
    before = sorted(p.relative_to(collected) for p in collected.rglob("*"))

    r = evidence(*args)

    assert r.code == 2, r.err
    message = r.summary()["error"] if args[0] == "run" else r.err
    assert message.startswith("error: nothing selected: ") or "nothing selected: " in message
    assert names in message
    assert "  fix: " in message
    after = sorted(p.relative_to(collected) for p in collected.rglob("*"))
    assert [p for p in after if p not in before and p.name != "last-run.json"] == []


def test_the_selection_that_is_there_still_works(evidence: Evidence, collected: Path) -> None:
    assert evidence("status", "--only", "dbt/*").code == 0
    r = evidence("report", "--from", "2026-11-27", "--to", "2026-11-28", "-f", "md")
    assert r.code == 0 and r.out.startswith("# Evidence report")


def test_report_out_a_directory_is_a_usage_error_naming_it(
    evidence: Evidence, collected: Path
) -> None:
    (collected / "reports").mkdir()
    r = evidence("report", "--from", "2026-11-27", "--to", "2026-11-28", "--out", "reports")
    assert r.code == 2
    assert r.err_lines == [
        "error: --out reports is a directory",
        "  fix: name a file in it, e.g. --out reports/report.html",
    ]


# -- --quiet -----------------------------------------------------------------------------


def test_quiet_prints_only_the_result(
    evidence: Evidence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collected: Path
) -> None:
    loud = evidence("collect")  # nothing due: one line per stream, log records
    quiet = evidence("-q", "collect")
    assert loud.code == quiet.code == 0
    assert loud.out and quiet.out == ""  # no stream failed: nothing to say
    assert quiet.err == ""
    r = evidence("--quiet", "init", str(tmp_path / "fresh"))
    assert r.code == 0 and r.out.splitlines() == [
        f"next: edit the [snowflake] section of {tmp_path / 'fresh' / 'evidence.toml'}, "
        "then run `evidence collect`"
    ]
    v = evidence("-q", "verify", "archive", "--pub", "keys/signing.pub")
    assert v.code == 0 and v.out.startswith("PASS: archive: ") and v.err == ""
    both = evidence("-q", "-v", "status")
    assert both.code == 2 and "--verbose and --quiet together" in both.err


# -- a signing key others can read --------------------------------------------------------


def test_a_signing_key_others_can_read_is_warned_about_with_the_fix(
    evidence: Evidence, collected: Path
) -> None:
    key = collected / "keys" / "signing.key"
    args = ("pack", "--from", "2026-11-27", "--to", "2026-11-28", "--out", "p.zip")
    assert "chmod" not in evidence(*args).err  # 0600, as written

    key.chmod(0o644)
    r = evidence(*args)
    assert r.code == 0, r.err
    [warning] = [json.loads(line) for line in r.err_lines if "chmod" in line]
    assert warning["level"] == "warning"
    assert warning["message"] == (
        f"signing key {key} has mode 0644: other users can read or change it; run `chmod 600 {key}`"
    )
    key.chmod(0o440)  # group-readable, as Kubernetes mounts a Secret for an fsGroup
    assert "chmod" not in evidence(*args).err
    assert stat.S_IMODE(key.stat().st_mode) == 0o440
    key.chmod(0o644)
    assert evidence("-q", *args).err == ""  # --quiet: errors only


# -- progress on a terminal ---------------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal, for the progress display only."""
    screen = io.StringIO()
    monkeypatch.setattr(output, "err_console", Console(file=screen, force_terminal=True, width=120))
    return screen


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("collect",), ["collect", "1/1", "done"]),
        (("verify", "archive", "--pub", "keys/signing.pub"), ["verify", "checking entries"]),
        (
            ("pack", "--from", "2026-11-27", "--to", "2026-11-28", "--out", "p.zip"),
            ["pack", "writing files"],
        ),
    ],
    ids=lambda v: v[0] if isinstance(v, tuple) else None,
)
def test_long_commands_show_progress_on_a_terminal_only(
    args: tuple[str, ...],
    shown: list[str],
    evidence: Evidence,
    dbt_site: Path,
    terminal: io.StringIO,
) -> None:
    if args[0] != "collect":
        assert evidence("collect").code == 0
        terminal.truncate(0)

    r = evidence(*args)

    assert r.code == 0, r.err
    screen = terminal.getvalue()
    for text in shown:
        assert text in screen, screen
    assert "━" in screen  # the bar
    terminal.truncate(0)
    terminal.seek(0)
    assert evidence("-q", *args).code == 0
    assert terminal.getvalue() == ""


def test_no_progress_where_no_one_watches(evidence: Evidence, dbt_site: Path) -> None:
    for args in (("collect",), ("verify", "archive", "--pub", "keys/signing.pub")):
        r = evidence(*args)
        assert r.code == 0
        # Log records as JSON lines, and nothing else: no bar, no escape codes.
        assert all(json.loads(line) for line in r.err_lines)
        assert "\x1b" not in r.err
