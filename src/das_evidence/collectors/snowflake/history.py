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
"""

from __future__ import annotations

import hashlib
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
from das_evidence.collectors.parquet import DeterministicParquetWriter
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
    r"^(?P<start>\d{8}T\d{6}Z)_(?P<end>\d{8}T\d{6}Z)(?P<amend>\.amend-\d+)?(\.retry-\d+)?\.parquet$"
)


def floor_to(t: datetime, grid: timedelta) -> datetime:
    """``t`` rounded down to a multiple of ``grid`` since the Unix epoch (UTC)."""
    return _EPOCH + ((t - _EPOCH) // grid) * grid


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
        predicate_extra: dict[str, Any] | None = None,
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

    def sql(self, window: Window) -> str:
        cols = ", ".join(c.name for c in self.spec.columns)
        t = self.spec.time_column
        return (
            f"SELECT {cols} FROM {self.spec.qualified} "
            f"WHERE {t} >= '{rfc3339(window.start)}'::TIMESTAMP_LTZ "
            f"AND {t} < '{rfc3339(window.end)}'::TIMESTAMP_LTZ "
            f"ORDER BY {', '.join(self.spec.order_by)}"
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
        t = self.spec.time_column
        return (
            f"SELECT COUNT(*) FROM {self.spec.qualified} "
            f"WHERE {t} >= '{rfc3339(window.start)}'::TIMESTAMP_LTZ "
            f"AND {t} < '{rfc3339(window.end)}'::TIMESTAMP_LTZ"
        )

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

    def _collect(
        self,
        window: Window,
        spool: Path,
        *,
        key: str | None = None,
        select: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]] | None = None,
    ) -> Collection:
        key = key or self.key(window)
        path = spool / key.replace("/", "__")
        sql = self.sql(window)
        session = self._session()
        self.check_columns(session)
        # A separate COUNT(*) over the same predicate: completeness evidence, and what
        # later reconciliation compares with.
        count_sql = self.count_sql(window)
        source_count = int(session.count(count_sql, ()))
        result = session.query_arrow(sql, ())
        batches = self._batches(result.batches)
        if select is not None:
            batches = select(batches)
        try:
            with DeterministicParquetWriter(path, self._out_schema) as writer:
                for batch in batches:
                    writer.write(batch)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        size = path.stat().st_size
        log.debug(
            "collected %s %s..%s: %d rows",
            self.stream,
            rfc3339(window.start),
            rfc3339(window.end),
            writer.rows,
        )
        predicate: dict[str, Any] = {
            "source": {
                "system": "snowflake",
                "account": self.account,
                "object": self.spec.qualified,
                "time_column": self.spec.time_column,
                "latency_safety_seconds": int(self._safety.total_seconds()),
            },
            "query": {"sql": sql, "query_id": result.query_id},
            "completeness": {"count_sql": count_sql, "source_count": source_count},
            "rows": writer.rows,
            "schema": {
                "fingerprint": schema_fingerprint(self.spec.view, self._out_schema),
                "columns": [f.name for f in self._out_schema],
            },
        }
        predicate.update(self._predicate_extra)
        return Collection(
            stream=self.stream,
            window=window,
            files=(
                CollectedFile(
                    key=key,
                    local_path=path,
                    sha256=digest.hexdigest(),
                    size=size,
                    rows=writer.rows,
                    media_type=PARQUET_MEDIA_TYPE,
                ),
            ),
            predicate=predicate,
        )


COLLECTOR_VERSION = __version__
