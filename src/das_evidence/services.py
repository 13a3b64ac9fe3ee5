"""Wiring: the services one command uses, each built once from the settings.

A command makes one :class:`Services` and asks it for the store, the signers
(one ``GetPublicKey`` per KMS key for the whole command), the trust they imply
and the collectors ``--only`` selects. Nothing is built before it is asked for,
so ``evidence status`` never loads a signing key and a dbt-only configuration
never needs a Snowflake account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType

from das_evidence.collectors.catalogue import build_collectors
from das_evidence.collectors.interface import Collector
from das_evidence.collectors.runner import CollectReport, Runner
from das_evidence.collectors.snowflake import LazySession
from das_evidence.config import Settings
from das_evidence.errors import EvidenceError, NothingSelectedError
from das_evidence.evidence_store import open_store
from das_evidence.evidence_store.interface import EvidenceStore
from das_evidence.manifests.checkpoint import open_checkpoint
from das_evidence.manifests.keyring import load_signers
from das_evidence.manifests.log import ArchiveLog, KnownLog, LogEntry
from das_evidence.manifests.signers import NoteSigner, PublicKey, Signer
from das_evidence.streams import SNOWFLAKE, StreamId
from das_evidence.verify.archive import Trust

log = logging.getLogger(__name__)


class Services:
    """The store, signers, trust and collectors of one command, built on first use."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self._store: EvidenceStore | None = None
        self._created = False
        self._signers: tuple[Signer, NoteSigner] | None = None
        self._session: LazySession | None = None
        #: The log's first entries as verified before (the run's verified log,
        #: :mod:`das_evidence.schedules.state`): :meth:`archive` does not read them.
        self.known: KnownLog | None = None

    # --- the store ----------------------------------------------------------------------

    def store(self, *, create: bool = False) -> EvidenceStore:
        """The evidence store, opened once (``create``: make a directory store if absent)."""
        if self._store is None or (create and not self._created):
            s = self.settings.store
            self._store = open_store(
                s.uri,
                create=create,
                endpoint_url=s.endpoint_url,
                region=s.region,
                lock_mode=s.lock_mode,
            )
            self._created = create
        return self._store

    def archive(self) -> ArchiveLog:
        """The log as it is in the store now (read afresh on each call, from
        :attr:`known` on)."""
        return ArchiveLog(self.store(), self.settings.log.origin, self.known or ())

    def collect_archive(self) -> ArchiveLog:
        """The log to collect into: from :attr:`known` only when the store's signed
        checkpoint extends it, else read whole (and said why)."""
        archive = self.archive()
        if self.known is None:
            return archive
        current = self.store().get_checkpoint()
        archive.found_checkpoint(current)  # the seal does not read it again
        why = self._not_extending(archive, current, self.known.size)
        if why is None:
            return archive
        log.info("reading the whole log: %s", why)
        self.known = None
        return self.archive().found_checkpoint(current)

    def _not_extending(
        self, archive: ArchiveLog, current: tuple[bytes, str] | None, known: int
    ) -> str | None:
        """Why the store's ``log/checkpoint`` (``current``) does not extend :attr:`known`,
        checked on the log read from it (the known leaves and the store's new entries)."""
        if current is None:
            return "the store has no log/checkpoint"
        note_key = self.trust().note_key
        assert note_key is not None  # the run's own note key
        try:
            cp = open_checkpoint(current[0], note_key, self.settings.log.origin)
        except EvidenceError as e:
            return f"the store's checkpoint does not verify: {e.message}"
        if cp.size < known or cp.size > archive.size:
            return (
                f"the store's checkpoint covers {cp.size} entries, the verified log "
                f"{known} and the store {archive.size}"
            )
        if archive.root(cp.size) != cp.root_hash:
            return "the store's checkpoint is not a consistent extension of the verified log"
        return None

    def warn_on_bucket(self) -> None:
        """Collect writes even to a weak bucket, but says so on every run."""
        from das_evidence.evidence_store.bucket_check import check_store

        store = self.store()
        try:
            checks = check_store(
                store,
                required_retention_days=self.settings.shortest_retention_days(),
                lock_mode=self.settings.store.lock_mode,
            )
        except EvidenceError as e:
            log.warning("could not check the bucket of %s: %s", store.uri, e)
            return
        for c in checks or ():
            if not c.passed:
                log.warning(
                    "bucket of %s fails %s: %s (fix: %s)", store.uri, c.name, c.detail, c.fix
                )

    # --- keys ---------------------------------------------------------------------------

    def signers(self) -> tuple[Signer, NoteSigner]:
        """The entry and checkpoint signers, loaded once (KMS: one GetPublicKey each)."""
        if self._signers is None:
            s = self.settings.signing
            self._signers = load_signers(
                s.key,
                self.settings.log.origin,
                s.note_key,
                region=s.region,
                endpoint_url=s.endpoint_url,
            )
        return self._signers

    def own_key(self) -> PublicKey:
        """The public key of the run's own entry signer."""
        return PublicKey.from_pem(self.signers()[0].public_key_pem())

    def trust(self) -> Trust:
        """What the run's own verification trusts: its signers' public keys and origin."""
        from das_evidence.manifests.note import VerifierKey
        from das_evidence.verify.keys import load_keys_file, merged_keys

        _, note_signer = self.signers()
        own = self.own_key()
        keys_file = self.settings.signing.keys_file
        ranges = load_keys_file(keys_file) if keys_file is not None else None
        return Trust(
            keys=merged_keys(ranges, [own]),
            note_key=VerifierKey.from_public_key(note_signer.name, note_signer.public_key_raw()),
            origin=self.settings.log.origin,
            ranges=ranges,
        )

    # --- collection ---------------------------------------------------------------------

    def collectors(self, only: str | Sequence[str] | None, now: datetime) -> list[Collector]:
        """The collectors ``only`` selects; streams left out are never built."""
        if self._session is None:
            self._session = LazySession(self.settings.snowflake.connector_args())
        collectors = build_collectors(self.settings, self._session, now, only)
        if only and not collectors:
            # A run with nothing configured still seals and verifies the archive.
            what = f"--only {only!r}" if isinstance(only, str) else f"streams {', '.join(only)}"
            raise NothingSelectedError(
                f"nothing selected: {what} matches no configured stream",
                fix="use a stream name such as access_history, or a glob like '*history' "
                "(`evidence status` lists the streams)",
            )
        return collectors

    def preflight(self, only: str | Sequence[str] | None) -> list[Collector]:
        """The selected collectors, once the files their sources need are known to be there.

        Runs before the store is created or locked, so a configuration error
        leaves nothing behind: no archive directory, no lock file.
        """
        collectors = self.collectors(only, self.clock())
        if any(StreamId.parse(c.stream).source == SNOWFLAKE for c in collectors):
            self.settings.snowflake.check_files()
        return collectors

    def collect(
        self,
        *,
        only: str | Sequence[str] | None,
        on_entry: Callable[[LogEntry], None] | None = None,
        reconcile: timedelta | None = None,
        progress: Callable[[int, int, str], None] | None = None,
        archive: ArchiveLog | None = None,
    ) -> CollectReport:
        """Collect every due window of the selected streams (``evidence collect``).

        ``progress(done, total, what)`` hears of each stream and each entry;
        ``archive``: the log as the caller has read it (else read here).
        """
        collectors = self.preflight(only)
        signer, note_signer = self.signers()
        store = self.store(create=True)
        self.warn_on_bucket()
        settings = self.settings
        with store.lock():
            retention = {
                c.stream: settings.retention(StreamId.parse(c.stream).kind) for c in collectors
            }
            runner = Runner(
                store,
                archive or self.collect_archive(),
                signer,
                note_signer,
                self.clock,
                retention=lambda stream: retention.get(
                    stream, timedelta(days=settings.store.retention_days)
                ),
                reconcile=reconcile,
            )
            return runner.run(collectors, on_entry=on_entry, progress=progress)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
