"""Which files make each SQL view: read from the signed log, never from listing the store.

A view is the union of the Parquet files that the entries of its streams sign,
in log order; a file no entry names is in no view, and a key's shape does not
matter (older policy snapshots without the ``as_of=`` partition are read like
newer ones). Every row is tied back to its evidence by provenance columns,
all starting with ``_`` so they never meet an archived column:

=====================  ===========================================================
``_entry``             the log index of the entry that signed the row's file
``_file``              the file's store key
``_account``           Snowflake views: the account of the stream
``_as_of``             policy views: the snapshot's time
``_since``             ``policy_changes``: the snapshot compared with (null: baseline)
``_project``           dbt views: the dbt project as configured
``_invocation_id``     dbt views: the invocation
``_generated_at``      dbt views: run_results' ``generated_at``
=====================  ===========================================================

The views:

- one per history stream (``access_history``, ``login_history``,
  ``query_history``, ``sessions``), every entry's files, amendments included:
  an amendment holds only the rows that arrived after its window was archived,
  so no row is there twice;
- ``access_history_base_columns``: ACCESS_HISTORY flattened to one row per
  column of ``BASE_OBJECTS_ACCESSED`` (polars SQL has no JSON functions);
- ``policy_<view>``: the newest snapshot of each account that evidences the
  view, and ``policy_<view>_history``: every snapshot;
- ``policy_changes``: the changes of every snapshot;
- ``dbt_<table>`` (nodes, tests, results, source_freshness): every invocation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from das_evidence.manifests.log import LogEntry
from das_evidence.streams import StreamId, is_accounting
from das_evidence.timefmt import parse_signed

BASE_COLUMNS = "access_history_base_columns"
POLICY_CHANGES = "policy_changes"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

Provenance = Mapping[str, str | int | datetime | None]


@dataclass(frozen=True)
class ViewFile:
    """One file of a view: where it is, the digest its entry signed, and its provenance."""

    entry: int
    path: str
    sha256: str
    rows: int | None
    provenance: Provenance


@dataclass(frozen=True)
class View:
    name: str
    about: str
    files: tuple[ViewFile, ...]
    #: ``access_history_base_columns`` is computed from the files of ``access_history``.
    flatten_base_objects: bool = False


@dataclass
class _Builder:
    about: str
    files: list[ViewFile] = field(default_factory=list)
    flatten: bool = False


def _parquet_files(entry: LogEntry) -> Iterable[tuple[str, str, int | None]]:
    """(path, signed sha256, rows) of the entry's Parquet files, in subject order."""
    rows: dict[str, Any] = {}
    for f in entry.predicate.get("files", []):
        if isinstance(f, Mapping) and isinstance(f.get("path"), str):
            rows[f["path"]] = f.get("rows")
    for subject in entry.statement.subjects:
        if subject.name.endswith(".parquet"):
            n = rows.get(subject.name)
            yield subject.name, subject.sha256, n if isinstance(n, int) else None


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".parquet")


def _file(
    entry: LogEntry, path: str, sha256: str, rows: int | None, provenance: Provenance
) -> ViewFile:
    """The file with its provenance, ``_entry`` and ``_file`` last in every view."""
    full = {**provenance, "_entry": entry.index, "_file": path}
    return ViewFile(entry.index, path, sha256, rows, full)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def catalogue(entries: Iterable[LogEntry]) -> dict[str, View]:
    """The views an archive's log makes, by name (sorted); views without files are left out."""
    views: dict[str, _Builder] = {}
    newest: dict[tuple[str, str], ViewFile] = {}  # (account, policy view) -> its newest file

    def add(name: str, about: str, f: ViewFile, *, flatten: bool = False) -> None:
        views.setdefault(name, _Builder(about, flatten=flatten)).files.append(f)

    for entry in entries:
        p = entry.predicate
        sid = StreamId.try_parse(p.get("stream"))
        if sid is None or is_accounting(p):  # orphan files are no rows of any view
            continue
        window = _mapping(p.get("window"))
        for path, sha, rows in _parquet_files(entry):
            stem = _stem(path)
            prov: dict[str, str | int | datetime | None] = {}
            if sid.is_history:
                prov["_account"] = sid.scope
                f = _file(entry, path, sha, rows, prov)
                add(sid.name, f"SNOWFLAKE.ACCOUNT_USAGE.{sid.name.upper()}, every window", f)
                if sid.name == "access_history":
                    about = "ACCESS_HISTORY, one row per column of BASE_OBJECTS_ACCESSED"
                    add(BASE_COLUMNS, about, f, flatten=True)
            elif sid.is_policy and _IDENTIFIER.match(stem):
                prov["_account"] = sid.scope
                prov["_as_of"] = parse_signed(p.get("as_of")) or parse_signed(window.get("start"))
                if stem == "changes":
                    changes = _mapping(p.get("changes"))
                    prov["_since"] = parse_signed(changes.get("since"))
                    f = _file(entry, path, sha, rows, prov)
                    add(POLICY_CHANGES, "the changes every policy snapshot recorded", f)
                else:
                    f = _file(entry, path, sha, rows, prov)
                    add(f"policy_{stem}_history", f"{stem.upper()} of every policy snapshot", f)
                    newest[(sid.scope, stem)] = f  # log order: a later snapshot replaces it
            elif sid.is_dbt and _IDENTIFIER.match(stem):
                prov["_project"] = sid.scope
                prov["_invocation_id"] = sid.name or None
                prov["_generated_at"] = parse_signed(window.get("start"))
                f = _file(entry, path, sha, rows, prov)
                add(f"dbt_{stem}", f"dbt {stem} of every invocation", f)
    for (_, stem), f in newest.items():
        add(f"policy_{stem}", f"{stem.upper()} of the newest policy snapshot of each account", f)
    return {
        name: View(name, b.about, tuple(sorted(b.files, key=lambda f: f.entry)), b.flatten)
        for name, b in sorted(views.items())
    }
