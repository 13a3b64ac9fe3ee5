"""Verification at rest: S3 hashes each signed object where it is stored; nothing is downloaded.

An S3 Batch Operations *Compute checksum* job (SHA-256, ``FULL_OBJECT``) runs
over a CSV manifest of the signed object versions, and writes a completion
report: a ``manifest.json`` naming CSV result files, one row per task. This
module is pure: it builds the job's manifest and request from the signed
entries, and checks the report's bytes against them. Reading the log, the
upload and the report files are :mod:`das_evidence.verify.batch`'s.

The checks, after the log's own (``V1``-``V9``, without ``V6``, which this replaces):

- ``A1 report``: the report is as documented: ``manifest.json`` in format
  ``Report_CSV_20180820`` with its ``Results``, every result file under the
  job's own ``results/``, of the size and MD5 the manifest gives, each row of
  seven columns (Bucket, Key, VersionId, TaskStatus, ErrorCode,
  HTTPStatusCode, ResultMessage), a succeeded task's result message a JSON
  object holding the checksum.
- ``A2 task``: the task of every signed object succeeded.
- ``A3 checksum``: S3 computed a full-object SHA-256, and it equals the digest
  the entry signed (base64 in the report, hex in the entry).
- ``A4 coverage``: every signed object of the period appears in the report
  exactly once, at the version its entry pinned; the report names no other
  object (one not in the log, or another version).

The report's own documentation is thin on the result message of a checksum
task: its fields are read by the names S3 writes (``checksum_base64``,
``checksum_hex``, ``checksumAlgorithm``, ``checksumType``), and the two middle
columns are told apart by their values, since AWS's examples put the HTTP
status before the error code while the report schema lists it after.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from das_evidence.errors import FormatError
from das_evidence.manifests.statement import Statement
from das_evidence.timefmt import parse_signed
from das_evidence.verify.findings import Report

#: The manifest format and fields of the job (S3 Batch Operations CSV, with versions).
MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"
MANIFEST_FIELDS = ("Bucket", "Key", "VersionId")
#: The completion report's format and the columns of each of its CSV rows.
REPORT_FORMAT = "Report_CSV_20180820"
REPORT_COLUMNS = (
    "Bucket",
    "Key",
    "VersionId",
    "TaskStatus",
    "ErrorCode",
    "HTTPStatusCode",
    "ResultMessage",
)
CHECKSUM_ALGORITHM = "SHA256"
CHECKSUM_TYPE = "FULL_OBJECT"

#: Bounds on what is read: the report's manifest.json, each CSV result file, how many
#: result files, and how long one CSV field may be. A result file holds ~300 bytes a
#: row: 256 MiB is over 800,000 objects in one file.
MAX_MANIFEST_BYTES = 1 << 20
MAX_RESULT_FILE_BYTES = 256 << 20
MAX_RESULT_FILES = 10_000
MAX_FIELD_BYTES = 64 << 10
#: Findings of one check listed one by one; the rest are counted in one more finding.
MAX_FINDINGS_PER_CHECK = 1000

_RESULT_NAME = re.compile(r"^[A-Za-z0-9._=-]{1,200}\.csv$")
_JOB_SEGMENT = re.compile(r"^job-[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class SignedObject:
    """One evidence object a signed entry names, where S3 keeps it."""

    path: str  # the store key, evidence/...
    key: str  # the S3 key: the archive's prefix and the path
    version_id: str | None
    sha256: str  # hex, as signed
    entry: str  # the log key of the entry that signed it


def _window(statement: Statement) -> tuple[datetime | None, datetime | None]:
    window = statement.predicate.get("window")
    if not isinstance(window, Mapping):
        return None, None
    return parse_signed(window.get("start")), parse_signed(window.get("end"))


def in_period(statement: Statement, start: datetime | None, end: datetime | None) -> bool:
    """Whether the entry's window meets ``[start, end)``; an unreadable window always
    does (V3 reports it, and checking one object more is safe)."""
    w_start, w_end = _window(statement)
    if w_start is None or w_end is None:
        return True
    if start is not None and (w_end <= start if w_end > w_start else w_start < start):
        return False
    return not (end is not None and w_start >= end)


def signed_objects(
    statements: Sequence[tuple[str, Statement]],
    prefix: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[list[SignedObject], list[str]]:
    """The objects the entries (log key, statement) of the period sign, and the paths of
    those that pin no S3 version (not checkable at rest: a version is what S3 hashes)."""
    objects: list[SignedObject] = []
    unpinned: list[str] = []
    for entry, statement in statements:
        if not in_period(statement, start, end):
            continue
        storage = statement.predicate.get("storage")
        pins: dict[str, Any] = {}
        if isinstance(storage, Mapping) and isinstance(storage.get("objects"), list):
            pins = {
                str(o.get("path")): o.get("version_id")
                for o in storage["objects"]
                if isinstance(o, Mapping)
            }
        for subject in statement.subjects:
            version = pins.get(subject.name)
            if not isinstance(version, str) or not version:
                unpinned.append(subject.name)
                continue
            key = f"{prefix}/{subject.name}" if prefix else subject.name
            objects.append(SignedObject(subject.name, key, version, subject.sha256, entry))
    return objects, unpinned


def manifest_csv(bucket: str, objects: Sequence[SignedObject]) -> bytes:
    """The job's manifest: ``bucket,key,version`` a line, keys URL-encoded as S3 requires."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for o in objects:
        writer.writerow([bucket, quote(o.key, safe="/"), o.version_id or ""])
    return out.getvalue().encode()


