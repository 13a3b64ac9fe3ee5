"""The archive queryable in place: polars SQL over the views of the signed log.

polars was chosen over DuckDB because it is already a core dependency, reads
``s3://`` through its own object store (no extension to download at run
time), and reads Parquet from a verified local copy as lazily as from the
archive. Its SQL has no JSON functions, so ACCESS_HISTORY's column lists come
flattened as ``access_history_base_columns`` (:mod:`das_evidence.query.views`).

Two ways to read a file:

- direct (the default): polars scans the archive's file itself, a local path
  or ``s3://`` with the store's endpoint and region; nothing is checked.
- verified: the file's bytes are read through the store and
  :func:`~das_evidence.verify.files.read_verified` (SHA-256 equal to the digest
  its entry signed; on S3 the version the entry pinned), written to a private
  spool directory, and polars scans that copy, so the bytes checked are the
  bytes queried. Before that, the log's chain and newest checkpoint
  (:func:`~das_evidence.verify.entries.check_log`) and each entry read, its
  DSSE signature by a trusted key (:func:`~das_evidence.verify.entries.check_signed_entry`).

Only the views a query names are read (a view name anywhere in the text
counts, so a name in a comment only costs time).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

import polars as pl
import polars.exceptions as ple

from das_evidence.errors import QueryError, ReportError, StoreError, VerificationError
from das_evidence.evidence_store.interface import EvidenceStore, entry_key
from das_evidence.evidence_store.interface import validate_key as _valid_key
from das_evidence.evidence_store.local import LocalStore
from das_evidence.evidence_store.s3 import S3Store
from das_evidence.manifests.log import ArchiveLog, LogEntry
from das_evidence.query.views import View, ViewFile, catalogue
from das_evidence.verify.archive import Trust
from das_evidence.verify.entries import check_log, check_signed_entry
from das_evidence.verify.files import read_verified
from das_evidence.verify.findings import Report

__all__ = ["ArchiveSql", "ViewInfo"]

_UTC = pl.Datetime("us", "UTC")
PROVENANCE_TYPES: Mapping[str, pl.DataType] = {
    "_entry": pl.Int64(),
    "_file": pl.String(),
    "_account": pl.String(),
    "_as_of": _UTC,
    "_since": _UTC,
    "_project": pl.String(),
    "_invocation_id": pl.String(),
    "_generated_at": _UTC,
}
_BASE_OBJECTS = pl.List(
    pl.Struct(
        {
            "objectDomain": pl.String,
            "objectName": pl.String,
            "columns": pl.List(pl.Struct({"columnName": pl.String})),
        }
    )
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NO_RELATION = re.compile(r"relation '([^']+)' was not found")
# polars errors that mean the query, not the evidence, is wrong.
_QUERY_ERRORS: tuple[type[Exception], ...] = (
    ple.SQLInterfaceError,
    ple.SQLSyntaxError,
    ple.ColumnNotFoundError,
    ple.SchemaError,
    ple.SchemaFieldNotFoundError,
    ple.StructFieldNotFoundError,
    ple.InvalidOperationError,
    ple.DuplicateError,
    ple.ShapeError,
    ple.OutOfBoundsError,
    ple.UnsuitableSQLError,
)


@dataclass(frozen=True)
class ViewInfo:
    """What ``--list`` shows of a view."""

    name: str
    about: str
    files: int
    rows: int
    columns: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.name,
            "about": self.about,
            "files": self.files,
            "rows": self.rows,
            "columns": list(self.columns),
        }


def _first_paragraph(e: BaseException) -> str:
    """polars' message without the query plan it appends."""
    text = str(e).strip()
    return text.split("\n\n", 1)[0].strip() or type(e).__name__


def _s3_options(store: S3Store) -> dict[str, str]:
    """polars object-store options for the endpoint and region boto3 resolved for the store
    (config, ``AWS_ENDPOINT_URL*``, AWS config files); credentials follow the AWS default
    chain through polars' own provider."""
    meta = store.client.meta
    options: dict[str, str] = {}
    if meta.region_name:
        options["aws_region"] = str(meta.region_name)
    endpoint = str(meta.endpoint_url or "")
    host = urlparse(endpoint).hostname or ""
    if endpoint and not host.endswith(".amazonaws.com"):
        options["aws_endpoint_url"] = endpoint
        if endpoint.startswith("http://"):
            options["aws_allow_http"] = "true"
    return options


