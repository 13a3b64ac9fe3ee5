"""`evidence collect` as a library call: settings to store, log, signers, collectors, runner."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from das_evidence.collectors.runner import CollectReport, Runner, select
from das_evidence.collectors.snowflake import LazySession, history_collectors
from das_evidence.config import Settings, load_settings
from das_evidence.errors import ConfigError
from das_evidence.evidence_store import open_store
from das_evidence.manifests.keyring import load_signers
from das_evidence.manifests.log import ArchiveLog, LogEntry


def collect_settings(
    settings: Settings,
    *,
    only: str | None,
    clock: Callable[[], datetime],
    on_entry: Callable[[LogEntry], None] | None = None,
) -> CollectReport:
    signer, note_signer = load_signers(settings.signing.key, settings.log.origin)
    now = clock()
    session = LazySession(settings.snowflake.connector_args())
    try:
        collectors = select(history_collectors(settings, session, now), only)
        if only and not collectors:
            raise ConfigError(
                f"--only {only!r} matches no configured stream",
                fix="use a stream name such as access_history, or a glob like '*history'",
            )
        store = open_store(settings.store.uri, create=True)
        archive = ArchiveLog(store, settings.log.origin)
        runner = Runner(store, archive, signer, note_signer, clock)
        return runner.run(collectors, on_entry=on_entry)
    finally:
        session.close()


def collect_all(
    config: Path,
    *,
    only: str | None = None,
    clock: Callable[[], datetime],
    on_entry: Callable[[LogEntry], None] | None = None,
) -> CollectReport:
    return collect_settings(load_settings(config), only=only, clock=clock, on_entry=on_entry)