def job_request(
    *,
    account_id: str,
    partition: str,
    role_arn: str,
    manifest_bucket: str,
    manifest_key: str,
    manifest_etag: str,
    report_bucket: str,
    report_prefix: str,
    token: str,
    description: str,
) -> dict[str, Any]:
    """The S3 Control ``CreateJob`` request: compute every listed version's full-object
    SHA-256, report every task (succeeded or not) as CSV under ``report_prefix``."""
    return {
        "AccountId": account_id,
        "ConfirmationRequired": False,
        "Operation": {
            "S3ComputeObjectChecksum": {
                "ChecksumAlgorithm": CHECKSUM_ALGORITHM,
                "ChecksumType": CHECKSUM_TYPE,
            }
        },
        "Manifest": {
            "Spec": {"Format": MANIFEST_FORMAT, "Fields": list(MANIFEST_FIELDS)},
            "Location": {
                "ObjectArn": f"arn:{partition}:s3:::{manifest_bucket}/{manifest_key}",
                "ETag": manifest_etag,
            },
        },
        "Report": {
            "Bucket": f"arn:{partition}:s3:::{report_bucket}",
            "Format": REPORT_FORMAT,
            "Enabled": True,
            "Prefix": report_prefix,
            "ReportScope": "AllTasks",
            "ExpectedBucketOwner": account_id,
        },
        "ClientRequestToken": token[:64],
        "Description": description[:256],
        "Priority": 10,
        "RoleArn": role_arn,
    }


# -- the completion report ---------------------------------------------------------------


@dataclass(frozen=True)
class ResultFile:
    """One CSV result file the report's manifest.json names."""

    bucket: str
    key: str
    md5: str | None
    status: str

    @property
    def name(self) -> str:
        """Its path relative to the job's report directory: ``results/<name>.csv``."""
        return "results/" + self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ReportManifest:
    files: tuple[ResultFile, ...]
    columns: tuple[str, ...] = REPORT_COLUMNS
    created: str | None = None


