"""Reads from S3 survive bodies cut off mid-transfer (moto_server behind a truncating proxy).

A connection that drops after the headers leaves botocore's own retries
behind: the store must notice the short body and read the object again.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from das_evidence.errors import StoreError
from das_evidence.evidence_store import s3
from das_evidence.evidence_store.s3 import S3Store
from tests.s3_server import CREDENTIALS, MotoServer, TruncatingProxy

OBJECTS = 20


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture
def stored(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, bytes]]:
    """A locked bucket holding OBJECTS evidence files of 1 to 40 KiB, put directly."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = moto.locked_bucket()
    writer = S3Store(f"s3://{bucket}/archive", endpoint_url=moto.endpoint)
    rng = random.Random(7)
    files = {
        f"evidence/t/{i:03d}.bin": rng.randbytes(rng.randint(1024, 40 * 1024))
        for i in range(OBJECTS)
    }
    until = datetime(2030, 1, 1, tzinfo=UTC)
    for key, data in files.items():
        writer.put_once(key, data, retain_until=until)
    return bucket, files


def read_all(store: S3Store, files: dict[str, bytes]) -> dict[str, bytes]:
    out = {key: store.get(key) for key in files}
    versions = {key: store.head(key) for key in files}
    out |= {f"{k}@version": store.get(k, v.version_id) for k, v in versions.items() if v}
    return out


def test_every_read_returns_the_stored_bytes_when_a_fifth_of_bodies_are_cut(
    moto: MotoServer, stored: tuple[str, dict[str, bytes]]
) -> None:
    bucket, files = stored
    proxy = TruncatingProxy(moto.port, cut_paths_with=b"/evidence/t/", seed=11).start()
    try:
        reader = S3Store(f"s3://{bucket}/archive", endpoint_url=proxy.endpoint)
        got = read_all(reader, files)
    finally:
        proxy.stop()
    assert got == files | {f"{k}@version": v for k, v in files.items()}
    # The proxy really did cut about a fifth of the object GETs.
    assert proxy.get_count >= 2 * OBJECTS
    assert proxy.cut_count >= 0.1 * proxy.get_count


def test_without_the_retry_the_same_faults_fail_the_reads(
    moto: MotoServer, stored: tuple[str, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One attempt is the store before reads were retried: the test above depends on the retry.
    monkeypatch.setattr(s3, "READ_ATTEMPTS", 1)
    bucket, files = stored
    proxy = TruncatingProxy(moto.port, cut_paths_with=b"/evidence/t/", seed=11).start()
    try:
        reader = S3Store(f"s3://{bucket}/archive", endpoint_url=proxy.endpoint)
        with pytest.raises(StoreError, match=r"evidence/t/.*failed 1 times"):
            read_all(reader, files)
    finally:
        proxy.stop()
    assert proxy.cut_count >= 1


def test_the_proxy_stops_by_itself(moto: MotoServer) -> None:
    proxy = TruncatingProxy(moto.port, cut_paths_with=b"/x/", lifetime=0.3).start()
    assert proxy._thread is not None
    proxy._thread.join(timeout=3)
    assert not proxy._thread.is_alive()
