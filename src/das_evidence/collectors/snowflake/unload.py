"""Snowflake as the engine for collection: a history window unloaded server-side.

A stream in ``mode = "server_side_unload"`` does not stream its rows through the
collector. Snowflake runs the history collector's own SELECT (the same explicit
column list and bounded time predicate, :meth:`HistoryCollector.sql`) inside
``COPY INTO @stage/<path>/``, an external stage on a staging prefix of the evidence
bucket, writing Parquet files of at most ``MAX_FILE_SIZE`` bytes. The collector then:

1. reads the files COPY reports (``DETAILED_OUTPUT = TRUE``: each file's name, size and
   row count) and lists every version under the window's staging path: exactly those
   files, each with exactly one version, of the reported size, or the window is refused
   (a staged object altered, added or removed between the unload and the copy);
2. streams each object version from S3 with parallel ranged GETs, hashing it with
   SHA-256 as the parts arrive in order, into the spool; the runner then puts it into
   the locked evidence prefix with that ``ChecksumSHA256`` and Object Lock, as it puts
   every evidence file;
3. checks each file's Parquet footer: the row count COPY reported and the view's columns.

The staging path is unique per window and per attempt (a random nonce under
``<account>/<stream>/<start>_<end>/``) and COPY runs with ``OVERWRITE = FALSE``, so
concurrent or retried runs never write the same object. The entry records the unload's
query id, the stage, and each staged object's key, version and size.

Late-row amendments (reconciliation) read the few missing rows with the history
collector's SELECT: they are filtered by key, which COPY cannot do server-side.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from das_evidence.collectors.interface import (
    PARQUET_MEDIA_TYPE,
    CollectedFile,
    Collection,
    Collector,
    Window,
)
from das_evidence.collectors.parquet import DeterministicParquetWriter
from das_evidence.collectors.snowflake.history import HistoryCollector, SessionFactory
from das_evidence.collectors.snowflake.views import schema_fingerprint
from das_evidence.errors import CollectorError, StoreError
from das_evidence.timefmt import compact, rfc3339

log = logging.getLogger(__name__)

#: Bytes per ranged GET, and GETs in flight per object: at most their product is held.
PART_SIZE = 8 * 1024**2
WORKERS = 8

_PART = re.compile(r"\.part-\d+(?=\.)")


class StagingReader(Protocol):
    """What the collector reads of the staging prefix (:class:`das_evidence.aws.S3Reader`)."""

    bucket: str
    prefix: str

    def versions(self, under: str) -> list[dict[str, Any]]: ...

    def read_range(self, name: str, start: int, end: int, version_id: str | None) -> bytes: ...


@dataclass(frozen=True)
class UnloadedFile:
    """One row of COPY's DETAILED_OUTPUT: a file's path under the stage, size and rows."""

    name: str
    size: int
    rows: int


def copy_hashed(
    read_range: Callable[[int, int], bytes],
    size: int,
    dest: Path,
    *,
    part_size: int = PART_SIZE,
    workers: int = WORKERS,
) -> str:
    """``size`` bytes read as ranged parts, ``workers`` at a time, written to ``dest`` in
    order and hashed as they are written; the hex SHA-256 of the whole."""
    digest = hashlib.sha256()
    ranges = iter([(s, min(s + part_size, size)) for s in range(0, size, part_size)])
    with ThreadPoolExecutor(max_workers=workers) as pool, dest.open("wb") as out:
        inflight: deque[Future[bytes]] = deque()

        def submit() -> None:
            r = next(ranges, None)
            if r is not None:
                inflight.append(pool.submit(read_range, *r))

        for _ in range(workers):
            submit()
        try:
            while inflight:
                data = inflight.popleft().result()
                digest.update(data)
                out.write(data)
                submit()
        except BaseException:
            for f in inflight:
                f.cancel()
            raise
    return digest.hexdigest()


def detailed_output(table: pa.Table, query_id: str) -> list[UnloadedFile]:
    """COPY's DETAILED_OUTPUT rows (FILE_NAME, FILE_SIZE, ROW_COUNT), by file name."""
    names = {n.upper(): n for n in table.column_names}
    missing = [c for c in ("FILE_NAME", "FILE_SIZE", "ROW_COUNT") if c not in names]
    if missing:
        raise CollectorError(
            f"the unload (query {query_id}) returned the columns {table.column_names}, "
            f"not {', '.join(missing)}",
            fix="COPY INTO must run with DETAILED_OUTPUT = TRUE; report this",
        )
    cols = {c: table.column(names[c]).to_pylist() for c in ("FILE_NAME", "FILE_SIZE", "ROW_COUNT")}
    files = [
        UnloadedFile(str(n), int(s), int(r))
        for n, s, r in zip(cols["FILE_NAME"], cols["FILE_SIZE"], cols["ROW_COUNT"], strict=True)
    ]
    return sorted(files, key=lambda f: f.name)


