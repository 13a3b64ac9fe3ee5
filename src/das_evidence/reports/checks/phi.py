"""The one definition of a PHI read, used by ``phi-reads-outside-allowlist`` and by the
report's "PHI reads per role" chart, so one report never shows two numbers for it.

A PHI read is one column of one base object read by one query in the period:

- **Which tags.** TAG_REFERENCES of the newest policy-state snapshot in the period
  that evidences it (its current rows: a tag whose object was dropped is gone).
  A tag counts when its TAG_NAME is one of ``[checks] phi_tags``, in any tag
  database or schema, compared case-insensitively.
- **Which columns are PHI.** A column tagged PHI (column-level tag), and every
  column of a table or view tagged PHI (object-level tag: a tag on an object
  inside a schema). Tags on a database or a schema are not expanded:
  ACCOUNT_USAGE.TAG_REFERENCES lists only direct assignments.
- **Which reads.** ACCESS_HISTORY rows whose ``QUERY_START_TIME`` lies in the
  period, counted over ``BASE_OBJECTS_ACCESSED``: the tables whose data was
  actually read. A query through a view therefore counts against the tagged
  table underneath it, whatever the view is called; a tag on a view alone does
  not make its reads PHI reads (tag the tables). ``DIRECT_OBJECTS_ACCESSED`` is
  not counted, so a query is never counted twice, once by its view and once by
  its table. An access that names no column (``COUNT(*)``) reads no PHI value.
  Each (query, object, column) counts once, however many rows repeat it.
- **Which role.** ACCESS_HISTORY has none: it is QUERY_HISTORY.ROLE_NAME of the
  same QUERY_ID in the set's QUERY_HISTORY files. A query with no such row has
  role ``None`` (shown as :data:`UNKNOWN_ROLE`), never a guess. Only the
  primary role is known this way; secondary roles are not in QUERY_HISTORY.

A read is ``masked`` when ACCESS_HISTORY ``POLICIES_REFERENCED`` names a masking
policy on that column for that query (the value the role saw may be masked; the
read is still a read of a PHI column).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import polars as pl

from das_evidence.reports.checks._support import (
    HistoryFile,
    Missing,
    SnapshotView,
    history_files,
    json_value,
    snapshot_view,
    upper_set,
)
from das_evidence.reports.evidence import FILE_COLUMN, ROW_COLUMN, EvidenceSet, collect
from das_evidence.reports.model import EvidenceRef

__all__ = [
    "UNKNOWN_ROLE",
    "ColumnKey",
    "Missing",
    "PhiRead",
    "PhiReads",
    "Tagged",
    "phi_reads",
    "qualified",
    "tag_references",
    "tagged",
]

UNKNOWN_ROLE = "unknown role"
MASKING = "MASKING_POLICY"

ColumnKey = tuple[str, str, str, str]  # database, schema, object, column
_NOT_OBJECTS = frozenset({"COLUMN", "DATABASE", "SCHEMA"})


def qualified(*parts: Any) -> str:
    """``DB.SCHEMA.NAME`` as ACCESS_HISTORY's ``objectName`` spells it; ``None`` parts left out."""
    return ".".join(str(p) for p in parts if p is not None)


@dataclass(frozen=True)
class Tagged:
    """Columns and whole objects carrying one of a set of tags, from one TAG_REFERENCES."""

    columns: Mapping[ColumnKey, Mapping[str, str | None]]  # -> {tag name: tag value}
    objects: Mapping[str, Mapping[str, str | None]]  # qualified object -> {tag name: value}

    def __bool__(self) -> bool:
        return bool(self.columns or self.objects)

    def object_names(self) -> list[str]:
        """Every qualified object with a tagged column or a tag of its own."""
        return sorted({qualified(*k[:3]) for k in self.columns} | set(self.objects))

    def covers(self, obj: str, column: str) -> bool:
        """Is ``column`` of ``obj`` (named as ACCESS_HISTORY names them) tagged, or its object?"""
        return obj in self.objects or (obj, column) in self._column_names

    @cached_property
    def _column_names(self) -> frozenset[tuple[str, str]]:
        return frozenset((qualified(*k[:3]), k[3]) for k in self.columns)


