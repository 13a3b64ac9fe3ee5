"""S3Store re-issues a GET whose body broke off or came back wrong (botocore's Stubber)."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from das_evidence.aws import make_client
from das_evidence.errors import StoreError
from das_evidence.evidence_store.s3 import READ_ATTEMPTS, S3Store, body_fault

DATA = b"evidence bytes " * 40
SHA = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
GET = {"Bucket": "b", "Key": "p/evidence/a.bin", "ChecksumMode": "ENABLED"}


def response(body: bytes, *, length: int = len(DATA), sha: str = SHA) -> dict[str, Any]:
    # A StreamingBody that holds fewer bytes than its content_length is a dropped
    # connection as botocore sees it: read() raises IncompleteReadError.
    return {
        "Body": StreamingBody(io.BytesIO(body), length),
        "ContentLength": length,
        "ChecksumSHA256": sha,
        "ETag": '"e"',
    }


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3Store, Stubber, list[float]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = make_client("s3", endpoint_url="http://127.0.0.1:9", region="us-east-1")
    sleeps: list[float] = []
    store = S3Store("s3://b/p", client=client, sleep=sleeps.append)
    with Stubber(client) as stub:
        yield store, stub, sleeps
        stub.assert_no_pending_responses()


def test_a_body_cut_short_is_read_again(stubbed: tuple[S3Store, Stubber, list[float]]) -> None:
    store, stub, sleeps = stubbed
    stub.add_response("get_object", response(DATA[:100]), GET)
    stub.add_response("get_object", response(DATA), GET)
    assert store.get("evidence/a.bin") == DATA
    assert sleeps == [0.1]


def test_a_short_body_a_wrong_digest_then_the_right_bytes_same_version(
    stubbed: tuple[S3Store, Stubber, list[float]],
) -> None:
    store, stub, sleeps = stubbed
    versioned = {**GET, "VersionId": "v1"}
    # Short against its own Content-Length (no error from botocore: the length lies too).
    stub.add_response("get_object", response(DATA[:-1], length=len(DATA) - 1), versioned)
    flipped = DATA[:-1] + b"X"
    stub.add_response("get_object", response(flipped), versioned)
    stub.add_response("get_object", response(DATA), versioned)
    assert store.get("evidence/a.bin", "v1") == DATA
    assert sleeps == [0.1, 0.2]


def test_a_body_that_never_arrives_whole_is_a_store_error_naming_key_and_attempts(
    stubbed: tuple[S3Store, Stubber, list[float]],
) -> None:
    store, stub, sleeps = stubbed
    for _ in range(READ_ATTEMPTS):
        stub.add_response("get_object", response(DATA[:10]), GET)
    with pytest.raises(StoreError) as e:
        store.get("evidence/a.bin")
    message = str(e.value)
    assert "s3://b/p/evidence/a.bin" in message
    assert f"failed {READ_ATTEMPTS} times" in message
    assert "IncompleteReadError" in message
    assert e.value.fix
    assert len(sleeps) == READ_ATTEMPTS - 1


def test_the_checkpoint_is_read_again_too(stubbed: tuple[S3Store, Stubber, list[float]]) -> None:
    store, stub, _ = stubbed
    get = {**GET, "Key": "p/log/checkpoint"}
    stub.add_response("get_object", response(DATA[:5]), get)
    stub.add_response("get_object", response(DATA), get)
    assert store.get_checkpoint() == (DATA, '"e"')


def test_body_fault() -> None:
    ok = {"ContentLength": len(DATA), "ChecksumSHA256": SHA}
    assert body_fault(DATA, ok) is None
    assert body_fault(DATA, {}) is None  # nothing to compare with
    assert "Content-Length" in (body_fault(DATA[:-1], ok) or "")
    assert "SHA-256" in (body_fault(DATA[:-1] + b"X", ok) or "")
    # A multipart object's composite checksum is not a digest of the bytes.
    assert body_fault(DATA, {"ChecksumSHA256": "abc=-3", "ChecksumType": "COMPOSITE"}) is None


OPEN = {"Bucket": "b", "Key": "p/evidence/a.bin"}


def test_open_streams_and_a_body_cut_short_is_read_on_from_where_it_stopped(
    stubbed: tuple[S3Store, Stubber, list[float]],
) -> None:
    store, stub, sleeps = stubbed
    stub.add_response("get_object", response(DATA[:100]), OPEN)
    rest = {"Body": StreamingBody(io.BytesIO(DATA[100:]), len(DATA) - 100), "ETag": '"e"'}
    stub.add_response(
        "get_object", {**rest, "ContentLength": len(DATA) - 100}, {**OPEN, "Range": "bytes=100-"}
    )
    with store.open("evidence/a.bin") as f:
        assert f.read() == DATA
    assert sleeps == [0.1]


def test_open_seeks_with_a_ranged_get(stubbed: tuple[S3Store, Stubber, list[float]]) -> None:
    store, stub, _ = stubbed
    stub.add_response("get_object", response(DATA), OPEN)
    tail = {"Body": StreamingBody(io.BytesIO(DATA[-8:]), 8), "ContentLength": 8, "ETag": '"e"'}
    stub.add_response("get_object", tail, {**OPEN, "Range": f"bytes={len(DATA) - 8}-"})
    with store.open("evidence/a.bin") as f:
        f.seek(-8, io.SEEK_END)
        assert f.read() == DATA[-8:]
