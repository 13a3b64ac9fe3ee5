"""The evidence of a period, as control checks and reports read it.

An :class:`EvidenceSet` is a list of log entries (their signed predicates and
files) over one period, read from an archive or from an unpacked pack. Checks
never touch a store: they ask the set for an entry's Parquet table or bytes, or
for a polars scan of many files (:meth:`EvidenceSet.scan`), which is how a
year of a history stream is aggregated: only the columns asked for, the
period's rows filtered while the files are read.
Only entries whose statements verified are put in a set by the callers.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import polars as pl
import polars.exceptions as ple
import pyarrow as pa
import pyarrow.parquet as pq

from das_evidence.errors import ReportError
from das_evidence.reports.model import EvidenceRef
from das_evidence.streams import StreamId
from das_evidence.timefmt import parse_rfc3339

if TYPE_CHECKING:
    from das_evidence.reports.pack import Selection


@dataclass(frozen=True)
class EvidenceEntry:
    index: int
    stream: str
    predicate: Mapping[str, Any]

    @property
    def stream_id(self) -> StreamId | None:
        """The stream's parts, or None for a name that is not a stream (never from us)."""
        return StreamId.try_parse(self.stream)

    @property
    def kind(self) -> str:
        """``access_history`` ... ``sessions``, ``policy_state`` or ``dbt``."""
        sid = self.stream_id
        return sid.kind if sid is not None else self.stream

    @property
    def family(self) -> str:
        """The stream as reports group it: ``dbt/<project>`` for dbt invocations."""
        sid = self.stream_id
        return str(sid.family()) if sid is not None else self.stream

    @property
    def start(self) -> datetime:
        return parse_rfc3339(str(self.predicate["window"]["start"]))

    @property
    def end(self) -> datetime:
        return parse_rfc3339(str(self.predicate["window"]["end"]))

    @property
    def files(self) -> list[Mapping[str, Any]]:
        return list(self.predicate.get("files", []))

    def file(self, name: str) -> Mapping[str, Any] | None:
        """The file whose path ends with ``/name`` (e.g. ``users.parquet``)."""
        return next((f for f in self.files if str(f["path"]).endswith("/" + name)), None)

    def ref(self, path: str) -> EvidenceRef:
        f = next(f for f in self.files if f["path"] == path)
        return EvidenceRef(self.index, path, str(f["sha256"]))

    def refs(self) -> tuple[EvidenceRef, ...]:
        return tuple(EvidenceRef(self.index, str(f["path"]), str(f["sha256"])) for f in self.files)


T = TypeVar("T")

#: Decoded tables up to this many bytes together stay cached (checks read the small
#: policy views many times); a larger table is decoded afresh on each use.
CACHE_BYTES = 64 << 20
#: Rows per batch when a file is read in parts (a Parquet row group is 65,536).
BATCH_ROWS = 65_536
#: Files one polars query reads in :meth:`EvidenceSet.collect_scan`: polars reads the files
#: of a query concurrently, so its buffers follow the files in flight (the PHI reads of a
#: year of daily files in one query took twice the memory of 32 files at a time).
FILES_PER_QUERY = 32
#: The column :meth:`EvidenceSet.scan` adds: the row's file, as an index into the paths.
FILE_COLUMN = "_file"
#: The column ``scan(row_index=True)`` adds: the row's place in its file, before filtering
#: (with :data:`FILE_COLUMN`, the row's place in the scan: a global row index would make
#: polars hold every row before numbering them).
ROW_COLUMN = "_row"

#: a timestamp column, and ``[start, end)`` of its values (no start: everything before end)
Period = tuple[str, datetime | None, datetime]


