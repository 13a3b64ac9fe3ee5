"""Small in-memory EvidenceSets for the control checks: predicates plus Parquet bytes.

:class:`EvidenceBuilder` writes real Parquet (the collectors' pinned schemas, columns
not given are NULL) and predicates shaped as docs/FORMAT.md describes, so the checks
read these sets exactly as they read an archive. The row helpers below name the
columns a check looks at and nothing else.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.collectors.dbt.tables import NODES_SCHEMA, TESTS_SCHEMA
from das_evidence.collectors.snowflake.policy import CHANGES_SCHEMA
from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS
from das_evidence.collectors.snowflake.views import VIEWS
from das_evidence.reports.checks import CheckContext, ChecksConfig
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.timefmt import compact, rfc3339

START = datetime(2026, 11, 20, tzinfo=UTC)
END = datetime(2026, 11, 27, tzinfo=UTC)
NOW = END  # the report runs as the period closes
ACCOUNT = "ACME_PROD"
PARQUET = "application/vnd.apache.parquet"
POLICY_SCHEMAS = {v.view: v.schema() for v in POLICY_VIEWS}
HISTORY_KINDS = ("access_history", "login_history", "query_history", "sessions")


def config(**overrides: Any) -> CheckContext:
    """The checks' context at ``NOW`` (or ``now=``), with ``[checks]`` settings overridden."""
    return CheckContext(overrides.pop("now", NOW), ChecksConfig(**overrides))


def _table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    unknown = {k for r in rows for k in r} - set(schema.names)
    if unknown:
        raise AssertionError(f"no such column(s): {sorted(unknown)}")
    return pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema)


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


