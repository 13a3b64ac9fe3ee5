"""Policy-state snapshots: change detection, personal data, views that cannot be read."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.collectors.interface import ArchiveReader, Window
from das_evidence.collectors.snowflake.connection import QueryResult
from das_evidence.collectors.snowflake.policy import PolicyStateCollector, diff_tables
from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS, PolicyView
from das_evidence.errors import CollectorError

T = datetime(2026, 11, 20, 6, tzinfo=UTC)
VIEWS = {v.view: v for v in POLICY_VIEWS}
KEY = b"k" * 32


def _row(view: PolicyView, **values: Any) -> dict[str, Any]:
    return {c.name: values.get(c.name) for c in view.columns}


class FakeSession:
    """Answers the collector's view calls from in-memory tables; refuses every SHOW
    (tests/unit/collectors/test_policy_show.py runs those against the fake server)."""

    def __init__(
        self, tables: dict[str, list[dict[str, Any]]], denied: set[str] | None = None
    ) -> None:
        self.tables = tables
        self.denied = denied or set()

    def columns(self, qualified: str) -> list[str]:
        view = qualified.rsplit(".", 1)[-1]
        if view in self.denied:
            raise CollectorError(f"SQL access control error: insufficient privileges on {view}")
        return [c.name for c in VIEWS[view].columns]

    def query_arrow(self, sql: str, params: Any) -> QueryResult:
        view = sql.split(" FROM ")[1].split()[0].rsplit(".", 1)[-1]
        spec = VIEWS[view]
        table = pa.Table.from_pylist(self.tables.get(view, []), schema=spec.schema())

        def batches() -> Iterator[pa.RecordBatch]:
            yield from table.to_batches()

        return QueryResult(f"q-{view}", batches())

    def show(self, command: str, *, needs: str) -> tuple[pa.Table, str]:
        raise CollectorError(f"cannot run {command}: insufficient privileges (needs {needs})")


class MemoryArchive(ArchiveReader):
    def __init__(self) -> None:
        self.last: tuple[dict[str, Any], dict[str, bytes]] | None = None

    def last_files(self, stream: str) -> tuple[dict[str, Any], dict[str, bytes]] | None:
        return self.last


def _state() -> dict[str, list[dict[str, Any]]]:
    g, u, m = VIEWS["GRANTS_TO_ROLES"], VIEWS["USERS"], VIEWS["MASKING_POLICIES"]
    return {
        "GRANTS_TO_ROLES": [
            _row(
                g,
                PRIVILEGE="SELECT",
                GRANTED_ON="TABLE",
                NAME="PATIENTS",
                TABLE_CATALOG="CLINICAL",
                TABLE_SCHEMA="PUBLIC",
                GRANTED_TO="ROLE",
                GRANTEE_NAME="PHI_READER",
                CREATED_ON=T - timedelta(days=30),
            ),
            _row(
                g,
                PRIVILEGE="SELECT",
                GRANTED_ON="TABLE",
                NAME="CLAIMS",
                TABLE_CATALOG="BILLING",
                TABLE_SCHEMA="PUBLIC",
                GRANTED_TO="ROLE",
                GRANTEE_NAME="ANALYST",
                CREATED_ON=T - timedelta(days=30),
            ),
        ],
        "USERS": [
            _row(
                u,
                USER_ID=1,
                NAME="ALICE",
                LOGIN_NAME="ALICE",
                EMAIL="alice@example.org",
                FIRST_NAME="Alice",
                LAST_NAME="Anders",
                DISPLAY_NAME="Alice A",
                HAS_MFA=True,
                LAST_SUCCESS_LOGIN=T - timedelta(hours=5),
            ),
        ],
        "MASKING_POLICIES": [
            _row(
                m,
                POLICY_ID=7,
                POLICY_NAME="MASK_SSN",
                POLICY_BODY="CASE WHEN x THEN val END",
                LAST_ALTERED=T - timedelta(days=3),
            ),
        ],
    }


def _collector(session: FakeSession, archive: ArchiveReader, **kw: Any) -> PolicyStateCollector:
    c = PolicyStateCollector(account="ACME", session=lambda: session, hmac_key=KEY, **kw)
    c.attach(archive)
    return c


def _files(collection: Any) -> dict[str, bytes]:
    return {f.key: f.local_path.read_bytes() for f in collection.files}


def _changes(files: dict[str, bytes]) -> list[dict[str, Any]]:
    data = next(v for k, v in files.items() if k.endswith("/changes.parquet"))
    return pq.read_table(io.BytesIO(data)).to_pylist()  # type: ignore[no-any-return]


def test_first_snapshot_is_the_baseline_and_says_so(tmp_path: Path) -> None:
    c = _collector(FakeSession(_state()), MemoryArchive())
    [window] = c.due_windows(None, T)
    # The latency taken off, floored to the (daily) interval grid.
    assert window.start == window.end == datetime(2026, 11, 20, tzinfo=UTC)
    col = c.collect(window, tmp_path)
    assert col.predicate["changes"]["baseline"] is True
    assert _changes(_files(col)) == []
    assert col.predicate["views"]["USERS"]["status"] == "evidenced"


def test_grant_revoke_policy_edit_and_mfa_change_are_exactly_the_changes(tmp_path: Path) -> None:
    archive = MemoryArchive()
    before = _state()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _collector(FakeSession(before), archive).collect(Window(T, T), tmp_path / "a")
    archive.last = (dict(first.predicate, window={"start": "x", "end": "x"}), _files(first))

    after = _state()
    g = VIEWS["GRANTS_TO_ROLES"]
    after["GRANTS_TO_ROLES"][1]["DELETED_ON"] = T  # revoke
    after["GRANTS_TO_ROLES"].append(
        _row(
            g,
            PRIVILEGE="SELECT",
            GRANTED_ON="TABLE",
            NAME="ENCOUNTERS",
            TABLE_CATALOG="CLINICAL",
            TABLE_SCHEMA="PUBLIC",
            GRANTED_TO="ROLE",
            GRANTEE_NAME="ANALYST",
            CREATED_ON=T,
        )
    )
    after["MASKING_POLICIES"][0]["POLICY_BODY"] = "CASE WHEN y THEN val END"
    after["MASKING_POLICIES"][0]["LAST_ALTERED"] = T
    after["USERS"][0]["HAS_MFA"] = False
    after["USERS"][0]["LAST_SUCCESS_LOGIN"] = T  # volatile: not a change
    second = _collector(FakeSession(after), archive).collect(Window(T, T), tmp_path / "b")

    changes = _changes(_files(second))
    summary = sorted(
        (c["VIEW"], c["CHANGE"], tuple(json.loads(c["CHANGED_COLUMNS"]))) for c in changes
    )
    assert summary == [
        ("GRANTS_TO_ROLES", "added", ()),
        ("GRANTS_TO_ROLES", "removed", ()),
        ("MASKING_POLICIES", "changed", ("POLICY_BODY", "LAST_ALTERED")),
        ("USERS", "changed", ("HAS_MFA",)),
    ]
    added = next(c for c in changes if c["CHANGE"] == "added")
    assert json.loads(added["KEY"])["NAME"] == "ENCOUNTERS"
    removed = next(c for c in changes if c["CHANGE"] == "removed")
    assert json.loads(removed["KEY"])["NAME"] == "CLAIMS"
    assert second.predicate["changes"]["counts"] == {"added": 1, "removed": 1, "changed": 2}


def test_personal_data_is_hmac_by_default_and_configurable(tmp_path: Path) -> None:
    col = _collector(
        FakeSession(_state()), MemoryArchive(), personal_data={"DISPLAY_NAME": "drop"}
    ).collect(Window(T, T), tmp_path)
    data = b"".join(_files(col).values())
    for secret in (b"alice@example.org", b"Anders", b"Alice A"):
        assert secret not in data
    users = pq.read_table(
        io.BytesIO(next(v for k, v in _files(col).items() if k.endswith("/users.parquet")))
    )
    assert "DISPLAY_NAME" not in users.column_names
    row = users.to_pylist()[0]
    assert row["NAME"] == "ALICE" and row["LOGIN_NAME"] == "ALICE"
    assert row["EMAIL"] != "alice@example.org" and len(row["EMAIL"]) == 64
    assert col.predicate["personal_data"]["USERS"]["DISPLAY_NAME"] == "drop"


def test_a_view_the_role_cannot_read_is_not_evidenced_not_empty(tmp_path: Path) -> None:
    col = _collector(FakeSession(_state(), denied={"NETWORK_POLICIES"}), MemoryArchive()).collect(
        Window(T, T), tmp_path
    )
    assert col.predicate["views"]["NETWORK_POLICIES"]["status"] == "not_evidenced"
    assert "insufficient privileges" in col.predicate["views"]["NETWORK_POLICIES"]["reason"]
    assert not any(f.key.endswith("/network_policies.parquet") for f in col.files)


def test_no_readable_view_writes_nothing(tmp_path: Path) -> None:
    c = _collector(FakeSession(_state(), denied=set(VIEWS)), MemoryArchive())
    with pytest.raises(CollectorError, match="no policy view could be read"):
        c.collect(Window(T, T), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_snapshots_are_due_once_per_interval() -> None:
    c = _collector(FakeSession(_state()), MemoryArchive())
    as_of = datetime(2026, 11, 20, tzinfo=UTC)
    assert c.due_windows(as_of, T + timedelta(hours=19, minutes=59)) == []
    assert c.due_windows(as_of, T + timedelta(hours=20)) == [
        Window(as_of + timedelta(days=1), as_of + timedelta(days=1))
    ]


def test_writers_whose_clocks_differ_by_minutes_name_the_same_snapshot() -> None:
    """The snapshot's keys do not depend on the minute a run starts, so a run that
    follows a stopped one (or a concurrent writer) adopts the files it left."""
    c = _collector(FakeSession(_state()), MemoryArchive())
    due = {tuple(c.due_windows(None, T + timedelta(minutes=m))) for m in range(0, 180, 7)}
    [[window]] = due
    assert window.start == datetime(2026, 11, 20, tzinfo=UTC)


def test_only_snapshots_after_the_newest_are_pending() -> None:
    c = _collector(FakeSession(_state()), MemoryArchive())
    newest = datetime(2026, 11, 20, tzinfo=UTC)
    root = "evidence/snowflake/ACME/policy_state/"
    assert c.evidence_prefix() == root
    assert c.pending(root + "date=2026-11-21/as_of=20261121T000000Z/users.parquet", newest)
    assert not c.pending(root + "date=2026-11-20/as_of=20261120T000000Z/users.parquet", newest)
    assert not c.pending(root + "date=2026-11-19/as_of=20261119T041500Z/users.parquet", newest)
    assert c.pending(root + "date=2026-11-19/as_of=20261119T041500Z/users.parquet", None)


def test_diff_ignores_deleted_rows_on_both_sides() -> None:
    g = VIEWS["GRANTS_TO_ROLES"]
    old = pa.Table.from_pylist([_row(g, PRIVILEGE="X", NAME="A", DELETED_ON=T)], schema=g.schema())
    new = pa.Table.from_pylist([_row(g, PRIVILEGE="X", NAME="A", DELETED_ON=T)], schema=g.schema())
    assert diff_tables(g, old, new) == []


def test_keys_are_hive_partitions_below_the_stream(tmp_path: Path) -> None:
    """Every directory below ``policy_state/`` is ``key=value`` (date, then as_of), so each
    view of the stream reads as one Hive-partitioned table."""
    c = _collector(FakeSession(_state()), MemoryArchive())
    [window] = c.due_windows(None, T)
    keys = sorted(f.key for f in c.collect(window, tmp_path).files)
    prefix = "evidence/snowflake/ACME/policy_state/date=2026-11-20/as_of=20261120T000000Z/"
    assert keys and all(k.startswith(prefix) and "/" not in k[len(prefix) :] for k in keys)
    assert prefix + "changes.parquet" in keys and prefix + "grants_to_roles.parquet" in keys


class FailingMidStream(FakeSession):
    """Sends the first batch of GRANTS_TO_ROLES, then loses the connection."""

    def query_arrow(self, sql: str, params: Any) -> QueryResult:
        result = super().query_arrow(sql, params)
        if "GRANTS_TO_ROLES" not in sql:
            return result

        def batches() -> Iterator[pa.RecordBatch]:
            yield from result.batches
            raise CollectorError("connection lost while fetching the result")

        return QueryResult(result.query_id, batches())


def test_a_view_that_fails_mid_stream_is_not_evidenced_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    """Views stream into their files batch by batch: a read that fails after the first
    batch names the view not evidenced and leaves no partial file in the spool."""
    col = _collector(FailingMidStream(_state()), MemoryArchive()).collect(Window(T, T), tmp_path)
    assert col.predicate["views"]["GRANTS_TO_ROLES"]["status"] == "not_evidenced"
    assert "connection lost" in col.predicate["views"]["GRANTS_TO_ROLES"]["reason"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f.local_path.name for f in col.files
    )
    assert not any("grants_to_roles" in f.key for f in col.files)


def test_the_previous_snapshot_is_read_through_the_streaming_reader(tmp_path: Path) -> None:
    """The comparison reads the previous files from disk copies the archive wrote
    (``last_files_to``), and removes them afterwards."""
    archive = MemoryArchive()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _collector(FakeSession(_state()), archive).collect(Window(T, T), tmp_path / "a")
    archive.last = (dict(first.predicate, window={"start": "x", "end": "x"}), _files(first))
    copies: list[Path] = []

    class Streaming(MemoryArchive):
        def last_files_to(self, stream: str, directory: Path) -> Any:
            found = super().last_files_to(stream, directory)
            copies.extend(found[1].values())
            return found

    streaming = Streaming()
    streaming.last = archive.last
    after = _state()
    after["USERS"][0]["HAS_MFA"] = False
    second = _collector(FakeSession(after), streaming).collect(Window(T, T), tmp_path / "b")
    assert second.predicate["changes"]["counts"] == {"added": 0, "removed": 0, "changed": 1}
    assert copies and not any(p.exists() for p in copies)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        f.local_path.name for f in second.files
    )
