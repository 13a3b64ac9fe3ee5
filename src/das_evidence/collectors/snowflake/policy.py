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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def diff_tables(view: Compared, before: pa.Table, after: pa.Table) -> list[dict[str, str | None]]:
    """Rows added, removed and changed between two snapshots of one view or SHOW result."""

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
        raw_users: pa.Table | None = None
        for view in self._views:
            try:
                table, sql, query_id = self._read_view(session, view)
            except CollectorError as e:
                log.warning("policy view %s not evidenced: %s", view.view, e.message)
                views[view.view] = {"status": "not_evidenced", "reason": e.message}
                continue
            if view.view == "USERS":
                raw_users = table
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
            current[cmd.file] = table
            files.append(self._write(spool, f"{prefix}/{cmd.file}.parquet", table))
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
        previous = self._previous()
        everything: tuple[PolicyView | ShowCommand, ...] = (*self._views, *self._shows)
        changes: list[dict[str, str | None]] = []
        compared: list[str] = []
        not_compared: list[str] = []
        if previous is not None:
            _, before = previous
            for item in everything:
                if item.file in current and item.file in before:
                    changes.extend(diff_tables(item, before[item.file], current[item.file]))
                    compared.append(item.view)
                else:
                    not_compared.append(item.view)
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
        return CollectedFile(
            key=key,
            local_path=path,
            sha256=_sha256(path),
            size=path.stat().st_size,
            rows=table.num_rows,
            media_type=PARQUET_MEDIA_TYPE,
        )