def parse_manifest(data: bytes) -> ReportManifest:
    """The report's ``manifest.json``; :class:`FormatError` when it is not as documented."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise FormatError(f"manifest.json is larger than {MAX_MANIFEST_BYTES} bytes; not read")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise FormatError(f"manifest.json is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise FormatError("manifest.json is not a JSON object")
    if doc.get("Format") != REPORT_FORMAT:
        raise FormatError(f"manifest.json Format is {doc.get('Format')!r}, not {REPORT_FORMAT}")
    results = doc.get("Results")
    if not isinstance(results, list):
        raise FormatError("manifest.json has no Results list")
    if len(results) > MAX_RESULT_FILES:
        raise FormatError(
            f"manifest.json names {len(results)} result files, over {MAX_RESULT_FILES}"
        )
    files: list[ResultFile] = []
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise FormatError(f"manifest.json Results[{i}] is not an object")
        bucket, key, md5 = r.get("Bucket"), r.get("Key"), r.get("MD5Checksum")
        status = r.get("TaskExecutionStatus")
        if not isinstance(bucket, str) or not isinstance(key, str) or not isinstance(status, str):
            raise FormatError(
                f"manifest.json Results[{i}] lacks a Bucket, Key or TaskExecutionStatus string"
            )
        if md5 is not None and (
            not isinstance(md5, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", md5)
        ):
            raise FormatError(f"manifest.json Results[{i}] MD5Checksum is not 32 hex digits")
        parts = key.split("/")
        if len(parts) < 3 or parts[-2] != "results" or not _JOB_SEGMENT.match(parts[-3]):
            raise FormatError(
                f"manifest.json Results[{i}] Key {key!r} is not a job's results/<name>.csv"
            )
        if not _RESULT_NAME.match(parts[-1]):
            raise FormatError(f"manifest.json Results[{i}] Key {key!r} has an unusual file name")
        files.append(ResultFile(bucket, key, md5.lower() if md5 else None, status))
    columns: tuple[str, ...] = REPORT_COLUMNS
    schema = doc.get("ReportSchema")
    if schema is not None:
        if not isinstance(schema, str):
            raise FormatError("manifest.json ReportSchema is not a string")
        columns = tuple(c.strip() for c in schema.split(","))
        if sorted(columns) != sorted(REPORT_COLUMNS):
            raise FormatError(
                f"manifest.json ReportSchema is {schema!r}, not the columns "
                f"{', '.join(REPORT_COLUMNS)}"
            )
    created = doc.get("ReportCreationDate")
    return ReportManifest(tuple(files), columns, created if isinstance(created, str) else None)


@dataclass(frozen=True)
class TaskRow:
    bucket: str
    key: str
    version_id: str | None
    status: str
    error_code: str
    http_status: str
    message: str


def _rows(data: bytes, columns: tuple[str, ...]) -> Iterator[TaskRow | str]:
    """Each row of one CSV result file, or why a row is not one (then no more rows).
    Decoded as it is read: the file's bytes are not held twice."""
    index = {name: i for i, name in enumerate(columns)}
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    try:
        for number, row in enumerate(reader, 1):
            if number == 1 and [c.strip() for c in row[:2]] == ["Bucket", "Key"]:
                continue  # a header row, though the documented files have none
            if len(row) != len(columns):
                yield f"row {number} has {len(row)} columns, not {len(columns)} (cut short?)"
                return
            if any(len(v) > MAX_FIELD_BYTES for v in row):
                yield f"row {number} has a field longer than {MAX_FIELD_BYTES} characters"
                return
            error, status = row[index["ErrorCode"]].strip(), row[index["HTTPStatusCode"]].strip()
            if not status.isdigit() and error.isdigit():
                error, status = status, error  # AWS's examples: the HTTP status comes first
            yield TaskRow(
                bucket=row[index["Bucket"]],
                key=row[index["Key"]],
                version_id=row[index["VersionId"]] or None,
                status=row[index["TaskStatus"]].strip(),
                error_code=error,
                http_status=status,
                message=row[index["ResultMessage"]],
            )
    except csv.Error as e:
        yield f"row {reader.line_num}: {e} (cut short?)"
    except UnicodeDecodeError as e:
        yield f"not UTF-8 near row {reader.line_num + 1}: {e.reason}"


