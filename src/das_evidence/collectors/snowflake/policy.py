"""Policy-state snapshots: the controls as they stand, and what changed since the last one.

One point-in-time entry (``window.start == window.end == as_of``, where
``as_of`` is collection time minus the views' 2-hour latency, floored to the
``interval`` grid so the snapshot's keys do not depend on the minute a run
starts) holds one Parquet
file per policy view plus ``changes.parquet``: rows added, removed and changed
since the previous snapshot, by each view's natural key, comparing current
(not deleted) rows and ignoring volatile columns. The first snapshot's changes
are empty and its predicate says it is the baseline.

Memory does not follow the size of a view: each view streams from the query into
its Parquet file (hashed as written), the previous snapshot is copied from the
archive to disk (checked as it streams), and polars compares the two files one
row group at a time by 128-bit hashes of each row's key and compared columns
(:func:`_changed_rows`); only the rows that differ become Python objects. The
hashes are not cryptographic: they find what changed, they do not vouch for it
(the snapshot files, hashed with SHA-256 and signed, are the evidence).

A view the collector's role cannot read is recorded as ``not_evidenced`` with
the reason; it is never written as an empty file. Personal data in USERS is
kept, replaced by a keyed HMAC, or dropped, per column.

The snapshot also archives SHOW/DESCRIBE results as Snowflake returns them
(``policy_views.SHOW_COMMANDS``): account parameters, security integrations, stages,
resource monitors, warehouses, tasks, and per user the NETWORK_POLICY parameter of
service users and the RSA key fingerprints and set times of key-pair users. A command
the role cannot run is ``not_evidenced`` naming the privilege; a per-user command is
evidence only if it ran for every user (at most ``max_user_commands`` users, the rest
named as not queried). User names in those files follow the NAME rule for USERS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from das_evidence.collectors.interface import (
    PARQUET_MEDIA_TYPE,
    ArchiveReader,
    CollectedFile,
    Collection,
    Collector,
    Window,
)
from das_evidence.collectors.parquet import (
    PARQUET_ERRORS,
    ROW_GROUP_ROWS,
    DeterministicParquetWriter,
    read_rows,
)
from das_evidence.collectors.snowflake.history import floor_to
from das_evidence.collectors.snowflake.policy_views import (
    POLICY_VIEWS,
    SHOW_COMMANDS,
    SHOW_ROW_LIMIT,
    USERS_PERSONAL_COLUMNS,
    Compared,
    PolicyView,
    ShowCommand,
)
from das_evidence.collectors.snowflake.views import cast_batch, schema_fingerprint
from das_evidence.errors import CollectorError
from das_evidence.streams import POLICY_LATENCY, POLICY_STREAM, StreamId
from das_evidence.timefmt import compact, rfc3339

log = logging.getLogger(__name__)

CHANGES_SCHEMA = pa.schema(
    [
        pa.field("VIEW", pa.string()),
        pa.field("CHANGE", pa.string()),
        pa.field("KEY", pa.string()),
        pa.field("CHANGED_COLUMNS", pa.string()),
        pa.field("BEFORE", pa.string()),
        pa.field("AFTER", pa.string()),
    ]
)
PERSONAL_DATA_ACTIONS = ("keep", "hmac", "drop")
#: Per-user SHOW/DESCRIBE commands run per snapshot, at most (one round trip each).
MAX_USER_COMMANDS = 200
SERVICE_USER_TYPES = ("SERVICE", "LEGACY_SERVICE")


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json)


#: Changed rows turned into JSON at a time: bounds the Python objects alive at once.
_CHUNK_ROWS = 8192


@dataclass(frozen=True)
class _Snapshot:
    """One side of a comparison: a table in memory or a Parquet file on disk."""

    schema: pa.Schema
    num_rows: int
    table: pa.Table | None = None
    path: Path | None = None

    @classmethod
    def of(cls, source: pa.Table | Path) -> _Snapshot:
        if isinstance(source, pa.Table):
            return cls(source.schema, source.num_rows, table=source)
        try:
            f = pq.ParquetFile(str(source))
            return cls(f.schema_arrow, f.metadata.num_rows, path=source)
        except PARQUET_ERRORS as e:
            raise CollectorError(
                f"cannot read {source} as Parquet: {type(e).__name__}: {e}",
                fix="run `evidence verify` on the archive",
            ) from e

    def frame(self) -> Any:
        import polars as pl

        if self.table is not None:
            return pl.from_arrow(self.table).lazy()  # type: ignore[union-attr]
        assert self.path is not None
        return pl.scan_parquet(self.path)

    def rows(self, indices: pa.Array) -> pa.Table:
        if self.table is not None:
            return self.table.take(indices)
        assert self.path is not None
        return read_rows(self.path, indices)


def _dtypes(schema: pa.Schema) -> dict[str, Any]:
    import polars as pl

    return dict(pl.from_arrow(schema.empty_table()).schema)  # type: ignore[union-attr]


def _fingerprints(view: Compared, side: _Snapshot, key: Any, row: Any) -> Any:
    """For each current row of ``side`` (deleted rows left out), ``__k1``/``__k2``: two
    64-bit hashes (seeds 0 and 1) of its natural key, ``__h1``/``__h2``: the same of the
    compared columns, and ``__row``: its index in ``side``. One row per key: the last
    wins, as in a dict. Computed one row group's worth of rows at a time, so memory
    holds one row group's columns and 36 bytes for each row."""
    import polars as pl

    parts = []
    for offset in range(0, max(side.num_rows, 1), ROW_GROUP_ROWS):
        lf = side.frame().with_row_index("__row").slice(offset, ROW_GROUP_ROWS)
        if view.deleted and view.deleted in side.schema.names:
            lf = lf.filter(pl.col(view.deleted).is_null())
        part = lf.select(
            key.hash(0).alias("__k1"),
            key.hash(1).alias("__k2"),
            row.hash(0).alias("__h1"),
            row.hash(1).alias("__h2"),
            pl.col("__row"),
        )
        parts.append(part.collect())
    frame = pl.concat(parts)
    # Keys repeat only by accident (a SHOW result repeating a row), which a count of the
    # distinct first hashes rules out cheaply; then the last row of a key wins.
    if frame.get_column("__k1").n_unique() != frame.height:
        # (The streaming engine keeps no row order: put it back before "last".)
        frame = frame.sort("__row").unique(
            subset=["__k1", "__k2"], keep="last", maintain_order=True
        )
    return frame