class EvidenceSet:
    """Entries of one period, and a way to read their files.

    ``read`` returns a file's bytes; ``open`` (by default over ``read``) a seekable
    file, which Parquet reads in parts: only the columns asked for, batch by batch
    (:meth:`batches`), so memory follows the columns a check or chart needs, not the
    size of the evidence. ``local`` names a file's local path when the store has
    one (a directory store): :meth:`scan` then lets polars read the file itself,
    after the file's digest was checked through ``open``.
    """

    def __init__(
        self,
        entries: Sequence[EvidenceEntry],
        read: Callable[[str], bytes],
        *,
        start: datetime,
        end: datetime,
        streams_expected: Sequence[str] = (),
        open: Callable[[str], BinaryIO] | None = None,
        local: Callable[[str], Path | None] | None = None,
    ) -> None:
        self.entries = sorted(entries, key=lambda e: e.index)
        self._read = read
        self._open = open if open is not None else (lambda path: io.BytesIO(read(path)))
        self._local = local
        self.start = start
        self.end = end
        self.streams_expected = tuple(streams_expected)
        # Decoded tables with their size, least recently used first; and their total size,
        # kept as tables come and go (summing ``nbytes``, which walks every buffer, on each
        # insertion cost a year's report more time than reading the files).
        self._cache: OrderedDict[tuple[str, tuple[str, ...] | None], tuple[pa.Table, int]] = (
            OrderedDict()
        )
        self._cached_bytes = 0
        self._memo: dict[Hashable, object] = {}
        self._schemas: dict[str, pa.Schema] = {}

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, once per set and ``key``: what several checks and charts derive
        alike from the same files (a scan of every ACCESS_HISTORY row) is derived once."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    def read_bytes(self, path: str) -> bytes:
        return self._read(path)

    def _unreadable(self, path: str, e: Exception) -> ReportError:
        return ReportError(
            f"{path} cannot be read as Parquet: {type(e).__name__}: {e}",
            fix="run `evidence verify` on the archive or pack",
        )

    def _parquet(self, path: str, f: BinaryIO, columns: Sequence[str] | None) -> pq.ParquetFile:
        try:
            pf = pq.ParquetFile(f)
        except (pa.ArrowException, OSError) as e:
            raise self._unreadable(path, e) from e
        if columns is not None:
            self._missing(path, pf.schema_arrow, columns)
        return pf

    @staticmethod
    def _missing(path: str, schema: pa.Schema, columns: Sequence[str]) -> None:
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise ReportError(
                f"{path} has no column {', '.join(missing)}",
                fix="check the entry's schema fingerprint against docs/FORMAT.md",
            )

    def table(
        self, path: str, columns: Sequence[str] | None = None, *, cache: bool = True
    ) -> pa.Table:
        """``path`` decoded whole, or only ``columns`` of it; kept in the cache unless
        ``cache`` is false (a file each check reads once: a year of dbt invocations' test
        results filled the cache with ~1,500 small tables, a few hits, ~25 MiB of RSS)."""
        key = (path, tuple(columns) if columns is not None else None)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit[0]
        with self._open(path) as f:
            pf = self._parquet(path, f, columns)
            try:
                table = pf.read(columns=list(columns) if columns is not None else None)
            except (pa.ArrowException, OSError) as e:
                raise self._unreadable(path, e) from e
        size = table.nbytes
        if cache and size <= CACHE_BYTES // 4:
            self._cache[key] = (table, size)
            self._cached_bytes += size
            while self._cached_bytes > CACHE_BYTES:
                _, (_, evicted) = self._cache.popitem(last=False)
                self._cached_bytes -= evicted
        return table

    def column_names(self, path: str) -> list[str]:
        """The columns ``path`` has (its footer only)."""
        return list(self._schema(path).names)

    def schema(self, path: str, columns: Sequence[str] | None = None) -> pa.Schema:
        """``path``'s Arrow schema (its footer only), or that of ``columns`` of it."""
        schema = self._schema(path, columns)
        return schema if columns is None else pa.schema([schema.field(c) for c in columns])

    def _schema(self, path: str, columns: Sequence[str] | None = None) -> pa.Schema:
        """``path``'s Arrow schema, its footer read once (the first read checks the file's
        digest); refused when it lacks one of ``columns``."""
        schema = self._schemas.get(path)
        if schema is None:
            with self._open(path) as f:
                schema = self._schemas[path] = self._parquet(path, f, None).schema_arrow
        if columns is not None:
            self._missing(path, schema, columns)
        return schema

    def scan(
        self,
        paths: Sequence[str],
        columns: Sequence[str],
        *,
        period: Period | None = None,
        where: pl.Expr | None = None,
        row_index: bool = False,
        each: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
    ) -> pl.LazyFrame:
        """``columns`` of the rows of ``paths`` whose ``period`` column lies in its
        ``[start, end)`` and that ``where`` keeps, with :data:`FILE_COLUMN` (the row's
        index in ``paths``), in file and row order; with ``row_index``, also
        :data:`ROW_COLUMN`; ``each`` applied to each file's rows read through ``open``
        and once to those of the files scanned by path (a filter, a join with a small
        table, or a partial aggregate that the caller completes over the files; the
        order of the rows is then unspecified). Collect it with :func:`collect`.

        A file with a local path is scanned by polars itself, lazily: the columns and
        the filter are pushed into the Parquet reader, which skips row groups by their
        statistics. Any other file (a pack member, an S3 object) is read through
        ``open`` a batch of ``columns`` at a time, and only its filtered rows are kept.
        Either way each file's digest is checked first (``open`` hashes it once). What
        is read through ``open`` is held until the frame is collected, after ``each``
        reduced it file by file: a filter or partial aggregate there keeps that small.
        """
        if not paths:
            raise ValueError("scan needs at least one file")
        frames = []
        scanned: list[int] = []  # frames of files scanned by path
        periods: dict[str | None, pl.Expr] = {}
        for i, path in enumerate(paths):
            # the filter's columns are read too, and dropped once it has been applied
            filtered = [*(where.meta.root_names() if where is not None else [])]
            if period is not None:
                filtered.append(period[0])
            needed = list(dict.fromkeys([*columns, *filtered]))
            schema = self._schema(path, needed)  # checks the digest (once) and the columns
            keep = where
            if period is not None:
                tz = getattr(schema.field(period[0]).type, "tz", None)
                if tz not in periods:  # a literal costs a millisecond: one per time zone
                    periods[tz] = _period_filter(tz, period)
                keep = periods[tz] if keep is None else periods[tz] & keep
            local = self._local(path) if self._local is not None else None
            index = [ROW_COLUMN] if row_index else []
            if local is not None:
                frame = pl.scan_parquet(
                    local,
                    glob=False,
                    hive_partitioning=False,
                    row_index_name=ROW_COLUMN if row_index else None,
                )
                frame = frame.select(*index, *needed)
                if keep is not None:
                    frame = frame.filter(keep)
                frame = frame.select(*columns, pl.lit(i, pl.UInt32).alias(FILE_COLUMN), *index)
                frames.append(frame)
                scanned.append(len(frames) - 1)
            else:
                rows = self._filtered_batches(path, needed, keep, row_index).lazy()
                rows = rows.select(*columns, pl.lit(i, pl.UInt32).alias(FILE_COLUMN), *index)
                frames.append(rows if each is None else _compact(collect(each(rows))).lazy())
        if each is None or not scanned:
            return pl.concat(frames, how="vertical_relaxed")
        # files polars scans by path are one query: ``each`` once over all of them
        by_path = each(pl.concat([frames[i] for i in scanned], how="vertical_relaxed"))
        by_path_files = set(scanned)
        rest = [f for i, f in enumerate(frames) if i not in by_path_files]
        return pl.concat([by_path, *rest], how="vertical_relaxed")

    def collect_scan(
        self,
        paths: Sequence[str],
        columns: Sequence[str],
        *,
        period: Period | None = None,
        where: pl.Expr | None = None,
        row_index: bool = False,
        each: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
    ) -> pl.DataFrame:
        """:meth:`scan` of ``paths`` computed :data:`FILES_PER_QUERY` files at a time, each
        part reduced by ``each`` (a filter, or a partial aggregate the caller completes
        over the parts), the parts concatenated in order; :data:`FILE_COLUMN`, where
        ``each`` keeps it, is still the row's index in ``paths``. Memory follows a part's
        files, not the period's."""
        if not paths:
            raise ValueError("scan needs at least one file")
        parts = []
        for lo in range(0, len(paths), FILES_PER_QUERY):
            part = self.scan(
                paths[lo : lo + FILES_PER_QUERY],
                columns,
                period=period,
                where=where,
                row_index=row_index,
                each=each,
            )
            if lo and FILE_COLUMN in part.collect_schema().names():
                part = part.with_columns(pl.col(FILE_COLUMN) + lo)
            parts.append(collect(part))
        return pl.concat(parts, how="vertical_relaxed", rechunk=False)

    def _filtered_batches(
        self, path: str, columns: Sequence[str], keep: pl.Expr | None, row_index: bool
    ) -> pl.DataFrame:
        """``columns`` of ``path``'s rows that ``keep`` keeps, read a batch at a time."""
        parts = []
        offset = 0
        try:
            for batch in self.batches(path, columns):
                frame = pl.DataFrame(pl.from_arrow(batch))
                if row_index:
                    frame = frame.with_row_index(ROW_COLUMN, offset=offset)
                offset += batch.num_rows
                parts.append(frame if keep is None else _compact(frame.filter(keep)))
            if not parts:
                schema = self._schema(path, columns)
                fields = pa.schema([schema.field(c) for c in columns])
                empty = pl.DataFrame(pl.from_arrow(fields.empty_table()))
                return empty.with_row_index(ROW_COLUMN) if row_index else empty
            return pl.concat(parts, how="vertical_relaxed", rechunk=False)
        except ple.PolarsError as e:
            raise self._unreadable(path, e) from e

    def batches(self, path: str, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """``columns`` of ``path``, :data:`BATCH_ROWS` rows at a time."""
        with self._open(path) as f:
            pf = self._parquet(path, f, columns)
            try:
                # No reader threads: a caller that stops early leaves no native thread
                # running into interpreter exit (which aborted one `evidence recheck` in
                # CI with "terminate called without an active exception").
                yield from pf.iter_batches(
                    batch_size=BATCH_ROWS, columns=list(columns), use_threads=False
                )
            except (pa.ArrowException, OSError) as e:
                raise self._unreadable(path, e) from e

    def of_kind(self, kind: str) -> list[EvidenceEntry]:
        return [e for e in self.entries if e.kind == kind]

    def history(self, view: str) -> list[EvidenceEntry]:
        """Window entries of one history stream (``access_history`` ...), amendments included."""
        return self.of_kind(view)

    def history_rows(self, view: str) -> Iterator[tuple[EvidenceEntry, pa.Table]]:
        for entry in self.history(view):
            for path in self.parquet_files(entry):
                yield entry, self.table(path)

    @staticmethod
    def parquet_files(entry: EvidenceEntry) -> list[str]:
        return [str(f["path"]) for f in entry.files if str(f["path"]).endswith(".parquet")]

    def policy_snapshots(self) -> list[EvidenceEntry]:
        return self.of_kind("policy_state")

    def latest_policy_snapshot(self) -> EvidenceEntry | None:
        snaps = self.policy_snapshots()
        return snaps[-1] if snaps else None

    def dbt_invocations(self) -> list[EvidenceEntry]:
        return self.of_kind("dbt")

    def streams(self) -> dict[str, list[EvidenceEntry]]:
        out: dict[str, list[EvidenceEntry]] = {}
        for e in self.entries:
            out.setdefault(e.stream, []).append(e)
        return out


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in buffers of its own: polars' strings filtered from a batch still point
    into the whole batch's buffers, so a few rows kept per batch would keep every batch."""
    return pl.DataFrame(pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest())))