def _checksum(message: str) -> tuple[str | None, str | None]:
    """The hex SHA-256 in a succeeded task's result message, or (None, why not) -
    or (hex, why it is not a full-object SHA-256) for an A3 finding."""
    try:
        doc = json.loads(message)
    except (ValueError, RecursionError):
        return None, "its result message is not JSON"
    if not isinstance(doc, dict):
        return None, "its result message is not a JSON object"

    def field(*names: str) -> Any:
        for n in names:
            if n in doc:
                return doc[n]
        return None

    b64 = field("checksum_base64", "checksumBase64", "ChecksumBase64")
    hexed = field("checksum_hex", "checksumHex", "ChecksumHex")
    digest: str | None = None
    if isinstance(b64, str) and b64:
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return None, f"checksum_base64 {b64[:64]!r} is not base64"
        if len(raw) != 32:
            return None, f"checksum_base64 holds {len(raw)} bytes, not a SHA-256's 32"
        digest = raw.hex()
    if isinstance(hexed, str) and hexed:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", hexed):
            return None, f"checksum_hex {hexed[:80]!r} is not 64 hex digits"
        if digest is not None and digest != hexed.lower():
            return None, "checksum_base64 and checksum_hex differ"
        digest = hexed.lower()
    if digest is None:
        return None, "its result message holds no checksum (checksum_base64)"
    algorithm = field("checksumAlgorithm", "checksum_algorithm", "ChecksumAlgorithm")
    kind = field("checksumType", "checksum_type", "ChecksumType")
    if algorithm is not None and str(algorithm).upper() != CHECKSUM_ALGORITHM:
        return digest, f"S3 computed a {printable(str(algorithm), 40)} checksum, not SHA256"
    if kind is not None and str(kind).upper() != CHECKSUM_TYPE:
        return digest, f"S3 computed a {printable(str(kind), 40)} checksum, not {CHECKSUM_TYPE}"
    return digest, None


@dataclass
class _Limited:
    """Findings of one check up to a bound, then a count of the rest."""

    report: Report
    check: str
    shown: int = 0
    hidden: int = 0

    def fail(self, subject: str, message: str) -> None:
        if self.shown < MAX_FINDINGS_PER_CHECK:
            self.report.fail(self.check, subject, message)
            self.shown += 1
        else:
            self.hidden += 1

    def close(self, subject: str) -> None:
        if self.hidden:
            self.report.fail(self.check, subject, f"and {self.hidden} more findings like these")


@dataclass
class AtRestCounts:
    rows: int = 0
    succeeded: int = 0
    matched: int = 0
    seen: dict[tuple[str, str, str | None], int] = field(default_factory=dict)


def printable(text: str, limit: int = 300) -> str:
    """Text from a report as a finding may show it: control characters escaped (no
    terminal escape sequence reaches the screen), at most ``limit`` characters."""
    out = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[: limit + 1])
    return out[:limit] + ("..." if len(out) > limit else "")


def _where(bucket: str, key: str, version: str | None) -> str:
    where = f"s3://{bucket}/{key}" + (f" (version {version})" if version else " (no version)")
    return printable(where)