def _changed_rows(view: Compared, before: _Snapshot, after: _Snapshot) -> pa.Table:
    """The changes of one view as a CHANGES_SCHEMA table, sorted by KEY.

    polars joins the current rows of both sides on a 128-bit hash of the natural key and
    compares a 128-bit hash of the compared columns, so only 36 bytes of each unchanged
    row are ever held. The rows that differ (and only they) are read back from their
    files and turned into change records exactly as a row-by-row comparison of dicts
    does: a pair whose key texts differ is a removal and an addition, and a hash that
    differs where the values do not (``-0.0`` and ``0.0``) yields no change. A column
    whose type differs between the snapshots (SHOW results are typed per result) is
    hashed as text, and then every pair is compared value by value.
    """
    import polars as pl

    types_b, types_a = _dtypes(before.schema), _dtypes(after.schema)
    compared = [n for n in after.schema.names if n in types_b and n not in view.volatile]
    retyped = any(types_b[c] != types_a[c] for c in compared)

    def exprs(mine: dict[str, Any], theirs: dict[str, Any]) -> tuple[Any, Any]:
        keys = []
        for name in view.key:
            if name not in mine:
                keys.append(pl.lit(None, theirs.get(name, pl.String)).alias(name))
            elif name in theirs and theirs[name] != mine[name]:
                keys.append(pl.col(name).cast(pl.String))
            else:
                keys.append(pl.col(name))
        # Without a key every row has the same (empty) key, as in a dict.
        key = pl.struct(keys) if keys else pl.lit(0, pl.UInt64)
        row = pl.struct([pl.col(c) for c in compared]) if compared else pl.lit(0, pl.UInt64)
        return key, row

    old = _fingerprints(view, before, *exprs(types_b, types_a))
    new = _fingerprints(view, after, *exprs(types_a, types_b))
    both = pl.col("__row").is_not_null() & pl.col("__row_a").is_not_null()
    differs = (pl.col("__h1") != pl.col("__h1_a")) | (pl.col("__h2") != pl.col("__h2_a"))
    wanted = (
        old.lazy()
        .join(new.lazy(), on=["__k1", "__k2"], how="full", coalesce=True, suffix="_a")
        .filter(~both | differs | retyped)
        .select("__row", "__row_a")
        .collect(engine="streaming")
    )
    del old, new
    olds = _rows_at(before, wanted.get_column("__row"))
    news = _rows_at(after, wanted.get_column("__row_a"))
    pieces: list[pa.Table] = []
    for offset in range(0, wanted.height, _CHUNK_ROWS):
        out: list[dict[str, str | None]] = []
        pairs = zip(_pylist(olds, offset), _pylist(news, offset), strict=True)
        for a, b in pairs:
            key_a = None if a is None else _key_text(view, a)
            key_b = None if b is None else _key_text(view, b)
            if key_a is not None and key_a == key_b:
                changed = [c for c in compared if a.get(c) != b.get(c)]  # type: ignore[union-attr]
                if changed:
                    out.append(_change(view, "changed", key_a, changed, a, b))
                continue
            # One side only, or a pair whose keys only hashed alike.
            if key_a is not None:
                out.append(_change(view, "removed", key_a, [], a, None))
            if key_b is not None:
                out.append(_change(view, "added", key_b, [], None, b))
        pieces.append(pa.Table.from_pylist(out, schema=CHANGES_SCHEMA))
    if not pieces:
        return CHANGES_SCHEMA.empty_table()
    # The join keeps no row order; the KEY (then CHANGE, for a key removed in one type
    # and added in another) orders the changes the same way every time.
    return pa.concat_tables(pieces).sort_by([("KEY", "ascending"), ("CHANGE", "ascending")])