def tagged(view: SnapshotView, names: Iterable[str]) -> Tagged:
    """The columns and objects ``view`` (TAG_REFERENCES) tags with one of ``names``."""
    wanted = upper_set(names)
    columns: dict[ColumnKey, dict[str, str | None]] = {}
    objects: dict[str, dict[str, str | None]] = {}
    for r in view.rows():
        tag = str(r.get("TAG_NAME") or "")
        if tag.upper() not in wanted:
            continue
        db, schema, name = r.get("OBJECT_DATABASE"), r.get("OBJECT_SCHEMA"), r.get("OBJECT_NAME")
        domain = str(r.get("DOMAIN") or "").upper()
        if domain == "COLUMN" and r.get("COLUMN_NAME"):
            key = (str(db), str(schema), str(name), str(r["COLUMN_NAME"]))
            columns.setdefault(key, {})[tag] = r.get("TAG_VALUE")
        elif domain not in _NOT_OBJECTS and db and schema and name:
            objects.setdefault(qualified(db, schema, name), {})[tag] = r.get("TAG_VALUE")
    return Tagged(columns, objects)


def tag_references(evidence: EvidenceSet) -> SnapshotView | Missing:
    """TAG_REFERENCES of the newest snapshot in the period that evidences it."""
    snapshots = evidence.policy_snapshots()
    first: Missing | None = None
    for snap in reversed(snapshots):
        view = snapshot_view(evidence, "TAG_REFERENCES", snap)
        if isinstance(view, SnapshotView):
            return view
        first = first or view
    reason = "no policy snapshot with TAG_REFERENCES in the period"
    if first is None:
        return Missing(reason)
    return Missing(f"{reason}: {first.reason}", first.evidence)


@dataclass(frozen=True)
class PhiRead:
    """One PHI column of one base object, read by one query."""

    query_id: str
    user: str | None
    role: str | None  # QUERY_HISTORY.ROLE_NAME; None: the query is not in QUERY_HISTORY
    object: str  # qualified base object, as ACCESS_HISTORY names it
    column: str
    at: datetime  # QUERY_START_TIME
    masked: bool  # a masking policy applied to this column in this query
    source: EvidenceRef  # the ACCESS_HISTORY file
    role_source: EvidenceRef | None  # the QUERY_HISTORY file that named the role

    @property
    def role_name(self) -> str:
        return self.role if self.role is not None else UNKNOWN_ROLE


#: The columns of :attr:`PhiReads.table`: one row per read, as :class:`PhiRead` has them
#: (``source`` an index into ``access``, ``role_source`` into ``queries``).
READ_COLUMNS = (
    "query_id",
    "user",
    "role",
    "object",
    "column",
    "at",
    "masked",
    "source",
    "role_source",
)


