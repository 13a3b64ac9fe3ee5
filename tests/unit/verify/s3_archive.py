"""A signed archive in an in-process moto S3 (mock_aws), and completion reports for it
built as the S3 Batch Operations documentation describes them."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.aws import make_client
from das_evidence.evidence_store.s3 import S3Store
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.verify.at_rest import SignedObject

ORIGIN = "evidence.example.com/at-rest-test"
BUCKET = "evidence"
PREFIX = "archive"
TARGET = f"s3://{BUCKET}/{PREFIX}"
JOB_ID = "f8fb9d89-a3aa-461d-bddc-ea6a1b131955"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """moto in process, with no AWS setting of the machine running the tests."""
    import boto3
    from moto import mock_aws

    for var in list(os.environ):
        if var.startswith(("AWS_", "EVIDENCE_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with mock_aws():
        yield


@dataclass
class S3Archive:
    store: S3Store
    pub: Path
    objects: list[SignedObject]


def make_archive(tmp_path: Path, days: Sequence[int] = (1, 2, 3)) -> S3Archive:
    """Three daily entries of one stream, each signing one evidence file at its version."""
    s3 = make_client("s3", region="us-east-1")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.create_bucket(Bucket="staging")
    store = S3Store(TARGET, client=s3)
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    log = ArchiveLog(store, ORIGIN)
    objects = []
    for day in days:
        body = f"evidence of day {day}\n".encode() * 10
        path = f"evidence/s/A/t/date=2026-11-0{day}/part.bin"
        info = store.put_once(path, body).info
        start, end = f"2026-11-0{day}T00:00:00Z", f"2026-11-0{day + 1}T00:00:00Z"
        sha = hashlib.sha256(body).hexdigest()
        entry = log.append(
            stream="s/A/t",
            files=[EvidenceFile(path, sha, len(body), "application/octet-stream", None)],
            predicate={
                "collector": {"name": "t", "version": "0"},
                "window": {"start": start, "end": end},
                "collected_at": end,
                "storage": {"uri": TARGET, "objects": [info.storage_json()]},
            },
            signer=signer,
            note_signer=signer,
        )
        assert info.version_id
        objects.append(
            SignedObject(
                path,
                f"{PREFIX}/{path}",
                info.version_id,
                sha,
                f"log/entries/{entry.index:012d}.dsse.json",
            )
        )
    pub = tmp_path / "signing.pub"
    pub.write_bytes(signer.public_key_pem())
    return S3Archive(store, pub, objects)


# -- completion reports, as documented ---------------------------------------------------


def b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def result_message(sha_hex: str, **override: Any) -> str:
    doc = {
        "checksum_base64": b64(sha_hex),
        "checksum_hex": sha_hex,
        "checksumAlgorithm": "SHA256",
        "checksumType": "FULL_OBJECT",
    }
    doc.update(override)
    return json.dumps(doc)


def ok_row(o: SignedObject, sha_hex: str | None = None, bucket: str = BUCKET) -> list[str]:
    """A succeeded task as AWS's examples show it: the HTTP status, then no error code."""
    return [
        bucket,
        o.key,
        o.version_id or "",
        "succeeded",
        "200",
        "",
        result_message(sha_hex or o.sha256),
    ]


def failed_row(o: SignedObject) -> list[str]:
    return [
        BUCKET,
        o.key,
        o.version_id or "",
        "failed",
        "404",
        "NoSuchVersion",
        "The specified version does not exist.",
    ]


def csv_bytes(rows: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def write_report(
    directory: Path,
    files: Sequence[bytes],
    *,
    md5: bool = True,
    manifest: dict[str, Any] | None = None,
) -> Path:
    """A job folder as `aws s3 cp --recursive s3://.../job-<id>/ DIR` leaves it:
    DIR/manifest.json and DIR/results/<hash>.csv."""
    (directory / "results").mkdir(parents=True, exist_ok=True)
    results = []
    for i, data in enumerate(files):
        name = hashlib.sha1(b"%d" % i).hexdigest() + ".csv"
        (directory / "results" / name).write_bytes(data)
        r: dict[str, Any] = {
            "TaskExecutionStatus": "succeeded",
            "Bucket": "staging",
            "Key": f"at-rest/run/report/job-{JOB_ID}/results/{name}",
        }
        if md5:
            r["MD5Checksum"] = hashlib.md5(data).hexdigest()
        results.append(r)
    doc = manifest or {
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2026-12-01T17:48:39.725Z",
        "Results": results,
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, "
        "ResultMessage",
    }
    (directory / "manifest.json").write_text(json.dumps(doc))
    return directory
