"""Collect every due window of every configured stream into the archive.

The runner owns the write order (evidence files, entry, checkpoint) through
:class:`~das_evidence.manifests.log.ArchiveLog`, and isolates streams: one
stream failing (a missing column, a permission, even a bug) does not stop the
others. An unexpected exception fails its stream as a :class:`CollectorError`
that calls it a bug; its traceback is logged at DEBUG.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

from das_evidence.collectors.interface import (
    PARQUET_MEDIA_TYPE,
    ArchiveReader,
    CollectedFile,
    Collection,
    Collector,
    Window,
)
from das_evidence.collectors.parquet import read_parquet, read_parquet_rows
from das_evidence.errors import CollectorError, EvidenceError, LogRaceError, PutOnceError
from das_evidence.evidence_store.interface import EvidenceStore, ObjectInfo
from das_evidence.manifests.log import ArchiveLog, EvidenceFile, LogEntry
from das_evidence.manifests.signers import NoteSigner, Signer
from das_evidence.streams import ACCOUNTS_FOR, stream_matches
from das_evidence.timefmt import parse_rfc3339, rfc3339
from das_evidence.verify.files import copy_verified, read_verified

log = logging.getLogger(__name__)

#: How far the orphan sweep's cursor stays behind a stream's head window and the clock,
#: beyond the reconciliation horizon (:meth:`Runner._advance_cursor`).
SWEEP_LAG = timedelta(days=7)


@dataclass
class StreamResult:
    stream: str
    entries: list[int] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    error: EvidenceError | None = None


@dataclass
class CollectReport:
    streams: list[StreamResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.error is None for s in self.streams)

    @property
    def exit_code(self) -> int:
        codes = [s.error.exit_code for s in self.streams if s.error is not None]
        return max(codes, default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "streams": [
                {
                    "stream": s.stream,
                    "entries": s.entries,
                    "rows": s.rows,
                    "bytes": s.bytes,
                    "error": str(s.error) if s.error else None,
                }
                for s in self.streams
            ],
        }


class StoreArchiveReader(ArchiveReader):
    """Reads the newest entry of a stream back from the store, checking each file's digest."""

    def __init__(self, store: EvidenceStore, archive: ArchiveLog) -> None:
        self.store = store
        self.archive = archive

    def last_files(self, stream: str) -> tuple[Mapping[str, Any], dict[str, bytes]] | None:
        entry = self.archive.head(stream)
        if entry is None:
            return None
        files = {
            s.name: read_verified(self.store.get, s.name, s.sha256, entry.index)
            for s in entry.statement.subjects
        }
        return entry.predicate, files

    def last_files_to(
        self, stream: str, directory: Path
    ) -> tuple[Mapping[str, Any], dict[str, Path]] | None:
        entry = self.archive.head(stream)
        if entry is None:
            return None
        paths: dict[str, Path] = {}
        for n, s in enumerate(entry.statement.subjects):
            path = directory / f"{n}-{s.name.rsplit('/', 1)[-1]}"
            with path.open("wb") as f:
                copy_verified(self.store.open, s.name, s.sha256, entry.index, f.write)
            paths[s.name] = path
        return entry.predicate, paths


def _longest(retain_until: datetime | None, stored: Sequence[ObjectInfo]) -> datetime | None:
    """The entry's retention: its own, or longer when a file it names (adopted, or an
    orphan, put by a writer whose clock ran ahead) is locked longer, so the entry
    outlives every file it names."""
    if retain_until is None:
        return None
    return max([retain_until, *(i.retain_until for i in stored if i.retain_until is not None)])


def _beside(f: CollectedFile, taken: AbstractSet[str]) -> CollectedFile:
    """``f`` under the first free ``<stem>.retry-<n><suffix>`` key."""
    stem, dot, suffix = f.key.rpartition(".")
    if not dot or "/" in suffix:
        stem, suffix = f.key, ""
    n = 1
    while (key := f"{stem}.retry-{n}{'.' + suffix if suffix else ''}") in taken:
        n += 1
    return CollectedFile(key, f.local_path, f.sha256, f.size, f.rows, f.media_type)


