"""What ``evidence status`` reports of each stream, kept entry by entry.

A stream's status (:mod:`das_evidence.schedules.status`) is a fold over its entries: how
many, the newest index and collection time, and the end of its newest window. The log
keeps that fold as entries are added (:class:`~das_evidence.manifests.log.ArchiveLog`) and
the run's verified log keeps it in its signed summary, so the freshness a nightly run
alerts on costs the same after ten years as after one night, instead of a parse of every
entry. dbt invocations, one stream each, are folded into their project's family
(:func:`~das_evidence.streams.status_key`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from das_evidence.errors import FormatError
from das_evidence.streams import is_accounting, status_key
from das_evidence.timefmt import parse_signed, rfc3339


class EntryLike(Protocol):
    """What a tally reads of a log entry (a :class:`~das_evidence.manifests.log.LogEntry`)."""

    @property
    def index(self) -> int: ...

    @property
    def predicate(self) -> Mapping[str, Any]: ...


@dataclass
class Tally:
    """One stream's (or dbt project's) entries so far: their number, the newest index and
    collection time, and the end of the newest window (amendments and accounting entries
    count as entries but do not move it, as :meth:`ArchiveLog.stream_end`); a window whose
    start is its end is a point-in-time snapshot."""

    entries: int = 0
    last_index: int | None = None
    end: datetime | None = None
    collected_at: datetime | None = None
    point_in_time: bool = False

    def add(self, index: int, predicate: Mapping[str, Any]) -> None:
        self.entries += 1
        self.last_index = index if self.last_index is None else max(self.last_index, index)
        collected = parse_signed(predicate.get("collected_at"))
        if collected is not None and (self.collected_at is None or collected > self.collected_at):
            self.collected_at = collected
        if "amends" in predicate or is_accounting(predicate):
            return
        window = predicate.get("window")
        if not isinstance(window, Mapping):
            return
        start, end = parse_signed(window.get("start")), parse_signed(window.get("end"))
        if end is None:
            return
        if self.end is None or end >= self.end:
            self.end = end
            self.point_in_time = start == end

    def copy(self) -> Tally:
        return Tally(self.entries, self.last_index, self.end, self.collected_at, self.point_in_time)

    def to_json(self) -> list[Any]:
        """``[entries, last_index, end, collected_at, point_in_time]``, times RFC 3339."""
        return [
            self.entries,
            self.last_index,
            None if self.end is None else rfc3339(self.end),
            None if self.collected_at is None else rfc3339(self.collected_at),
            self.point_in_time,
        ]

    @classmethod
    def from_json(cls, value: object, size: int) -> Tally:
        """From :meth:`to_json`, for a log of ``size`` entries; :class:`FormatError` when
        it is not one."""
        if not isinstance(value, list) or len(value) != 5:
            raise FormatError("a status tally is not a list of five")
        entries, last, end, collected, point = value
        if not (type(entries) is int and 0 < entries <= size):
            raise FormatError("a status tally counts no entries, or more than the log has")
        if not (type(last) is int and 0 <= last < size) or type(point) is not bool:
            raise FormatError("a status tally's newest index or kind is not one of the log's")
        at, when = parse_signed(end), parse_signed(collected)
        if (at is None and end is not None) or (when is None and collected is not None):
            raise FormatError("a status tally's time is not RFC 3339 UTC")
        return cls(entries, last, at, when, point)


def tally(entries: Iterable[EntryLike]) -> dict[str, Tally]:
    """The status tally of every stream (dbt projects folded, :func:`status_key`) of
    ``entries``, in index order."""
    out: dict[str, Tally] = {}
    for entry in entries:
        add_entry(out, entry.index, entry.predicate)
    return out


def add_entry(tallies: dict[str, Tally], index: int, predicate: Mapping[str, Any]) -> None:
    """Count entry ``index`` in the tally of its stream (none without a stream)."""
    stream = predicate.get("stream")
    if isinstance(stream, str):
        tallies.setdefault(status_key(stream), Tally()).add(index, predicate)