class ArchiveSql:
    """The views of one archive, and SQL over them.

    ``trust``: read verified (see the module docstring); None reads the files directly.
    Use as a context manager: the verified copies live until it exits.
    """

    def __init__(self, store: EvidenceStore, origin: str, *, trust: Trust | None = None) -> None:
        self.store = store
        self.origin = origin
        self.trust = trust
        self.log = ArchiveLog(store, origin)
        self.views: dict[str, View] = catalogue(self.log.entries)
        self._spool: Path | None = None
        self._copies: dict[str, Path] = {}
        self._signed_ok: set[int] = set()
        self._frames: dict[str, pl.LazyFrame] = {}
        if trust is not None:
            checkpoint = store.get_checkpoint()
            self._require(
                check_log(
                    self.log.entries,
                    checkpoint[0] if checkpoint else None,
                    trust,
                    origin,
                    store.uri,
                ),
                "the log",
            )

    # --- lifetime -------------------------------------------------------------------------

    def __enter__(self) -> ArchiveSql:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._frames.clear()
        self._copies.clear()
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None

    # --- reading --------------------------------------------------------------------------

    @staticmethod
    def _require(report: Report, what: str) -> None:
        if not report.ok:
            listed = "; ".join(str(f) for f in report.findings[:5])
            more = f" (and {len(report.findings) - 5} more)" if len(report.findings) > 5 else ""
            raise VerificationError(
                f"{what} failed verification, nothing was queried: {listed}{more}",
                fix="run `evidence verify` on the archive for every finding",
            )

    def _spool_dir(self) -> Path:
        if self._spool is None:
            self._spool = Path(tempfile.mkdtemp(prefix="evidence-sql-"))
        return self._spool

    def _entry(self, index: int) -> LogEntry:
        return self.log.entries[index]

    def _check_signed(self, index: int) -> None:
        if index in self._signed_ok or self.trust is None:
            return
        envelope = self.store.get(entry_key(index))
        self._require(
            check_signed_entry(self._entry(index), envelope, self.trust, self.origin),
            f"entry {index}",
        )
        self._signed_ok.add(index)

    def _version(self, f: ViewFile) -> str | None:
        storage = self._entry(f.entry).predicate.get("storage")
        objects = storage.get("objects") if isinstance(storage, Mapping) else None
        for o in objects if isinstance(objects, list) else []:
            if isinstance(o, Mapping) and o.get("path") == f.path:
                version = o.get("version_id")
                return version if isinstance(version, str) else None
        return None

    def _read(self, f: ViewFile) -> Callable[[str], bytes]:
        store = self.store
        if isinstance(store, S3Store):
            version = self._version(f)
            return lambda key: store.get(key, version_id=version)
        return store.get

    def _copy(self, f: ViewFile, *, verified: bool) -> Path:
        """A private copy of ``f``: its bytes checked against the signed digest if ``verified``."""
        copy = self._copies.get(f.path)
        if copy is None:
            if verified:
                self._check_signed(f.entry)
                data = read_verified(self._read(f), f.path, f.sha256, f.entry)
            else:
                data = self.store.get(f.path)
            copy = self._spool_dir() / f"{len(self._copies):08d}.parquet"
            copy.write_bytes(data)
            self._copies[f.path] = copy
        return copy

    def _scan(self, f: ViewFile) -> pl.LazyFrame:
        options: dict[str, str] | None = None
        store = self.store
        if self.trust is not None:
            source = str(self._copy(f, verified=True))
        elif isinstance(store, LocalStore):
            source = str(store.root.absolute().joinpath(*_valid_key(f.path).split("/")))
        elif isinstance(store, S3Store):
            key = _valid_key(f.path)
            source = f"s3://{store.bucket}/{store.prefix + '/' if store.prefix else ''}{key}"
            options = _s3_options(store)
        else:  # a store polars cannot reach: read it through the store
            source = str(self._copy(f, verified=False))
        frame = pl.scan_parquet(
            source, hive_partitioning=False, glob=False, storage_options=options
        )
        return frame.with_columns(
            pl.lit(value, PROVENANCE_TYPES[name]).alias(name)
            for name, value in f.provenance.items()
        )

    def frame(self, name: str) -> pl.LazyFrame:
        """The view ``name`` as a polars LazyFrame (nothing read until it is collected,
        except verified copies, which are made here)."""
        key = name.lower()
        if key not in self._frames:
            view = self.views.get(key)
            if view is None:
                raise self._unknown(name)
            parts = [self._scan(f) for f in view.files]
            frame = parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed")
            self._frames[key] = _base_columns(frame) if view.flatten_base_objects else frame
        return self._frames[key]

    def _unknown(self, name: str) -> QueryError:
        names = ", ".join(self.views) or "none: the archive has no entries with Parquet files"
        return QueryError(
            f"this archive has no view {name!r}",
            fix=f"the views are: {names} (`evidence sql --list` shows their columns)",
        )

    # --- queries --------------------------------------------------------------------------

    def referenced(self, sql: str) -> list[str]:
        """The views ``sql`` may read: every view name that appears in it as a word."""
        words = {w.lower() for w in _WORD.findall(sql)}
        return [name for name in self.views if name in words]

    def query(self, sql: str, *, limit: int | None = None) -> pl.DataFrame:
        """Run ``sql`` over the views it names; errors name the view or quote polars."""
        if not sql.strip():
            raise QueryError("the query is empty", fix='pass one, e.g. "SELECT * FROM sessions"')
        with _engine_errors(self):
            context = pl.SQLContext({n: self.frame(n) for n in self.referenced(sql)})
            frame = context.execute(sql, eager=False)
            if limit is not None:
                frame = frame.limit(limit)
            return frame.collect()

    def describe(self) -> list[ViewInfo]:
        """Every view with its files, rows and columns (reads each file's footer)."""
        out = []
        with _engine_errors(self):
            for name, view in self.views.items():
                frame = self.frame(name)
                columns = tuple(frame.collect_schema().names())
                rows = int(frame.select(pl.len()).collect().item())
                out.append(ViewInfo(name, view.about, len(view.files), rows, columns))
        return out


