"""`verify --at-rest` creates the Compute checksum job: the S3 archive and the staging
bucket are moto's (in process), STS and S3 Control are botocore's Stubber, so the
CreateJob request is checked parameter by parameter."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from das_evidence.aws import BatchJobs, make_client
from das_evidence.errors import ConfigError, StoreError
from das_evidence.timefmt import rfc3339
from das_evidence.verify import auditor_trust
from das_evidence.verify.at_rest import manifest_csv
from das_evidence.verify.batch import start_job
from tests.unit.verify.s3_archive import BUCKET, JOB_ID, TARGET, S3Archive, aws, make_archive

__all__ = ["aws"]  # the fixture, imported for the tests here

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/das-evidence-batch"
NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
IDENTITY = {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/auditor", "UserId": "AIDA"}


@pytest.fixture
def archive(aws: None, tmp_path: Path) -> S3Archive:
    return make_archive(tmp_path)


@pytest.fixture
def stubbed(aws: None) -> Iterator[tuple[BatchJobs, Stubber, Stubber]]:
    sts = make_client("sts", region="us-east-1")
    s3control = make_client("s3control", region="us-east-1")
    jobs = BatchJobs(s3=make_client("s3", region="us-east-1"), sts=sts, s3control=s3control)
    with Stubber(sts) as sts_stub, Stubber(s3control) as control_stub:
        yield jobs, sts_stub, control_stub
        sts_stub.assert_no_pending_responses()
        control_stub.assert_no_pending_responses()


def _start(archive: S3Archive, jobs: BatchJobs, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "trust": auditor_trust([archive.pub], None, None),
        "staging": "s3://staging/verification",
        "role_arn": ROLE,
        "jobs": jobs,
        "store": archive.store,
        "clock": lambda: NOW,
        **kw,
    }
    return start_job(TARGET, **args)


def test_the_job_computes_sha256_of_every_signed_version_and_reports_every_task(
    archive: S3Archive, stubbed: tuple[BatchJobs, Stubber, Stubber]
) -> None:
    jobs, sts_stub, control_stub = stubbed
    manifest = manifest_csv(BUCKET, archive.objects)
    digest = hashlib.sha256(manifest + rfc3339(NOW).encode()).hexdigest()
    base = f"verification/at-rest/20261201T180000Z-{digest[:12]}"
    expected = {
        "AccountId": ACCOUNT,
        "ConfirmationRequired": False,
        "Operation": {
            "S3ComputeObjectChecksum": {
                "ChecksumAlgorithm": "SHA256",
                "ChecksumType": "FULL_OBJECT",
            }
        },
        "Manifest": {
            "Spec": {
                "Format": "S3BatchOperations_CSV_20180820",
                "Fields": ["Bucket", "Key", "VersionId"],
            },
            "Location": {
                "ObjectArn": f"arn:aws:s3:::staging/{base}/manifest.csv",
                "ETag": hashlib.md5(manifest).hexdigest(),
            },
        },
        "Report": {
            "Bucket": "arn:aws:s3:::staging",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": f"{base}/report",
            "ReportScope": "AllTasks",
            "ExpectedBucketOwner": ACCOUNT,
        },
        "ClientRequestToken": digest,
        "Description": f"das-evidence: SHA-256 at rest of 3 signed objects of {TARGET}",
        "Priority": 10,
        "RoleArn": ROLE,
    }
    sts_stub.add_response("get_caller_identity", IDENTITY, {})
    control_stub.add_response("create_job", {"JobId": JOB_ID}, expected)

    report, started = _start(archive, jobs)

    assert report.ok, [str(f) for f in report.findings]
    assert started.job_id == JOB_ID and started.objects == 3
    assert started.report_uri == f"s3://staging/{base}/report/job-{JOB_ID}/manifest.json"
    # The manifest S3 holds is the one CreateJob names: bucket, URL-encoded key, version.
    s3 = make_client("s3", region="us-east-1")
    head = s3.head_object(Bucket="staging", Key=f"{base}/manifest.csv", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(manifest).digest()).decode()
    body = s3.get_object(Bucket="staging", Key=f"{base}/manifest.csv")["Body"].read()
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert [(b, k, v) for b, k, v in rows] == [
        (BUCKET, o.key.replace("=", "%3D"), o.version_id) for o in archive.objects
    ]
    steps = started.next_steps(f"--pub {archive.pub}")
    assert steps[0].startswith(f"aws s3control describe-job --account-id {ACCOUNT} --job-id")
    assert steps[1] == (
        f"evidence verify {TARGET} --pub {archive.pub} --checksum-report {started.report_uri}"
    )


def test_a_period_selects_the_entries_whose_window_it_meets(
    archive: S3Archive, stubbed: tuple[BatchJobs, Stubber, Stubber]
) -> None:
    jobs, sts_stub, control_stub = stubbed
    sts_stub.add_response("get_caller_identity", IDENTITY, {})
    control_stub.add_response("create_job", {"JobId": JOB_ID})
    start, end = datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
    _, started = _start(archive, jobs, start=start, end=end)
    assert started.objects == 1 and started.period == "[2026-11-02T00:00:00Z, 2026-11-03T00:00:00Z)"


def test_a_log_that_fails_its_checks_creates_no_job(
    archive: S3Archive, stubbed: tuple[BatchJobs, Stubber, Stubber]
) -> None:
    jobs, _, _ = stubbed  # no response queued: any call would fail the test
    s3 = make_client("s3", region="us-east-1")
    s3.delete_object(Bucket=BUCKET, Key="archive/log/checkpoints/3")
    report, started = _start(archive, jobs)
    assert started is None
    assert any(f.check == "V7 checkpoint" for f in report.findings)


def test_a_refused_create_job_names_the_permissions(
    archive: S3Archive, stubbed: tuple[BatchJobs, Stubber, Stubber]
) -> None:
    jobs, sts_stub, control_stub = stubbed
    sts_stub.add_response("get_caller_identity", IDENTITY, {})
    control_stub.add_client_error("create_job", "AccessDenied", "no", 403)
    with pytest.raises(StoreError) as e:
        _start(archive, jobs)
    assert "CreateJob failed: AccessDenied" in e.value.message
    assert e.value.fix is not None and "iam:PassRole" in e.value.fix


@pytest.mark.parametrize(
    ("staging", "role", "message"),
    [
        ("s3://evidence/archive/verification", ROLE, "inside the archive"),
        ("s3://evidence/archive", ROLE, "inside the archive"),
        ("s3://staging/v", "das-evidence-batch", "not an IAM role ARN"),
    ],
)
def test_staging_inside_the_archive_or_a_bad_role_is_a_usage_error(
    archive: S3Archive,
    stubbed: tuple[BatchJobs, Stubber, Stubber],
    staging: str,
    role: str,
    message: str,
) -> None:
    jobs, _, _ = stubbed
    with pytest.raises(ConfigError, match=message):
        _start(archive, jobs, staging=staging, role_arn=role)