def _period_filter(tz: str | None, period: Period) -> pl.Expr:
    """``period``'s column in ``[start, end)``, compared in the column's time zone ``tz``
    (a timestamp without one is UTC, as pyarrow compares it): a plain comparison, which
    polars pushes into the Parquet reader."""
    column, start, end = period

    def bound(t: datetime) -> pl.Expr:
        utc = t.astimezone(UTC)
        if tz is None:
            return pl.lit(utc.replace(tzinfo=None), pl.Datetime("us"))
        return pl.lit(utc, pl.Datetime("us", "UTC")).dt.convert_time_zone(str(tz))

    before = pl.col(column) < bound(end)
    return before if start is None else (pl.col(column) >= bound(start)) & before


def collect(frame: pl.LazyFrame) -> pl.DataFrame:
    """``frame`` computed, on polars' streaming engine (memory follows the query's state,
    not the files' size), and finished before this returns: no reader is left running
    into interpreter exit. A file polars cannot read is a :class:`ReportError`."""
    try:
        return frame.collect(engine="streaming")
    except (ple.ComputeError, OSError) as e:
        raise ReportError(
            f"an evidence file could not be read as Parquet: {type(e).__name__}: "
            f"{str(e).split(chr(10))[0]}",
            fix="run `evidence verify` on the archive or pack",
        ) from e


