"""What several checks read the same way: snapshot views, history files, coverage, JSON rows.

Nothing here decides pass or fail. Missing evidence comes back as a :class:`Missing`
value carrying the reason, which the check turns into ``not_evidenced``.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa

from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS
from das_evidence.reports import evidence as _evidence
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet, Period, collect
from das_evidence.reports.model import EvidenceRef
from das_evidence.timefmt import parse_rfc3339, rfc3339

DELETED_COLUMN: Mapping[str, str | None] = {v.view: v.deleted for v in POLICY_VIEWS}
POINT_IN_TIME_KINDS = ("policy_state",)


@dataclass(frozen=True)
class Missing:
    """The evidence a check needs is not in the set; ``reason`` says which and why."""

    reason: str
    evidence: tuple[EvidenceRef, ...] = ()


def ts(value: datetime) -> str:
    return rfc3339(value)


def jsonable(value: Any) -> Any:
    """A Parquet value as JSON: timestamps as RFC 3339 UTC strings."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def upper_set(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.upper() for n in names)


def json_value(text: Any) -> Any:
    """Snowflake VARIANT/ARRAY text (or ``None``) as a Python value; unparsable text as is."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def truthy(value: Any) -> bool:
    """BOOLEAN or VARIANT text (``'true'``) as a bool."""
    value = json_value(value)
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


#: USERS.TYPE values of people; NULL behaves as PERSON in Snowflake
HUMAN_TYPES = frozenset({"PERSON"})


def is_human(user: Mapping[str, Any]) -> bool:
    """A USERS row of a person (TYPE PERSON or NULL)."""
    kind = user.get("TYPE")
    return kind is None or str(kind).upper() in HUMAN_TYPES


def has_mfa(user: Mapping[str, Any]) -> bool:
    """A USERS row with MFA enrolled: Snowflake MFA (``HAS_MFA``) or Duo (``EXT_AUTHN_DUO``)."""
    return truthy(user.get("HAS_MFA")) or truthy(user.get("EXT_AUTHN_DUO"))


def roles_holding(grants: Iterable[Mapping[str, Any]], target: str) -> dict[str, list[str]]:
    """Each role that has ``target`` (itself, or granted it through a chain of roles),
    with the chain from ``target`` down to it.

    ``grants`` are GRANTS_TO_ROLES rows; USAGE on a ROLE granted to a ROLE is what
    makes the grantee inherit the granted role.
    """
    children: dict[str, list[str]] = {}
    for g in grants:
        if (
            str(g.get("PRIVILEGE")).upper() == "USAGE"
            and str(g.get("GRANTED_ON")).upper() == "ROLE"
            and str(g.get("GRANTED_TO", "ROLE")).upper() == "ROLE"
        ):
            children.setdefault(str(g.get("NAME")), []).append(str(g.get("GRANTEE_NAME")))
    paths = {target: [target]}
    queue = deque([target])
    while queue:
        role = queue.popleft()
        for child in sorted(children.get(role, [])):
            if child not in paths:
                paths[child] = [*paths[role], child]
                queue.append(child)
    return paths


def users_holding(
    user_grants: Iterable[Mapping[str, Any]], paths: Mapping[str, list[str]]
) -> dict[str, tuple[Mapping[str, Any], list[str]]]:
    """Each user granted a role of ``paths`` (from :func:`roles_holding`): the first such
    GRANTS_TO_USERS row and the chain of roles it comes through."""
    out: dict[str, tuple[Mapping[str, Any], list[str]]] = {}
    for g in user_grants:
        user = str(g.get("GRANTEE_NAME"))
        via = paths.get(str(g.get("ROLE")))
        if via is not None and user not in out:
            out[user] = (g, via)
    return out


def describe(entry: EvidenceEntry) -> str:
    w = entry.predicate.get("window", {})
    if w.get("start") == w.get("end"):
        return f"entry {entry.index} ({entry.stream} as of {w.get('start')})"
    return f"entry {entry.index} ({entry.stream} [{w.get('start')}, {w.get('end')}))"


SERVICE_TYPES = frozenset({"SERVICE", "LEGACY_SERVICE"})


def is_service_user(user: Mapping[str, Any]) -> bool:
    """A service user (CIS 1.6, 3.2): USERS.TYPE SERVICE or LEGACY_SERVICE, or a key pair
    without a password; the users the collector runs ``SHOW PARAMETERS LIKE
    'NETWORK_POLICY' IN USER`` for."""
    kind = str(user.get("TYPE") or "").upper()
    if kind in SERVICE_TYPES:
        return True
    return truthy(user.get("HAS_RSA_PUBLIC_KEY")) and not truthy(user.get("HAS_PASSWORD"))


# -- policy-state snapshots ---------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotView:
    """One view's file in one policy-state snapshot."""

    entry: EvidenceEntry
    view: str
    table: pa.Table
    ref: EvidenceRef

    def rows(self, *, current: bool = True) -> list[dict[str, Any]]:
        """The rows; with ``current``, without those marked deleted (DELETED_ON ...)."""
        deleted = DELETED_COLUMN.get(self.view)
        rows: list[dict[str, Any]] = self.table.to_pylist()
        if current and deleted and deleted in self.table.column_names:
            rows = [r for r in rows if r.get(deleted) is None]
        return rows