def _base_columns(frame: pl.LazyFrame) -> pl.LazyFrame:
    """ACCESS_HISTORY to one row per (row, base object, named column)."""
    obj, col = pl.col("_object"), pl.col("_column")
    provenance = [c for c in ("_account", "_entry", "_file") if c in frame.collect_schema()]
    return (
        frame.select(
            "QUERY_ID",
            "QUERY_START_TIME",
            "USER_NAME",
            *provenance,
            pl.col("BASE_OBJECTS_ACCESSED").str.json_decode(_BASE_OBJECTS).alias("_object"),
        )
        .explode("_object")
        .drop_nulls("_object")
        .with_columns(
            obj.struct.field("objectDomain").alias("OBJECT_DOMAIN"),
            obj.struct.field("objectName").alias("OBJECT_NAME"),
            obj.struct.field("columns").alias("_column"),
        )
        .explode("_column")
        .drop_nulls("_column")
        .with_columns(col.struct.field("columnName").alias("COLUMN_NAME"))
        .drop_nulls("COLUMN_NAME")
        .select(
            "QUERY_ID",
            "QUERY_START_TIME",
            "USER_NAME",
            "OBJECT_DOMAIN",
            "OBJECT_NAME",
            "COLUMN_NAME",
            *provenance,
        )
    )


@contextmanager
def _engine_errors(sql: ArchiveSql) -> Iterator[None]:
    """polars' exceptions as the product's: the query's fault (exit 2) or the evidence's (3)."""
    try:
        yield
    except ple.PolarsError as e:
        message = _first_paragraph(e)
        missing = _NO_RELATION.search(message)
        if missing:
            raise sql._unknown(missing.group(1)) from None
        if isinstance(e, _QUERY_ERRORS) or (
            isinstance(e, ple.ComputeError) and not message.lower().startswith("parquet")
        ):
            raise QueryError(
                f"polars SQL refused the query: {message}",
                fix="check the SQL against `evidence sql --list` (column names are "
                "case-sensitive) and the polars SQL reference",
            ) from e
        raise ReportError(
            f"an evidence file could not be read: {message}",
            fix="run `evidence verify` on the archive",
        ) from e
    except OSError as e:
        raise StoreError(
            f"an evidence file could not be read from {sql.store.uri}: {_first_paragraph(e)}",
            fix="check the archive is reachable (and credentials for s3://); "
            "`evidence verify` names missing files",
        ) from e
    except ple.PanicException as e:  # a BaseException: polars hit a bug on this query
        raise QueryError(
            f"polars failed on this query: {_first_paragraph(e)}",
            fix="rewrite the query (e.g. without the construct named above)",
        ) from e