def _rows_at(side: _Snapshot, indices: Any) -> tuple[pa.Table, pa.Array]:
    """The rows of ``side`` at ``indices`` (a polars Series, null where the other side
    has the row alone), read in one pass, and for each index its position among them
    (null for a null index)."""
    import pyarrow.compute as pc

    wanted = indices.to_arrow()
    if isinstance(wanted, pa.ChunkedArray):
        wanted = wanted.combine_chunks()
    present = pc.drop_null(wanted)
    table = side.rows(present) if len(present) else side.schema.empty_table()
    valid = pc.is_valid(wanted)
    # Positions 0..n-1 for the valid indices, in order; null where the index is null.
    counted = pc.subtract(pc.cumulative_sum(pc.cast(valid, pa.int64())), 1)
    return table, pc.if_else(valid, counted, pa.scalar(None, pa.int64()))


def _pylist(found: tuple[pa.Table, pa.Array], offset: int) -> list[dict[str, Any] | None]:
    """One chunk of :func:`_rows_at`'s rows as dicts, None where there is none."""
    table, positions = found
    chunk = positions.slice(offset, _CHUNK_ROWS)
    rows = table.take(chunk).to_pylist()
    return [None if p is None else r for p, r in zip(chunk.to_pylist(), rows, strict=True)]


def _change(
    view: Compared,
    change: str,
    key: str,
    columns: list[str],
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, str | None]:
    return {
        "VIEW": view.view,
        "CHANGE": change,
        "KEY": key,
        "CHANGED_COLUMNS": _dumps(columns),
        "BEFORE": None if before is None else _dumps(before),
        "AFTER": None if after is None else _dumps(after),
    }


def _key_text(view: Compared, row: dict[str, Any]) -> str:
    return _dumps({k: row.get(k) for k in view.key})


def diff_tables(
    view: Compared, before: pa.Table | Path, after: pa.Table | Path
) -> list[dict[str, str | None]]:
    """Rows added, removed and changed between two snapshots of one view or SHOW result
    (tables, or Parquet files), sorted by KEY."""
    return _changed_rows(view, _Snapshot.of(before), _Snapshot.of(after)).to_pylist()  # type: ignore[no-any-return]