def snapshot_view(
    evidence: EvidenceSet, view: str, snapshot: EvidenceEntry | None = None
) -> SnapshotView | Missing:
    """``view`` (e.g. ``USERS``) from ``snapshot``, by default the latest one in the period."""
    snap = snapshot if snapshot is not None else evidence.latest_policy_snapshot()
    if snap is None:
        return Missing("no policy-state snapshot in the period")
    status = (snap.predicate.get("views") or {}).get(view)
    if not isinstance(status, Mapping):
        return Missing(f"{describe(snap)} does not list {view}", snap.refs())
    if status.get("status") != "evidenced":
        reason = status.get("reason") or status.get("status")
        return Missing(f"{view} is not evidenced in {describe(snap)}: {reason}", snap.refs())
    f = snap.file(f"{view.lower()}.parquet")
    if f is None:
        return Missing(f"{describe(snap)} has no {view.lower()}.parquet", snap.refs())
    path = str(f["path"])
    return SnapshotView(snap, view, evidence.table(path), snap.ref(path))


# -- history streams ----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFile:
    """One Parquet file of a history window; read through polars scans of the set
    (:func:`scan_history`, :func:`history_chunks`), never decoded whole."""

    entry: EvidenceEntry
    path: str
    evidence: EvidenceSet = field(repr=False, compare=False)

    @property
    def ref(self) -> EvidenceRef:
        return self.entry.ref(self.path)


def history_files(evidence: EvidenceSet, kind: str) -> list[HistoryFile]:
    """Every Parquet file of every window entry of one history stream kind."""
    out = []
    for entry in evidence.history(kind):
        for f in entry.files:
            path = str(f["path"])
            if path.endswith(".parquet"):
                out.append(HistoryFile(entry, path, evidence))
    return out


def scan_history(
    evidence: EvidenceSet,
    files: Sequence[HistoryFile],
    columns: Sequence[str],
    time_column: str,
    *,
    end: datetime | None = None,
    where: pl.Expr | None = None,
    open_start: bool = False,
    row_index: bool = False,
    each: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
) -> pl.LazyFrame:
    """``columns`` of the rows of ``files`` whose ``time_column`` lies in ``[period start,
    end)`` (by default the period's end) and that ``where`` keeps, with the row's index in
    ``files`` as ``FILE_COLUMN``: a lazy polars scan, columns and filter pushed into the
    Parquet reader (:meth:`EvidenceSet.scan`). Windows are cut at midnight, not at the
    period's edges, so a window may reach past either end of the period. With
    ``open_start``, rows from before the period are kept too; ``row_index`` and ``each``
    as for :meth:`EvidenceSet.scan`."""
    period = _period(evidence, time_column, end, open_start)
    paths = [f.path for f in files]
    return evidence.scan(paths, columns, period=period, where=where, row_index=row_index, each=each)


def collect_history(
    evidence: EvidenceSet,
    files: Sequence[HistoryFile],
    columns: Sequence[str],
    time_column: str,
    *,
    where: pl.Expr | None = None,
) -> pl.DataFrame:
    """:func:`scan_history` computed :data:`~das_evidence.reports.evidence.FILES_PER_QUERY`
    files at a time (:meth:`EvidenceSet.collect_scan`), in the same order: for a filter
    that keeps few of a year's rows."""
    period = _period(evidence, time_column, None, False)
    return evidence.collect_scan([f.path for f in files], columns, period=period, where=where)


def _period(
    evidence: EvidenceSet, time_column: str, end: datetime | None, open_start: bool
) -> Period:
    start = None if open_start else evidence.start
    return (time_column, start, evidence.end if end is None else end)


#: Rows of history files read into one Arrow table by :func:`history_chunks`: few enough
#: to bound memory, many enough that a year of daily files is a few dozen polars queries.
CHUNK_ROWS = 1 << 18