class UnloadCollector(Collector):
    """One ACCOUNT_USAGE history view, unloaded by Snowflake to a stage and copied in.

    It wraps the stream's :class:`HistoryCollector`: windows, keys, SQL, recounts and
    amendments are that collector's; only how a window's rows reach the spool differs.
    """

    def __init__(
        self,
        history: HistoryCollector,
        *,
        session: SessionFactory,
        stage: str,
        staging: StagingReader,
        max_file_size: int,
        part_size: int = PART_SIZE,
        workers: int = WORKERS,
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.history = history
        self.spec = history.spec
        self.account = history.account
        self.stream = history.stream
        self.name = history.name
        self.stage = stage
        self._session = session
        self._staging = staging
        self._max_file_size = max_file_size
        self._part_size = part_size
        self._workers = workers
        self._nonce = nonce

    # -- the history collector's, unchanged ------------------------------------------

    @property
    def output_schema(self) -> pa.Schema:
        return self.history.output_schema

    @property
    def key_column(self) -> str:
        return self.history.key_column

    def _due_windows(self, last_end: datetime | None, now: datetime) -> list[Window]:
        return self.history.due_windows(last_end, now)

    def evidence_prefix(self) -> str:
        return self.history.evidence_prefix()

    def key(self, window: Window) -> str:
        return self.history.key(window)

    def sql(self, window: Window) -> str:
        return self.history.sql(window)

    def recount(self, window: Window) -> int:
        return self.history.recount(window)

    def amend(
        self, window: Window, archived_keys: set[Any], amendment: int, spool: Path
    ) -> Collection | None:
        """Late rows, filtered by key: the history collector's SELECT (COPY cannot)."""
        return self.history.amend(window, archived_keys, amendment, spool)

    def stage_path(self, window: Window) -> str:
        """The window's path under the stage: unique to this attempt, ending in ``/``."""
        return (
            f"{self.account}/{self.spec.stream}/"
            f"{compact(window.start)}_{compact(window.end)}/{self._nonce()}/"
        )

    def copy_sql(self, window: Window, path: str) -> str:
        """``COPY INTO @stage/<path>`` of exactly the history collector's SELECT."""
        return (
            f"COPY INTO {self.stage}/{path} FROM ({self.sql(window)}) "
            "FILE_FORMAT = (TYPE = PARQUET) HEADER = TRUE OVERWRITE = FALSE "
            f"MAX_FILE_SIZE = {self._max_file_size} DETAILED_OUTPUT = TRUE"
        )

    def grant(self) -> str:
        """The privileges the collector's role needs to unload to the stage."""
        return (
            f"USAGE ON STAGE {self.stage.removeprefix('@')} (and USAGE on its database and "
            "schema; docs/OPERATIONS.md section 1a)"
        )

    def pending(self, key: str, last_end: datetime | None) -> bool:
        return self.history.pending(_PART.sub("", key, count=1), last_end)

    def _collect(self, window: Window, spool: Path) -> Collection:
        history = self.history
        extra: dict[str, Any] = history.predicate_extra()
        session = self._session()
        history.check_columns(session)
        count_sql = history.count_sql(window)
        source_count = int(session.count(count_sql, ()))
        path = self.stage_path(window)
        copy_sql = self.copy_sql(window, path)
        table, query_id = session.show(copy_sql, needs=self.grant())
        unloaded = detailed_output(table, query_id)
        versions = self._staged_versions(path, unloaded, query_id)
        stem = self.key(window).removesuffix(".parquet")
        files: list[CollectedFile] = []
        objects: list[dict[str, Any]] = []
        schema: pa.Schema | None = None
        for i, u in enumerate(unloaded):
            evidence_key = f"{stem}.part-{i:04d}.parquet"
            local = spool / evidence_key.replace("/", "__")
            version = versions[u.name]
            sha256 = copy_hashed(
                lambda start, end, u=u, version=version: self._staging.read_range(  # type: ignore[misc]
                    u.name, start, end, version
                ),
                u.size,
                local,
                part_size=self._part_size,
                workers=self._workers,
            )
            schema = self._check_footer(local, u, query_id, schema)
            files.append(
                CollectedFile(evidence_key, local, sha256, u.size, u.rows, PARQUET_MEDIA_TYPE)
            )
            objects.append(
                {
                    "key": self._full_key(u.name),
                    "version_id": version,
                    "size": u.size,
                    "rows": u.rows,
                    "sha256": sha256,
                    "path": evidence_key,
                }
            )
        if not files:
            # No row, no file: the window is still evidenced, by an empty file of its columns.
            evidence_key = f"{stem}.part-0000.parquet"
            local = spool / evidence_key.replace("/", "__")
            with DeterministicParquetWriter(local, self.output_schema):
                pass
            data = local.read_bytes()
            files.append(
                CollectedFile(
                    evidence_key,
                    local,
                    hashlib.sha256(data).hexdigest(),
                    len(data),
                    0,
                    PARQUET_MEDIA_TYPE,
                )
            )
        rows = sum(u.rows for u in unloaded)
        schema = schema or self.output_schema
        log.debug(
            "unloaded %s %s..%s: %d rows in %d files (query %s)",
            self.stream,
            rfc3339(window.start),
            rfc3339(window.end),
            rows,
            len(unloaded),
            query_id,
        )
        predicate: dict[str, Any] = {
            "source": history.source_predicate(),
            "query": {"sql": copy_sql, "query_id": query_id, "select": self.sql(window)},
            "unload": {
                "mode": "server_side_unload",
                "query_id": query_id,
                "stage": self.stage,
                "staging_uri": f"s3://{self._staging.bucket}/{self._full_key(path)}",
                "max_file_size": self._max_file_size,
                "objects": objects,
            },
            "completeness": {"count_sql": count_sql, "source_count": source_count},
            "rows": rows,
            "schema": {
                "fingerprint": schema_fingerprint(self.spec.view, schema),
                "columns": [f.name for f in schema],
                "types": [str(f.type) for f in schema],
            },
        }
        predicate.update(extra)
        return Collection(
            stream=self.stream, window=window, files=tuple(files), predicate=predicate
        )

    def _full_key(self, name: str) -> str:
        prefix = self._staging.prefix.strip("/")
        return f"{prefix}/{name}" if prefix else name

    def _staged_versions(
        self, path: str, unloaded: list[UnloadedFile], query_id: str
    ) -> dict[str, str]:
        """The one version of each file COPY wrote; a CollectorError when the staging path
        holds anything else (a file altered, added, removed or deleted since the unload)."""
        reported = {u.name: u for u in unloaded}
        for u in unloaded:
            if not u.name.startswith(path) or "/" in u.name[len(path) :]:
                raise CollectorError(
                    f"the unload (query {query_id}) reports the file {u.name}, outside the "
                    f"window's staging path {path}",
                    fix="report this: COPY INTO must name the files it wrote under its path",
                )
        listed: dict[str, list[dict[str, Any]]] = {}
        for v in self._staging.versions(path):
            listed.setdefault(v["name"], []).append(v)
        where = f"s3://{self._staging.bucket}/{self._full_key(path)}"
        problems: list[str] = []
        for name in sorted(set(listed) - set(reported)):
            problems.append(f"{name} is staged but the unload did not write it")
        found: dict[str, str] = {}
        for name, u in reported.items():
            vs = listed.get(name, [])
            if not vs:
                problems.append(f"{name} was unloaded but is not staged")
            elif len(vs) > 1 or vs[0]["size"] is None:
                problems.append(
                    f"{name} has {len(vs)} versions or a delete marker: it changed after the "
                    "unload wrote it"
                )
            elif vs[0]["size"] != u.size:
                problems.append(
                    f"{name} is {vs[0]['size']} bytes, the unload wrote {u.size}: it changed "
                    "after the unload"
                )
            else:
                found[name] = str(vs[0]["version_id"])
        if problems:
            raise CollectorError(
                f"staged files of the unload (query {query_id}) under {where} are not what "
                f"Snowflake wrote, so nothing was archived for this window: {'; '.join(problems)}",
                fix="find out who else writes to the staging prefix (only Snowflake's storage "
                "integration role should); the next run unloads the window again to a new path",
            )
        return found

    def _check_footer(
        self, local: Path, u: UnloadedFile, query_id: str, schema: pa.Schema | None
    ) -> pa.Schema:
        """The file's footer agrees with COPY's output and the view's columns."""
        try:
            meta = pq.ParquetFile(local)
            rows = meta.metadata.num_rows
            file_schema = meta.schema_arrow
        except (pa.ArrowException, OSError) as e:
            raise CollectorError(
                f"staged file {u.name} of the unload (query {query_id}) is not Parquet: {e}"
            ) from None
        if rows != u.rows:
            raise CollectorError(
                f"staged file {u.name} holds {rows} rows; the unload (query {query_id}) "
                f"wrote {u.rows}: it changed after the unload, so nothing was archived for "
                "this window",
                fix="find out who else writes to the staging prefix; the next run unloads again",
            )
        expected = [c.name for c in self.spec.columns]
        if [n.upper() for n in file_schema.names] != expected:
            raise CollectorError(
                f"staged file {u.name} of the unload (query {query_id}) has the columns "
                f"{file_schema.names}, not {expected}",
                fix="COPY INTO must run with HEADER = TRUE; report this",
            )
        if schema is not None and not file_schema.equals(schema):
            raise CollectorError(
                f"staged files of the unload (query {query_id}) differ in schema: {u.name} "
                f"has {file_schema}, an earlier one {schema}"
            )
        return file_schema


def unload_collector(
    history: HistoryCollector,
    *,
    session: SessionFactory,
    stage: str,
    staging_prefix: str,
    max_file_size: int,
    endpoint_url: str | None,
    region: str | None = None,
) -> UnloadCollector:
    """``history``'s stream unloaded to ``stage``, whose URL is ``staging_prefix``."""
    from das_evidence.aws import S3Reader, make_client

    bucket, _, prefix = staging_prefix.removeprefix("s3://").partition("/")
    if not bucket:
        raise StoreError(f"{staging_prefix!r} is not an s3://bucket/prefix/ URI")
    return UnloadCollector(
        history,
        session=session,
        stage=stage,
        staging=S3Reader(
            bucket, prefix, client=make_client("s3", endpoint_url=endpoint_url, region=region)
        ),
        max_file_size=max_file_size,
    )