def local_paths(store: Any) -> Callable[[str], Path | None] | None:
    """Each file's local path when ``store`` is a directory store, for :meth:`EvidenceSet.scan`."""
    from das_evidence.evidence_store.interface import validate_key
    from das_evidence.evidence_store.local import LocalStore

    if not isinstance(store, LocalStore):
        return None
    root = store.root.absolute()
    return lambda key: root.joinpath(*validate_key(key).split("/"))


def in_period(predicate: Mapping[str, Any], start: datetime, end: datetime) -> bool:
    """A window overlaps ``[start, end)``; a point-in-time entry lies within it."""
    w_start = parse_rfc3339(str(predicate["window"]["start"]))
    w_end = parse_rfc3339(str(predicate["window"]["end"]))
    if w_start == w_end:
        return start <= w_start < end
    return w_start < end and w_end > start


def _verified_set(store: Any, chosen: Sequence[Any], start: datetime, end: datetime) -> EvidenceSet:
    """The set of log entries ``chosen`` (``manifests.log.LogEntry``), each file read from
    ``store`` only when it matches the digest its entry signed: the one way a report, a
    run's check alerts and a re-derivation read archived evidence."""
    from das_evidence.streams import is_accounting
    from das_evidence.verify.files import verified_opener, verified_reader

    # orphan files are evidence of no window
    chosen = [e for e in chosen if not is_accounting(e.predicate)]
    signed = {s.name: (s.sha256, e.index) for e in chosen for s in e.statement.subjects}
    entries = [EvidenceEntry(e.index, str(e.predicate["stream"]), e.predicate) for e in chosen]
    return EvidenceSet(
        entries,
        verified_reader(store.get, signed),
        start=start,
        end=end,
        open=verified_opener(store.open, signed),
        local=local_paths(store),
    )


