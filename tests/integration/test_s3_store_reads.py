"""What an S3 store reads, and what it answers from what it wrote (moto_server).

A store does not read back an object it put (S3 accepted exactly the bytes whose
SHA-256 the PUT carried, under a key that cannot change): it answers from its
receipt. ``log/checkpoint``, which other writers replace, and any object another
store wrote are read from S3; a Parquet footer's length and the footer come
from one ranged GET.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from das_evidence.evidence_store.s3 import S3Store
from tests.s3_server import CREDENTIALS, MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def bucket(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return moto.locked_bucket()


def _count(moto: MotoServer, before: int) -> list[str]:
    return [f"{m} {p}" for m, p, _ in moto.requests()[before:]]


def test_a_store_does_not_read_back_what_it_wrote(
    moto: MotoServer, bucket: str, tmp_path: Path
) -> None:
    writer = S3Store(f"s3://{bucket}/archive", endpoint_url=moto.endpoint)
    data = random.Random(3).randbytes(200_000)
    path = tmp_path / "f.parquet"
    path.write_bytes(data)
    writer.put_once("evidence/s/f.parquet", path)
    writer.put_once("log/entries/000000000000.dsse.json", b'{"entry": 0}')
    writer.replace_checkpoint(b"checkpoint one")

    before = len(moto.requests())
    assert writer.get("log/entries/000000000000.dsse.json") == b'{"entry": 0}'
    assert writer.get_tail("log/entries/000000000000.dsse.json", 5) == (b'": 0}', 12)
    info = writer.head("evidence/s/f.parquet")
    assert info is not None and info.sha256 == hashlib.sha256(data).hexdigest()
    assert writer.get_tail("evidence/s/f.parquet", 1000) == (data[-1000:], len(data))
    assert _count(moto, before) == []

    # log/checkpoint is another writer's to replace: always read.
    other = S3Store(f"s3://{bucket}/archive", endpoint_url=moto.endpoint)
    current = other.get_checkpoint()
    assert current is not None
    other.replace_checkpoint(b"checkpoint two", if_match=current[1])
    assert writer.get_checkpoint() == other.get_checkpoint()
    assert (writer.get_checkpoint() or (b"", ""))[0] == b"checkpoint two"

    # A store that did not write them reads them, all of a file past its kept tail.
    before = len(moto.requests())
    assert other.get("log/entries/000000000000.dsse.json") == b'{"entry": 0}'
    assert writer.get_tail("evidence/s/f.parquet", 100_000) == (data[-100_000:], len(data))
    assert len(_count(moto, before)) == 2


def test_a_parquet_footer_and_its_length_in_one_ranged_get(moto: MotoServer, bucket: str) -> None:
    S3Store(f"s3://{bucket}/archive", endpoint_url=moto.endpoint).put_once(
        "evidence/s/f.parquet", b"x" * 70_000 + b"footer" + b"\x06\x00\x00\x00PAR1"
    )
    reader = S3Store(f"s3://{bucket}/archive", endpoint_url=moto.endpoint)
    before = len(moto.requests())
    tail, size = reader.get_tail("evidence/s/f.parquet", 8)
    assert (tail, size) == (b"\x06\x00\x00\x00PAR1", 70_014)
    assert reader.get_tail("evidence/s/f.parquet", 14) == (b"footer\x06\x00\x00\x00PAR1", 70_014)
    requests = _count(moto, before)
    assert len(requests) == 1 and requests[0].startswith("GET "), requests
    # The kept tail serves the next call only: a later read asks S3 again.
    reader.get_tail("evidence/s/f.parquet", 8)
    assert len(_count(moto, before)) == 2
