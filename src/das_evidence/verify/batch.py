"""The reads and writes around verification at rest (the checks are :mod:`.at_rest`'s).

:func:`start_job` reads the log of an ``s3://`` archive (entries and
checkpoints, never the evidence), checks it, writes the CSV manifest of the
period's signed object versions under a staging prefix and creates the S3
Batch Operations *Compute checksum* job. :func:`verify_report` reads the log
again and the job's completion report (a local copy or ``s3://``, every file
bounded) and checks one against the other.

A report that cannot be read (no such file, S3 refuses) is a
:class:`~das_evidence.errors.StoreError` (exit 3); one that reads but is not
as documented is a finding (exit 1).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from das_evidence.aws import BatchJobs, S3Reader
from das_evidence.errors import (
    ConfigError,
    EvidenceError,
    FormatError,
    NothingSelectedError,
    NotRegularFileError,
    StoreError,
)
from das_evidence.evidence_store.interface import CHECKPOINT_KEY, ENTRIES_PREFIX
from das_evidence.evidence_store.local import open_regular
from das_evidence.evidence_store.s3 import S3Store, parse_s3_uri
from das_evidence.manifests.dsse import MAX_ENVELOPE_BYTES, Envelope
from das_evidence.manifests.note import MAX_NOTE_BYTES
from das_evidence.manifests.statement import Statement
from das_evidence.timefmt import compact, rfc3339
from das_evidence.verify.archive import (
    _CHECKPOINT,
    _ENTRY,
    ArchiveSnapshot,
    Trust,
    _bad_name,
    check_archive,
    read_bounded,
)
from das_evidence.verify.at_rest import (
    MAX_MANIFEST_BYTES,
    MAX_RESULT_FILE_BYTES,
    ReportManifest,
    ResultFile,
    check_checksum_report,
    job_request,
    manifest_csv,
    parse_manifest,
    result_location,
    signed_objects,
)
from das_evidence.verify.findings import Report

_REPORT_FIX = (
    "pass the job's completion report: s3://<bucket>/<prefix>/job-<id>/manifest.json, or a "
    "local copy of that folder (aws s3 cp --recursive s3://.../job-<id>/ DIR)"
)


def load_log(store: S3Store) -> ArchiveSnapshot:
    """The archive's log: every key under ``log/``, the entries and checkpoints bounded."""
    keys = list(store.list("log/"))
    snap = ArchiveSnapshot(store.uri, keys)
    for key in keys:
        problem = _bad_name(key)
        if problem is not None:
            snap.problems[key] = problem
            continue
        try:
            if _ENTRY.match(key):
                snap.entries[key] = read_bounded(store, key, MAX_ENVELOPE_BYTES)
            elif key == CHECKPOINT_KEY or _CHECKPOINT.match(key):
                snap.checkpoints[key] = read_bounded(store, key, MAX_NOTE_BYTES)
        except (NotRegularFileError, FormatError) as e:
            snap.problems[key] = e.message
    return snap


def check_log(snap: ArchiveSnapshot, trust: Trust) -> tuple[Report, list[tuple[str, Statement]]]:
    """The log's checks (all but V6) and the statements of its entries, in log order."""
    report = check_archive(snap, trust, files=False)
    for unread in ("evidence_files", "evidence_bytes"):  # nothing was read to count them
        report.stats.pop(unread, None)
    statements: list[tuple[str, Statement]] = []
    for key in sorted(k for k in snap.entries if k.startswith(ENTRIES_PREFIX)):
        try:
            statements.append(
                (key, Statement.from_bytes(Envelope.from_bytes(snap.entries[key]).payload))
            )
        except EvidenceError:
            continue  # V2/V3 report it
    return report, statements


def _period(start: datetime | None, end: datetime | None) -> str:
    if start is None and end is None:
        return "the whole log"
    return f"[{rfc3339(start) if start else '-'}, {rfc3339(end) if end else '-'})"


@dataclass(frozen=True)
class JobStarted:
    """A Compute checksum job created, and where its report will be."""

    target: str
    job_id: str
    account_id: str
    objects: int
    manifest_uri: str
    report_uri: str
    period: str
    warnings: list[str] = field(default_factory=list)

    def next_steps(self, verify_args: str) -> list[str]:
        return [
            f"aws s3control describe-job --account-id {self.account_id} --job-id {self.job_id} "
            "--query Job.Status",
            " ".join(
                p for p in ("evidence verify", self.target, verify_args, "--checksum-report") if p
            )
            + f" {self.report_uri}",
        ]

    def to_json(self, verify_args: str) -> dict[str, Any]:
        return {
            "target": self.target,
            "job_id": self.job_id,
            "account_id": self.account_id,
            "objects": self.objects,
            "period": self.period,
            "manifest": self.manifest_uri,
            "report": self.report_uri,
            "next": self.next_steps(verify_args),
            "warnings": list(self.warnings),
        }


def _staging(staging: str, store: S3Store) -> tuple[str, str]:
    bucket, prefix = parse_s3_uri(staging)
    inside = bucket == store.bucket and (
        not store.prefix or prefix == store.prefix or prefix.startswith(store.prefix + "/")
    )
    if inside:
        raise ConfigError(
            f"--staging {staging} is inside the archive {store.uri}: its files would be "
            "files outside log/ and evidence/",
            fix="stage next to the archive, e.g. s3://<bucket>/verification, never under it",
        )
    return bucket, prefix


