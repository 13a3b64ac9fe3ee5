"""History collectors: ACCESS_HISTORY, LOGIN_HISTORY, QUERY_HISTORY, SESSIONS and
TRUST_CENTER_FINDINGS (windowed on UPDATED_ON, so each version of a finding is archived).

Each window ``[start, end)`` becomes one Parquet file, streamed batch by batch
from the server, cast to the view's pinned schema. Windows run from the end of
the last archived window to ``now - safety`` (the view's documented latency or
more) floored to the hour, at most ``max_window`` each and cut at UTC midnight,
so partitions line up with days and a window's key does not depend on the
minute a run starts: concurrent writers, or a run that follows one that was
stopped, compute the same key and the later one adopts the earlier's file.
QUERY_HISTORY query text is redacted (literals replaced, a keyed
HMAC of the original kept) unless the stream opts in to raw text.

Memory stays bounded whatever a window holds. A window whose COUNT(*) exceeds
``max_rows_per_query`` is read in sub-range queries, cut by time at minute
boundaries from a per-minute histogram so each holds at most that many rows (a
single minute with more is one query of its own); the sub-results go, in order,
into the same writer. The ORDER BY starts with the time column, so the rows and
their order, and with them the bytes, are those of the one window query. A
window's Parquet larger than ``max_file_bytes`` is split between row groups into
parts (``<start>_<end>.part-0001.parquet`` ...), each an evidence file of the
entry with its own digest and rows.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from das_evidence import __version__
from das_evidence.collectors.interface import (
    PARQUET_MEDIA_TYPE,
    CollectedFile,
    Collection,
    Collector,
    Window,
)
from das_evidence.collectors.parquet import ParquetPart, ParquetParts
from das_evidence.collectors.snowflake.views import ViewSpec, cast_batch, schema_fingerprint
from das_evidence.errors import SchemaMismatchError
from das_evidence.streams import StreamId
from das_evidence.timefmt import compact, rfc3339

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Any]  # returns a connection.SnowflakeSession


#: Where a trailing partial window may end: the hour, not the second a run starts.
WINDOW_GRID = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COMPACT = "%Y%m%dT%H%M%SZ"
_FILE_NAME = re.compile(
    r"^(?P<start>\d{8}T\d{6}Z)_(?P<end>\d{8}T\d{6}Z)(?P<amend>\.amend-\d+)?(\.part-\d+)?"
    r"(\.retry-\d+)?\.parquet$"
)


def floor_to(t: datetime, grid: timedelta) -> datetime:
    """``t`` rounded down to a multiple of ``grid`` since the Unix epoch (UTC)."""
    return _EPOCH + ((t - _EPOCH) // grid) * grid


#: Where a window may be cut into sub-range queries.
SPLIT_GRID = "MINUTE"
#: Rows per query unless configured (``[streams.<view>] max_rows_per_query``).
MAX_ROWS_PER_QUERY = 100_000
#: Text bytes per query unless configured (``[streams.<view>] max_bytes_per_query``): the
#: rows' columns as text, summed per minute by the histogram query. Rows differ in width
#: (a batch job's ACCESS_HISTORY row names many more objects than an analyst's), so a
#: row cap alone lets the widest slice of a day decide the collector's peak memory.
MAX_BYTES_PER_QUERY = 64 << 20
#: Snowflake types whose width varies: measured as ``LENGTH(TO_VARCHAR(column))``.
_VARIABLE_WIDTH = ("VARCHAR", "ARRAY", "OBJECT", "VARIANT")
#: Bytes per evidence file unless configured (``[store] max_file_bytes``).
MAX_FILE_BYTES = 1 << 30


def split_window(
    window: Window,
    histogram: list[tuple[datetime, int, int]],
    max_rows: int,
    max_bytes: int = MAX_BYTES_PER_QUERY,
) -> list[Window]:
    """``window`` cut at bucket starts of ``histogram`` (bucket start, rows, text bytes; in
    time order) into contiguous sub-windows of at most ``max_rows`` rows and ``max_bytes``
    bytes each, where the buckets allow (a bucket holding more is a sub-window of its own)."""
    cuts: list[datetime] = []
    rows = size = 0
    for start, n, b in histogram:
        full = rows + n > max_rows or size + b > max_bytes
        if rows and full and window.start < start < window.end:
            cuts.append(start)
            rows = size = 0
        rows += n
        size += b
    bounds = [window.start, *cuts, window.end]
    return [Window(a, b) for a, b in itertools.pairwise(bounds)]


def _utc_time(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _next_midnight(t: datetime) -> datetime:
    midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=1)


def plan_windows(
    start: datetime,
    now: datetime,
    safety: timedelta,
    *,
    max_window: timedelta = timedelta(days=1),
    min_window: timedelta = timedelta(minutes=15),
    grid: timedelta = WINDOW_GRID,
) -> list[Window]:
    """Contiguous windows from ``start`` up to ``now - safety`` floored to ``grid``, cut at
    UTC midnights.

    The last window is only due once at least ``min_window`` of it has closed,
    so frequent runs do not produce a stream of tiny entries. Flooring the horizon
    makes the windows (and so the keys) of runs whose clocks differ by less than
    ``grid`` the same, unless a grid line falls between them.
    """
    horizon = floor_to(now - safety, grid)
    windows: list[Window] = []
    cursor = start
    while cursor < horizon:
        end = min(cursor + max_window, _next_midnight(cursor), horizon)
        if end == horizon and end - cursor < min_window:
            break
        windows.append(Window(cursor, end))
        cursor = end
    return windows


class HistoryCollector(Collector):
    """One ACCOUNT_USAGE history view of one account."""

    def __init__(
        self,
        spec: ViewSpec,
        *,
        account: str,
        session: SessionFactory,
        first_start: datetime,
        safety: timedelta,
        max_window: timedelta = timedelta(days=1),
        min_window: timedelta = timedelta(minutes=15),
        transform: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
        extra_fields: tuple[pa.Field, ...] = (),
        predicate_extra: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
        max_rows_per_query: int = MAX_ROWS_PER_QUERY,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_bytes_per_query: int = MAX_BYTES_PER_QUERY,
    ) -> None:
        self.spec = spec
        self.account = account
        self.stream = str(StreamId.snowflake(account, spec.stream))
        self.name = f"snowflake.account_usage.{spec.stream}"
        self._session = session
        self._first_start = first_start
        self._safety = safety
        self._max_window = max_window
        self._min_window = min_window
        self._transform = transform
        self._out_schema = spec.schema(extra_fields)
        self._predicate_extra = predicate_extra or {}
        self._max_rows = max_rows_per_query
        self._max_query_bytes = max_bytes_per_query
        self._max_bytes = max_file_bytes

    @property
    def safety(self) -> timedelta:
        """How far behind now a window must end: the view's latency, or more."""
        return self._safety

    def source_predicate(self) -> dict[str, Any]:
        """The entry's ``source``: where the rows were read and how far behind now."""
        return {
            "system": "snowflake",
            "account": self.account,
            "object": self.spec.qualified,
            "time_column": self.spec.time_column,
            "latency_safety_seconds": int(self._safety.total_seconds()),
        }

    def predicate_extra(self) -> dict[str, Any]:
        """What the stream adds to every entry's predicate (e.g. the redaction block)."""
        extra = self._predicate_extra
        return dict(extra() if callable(extra) else extra)

    @property
    def output_schema(self) -> pa.Schema:
        return self._out_schema

    def _due_windows(self, last_end: datetime | None, now: datetime) -> list[Window]:
        start = last_end if last_end is not None else self._first_start
        return plan_windows(
            start,
            now,
            self._safety,
            max_window=self._max_window,
            min_window=self._min_window,
        )

    def _where(self, window: Window) -> str:
        t = self.spec.time_column
        return (
            f"WHERE {t} >= '{rfc3339(window.start)}'::TIMESTAMP_LTZ "
            f"AND {t} < '{rfc3339(window.end)}'::TIMESTAMP_LTZ"
        )

    def sql(self, window: Window) -> str:
        cols = ", ".join(c.name for c in self.spec.columns)
        return (
            f"SELECT {cols} FROM {self.spec.qualified} {self._where(window)} "
            f"ORDER BY {', '.join(self.spec.order_by)}"
        )

    def histogram_sql(self, window: Window) -> str:
        """Rows of ``window`` per minute, and their variable-width columns' length as text:
        where it may be cut into sub-range queries."""
        t = self.spec.time_column
        width = " + ".join(
            f"COALESCE(LENGTH(TO_VARCHAR({c.name})), 0)"
            for c in self.spec.columns
            if c.snowflake_type in _VARIABLE_WIDTH
        )
        return (
            f"SELECT DATE_TRUNC('{SPLIT_GRID}', {t}) AS BUCKET, COUNT(*) AS ROWS_IN_BUCKET, "
            f"SUM({width or '0'}) AS BYTES_IN_BUCKET "
            f"FROM {self.spec.qualified} {self._where(window)} GROUP BY 1 ORDER BY 1"
        )

    def evidence_prefix(self) -> str:
        return f"evidence/snowflake/{self.account}/{self.spec.stream}/"

    def pending(self, key: str, last_end: datetime | None) -> bool:
        """A window file is pending while its window starts at or after the stream's end
        (a run may still archive it); an amendment file never is (the runner sweeps after
        reconciling, which adopts a leftover amendment it still wants)."""
        m = _FILE_NAME.match(key.rsplit("/", 1)[-1])
        if m is None or m.group("amend"):
            return False
        if last_end is None:
            return True
        start = datetime.strptime(m.group("start"), _COMPACT).replace(tzinfo=UTC)
        return start >= last_end

    def key(self, window: Window) -> str:
        day = window.start.astimezone(UTC).strftime("%Y-%m-%d")
        return (
            f"evidence/snowflake/{self.account}/{self.spec.stream}/date={day}/"
            f"{compact(window.start)}_{compact(window.end)}.parquet"
        )

    def check_columns(self, session: Any) -> None:
        present = set(session.columns(self.spec.qualified))
        missing = [c.name for c in self.spec.columns if c.name not in present]
        if missing:
            raise SchemaMismatchError(
                f"view {self.spec.qualified} has no column {', '.join(missing)}, which the "
                f"{self.spec.stream} collector reads",
                fix="check the collector role sees the documented view; nothing was written "
                "for this stream",
            )

    def _cast(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        cast = cast_batch(self.spec.qualified, self.spec.columns, self.spec.schema(), batch)
        return self._transform(cast) if self._transform else cast

    def _batches(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield self._cast(batch)

    def count_sql(self, window: Window) -> str:
        return f"SELECT COUNT(*) FROM {self.spec.qualified} {self._where(window)}"

    @property
    def key_column(self) -> str:
        """The column that identifies a row of the view (QUERY_ID, EVENT_ID, SESSION_ID)."""
        return self.spec.order_by[-1]

    def recount(self, window: Window) -> int:
        with self._errors():
            return int(self._session().count(self.count_sql(window), ()))

    def amend(
        self, window: Window, archived_keys: set[Any], amendment: int, spool: Path
    ) -> Collection | None:
        """The rows of ``window`` not yet archived (arrived late), or None if there are none."""
        key_column = self.key_column

        def missing(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                keys = batch.column(key_column).to_pylist()
                mask = pa.array([k not in archived_keys for k in keys], pa.bool_())
                yield batch.filter(mask)

        key = self.key(window).removesuffix(".parquet") + f".amend-{amendment}.parquet"
        # The runner calls amend directly: the same error wrapping and checks as collect.
        collection = self._checked(
            window, spool, lambda: self._collect(window, spool, key=key, select=missing)
        )
        if collection.predicate["rows"] == 0:
            return None
        return collection

    def _pieces(self, session: Any, window: Window, source_count: int) -> list[Window]:
        """``window`` as one query, or cut into sub-ranges of at most ``max_rows`` rows."""
        if source_count <= self._max_rows:
            return [window]
        result = session.query_arrow(self.histogram_sql(window), ())
        histogram: list[tuple[datetime, int, int]] = []
        for batch in result.batches:
            buckets, counts, sizes = (batch.column(i).to_pylist() for i in range(3))
            histogram.extend(
                (_utc_time(b), int(n), int(w or 0))
                for b, n, w in zip(buckets, counts, sizes, strict=True)
            )
        histogram.sort(key=lambda bucket: bucket[0])
        return split_window(window, histogram, self._max_rows, self._max_query_bytes)

    def _collect(
        self,
        window: Window,
        spool: Path,
        *,
        key: str | None = None,
        select: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]] | None = None,
    ) -> Collection:
        key = key or self.key(window)
        stem = key.removesuffix(".parquet")
        sql = self.sql(window)
        session = self._session()
        self.check_columns(session)
        # A separate COUNT(*) over the same predicate: completeness evidence, and what
        # later reconciliation compares with.
        count_sql = self.count_sql(window)
        source_count = int(session.count(count_sql, ()))
        pieces = self._pieces(session, window, source_count)
        queries: list[dict[str, Any]] = []
        parts = ParquetParts(
            lambda n: spool / f"{stem}.part-{n:04d}.parquet".replace("/", "__"),
            self._out_schema,
            self._max_bytes,
        )
        try:
            for piece in pieces:
                piece_sql = sql if piece == window else self.sql(piece)
                result = session.query_arrow(piece_sql, ())
                counted = _Counted(self._batches(result.batches))
                batches: Iterator[pa.RecordBatch] = counted
                if select is not None:
                    batches = select(batches)
                for batch in batches:
                    parts.write(batch)
                queries.append(
                    {"sql": piece_sql, "query_id": result.query_id, "rows": counted.rows}
                )
            written = parts.close()
        except BaseException:
            parts.discard()
            raise
        rows = sum(p.rows for p in written)
        log.debug(
            "collected %s %s..%s: %d rows in %d queries, %d files",
            self.stream,
            rfc3339(window.start),
            rfc3339(window.end),
            rows,
            len(queries),
            len(written),
        )
        query: dict[str, Any] = {"sql": sql}
        if len(queries) == 1:
            query["query_id"] = queries[0]["query_id"]
        else:
            query["split"] = {
                "max_rows_per_query": self._max_rows,
                "max_bytes_per_query": self._max_query_bytes,
                "histogram_sql": self.histogram_sql(window),
                "queries": queries,
            }
        predicate: dict[str, Any] = {
            "source": self.source_predicate(),
            "query": query,
            "completeness": {"count_sql": count_sql, "source_count": source_count},
            "rows": rows,
            "schema": {
                "fingerprint": schema_fingerprint(self.spec.view, self._out_schema),
                "columns": [f.name for f in self._out_schema],
            },
        }
        predicate.update(self.predicate_extra())
        return Collection(
            stream=self.stream,
            window=window,
            files=tuple(
                self._file(key if len(written) == 1 else f"{stem}.part-{n:04d}.parquet", part)
                for n, part in enumerate(written, start=1)
            ),
            predicate=predicate,
        )

    @staticmethod
    def _file(key: str, part: ParquetPart) -> CollectedFile:
        return CollectedFile(
            key=key,
            local_path=part.path,
            sha256=part.sha256,
            size=part.size,
            rows=part.rows,
            media_type=PARQUET_MEDIA_TYPE,
        )


class _Counted(Iterator[pa.RecordBatch]):
    """The batches of ``source``, counting the rows read (before any selection)."""

    def __init__(self, source: Iterator[pa.RecordBatch]) -> None:
        self._source = source
        self.rows = 0

    def __next__(self) -> pa.RecordBatch:
        batch = next(self._source)
        self.rows += batch.num_rows
        return batch


COLLECTOR_VERSION = __version__
