"""The collector contract: every source of evidence is a :class:`Collector`.

A collector names its stream, says which windows are due given what the
archive already holds, and turns one window into files in a local spool
directory plus the predicate fields that describe how they were made. It never
writes to the store and never signs: the runner does that, in the one order
that makes a crash at any point recoverable (evidence files, entry, checkpoint).

The public methods are template methods: a collector implements the hooks
(``_attach``, ``_due_windows``, ``_collect``) and the base class turns anything
they raise into a :class:`~das_evidence.errors.CollectorError` naming the
stream, so the runner's per-stream isolation holds whatever a source or a bug
throws. It also checks what a collector hands back before the runner archives
it: the stream and window asked for, and files that are inside the spool and
are the bytes their digests say.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, final

from das_evidence.errors import CollectorError, EvidenceError
from das_evidence.timefmt import rfc3339

log = logging.getLogger(__name__)

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)``; ``start == end`` is a point-in-time snapshot."""

    start: datetime
    end: datetime

    def to_json(self) -> dict[str, str]:
        return {"start": rfc3339(self.start), "end": rfc3339(self.end)}


@dataclass(frozen=True)
class CollectedFile:
    """One evidence file, written to the local spool, with the store key it will get."""

    key: str
    local_path: Path
    sha256: str
    size: int
    rows: int | None
    media_type: str


@dataclass(frozen=True)
class Collection:
    """The result of collecting one window: files plus the collector's predicate fields."""

    stream: str
    window: Window
    files: tuple[CollectedFile, ...]
    predicate: Mapping[str, Any] = field(default_factory=dict)


class ArchiveReader(ABC):
    """What a collector may read back from the archive: its own stream's last entry."""

    @abstractmethod
    def last_files(self, stream: str) -> tuple[Mapping[str, Any], dict[str, bytes]] | None:
        """The predicate and the file bytes (by path, checked against their signed
        digests) of the newest entry of ``stream``, or None if it has none."""

    def last_files_to(
        self, stream: str, directory: Path
    ) -> tuple[Mapping[str, Any], dict[str, Path]] | None:
        """:meth:`last_files`, each file written into ``directory`` (which the caller
        owns and removes) instead of returned: by path, the local copy.

        This default goes through :meth:`last_files`; a reader over a store overrides it
        to stream each file to disk, checking its digest as it goes, so no file is ever
        held in memory whole."""
        found = self.last_files(stream)
        if found is None:
            return None
        predicate, files = found
        paths: dict[str, Path] = {}
        for n, (name, data) in enumerate(sorted(files.items())):
            path = directory / f"{n}-{name.rsplit('/', 1)[-1]}"
            path.write_bytes(data)
            paths[name] = path
        return predicate, paths


def as_collector_error(stream: str, e: Exception) -> CollectorError:
    """``e`` as the CollectorError of ``stream`` (``e`` itself if it already is one).

    A product error keeps its message, fix and exit code (a ConfigError met while
    collecting still exits 2); anything else is unexpected: a bug in the collector,
    or input it does not handle.
    """
    if isinstance(e, CollectorError):
        return e
    if isinstance(e, EvidenceError):
        wrapped = CollectorError(f"{stream}: {e.message}", fix=e.fix)
        wrapped.exit_code = e.exit_code
        return wrapped
    return CollectorError(
        f"{stream}: unexpected {type(e).__name__}: {e} "
        "(a bug in the collector, or input it does not handle)"
    )


def _utc(t: datetime) -> bool:
    return t.utcoffset() == timedelta(0)


