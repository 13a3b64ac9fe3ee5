"""The server-side unload collector against an in-memory session and staging prefix.

The fake Snowflake and moto run the whole path in tests/integration/test_unload.py;
here each check of the staged files gets the case that must refuse it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.collectors.interface import Window
from das_evidence.collectors.snowflake.history import HistoryCollector
from das_evidence.collectors.snowflake.unload import (
    StagingReader,
    UnloadCollector,
    copy_hashed,
    detailed_output,
)
from das_evidence.collectors.snowflake.views import ACCESS_HISTORY
from das_evidence.errors import CollectorError, StoreError

W = Window(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
PATH = "ACME/access_history/20261102T000000Z_20261103T000000Z/n1/"


def _parquet(rows: int, start: int = 0) -> bytes:
    schema = ACCESS_HISTORY.schema()
    data: dict[str, list[Any]] = {f.name: [None] * rows for f in schema}
    data["QUERY_ID"] = [f"q{start + i}" for i in range(rows)]
    data["QUERY_START_TIME"] = [W.start + timedelta(seconds=start + i) for i in range(rows)]
    sink = io.BytesIO()
    pq.write_table(pa.table(data, schema=schema), sink)
    return sink.getvalue()


class MemoryStaging(StagingReader):
    """A staging prefix in memory: every version of every object, oldest first."""

    bucket = "evidence"
    prefix = "staging"

    def __init__(self) -> None:
        self.objects: dict[str, list[bytes | None]] = {}

    def put(self, name: str, body: bytes | None) -> None:
        self.objects.setdefault(name, []).append(body)

    def versions(self, under: str) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "version_id": f"v{i}",
                "size": None if body is None else len(body),
                "latest": i == len(bodies) - 1,
                "last_modified": None,
            }
            for name, bodies in self.objects.items()
            if name.startswith(under)
            for i, body in enumerate(bodies)
        ]

    def read_range(self, name: str, start: int, end: int, version_id: str | None) -> bytes:
        body = self.objects[name][int(str(version_id)[1:])]
        assert body is not None
        return body[start:end]


class Session:
    """COUNT(*), the column probe and the COPY, as SnowflakeSession answers them."""

    def __init__(self, staging: MemoryStaging, files: dict[str, bytes]) -> None:
        self.staging = staging
        self.files = files
        self.commands: list[str] = []
        self.reported: dict[str, tuple[int, int]] = {}

    def columns(self, view: str) -> list[str]:
        return [c.name for c in ACCESS_HISTORY.columns]

    def count(self, sql: str, params: Any) -> int:
        return sum(pq.ParquetFile(io.BytesIO(b)).metadata.num_rows for b in self.files.values())

    def show(self, command: str, *, needs: str) -> tuple[pa.Table, str]:
        self.commands.append(command)
        names, sizes, rows = [], [], []
        for name, body in sorted(self.files.items()):
            self.staging.put(PATH + name, body)
            size, count = self.reported.get(
                name, (len(body), pq.ParquetFile(io.BytesIO(body)).metadata.num_rows)
            )
            names.append(PATH + name)
            sizes.append(str(size))
            rows.append(str(count))
        table = pa.table({"FILE_NAME": names, "FILE_SIZE": sizes, "ROW_COUNT": rows})
        return table, "01b2-unload"


def _collector(staging: MemoryStaging, session: Session, **kwargs: Any) -> UnloadCollector:
    history = HistoryCollector(
        ACCESS_HISTORY,
        account="ACME",
        session=lambda: session,
        first_start=W.start,
        safety=timedelta(hours=3),
    )
    return UnloadCollector(
        history,
        session=lambda: session,
        stage="@DB.S.UNLOAD",
        staging=staging,
        max_file_size=1234,
        nonce=lambda: "n1",
        **kwargs,
    )


@pytest.fixture
def staging() -> MemoryStaging:
    return MemoryStaging()


def test_copy_hashed_writes_the_parts_in_order_and_hashes_the_whole(tmp_path: Path) -> None:
    data = os.urandom(100_003)
    out = tmp_path / "f"
    digest = copy_hashed(lambda s, e: data[s:e], len(data), out, part_size=4096, workers=5)
    assert out.read_bytes() == data
    assert digest == hashlib.sha256(data).hexdigest()


def test_copy_hashed_fails_when_a_part_fails(tmp_path: Path) -> None:
    def read(start: int, end: int) -> bytes:
        if start >= 8192:
            raise StoreError("the connection dropped")
        return b"x" * (end - start)

    with pytest.raises(StoreError):
        copy_hashed(read, 100_000, tmp_path / "f", part_size=4096, workers=3)


def test_the_copy_is_the_history_select_into_a_fresh_path_of_bounded_files() -> None:
    nonces: Iterator[str] = iter(["a", "b"])
    history = HistoryCollector(
        ACCESS_HISTORY,
        account="ACME",
        session=lambda: None,
        first_start=W.start,
        safety=timedelta(hours=3),
    )
    c = UnloadCollector(
        history,
        session=lambda: None,
        stage="@DB.S.UNLOAD",
        staging=MemoryStaging(),
        max_file_size=1234,
        nonce=lambda: next(nonces),
    )
    first, second = c.stage_path(W), c.stage_path(W)
    assert first != second, "a retried window never writes where an earlier attempt did"
    assert first.startswith("ACME/access_history/20261102T000000Z_20261103T000000Z/")
    sql = c.copy_sql(W, first)
    assert sql.startswith(f"COPY INTO @DB.S.UNLOAD/{first} FROM ({history.sql(W)}) ")
    for option in (
        "FILE_FORMAT = (TYPE = PARQUET)",
        "HEADER = TRUE",
        "OVERWRITE = FALSE",
        "MAX_FILE_SIZE = 1234",
        "DETAILED_OUTPUT = TRUE",
    ):
        assert option in sql


def test_each_staged_file_is_copied_with_its_digest_and_named_in_the_predicate(
    staging: MemoryStaging, tmp_path: Path
) -> None:
    files = {"data_0_0_0.snappy.parquet": _parquet(3), "data_0_0_1.snappy.parquet": _parquet(2, 3)}
    collection = _collector(staging, Session(staging, files), part_size=100, workers=3).collect(
        W, tmp_path
    )
    assert [f.key for f in collection.files] == [
        "evidence/snowflake/ACME/access_history/date=2026-11-02/"
        f"20261102T000000Z_20261103T000000Z.part-000{i}.parquet"
        for i in (0, 1)
    ]
    for f, body in zip(collection.files, files.values(), strict=True):
        assert f.local_path.read_bytes() == body
        assert f.sha256 == hashlib.sha256(body).hexdigest()
    p = collection.predicate
    assert p["rows"] == 5 and p["completeness"]["source_count"] == 5
    assert p["unload"]["query_id"] == p["query"]["query_id"] == "01b2-unload"
    assert [o["key"] for o in p["unload"]["objects"]] == [f"staging/{PATH}{n}" for n in files]
    assert {o["version_id"] for o in p["unload"]["objects"]} == {"v0"}


def test_a_window_without_rows_is_one_empty_file(staging: MemoryStaging, tmp_path: Path) -> None:
    collection = _collector(staging, Session(staging, {})).collect(W, tmp_path)
    [f] = collection.files
    assert f.rows == 0 and pq.ParquetFile(f.local_path).metadata.num_rows == 0
    assert collection.predicate["unload"]["objects"] == []


def _refusal(staging: MemoryStaging, session: Session, tmp_path: Path) -> str:
    with pytest.raises(CollectorError) as e:
        _collector(staging, session).collect(W, tmp_path)
    return str(e.value)


class Rewriting(Session):
    """The COPY, then someone else's change to the staging path."""

    def __init__(self, staging: MemoryStaging, files: dict[str, bytes], change: Any) -> None:
        super().__init__(staging, files)
        self.change = change

    def show(self, command: str, *, needs: str) -> tuple[pa.Table, str]:
        answer = super().show(command, needs=needs)
        self.change(self.staging)
        return answer