@runtime_checkable
class Reconcilable(Protocol):
    """A windowed collector that can re-count a window and fetch its late rows."""

    stream: str
    key_column: str

    def recount(self, window: Window) -> int: ...

    def amend(
        self, window: Window, archived_keys: set[Any], amendment: int, spool: Path
    ) -> Collection | None: ...


def select(collectors: Sequence[Collector], only: str | Sequence[str] | None) -> list[Collector]:
    """Collectors whose stream (or its last part) matches the glob(s) ``only``."""
    if not only:
        return list(collectors)
    return [c for c in collectors if stream_matches(c.stream, only)]


def _tell(
    on_entry: Callable[[LogEntry], None] | None,
    progress: Callable[[int, int, str], None] | None,
    done: int,
    total: int,
) -> Callable[[LogEntry], None] | None:
    """One entry callback for both listeners: the caller's, and a progress line."""
    if progress is None:
        return on_entry

    def heard(entry: LogEntry) -> None:
        p = entry.predicate
        rows = sum(int(f.get("rows", 0)) for f in p.get("files", []))
        progress(done, total, f"{p['stream']} {p['window']['start']}: {rows:,} rows")
        if on_entry:
            on_entry(entry)

    return heard


class Runner:
    def __init__(
        self,
        store: EvidenceStore,
        archive: ArchiveLog,
        signer: Signer,
        note_signer: NoteSigner,
        clock: Callable[[], datetime],
        retention: Callable[[str], timedelta] | None = None,
        reconcile: timedelta | None = None,
    ) -> None:
        self.store = store
        self.archive = archive
        self.signer = signer
        self.note_signer = note_signer
        self.clock = clock
        self.retention = retention
        self.reconcile = reconcile

    def run(
        self,
        collectors: Sequence[Collector],
        on_entry: Callable[[LogEntry], None] | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> CollectReport:
        """Collect each collector's due windows; ``on_entry`` hears of each new entry,
        ``progress(streams done, streams, what)`` of each stream and entry.

        The run's entries are sealed once, after the last stream (one
        ``log/checkpoints/<size>`` and one ``log/checkpoint`` write per run, not per
        entry); a run stopped before then leaves an unsealed tail, which the next
        run seals first, as here."""
        # A crash after an entry but before its checkpoint left an unsealed tail.
        self.archive.seal(self.note_signer)
        report = CollectReport()
        now = self.clock()
        total = len(collectors)
        for done, collector in enumerate(collectors):
            result = StreamResult(collector.stream)
            report.streams.append(result)
            if progress:
                progress(done, total, collector.stream)
            heard = _tell(on_entry, progress, done, total)
            try:
                self._run_stream(collector, now, result, heard)
                if self.reconcile is not None and isinstance(collector, Reconcilable):
                    self._reconcile(collector, now, result, heard)
                self._sweep(collector, result, heard)
            except EvidenceError as e:
                log.error("stream %s failed: %s", collector.stream, e)
                log.debug("stream %s failed", collector.stream, exc_info=True)
                result.error = e
            except Exception as e:  # the stream boundary: a bug in one stream fails only it
                log.error(
                    "stream %s failed unexpectedly: %s: %s", collector.stream, type(e).__name__, e
                )
                log.debug("stream %s failed unexpectedly", collector.stream, exc_info=True)
                result.error = CollectorError(
                    f"{collector.stream} failed unexpectedly (a bug): {type(e).__name__}: {e}",
                    fix="rerun with --verbose for the traceback and report it",
                )
        self.archive.seal(self.note_signer)
        if progress:
            progress(total, total, "done")
        return report

    def _run_stream(
        self,
        collector: Collector,
        now: datetime,
        result: StreamResult,
        on_entry: Callable[[LogEntry], None] | None,
    ) -> None:
        collector.attach(StoreArchiveReader(self.store, self.archive))
        races = 0
        while True:
            # Plan again after every entry: another writer may have archived windows.
            windows = collector.due_windows(self.archive.stream_end(collector.stream), now)
            if not windows:
                return
            window = windows[0]
            began = time.monotonic()
            try:
                with tempfile.TemporaryDirectory(prefix="evidence-spool-") as spool:
                    collection = collector.collect(window, Path(spool))
                    entry = self._archive(collector, collection)
            except (LogRaceError, PutOnceError) as e:
                races += 1
                if races > 20:
                    raise
                log.info("another writer got there first (%s); catching up", e.message)
                self.archive.reload()
                continue
            files = entry.predicate["files"]
            result.entries.append(entry.index)
            result.rows += sum(f.get("rows", 0) for f in files)
            result.bytes += sum(f["size"] for f in files)
            log.info(
                "archived %s %s",
                collector.stream,
                entry.predicate["window"]["start"],
                extra={
                    "evidence": {
                        "stream": collector.stream,
                        "window": entry.predicate["window"],
                        "entry": entry.index,
                        "rows": sum(f.get("rows", 0) for f in files),
                        "bytes": sum(f["size"] for f in files),
                        "sha256": [f["sha256"] for f in files],
                        "duration_s": round(time.monotonic() - began, 3),
                    }
                },
            )
            if on_entry:
                on_entry(entry)

    def _reconcile(
        self,
        collector: Reconcilable,
        now: datetime,
        result: StreamResult,
        on_entry: Callable[[LogEntry], None] | None,
    ) -> None:
        """Re-count recent windows; rows that arrived late become an amendment entry."""
        assert self.reconcile is not None
        horizon = now - self.reconcile
        entries = self.archive.entries  # read back from the end, only as far as needed
        recent: list[tuple[LogEntry, Window]] = []
        # Newest first, up to the stream's first window that ended before the horizon: a
        # stream's windows only move forward in the log, so none before it is recent (and
        # a nightly run reads a few days of entries, not the whole log).
        for entry in reversed(entries):
            p = entry.predicate
            w = p["window"]
            if p["stream"] != collector.stream or "amends" in p or w["start"] == w["end"]:
                continue
            window = Window(parse_rfc3339(w["start"]), parse_rfc3339(w["end"]))
            if window.end < horizon:
                break
            recent.append((entry, window))
        for entry, window in reversed(recent):
            w = entry.predicate["window"]
            parts = [entry] + [
                e for e in entries[entry.index + 1 :] if e.predicate.get("amends") == entry.index
            ]
            archived = sum(int(e.predicate.get("rows", 0)) for e in parts)
            count = collector.recount(window)
            if count <= archived:
                continue
            keys: set[Any] = set()
            for part in parts:
                for subject in part.statement.subjects:
                    data = read_verified(self.store.get, subject.name, subject.sha256, part.index)
                    table = read_parquet(data, subject.name, columns=[collector.key_column])
                    keys.update(table.column(0).to_pylist())
            with tempfile.TemporaryDirectory(prefix="evidence-spool-") as spool:
                collection = collector.amend(window, keys, len(parts), Path(spool))
                if collection is None:
                    continue
                amended = Collection(
                    collection.stream,
                    collection.window,
                    collection.files,
                    {**collection.predicate, "amends": entry.index},
                )
                new = self._archive(cast(Collector, collector), amended)
            log.warning(
                "%s: %d late rows in [%s, %s) archived as amendment entry %d of entry %d",
                collector.stream,
                count - archived,
                w["start"],
                w["end"],
                new.index,
                entry.index,
            )
            result.entries.append(new.index)
            result.rows += int(new.predicate.get("rows", 0))
            result.bytes += sum(f["size"] for f in new.predicate["files"])
            if on_entry:
                on_entry(new)

    def _sweep(
        self,
        collector: Collector,
        result: StreamResult,
        on_entry: Callable[[LogEntry], None] | None,
    ) -> None:
        """Account for the stream's orphans: files under its prefix that no entry names.

        A run that stops between an evidence file and its entry (killed, a request that
        failed after its retries, a concurrent writer whose clock differs) leaves a file
        whose key the next run may not compute. Once the stream has moved past it (it
        is not :meth:`Collector.pending`) it never will, so one signed point-in-time
        entry names it with its digest: the archive keeps no byte that no entry names.

        One LIST per run, of the prefix after the stream's sweep cursor (the partitions
        proven clean before, kept in the verified log's signed summary: see
        :meth:`_advance_cursor`), or of the whole prefix without one.
        """
        prefix = collector.evidence_prefix()
        if prefix is None:
            return
        cursor = self.archive.swept(collector.stream)
        if cursor is not None and not cursor.startswith(f"{prefix}date="):
            cursor = None  # a cursor for another prefix says nothing about this one
        listed = list(self.store.list(prefix, start_after=cursor or ""))
        for _ in range(20):
            named = self.archive.referenced_paths()
            last_end = self.archive.stream_end(collector.stream)
            orphans = [k for k in listed if k not in named and not collector.pending(k, last_end)]
            if not orphans:
                self._advance_cursor(collector, prefix, listed, cursor)
                return
            try:
                entry = self._account(collector, prefix, orphans)
            except LogRaceError:
                self.archive.reload()  # another writer appended: it may have named them
                continue
            log.warning(
                "%s: %d evidence file(s) that no entry named (left by a stopped run) "
                "accounted for in entry %d",
                collector.stream,
                len(orphans),
                entry.index,
            )
            result.entries.append(entry.index)
            if on_entry:
                on_entry(entry)
            self._advance_cursor(collector, prefix, listed, cursor)
            return
        raise LogRaceError(f"could not account for the orphans of {collector.stream}")

    def _advance_cursor(
        self, collector: Collector, prefix: str, listed: Sequence[str], cursor: str | None
    ) -> None:
        """Move the stream's sweep cursor up to the ``date=`` partitions no writer can
        still write into, now that every key listed is named (or pending).

        Where can an orphan land? A window's file lies in the partition of the window's
        start. A writer plans its windows from the stream's head as it read it, so it
        writes at or after that head; a window before the head's is written again only
        with the same key (its windows are on a grid), which put-once refuses, so it
        leaves no orphan there. A key that depends on the writer's clock (the last,
        partial window's end) is for a window near that writer's now; an amendment is
        for a window within the reconciliation horizon. So the cursor stays
        :data:`SWEEP_LAG` (clock skew and a window's length) plus the horizon before both
        the head's window start and this run's clock. Left behind it: a file put by a
        writer that stayed paused for longer than that between planning and its PUT and
        was then killed (a writer that is not killed sweeps its own leftovers), and keys
        a collector never writes (outside ``date=`` partitions: with one listed, no
        cursor is kept)."""
        head = self.archive.head(collector.stream)
        if head is None:
            return
        partitions = f"{prefix}date="
        if any(not k.startswith(partitions) for k in listed):
            return  # not the partition layout this cursor assumes: list it all
        try:
            start = parse_rfc3339(head.predicate["window"]["start"])
        except (KeyError, TypeError, ValueError):
            return
        bound = min(start, self.clock()) - SWEEP_LAG - (self.reconcile or timedelta(0))
        new = f"{partitions}{bound.astimezone(UTC).date().isoformat()}"
        named = self.archive.referenced_paths()
        for key in listed:
            if key not in named:  # pending: the cursor stays before its partition
                new = min(new, key[: len(partitions) + len("YYYY-MM-DD")])
        if cursor is None or new > cursor:
            self.archive.sweep_to(collector.stream, new)

    def _account(self, collector: Collector, prefix: str, keys: Sequence[str]) -> LogEntry:
        collected_at = self.clock().replace(microsecond=0)
        retain_until = None
        if self.store.locks and self.retention is not None:
            retain_until = collected_at + self.retention(collector.stream)
        files: list[EvidenceFile] = []
        stored: list[ObjectInfo] = []
        for key in keys:
            data = self.store.get(key)
            rows = None
            if key.endswith(".parquet"):
                try:
                    rows = read_parquet_rows(data, key)
                except EvidenceError:
                    rows = None
            media = PARQUET_MEDIA_TYPE if key.endswith(".parquet") else "application/octet-stream"
            files.append(
                EvidenceFile(key, hashlib.sha256(data).hexdigest(), len(data), media, rows)
            )
            stored.append(self.store.head(key) or ObjectInfo(key, len(data), ""))
        retain_until = _longest(retain_until, stored)
        from das_evidence import __version__

        predicate: dict[str, Any] = {
            "collector": {"name": collector.name, "version": __version__},
            "window": {"start": rfc3339(collected_at), "end": rfc3339(collected_at)},
            "collected_at": rfc3339(collected_at),
            ACCOUNTS_FOR: "orphans",
            "reason": f"evidence files under {prefix} that no entry named, left by a run "
            "that stopped between writing them and writing their entry (killed, a request "
            "that failed after its retries, or a concurrent writer whose clock differed); "
            "the stream's windows are evidenced by its other entries, not by these files",
        }
        if self.store.locks:
            predicate["storage"] = {
                "uri": self.store.uri,
                "objects": [info.storage_json() for info in stored],
            }
        return self.archive.append(
            stream=collector.stream,
            files=files,
            predicate=predicate,
            signer=self.signer,
            note_signer=self.note_signer,
            retain_until=retain_until,
            seal=False,  # once, at the end of the run
        )

    def _put_evidence(
        self, f: CollectedFile, retain_until: datetime | None
    ) -> tuple[EvidenceFile, ObjectInfo, bool]:
        """Put one file; adopt an unreferenced leftover of an interrupted run instead."""
        if f.key in self.archive.accounted_paths():
            # An orphans entry names the key this window computes (a file it no longer
            # adopts, since that entry names it): this window's bytes go beside it.
            f = _beside(f, self.archive.referenced_paths())
        try:
            put = self.store.put_once(f.key, f.local_path, retain_until=retain_until)
            return EvidenceFile(f.key, f.sha256, f.size, f.media_type, f.rows), put.info, False
        except PutOnceError:
            if f.key in self.archive.referenced_paths():
                raise
        # An earlier run wrote this file and died before its entry; the source has
        # changed since (late rows). The file on the store is what was collected then:
        # keep it, so no byte of the store is left unreferenced, and say so.
        data = self.store.get(f.key)
        rows = None
        if f.media_type == PARQUET_MEDIA_TYPE:
            rows = read_parquet_rows(data, f.key)
        log.warning("adopting %s left by an interrupted run", f.key)
        info = self.store.head(f.key) or ObjectInfo(f.key, len(data), "")
        return (
            EvidenceFile(f.key, hashlib.sha256(data).hexdigest(), len(data), f.media_type, rows),
            info,
            True,
        )

    def _archive(self, collector: Collector, collection: Collection) -> LogEntry:
        collected_at = self.clock().replace(microsecond=0)
        retain_until = None
        if self.store.locks and self.retention is not None:
            retain_until = collected_at + self.retention(collection.stream)
        files: list[EvidenceFile] = []
        stored: list[ObjectInfo] = []
        adopted = False
        for f in collection.files:
            ef, info, was_adopted = self._put_evidence(f, retain_until)
            files.append(ef)
            stored.append(info)
            adopted = adopted or was_adopted
        retain_until = _longest(retain_until, stored)
        from das_evidence import __version__

        predicate: dict[str, Any] = {
            "collector": {"name": collector.name, "version": __version__},
            "window": collection.window.to_json(),
            "collected_at": rfc3339(collected_at),
        }
        predicate.update(collection.predicate)
        if self.store.locks:
            predicate["storage"] = {
                "uri": self.store.uri,
                "objects": [info.storage_json() for info in stored],
            }
        if adopted:
            # The query that made the stored bytes is not the one just run.
            query = dict(predicate.get("query", {}))
            predicate["recovered"] = {
                "reason": "evidence file left by an interrupted run was kept; "
                "its rows are as collected then",
                "query_id_of_retry": query.pop("query_id", None),
            }
            predicate["query"] = query
            predicate["rows"] = sum(f.rows or 0 for f in files)
        return self.archive.append(
            stream=collection.stream,
            files=files,
            predicate=predicate,
            signer=self.signer,
            note_signer=self.note_signer,
            retain_until=retain_until,
            seal=False,  # once, at the end of the run
        )