def history_chunks(
    evidence: EvidenceSet,
    files: Sequence[HistoryFile],
    columns: Sequence[str],
    time_column: str,
    *,
    end: datetime | None = None,
    open_start: bool = False,
) -> Iterator[tuple[Sequence[HistoryFile], pa.Table]]:
    """``columns`` of the rows of ``files`` in the period (as :func:`scan_history`), as
    Arrow tables of consecutive files holding about :data:`CHUNK_ROWS` rows together
    (and at most :data:`~das_evidence.reports.evidence.FILES_PER_QUERY` files: polars
    reads a query's files at once), each with those files and ``FILE_COLUMN`` (the
    row's index among them). Each table is computed whole before it is yielded: no
    reader is left running between them."""
    chunk: list[HistoryFile] = []
    rows = 0
    for i, f in enumerate(files):
        chunk.append(f)
        rows += _rows_of(f)
        if rows >= CHUNK_ROWS or len(chunk) >= _evidence.FILES_PER_QUERY or i == len(files) - 1:
            scan = scan_history(
                evidence, chunk, columns, time_column, end=end, open_start=open_start
            )
            table = collect(scan).to_arrow(compat_level=pl.CompatLevel.oldest())
            yield chunk, _small_types(table)
            chunk, rows = [], 0


def time_spans(
    files: Sequence[HistoryFile], start: datetime, end: datetime
) -> list[tuple[datetime, datetime, list[HistoryFile]]]:
    """``[start, end)`` cut at window ends into consecutive spans whose files hold about
    :data:`CHUNK_ROWS` rows, each with the files whose windows overlap it (in their
    order; a file's rows lie in its window, as the collector selects them). What is
    counted once per event (a login by ``EVENT_ID``) is counted span by span: an event's
    rows share its time, so memory follows a span, not the period."""
    cuts: list[datetime] = []
    rows = 0
    for f in sorted(files, key=lambda f: (f.entry.end, f.entry.start)):
        rows += _rows_of(f)
        if rows >= CHUNK_ROWS and start < f.entry.end < end:
            cuts.append(f.entry.end)
            rows = 0
    bounds = [start, *sorted(set(cuts)), end]
    spans = []
    for lo, hi in itertools.pairwise(bounds):
        overlapping = [f for f in files if f.entry.start < hi and f.entry.end > lo]
        if overlapping:
            spans.append((lo, hi, overlapping))
    return spans


def _rows_of(f: HistoryFile) -> int:
    listed = next((x for x in f.entry.files if x.get("path") == f.path), {})
    rows = listed.get("rows")
    return rows if isinstance(rows, int) else CHUNK_ROWS  # unknown: a chunk of its own


def _small_types(table: pa.Table) -> pa.Table:
    """Strings and binaries with 32-bit offsets, as in the evidence files (polars hands
    out the 64-bit kinds, which some Arrow kernels do not combine with the others)."""
    small = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}
    schema = pa.schema([f.with_type(small.get(f.type, f.type)) for f in table.schema])
    return table.cast(schema)


# -- coverage -----------------------------------------------------------------------------

Interval = tuple[datetime, datetime]


def covered(entries: Iterable[EvidenceEntry], validity: timedelta) -> list[Interval]:
    """The merged time the entries cover.

    A window covers its ``[start, end)``; a point-in-time entry ``[as_of, as_of +
    validity)``. A snapshot compared with an earlier one names that one's ``as_of``
    (``changes.since``), which covers ``[since, since + validity)``: that is how the
    start of a period is covered by a snapshot taken just before it.
    """
    spans = []
    for e in entries:
        if e.end > e.start:
            spans.append((e.start, e.end))
            continue
        spans.append((e.start, e.start + validity))
        since = (e.predicate.get("changes") or {}).get("since")
        if isinstance(since, str):
            earlier = parse_rfc3339(since)
            spans.append((earlier, earlier + validity))
    merged: list[Interval] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def uncovered(spans: Sequence[Interval], start: datetime, end: datetime) -> list[Interval]:
    """The parts of ``[start, end)`` that no span covers."""
    holes: list[Interval] = []
    cursor = start
    for s, e in spans:
        if e <= cursor:
            continue
        if s >= end:
            break
        if s > cursor:
            holes.append((cursor, s))
        cursor = max(cursor, e)
    if cursor < end:
        holes.append((cursor, end))
    return holes


def coverage_holes(
    evidence: EvidenceSet, kind: str, horizon: datetime, validity: timedelta
) -> dict[str, list[Interval]]:
    """Per stream of ``kind``: where in ``[period start, horizon)`` it has no evidence."""
    out: dict[str, list[Interval]] = {}
    for stream, entries in sorted(evidence.streams().items()):
        if entries[0].kind == kind:
            holes = uncovered(covered(entries, validity), evidence.start, horizon)
            if holes:
                out[stream] = holes
    return out


def holes_json(holes: Sequence[Interval]) -> list[dict[str, str]]:
    return [{"start": ts(s), "end": ts(e)} for s, e in holes]