def from_archive(
    store: Any, origin: str, start: datetime, end: datetime, only: str | None = None
) -> EvidenceSet:
    """The entries of ``store``'s log in the period (optionally streams matching ``only``)."""
    from das_evidence.manifests.log import ArchiveLog
    from das_evidence.streams import stream_matches

    log = ArchiveLog(store, origin)
    chosen = [
        e
        for e in log.entries
        if in_period(e.predicate, start, end) and stream_matches(str(e.predicate["stream"]), only)
    ]
    return _verified_set(store, chosen, start, end)


def from_selection(store: Any, selection: Selection) -> EvidenceSet:
    """The entries a ``reports.pack.Selection`` chose (what :func:`from_archive` chooses
    for its period and streams), without reading the log a second time: a year's log
    held twice was ~60 MiB of a report's peak."""
    return _verified_set(store, selection.entries, selection.start, selection.end)


def of_run(store: Any, log: Any, appended: Sequence[int]) -> EvidenceSet | None:
    """What a run just collected: the entries ``appended`` to ``log`` (an ``ArchiveLog``)
    and the newest policy-state snapshot of each account, over the span of the appended
    windows. None when the run appended no window."""
    from das_evidence.streams import is_accounting

    by_index = {e.index: e for e in log.entries}
    new = [by_index[i] for i in appended if i in by_index]
    new = [e for e in new if not is_accounting(e.predicate)]
    if not new:
        return None
    start = min(parse_rfc3339(str(e.predicate["window"]["start"])) for e in new)
    end = max(parse_rfc3339(str(e.predicate["window"]["end"])) for e in new)
    latest: dict[str, Any] = {}
    for e in log.entries:
        entry = EvidenceEntry(e.index, str(e.predicate["stream"]), e.predicate)
        if entry.kind == "policy_state" and not is_accounting(e.predicate):
            latest[entry.stream] = e
    chosen = {e.index: e for e in [*new, *latest.values()]}
    if end == start:  # only point-in-time snapshots: a period that holds them
        end = start + timedelta(seconds=1)
    return _verified_set(store, [chosen[i] for i in sorted(chosen)], start, end)


