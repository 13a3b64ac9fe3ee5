"""Snapshot comparison: the polars join gives exactly the row-by-row comparison's changes.

The reference below is the comparison snapshots used before it was vectorised (every
row a Python dict, keyed by its canonical JSON key): the changes must be the same
records in the same order, for tables in memory and for Parquet files on disk.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.collectors.parquet import DeterministicParquetWriter, read_rows
from das_evidence.collectors.snowflake.policy import (
    CHANGES_SCHEMA,
    PolicyStateCollector,
    diff_tables,
)
from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS, PolicyView, ShowCommand
from das_evidence.timefmt import rfc3339

VIEWS = {v.view: v for v in POLICY_VIEWS}
T = datetime(2026, 11, 20, tzinfo=UTC)


def _dumps(value: Any) -> str:
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        default=lambda v: rfc3339(v) if isinstance(v, datetime) else v,
    )


def reference_diff(view: Any, before: pa.Table, after: pa.Table) -> list[dict[str, str | None]]:
    """The row-by-row comparison, as the collector did it before polars."""

    def current(table: pa.Table) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for row in table.to_pylist():
            if view.deleted and row.get(view.deleted) is not None:
                continue
            rows[_dumps({k: row.get(k) for k in view.key})] = row
        return rows

    def change(kind: str, key: str, cols: list[str], a: Any, b: Any) -> dict[str, str | None]:
        return {
            "VIEW": view.view,
            "CHANGE": kind,
            "KEY": key,
            "CHANGED_COLUMNS": _dumps(cols),
            "BEFORE": None if a is None else _dumps(a),
            "AFTER": None if b is None else _dumps(b),
        }

    old, new = current(before), current(after)
    compared = [
        n for n in after.column_names if n in before.column_names and n not in view.volatile
    ]
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None and b is not None:
            out.append(change("added", key, [], None, b))
        elif b is None and a is not None:
            out.append(change("removed", key, [], a, None))
        elif a is not None and b is not None:
            changed = [c for c in compared if a.get(c) != b.get(c)]
            if changed:
                out.append(change("changed", key, changed, a, b))
    return out


def _grants(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Grants over a small vocabulary, so keys repeat, nulls meet and rows collide."""
    rows = []
    for _ in range(n):
        rows.append(
            {
                "CREATED_ON": T - timedelta(days=rng.randrange(3)),
                "MODIFIED_ON": rng.choice([None, T]),
                "PRIVILEGE": rng.choice(["SELECT", "INSERT", None]),
                "GRANTED_ON": rng.choice(["TABLE", "VIEW"]),
                "NAME": rng.choice(["A", "B", "C", 'q"uote', "ünï", None]),
                "TABLE_CATALOG": rng.choice(["DB1", "DB2"]),
                "TABLE_SCHEMA": "PUBLIC",
                "GRANTED_TO": "ROLE",
                "GRANTEE_NAME": rng.choice(["R1", "R2", "R3"]),
                "GRANT_OPTION": rng.choice([True, False, None]),
                "GRANTED_BY": rng.choice(["SYSADMIN", "SECURITYADMIN"]),
                "DELETED_ON": rng.choice([None, None, None, T]),
                "GRANTED_BY_ROLE_TYPE": "ROLE",
                "OBJECT_INSTANCE": None,
            }
        )
    return rows


