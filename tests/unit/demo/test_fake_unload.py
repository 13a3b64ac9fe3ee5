"""The fake ``COPY INTO @stage``: real Parquet on moto (in process), Snowflake's answers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.aws import make_client
from das_evidence.demo import fake_unload
from das_evidence.demo.fake_show import Refusal
from tests.unit.verify.s3_archive import aws

__all__ = ["aws"]

STAGE = "@db.s.unload"
COPY = (
    "COPY INTO @DB.S.UNLOAD/acct/view/w/n1/ FROM (SELECT A, B FROM T ORDER BY A) "
    "FILE_FORMAT = (TYPE = PARQUET) HEADER = TRUE OVERWRITE = FALSE "
    "MAX_FILE_SIZE = {size} DETAILED_OUTPUT = TRUE"
)
TABLE = pa.table({"A": list(range(1000)), "B": [f"row {i}" for i in range(1000)]})


@pytest.fixture
def s3(aws: None) -> Iterator[Any]:
    client = make_client("s3", region="us-east-1")
    client.create_bucket(Bucket="evidence", ObjectLockEnabledForBucket=True)
    fake_unload.register_stage(STAGE, "s3://evidence/staging")
    yield client
    fake_unload.deny(STAGE)


def test_only_copy_into_a_stage_from_a_query_is_answered() -> None:
    assert fake_unload.matches(COPY.format(size=1))
    assert not fake_unload.matches("COPY INTO T FROM @DB.S.UNLOAD")
    assert not fake_unload.matches("SELECT 1")


def test_the_select_is_written_as_bounded_parquet_files_and_reported(s3: Any) -> None:
    selects: list[str] = []

    def run(sql: str) -> pa.Table:
        selects.append(sql)
        return TABLE

    answer = fake_unload.unload(COPY.format(size=4096), run)

    assert selects == ["SELECT A, B FROM T ORDER BY A"]
    assert isinstance(answer, str) and "FILE_NAME" in answer
    listed = s3.list_objects_v2(Bucket="evidence", Prefix="staging/acct/view/w/n1/")
    keys = sorted(o["Key"] for o in listed["Contents"])
    assert len(keys) > 1, "MAX_FILE_SIZE splits the result"
    tables = [
        pq.read_table(io.BytesIO(s3.get_object(Bucket="evidence", Key=k)["Body"].read()))
        for k in keys
    ]
    assert sum(t.num_rows for t in tables) == 1000
    for k in keys:
        assert f"'{k.removeprefix('staging/')}'" in answer


def test_an_unknown_stage_is_refused_as_snowflake_refuses_a_role_without_usage(s3: Any) -> None:
    fake_unload.deny(STAGE)
    answer = fake_unload.unload(COPY.format(size=4096), lambda sql: TABLE)
    assert isinstance(answer, Refusal) and answer.errno == 2003
    assert "Stage 'DB.S.UNLOAD' does not exist or not authorized" in answer.msg


def test_a_path_that_holds_files_is_not_overwritten(s3: Any) -> None:
    assert isinstance(fake_unload.unload(COPY.format(size=1 << 20), lambda sql: TABLE), str)
    again = fake_unload.unload(COPY.format(size=1 << 20), lambda sql: TABLE)
    assert isinstance(again, Refusal) and "already existing" in again.msg
