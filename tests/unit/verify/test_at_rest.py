"""Checks of an S3 Batch Operations Compute checksum report (pure: report bytes in,
findings out), against reports built from the documented format. Tests are named after
what the report shows."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from das_evidence.errors import FormatError
from das_evidence.manifests.statement import Statement, Subject, build_statement
from das_evidence.verify import at_rest
from das_evidence.verify.at_rest import (
    MAX_FINDINGS_PER_CHECK,
    MAX_MANIFEST_BYTES,
    SignedObject,
    check_checksum_report,
    job_request,
    manifest_csv,
    parse_manifest,
    result_location,
    signed_objects,
)
from das_evidence.verify.batch import read_report
from das_evidence.verify.findings import Report
from tests.unit.verify.s3_archive import (
    BUCKET,
    JOB_ID,
    csv_bytes,
    failed_row,
    ok_row,
    result_message,
    write_report,
)


def _obj(i: int, version: str | None = None) -> SignedObject:
    path = f"evidence/s/A/t/date=2026-11-0{i}/part.bin"
    sha = hashlib.sha256(b"%d" % i).hexdigest()
    return SignedObject(
        path, f"archive/{path}", version or f"v{i}", sha, f"log/entries/{i:012d}.dsse.json"
    )


OBJECTS = [_obj(1), _obj(2), _obj(3)]


def _check(
    tmp_path: Path, *files: bytes, objects: list[SignedObject] = OBJECTS, **kw: object
) -> Report:
    directory = write_report(tmp_path / "job", files, **kw)  # type: ignore[arg-type]
    manifest, read = read_report(str(directory))
    report = Report("s3://evidence/archive")
    check_checksum_report(report, BUCKET, objects, manifest, read, source="REPORT")
    return report


def _findings(report: Report) -> list[str]:
    return [str(f) for f in report.findings]


def _has(report: Report, check: str, text: str) -> None:
    found = _findings(report)
    assert any(f.startswith(f"[{check}") and text in f for f in found), found


def test_every_signed_object_hashed_to_its_signed_digest_passes(tmp_path: Path) -> None:
    report = _check(tmp_path, csv_bytes([ok_row(o) for o in OBJECTS]))
    assert report.ok, _findings(report)
    assert report.stats["at_rest_matched"] == 3 and report.stats["at_rest_tasks"] == 3


def test_rows_split_over_two_result_files_with_the_schema_order_of_columns_pass(
    tmp_path: Path,
) -> None:
    # The schema lists ErrorCode before HTTPStatusCode: a row in that order reads the same.
    first = csv_bytes([ok_row(OBJECTS[0])])
    o = OBJECTS[1]
    schema_order = ["evidence", o.key, o.version_id or "", "succeeded", "", "200"]
    second = csv_bytes([[*schema_order, result_message(o.sha256)], ok_row(OBJECTS[2])])
    assert _check(tmp_path, first, second).ok


def test_url_encoded_keys_match(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS]
    rows[0][1] = rows[0][1].replace("=", "%3D")
    assert _check(tmp_path, csv_bytes(rows)).ok


def test_base64_alone_is_enough(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS]
    doc = json.loads(rows[0][6])
    del doc["checksum_hex"]
    rows[0][6] = json.dumps(doc)
    assert _check(tmp_path, csv_bytes(rows)).ok


def test_checksum_mismatch(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS[:2]] + [ok_row(OBJECTS[2], "ab" * 32)]
    report = _check(tmp_path, csv_bytes(rows))
    _has(report, "A3 checksum", f"S3 computed SHA-256 {'ab' * 32} at rest")
    assert OBJECTS[2].key in _findings(report)[0]


def test_checksum_of_another_algorithm_or_a_composite(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS]
    rows[0][6] = result_message(OBJECTS[0].sha256, checksumAlgorithm="CRC64NVME")
    rows[1][6] = result_message(OBJECTS[1].sha256, checksumType="COMPOSITE")
    report = _check(tmp_path, csv_bytes(rows))
    _has(report, "A3 checksum", "CRC64NVME checksum, not SHA256")
    _has(report, "A3 checksum", "COMPOSITE checksum, not FULL_OBJECT")


def test_missing_object(tmp_path: Path) -> None:
    report = _check(tmp_path, csv_bytes([ok_row(o) for o in OBJECTS[:2]]))
    _has(report, "A4 coverage", "signed by log/entries/000000000003.dsse.json but missing")


def test_failed_task(tmp_path: Path) -> None:
    report = _check(
        tmp_path, csv_bytes([ok_row(OBJECTS[0]), failed_row(OBJECTS[1]), ok_row(OBJECTS[2])])
    )
    _has(report, "A2 task", "task failed: HTTP 404, NoSuchVersion, The specified version")
    assert len(report.findings) == 1


def test_extra_object_not_in_the_log(tmp_path: Path) -> None:
    extra = _obj(7)
    report = _check(tmp_path, csv_bytes([ok_row(o) for o in [*OBJECTS, extra]]))
    _has(report, "A4 coverage", "not a signed object of the period")
    assert len(report.findings) == 1 and extra.key in report.findings[0].subject


def test_another_version_of_a_signed_key(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS[:2]] + [ok_row(_obj(3, version="v-other"))]
    report = _check(tmp_path, csv_bytes(rows))
    _has(report, "A4 coverage", "another version than the entry pinned")
    _has(report, "A4 coverage", "missing from the report")


def test_another_bucket(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS[:2]] + [ok_row(OBJECTS[2], bucket="elsewhere")]
    report = _check(tmp_path, csv_bytes(rows))
    _has(report, "A4 coverage", "s3://elsewhere/")


def test_object_twice(tmp_path: Path) -> None:
    report = _check(tmp_path, csv_bytes([ok_row(o) for o in [*OBJECTS, OBJECTS[0]]]))
    _has(report, "A4 coverage", "appears 2 times in the report")


def test_truncated_csv_fails_its_md5(tmp_path: Path) -> None:
    data = csv_bytes([ok_row(o) for o in OBJECTS])
    directory = write_report(tmp_path / "job", [data])
    [csv_file] = (directory / "results").iterdir()
    csv_file.write_bytes(data[: len(data) // 2])
    manifest, read = read_report(str(directory))
    report = Report("t")
    check_checksum_report(report, BUCKET, OBJECTS, manifest, read, source="REPORT")
    _has(report, "A1 report", "its MD5 is")
    _has(report, "A4 coverage", "missing from the report")


@pytest.mark.parametrize("cut", [0.5, 0.93])
def test_truncated_csv_without_md5_is_noticed_by_its_shape(tmp_path: Path, cut: float) -> None:
    data = csv_bytes([ok_row(o) for o in OBJECTS])
    report = _check(tmp_path, data[: int(len(data) * cut)], md5=False)
    _has(report, "A1 report", "cut short?")
    assert any("no MD5Checksum" in w for w in report.warnings)


def test_a_succeeded_task_without_a_checksum(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS]
    rows[0][6] = "{}"
    rows[1][6] = "not json"
    rows[2][6] = json.dumps({"checksum_base64": "AAAA"})
    report = _check(tmp_path, csv_bytes(rows))
    _has(report, "A1 report", "holds no checksum")
    _has(report, "A1 report", "is not JSON")
    _has(report, "A1 report", "holds 3 bytes, not a SHA-256's 32")


def test_base64_and_hex_that_disagree(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS]
    rows[0][6] = result_message(OBJECTS[0].sha256, checksum_hex="cd" * 32)
    _has(_check(tmp_path, csv_bytes(rows)), "A1 report", "differ")


def test_not_utf8(tmp_path: Path) -> None:
    report = _check(tmp_path, b"\xff\xfe" + csv_bytes([ok_row(o) for o in OBJECTS]))
    _has(report, "A1 report", "not UTF-8")


def test_a_header_row_is_read_as_one(tmp_path: Path) -> None:
    header = [c.strip() for c in at_rest.REPORT_COLUMNS]
    assert _check(tmp_path, csv_bytes([header] + [ok_row(o) for o in OBJECTS])).ok


# -- hostile sizes -----------------------------------------------------------------------


def test_a_huge_field_is_a_finding(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS]
    rows[0][6] = "x" * (at_rest.MAX_FIELD_BYTES + 1)
    # Beyond the csv module's own field limit or ours: a finding either way.
    report = _check(tmp_path, csv_bytes(rows))
    _has(report, "A1 report", "row 1")


def test_a_result_file_over_the_bound_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("das_evidence.verify.batch.MAX_RESULT_FILE_BYTES", 100)
    report = _check(tmp_path, csv_bytes([ok_row(o) for o in OBJECTS]))
    _has(report, "A1 report", "larger than 100 bytes; not read")


def test_a_manifest_over_the_bound_is_a_finding(tmp_path: Path) -> None:
    directory = write_report(tmp_path / "job", [csv_bytes([ok_row(o) for o in OBJECTS])])
    (directory / "manifest.json").write_bytes(b" " * (MAX_MANIFEST_BYTES + 10) + b"{}")
    manifest, read = read_report(str(directory))
    assert manifest == f"manifest.json is larger than {MAX_MANIFEST_BYTES} bytes; not read"
    report = Report("t")
    check_checksum_report(report, BUCKET, OBJECTS, manifest, read, source="REPORT")
    _has(report, "A1 report", "larger than")
    assert sum(f.check == "A4 coverage" for f in report.findings) == 3


def test_a_flood_of_extra_rows_is_counted_not_listed(tmp_path: Path) -> None:
    extra = [ok_row(_obj(1, version=f"x{i}")) for i in range(MAX_FINDINGS_PER_CHECK + 5)]
    report = _check(tmp_path, csv_bytes([ok_row(o) for o in OBJECTS] + extra))
    a4 = [f for f in report.findings if f.check == "A4 coverage"]
    assert len(a4) == MAX_FINDINGS_PER_CHECK + 1
    assert a4[-1].message == "and 5 more findings like these"


def test_deeply_nested_json_is_a_finding(tmp_path: Path) -> None:
    directory = write_report(tmp_path / "job", [csv_bytes([ok_row(o) for o in OBJECTS])])
    (directory / "manifest.json").write_text("[" * 100_000)
    manifest, _ = read_report(str(directory))
    assert isinstance(manifest, str) and "not JSON" in manifest


# -- the report's manifest.json ----------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"Format": "Report_CSV_20990101", "Results": []}, "Format is"),
        ({"Format": "Report_CSV_20180820"}, "no Results list"),
        ({"Format": "Report_CSV_20180820", "Results": [5]}, "is not an object"),
        (
            {"Format": "Report_CSV_20180820", "Results": [{"Bucket": "b", "Key": "k"}]},
            "lacks a Bucket, Key or TaskExecutionStatus",
        ),
        (
            {
                "Format": "Report_CSV_20180820",
                "Results": [
                    {"Bucket": "b", "Key": "../../etc/passwd", "TaskExecutionStatus": "succeeded"}
                ],
            },
            "is not a job's results/<name>.csv",
        ),
        (
            {"Format": "Report_CSV_20180820", "Results": [], "ReportSchema": "Bucket, Key"},
            "ReportSchema is",
        ),
    ],
)
def test_a_manifest_not_as_documented(doc: dict[str, object], message: str) -> None:
    with pytest.raises(FormatError, match=r"manifest\.json") as e:
        parse_manifest(json.dumps(doc).encode())
    assert message in e.value.message


def test_result_files_of_an_s3_report_stay_in_its_job_folder() -> None:
    key = f"p/job-{JOB_ID}/results/abc.csv"
    good = at_rest.ResultFile("reports", key, None, "succeeded")
    assert result_location(good, "reports", f"p/job-{JOB_ID}/manifest.json") == key
    for bad in (
        at_rest.ResultFile("other-bucket", key, None, "succeeded"),
        at_rest.ResultFile("reports", f"q/job-{JOB_ID}/results/abc.csv", None, "succeeded"),
    ):
        with pytest.raises(FormatError, match="outside the report's own"):
            result_location(bad, "reports", f"p/job-{JOB_ID}/manifest.json")


# -- what the job is built from ----------------------------------------------------------


def _statement(
    index: int, start: str, end: str, *, version: str | None = "v"
) -> tuple[str, Statement]:
    path = f"evidence/s/{index}.bin"
    sha = hashlib.sha256(path.encode()).hexdigest()
    storage = {"objects": [{"path": path, "version_id": version}]} if version else None
    predicate = {
        "window": {"start": start, "end": end},
        **({"storage": storage} if storage else {}),
    }
    data = build_statement(
        [Subject(path, sha)], "https://das-evidence.dev/predicates/collection/v1", predicate
    )
    return f"log/entries/{index:012d}.dsse.json", Statement.from_bytes(data)


def test_signed_objects_of_a_period_and_the_unpinned() -> None:
    statements = [
        _statement(0, "2026-10-31T00:00:00Z", "2026-11-01T00:00:00Z"),
        _statement(1, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
        _statement(2, "2026-11-05T00:00:00Z", "2026-11-05T00:00:00Z"),  # a point in time
        _statement(3, "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z", version=None),
        _statement(4, "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z"),
    ]
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    objects, unpinned = signed_objects(statements, "archive", start=start, end=end)
    assert [o.path for o in objects] == ["evidence/s/1.bin", "evidence/s/2.bin"]
    assert objects[0].key == "archive/evidence/s/1.bin" and objects[0].version_id == "v"
    assert unpinned == ["evidence/s/3.bin"]
    everything, _ = signed_objects(statements, "")
    assert [o.key for o in everything] == [f"evidence/s/{i}.bin" for i in (0, 1, 2, 4)]


def test_manifest_csv_lists_bucket_url_encoded_key_and_version() -> None:
    rows = list(csv.reader(io.StringIO(manifest_csv("evidence", OBJECTS[:1]).decode())))
    assert rows == [["evidence", "archive/evidence/s/A/t/date%3D2026-11-01/part.bin", "v1"]]


def test_job_request_is_a_full_object_sha256_with_every_task_reported() -> None:
    request = job_request(
        account_id="123456789012",
        partition="aws-cn",
        role_arn="arn:aws-cn:iam::123456789012:role/batch",
        manifest_bucket="staging",
        manifest_key="m/manifest.csv",
        manifest_etag='"etag"',
        report_bucket="staging",
        report_prefix="m/report",
        token="t" * 80,
        description="d" * 300,
    )
    assert request["Operation"] == {
        "S3ComputeObjectChecksum": {"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"}
    }
    assert request["Report"]["ReportScope"] == "AllTasks"
    assert request["Report"]["Bucket"] == "arn:aws-cn:s3:::staging"
    assert request["Manifest"]["Location"]["ObjectArn"] == "arn:aws-cn:s3:::staging/m/manifest.csv"
    assert len(request["ClientRequestToken"]) == 64 and len(request["Description"]) == 256


def test_a_byte_order_mark_is_not_part_of_the_bucket(tmp_path: Path) -> None:
    assert _check(tmp_path, b"\xef\xbb\xbf" + csv_bytes([ok_row(o) for o in OBJECTS])).ok


def test_invalid_utf8_far_into_a_large_file(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS] + [ok_row(_obj(1, version=f"x{i}")) for i in range(200)]
    data = csv_bytes(rows) + b"evidence,\xff\n"
    report = _check(tmp_path, data)
    _has(report, "A1 report", "not UTF-8 near row")


def test_a_result_file_that_is_a_fifo_is_a_finding_not_a_hang(tmp_path: Path) -> None:
    directory = write_report(tmp_path / "job", [csv_bytes([ok_row(o) for o in OBJECTS])])
    [csv_file] = (directory / "results").iterdir()
    csv_file.unlink()
    os.mkfifo(csv_file)
    manifest, read = read_report(str(directory))
    report = Report("t")
    check_checksum_report(report, BUCKET, OBJECTS, manifest, read, source="REPORT")
    _has(report, "A1 report", "is a FIFO, not a file; not read")


def test_a_result_file_linked_to_dev_zero_is_not_followed(tmp_path: Path) -> None:
    directory = write_report(tmp_path / "job", [csv_bytes([ok_row(o) for o in OBJECTS])])
    [csv_file] = (directory / "results").iterdir()
    csv_file.unlink()
    csv_file.symlink_to("/dev/zero")
    manifest, read = read_report(str(directory))
    report = Report("t")
    check_checksum_report(report, BUCKET, OBJECTS, manifest, read, source="REPORT")
    _has(report, "A1 report", "symbolic link")


def test_terminal_escapes_in_a_report_are_shown_escaped(tmp_path: Path) -> None:
    rows = [ok_row(o) for o in OBJECTS]
    rows.append(["evidence", "archive/\x1b[2J" + "k" * 1000, "v9", "succeeded", "200", "", "{}"])
    report = _check(tmp_path, csv_bytes(rows))
    [extra] = [f for f in report.findings if f.check == "A4 coverage"]
    assert "\x1b" not in extra.subject and "\\x1b[2J" in extra.subject
    assert len(extra.subject) <= 303
