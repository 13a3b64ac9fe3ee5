"""Options every command spells the same way: the config file, the output format, and the
keys a verifying command trusts."""

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

# -- the keys a verifying command trusts (verify, recheck) ---------------------------------
PubOpt = Annotated[
    list[Path] | None,
    typer.Option(
        metavar="FILE", help="Trusted public key (SPKI PEM) of the entry signer; repeatable."
    ),
]
VkeyOpt = Annotated[
    str | None,
    typer.Option(metavar="KEY", help="Note verifier key (name+hex8+base64), or a file holding it."),
]
KeysOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="Keys file (TOML): every key that signed the log and the log indexes each "
        "covers (from, until, revoked_at); a signature outside its key's range fails.",
    ),
]
OriginOpt = Annotated[str | None, typer.Option(metavar="NAME", help="The log origin to expect.")]


def output_format(format_: OutputFormat | None, json_flag: bool) -> OutputFormat:
    """``--format``, or its old spelling ``--json``; both, disagreeing, is a usage error."""
    if json_flag:
        if format_ not in (None, OutputFormat.json):
            raise ConfigError(
                f"--json and --format {format_} together", fix="pass one of them: --format json"
            )
        return OutputFormat.json
    return format_ or OutputFormat.text