def from_pack(
    files: Mapping[str, bytes] | Callable[[str], bytes], names: Sequence[str]
) -> EvidenceSet:
    """The evidence of an auditor pack, from its own files alone.

    ``files`` reads a pack member by name, ``names`` lists the members. The entries
    are the pack's ``entries/<index>.dsse.json`` statements, the period is the one its
    ``pack.json`` states, and every evidence file is read only when it matches the
    digest its entry signed. Verify the pack first (``evidence verify PACK``, i.e.
    :func:`das_evidence.verify.pack.check_pack`): this checks digests, not signatures.
    """
    import json
    import re

    from das_evidence.errors import EvidenceError
    from das_evidence.manifests.dsse import Envelope
    from das_evidence.manifests.statement import Statement
    from das_evidence.streams import is_accounting
    from das_evidence.verify.files import verified_reader

    read = files.__getitem__ if isinstance(files, Mapping) else files
    entry_name = re.compile(r"^entries/(\d{12})\.dsse\.json$")
    try:
        pack = json.loads(read("pack.json"))
        start = parse_rfc3339(str(pack["period"]["start"]))
        end = parse_rfc3339(str(pack["period"]["end"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ReportError(
            f"the pack's pack.json does not state its period: {type(e).__name__}: {e}",
            fix="use a pack made by `evidence pack`, and verify it",
        ) from e
    entries: list[EvidenceEntry] = []
    signed: dict[str, tuple[str, int]] = {}
    for name in sorted(names):
        m = entry_name.match(name)
        if m is None:
            continue
        try:
            statement = Statement.from_bytes(Envelope.from_bytes(read(name)).payload)
        except EvidenceError as e:
            raise ReportError(
                f"{name} is not a signed statement: {e.message}",
                fix="verify the pack: `evidence verify PACK`",
            ) from e
        if is_accounting(statement.predicate):
            continue
        index = int(m.group(1))
        entries.append(
            EvidenceEntry(index, str(statement.predicate["stream"]), statement.predicate)
        )
        signed.update({s.name: (s.sha256, index) for s in statement.subjects})
    return EvidenceSet(entries, verified_reader(read, signed), start=start, end=end)


def from_verified_pack(path: Path, trust: Any) -> EvidenceSet:
    """The evidence of the pack at ``path``, once it verifies against ``trust``
    (``verify.archive.Trust``: the keys the auditee published, not the pack's own copy).

    The pack is checked as `evidence verify PACK` checks it
    (:func:`das_evidence.verify.pack.check_pack`); a pack with any finding is refused
    (:class:`VerificationError`). Its files are then read from the zip on demand,
    each against the digest its entry signed (:func:`from_pack`).
    """
    import zipfile

    from das_evidence.errors import VerificationError
    from das_evidence.verify.pack import check_pack, read_pack

    contents = read_pack(path)
    report = check_pack(contents, trust)
    if report.findings:
        listing = "; ".join(str(f) for f in report.findings[:5])
        raise VerificationError(
            f"{path} does not verify ({len(report.findings)} findings): {listing}",
            fix=f"run `evidence verify {path}` and report on a pack that verifies",
        )

    def read(name: str) -> bytes:
        with zipfile.ZipFile(path) as z:
            return z.read(name)

    return from_pack(read, sorted(contents.digests))
