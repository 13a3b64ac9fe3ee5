"""``evidence sql``: parse, run the query through :mod:`das_evidence.query`, render."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from das_evidence.cli.output import console, err_console, print_json
from das_evidence.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

    from das_evidence.query.engine import ViewInfo

#: Rows the text table shows when no --limit is given: a terminal is not for 56,000 rows.
TEXT_ROWS = 1000


class SqlFormat(StrEnum):
    """How ``evidence sql`` prints rows."""

    text = "text"
    json = "json"
    csv = "csv"


def sql(
    query: Annotated[
        str | None,
        typer.Argument(
            metavar="SQL",
            help='The SQL, e.g. "SELECT * FROM login_history LIMIT 5" (SQL that starts '
            "with -- goes after a lone --, or in --file).",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="Read the SQL from this file ('-': standard input) instead of the argument.",
        ),
    ] = None,
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            envvar="EVIDENCE_CONFIG",
            help="The evidence.toml naming the archive (EVIDENCE_* variables override it).",
        ),
    ] = Path("evidence.toml"),
    format_: Annotated[
        SqlFormat, typer.Option("--format", help="text (a table), json (rows) or csv.")
    ] = SqlFormat.text,
    limit: Annotated[
        int | None,
        typer.Option(
            min=0, metavar="N", help=f"At most this many rows (text: {TEXT_ROWS} unless given)."
        ),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the views with their rows and columns.")
    ] = False,
    verified: Annotated[
        bool,
        typer.Option(
            "--verified",
            help="Check the log and every file read against its signed digest first "
            "(see above); slower.",
        ),
    ] = False,
    pub: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="--verified: trusted entry-signer public key (SPKI PEM), repeatable; "
            "default: the configured signer's.",
        ),
    ] = None,
    vkey: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="--verified with --pub: the note verifier key, or a file holding it.",
        ),
    ] = None,
) -> None:
    """Query the archive in place with SQL (polars SQL), one view per stream.

    Views: access_history, login_history, query_history, sessions (every window,
    amendments included), access_history_base_columns (ACCESS_HISTORY, one row
    per column of BASE_OBJECTS_ACCESSED), policy_<view> (the newest snapshot of
    each account) and policy_<view>_history (every snapshot), policy_changes,
    dbt_nodes, dbt_tests, dbt_results, dbt_source_freshness. Which files make a
    view comes from the signed log. Every row has _entry (log index) and _file
    (store key); Snowflake views _account; policy views _as_of; dbt views
    _project, _invocation_id, _generated_at. `--list` shows the columns.

    Without --verified, polars reads the archive's files directly and nothing
    is checked. With --verified, before any row is read: each entry of the log
    carries its own index and origin and the previous entry's leaf hash; the
    newest checkpoint is signed by the note key (from --vkey, an Ed25519 --pub
    or the configuration; otherwise it is not checked) and covers exactly those
    entries; each entry a view reads is signed by a trusted key; and each file
    read has the SHA-256 its entry signed (on S3 at the version it pinned) and
    is queried from that checked copy. Not checked: older checkpoints, window
    gaps, files no entry names, S3 locks and versions: run `evidence verify`.

    Exit 0 with the rows (none is fine), 1 when --verified finds a failure, 2 for
    bad SQL (with polars' message) or an unknown view (with the list), 3 when the
    archive cannot be read.
    """
    from das_evidence.config import load_settings
    from das_evidence.query.engine import ArchiveSql
    from das_evidence.services import Services

    if file is not None:
        if query is not None:
            raise ConfigError("a query and --file together", fix="pass one of them")
        query = _read_sql(file)
    if not list_ and query is None:
        raise ConfigError(
            "no query given", fix='pass one: evidence sql "SELECT ...", --file q.sql, or --list'
        )
    if (pub or vkey) and not verified:
        raise ConfigError("--pub and --vkey only apply with --verified", fix="add --verified")
    settings = load_settings(config)
    services = Services(settings, clock=lambda: datetime.now(UTC))
    trust = None
    if verified:
        if pub:
            from das_evidence.verify import load_trust

            trust = load_trust(pub, vkey, settings.log.origin)
        else:
            trust = services.trust()
    with ArchiveSql(services.store(), settings.log.origin, trust=trust) as archive:
        if list_:
            _show_views(archive.describe(), format_)
            return
        shown = limit if limit is not None or format_ != "text" else TEXT_ROWS + 1
        result = archive.query(query or "", limit=shown)
    _show_rows(result, format_, cut=limit is None and format_ == "text")


def _read_sql(file: Path) -> str:
    try:
        return sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"cannot read the SQL from {file}: {getattr(e, 'strerror', None) or e}",
            fix="pass a readable UTF-8 file, or '-' for standard input",
        ) from e


def _show_rows(frame: pl.DataFrame, format_: str, *, cut: bool) -> None:
    from das_evidence.query.output import csv_text, json_rows

    if format_ == "json":  # columns in the query's order, not sorted
        sys.stdout.write(json.dumps(json_rows(frame), indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    if format_ == "csv":
        sys.stdout.write(csv_text(frame))
        sys.stdout.flush()
        return
    more = cut and frame.height > TEXT_ROWS
    shown = frame.head(TEXT_ROWS) if more else frame
    _table(shown.columns, shown.iter_rows())
    note = f"first {TEXT_ROWS} rows; use --limit or --format csv for all" if more else ""
    err_console.print(
        f"{shown.height} row{'s' if shown.height != 1 else ''}" + (f" ({note})" if note else "")
    )


def _table(columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from das_evidence.query.output import cell, printable

    table = Table(show_lines=False)
    for name in columns:
        table.add_column(Text(printable(name)), overflow="fold")
    null = Text("NULL", style="dim")
    for row in rows:
        table.add_row(*(null if (c := cell(v)) is None else Text(printable(c)) for v in row))
    _wide().print(table)


def _wide() -> Console:
    """The console for tables: a terminal's width, or no wrapping when piped."""
    if console.is_terminal:
        return console
    return Console(file=sys.stdout, width=100_000, highlight=False, soft_wrap=True)


def _show_views(views: list[ViewInfo], format_: str) -> None:
    if format_ == "json":
        print_json([v.to_json() for v in views])
        return
    if format_ == "csv":
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["view", "rows", "files", "columns", "about"])
        for v in views:
            writer.writerow([v.name, v.rows, v.files, " ".join(v.columns), v.about])
        sys.stdout.write(out.getvalue())
        return
    from rich.table import Table
    from rich.text import Text

    from das_evidence.query.output import printable

    table = Table()
    for name in ("view", "rows", "files", "columns", "about"):
        table.add_column(name, overflow="fold")
    for v in views:
        table.add_row(
            Text(v.name),
            f"{v.rows:,}",
            str(v.files),
            Text(printable(", ".join(v.columns))),
            Text(v.about),
        )
    _wide().print(table)
    if not views:
        err_console.print("no views: the archive has no entries with Parquet files yet")