def check_checksum_report(
    report: Report,
    bucket: str,
    objects: Sequence[SignedObject],
    manifest: ReportManifest | str,
    files: Mapping[str, bytes | str],
    *,
    source: str,
) -> None:
    """Add the A1-A4 findings of one completion report to ``report``.

    ``manifest`` is the parsed manifest.json, or why it could not be (an A1 finding);
    ``files`` maps each result file's :attr:`ResultFile.key` to its bytes, or why they
    were not read. ``source`` names the report in findings.
    """
    a1 = _Limited(report, "A1 report")
    a2 = _Limited(report, "A2 task")
    a3 = _Limited(report, "A3 checksum")
    a4 = _Limited(report, "A4 coverage")
    signed = {(bucket, o.key, o.version_id): o for o in objects}
    counts = AtRestCounts()
    if isinstance(manifest, str):
        a1.fail(source, manifest)
    else:
        if not manifest.files and objects:
            a1.fail(source, "manifest.json names no result files")
        for rf in manifest.files:
            data = files.get(rf.key)
            where = f"{source}: {rf.name}"
            if data is None or isinstance(data, str):
                a1.fail(where, printable(data or "not read", 400))
                continue
            if rf.md5 is not None:
                actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
                if actual != rf.md5:
                    a1.fail(where, f"its MD5 is {actual}, manifest.json says {rf.md5} (cut short?)")
                    continue
            else:
                report.warn(
                    f"{source}: manifest.json gives a result file no MD5Checksum; one cut "
                    "short is noticed only by its shape"
                )
            _check_rows(_rows(data, manifest.columns), where, signed, counts, a1, a2, a3, a4)
    for ident, n in sorted(counts.seen.items(), key=lambda kv: (kv[0][1], kv[0][2] or "")):
        if n > 1:
            a4.fail(_where(*ident), f"appears {n} times in the report, not once")
    for ident, o in signed.items():
        if ident not in counts.seen:
            a4.fail(_where(*ident), f"signed by {o.entry} but missing from the report")
    for limited in (a1, a2, a3, a4):
        limited.close(source)
    report.stats.update(
        {
            "at_rest_objects": len(objects),
            "at_rest_tasks": counts.rows,
            "at_rest_succeeded": counts.succeeded,
            "at_rest_matched": counts.matched,
        }
    )


def _check_rows(
    rows: Iterator[TaskRow | str],
    where: str,
    signed: Mapping[tuple[str, str, str | None], SignedObject],
    counts: AtRestCounts,
    a1: _Limited,
    a2: _Limited,
    a3: _Limited,
    a4: _Limited,
) -> None:
    for row in rows:
        if isinstance(row, str):
            a1.fail(where, row)
            return
        counts.rows += 1
        ident = (row.bucket, row.key, row.version_id)
        if ident not in signed:
            decoded = (row.bucket, unquote(row.key), row.version_id)
            ident = decoded if decoded in signed else ident
        obj = signed.get(ident)
        if obj is None:  # named now: only signed objects are counted, whatever the report's size
            a4.fail(
                _where(*ident),
                "in the report but not a signed object of the period (not in the log, "
                "or another version than the entry pinned)",
            )
            continue
        counts.seen[ident] = counts.seen.get(ident, 0) + 1
        if counts.seen[ident] > 1:
            continue  # A4 names it once, with the count
        subject = _where(*ident)
        if row.status.lower() != "succeeded":
            detail = ", ".join(
                p
                for p in (
                    f"HTTP {row.http_status}" if row.http_status else "",
                    row.error_code,
                    " ".join(row.message.split()),
                )
                if p
            )
            status = row.status or "without a status"
            a2.fail(subject, printable(f"task {status}: {detail or 'no detail'}", 400))
            continue
        counts.succeeded += 1
        digest, problem = _checksum(row.message)
        if digest is None:
            a1.fail(subject, f"a succeeded task, but {problem}")
            continue
        if problem is not None:
            a3.fail(subject, problem)
            continue
        if digest != obj.sha256:
            a3.fail(
                subject, f"S3 computed SHA-256 {digest} at rest, {obj.entry} signed {obj.sha256}"
            )
            continue
        counts.matched += 1


def job_dir(manifest_key: str) -> str:
    """The S3 folder of a report whose manifest.json is at ``manifest_key``."""
    return manifest_key.rsplit("/", 1)[0] if "/" in manifest_key else ""


def result_location(rf: ResultFile, report_bucket: str, manifest_key: str) -> str:
    """Where a result file of a report read from S3 must be: in the report's bucket, under
    its job folder's ``results/``; :class:`FormatError` otherwise (a manifest.json that
    points elsewhere is not read further)."""
    expected = f"{job_dir(manifest_key)}/{rf.name}".lstrip("/")
    if rf.bucket != report_bucket or rf.key != expected:
        raise FormatError(
            f"names s3://{rf.bucket}/{rf.key}, outside the report's own "
            f"s3://{report_bucket}/{job_dir(manifest_key)}/results/"
        )
    return expected