#: The USERS columns :func:`users_for` reads.
USER_SELECTION_COLUMNS = ("NAME", "TYPE", "HAS_RSA_PUBLIC_KEY", "HAS_PASSWORD", "DELETED_ON")


def users_for(kind: str, users: pa.Table) -> list[str]:
    """The current users (USERS rows) a per-user command runs for, sorted: ``service``
    (TYPE SERVICE or LEGACY_SERVICE, or a key pair without a password) or ``key_pair``
    (HAS_RSA_PUBLIC_KEY)."""
    names = set()
    for row in users.select(list(USER_SELECTION_COLUMNS)).to_pylist():
        if row.get("DELETED_ON") is not None or not row.get("NAME"):
            continue
        key_pair = bool(row.get("HAS_RSA_PUBLIC_KEY"))
        if kind == "key_pair":
            chosen = key_pair
        else:
            chosen = str(row.get("TYPE") or "").upper() in SERVICE_USER_TYPES or (
                key_pair and not row.get("HAS_PASSWORD")
            )
        if chosen:
            names.add(str(row["NAME"]))
    return sorted(names)


def _keeps(cmd: ShowCommand, table: pa.Table) -> pa.Array:
    if "property" not in table.column_names:
        raise CollectorError(
            f"{cmd.command} returned no property column (columns: {table.column_names})",
            fix="Snowflake changed the DESCRIBE output; update policy_views.SHOW_COMMANDS",
        )
    return pa.array([cmd.keeps(p) for p in table.column("property").to_pylist()], pa.bool_())


