"""The dbt targets' S3Reader re-issues a GET whose body broke off, like the store does."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from das_evidence.aws import READ_ATTEMPTS, S3Reader, make_client
from das_evidence.errors import StoreError

DATA = b'{"metadata": {}}' * 50
SHA = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
GET = {"Bucket": "b", "Key": "dbt/target/manifest.json", "ChecksumMode": "ENABLED"}


def response(body: bytes, *, length: int = len(DATA)) -> dict[str, Any]:
    # Fewer bytes than content_length: botocore raises IncompleteReadError on read().
    return {"Body": StreamingBody(io.BytesIO(body), length), "ContentLength": length}


def reader(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> tuple[S3Reader, Stubber]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = make_client("s3", endpoint_url="http://127.0.0.1:9", region="us-east-1")
    return S3Reader("b", "dbt/target", client=client, sleep=sleeps.append), Stubber(client)


def test_a_dbt_artifact_cut_short_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    s3, stub = reader(monkeypatch, sleeps)
    with stub:
        stub.add_response("get_object", response(DATA[:10]), GET)
        stub.add_response("get_object", {**response(DATA), "ChecksumSHA256": SHA}, GET)
        assert s3.read("manifest.json", 1 << 20) == DATA
        stub.assert_no_pending_responses()
    assert sleeps == [0.1]


def test_a_wrong_digest_is_read_again_and_a_large_body_is_not_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []
    s3, stub = reader(monkeypatch, sleeps)
    with stub:
        flipped = DATA[:-1] + b"X"
        stub.add_response("get_object", {**response(flipped), "ChecksumSHA256": SHA}, GET)
        stub.add_response("get_object", {**response(DATA), "ChecksumSHA256": SHA}, GET)
        assert s3.read("manifest.json", 1 << 20) == DATA
        # Larger than the limit: max_bytes + 1 bytes come back for the caller to refuse.
        stub.add_response("get_object", response(DATA), GET)
        assert s3.read("manifest.json", 10) == DATA[:11]
        stub.assert_no_pending_responses()


def test_a_body_that_never_arrives_whole_is_a_store_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []
    s3, stub = reader(monkeypatch, sleeps)
    with stub:
        for _ in range(READ_ATTEMPTS):
            stub.add_response("get_object", response(DATA[:10]), GET)
        with pytest.raises(StoreError, match=rf"manifest.json.*failed {READ_ATTEMPTS} times"):
            s3.read("manifest.json", 1 << 20)
    assert len(sleeps) == READ_ATTEMPTS - 1
