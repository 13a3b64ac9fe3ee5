"""Small signed archives for the SQL views: real entries, real keys, the collectors' schemas.

:class:`ArchiveBuilder` appends entries through :class:`ArchiveLog` with an
Ed25519 key, writing each Parquet file (pinned schema, columns not given are
NULL) under the key the collectors use, or under any key a test asks for (an
older layout).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.collectors.dbt.tables import SCHEMAS as DBT_SCHEMAS
from das_evidence.collectors.snowflake.policy import CHANGES_SCHEMA
from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS
from das_evidence.collectors.snowflake.views import VIEWS
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.timefmt import compact, rfc3339

ORIGIN = "evidence.example.com/sql-test"
T0 = datetime(2026, 11, 20, tzinfo=UTC)
PARQUET = "application/vnd.apache.parquet"
POLICY_SCHEMAS = {v.view: v.schema() for v in POLICY_VIEWS}


def parquet(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> tuple[bytes, int]:
    unknown = {k for r in rows for k in r} - set(schema.names)
    assert not unknown, f"no such column(s): {sorted(unknown)}"
    table = pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema)
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue(), table.num_rows


def objects(*accessed: tuple[str, Sequence[str]]) -> str:
    """BASE_OBJECTS_ACCESSED JSON as Snowflake writes it: (object, [columns])."""
    return json.dumps(
        [
            {
                "objectDomain": "Table",
                "objectId": i,
                "objectName": name,
                **({"columns": [{"columnId": j, "columnName": c} for j, c in enumerate(cols)]}),
            }
            for i, (name, cols) in enumerate(accessed)
        ]
    )


class ArchiveBuilder:
    def __init__(self, root: Path) -> None:
        keys = write_key_pair(root / "keys", ORIGIN)
        self.root = root
        self.signer = Ed25519Signer.from_file(keys["key"], ORIGIN)
        self.pub = keys["pub"]
        self.vkey = keys["vkey"]
        self.store = LocalStore(root / "archive", create=True)
        self.log = ArchiveLog(self.store, ORIGIN)
        self.config = root / "evidence.toml"
        self.config.write_text(
            f'[store]\nuri = "{self.store.root}"\n[signing]\nkey = "{keys["key"]}"\n'
            f'[log]\norigin = "{ORIGIN}"\n'
        )

    def append(
        self,
        stream: str,
        start: datetime,
        end: datetime,
        files: Sequence[tuple[str, bytes, int]],
        **predicate: Any,
    ) -> int:
        listed = []
        for key, data, rows in files:
            self.store.put_once(key, data)
            sha = hashlib.sha256(data).hexdigest()
            listed.append(EvidenceFile(key, sha, len(data), PARQUET, rows))
        entry = self.log.append(
            stream=stream,
            files=listed,
            predicate={
                "collector": {"name": "test", "version": "0"},
                "window": {"start": rfc3339(start), "end": rfc3339(end)},
                "collected_at": rfc3339(end),
                **predicate,
            },
            signer=self.signer,
            note_signer=self.signer,
        )
        return entry.index

    def history(
        self,
        view: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        account: str = "ACME",
        start: datetime = T0,
        end: datetime = T0 + timedelta(days=1),
        amends: int | None = None,
    ) -> int:
        data, n = parquet(rows, VIEWS[view].schema())
        name = f"{compact(start)}_{compact(end)}"
        if amends is not None:
            name += f".amend-{amends}"
        key = f"evidence/snowflake/{account}/{view}/date={start:%Y-%m-%d}/{name}.parquet"
        extra: dict[str, Any] = {"rows": n}
        if amends is not None:
            extra["amends"] = amends
        return self.append(f"snowflake/{account}/{view}", start, end, [(key, data, n)], **extra)

    def snapshot(
        self,
        as_of: datetime,
        views: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        account: str = "ACME",
        changes: Sequence[Mapping[str, Any]] | None = None,
        since: datetime | None = None,
        old_layout: bool = False,
    ) -> int:
        """A policy snapshot; ``old_layout``: keys without the ``as_of=`` partition."""
        partition = compact(as_of) if old_layout else f"as_of={compact(as_of)}"
        prefix = f"evidence/snowflake/{account}/policy_state/date={as_of:%Y-%m-%d}/{partition}"
        files = []
        for view, rows in views.items():
            data, n = parquet(rows, POLICY_SCHEMAS[view])
            files.append((f"{prefix}/{view.lower()}.parquet", data, n))
        data, n = parquet(changes or [], CHANGES_SCHEMA)
        files.append((f"{prefix}/changes.parquet", data, n))
        return self.append(
            f"snowflake/{account}/policy_state",
            as_of,
            as_of,
            files,
            as_of=rfc3339(as_of),
            changes={
                "baseline": changes is None,
                "since": rfc3339(since) if since else None,
            },
        )

    def dbt(
        self,
        generated_at: datetime,
        tables: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        project: str = "jaffle_health",
        invocation_id: str = "00000000-0000-4000-8000-000000000001",
    ) -> int:
        day = f"{generated_at:%Y-%m-%d}"
        prefix = f"evidence/dbt/{project}/date={day}/invocation_id={invocation_id}"
        files = []
        for name, rows in tables.items():
            data, n = parquet(rows, DBT_SCHEMAS[name])
            files.append((f"{prefix}/{name}.parquet", data, n))
        return self.append(f"dbt/{project}/{invocation_id}", generated_at, generated_at, files)

    def writable(self) -> None:
        """Make the put-once files writable again, as an attacker with file access would."""
        for p in self.store.root.rglob("*"):
            if p.is_file():
                p.chmod(0o644)


@pytest.fixture
def builder(tmp_path: Path) -> ArchiveBuilder:
    return ArchiveBuilder(tmp_path)