class PolicyStateCollector(Collector):
    """Point-in-time snapshots of an account's access controls."""

    def __init__(
        self,
        *,
        account: str,
        session: Callable[[], Any],
        hmac_key: bytes | None,
        personal_data: Mapping[str, str] | None = None,
        interval: timedelta = timedelta(days=1),
        views: tuple[PolicyView, ...] = POLICY_VIEWS,
        shows: tuple[ShowCommand, ...] = SHOW_COMMANDS,
        max_user_commands: int = MAX_USER_COMMANDS,
    ) -> None:
        self.account = account
        self.stream = str(StreamId.snowflake(account, POLICY_STREAM))
        self.name = "snowflake.account_usage.policy_state"
        self._session = session
        self._hmac_key = hmac_key
        self._interval = interval
        self._views = views
        self._shows = shows
        self._max_user_commands = max_user_commands
        self._personal = dict(USERS_PERSONAL_COLUMNS)
        for column, action in (personal_data or {}).items():
            if action not in PERSONAL_DATA_ACTIONS:
                raise CollectorError(
                    f"personal_data.{column} = {action!r} is not one of keep, hmac, drop"
                )
            self._personal[column.upper()] = action
        if "hmac" in self._personal.values() and hmac_key is None:
            raise CollectorError("policy_state needs the redaction HMAC key for USERS columns")
        self._archive: ArchiveReader | None = None

    def _attach(self, archive: ArchiveReader) -> None:
        self._archive = archive

    def as_of(self, now: datetime) -> datetime:
        """The snapshot time due at ``now``: ``now`` minus the latency, floored to the
        interval grid (multiples of ``interval`` since the Unix epoch: midnight UTC for a
        day), so every writer within one grid step names the snapshot the same."""
        return floor_to(now - POLICY_LATENCY, self._interval)

    def _due_windows(self, last_end: datetime | None, now: datetime) -> list[Window]:
        as_of = self.as_of(now)
        if last_end is not None and as_of <= last_end:
            return []
        return [Window(as_of, as_of)]

    def evidence_prefix(self) -> str:
        return f"evidence/snowflake/{self.account}/policy_state/"

    def pending(self, key: str, last_end: datetime | None) -> bool:
        """A file is pending while its snapshot is after the stream's newest."""
        if last_end is None:
            return True
        parts = key.split("/")
        segment = parts[-2] if len(parts) >= 2 else ""
        try:
            as_of = datetime.strptime(segment.removeprefix("as_of="), "%Y%m%dT%H%M%SZ")
        except ValueError:
            return False
        return as_of.replace(tzinfo=UTC) > last_end

    def _personal_schema(self, schema: pa.Schema) -> pa.Schema:
        """The USERS schema as archived: dropped columns gone, HMAC columns text."""
        fields = []
        for f in schema:
            action = self._personal.get(f.name)
            if action == "drop":
                continue
            fields.append(pa.field(f.name, pa.string()) if action == "hmac" else f)
        return pa.schema(fields)

    def _personal_data(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """USERS personal data kept, replaced by its keyed HMAC or dropped, per column.

        Neither pyarrow nor polars has an HMAC kernel, so each distinct value of a
        batch is digested once (from a keyed HMAC state copied, not re-keyed) and the
        digests are mapped back onto the column with Arrow's ``take``."""
        import pyarrow.compute as pc

        assert self._hmac_key is not None or "hmac" not in self._personal.values()
        keyed = hmac.new(self._hmac_key or b"", digestmod=hashlib.sha256)

        def digest(value: object) -> str:
            h = keyed.copy()
            h.update(str(value).encode())
            return h.hexdigest()

        arrays = []
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            action = self._personal.get(name)
            if action == "drop":
                continue
            if action == "hmac":
                encoded = pc.dictionary_encode(column)
                digests = pa.array([digest(v) for v in encoded.dictionary.to_pylist()], pa.string())
                column = pc.take(digests, encoded.indices)
            arrays.append(column)
        return pa.RecordBatch.from_arrays(arrays, schema=self._personal_schema(batch.schema))

    def _user_label(self, name: str) -> str:
        """A user's name as the per-user files record it: as USERS records NAME (kept by
        default); a keyed HMAC when NAME is configured hmac or drop."""
        if self._personal.get("NAME", "keep") == "keep":
            return name
        return hmac.new(self._hmac_key or b"", name.encode(), hashlib.sha256).hexdigest()

    def _run_show(
        self, session: Any, cmd: ShowCommand, users: pa.Table | None
    ) -> tuple[pa.Table, dict[str, Any]]:
        """One SHOW/DESCRIBE (or one per user), its table and its predicate entry."""
        if cmd.per_user is None:
            table, query_id = session.show(cmd.sql(), needs=cmd.grant)
            table = table.filter(_keeps(cmd, table)) if cmd.keep_properties else table
            if table.num_rows == 0 and not cmd.scoped:
                raise CollectorError(
                    f"{cmd.command} returned no rows, which it cannot for a role allowed to run it",
                    fix=f"grant the collector's role {cmd.grant}",
                )
            entry: dict[str, Any] = {"command": cmd.command, "query_id": query_id}
            if table.num_rows >= SHOW_ROW_LIMIT:
                entry["note"] = (
                    f"{table.num_rows} rows: Snowflake returns at most {SHOW_ROW_LIMIT} rows "
                    "for a SHOW, so the result may be cut short"
                )
            return table, entry
        if users is None:
            raise CollectorError(
                "the USERS view was not evidenced, so the users to query are unknown",
                fix="grant the collector role DATABASE ROLE SNOWFLAKE.SECURITY_VIEWER",
            )
        names = users_for(cmd.per_user, users)
        queried, skipped = names[: self._max_user_commands], names[self._max_user_commands :]
        parts: list[pa.Table] = []
        query_ids: list[str] = []
        for name in queried:
            part, query_id = session.show(cmd.sql(name), needs=cmd.grant)
            if cmd.keep_properties:
                part = part.filter(_keeps(cmd, part))
            label = pa.array([self._user_label(name)] * part.num_rows, pa.string())
            parts.append(part.add_column(0, pa.field("user_name", pa.string()), label))
            query_ids.append(query_id)
        if parts:
            table = pa.concat_tables(parts, promote_options="permissive")
        else:
            table = pa.table({"user_name": pa.array([], pa.string())})
        entry = {
            "command": cmd.command,
            "query_id": query_ids[0] if query_ids else None,
            "query_ids": query_ids,
            "users": {
                "selected": "TYPE SERVICE or LEGACY_SERVICE, or a key pair without a password"
                if cmd.per_user == "service"
                else "HAS_RSA_PUBLIC_KEY",
                "queried": len(queried),
            },
        }
        if skipped:
            entry["users"]["not_queried"] = [self._user_label(n) for n in skipped]
            entry["note"] = (
                f"truncated: {len(names)} users qualify, the first {len(queried)} by name were "
                f"queried (max_user_commands); the rest are listed as not_queried"
            )
        if not queried:
            entry["note"] = "no current user qualifies, so nothing was queried"
        return table, entry

    def _read_view(
        self, session: Any, view: PolicyView, spool: Path, key: str
    ) -> tuple[CollectedFile, str, str, pa.Table | None]:
        """Stream one view into its Parquet file, batch by batch: the file, the SQL, the
        query id, and for USERS the columns :func:`users_for` reads, before personal data
        is replaced. A read that fails leaves no file behind."""
        present = set(session.columns(view.qualified))
        missing = [c.name for c in view.columns if c.name not in present]
        if missing:
            raise CollectorError(
                f"view {view.qualified} has no column {', '.join(missing)}",
                fix="check the collector role sees the documented view",
            )
        cols = ", ".join(c.name for c in view.columns)
        sql = f"SELECT {cols} FROM {view.qualified} ORDER BY {', '.join(view.key)}"
        result = session.query_arrow(sql, ())
        schema = view.schema()
        users = view.view == "USERS"
        selected: list[pa.RecordBatch] = []
        path = spool / key.replace("/", "__")
        try:
            written = self._personal_schema(schema) if users else schema
            with DeterministicParquetWriter(path, written) as writer:
                for raw in result.batches:
                    batch = cast_batch(view.qualified, view.columns, schema, raw)
                    if users:
                        selected.append(batch.select(list(USER_SELECTION_COLUMNS)))
                        batch = self._personal_data(batch)
                    writer.write(batch)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        raw_users = None
        if users:
            fields = [schema.field(c) for c in USER_SELECTION_COLUMNS]
            raw_users = pa.Table.from_batches(selected, schema=pa.schema(fields))
        return _collected(key, writer), sql, result.query_id, raw_users

    def _previous(self, into: Path) -> tuple[Mapping[str, Any], dict[str, Path]] | None:
        """The previous snapshot's predicate and its files, copied into ``into`` (each
        checked against its signed digest as it streams), by file stem."""
        if self._archive is None:
            return None
        found = self._archive.last_files_to(self.stream, into)
        if found is None:
            return None
        predicate, files = found
        paths = {
            name.rsplit("/", 1)[-1].removesuffix(".parquet"): path for name, path in files.items()
        }
        return predicate, paths

    def key_prefix(self, as_of: datetime) -> str:
        """``.../policy_state/date=<day>/as_of=<compact>``: every directory below the stream
        is a Hive ``key=value`` partition, so the stream reads as one partitioned table per
        view. Older snapshots have a bare ``<compact>`` segment instead and stay valid:
        nothing reads keys back (SQL views, reports and verification go by the signed log)."""
        day = as_of.astimezone(UTC).strftime("%Y-%m-%d")
        return f"evidence/snowflake/{self.account}/policy_state/date={day}/as_of={compact(as_of)}"

    def _collect(self, window: Window, spool: Path) -> Collection:
        session = self._session()
        prefix = self.key_prefix(window.start)
        files: list[CollectedFile] = []
        views: dict[str, Any] = {}
        current: dict[str, CollectedFile] = {}
        raw_users: pa.Table | None = None
        for view in self._views:
            key = f"{prefix}/{view.file}.parquet"
            try:
                written, sql, query_id, users = self._read_view(session, view, spool, key)
            except CollectorError as e:
                log.warning("policy view %s not evidenced: %s", view.view, e.message)
                views[view.view] = {"status": "not_evidenced", "reason": e.message}
                continue
            if users is not None:
                raw_users = users
            current[view.file] = written
            files.append(written)
            schema = self._personal_schema(view.schema()) if view.view == "USERS" else None
            views[view.view] = {
                "status": "evidenced",
                "rows": written.rows,
                "sql": sql,
                "query_id": query_id,
                "schema_fingerprint": schema_fingerprint(view.view, schema or view.schema()),
            }

        for cmd in self._shows:
            try:
                table, entry = self._run_show(session, cmd, raw_users)
            except CollectorError as e:
                log.warning("%s not evidenced: %s", cmd.view, e.message)
                views[cmd.view] = {
                    "status": "not_evidenced",
                    "command": cmd.command,
                    "reason": e.message,
                    "grant": cmd.grant,
                }
                continue
            written = self._write(spool, f"{prefix}/{cmd.file}.parquet", table)
            current[cmd.file] = written
            files.append(written)
            views[cmd.view] = {
                "status": "evidenced",
                **entry,
                "rows": table.num_rows,
                "schema_fingerprint": schema_fingerprint(cmd.view, table.schema),
            }
            if cmd.scoped:
                views[cmd.view]["visibility"] = (
                    f"lists only the objects the collector's role has a privilege on ({cmd.grant})"
                )

        if not current:
            reasons = "; ".join(f"{v}: {d['reason']}" for v, d in views.items())
            raise CollectorError(
                f"no policy view could be read, so no snapshot was written ({reasons})",
                fix="grant the collector role IMPORTED PRIVILEGES on database SNOWFLAKE",
            )
        everything: tuple[PolicyView | ShowCommand, ...] = (*self._views, *self._shows)
        compared: list[str] = []
        not_compared: list[str] = []
        counts = dict.fromkeys(("added", "removed", "changed"), 0)
        changes_key = f"{prefix}/changes.parquet"
        changes_path = spool / changes_key.replace("/", "__")
        with tempfile.TemporaryDirectory(dir=spool, prefix=".previous-") as scratch:
            previous = self._previous(Path(scratch))
            try:
                with DeterministicParquetWriter(changes_path, CHANGES_SCHEMA) as writer:
                    for item in everything if previous is not None else ():
                        assert previous is not None
                        before = previous[1].get(item.file)
                        if item.file not in current or before is None:
                            not_compared.append(item.view)
                            continue
                        after = current[item.file].local_path
                        table = _changed_rows(item, _Snapshot.of(before), _Snapshot.of(after))
                        for name, n in _counts(table).items():
                            counts[name] += n
                        for batch in table.to_batches():
                            writer.write(batch)
                        compared.append(item.view)
            except BaseException:
                changes_path.unlink(missing_ok=True)
                raise
        files.append(_collected(changes_key, writer))
        predicate: dict[str, Any] = {
            "source": {
                "system": "snowflake",
                "account": self.account,
                "object": "SNOWFLAKE.ACCOUNT_USAGE",
                "latency_safety_seconds": int(POLICY_LATENCY.total_seconds()),
            },
            "as_of": rfc3339(window.start),
            "views": views,
            "rows": sum(f.rows or 0 for f in current.values()),
            "changes": {
                "baseline": previous is None,
                "since": None if previous is None else previous[0].get("window", {}).get("start"),
                "compared_views": compared,
                "not_compared_views": not_compared,
                "counts": counts,
                "natural_keys": {v.view: list(v.key) for v in everything},
                "volatile": {v.view: list(v.volatile) for v in everything if v.volatile},
            },
            "personal_data": {
                "USERS": dict(sorted(self._personal.items())),
                "hmac_key_sha256": hashlib.sha256(self._hmac_key).hexdigest()
                if self._hmac_key
                else None,
            },
        }
        if previous is None:
            predicate["changes"]["note"] = "first snapshot: nothing to compare with"
        return Collection(self.stream, window, tuple(files), predicate)

    def _write(self, spool: Path, key: str, table: pa.Table) -> CollectedFile:
        path = spool / key.replace("/", "__")
        with DeterministicParquetWriter(path, table.schema) as writer:
            for batch in table.to_batches():
                writer.write(batch)
        return _collected(key, writer)


def _collected(key: str, writer: DeterministicParquetWriter) -> CollectedFile:
    """The closed ``writer``'s file as the evidence file ``key``."""
    return CollectedFile(
        key=key,
        local_path=writer.path,
        sha256=writer.sha256,
        size=writer.size,
        rows=writer.rows,
        media_type=PARQUET_MEDIA_TYPE,
    )


def _counts(changes: pa.Table) -> dict[str, int]:
    import pyarrow.compute as pc

    found = pc.value_counts(changes.column("CHANGE")).to_pylist()
    return {str(c["values"]): int(c["counts"]) for c in found}
