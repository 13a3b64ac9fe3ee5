"""`evidence run`: what a cron container calls every night.

Collect every due stream (of one schedule, or all), seal the checkpoint, then
verify what was appended: each new entry's signature, statement, chain link
and evidence digests, the new checkpoint's signature and root, and its
consistency with the checkpoint the run started from. The result is one JSON
summary line; the exit code is 0 when all is well, 1 when a check failed and
3 when a source or the store could not be reached.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from das_evidence.collect import collect_settings, open_settings_store, signers_for
from das_evidence.config import Settings
from das_evidence.errors import ConfigError, EvidenceError, InternalError
from das_evidence.evidence_store.interface import CHECKPOINT_KEY, entry_key
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.log import ZERO_HASH, ArchiveLog
from das_evidence.manifests.merkle import MerkleTree, verify_consistency
from das_evidence.manifests.note import SignedNote, VerifierKey
from das_evidence.manifests.signers import PublicKey
from das_evidence.schedules.alerts import Alert, failure_alert, send_alerts, stale_alert
from das_evidence.schedules.status import (
    LastRun,
    StatusReport,
    default_objectives,
    expected_streams,
    stream_status,
    write_last_run,
)
from das_evidence.timefmt import rfc3339
from das_evidence.verify.archive import Trust, check_entry
from das_evidence.verify.findings import Report

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    started_at: datetime
    finished_at: datetime | None = None
    schedule: str | None = None
    streams: list[dict[str, Any]] = field(default_factory=list)
    new_entries: list[int] = field(default_factory=list)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0
    retention_days_left: dict[str, int] = field(default_factory=dict)
    # The log as verified at the end of the run, reused for status and alerts.
    archive: ArchiveLog | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": "evidence.run",
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "schedule": self.schedule,
            "started_at": rfc3339(self.started_at),
            "finished_at": rfc3339(self.finished_at) if self.finished_at else None,
            "streams": self.streams,
            "new_entries": len(self.new_entries),
            "checkpoint": self.checkpoint,
            "verification": {"checked_entries": len(self.new_entries), "findings": self.findings},
            "error": self.error,
            "retention_days_left": self.retention_days_left,
        }


def _checkpoint_state(store: Any, settings: Settings, report: Report) -> tuple[int, bytes] | None:
    """The checkpoint the run starts from; a bad signature on it is a finding."""
    current = store.get_checkpoint()
    if current is None:
        return None
    _, note_signer = signers_for(settings)
    key = VerifierKey.from_public_key(note_signer.name, note_signer.public_key_raw())
    try:
        cp = open_checkpoint(current[0], key, settings.log.origin)
    except EvidenceError as e:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, f"the run started from a bad one: {e.message}")
        cp = Checkpoint.from_text(SignedNote.from_bytes(current[0]).text)
    return cp.size, cp.root_hash


def verify_appended(
    settings: Settings, before: tuple[int, bytes] | None, report: Report
) -> tuple[ArchiveLog, Checkpoint | None]:
    """Check the entries from ``before`` on, and the new checkpoint against ``before``."""
    signer, note_signer = signers_for(settings)
    trust = Trust(
        keys=(PublicKey.from_pem(signer.public_key_pem()),),
        note_key=VerifierKey.from_public_key(note_signer.name, note_signer.public_key_raw()),
        origin=settings.log.origin,
    )
    store = open_settings_store(settings)
    archive = ArchiveLog(store, settings.log.origin)
    start = before[0] if before else 0
    prev = archive.entries[start - 1].leaf.hex() if start > 0 else ZERO_HASH
    for entry in archive.entries[start:]:
        key = entry_key(entry.index)
        statement = check_entry(
            report, key, store.get(key), trust, entry.index, settings.log.origin
        )
        if statement is None:
            continue
        if statement.predicate.get("log", {}).get("prev_leaf_hash") != prev:
            report.fail("V5 chain", key, "does not link to the previous entry")
        prev = entry.leaf.hex()
        for subject in statement.subjects:
            if hashlib.sha256(store.get(subject.name)).hexdigest() != subject.sha256:
                report.fail("V6 evidence", subject.name, f"differs from what {key} signed")
    current = store.get_checkpoint()
    if current is None:
        if archive.size:
            report.fail("V7 checkpoint", CHECKPOINT_KEY, "missing after the run")
        return archive, None
    assert trust.note_key is not None
    try:
        cp = open_checkpoint(current[0], trust.note_key, settings.log.origin)
    except EvidenceError as e:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, e.message)
        return archive, None
    tree = MerkleTree([e.leaf for e in archive.entries])
    if cp.size != archive.size or cp.root_hash != tree.root:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, "does not match the entries")
    elif before is not None and before[0] < cp.size:
        try:
            verify_consistency(
                before[0], cp.size, before[1], cp.root_hash, tree.consistency_proof(before[0])
            )
        except EvidenceError as e:
            report.fail(
                "V7 checkpoint",
                CHECKPOINT_KEY,
                f"not consistent with the previous one: {e.message}",
            )
    return archive, cp


def status_report(
    settings: Settings,
    now: datetime,
    last_run: dict[str, Any] | None = None,
    archive: ArchiveLog | None = None,
) -> StatusReport:
    """Per stream lag against its freshness objective (`evidence status`)."""
    archive = archive or ArchiveLog(open_settings_store(settings), settings.log.origin)
    return stream_status(
        archive.entries,
        now=now,
        objective=settings.status.objective,
        objectives=default_objectives(
            settings, objective=settings.status.objective, configured=settings.status.objectives
        ),
        expected=expected_streams(settings),
        last_verification=last_run,
    )


def _schedule_globs(
    settings: Settings, schedule: str | None, only: str | None
) -> str | list[str] | None:
    if schedule is None:
        return only
    if schedule not in settings.schedules:
        raise ConfigError(
            f"no schedule named {schedule!r}",
            fix=f"use one of: {', '.join(sorted(settings.schedules)) or '(none configured)'}",
        )
    globs = list(settings.schedules[schedule].streams)
    return [only] if only is not None else globs


ACCOUNT_USAGE_RETENTION = timedelta(days=365)
RETENTION_WARNING = timedelta(days=30)


def retention_risks(
    settings: Settings, now: datetime, archive: ArchiveLog | None = None
) -> dict[str, int]:
    """History streams whose oldest uncollected window is near ACCOUNT_USAGE's
    365-day retention: stream -> whole days left before its rows are gone."""
    from das_evidence.streams import HISTORY_STREAMS

    archive = archive or ArchiveLog(open_settings_store(settings), settings.log.origin)
    risks: dict[str, int] = {}
    account = settings.account()
    for name in HISTORY_STREAMS:
        if not settings.stream(name).enabled:
            continue
        stream = f"snowflake/{account}/{name}"
        oldest = archive.stream_end(stream) or settings.first_start(name, now)
        left = ACCOUNT_USAGE_RETENTION - (now - oldest)
        if left <= RETENTION_WARNING:
            risks[stream] = max(0, left.days)
    return risks


def _alert(settings: Settings, summary: RunSummary, now: datetime) -> None:
    """Failure and staleness alerts; a failing webhook never fails the run."""
    hooks = settings.alerts.webhooks
    if not hooks:
        return
    if summary.exit_code != 0:
        errors = {
            str(s["stream"]): str(s["error"]).split(":", 1)[0]
            for s in summary.streams
            if s.get("error")
        } or {"run": (summary.error or "verification failed").split("\n", 1)[0][:200]}
        send_alerts(
            failure_alert(
                source=settings.log.origin,
                exit_code=summary.exit_code,
                errors=errors,
                schedule=summary.schedule,
                at=now,
            ),
            hooks,
        )
    try:
        # The log the run just verified, when it got that far; else read it now.
        archive = summary.archive or ArchiveLog(open_settings_store(settings), settings.log.origin)
        stale = stale_alert(
            status_report(settings, now, archive=archive), source=settings.log.origin
        )
        risks = summary.retention_days_left or retention_risks(settings, now, archive)
    except EvidenceError:
        return
    if stale is not None:
        send_alerts(stale, hooks)
    if risks:
        worst = min(risks.values())
        send_alerts(
            Alert(
                kind="retention",
                severity="critical" if worst <= 7 else "warning",
                summary=f"{len(risks)} stream(s) will lose uncollected Snowflake history in "
                f"{worst} day(s): ACCOUNT_USAGE keeps 365 days",
                source=settings.log.origin,
                details={f"days_left.{s}": d for s, d in risks.items()},
                streams=tuple(sorted(risks)),
                at=now,
            ),
            hooks,
        )


def run(
    settings: Settings,
    *,
    clock: Callable[[], datetime],
    only: str | None = None,
    schedule: str | None = None,
) -> RunSummary:
    """Collect, seal and verify; never raises for what went wrong, it is in the summary.

    An unexpected exception becomes exit 4 (a bug) in the summary, with its
    traceback logged at DEBUG, so that the last-run record and the alerts tell
    the truth about it. Only an interrupt (exit 130) is raised again, after
    both are written.
    """
    summary = RunSummary(started_at=clock().replace(microsecond=0), schedule=schedule)
    try:
        summary = _run(settings, clock=clock, only=only, schedule=schedule, summary=summary)
    except Exception as e:  # the cron boundary: a bug still gets its record and alert
        log.debug("evidence run failed unexpectedly", exc_info=True)
        summary.error = InternalError.from_exception(e).message
        summary.exit_code = InternalError.exit_code
        summary.finished_at = clock().replace(microsecond=0)
    except KeyboardInterrupt:
        summary.error = "interrupted"
        summary.exit_code = 130
        raise
    finally:
        now = clock().replace(microsecond=0)
        if settings.status.last_run_file is not None:
            try:
                write_last_run(
                    settings.status.last_run_file,
                    LastRun(
                        schedule,
                        summary.started_at,
                        now,
                        summary.exit_code,
                        entries_written=len(summary.new_entries),
                        failed_streams=sum(1 for s in summary.streams if s.get("error")),
                        verify_ok=not summary.findings,
                    ),
                )
            except EvidenceError as e:
                log.error("%s", e)
                if summary.exit_code == 0:
                    summary.error, summary.exit_code = str(e), e.exit_code
        _alert(settings, summary, now)
    return summary


def _run(
    settings: Settings,
    *,
    clock: Callable[[], datetime],
    only: str | None,
    schedule: str | None,
    summary: RunSummary,
) -> RunSummary:
    try:
        selection = _schedule_globs(settings, schedule, only)
        store = open_settings_store(settings, create=True)
        report = Report(settings.store.uri)
        before = _checkpoint_state(store, settings, report)
        reconcile = timedelta(days=settings.reconcile_days) if settings.reconcile_days else None
        collected = collect_settings(settings, only=selection, clock=clock, reconcile=reconcile)
        summary.streams = collected.to_json()["streams"]
        archive, cp = verify_appended(settings, before, report)
        summary.new_entries = list(range(before[0] if before else 0, archive.size))
        if cp is not None:
            summary.checkpoint = {"size": cp.size, "root_hash": cp.root_hash.hex()}
        summary.findings = [str(f) for f in report.findings]
        summary.retention_days_left = retention_risks(settings, clock(), archive)
        summary.archive = archive
        if report.findings:
            summary.exit_code = 1
        elif not collected.ok:
            summary.exit_code = collected.exit_code
    except EvidenceError as e:
        summary.error = str(e)
        summary.exit_code = e.exit_code if e.exit_code in (1, 2, 3) else 3
    summary.finished_at = clock().replace(microsecond=0)
    return summary