class EvidenceBuilder:
    """Entries (in log order) and the files they name, for one period."""

    #: where built sets put their files for polars to scan by path (see ``file_access``)
    LOCAL: ClassVar[Path | None] = None

    def __init__(self, start: datetime = START, end: datetime = END) -> None:
        self.start = start
        self.end = end
        self.entries: list[EvidenceEntry] = []
        self.files: dict[str, bytes] = {}

    def _entry(
        self,
        stream: str,
        start: datetime,
        end: datetime,
        files: Iterable[tuple[str, bytes, int]],
        **predicate: Any,
    ) -> EvidenceEntry:
        listed = []
        for path, data, rows in files:
            self.files[path] = data
            listed.append(
                {
                    "path": path,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "media_type": PARQUET,
                    "rows": rows,
                }
            )
        entry = EvidenceEntry(
            len(self.entries),
            stream,
            {
                "log": {"index": len(self.entries)},
                "stream": stream,
                "window": {"start": rfc3339(start), "end": rfc3339(end)},
                "collected_at": rfc3339(end),
                "files": listed,
                **predicate,
            },
        )
        self.entries.append(entry)
        return entry

    def history(
        self,
        kind: str,
        rows: Sequence[Mapping[str, Any]] = (),
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> EvidenceEntry:
        """One window of a history view; by default the whole period up to ``now - 2h``."""
        start = start or self.start
        end = end or NOW - timedelta(hours=2)
        table = _table(rows, VIEWS[kind].schema())
        day = start.strftime("%Y-%m-%d")
        path = (
            f"evidence/snowflake/{ACCOUNT}/{kind}/date={day}/"
            f"{compact(start)}_{compact(end)}.parquet"
        )
        return self._entry(
            f"snowflake/{ACCOUNT}/{kind}",
            start,
            end,
            [(path, _parquet(table), table.num_rows)],
            rows=table.num_rows,
        )

    def snapshot(
        self,
        as_of: datetime,
        views: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        changes: Sequence[Mapping[str, Any]] | None = None,
        since: datetime | None = None,
        not_evidenced: Mapping[str, str] | None = None,
    ) -> EvidenceEntry:
        """A policy-state snapshot; ``changes=None`` makes it the stream's baseline."""
        prefix = (
            f"evidence/snowflake/{ACCOUNT}/policy_state/"
            f"date={as_of.strftime('%Y-%m-%d')}/as_of={compact(as_of)}"
        )
        files = []
        status: dict[str, Any] = {}
        for view, rows in views.items():
            table = _table(rows, POLICY_SCHEMAS[view])
            files.append((f"{prefix}/{view.lower()}.parquet", _parquet(table), table.num_rows))
            status[view] = {"status": "evidenced", "rows": table.num_rows}
        for view, reason in (not_evidenced or {}).items():
            status[view] = {"status": "not_evidenced", "reason": reason}
        change_table = _table(changes or [], CHANGES_SCHEMA)
        files.append((f"{prefix}/changes.parquet", _parquet(change_table), change_table.num_rows))
        baseline = changes is None
        compared = [] if baseline else [v for v in views if v in status]
        return self._entry(
            f"snowflake/{ACCOUNT}/policy_state",
            as_of,
            as_of,
            files,
            as_of=rfc3339(as_of),
            views=status,
            changes={
                "baseline": baseline,
                "since": None if baseline else rfc3339(since or as_of - timedelta(days=1)),
                "compared_views": compared,
                "not_compared_views": [],
                "counts": {},
            },
        )

    def dbt(
        self,
        generated_at: datetime,
        *,
        nodes: Sequence[Mapping[str, Any]] = (),
        tests: Sequence[Mapping[str, Any]] = (),
        project: str = "jaffle_health",
        invocation_id: str = "00000000-0000-4000-8000-000000000001",
    ) -> EvidenceEntry:
        prefix = (
            f"evidence/dbt/{project}/date={generated_at.strftime('%Y-%m-%d')}/"
            f"invocation_id={invocation_id}"
        )
        files = []
        for name, rows, schema in (("nodes", nodes, NODES_SCHEMA), ("tests", tests, TESTS_SCHEMA)):
            table = _table(rows, schema)
            files.append((f"{prefix}/{name}.parquet", _parquet(table), table.num_rows))
        return self._entry(
            f"dbt/{project}/{invocation_id}",
            generated_at,
            generated_at,
            files,
            dbt={"project": project, "invocation_id": invocation_id},
        )

    def all_history(self) -> None:
        """Each history stream covering the period, with no rows (completeness fixtures)."""
        for kind in HISTORY_KINDS:
            self.history(kind)

    def build(self, streams_expected: Sequence[str] = ()) -> EvidenceSet:
        files = dict(self.files)

        def read(path: str) -> bytes:
            return files[path]

        if self.LOCAL is None:
            return EvidenceSet(
                self.entries,
                read,
                start=self.start,
                end=self.end,
                streams_expected=streams_expected,
            )
        root = Path(tempfile.mkdtemp(dir=self.LOCAL))
        for path, data in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        return EvidenceSet(
            self.entries,
            read,
            start=self.start,
            end=self.end,
            streams_expected=streams_expected,
            local=lambda path: root / path,
        )


@pytest.fixture(autouse=True, params=["in_memory", "local_paths"])
def file_access(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every check test runs twice: the set's files read through its reader (a pack, an
    S3 store), and scanned by polars from local paths (a directory store)."""
    EvidenceBuilder.LOCAL = tmp_path if request.param == "local_paths" else None
    try:
        yield str(request.param)
    finally:
        EvidenceBuilder.LOCAL = None


@pytest.fixture
def builder() -> EvidenceBuilder:
    return EvidenceBuilder()


# -- rows -----------------------------------------------------------------------------------


def user(name: str, *, mfa: bool | None = True, **columns: Any) -> dict[str, Any]:
    return {
        "USER_ID": zlib.crc32(name.encode()) % 10_000,
        "NAME": name,
        "LOGIN_NAME": name,
        "TYPE": "PERSON",
        "HAS_MFA": mfa,
        "HAS_PASSWORD": True,
        "DISABLED": "false",
        **columns,
    }


def user_grant(role: str, user_name: str, **columns: Any) -> dict[str, Any]:
    return {
        "CREATED_ON": START - timedelta(days=300),
        "ROLE": role,
        "GRANTED_TO": "USER",
        "GRANTEE_NAME": user_name,
        "GRANTED_BY": "SECURITYADMIN",
        **columns,
    }


def role_grant(role: str, to_role: str, **columns: Any) -> dict[str, Any]:
    """USAGE on role ``role`` granted to role ``to_role`` (``to_role`` inherits ``role``)."""
    return {
        "CREATED_ON": START - timedelta(days=300),
        "PRIVILEGE": "USAGE",
        "GRANTED_ON": "ROLE",
        "NAME": role,
        "GRANTED_TO": "ROLE",
        "GRANTEE_NAME": to_role,
        **columns,
    }


PATIENTS = "CLINICAL.PUBLIC.PATIENTS"


def tag(obj: str, column: str | None, name: str = "PHI", value: str = "x") -> dict[str, Any]:
    db, schema, table = obj.split(".")
    return {
        "TAG_DATABASE": "GOVERNANCE",
        "TAG_SCHEMA": "TAGS",
        "TAG_NAME": name,
        "TAG_VALUE": value,
        "OBJECT_DATABASE": db,
        "OBJECT_SCHEMA": schema,
        "OBJECT_NAME": table,
        "DOMAIN": "COLUMN" if column else "TABLE",
        "COLUMN_NAME": column,
    }


def policy_ref(
    obj: str,
    column: str | None,
    policy: str = "SSN_MASK",
    *,
    kind: str = "MASKING_POLICY",
    status: str | None = "ACTIVE",
    policy_id: int = 2001,
) -> dict[str, Any]:
    db, schema, table = obj.split(".")
    return {
        "POLICY_DB": "GOVERNANCE",
        "POLICY_SCHEMA": "POLICIES",
        "POLICY_ID": policy_id,
        "POLICY_NAME": policy,
        "POLICY_KIND": kind,
        "REF_DATABASE_NAME": db,
        "REF_SCHEMA_NAME": schema,
        "REF_ENTITY_NAME": table,
        "REF_ENTITY_DOMAIN": "TABLE",
        "REF_COLUMN_NAME": column,
        "POLICY_STATUS": status,
    }


def masking_policy(
    name: str = "SSN_MASK",
    policy_id: int = 2001,
    *,
    created: datetime = START - timedelta(days=400),
    altered: datetime | None = None,
    deleted: datetime | None = None,
    body: str = "CASE WHEN IS_ROLE_IN_SESSION('PHI_READER') THEN val ELSE '***' END",
) -> dict[str, Any]:
    return {
        "POLICY_NAME": name,
        "POLICY_ID": policy_id,
        "POLICY_SCHEMA": "POLICIES",
        "POLICY_CATALOG": "GOVERNANCE",
        "POLICY_BODY": body,
        "CREATED": created,
        "LAST_ALTERED": altered or created,
        "DELETED": deleted,
    }


def change(
    view: str,
    kind: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    columns: Sequence[str] = (),
) -> dict[str, Any]:
    """A changes.parquet row, serialised the way the collector does (RFC 3339 times)."""

    def dumps(row: Mapping[str, Any] | None) -> str | None:
        if row is None:
            return None
        return json.dumps(
            dict(row),
            sort_keys=True,
            separators=(",", ":"),
            default=lambda v: rfc3339(v) if isinstance(v, datetime) else v,
        )

    row = after or before or {}
    key = {k: row.get(k) for k in ("POLICY_ID",)}
    return {
        "VIEW": view,
        "CHANGE": kind,
        "KEY": json.dumps(key),
        "CHANGED_COLUMNS": json.dumps(list(columns)),
        "BEFORE": dumps(before),
        "AFTER": dumps(after),
    }


def login(
    at: datetime,
    user_name: str,
    ip: str,
    *,
    ok: bool = False,
    event_id: int | None = None,
) -> dict[str, Any]:
    return {
        "EVENT_ID": event_id if event_id is not None else int(at.timestamp() * 1000) % 10**12,
        "EVENT_TIMESTAMP": at,
        "EVENT_TYPE": "LOGIN",
        "USER_NAME": user_name,
        "CLIENT_IP": ip,
        "IS_SUCCESS": "YES" if ok else "NO",
        "ERROR_CODE": None if ok else 390100,
    }


def objects(*accessed: tuple[str, Sequence[str]]) -> str:
    """ACCESS_HISTORY's ``*_OBJECTS_ACCESSED`` JSON for ``(qualified name, columns)`` pairs."""
    return json.dumps(
        [
            {
                "objectDomain": "Table",
                "objectName": name,
                "columns": [{"columnName": c} for c in cols],
            }
            for name, cols in accessed
        ]
    )


def access(
    query_id: str,
    at: datetime,
    user_name: str,
    *base: tuple[str, Sequence[str]],
    direct: Sequence[tuple[str, Sequence[str]]] | None = None,
    masked: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    return {
        "QUERY_ID": query_id,
        "QUERY_START_TIME": at,
        "USER_NAME": user_name,
        "BASE_OBJECTS_ACCESSED": objects(*base),
        "DIRECT_OBJECTS_ACCESSED": objects(*(base if direct is None else direct)),
        "POLICIES_REFERENCED": json.dumps(
            [
                {
                    "objectName": obj,
                    "columns": [
                        {"columnName": col, "policies": [{"policyKind": "MASKING_POLICY"}]}
                    ],
                }
                for obj, col in masked
            ]
        ),
    }


def query(query_id: str, at: datetime, user_name: str, role: str | None) -> dict[str, Any]:
    return {
        "QUERY_ID": query_id,
        "START_TIME": at,
        "USER_NAME": user_name,
        "ROLE_NAME": role,
        "EXECUTION_STATUS": "SUCCESS",
    }


def dbt_test(
    unique_id: str, status: str | None, evidence_status: str, **columns: Any
) -> dict[str, Any]:
    return {
        "unique_id": unique_id,
        "name": unique_id.split(".")[-1],
        "test_type": "generic",
        "attached_node": "model.jaffle_health.stg_patients",
        "status": status,
        "evidence_status": evidence_status,
        **columns,
    }


def dbt_model(
    name: str,
    *,
    contract: bool | None,
    classifications: Mapping[str, str] | None = None,
    tags: Sequence[str] = (),
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "unique_id": f"model.jaffle_health.{name}",
        "resource_type": "model",
        "name": name,
        "original_file_path": f"models/{name}.sql",
        "relation_name": f'"db"."main"."{name}"',
        "contract_enforced": contract,
        "tags": json.dumps(sorted(tags)),
        "meta": json.dumps(dict(meta or {})),
        "column_classifications": json.dumps(dict(classifications or {})),
    }
