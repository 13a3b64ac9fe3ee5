"""The collector contract: every source of evidence is a :class:`Collector`.

A collector names its stream, says which windows are due given what the
archive already holds, and turns one window into files in a local spool
directory plus the predicate fields that describe how they were made. It never
writes to the store and never signs: the runner does that, in the one order
that makes a crash at any point recoverable (evidence files, entry, checkpoint).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from das_evidence.timefmt import rfc3339

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


class Collector(ABC):
    """One evidence stream from one source."""

    #: e.g. ``snowflake/ACME_PROD/access_history``
    stream: str
    #: e.g. ``snowflake.account_usage.access_history``
    name: str

    @abstractmethod
    def due_windows(self, last_end: datetime | None, now: datetime) -> list[Window]:
        """Windows to collect now, given the end of the last archived window (or None)."""

    @abstractmethod
    def collect(self, window: Window, spool: Path) -> Collection:
        """Collect ``window`` into files under ``spool``. Raises a CollectorError on failure."""

    def attach(self, archive: ArchiveReader) -> None:  # noqa: B027 - optional hook
        """Called before ``due_windows``; collectors that compare with the past keep it."""