def start_job(
    target: str,
    *,
    trust: Trust,
    staging: str,
    role_arn: str,
    endpoint_url: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    jobs: BatchJobs | None = None,
    store: S3Store | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[Report, JobStarted | None]:
    """Check the log; if it passes, create the job. A failing log creates nothing."""
    if not role_arn.startswith("arn:") or ":iam::" not in role_arn:
        raise ConfigError(
            f"--role-arn {role_arn!r} is not an IAM role ARN",
            fix="pass the role S3 Batch Operations assumes: arn:aws:iam::<account>:role/<name>",
        )
    store = store or S3Store(target, endpoint_url=endpoint_url)
    staging_bucket, staging_prefix = _staging(staging, store)
    report, statements = check_log(load_log(store), trust)
    if not report.ok:
        return report, None
    objects, unpinned = signed_objects(statements, store.prefix, start=start, end=end)
    warnings = []
    if unpinned:
        warnings.append(
            f"{len(unpinned)} signed objects pin no S3 version (e.g. {unpinned[0]}) and are not "
            "checked at rest; `evidence verify` checks them by download"
        )
    if not objects:
        raise NothingSelectedError(
            f"no signed object of {target} in {_period(start, end)} pins an S3 version",
            fix="widen --from/--to, or check the archive with `evidence verify` (no --at-rest)",
        )
    manifest = manifest_csv(store.bucket, objects)
    now = clock().astimezone(UTC)
    digest = hashlib.sha256(manifest + rfc3339(now).encode()).hexdigest()
    run = f"{compact(now)}-{digest[:12]}"
    base = "/".join(p for p in (staging_prefix, "at-rest", run) if p)
    manifest_key, report_prefix = f"{base}/manifest.csv", f"{base}/report"
    jobs = jobs or BatchJobs(endpoint_url=endpoint_url)
    account, partition = jobs.caller()
    etag = jobs.put_manifest(staging_bucket, manifest_key, manifest, owner=account)
    request = job_request(
        account_id=account,
        partition=partition,
        role_arn=role_arn,
        manifest_bucket=staging_bucket,
        manifest_key=manifest_key,
        manifest_etag=etag,
        report_bucket=staging_bucket,
        report_prefix=report_prefix,
        token=digest,
        description=f"das-evidence: SHA-256 at rest of {len(objects)} signed objects of {target}",
    )
    job_id = jobs.create_job(request)
    started = JobStarted(
        target=target,
        job_id=job_id,
        account_id=account,
        objects=len(objects),
        manifest_uri=f"s3://{staging_bucket}/{manifest_key}",
        report_uri=f"s3://{staging_bucket}/{report_prefix}/job-{job_id}/manifest.json",
        period=_period(start, end),
        warnings=warnings,
    )
    return report, started


# -- the completion report ---------------------------------------------------------------


def _read_file(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of a regular file (no FIFO, device or link is opened)."""
    try:
        with os.fdopen(open_regular(path, str(path)), "rb") as f:
            return f.read(limit + 1)
    except OSError as e:
        raise StoreError(
            f"cannot read the checksum report file {path}: {e.strerror or e}", fix=_REPORT_FIX
        ) from None


class _ResultFiles(Mapping[str, "bytes | str"]):
    """A report's result files, each read when the check asks for it and not kept: the
    check holds one file at a time, however many the report has."""

    def __init__(self, manifest: ReportManifest, get: Callable[[ResultFile], bytes]) -> None:
        self._files = {rf.key: rf for rf in manifest.files}
        self._get = get

    def __getitem__(self, key: str) -> bytes | str:
        try:
            body = self._get(self._files[key])
        except (FormatError, NotRegularFileError) as e:
            return e.message
        if len(body) > MAX_RESULT_FILE_BYTES:
            return f"larger than {MAX_RESULT_FILE_BYTES} bytes; not read"
        return body

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def read_report(
    source: str, *, endpoint_url: str | None = None, reader: S3Reader | None = None
) -> tuple[ReportManifest | str, Mapping[str, bytes | str]]:
    """A completion report's manifest.json (or why it is not one) and its result files
    (each read when asked for; or why it was not read). A file too large, not a regular
    file or outside the job's folder is a finding; one that cannot be read raises
    :class:`StoreError`."""
    get: Callable[[ResultFile], bytes]
    if source.startswith("s3://"):
        bucket, key = parse_s3_uri(source)
        if not key.endswith("manifest.json"):
            key = f"{key}/manifest.json" if key else "manifest.json"
        s3 = reader or S3Reader(bucket, "", endpoint_url=endpoint_url)
        data = s3.read(key, MAX_MANIFEST_BYTES)

        def get(rf: ResultFile) -> bytes:
            return s3.read(result_location(rf, bucket, key), MAX_RESULT_FILE_BYTES)

    else:
        path = Path(source)
        if path.is_dir():
            path = path / "manifest.json"
        data = _read_file(path, MAX_MANIFEST_BYTES)

        def get(rf: ResultFile) -> bytes:
            return _read_file(path.parent / rf.name, MAX_RESULT_FILE_BYTES)

    try:
        manifest = parse_manifest(data)
    except FormatError as e:
        return e.message, {}
    return manifest, _ResultFiles(manifest, get)


def verify_report(
    target: str,
    report_source: str,
    *,
    trust: Trust,
    endpoint_url: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    store: S3Store | None = None,
    reader: S3Reader | None = None,
) -> Report:
    """The log's checks and A1-A4 of the completion report against its signed objects."""
    store = store or S3Store(target, endpoint_url=endpoint_url)
    manifest, files = read_report(report_source, endpoint_url=endpoint_url, reader=reader)
    report, statements = check_log(load_log(store), trust)
    objects, unpinned = signed_objects(statements, store.prefix, start=start, end=end)
    if unpinned:
        report.warn(
            f"{len(unpinned)} signed objects pin no S3 version (e.g. {unpinned[0]}): not "
            "checked at rest; `evidence verify` checks them by download"
        )
    check_checksum_report(report, store.bucket, objects, manifest, files, source=report_source)
    report.stats["period"] = _period(start, end)
    return report
