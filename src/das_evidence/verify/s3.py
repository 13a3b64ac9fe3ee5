"""Online verification of an archive in S3: everything the local checks do, plus the locks.

:func:`load_s3_archive` reads (the pinned version of every evidence file and
every log object, each with the lock state and checksum its GetObject response
states, so one request per object; every version and delete marker under the
prefix, which also names the current keys; the bucket's versioning and Object
Lock settings); :func:`check_s3` is
pure. Its checks extend the local ones:

- ``S1 bucket``: versioning and Object Lock are enabled on the bucket.
- ``S2 versions``: every write-once key has exactly one version and no delete
  marker, and evidence files are at the version their entry pinned.
- ``S3 lock``: every write-once object is locked in the expected mode until at
  least the retain-until its entry signed (entries and checkpoints: at least as
  long as the evidence they seal).
- ``S4 checksum``: S3's own SHA-256 of each object equals the signed digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from das_evidence.errors import EvidenceError, FormatError
from das_evidence.evidence_store.bucket_check import BucketSettings, evaluate_lock
from das_evidence.evidence_store.interface import (
    CHECKPOINT_KEY,
    CHECKPOINTS_PREFIX,
    ENTRIES_PREFIX,
    EVIDENCE_PREFIX,
)
from das_evidence.evidence_store.s3 import LockState, ObjectVersion, S3Store
from das_evidence.manifests.dsse import Envelope
from das_evidence.manifests.statement import Statement
from das_evidence.timefmt import parse_signed
from das_evidence.verify.archive import (
    _CHECKPOINT,
    _ENTRY,
    ArchiveSnapshot,
    _bad_name,
)
from das_evidence.verify.findings import Report
from das_evidence.verify.parquet import MAX_FOOTER_BYTES, footer_rows


@dataclass(frozen=True)
class Pin:
    """What an entry signed about one evidence object."""

    entry: str
    sha256: str
    version_id: str | None
    retain_until: datetime | None


@dataclass
class S3Facts:
    bucket: BucketSettings | None = None
    versions: list[ObjectVersion] = field(default_factory=list)
    locks: dict[str, LockState | None] = field(default_factory=dict)
    pinned: dict[str, Pin] = field(default_factory=dict)
    # log key -> retain-until it must at least have
    required: dict[str, datetime | None] = field(default_factory=dict)


def _signed_storage(statement: Statement) -> dict[str, Mapping[str, Any]]:
    storage = statement.predicate.get("storage")
    if not isinstance(storage, Mapping) or not isinstance(storage.get("objects"), list):
        return {}
    return {str(o.get("path")): o for o in storage["objects"] if isinstance(o, Mapping)}


def load_s3_archive(
    store: S3Store, progress: Callable[[int, int, str], None] | None = None
) -> tuple[ArchiveSnapshot, S3Facts]:
    """The archive's bytes and what S3 says about each object; ``progress(read, total,
    what)`` hears of each object as its lock is read."""
    versions = store.versions()
    # The keys a LIST would give, from the versions: each key's latest, unless deleted.
    keys = sorted({v.key for v in versions if v.is_latest and not v.delete_marker})
    snap = ArchiveSnapshot(store.uri, keys)
    facts = S3Facts(bucket=store.bucket_settings(), versions=versions)
    # One GET per object: its response carries the lock and checksum a HEAD would.
    for key in keys:
        problem = _bad_name(key)
        if problem is not None:
            snap.problems[key] = problem
        elif key == CHECKPOINT_KEY:
            snap.checkpoints[key] = store.get(key)  # replaced each run: never locked
        elif _ENTRY.match(key):
            snap.entries[key], facts.locks[key] = store.get_with_state(key)
        elif _CHECKPOINT.match(key):
            snap.checkpoints[key], facts.locks[key] = store.get_with_state(key)

    # What each entry pinned: evidence versions and retain-until dates.
    entry_required: dict[int, datetime | None] = {}
    for key, data in sorted(snap.entries.items()):
        try:
            statement = Statement.from_bytes(Envelope.from_bytes(data).payload)
        except EvidenceError:
            continue  # the local checks report it
        storage = _signed_storage(statement)
        untils: list[datetime] = []
        for subject in statement.subjects:
            o = storage.get(subject.name, {})
            until = parse_signed(o.get("retain_until"))
            if until is not None:
                untils.append(until)
            version = o.get("version_id")
            facts.pinned[subject.name] = Pin(
                key, subject.sha256, str(version) if version is not None else None, until
            )
        index = int(key[len(ENTRIES_PREFIX) : len(ENTRIES_PREFIX) + 12])
        entry_required[index] = max(untils) if untils else None
        facts.required[key] = entry_required[index]
    for key in snap.checkpoints:
        if key.startswith(CHECKPOINTS_PREFIX):
            size = key[len(CHECKPOINTS_PREFIX) :]
            if size.isdigit() and int(size) > 0:
                facts.required[key] = entry_required.get(int(size) - 1)

    for done, key in enumerate(keys):
        if progress:
            progress(done, len(keys), "reading objects")
        if key.startswith(EVIDENCE_PREFIX):
            pin = facts.pinned.get(key)
            version = pin.version_id if pin else None
            data, facts.locks[key] = store.get_with_state(key, version)
            snap.evidence[key] = (hashlib.sha256(data).hexdigest(), len(data))
            if key.endswith(".parquet"):
                try:
                    snap.rows[key] = footer_rows(data[-(MAX_FOOTER_BYTES + 8) :])
                except FormatError as e:
                    snap.rows[key] = e.message
            del data
        elif key != CHECKPOINT_KEY and key not in snap.problems and key not in facts.locks:
            facts.locks[key] = store.lock_state(key)  # neither entry nor checkpoint
    if progress:
        progress(len(keys), len(keys), "reading objects")
    return snap, facts


def check_s3(
    snap: ArchiveSnapshot, facts: S3Facts, report: Report, *, lock_mode: str = "COMPLIANCE"
) -> None:
    """Add the S3 findings to ``report`` (which already holds the local ones)."""
    if facts.bucket is None:
        report.fail("S1 bucket", snap.target, "the bucket's settings were not read")
    else:
        for check in evaluate_lock(facts.bucket):
            if not check.passed:
                report.fail("S1 bucket", snap.target, check.detail)

    by_key: dict[str, list[ObjectVersion]] = {}
    for v in facts.versions:
        by_key.setdefault(v.key, []).append(v)
    for key, versions in sorted(by_key.items()):
        if key == CHECKPOINT_KEY:
            continue
        markers = [v for v in versions if v.delete_marker]
        for m in markers:
            report.fail("S2 versions", key, f"a delete marker (version {m.version_id})")
        real = [v for v in versions if not v.delete_marker]
        if len(real) > 1:
            ids = ", ".join(v.version_id for v in real)
            report.fail("S2 versions", key, f"a write-once key has {len(real)} versions: {ids}")

    digests = dict(snap.evidence)
    for key, data in list(snap.entries.items()) + list(snap.checkpoints.items()):
        digests[key] = (hashlib.sha256(data).hexdigest(), len(data))

    for key, state in sorted(facts.locks.items()):
        pin = facts.pinned.get(key)
        pinned_version = pin.version_id if pin else None
        entry = pin.entry if pin else "no entry"
        required = pin.retain_until if pin else facts.required.get(key)
        if state is None:
            report.fail("S2 versions", key, f"version {pinned_version} named by {entry} is gone")
            continue
        where = f"version {state.version_id}"
        if pinned_version is not None and state.version_id != pinned_version:
            report.fail(
                "S2 versions", key, f"{where} is current, but {entry} pinned {pinned_version}"
            )
        if state.lock_mode is None:
            report.fail("S3 lock", key, f"{where} has no Object Lock retention")
        elif state.lock_mode != lock_mode:
            report.fail("S3 lock", key, f"{where} is locked in {state.lock_mode}, not {lock_mode}")
        if required is not None and (state.retain_until is None or state.retain_until < required):
            until = state.retain_until.isoformat() if state.retain_until else "nothing"
            report.fail(
                "S3 lock",
                key,
                f"{where} is retained until {until}, earlier than the required "
                f"{required.isoformat()}",
            )
        expected = pin.sha256 if pin else digests.get(key, (None, 0))[0]
        if state.sha256 is None:
            report.fail("S4 checksum", key, f"{where} has no SHA-256 checksum in S3")
        elif expected is not None and state.sha256 != expected:
            report.fail(
                "S4 checksum",
                key,
                f"{where}: S3's SHA-256 {state.sha256} is not the signed {expected}",
            )