@dataclass(frozen=True)
class PhiReads:
    """The PHI reads of a period, and the evidence they were decided from.

    The reads are a polars frame (:data:`READ_COLUMNS`, in ACCESS_HISTORY order), not
    one Python object each: a year of an account's ACCESS_HISTORY holds hundreds of
    thousands of them, and the check and the chart aggregate them in polars.
    """

    tag_names: tuple[str, ...]
    tag_view: SnapshotView  # the TAG_REFERENCES used
    tagged: Tagged
    access: tuple[HistoryFile, ...]  # ACCESS_HISTORY files of the set
    queries: tuple[HistoryFile, ...]  # QUERY_HISTORY files of the set
    table: pl.DataFrame  # the reads, in ACCESS_HISTORY order

    @property
    def reads(self) -> tuple[PhiRead, ...]:
        """Each read as a :class:`PhiRead` (built on each call: for a few reads)."""
        access = [f.ref for f in self.access]
        queries = [f.ref for f in self.queries]
        return tuple(
            PhiRead(
                qid,
                user,
                role,
                obj,
                column,
                at,
                masked,
                access[source],
                queries[role_source] if role_source is not None else None,
            )
            for qid, user, role, obj, column, at, masked, source, role_source in (
                self.table.select(READ_COLUMNS).iter_rows()
            )
        )

    def __len__(self) -> int:
        return self.table.height

    def role_names(self) -> pl.Expr:
        """The role of each read, :data:`UNKNOWN_ROLE` when QUERY_HISTORY has none."""
        return pl.col("role").fill_null(UNKNOWN_ROLE)

    def per_role(self) -> list[tuple[str, int, int]]:
        """(role or :data:`UNKNOWN_ROLE`, distinct queries, reads) per role."""
        counts = self.table.group_by(self.role_names().alias("role")).agg(
            pl.col("query_id").n_unique().alias("queries"), pl.len().alias("reads")
        )
        return [(str(r), int(q), int(n)) for r, q, n in counts.iter_rows()]

    def queries_by_role(self) -> dict[str, set[str]]:
        """Role (or :data:`UNKNOWN_ROLE`) -> the distinct queries that read PHI under it."""
        out: dict[str, set[str]] = {}
        for role, qid in self.table.select(self.role_names(), "query_id").iter_rows():
            out.setdefault(role, set()).add(qid)
        return out

    def query_ids(self) -> set[str]:
        return set(self.table["query_id"].to_list())

    def n_queries(self) -> int:
        """The number of distinct queries that read PHI."""
        return self.table["query_id"].n_unique()


def _no_reads() -> pl.DataFrame:
    return pl.DataFrame(schema=_read_schema(pl.Datetime("us", "UTC")))


def _read_schema(at: pl.DataType) -> pl.Schema:
    return pl.Schema(
        {
            "query_id": pl.String(),
            "user": pl.String(),
            "role": pl.String(),
            "object": pl.String(),
            "column": pl.String(),
            "at": at,
            "masked": pl.Boolean(),
            "source": pl.UInt32(),
            "role_source": pl.UInt32(),
        }
    )


_ACCESS_COLUMNS = (
    "QUERY_ID",
    "QUERY_START_TIME",
    "USER_NAME",
    "BASE_OBJECTS_ACCESSED",
    "POLICIES_REFERENCED",
)


def phi_reads(evidence: EvidenceSet, tag_names: Sequence[str]) -> PhiReads | Missing:
    """Every PHI read of the period (see the module docstring for what counts).

    :class:`Missing` only when no snapshot in the period evidences TAG_REFERENCES;
    with nothing tagged or no ACCESS_HISTORY the answer has no reads, and says so
    through ``tagged`` and ``access``. Computed once per set and tags: the check and
    the report's chart share the answer (a scan of every ACCESS_HISTORY row).
    """
    names = tuple(tag_names)
    return evidence.memo(("phi_reads", names), lambda: _phi_reads(evidence, names))