FILES = {"data_0_0_0.snappy.parquet": _parquet(3)}
NAME = PATH + "data_0_0_0.snappy.parquet"


def test_a_staged_file_rewritten_after_the_unload_is_refused(
    staging: MemoryStaging, tmp_path: Path
) -> None:
    session = Rewriting(staging, FILES, lambda s: s.put(NAME, _parquet(3, 100)))
    assert "2 versions" in _refusal(staging, session, tmp_path)


def test_a_staged_file_deleted_after_the_unload_is_refused(
    staging: MemoryStaging, tmp_path: Path
) -> None:
    session = Rewriting(staging, FILES, lambda s: s.put(NAME, None))
    assert "delete marker" in _refusal(staging, session, tmp_path)


def test_a_file_staged_beside_the_unloaded_ones_is_refused(
    staging: MemoryStaging, tmp_path: Path
) -> None:
    session = Rewriting(staging, FILES, lambda s: s.put(PATH + "extra.parquet", _parquet(1)))
    assert "extra.parquet is staged but the unload did not write it" in _refusal(
        staging, session, tmp_path
    )


def test_a_file_the_unload_reports_but_the_stage_lacks_is_refused(
    staging: MemoryStaging, tmp_path: Path
) -> None:
    session = Rewriting(staging, FILES, lambda s: s.objects.clear())
    assert "was unloaded but is not staged" in _refusal(staging, session, tmp_path)


def test_a_size_or_row_count_other_than_the_unload_reported_is_refused(
    staging: MemoryStaging, tmp_path: Path
) -> None:
    session = Session(staging, FILES)
    session.reported["data_0_0_0.snappy.parquet"] = (len(FILES[next(iter(FILES))]) + 1, 3)
    assert "it changed after the unload" in _refusal(staging, session, tmp_path)
    staging.objects.clear()
    session.reported["data_0_0_0.snappy.parquet"] = (len(FILES[next(iter(FILES))]), 4)
    assert "holds 3 rows; the unload (query 01b2-unload) wrote 4" in _refusal(
        staging, session, tmp_path
    )


def test_detailed_output_without_its_columns_is_refused() -> None:
    with pytest.raises(CollectorError, match="DETAILED_OUTPUT = TRUE"):
        detailed_output(pa.table({"rows_unloaded": ["3"]}), "q")


def test_part_files_of_a_window_not_yet_archived_are_pending(staging: MemoryStaging) -> None:
    c = _collector(staging, Session(staging, {}))
    key = c.key(W).removesuffix(".parquet") + ".part-0003.parquet"
    assert c.pending(key, W.start)
    assert not c.pending(key, W.end)
    assert c.pending(key.replace(".parquet", ".retry-1.parquet"), W.start)
