"""Whether each stream's windows tile time: the one continuity rule.

The archive verifier (``V8``), the pack verifier (``P5``) and pack building
(the gaps a period has) all ask this module. A stream's windows, taken in log
order, must each start where the previous one ended. Point-in-time entries
(``start == end``: policy snapshots, dbt invocations) and amendments are not
windows of the tiling. Pure: predicates in, breaks out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from das_evidence.timefmt import parse_signed, rfc3339


@dataclass(frozen=True)
class TimedWindow:
    """One entry's window, read from its (untrusted) predicate."""

    index: int
    stream: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Break:
    """Where a stream's windows do not meet: a gap, or an overlap."""

    stream: str
    kind: Literal["gap", "overlap"]
    #: The end of the previous window (or the period's start).
    after: datetime
    #: The start of the next window (or the period's end).
    before: datetime
    #: The entry whose window starts after the break; None for a gap at a period's end.
    index: int | None
    previous: int | None

    def __str__(self) -> str:
        return f"{self.stream}: {self.kind} [{rfc3339(self.after)}, {rfc3339(self.before)})"


def tiling_window(index: int, predicate: Mapping[str, Any]) -> TimedWindow | None:
    """The window an entry adds to its stream's tiling, or None (snapshot, amendment, bad)."""
    stream, window = predicate.get("stream"), predicate.get("window")
    if not isinstance(stream, str) or not isinstance(window, Mapping) or "amends" in predicate:
        return None
    start, end = parse_signed(window.get("start")), parse_signed(window.get("end"))
    if start is None or end is None or start >= end:
        return None
    return TimedWindow(index, stream, start, end)


def find_breaks(
    windows: Iterable[TimedWindow],
    *,
    period: tuple[datetime, datetime] | None = None,
    streams: Iterable[str] = (),
) -> list[Break]:
    """Every gap and overlap, stream by stream in log order.

    With ``period``, the tiling must also cover ``[start, end)``: a gap before
    the first window and after the last counts, and each of ``streams`` with no
    window at all is one gap over the whole period.
    """
    by_stream: dict[str, list[TimedWindow]] = {s: [] for s in streams}
    for w in sorted(windows, key=lambda w: w.index):
        by_stream.setdefault(w.stream, []).append(w)
    out: list[Break] = []
    for stream in sorted(by_stream):
        cursor = period[0] if period else None
        previous: int | None = None
        for w in by_stream[stream]:
            if cursor is not None and w.start > cursor:
                out.append(Break(stream, "gap", cursor, w.start, w.index, previous))
            elif cursor is not None and w.start < cursor and previous is not None:
                out.append(Break(stream, "overlap", cursor, w.start, w.index, previous))
            cursor = w.end if cursor is None or previous is not None else max(cursor, w.end)
            previous = w.index
        if period and (cursor is None or cursor < period[1]):
            out.append(Break(stream, "gap", cursor or period[0], period[1], None, previous))
    return out