def _phi_reads(evidence: EvidenceSet, tag_names: Sequence[str]) -> PhiReads | Missing:
    tags = tag_references(evidence)
    if isinstance(tags, Missing):
        return tags
    names = tuple(tag_names)
    marked = tagged(tags, names)
    access = tuple(history_files(evidence, "access_history"))
    queries = tuple(history_files(evidence, "query_history"))
    if not marked or not access:
        return PhiReads(names, tags, marked, access, queries, _no_reads())

    # Candidate rows: in the period, and naming a tagged object in their JSON text; the
    # columns and the filter are pushed into the Parquet scan of every file.
    paths = [f.path for f in access]
    period = ("QUERY_START_TIME", evidence.start, evidence.end)
    mentions = _mentions("BASE_OBJECTS_ACCESSED", marked.object_names())
    base = pl.col("BASE_OBJECTS_ACCESSED").cast(pl.String)
    # JSON is parsed in Python once per distinct text (queries repeat shapes), into the
    # tagged (object, column) pairs it reads; only rows with such a text are kept.
    texts = evidence.collect_scan(
        paths,
        ["BASE_OBJECTS_ACCESSED"],
        period=period,
        where=mentions,
        each=lambda rows: rows.select(base.unique()),
    )
    # Texts, (object, column) pairs and policy texts are numbered, and the rows joined on
    # the numbers: joins and groupings on strings cost polars several times the rows' size.
    base_pairs: list[tuple[int, int, int]] = []  # (text, place in its list, pair)
    reading: list[str] = []
    pair_of: dict[tuple[str, str], int] = {}
    for text in sorted(t for t in texts["BASE_OBJECTS_ACCESSED"].unique().to_list() if t):
        pairs = [(o, c) for o, c in _base_columns(text) if marked.covers(o, c)]
        if pairs:
            reading.append(text)
            base_pairs.extend(
                (len(reading) - 1, k, pair_of.setdefault(p, len(pair_of)))
                for k, p in enumerate(pairs)
            )
    if not reading:
        return PhiReads(names, tags, marked, access, queries, _no_reads())
    numbers = list(range(len(reading)))
    # The rows that read PHI: as many as the reads, however large the period.
    rows = evidence.collect_scan(
        paths,
        _ACCESS_COLUMNS,
        period=period,
        where=mentions & base.is_in(reading),
        row_index=True,
        each=lambda rows: rows.select(
            pl.col("QUERY_ID").cast(pl.String).fill_null("None"),
            "QUERY_START_TIME",
            "USER_NAME",
            base.replace_strict(reading, numbers, return_dtype=pl.UInt32).alias("_text"),
            pl.col("POLICIES_REFERENCED").cast(pl.String),
            FILE_COLUMN,
            ROW_COLUMN,
        ),
    )
    policies = rows["POLICIES_REFERENCED"].unique().drop_nulls().sort().to_list()
    masked_pairs = [
        (i, pair_of[p])
        for i, text in enumerate(policies)
        for p in sorted(_masked_columns(text))
        if p in pair_of
    ]
    rows = rows.with_columns(
        pl.col("POLICIES_REFERENCED")
        .replace_strict(policies, list(range(len(policies))), default=None, return_dtype=pl.UInt32)
        .alias("_policy")
    ).drop("POLICIES_REFERENCED")
    reads_of = pl.DataFrame(
        base_pairs, schema={"_text": pl.UInt32, "_k": pl.Int64, "_pair": pl.UInt32}, orient="row"
    )
    masked_in = pl.DataFrame(
        masked_pairs, schema={"_policy": pl.UInt32, "_pair": pl.UInt32}, orient="row"
    ).with_columns(_masked=pl.lit(True))
    keys = ["QUERY_ID", "_pair"]
    # Each read once, with what its first row says (user, time, file), masked if any row
    # of it had a masking policy on that column; a read's place: its first row (file,
    # row), then its place in that row's list. (Rows in memory: polars' in-memory
    # engine, which takes less than the streaming one here.)
    found = (
        rows.join(reads_of, on="_text", how="inner")
        .join(masked_in, on=["_policy", "_pair"], how="left")
        .drop("_text", "_policy")
        .sort(FILE_COLUMN, ROW_COLUMN, "_k")
        .group_by(keys, maintain_order=True)
        .agg(
            pl.col("USER_NAME", "QUERY_START_TIME", FILE_COLUMN).first(),
            pl.col("_masked").fill_null(False).any(),
        )
    )
    pairs = list(pair_of)
    found = found.with_columns(
        pl.col("_pair")
        .replace_strict(list(range(len(pairs))), [o for o, _ in pairs], return_dtype=pl.String)
        .alias("object"),
        pl.col("_pair")
        .replace_strict(list(range(len(pairs))), [c for _, c in pairs], return_dtype=pl.String)
        .alias("column"),
    )
    at = found.schema["QUERY_START_TIME"]
    del rows
    roles = _roles(queries, found.select(pl.col("QUERY_ID").unique()))
    reads = found.join(roles, on="QUERY_ID", how="left", maintain_order="left").select(
        pl.col("QUERY_ID").alias("query_id"),
        pl.col("USER_NAME").alias("user"),
        pl.col("role"),
        pl.col("object"),
        pl.col("column"),
        pl.col("QUERY_START_TIME").alias("at"),
        pl.col("_masked").alias("masked"),
        pl.col(FILE_COLUMN).alias("source"),
        pl.col("role_source"),
    )
    return PhiReads(names, tags, marked, access, queries, reads.cast(_read_schema(at)))


