"""`evidence run`: what a cron container calls every night.

Collect every due stream (of one schedule, or all), seal the checkpoint, then
verify the archive with the one verification core (``verify.check_archive``),
trusting the run's own keys and the checkpoint it started from: the log must
extend that checkpoint, every entry's signature, statement, chain link and
evidence digests must hold, and every window must tile. The result is one JSON
summary line. Webhooks subscribed to control checks (``"check"`` in ``on``) then
hear of every subscribed check that fails over what the run collected
(:func:`check_alerts`). The exit code is 0 when all is well, 1 when a check failed, 2 on
a configuration error, 3 when a source or the store could not be reached and 4
on an internal error (a bug).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from das_evidence.config import Settings
from das_evidence.errors import (
    ConfigError,
    EvidenceError,
    FormatError,
    InternalError,
    NothingSelectedError,
    VerificationError,
)
from das_evidence.evidence_store.interface import CHECKPOINT_KEY
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.log import ArchiveLog
from das_evidence.manifests.note import SignedNote
from das_evidence.schedules.alerts import (
    Alert,
    check_alert,
    failure_alert,
    send_alerts,
    stale_alert,
    subscribed,
)
from das_evidence.schedules.state import (
    VerifiedLog,
    start_from_verified,
    write_verified,
)
from das_evidence.schedules.status import (
    LastRun,
    StatusReport,
    default_objectives,
    expected_streams,
    last_seen_checkpoint,
    load_last_run,
    status_of,
    write_last_run,
)
from das_evidence.services import Services
from das_evidence.streams import HISTORY_STREAMS, StreamId, stream_matches
from das_evidence.timefmt import rfc3339
from das_evidence.verify.archive import check_archive, check_tail, load_archive, load_tail
from das_evidence.verify.findings import Report
from das_evidence.verify.trusted import TrustedCheckpoint, check_trusted, open_trusted
from das_evidence.witness.publish import publish_for_run

log = logging.getLogger(__name__)

_UNREAD = object()


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
    # Unsealed entries the run found and sealed before collecting (crash recovery).
    recovered: list[str] = field(default_factory=list)
    retention_days_left: dict[str, int] = field(default_factory=dict)
    # What each [[witnesses]] did with the run's checkpoint.
    witnesses: list[dict[str, Any]] = field(default_factory=list)
    # The log as verified at the end of the run, reused for status and alerts.
    archive: ArchiveLog | None = field(default=None, repr=False)
    # The newest checkpoint seen verified (signed note), kept in the last-run record.
    seen_checkpoint: bytes | None = field(default=None, repr=False)
    # Subscribed control checks that failed over what the run collected (check alerts sent).
    failed_checks: list[str] = field(default_factory=list)
    # The verified log the run started from (incremental), or None (a full read) and why.
    verified: VerifiedLog | None = field(default=None, repr=False)
    full_because: str | None = None

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
            "verification": {
                "checked_entries": len(self.new_entries),
                "findings": self.findings,
                # incremental: from the checkpoint the last run verified; full: every entry.
                "mode": "full" if self.verified is None else "incremental",
                "from_size": 0 if self.verified is None else self.verified.size,
                **({"full_because": self.full_because} if self.verified is None else {}),
            },
            "error": self.error,
            "recovered": self.recovered,
            "retention_days_left": self.retention_days_left,
            "witnesses": self.witnesses,
        }


def _checkpoint_state(
    services: Services, report: Report, current: tuple[bytes, str] | None
) -> tuple[int, bytes] | None:
    """The checkpoint the run starts from (``current``, as read); a bad signature on it
    is a finding."""
    if current is None:
        return None
    trust = services.trust()
    assert trust.note_key is not None
    try:
        cp = open_checkpoint(current[0], trust.note_key, services.settings.log.origin)
    except EvidenceError as e:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, f"the run started from a bad one: {e.message}")
        cp = Checkpoint.from_text(SignedNote.from_bytes(current[0]).text)
    return cp.size, cp.root_hash


def verify_appended(
    services: Services,
    before: tuple[int, bytes] | None,
    report: Report,
    verified: VerifiedLog | None = None,
    archive: ArchiveLog | None = None,
) -> tuple[ArchiveLog | None, Checkpoint | None, bytes | None]:
    """Verify the archive after an append with the one verification core.

    The same checks as ``evidence verify`` (:func:`~das_evidence.verify.check_archive`),
    trusting the run's own keys and the checkpoint the run started from: the
    log must extend it, so entries the run did not write cannot have changed.
    With ``verified`` (the log the last run verified), only what is new since is
    read and checked (:func:`~das_evidence.verify.archive.check_tail`): the store's
    checkpoint must be a consistent extension of the verified one.

    Returns the log (``archive``, the one the run appended to, caught up when the
    checkpoint covers more; else read afresh), the verified checkpoint and its note.
    """
    store = services.store()
    if verified is not None:
        snap = load_tail(store, verified.size)
        result = check_tail(snap, services.trust(), verified.checkpoint, verified.known)
    else:
        snap = load_archive(store)
        result = check_archive(snap, replace(services.trust(), checkpoint=before))
    report.findings.extend(result.findings)
    current = snap.checkpoints.get(CHECKPOINT_KEY)
    cp = None
    if current is not None and not any(f.subject == CHECKPOINT_KEY for f in result.findings):
        cp = Checkpoint.from_text(SignedNote.from_bytes(current).text)
    try:
        if archive is None:
            archive = services.archive()
        elif cp is not None and cp.size > archive.size:
            archive.reload()  # another writer appended meanwhile
    except FormatError:
        archive = None  # a damaged log: the findings above say how
    return archive, cp, None if cp is None else current


def status_report(
    services: Services,
    now: datetime,
    last_run: dict[str, Any] | None = None,
    archive: ArchiveLog | None = None,
    only: str | None = None,
) -> StatusReport:
    """Per stream lag against its freshness objective (`evidence status`), of the
    streams matching the glob ``only`` (all when None).

    An ``only`` that matches no stream is the empty-selection error
    (:class:`NothingSelectedError`).
    """
    settings = services.settings
    archive = archive or services.archive()
    report = status_of(
        archive.tallies(),  # kept as entries are added: no entry is read
        now=now,
        objective=settings.status.objective,
        objectives=default_objectives(
            settings, objective=settings.status.objective, configured=settings.status.objectives
        ),
        expected=expected_streams(settings),
        last_verification=last_run,
    )
    if only is None:
        return report
    report = replace(
        report, streams=tuple(s for s in report.streams if stream_matches(s.stream, only))
    )
    if not report.streams:
        raise NothingSelectedError(
            f"nothing selected: --only {only!r} matches no configured or archived stream",
            fix="use a stream name such as access_history, or a glob like '*history' "
            "(`evidence status` lists the streams)",
        )
    return report


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
    services: Services, now: datetime, archive: ArchiveLog | None = None
) -> dict[str, int]:
    """History streams whose oldest uncollected window is near ACCOUNT_USAGE's
    365-day retention: stream -> whole days left before its rows are gone."""
    settings = services.settings
    if not settings.uses_snowflake():
        return {}
    archive = archive or services.archive()
    risks: dict[str, int] = {}
    account = settings.account()
    for name in HISTORY_STREAMS:
        if not settings.stream(name).enabled:
            continue
        stream = str(StreamId.snowflake(account, name))
        oldest = archive.stream_end(stream) or settings.first_start(name, now)
        left = ACCOUNT_USAGE_RETENTION - (now - oldest)
        if left <= RETENTION_WARNING:
            risks[stream] = max(0, left.days)
    return risks


def check_subscriptions(settings: Settings) -> None:
    """Every id a webhook's ``checks`` names is a check or an automated CIS recommendation
    (:class:`ConfigError`, exit 2, before anything is collected). The checks (and
    polars) are imported only when a webhook subscribes to one."""
    subscribed = [(i, hook) for i, hook in enumerate(settings.alerts.webhooks) if hook.checks]
    if not subscribed:
        return
    from das_evidence.reports.checks.registry import check_subscriptions as check_ids

    for i, hook in subscribed:
        check_ids(hook.checks, where=f"alerts.webhooks[{i}].checks")


def check_alerts(services: Services, summary: RunSummary, now: datetime) -> list[str]:
    """Run the checks webhooks subscribe to over what this run collected, and send one
    ``check`` alert per failing check to the webhooks that name it (by check or CIS id).

    The evidence is the run's appended entries and the newest policy snapshot
    (:func:`~das_evidence.reports.evidence.of_run`), read only once the run verified
    them. Returns the ids of the checks that failed. Never raises: a check that raises
    is ``not_evidenced`` (the registry's boundary), anything else is logged.
    """
    settings = services.settings
    hooks = [h for h in settings.alerts.webhooks if "check" in h.on and h.checks]
    if not hooks or summary.archive is None or summary.findings or not summary.new_entries:
        return []
    try:
        from das_evidence.reports.checks import CheckContext
        from das_evidence.reports.checks.registry import checks_for, run_checks
        from das_evidence.reports.evidence import of_run

        evidence = of_run(services.store(), summary.archive, summary.new_entries)
        if evidence is None:
            return []
        wanted = checks_for([i for h in hooks for i in h.checks])
        results = run_checks(evidence, CheckContext(now, settings.checks), checks=wanted)
    except Exception as e:  # alerts never fail the run
        log.warning("check alerts: the checks could not be evaluated: %s", type(e).__name__)
        log.debug("check alerts failed", exc_info=True)
        return []
    failed = []
    for r in results:
        if r.status != "fail":
            continue
        failed.append(r.check_id)
        targets = [h for h in hooks if subscribed(r, h.checks)]
        try:
            alert = check_alert(
                r, source=settings.log.origin, period=(evidence.start, evidence.end), at=now
            )
        except Exception as e:  # a finding that cannot be made an alert: log, go on
            log.warning("check alert for %s not built: %s", r.check_id, type(e).__name__)
            continue
        send_alerts(alert, targets)
    return failed


def _alert(services: Services, summary: RunSummary, now: datetime) -> None:
    """Failure, staleness, retention and check alerts; a failing webhook never fails the run."""
    settings = services.settings
    hooks = settings.alerts.webhooks
    if not hooks:
        return
    summary.failed_checks = check_alerts(services, summary, now)
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
        archive = summary.archive or services.archive()
        stale = stale_alert(
            status_report(services, now, archive=archive), source=settings.log.origin
        )
        risks = summary.retention_days_left or retention_risks(services, now, archive)
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
    trusted: tuple[TrustedCheckpoint, ...] = (),
) -> RunSummary:
    """Collect, seal and verify; never raises for what went wrong, it is in the summary.

    Before anything is appended the store's checkpoint must extend the one the
    last run recorded and each of ``trusted`` (:func:`refuse_rollback`).

    An unexpected exception becomes exit 4 (a bug) in the summary, with its
    traceback logged at DEBUG, so that the last-run record and the alerts tell
    the truth about it. Only an interrupt (exit 130) is raised again, after
    both are written.
    """
    summary = RunSummary(started_at=clock().replace(microsecond=0), schedule=schedule)
    services = Services(settings, clock=clock)
    try:
        summary = _run(services, only=only, schedule=schedule, summary=summary, trusted=trusted)
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
        services.close()
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
                        checkpoint=summary.seen_checkpoint,
                        verified=_verified_record(
                            summary, load_last_run(settings.status.last_run_file)
                        ),
                    ),
                )
            except EvidenceError as e:
                log.error("%s", e)
                if summary.exit_code == 0:
                    summary.error, summary.exit_code = str(e), e.exit_code
        _alert(services, summary, now)
    return summary


def _run(
    services: Services,
    *,
    only: str | None,
    schedule: str | None,
    summary: RunSummary,
    trusted: tuple[TrustedCheckpoint, ...] = (),
) -> RunSummary:
    settings, clock = services.settings, services.clock
    try:
        selection = _schedule_globs(settings, schedule, only)
        check_subscriptions(settings)
        services.preflight(selection)  # a configuration error leaves no archive behind
        # log/checkpoint as the run found it, read once: which entries to read, the
        # rollback guard, the checkpoint verification starts from and the first seal.
        head = services.store(create=True).get_checkpoint()
        _start_from_verified(services, summary, head)
        # The log as the run found it, read once for the rollback guard, the seal check
        # and the collection, which appends to it.
        found = functools.cache(lambda: services.archive().found_checkpoint(head))
        refuse_rollback(services, trusted, summary, found, head)
        report = Report(settings.store.uri)
        before = _checkpoint_state(services, report, head)
        reconcile = timedelta(days=settings.reconcile_days) if settings.reconcile_days else None
        collected = None
        appended: ArchiveLog | None = None
        try:
            appended = found()
            summary.recovered = _unsealed(appended, before)
            collected = services.collect(only=selection, reconcile=reconcile, archive=appended)
            summary.streams = collected.to_json()["streams"]
        except EvidenceError as e:
            if e.exit_code != 1:
                raise
            # The archive itself failed a check (e.g. entries missing under a checkpoint):
            # nothing was appended; the verification below says what is wrong.
            summary.error = str(e)
        if appended is not None and appended.damaged is not None:
            # A kept statement did not authenticate: the log was read whole after all.
            summary.verified, summary.full_because = None, appended.damaged
        archive, cp, note = verify_appended(
            services, before, report, summary.verified, archive=appended
        )
        if cp is not None:
            summary.checkpoint = {"size": cp.size, "root_hash": cp.root_hash.hex()}
        summary.findings = [str(f) for f in report.findings]
        if archive is not None:
            summary.new_entries = list(range(before[0] if before else 0, archive.size))
            summary.retention_days_left = retention_risks(services, clock(), archive)
            summary.archive = archive
        if not report.findings:
            _record_checkpoint(services, summary, note)
            _keep_verified(services, summary)
        if report.findings or summary.error:
            summary.exit_code = 1
        elif collected is not None and not collected.ok:
            summary.exit_code = collected.exit_code
        if cp is not None and not report.findings:
            _publish(services, summary, cp.size)
    except EvidenceError as e:
        summary.error = str(e)
        summary.exit_code = e.exit_code
    summary.finished_at = clock().replace(microsecond=0)
    return summary


def refuse_rollback(
    services: Services,
    trusted: tuple[TrustedCheckpoint, ...],
    summary: RunSummary,
    archive: Callable[[], ArchiveLog] | None = None,
    head: tuple[bytes, str] | object | None = _UNREAD,
) -> None:
    """Refuse to append to a store whose checkpoint does not extend one seen before.

    Seen before: the checkpoint the last run recorded (``[status] last_run_file``)
    and each ``--trusted``. A store cut back to an older checkpoint, or a log
    rebuilt without an entry, would otherwise take new entries and fork from
    checkpoints already handed out. Raises :class:`VerificationError` (exit 1,
    and the run's failure alert); the newest seen checkpoint stays recorded.
    ``archive`` and ``head``: the log and ``log/checkpoint`` as the run read them
    (else read here).
    """
    settings = services.settings
    recorded = last_seen_checkpoint(load_last_run(settings.status.last_run_file))
    seen = trusted
    if recorded is not None:
        source = f"the checkpoint recorded by the last run ({settings.status.last_run_file})"
        seen = (TrustedCheckpoint(source, recorded), *trusted)
    if not seen:
        return
    trust = services.trust()
    assert trust.note_key is not None  # the run's own note key
    origin = settings.log.origin
    summary.seen_checkpoint = recorded
    newest = -1
    for t in seen:
        try:
            cp = open_trusted(t, trust.note_key, origin, trust.ranges)
        except EvidenceError:
            continue  # check_trusted below says why
        if cp.size > newest:
            newest, summary.seen_checkpoint = cp.size, t.note
    found = (archive or services.archive)()
    size, root = found.size, found.root()
    current = services.store().get_checkpoint() if head is _UNREAD else head
    if isinstance(current, tuple):
        try:
            cp = open_checkpoint(current[0], trust.note_key, origin)
            size, root = cp.size, cp.root_hash
        except EvidenceError:
            pass  # the run's verification reports a bad checkpoint

    # Roots come from the compact range of the verified log (when the run started from
    # one) and the store's entries after it, in O(log n); only a seen checkpoint older
    # than the verified log's reads the kept statements whole (ArchiveLog.root).
    def prefix_root(m: int) -> bytes:
        return found.root(m) if m <= found.size else b""

    def proof_for(m: int, old_root: bytes) -> str | None:
        # Incremental: the first entries are the verified log's, not the store's. The
        # store's signed checkpoint must be a consistent extension of each one seen.
        if size > found.size:
            return f"the store's checkpoint covers {size} entries, but {found.size} exist"
        if found.root(size) != root:
            what = f"its checkpoint {size} is not the tree of the verified log and its entries"
        elif found.root(m) != old_root:
            what = f"the first {m} entries are not the tree of the checkpoint seen"
        else:
            return None
        return f"forked or rewritten: not a consistent extension ({what})"

    report = Report(settings.store.uri)
    check_trusted(
        report,
        "V9 trusted",
        CHECKPOINT_KEY,
        seen,
        note_key=trust.note_key,
        origin=origin,
        size=size,
        root=root,
        **(
            {"proof_for": proof_for} if services.known is not None else {"prefix_root": prefix_root}
        ),
        ranges=trust.ranges,
    )
    if report.findings:
        summary.findings = [str(f) for f in report.findings]
        listing = "; ".join(f.message for f in report.findings)
        raise VerificationError(
            f"refusing to append: the store's checkpoint (size {size}) does not extend a "
            f"checkpoint seen before, the log was rolled back or forked: {listing}",
            fix="find out who changed the store and restore the missing entries, evidence and "
            "checkpoints from a copy; `evidence verify --trusted` shows what differs. Nothing "
            "was appended",
        )


def _verified_record(
    summary: RunSummary, previous: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The last-run record's ``verified``: the checkpoint verified and each stream's head.

    A head at the index the ``previous`` record gave keeps that record's window end: only
    the heads that moved are read (streams accumulate, one per dbt invocation, so reading
    every head would grow with the archive's age)."""
    if summary.findings or not summary.checkpoint or summary.archive is None:
        return None
    kept = (previous or {}).get("verified")
    before = kept.get("heads") if isinstance(kept, Mapping) else None
    before = before if isinstance(before, Mapping) else {}
    heads: dict[str, dict[str, Any]] = {}
    for stream, index in sorted(summary.archive.head_indexes().items()):
        old = before.get(stream)
        if isinstance(old, Mapping) and old.get("index") == index and "end" in old:
            heads[stream] = {"end": old["end"], "index": index}
            continue
        entry = summary.archive.entries[index]
        heads[stream] = {"end": entry.predicate.get("window", {}).get("end"), "index": index}
    return {
        **summary.checkpoint,
        "mode": "full" if summary.verified is None else "incremental",
        "heads": heads,
    }


def _start_from_verified(
    services: Services, summary: RunSummary, current: tuple[bytes, str] | None
) -> None:
    """Read the log from the checkpoint the last run verified, when its record is sound
    (``current``: ``log/checkpoint`` as the run found it)."""
    trust = services.trust()
    assert trust.note_key is not None  # the run's own note key
    summary.verified, why = start_from_verified(
        services.settings.status.last_run_file,
        trust.note_key,
        services.settings.log.origin,
        current,
        [services.own_key()],
    )
    if summary.verified is None:
        summary.full_because = why
        log.info("reading the whole log: %s", why)
    else:
        services.known = summary.verified.known


def _keep_verified(services: Services, summary: RunSummary) -> None:
    """Keep what this run verified, for the next run to start from (incremental)."""
    path = services.settings.status.last_run_file
    note = summary.seen_checkpoint
    if path is None or note is None or summary.archive is None or not summary.checkpoint:
        return
    cp = Checkpoint.from_text(SignedNote.from_bytes(note).text)
    if cp.size > summary.archive.size:
        return
    kept = summary.verified
    if kept is not None and kept.note == note and kept.summarized:
        return  # nothing new since the verified log the run started from
    if kept is not None and summary.archive.base is not kept.known:
        kept = None  # the run read the whole log after all: keep it afresh
    try:
        signer, _ = services.signers()
        write_verified(path, note, cp, summary.archive.known(cp.size), signer, kept)
    except EvidenceError as e:
        log.warning("%s; the next run reads the whole log", e)


def _record_checkpoint(services: Services, summary: RunSummary, note: bytes | None) -> None:
    """Keep the checkpoint this run verified (``note``, as the verification read it), for
    the next run's :func:`refuse_rollback`."""
    note_key = services.trust().note_key
    if note is None or note_key is None or not summary.checkpoint:
        return
    try:
        cp = open_checkpoint(note, note_key, services.settings.log.origin)
    except EvidenceError:
        return
    if cp.size == summary.checkpoint["size"] and cp.root_hash.hex() == summary.checkpoint.get(
        "root_hash"
    ):
        summary.seen_checkpoint = note


def _publish(services: Services, summary: RunSummary, size: int) -> None:
    """Publish the verified checkpoint to every witness (:mod:`das_evidence.witness`).

    A required witness that fails fails the run (1 when it holds a checkpoint the
    log does not extend, 3 when it cannot be reached); any other failure is a
    warning and an alert.
    """
    published = publish_for_run(services, size)
    summary.witnesses = [p.to_json() for p in published]
    failed = [p for p in published if not p.ok]
    required = [p for p in failed if p.required]
    if required and summary.exit_code == 0:
        summary.error = "; ".join(f"witness {p.uri}: {p.detail}" for p in required)
        summary.exit_code = max(p.exit_code for p in required)
    optional = [p for p in failed if not p.required]
    if optional and services.settings.alerts.webhooks:
        send_alerts(
            Alert(
                kind="failure",
                severity="critical" if any(p.exit_code == 1 for p in optional) else "warning",
                summary=f"checkpoint {size} not published to {len(optional)} witness(es)",
                source=services.settings.log.origin,
                details={f"witness.{i}": p.detail[:200] for i, p in enumerate(optional)},
                at=services.clock(),
            ),
            services.settings.alerts.webhooks,
        )


def _unsealed(archive: ArchiveLog, before: tuple[int, bytes] | None) -> list[str]:
    """What the run found unsealed and seals before collecting.

    Entries past ``log/checkpoint`` are what a run killed between writing an
    entry and its checkpoint leaves behind, and also what rolling
    ``log/checkpoint`` back to an older one looks like. Either way the entries
    are signed by this log's key, so the run seals them (crash recovery) and
    says so in its summary; ``evidence verify`` reports the state until then.
    """
    size = archive.size
    covered = before[0] if before else 0
    if size <= covered:
        return []
    what = "was missing" if before is None else f"covered {covered} of {size} entries"
    return [
        f"log/checkpoint {what} (a crashed run, or a checkpoint rolled back): "
        f"sealed the {size - covered} entries after it"
    ]
