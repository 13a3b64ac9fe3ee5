"""`evidence collect` as a library call: settings to store, log, signers, collectors, runner."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from das_evidence.collectors.interface import Collector
from das_evidence.collectors.runner import CollectReport, Runner, select
from das_evidence.collectors.snowflake import (
    LazySession,
    history_collectors,
    policy_collectors,
)
from das_evidence.config import Settings, load_settings
from das_evidence.errors import ConfigError, EvidenceError
from das_evidence.evidence_store import open_store
from das_evidence.evidence_store.interface import EvidenceStore
from das_evidence.manifests.keyring import load_signers
from das_evidence.manifests.log import ArchiveLog, LogEntry
from das_evidence.manifests.signers import NoteSigner, Signer
from das_evidence.streams import StreamId

log = logging.getLogger(__name__)


def signers_for(settings: Settings) -> tuple[Signer, NoteSigner]:
    s = settings.signing
    return load_signers(
        s.key, settings.log.origin, s.note_key, region=s.region, endpoint_url=s.endpoint_url
    )


def open_settings_store(settings: Settings, *, create: bool = False) -> EvidenceStore:
    return open_store(
        settings.store.uri,
        create=create,
        endpoint_url=settings.store.endpoint_url,
        region=settings.store.region,
        lock_mode=settings.store.lock_mode,
    )


def warn_on_bucket(settings: Settings, store: EvidenceStore) -> None:
    """Collect writes even to a weak bucket, but says so on every run."""
    from das_evidence.evidence_store.s3 import S3Store

    if not isinstance(store, S3Store):
        return
    from das_evidence.evidence_store.bucket_check import check_bucket

    try:
        checks = check_bucket(
            store.client,
            store.bucket,
            required_retention_days=settings.shortest_retention_days(),
            lock_mode=settings.store.lock_mode,
        )
    except EvidenceError as e:
        log.warning("could not check bucket %s: %s", store.bucket, e)
        return
    for c in checks:
        if not c.passed:
            log.warning("bucket %s fails %s: %s (fix: %s)", store.bucket, c.name, c.detail, c.fix)


def dbt_collectors_for(settings: Settings) -> list[Collector]:
    if not settings.dbt:
        return []
    from das_evidence.collectors.dbt import dbt_collectors

    out: list[Collector] = []
    for d in settings.dbt:
        out.extend(
            dbt_collectors(
                [(d.project, d.target_dir)],
                endpoint_url=d.endpoint_url or settings.store.endpoint_url,
                max_bytes=d.max_bytes,
            )
        )
    return out


def collect_settings(
    settings: Settings,
    *,
    only: str | Sequence[str] | None,
    clock: Callable[[], datetime],
    on_entry: Callable[[LogEntry], None] | None = None,
    reconcile: timedelta | None = None,
) -> CollectReport:
    signer, note_signer = signers_for(settings)
    now = clock()
    collectors: list[Collector]
    session = LazySession(settings.snowflake.connector_args())
    try:
        collectors = select(
            [
                *history_collectors(settings, session, now),
                *policy_collectors(settings, session),
                *dbt_collectors_for(settings),
            ],
            only,
        )
        if only and not collectors:
            raise ConfigError(
                f"--only {only!r} matches no configured stream",
                fix="use a stream name such as access_history, or a glob like '*history'",
            )
        store = open_settings_store(settings, create=True)
        warn_on_bucket(settings, store)
        with store.lock():
            return _run(
                settings, store, collectors, signer, note_signer, clock, on_entry, reconcile
            )
    finally:
        session.close()


def _run(
    settings: Settings,
    store: EvidenceStore,
    collectors: list[Collector],
    signer: Signer,
    note_signer: NoteSigner,
    clock: Callable[[], datetime],
    on_entry: Callable[[LogEntry], None] | None,
    reconcile: timedelta | None,
) -> CollectReport:
    archive = ArchiveLog(store, settings.log.origin)
    retention = {c.stream: settings.retention(StreamId.parse(c.stream).kind) for c in collectors}
    runner = Runner(
        store,
        archive,
        signer,
        note_signer,
        clock,
        retention=lambda stream: retention.get(
            stream, timedelta(days=settings.store.retention_days)
        ),
        reconcile=reconcile,
    )
    return runner.run(collectors, on_entry=on_entry)


def collect_all(
    config: Path,
    *,
    only: str | None = None,
    clock: Callable[[], datetime],
    on_entry: Callable[[LogEntry], None] | None = None,
) -> CollectReport:
    return collect_settings(load_settings(config), only=only, clock=clock, on_entry=on_entry)