def _objects(text: Any) -> list[Mapping[str, Any]]:
    value = json_value(text)
    return [o for o in value if isinstance(o, Mapping)] if isinstance(value, list) else []


def _base_columns(text: Any) -> list[tuple[str, str]]:
    """``(objectName, columnName)`` of every column an ``*_OBJECTS_ACCESSED`` array lists."""
    return [
        (str(obj.get("objectName")), str(col["columnName"]))
        for obj in _objects(text)
        for col in obj.get("columns") or ()
        if isinstance(col, Mapping) and col.get("columnName") is not None
    ]


def _masked_columns(text: Any) -> set[tuple[str, str]]:
    out = set()
    for obj in _objects(text):
        for col in obj.get("columns") or []:
            if not isinstance(col, Mapping):
                continue
            kinds = {str(p.get("policyKind", "")).upper() for p in col.get("policies") or []}
            if MASKING in kinds:
                out.add((str(obj.get("objectName")), str(col.get("columnName"))))
    return out


def _mentions(column: str, names: Sequence[str]) -> pl.Expr:
    """Rows whose JSON text names one of ``names``: a cheap filter before parsing JSON.

    The quoted name, as it appears in the JSON, so PATIENTS does not match PATIENTS_X.
    """
    quoted = [json.dumps(name, ensure_ascii=False) for name in names]
    return pl.col(column).cast(pl.String).str.contains_any(quoted).fill_null(False)


def _roles(files: Sequence[HistoryFile], query_ids: pl.DataFrame) -> pl.DataFrame:
    """``QUERY_ID``, ``role`` (ROLE_NAME) and ``role_source`` (the index in ``files`` of
    the file that said so) of each of ``query_ids`` (a frame of distinct ``QUERY_ID``)
    that ``files`` name a role for; the first row naming a role wins."""
    schema = pl.Schema({"QUERY_ID": pl.String(), "role": pl.String(), "role_source": pl.UInt32()})
    if query_ids.height == 0 or not files:
        return pl.DataFrame(schema=schema)
    # a semi-join with the wanted ids: an id list in a filter is copied into every file's
    wanted = query_ids.lazy()
    named = pl.col("ROLE_NAME").is_not_null() & (pl.col("ROLE_NAME").cast(pl.String) != "")
    # the first row naming a role: the least (file, row) of each query, joined back
    place = pl.col(FILE_COLUMN).cast(pl.UInt64) * (1 << 32) + pl.col(ROW_COLUMN)
    rows = (
        files[0]
        .evidence.collect_scan(
            [f.path for f in files],
            ["QUERY_ID", "ROLE_NAME"],
            where=named,
            row_index=True,
            each=lambda rows: rows.with_columns(pl.col("QUERY_ID").cast(pl.String)).join(
                wanted, on="QUERY_ID", how="semi"
            ),
        )
        .lazy()
        .with_columns(_place=place)
    )
    first = rows.group_by("QUERY_ID").agg(pl.col("_place").min())
    named_by = first.join(rows, on=["QUERY_ID", "_place"])
    return collect(
        named_by.select(
            "QUERY_ID",
            pl.col("ROLE_NAME").cast(pl.String).alias("role"),
            pl.col(FILE_COLUMN).alias("role_source"),
        )
    ).cast(schema)