def check_plan(stream: str, last_end: datetime | None, windows: list[Window]) -> None:
    """Due windows are UTC, in order, and cover nothing already collected or planned.

    A window may start where the previous one ended, but must end after it, so a
    snapshot ``[t, t]`` is never planned twice (the runner would archive it forever).
    """
    previous_end = last_end
    for w in windows:
        if not (_utc(w.start) and _utc(w.end)) or w.start > w.end:
            raise CollectorError(
                f"{stream}: planned the window {w!r}, which is not an ordered pair of UTC times "
                "(a bug in the collector)"
            )
        if previous_end is not None and (w.start < previous_end or w.end <= previous_end):
            raise CollectorError(
                f"{stream}: planned the window {w.to_json()}, but everything up to "
                f"{rfc3339(previous_end)} is already collected or planned "
                "(a bug in the collector)"
            )
        previous_end = w.end


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_collection(stream: str, window: Window, spool: Path, collection: Collection) -> None:
    """What a collector hands back is what the runner may archive, or a CollectorError.

    The stream and window are the ones asked for; every file is a regular file inside
    ``spool`` (a collector writes nowhere else), keys are distinct, and each file's
    size and SHA-256 are those of its bytes on disk now.
    """

    def bug(what: str) -> CollectorError:
        return CollectorError(f"{stream}: {what} (a bug in the collector)")

    if collection.stream != stream:
        raise bug(f"collected into the stream {collection.stream!r}")
    if collection.window != window:
        raise bug(f"asked for {window.to_json()}, collected {collection.window.to_json()}")
    root = spool.resolve()
    keys: set[str] = set()
    for f in collection.files:
        if f.key in keys:
            raise bug(f"names the key {f.key} twice")
        keys.add(f.key)
        path = f.local_path.resolve()
        if not path.is_relative_to(root):
            raise bug(f"wrote {f.local_path}, outside its spool directory {spool}")
        try:
            if not path.is_file():
                raise bug(f"names {f.local_path} for {f.key}, which is not a file")
            sha256, size = _sha256(path)
        except OSError as e:
            raise bug(f"cannot read back {f.local_path} for {f.key}: {e}") from e
        if size != f.size or sha256 != f.sha256:
            raise bug(
                f"says {f.key} is {f.size} bytes with SHA-256 {f.sha256}, but "
                f"{f.local_path} is {size} bytes with SHA-256 {sha256}"
            )


class Collector(ABC):
    """One evidence stream from one source.

    Subclasses implement the hooks :meth:`_due_windows` and :meth:`_collect`, and
    :meth:`_attach` if they compare with the past; callers use the public methods.
    """

    #: e.g. ``snowflake/ACME_PROD/access_history``
    stream: str
    #: e.g. ``snowflake.account_usage.access_history``
    name: str

    @final
    def attach(self, archive: ArchiveReader) -> None:
        """Called before ``due_windows``: what the collector may read of the archive."""
        with self._errors():
            self._attach(archive)

    @final
    def due_windows(self, last_end: datetime | None, now: datetime) -> list[Window]:
        """Windows to collect now, given the end of the last archived window (or None)."""
        with self._errors():
            windows = list(self._due_windows(last_end, now))
        check_plan(self.stream, last_end, windows)
        return windows

    @final
    def collect(self, window: Window, spool: Path) -> Collection:
        """Collect ``window`` into files under ``spool``. Raises only CollectorError."""
        return self._checked(window, spool, lambda: self._collect(window, spool))

    def evidence_prefix(self) -> str | None:
        """The store prefix (ending in ``/``) under which every file of this stream lies,
        for the runner's orphan sweep; None when the stream is not swept (its keys are a
        function of what is collected, so a leftover is always adopted)."""
        return None

    def pending(self, key: str, last_end: datetime | None) -> bool:
        """Whether ``key``, under :meth:`evidence_prefix` and named by no entry, may still be
        named by an entry of a window not archived yet (the runner adopts it then), so the
        sweep must leave it. Otherwise the file is an orphan and is accounted for."""
        return last_end is None

    def _attach(self, archive: ArchiveReader) -> None:  # noqa: B027 - optional hook
        """Keep ``archive`` if the collector compares with the past."""

    @abstractmethod
    def _due_windows(self, last_end: datetime | None, now: datetime) -> list[Window]:
        """The hook behind :meth:`due_windows`."""

    @abstractmethod
    def _collect(self, window: Window, spool: Path) -> Collection:
        """The hook behind :meth:`collect`: write ``window`` into files under ``spool``."""

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Whatever the body raises leaves as a CollectorError (BaseException passes)."""
        try:
            yield
        except Exception as e:
            error = as_collector_error(self.stream, e)
            if error is e:
                raise
            # The traceback is the one thing a bug report needs that the message lacks.
            log.debug("%s", error.message, exc_info=e)
            raise error from e

    def _checked(
        self, window: Window, spool: Path, produce: Callable[[], Collection]
    ) -> Collection:
        """``produce()`` under :meth:`_errors`, its result checked by :func:`check_collection`."""
        with self._errors():
            collection = produce()
        check_collection(self.stream, window, spool, collection)
        return collection
