"""`evidence verify s3://... --at-rest` and `--checksum-report`: exit codes and output,
through :func:`main`, against an archive in moto's S3 (in process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from das_evidence.aws import BatchJobs, make_client
from das_evidence.verify import batch
from tests.unit.cli.conftest import Evidence, evidence
from tests.unit.verify.s3_archive import (
    JOB_ID,
    TARGET,
    S3Archive,
    aws,
    csv_bytes,
    failed_row,
    make_archive,
    ok_row,
    write_report,
)

__all__ = ["aws", "evidence"]

ROLE = "arn:aws:iam::123456789012:role/das-evidence-batch"


@pytest.fixture
def archive(aws: None, tmp_path: Path) -> S3Archive:
    return make_archive(tmp_path)


def _verify(evidence: Evidence, archive: S3Archive, *more: str) -> Any:
    r = evidence("verify", TARGET, "--pub", str(archive.pub), "--format", "json", *more)
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    return r


def test_a_report_that_matches_every_signed_object_passes(
    evidence: Evidence,
    archive: S3Archive,
    tmp_path: Path,
) -> None:
    report = write_report(tmp_path / "job", [csv_bytes([ok_row(o) for o in archive.objects])])
    r = _verify(evidence, archive, "--checksum-report", str(report))
    assert r.code == 0, r.out + r.err
    out = json.loads(r.out)
    assert out["verdict"] == "pass" and out["stats"]["at_rest_matched"] == 3
    assert out["stats"]["entries"] == 3


def test_a_report_read_from_s3_passes_and_text_output_says_so(
    evidence: Evidence,
    archive: S3Archive,
    tmp_path: Path,
) -> None:
    local = write_report(tmp_path / "job", [csv_bytes([ok_row(o) for o in archive.objects])])
    s3 = make_client("s3", region="us-east-1")
    folder = f"at-rest/run/report/job-{JOB_ID}"
    for path in local.rglob("*"):
        if path.is_file():
            key = f"{folder}/{path.relative_to(local).as_posix()}"
            s3.put_object(Bucket="staging", Key=key, Body=path.read_bytes())
    r = evidence(
        "verify",
        TARGET,
        "--pub",
        str(archive.pub),
        "--checksum-report",
        f"s3://staging/{folder}/manifest.json",
    )
    assert r.code == 0, r.out + r.err
    assert "PASS" in r.out and "3 of 3 signed objects hashed by S3" in r.out


def test_a_mismatch_and_a_failed_task_exit_1_with_findings(
    evidence: Evidence,
    archive: S3Archive,
    tmp_path: Path,
) -> None:
    a, b, c = archive.objects
    rows = [ok_row(a, "00" * 32), failed_row(b), ok_row(c)]
    report = write_report(tmp_path / "job", [csv_bytes(rows)])
    r = _verify(evidence, archive, "--checksum-report", str(report))
    assert r.code == 1
    checks = sorted(f["check"] for f in json.loads(r.out)["findings"])
    assert checks == ["A2 task", "A3 checksum"]


def test_a_malformed_report_is_a_finding(
    evidence: Evidence,
    archive: S3Archive,
    tmp_path: Path,
) -> None:
    report = write_report(tmp_path / "job", [b""])
    (report / "manifest.json").write_text('{"Format": "Report_CSV_20180820", "Results": ')
    r = _verify(evidence, archive, "--checksum-report", str(report))
    assert r.code == 1
    findings = json.loads(r.out)["findings"]
    assert findings[0]["check"] == "A1 report" and "not JSON" in findings[0]["message"]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_an_unreadable_report_exits_3(
    evidence: Evidence,
    archive: S3Archive,
    tmp_path: Path,
    where: str,
) -> None:
    source = str(tmp_path / "nothing-here") if where == "local" else "s3://staging/no/job-x"
    r = _verify(evidence, archive, "--checksum-report", source)
    assert r.code == 3, r.out + r.err
    assert "fix:" in r.err


def test_a_result_file_missing_from_a_local_copy_exits_3(
    evidence: Evidence,
    archive: S3Archive,
    tmp_path: Path,
) -> None:
    report = write_report(tmp_path / "job", [csv_bytes([ok_row(o) for o in archive.objects])])
    for f in (report / "results").iterdir():
        f.unlink()
    r = _verify(evidence, archive, "--checksum-report", str(report))
    assert r.code == 3 and "aws s3 cp --recursive" in r.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at-rest"], "--at-rest needs --staging and --role-arn"),
        (["--staging", "s3://staging/v"], "belong to --at-rest"),
        (["--from", "2026-11-01"], "belong to --at-rest and --checksum-report"),
        (
            ["--at-rest", "--checksum-report", "x", "--staging", "s3://s/v", "--role-arn", ROLE],
            "together",
        ),
    ],
)
def test_options_that_do_not_fit_exit_2(
    evidence: Evidence,
    archive: S3Archive,
    args: list[str],
    message: str,
) -> None:
    r = _verify(evidence, archive, *args)
    assert r.code == 2 and message in r.err, r.err


def test_at_rest_on_a_directory_exits_2(evidence: Evidence, tmp_path: Path) -> None:
    pub = tmp_path / "k.pub"
    pub.write_text("x")
    r = evidence("verify", str(tmp_path), "--pub", str(pub), "--checksum-report", "r")
    assert r.code == 2 and "check an s3:// archive" in r.err


@pytest.fixture
def stubbed_jobs(monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[Stubber]:
    sts = make_client("sts", region="us-east-1")
    s3control = make_client("s3control", region="us-east-1")
    jobs = BatchJobs(s3=make_client("s3", region="us-east-1"), sts=sts, s3control=s3control)
    monkeypatch.setattr(batch, "BatchJobs", lambda **_: jobs)
    with Stubber(sts) as sts_stub, Stubber(s3control) as control_stub:
        sts_stub.add_response(
            "get_caller_identity",
            {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/a", "UserId": "A"},
        )
        yield control_stub


def test_at_rest_prints_the_job_and_what_to_run_next(
    evidence: Evidence,
    archive: S3Archive,
    stubbed_jobs: Stubber,
) -> None:
    stubbed_jobs.add_response("create_job", {"JobId": JOB_ID})
    r = _verify(
        evidence,
        archive,
        "--at-rest",
        "--staging",
        "s3://staging/verification",
        "--role-arn",
        ROLE,
        "--from",
        "2026-11-01",
    )
    assert r.code == 0, r.out + r.err
    out = json.loads(r.out)
    assert out["job_id"] == JOB_ID and out["objects"] == 3
    assert out["report"].endswith(f"/report/job-{JOB_ID}/manifest.json")
    assert out["next"][1] == (
        f"evidence verify {TARGET} --pub {archive.pub} --from 2026-11-01T00:00:00Z "
        f"--checksum-report {out['report']}"
    )


def test_at_rest_in_text_names_the_job_the_report_and_the_next_commands(
    evidence: Evidence,
    archive: S3Archive,
    stubbed_jobs: Stubber,
) -> None:
    stubbed_jobs.add_response("create_job", {"JobId": JOB_ID})
    r = evidence(
        "verify",
        TARGET,
        "--pub",
        str(archive.pub),
        "--at-rest",
        "--staging",
        "s3://staging/verification",
        "--role-arn",
        ROLE,
    )
    assert r.code == 0, r.out + r.err
    lines = r.out.splitlines()
    assert lines[0].startswith(f"created S3 Batch Operations job {JOB_ID}: SHA-256")
    assert "3 signed objects" in lines[0] and "the whole log" in lines[0]
    assert any(line.strip().startswith("aws s3control describe-job") for line in lines)
    assert any("--checksum-report s3://staging/verification/at-rest/" in line for line in lines)


def test_at_rest_on_a_log_that_fails_creates_no_job_and_exits_1(
    evidence: Evidence,
    archive: S3Archive,
    stubbed_jobs: Stubber,
) -> None:
    make_client("s3", region="us-east-1").delete_object(
        Bucket="evidence", Key="archive/log/checkpoints/3"
    )
    r = evidence(
        "verify",
        TARGET,
        "--pub",
        str(archive.pub),
        "--at-rest",
        "--staging",
        "s3://staging/verification",
        "--role-arn",
        ROLE,
    )
    assert r.code == 1
    assert "FAIL [V7 checkpoint]" in r.out and "no job created" in r.out


def test_a_keys_file_stands_in_for_pub_at_rest(
    evidence: Evidence, archive: S3Archive, tmp_path: Path
) -> None:
    report = write_report(tmp_path / "job", [csv_bytes([ok_row(o) for o in archive.objects])])
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[[key]]\npub = "{archive.pub}"\nfrom = 0\n')
    r = evidence(
        "verify", TARGET, "--keys", str(keys), "--checksum-report", str(report), "--format", "json"
    )
    assert r.code == 0, r.out + r.err
    assert json.loads(r.out)["stats"]["at_rest_matched"] == 3
    # ...and a key whose range ends before the log's entries is a finding
    keys.write_text(f'[[key]]\npub = "{archive.pub}"\nfrom = 0\nuntil = 1\n')
    r = evidence(
        "verify", TARGET, "--keys", str(keys), "--checksum-report", str(report), "--format", "json"
    )
    assert r.code == 1, r.out + r.err
