"""Policy-state snapshots: the controls as they stand, and what changed since the last one.

One point-in-time entry (``window.start == window.end == as_of``, where
``as_of`` is collection time minus the views' 2-hour latency, floored to the
``interval`` grid so the snapshot's keys do not depend on the minute a run
starts) holds one Parquet
file per policy view plus ``changes.parquet``: rows added, removed and changed
since the previous snapshot, by each view's natural key, comparing current
(not deleted) rows and ignoring volatile columns. The first snapshot's changes
are empty and its predicate says it is the baseline.

A view the collector's role cannot read is recorded as ``not_evidenced`` with
the reason; it is never written as an empty file. Personal data in USERS is
kept, replaced by a keyed HMAC, or dropped, per column.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from das_evidence.collectors.interface import (
    PARQUET_MEDIA_TYPE,
    ArchiveReader,
    CollectedFile,
    Collection,
    Collector,
    Window,
)
from das_evidence.collectors.parquet import DeterministicParquetWriter, read_parquet
from das_evidence.collectors.snowflake.history import floor_to
from das_evidence.collectors.snowflake.policy_views import (
    POLICY_VIEWS,
    USERS_PERSONAL_COLUMNS,
    PolicyView,
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


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def diff_tables(view: PolicyView, before: pa.Table, after: pa.Table) -> list[dict[str, str | None]]:
    """Rows added, removed and changed between two snapshots of one view."""

    def current(table: pa.Table) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for row in table.to_pylist():
            if view.deleted and row.get(view.deleted) is not None:
                continue
            rows[_dumps({k: row.get(k) for k in view.key})] = row
        return rows

    old, new = current(before), current(after)
    compared = [
        name
        for name in after.column_names
        if name in before.column_names and name not in view.volatile
    ]
    out: list[dict[str, str | None]] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None and b is not None:
            out.append(_change(view, "added", key, [], None, b))
        elif b is None and a is not None:
            out.append(_change(view, "removed", key, [], a, None))
        elif a is not None and b is not None:
            changed = [c for c in compared if a.get(c) != b.get(c)]
            if changed:
                out.append(_change(view, "changed", key, changed, a, b))
    return out


def _change(
    view: PolicyView,
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
    ) -> None:
        self.account = account
        self.stream = str(StreamId.snowflake(account, POLICY_STREAM))
        self.name = "snowflake.account_usage.policy_state"
        self._session = session
        self._hmac_key = hmac_key
        self._interval = interval
        self._views = views
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

    def _personal_data(self, table: pa.Table) -> pa.Table:
        assert self._hmac_key is not None or "hmac" not in self._personal.values()
        for column, action in sorted(self._personal.items()):
            if column not in table.column_names:
                continue
            if action == "drop":
                table = table.drop_columns([column])
            elif action == "hmac":
                key = self._hmac_key or b""
                values = [
                    None
                    if v is None
                    else hmac.new(key, str(v).encode(), hashlib.sha256).hexdigest()
                    for v in table.column(column).to_pylist()
                ]
                index = table.column_names.index(column)
                table = table.set_column(index, column, pa.array(values, pa.string()))
        return table

    def _read_view(self, session: Any, view: PolicyView) -> tuple[pa.Table, str, str]:
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
        batches = [cast_batch(view.qualified, view.columns, schema, b) for b in result.batches]
        return pa.Table.from_batches(batches, schema=view.schema()), sql, result.query_id

    def _previous(self) -> tuple[Mapping[str, Any], dict[str, pa.Table]] | None:
        if self._archive is None:
            return None
        found = self._archive.last_files(self.stream)
        if found is None:
            return None
        predicate, files = found
        tables = {
            path.rsplit("/", 1)[-1].removesuffix(".parquet"): read_parquet(data, path)
            for path, data in files.items()
        }
        return predicate, tables

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
        current: dict[str, pa.Table] = {}
        for view in self._views:
            try:
                table, sql, query_id = self._read_view(session, view)
            except CollectorError as e:
                log.warning("policy view %s not evidenced: %s", view.view, e.message)
                views[view.view] = {"status": "not_evidenced", "reason": e.message}
                continue
            if view.view == "USERS":
                table = self._personal_data(table)
            current[view.file] = table
            files.append(self._write(spool, f"{prefix}/{view.file}.parquet", table))
            views[view.view] = {
                "status": "evidenced",
                "rows": table.num_rows,
                "sql": sql,
                "query_id": query_id,
                "schema_fingerprint": schema_fingerprint(view.view, table.schema),
            }

        if not current:
            reasons = "; ".join(f"{v}: {d['reason']}" for v, d in views.items())
            raise CollectorError(
                f"no policy view could be read, so no snapshot was written ({reasons})",
                fix="grant the collector role IMPORTED PRIVILEGES on database SNOWFLAKE",
            )
        previous = self._previous()
        changes: list[dict[str, str | None]] = []
        compared: list[str] = []
        not_compared: list[str] = []
        if previous is not None:
            _, before = previous
            for view in self._views:
                if view.file in current and view.file in before:
                    changes.extend(diff_tables(view, before[view.file], current[view.file]))
                    compared.append(view.view)
                else:
                    not_compared.append(view.view)
        table = pa.Table.from_pylist(changes, schema=CHANGES_SCHEMA)
        files.append(self._write(spool, f"{prefix}/changes.parquet", table))
        counts = {
            k: sum(1 for c in changes if c["CHANGE"] == k) for k in ("added", "removed", "changed")
        }
        predicate: dict[str, Any] = {
            "source": {
                "system": "snowflake",
                "account": self.account,
                "object": "SNOWFLAKE.ACCOUNT_USAGE",
                "latency_safety_seconds": int(POLICY_LATENCY.total_seconds()),
            },
            "as_of": rfc3339(window.start),
            "views": views,
            "rows": sum(t.num_rows for t in current.values()),
            "changes": {
                "baseline": previous is None,
                "since": None if previous is None else previous[0].get("window", {}).get("start"),
                "compared_views": compared,
                "not_compared_views": not_compared,
                "counts": counts,
                "natural_keys": {v.view: list(v.key) for v in self._views},
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
        return CollectedFile(
            key=key,
            local_path=path,
            sha256=_sha256(path),
            size=path.stat().st_size,
            rows=table.num_rows,
            media_type=PARQUET_MEDIA_TYPE,
        )