def _mutate(rng: random.Random, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [dict(r) for r in rows if rng.random() > 0.1]  # some revoked outright
    for r in out:
        if rng.random() < 0.2:
            r["GRANTED_BY"] = rng.choice(["SYSADMIN", "ACCOUNTADMIN"])
        if rng.random() < 0.1:
            r["DELETED_ON"] = T
        if rng.random() < 0.1:
            r["GRANT_OPTION"] = rng.choice([True, False, None])
    rng.shuffle(out)
    return out + _grants(rng, len(rows) // 5)


def _file(tmp_path: Path, name: str, table: pa.Table) -> Path:
    path = tmp_path / f"{name}.parquet"
    with DeterministicParquetWriter(path, table.schema) as w:
        for batch in table.to_batches(max_chunksize=7):
            w.write(batch)
    return path


@pytest.mark.parametrize("seed", range(8))
def test_changes_equal_the_row_by_row_comparison_in_memory_and_on_disk(
    seed: int, tmp_path: Path
) -> None:
    g = VIEWS["GRANTS_TO_ROLES"]
    rng = random.Random(seed)
    day1 = _grants(rng, 120)
    before = pa.Table.from_pylist(day1, schema=g.schema())
    after = pa.Table.from_pylist(_mutate(rng, day1), schema=g.schema())
    expected = reference_diff(g, before, after)
    assert {c["CHANGE"] for c in expected} == {"added", "removed", "changed"}
    assert diff_tables(g, before, after) == expected
    on_disk = diff_tables(g, _file(tmp_path, "a", before), _file(tmp_path, "b", after))
    assert on_disk == expected


def test_volatile_columns_and_deleted_rows_are_not_compared() -> None:
    u = VIEWS["USERS"]
    row = {c.name: None for c in u.columns} | {"USER_ID": 1, "NAME": "ALICE", "HAS_MFA": True}
    gone = row | {"USER_ID": 2, "DELETED_ON": T}
    before = pa.Table.from_pylist([row, gone], schema=u.schema())
    after = pa.Table.from_pylist(
        [row | {"LAST_SUCCESS_LOGIN": T}, gone | {"NAME": "BOB"}], schema=u.schema()
    )
    assert diff_tables(u, before, after) == []
    after = pa.Table.from_pylist([row | {"HAS_MFA": False}], schema=u.schema())
    [changed] = diff_tables(u, before, after)
    assert changed["CHANGED_COLUMNS"] == '["HAS_MFA"]'
    assert changed == reference_diff(u, before, after)[0]


def test_show_results_whose_columns_come_and_go_compare_like_the_rows_did() -> None:
    """SHOW results are typed from each result: a column may be missing on one side, a
    key column may be missing everywhere, or change type between the snapshots."""
    cmd = ShowCommand("SHOW_X", "SHOW X", key=("name", "kind"), grant="none")
    before = pa.table(
        {
            "name": ["a", "b", "c", None],
            "value": pa.array(["1", "2", "3", "4"]),
            "gone": ["x", "y", "z", "w"],
        }
    )
    after = pa.table(
        {
            "name": ["a", "b", "d", None],
            "value": pa.array([1, 2, 3, 5], pa.int64()),  # retyped: every pair compared
            "extra": [True, False, True, False],
        }
    )
    expected = reference_diff(cmd, before, after)
    assert diff_tables(cmd, before, after) == expected
    assert [c["CHANGE"] for c in expected].count("changed") == 3


def test_a_retyped_key_column_is_a_new_key_as_its_text_was() -> None:
    cmd = ShowCommand("SHOW_Y", "SHOW Y", key=("id",), grant="none")
    before = pa.table({"id": ["1", "2"], "v": ["a", "b"]})
    after = pa.table({"id": pa.array([1, 3], pa.int64()), "v": ["a", "c"]})
    changes = diff_tables(cmd, before, after)
    # "1" and 1 hash alike as text, but their canonical keys differ: removed and added.
    assert changes == reference_diff(cmd, before, after)
    assert sorted((c["CHANGE"], c["KEY"]) for c in changes) == [
        ("added", '{"id":1}'),
        ("added", '{"id":3}'),
        ("removed", '{"id":"1"}'),
        ("removed", '{"id":"2"}'),
    ]


def test_duplicate_keys_keep_the_last_row_as_a_dict_did() -> None:
    cmd = ShowCommand("SHOW_Z", "SHOW Z", key=("k",), grant="none")
    before = pa.table({"k": ["a", "a", "b"], "v": ["1", "2", "3"]})
    after = pa.table({"k": ["a", "b", "b"], "v": ["2", "9", "3"]})
    assert diff_tables(cmd, before, after) == reference_diff(cmd, before, after) == []


def test_empty_snapshots_compare() -> None:
    g = VIEWS["GRANTS_TO_ROLES"]
    empty = g.schema().empty_table()
    one = pa.Table.from_pylist(_grants(random.Random(1), 1), schema=g.schema())
    assert diff_tables(g, empty, empty) == []
    assert diff_tables(g, empty, one) == reference_diff(g, empty, one)
    assert diff_tables(g, one, empty) == reference_diff(g, one, empty)


def test_read_rows_returns_the_rows_asked_for_in_that_order(tmp_path: Path) -> None:
    table = pa.table({"i": pa.array(range(200_000), pa.int64())})
    path = _file(tmp_path, "big", table)
    assert pq.ParquetFile(path).metadata.num_row_groups > 1
    wanted = [150_000, 3, 70_000, 3, 199_999]
    got = read_rows(path, pa.array(wanted, pa.int64())).column("i").to_pylist()
    assert got == wanted
    assert read_rows(path, pa.array([], pa.int64())).num_rows == 0


def test_the_writer_hashes_the_bytes_it_writes(tmp_path: Path) -> None:
    table = pa.table({"i": pa.array(range(100_000), pa.int64())})
    path = tmp_path / "x.parquet"
    with DeterministicParquetWriter(path, table.schema) as w:
        for batch in table.to_batches(max_chunksize=30_000):
            w.write(batch)
    data = path.read_bytes()
    assert w.sha256 == hashlib.sha256(data).hexdigest() and w.size == len(data)


def test_personal_data_hmac_is_the_keyed_digest_of_each_value() -> None:
    key = b"k" * 32
    c = PolicyStateCollector(account="A", session=lambda: None, hmac_key=key)
    u: PolicyView = VIEWS["USERS"]
    rows = [
        {c_.name: None for c_ in u.columns} | {"USER_ID": i, "EMAIL": e, "NAME": "N"}
        for i, e in enumerate(["a@x", None, "b@x", "a@x"])
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=u.schema())
    out = c._personal_data(batch)
    want = [None if e is None else hmac.new(key, e.encode(), "sha256").hexdigest() for e in
            ["a@x", None, "b@x", "a@x"]]  # fmt: skip
    assert out.column("EMAIL").to_pylist() == want
    assert out.column("NAME").to_pylist() == ["N"] * 4
    assert out.schema == c._personal_schema(u.schema())


def test_changes_schema_is_unchanged() -> None:
    """Readers (SQL views, reports) rely on these six text columns."""
    assert CHANGES_SCHEMA.names == ["VIEW", "CHANGE", "KEY", "CHANGED_COLUMNS", "BEFORE", "AFTER"]
    assert set(CHANGES_SCHEMA.types) == {pa.string()}


@pytest.mark.parametrize("slice_rows", [1, 16, 1000])
def test_row_indices_hold_across_slices(
    slice_rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fingerprints are computed a slice of rows at a time; the row each one points back
    to must be the row it was computed from, in every slice."""
    import das_evidence.collectors.snowflake.policy as policy

    monkeypatch.setattr(policy, "ROW_GROUP_ROWS", slice_rows)
    g = VIEWS["GRANTS_TO_ROLES"]
    rng = random.Random(slice_rows)
    day1 = _grants(rng, 300)
    before = pa.Table.from_pylist(day1, schema=g.schema())
    after = pa.Table.from_pylist(_mutate(rng, day1), schema=g.schema())
    expected = reference_diff(g, before, after)
    assert diff_tables(g, before, after) == expected
    assert diff_tables(g, _file(tmp_path, "a", before), _file(tmp_path, "b", after)) == expected


def test_the_store_reader_streams_the_previous_files_and_refuses_a_tampered_one(
    tmp_path: Path,
) -> None:
    """``StoreArchiveReader.last_files_to`` copies each file of the newest entry to disk,
    checking it against the signed digest as it streams: the copies are the bytes
    ``last_files`` returns, and a file changed in the store is refused."""
    import os
    import stat

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from das_evidence.collectors.runner import Runner, StoreArchiveReader
    from das_evidence.errors import EvidenceError
    from das_evidence.evidence_store.local import LocalStore
    from das_evidence.manifests.log import ArchiveLog
    from das_evidence.manifests.signers import Ed25519Signer
    from tests.unit.collectors.test_policy import KEY, FakeSession, _state

    origin = "evidence.example.com/policy"
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), origin)
    store = LocalStore(tmp_path / "archive", create=True)
    collector = PolicyStateCollector(
        account="ACME", session=lambda: FakeSession(_state()), hmac_key=KEY
    )
    now = T + timedelta(hours=6)
    report = Runner(store, ArchiveLog(store, origin), signer, signer, lambda: now).run([collector])
    assert report.ok, report.to_json()
    reader = StoreArchiveReader(store, ArchiveLog(store, origin))
    found = reader.last_files(collector.stream)
    assert found is not None
    (tmp_path / "copies").mkdir()
    copied = reader.last_files_to(collector.stream, tmp_path / "copies")
    assert copied is not None and copied[0] == found[0]
    assert {k: p.read_bytes() for k, p in copied[1].items()} == found[1]

    victim = store.root / next(k for k in found[1] if k.endswith("/grants_to_roles.parquet"))
    os.chmod(victim, stat.S_IRUSR | stat.S_IWUSR)
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    (tmp_path / "again").mkdir()
    with pytest.raises(EvidenceError, match="does not match the digest"):
        reader.last_files_to(collector.stream, tmp_path / "again")
