"""Options every command spells the same way: the config file and the output format."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from das_evidence.errors import ConfigError


class OutputFormat(StrEnum):
    """What a command prints on standard output."""

    text = "text"
    json = "json"


ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="EVIDENCE_CONFIG",
        metavar="FILE",
        help="The evidence.toml to read (EVIDENCE_* variables override it).",
    ),
]
FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option("--format", "-f", help="text (the default) for people, json for machines."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", hidden=True, help="The same as --format json (kept for scripts).")
]


def output_format(format_: OutputFormat | None, json_flag: bool) -> OutputFormat:
    """``--format``, or its old spelling ``--json``; both, disagreeing, is a usage error."""
    if json_flag:
        if format_ not in (None, OutputFormat.json):
            raise ConfigError(
                f"--json and --format {format_} together", fix="pass one of them: --format json"
            )
        return OutputFormat.json
    return format_ or OutputFormat.text
