"""Freshness of the archive: how far behind each stream is, and whether that is too far.

:func:`stream_status` is pure: it takes the log's entries, one reference time
and the objectives, and returns a :class:`StatusReport`; it reads nothing.
A stream's *lag* is ``now`` minus the end of its newest window (for a
point-in-time stream, whose window is ``[as_of, as_of]``, that is the newest
``as_of``); it is *stale* when the lag exceeds its objective, or when a stream
that should exist has no entry at all.

dbt invocations are one stream each (``dbt/<project>/<invocation_id>``), so
their status is kept per project (``dbt/<project>``): the newest invocation
is what counts.

The runner keeps one small JSON file outside the archive (which stays
immutable) describing its last run, written with :func:`write_last_run` and
read back with :func:`load_last_run`; status shows it when present.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from das_evidence.manifests.tally import EntryLike, Tally, tally
from das_evidence.schedules.state import write_atomic
from das_evidence.streams import (
    POLICY_LATENCY,
    POLICY_STREAM,
    STREAMS,
    StreamId,
    status_key,
    stream_matches,
)
from das_evidence.timefmt import parse_signed, rfc3339

if TYPE_CHECKING:
    from das_evidence.config import Settings

log = logging.getLogger(__name__)

DEFAULT_OBJECTIVE = timedelta(hours=26)

Scalar = str | int | float | bool | None


def _lookup(stream: str, objectives: Mapping[str, timedelta]) -> timedelta | None:
    if stream in objectives:
        return objectives[stream]
    for pattern, value in objectives.items():
        if stream_matches(stream, pattern):
            return value
    return None


def objective_for(
    stream: str, objectives: Mapping[str, timedelta], default: timedelta
) -> timedelta:
    """An exact name in ``objectives`` first, then the first glob that matches, else default."""
    found = _lookup(stream, objectives)
    return default if found is None else found


@dataclass(frozen=True)
class StreamStatus:
    stream: str
    entries: int
    last_index: int | None
    last_window_end: datetime | None
    last_collected_at: datetime | None
    lag: timedelta | None
    objective: timedelta
    stale: bool
    point_in_time: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "entries": self.entries,
            "last_index": self.last_index,
            "last_window_end": _time(self.last_window_end),
            "last_collected_at": _time(self.last_collected_at),
            "lag_seconds": None if self.lag is None else int(self.lag.total_seconds()),
            "objective_seconds": int(self.objective.total_seconds()),
            "stale": self.stale,
            "point_in_time": self.point_in_time,
        }


@dataclass(frozen=True)
class StatusReport:
    now: datetime
    streams: tuple[StreamStatus, ...]
    last_run: Mapping[str, Scalar] | None = field(default=None)

    @property
    def stale(self) -> tuple[str, ...]:
        return tuple(s.stream for s in self.streams if s.stale)

    @property
    def ok(self) -> bool:
        return not self.stale

    @property
    def exit_code(self) -> int:
        """1 when any stream is stale (evidence failed a check), else 0."""
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "now": rfc3339(self.now),
            "ok": self.ok,
            "stale": list(self.stale),
            "streams": [s.to_json() for s in self.streams],
            "last_run": dict(self.last_run) if self.last_run is not None else None,
        }


def _time(t: datetime | None) -> str | None:
    return None if t is None else rfc3339(t)


def stream_status(
    entries: Sequence[EntryLike],
    *,
    now: datetime,
    objective: timedelta = DEFAULT_OBJECTIVE,
    objectives: Mapping[str, timedelta] | None = None,
    expected: Iterable[str] = (),
    last_verification: Mapping[str, Any] | None = None,
) -> StatusReport:
    """The status of every stream in ``entries`` and of every ``expected`` stream
    (:func:`status_of` their :func:`~das_evidence.manifests.tally.tally`)."""
    return status_of(
        tally(entries),
        now=now,
        objective=objective,
        objectives=objectives,
        expected=expected,
        last_verification=last_verification,
    )


def status_of(
    tallies: Mapping[str, Tally],
    *,
    now: datetime,
    objective: timedelta = DEFAULT_OBJECTIVE,
    objectives: Mapping[str, timedelta] | None = None,
    expected: Iterable[str] = (),
    last_verification: Mapping[str, Any] | None = None,
) -> StatusReport:
    """The status of every stream ``tallies`` counts (``ArchiveLog.tallies()``, kept
    as entries are added) and of every ``expected`` stream.

    ``objectives`` maps stream names or globs (see :func:`objective_for`) to
    the largest lag allowed; others get ``objective``. An ``expected`` stream
    with no entry is stale. Amendment entries count as entries but do not move
    a stream's end (as :meth:`ArchiveLog.stream_end`). ``last_verification`` is
    the runner's last-run record (:func:`load_last_run`); only its scalar
    fields are kept.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    objectives = objectives or {}
    acc: dict[str, Tally] = {status_key(s): Tally() for s in expected}
    acc.update(tallies)
    out: list[StreamStatus] = []
    for name in sorted(acc):
        a = acc[name]
        limit = objective_for(name, objectives, objective)
        lag = None if a.end is None else now - a.end
        out.append(
            StreamStatus(
                stream=name,
                entries=a.entries,
                last_index=a.last_index,
                last_window_end=a.end,
                last_collected_at=a.collected_at,
                lag=lag,
                objective=limit,
                stale=lag is None or lag > limit,
                point_in_time=a.point_in_time,
            )
        )
    last_run = None
    if last_verification is not None:
        last_run = {k: v for k, v in last_verification.items() if _is_scalar(v)}
    return StatusReport(now, tuple(out), last_run)


def _is_scalar(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int | bool)


def expected_streams(settings: Settings) -> list[str]:
    """The streams ``settings`` collects, named as status reports them."""
    out: list[str] = []
    account = settings.snowflake.account
    if account:
        for view in STREAMS:
            if settings.stream(view).enabled:
                out.append(str(StreamId.snowflake(account, view)))
    out.extend(str(StreamId.dbt(d.project)) for d in settings.dbt)
    return out


def default_objectives(
    settings: Settings,
    *,
    objective: timedelta = DEFAULT_OBJECTIVE,
    configured: Mapping[str, timedelta] | None = None,
) -> dict[str, timedelta]:
    """Per expected stream: a configured objective as given, else ``objective`` plus the
    lag the stream always has (its latency safety margin; for policy_state the views'
    latency plus any interval beyond a day), so that a stream collected on schedule is
    never reported stale just before its next run."""
    configured = configured or {}
    out: dict[str, timedelta] = {}
    for stream in expected_streams(settings):
        explicit = _lookup(stream, configured)
        if explicit is not None:
            out[stream] = explicit
            continue
        sid = StreamId.parse(stream)
        allowance = timedelta(0)
        if sid.is_history:
            allowance = settings.safety(sid.name)
        elif sid.is_policy:
            interval = settings.stream(POLICY_STREAM).interval
            allowance = POLICY_LATENCY + max(interval - timedelta(days=1), timedelta(0))
        out[stream] = objective + allowance
    # Streams in the archive that are no longer configured still get the globs.
    out.update({k: v for k, v in configured.items() if k not in out})
    return out


# --- the runner's last-run record -----------------------------------------------------


@dataclass(frozen=True)
class LastRun:
    """What ``evidence run`` records about itself, outside the archive."""

    schedule: str | None
    started_at: datetime
    finished_at: datetime
    exit_code: int
    entries_written: int = 0
    failed_streams: int = 0
    verify_ok: bool | None = None
    #: The newest checkpoint the runner has seen verified (signed note bytes): the next
    #: run refuses a store whose checkpoint does not extend it (a rollback or a fork).
    checkpoint: bytes | None = None
    #: What the run verified: ``size``, ``root_hash``, how (``mode``) and each stream's
    #: head (``end`` of its last window, ``index`` of that entry).
    verified: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schedule": self.schedule,
            "started_at": rfc3339(self.started_at),
            "finished_at": rfc3339(self.finished_at),
            "exit_code": self.exit_code,
            "entries_written": self.entries_written,
            "failed_streams": self.failed_streams,
            "verify_ok": self.verify_ok,
        }
        if self.checkpoint is not None:
            # An object, not scalars: status shows only the scalars of this record.
            doc["checkpoint"] = {"note": base64.b64encode(self.checkpoint).decode()}
        if self.verified is not None:
            doc["verified"] = dict(self.verified)
        return doc


def last_seen_checkpoint(record: Mapping[str, Any] | None) -> bytes | None:
    """The signed checkpoint a last-run record holds (unverified bytes), or None."""
    cp = (record or {}).get("checkpoint")
    note = cp.get("note") if isinstance(cp, Mapping) else None
    if not isinstance(note, str):
        return None
    try:
        return base64.b64decode(note, validate=True)
    except ValueError:
        log.warning("ignoring the checkpoint of the last-run record: not base64")
        return None


def write_last_run(path: Path, run: LastRun) -> None:
    """Replace ``path`` atomically (a reader never sees half a file).

    Raises :class:`ConfigError` when ``path`` cannot be written.
    """
    write_atomic(path, _json_lines(run.to_json()).encode())


def _json_lines(record: Mapping[str, Any]) -> str:
    """``record`` as JSON, one top-level field a line: readable, and each value written
    by the C encoder (``indent`` falls back to the pure Python one, 20 ms a run for the
    1,500 stream heads of a year of dbt invocations)."""
    fields = [
        f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(record.items())
    ]
    return "{\n" + ",\n".join(fields) + "\n}\n" if fields else "{}\n"


def load_last_run(path: Path | None) -> dict[str, Any] | None:
    """The last-run record at ``path``, or None if there is none or it cannot be read.

    A missing or damaged record never stops status from reporting the archive;
    a damaged one is logged.
    """
    if path is None:
        return None
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("ignoring last-run record %s: %s", path, type(e).__name__)
        return None
    if not isinstance(data, dict):
        log.warning("ignoring last-run record %s: not a JSON object", path)
        return None
    return data


# --- renderers ----------------------------------------------------------------------


def render_json(report: StatusReport) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"


def _duration(d: timedelta | None) -> str:
    if d is None:
        return "never"
    seconds = int(d.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m"


def _printable(text: str) -> str:
    """Control characters escaped, so a stream name cannot break a row or drive a terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def render_table(report: StatusReport) -> str:
    """A plain-text table, one row per stream, then the last run."""
    header = ("STREAM", "LAST WINDOW END", "LAG", "OBJECTIVE", "ENTRIES", "STATE")
    rows = [
        (
            _printable(s.stream),
            _time(s.last_window_end) or "-",
            _duration(s.lag),
            _duration(s.objective),
            str(s.entries),
            "STALE" if s.stale else "ok",
        )
        for s in report.streams
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    if not report.streams:
        lines.append("(no streams)")
    if report.last_run is not None:
        fields = ", ".join(_printable(f"{k}={v}") for k, v in sorted(report.last_run.items()))
        lines.append(f"last run: {fields}")
    verdict = "ok" if report.ok else f"STALE: {_printable(', '.join(report.stale))}"
    lines.append(f"status at {rfc3339(report.now)}: {verdict}")
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def render_prometheus(report: StatusReport) -> str:
    """The Prometheus text exposition format (version 0.0.4), for a textfile collector.

    A stream with no window has an infinite lag and no window-end sample.
    """
    families: list[tuple[str, str, list[tuple[dict[str, str], float]]]] = []

    def family(name: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
        families.append((name, help_, samples))

    per = [({"stream": s.stream}, s) for s in report.streams]
    family(
        "evidence_stream_lag_seconds",
        "Seconds from the end of the stream's newest archived window to now.",
        [(lb, math.inf if s.lag is None else s.lag.total_seconds()) for lb, s in per],
    )
    family(
        "evidence_stream_objective_seconds",
        "The largest lag allowed before the stream counts as stale.",
        [(lb, s.objective.total_seconds()) for lb, s in per],
    )
    family(
        "evidence_stream_stale",
        "1 if the stream's lag exceeds its objective or it has no entry, else 0.",
        [(lb, 1 if s.stale else 0) for lb, s in per],
    )
    family(
        "evidence_stream_entries",
        "Log entries of the stream.",
        [(lb, s.entries) for lb, s in per],
    )
    family(
        "evidence_stream_last_window_end_timestamp_seconds",
        "Unix time of the end of the stream's newest archived window.",
        [(lb, s.last_window_end.timestamp()) for lb, s in per if s.last_window_end is not None],
    )
    family(
        "evidence_streams_stale",
        "Number of stale streams.",
        [({}, len(report.stale))],
    )
    run = report.last_run or {}
    finished = parse_signed(run.get("finished_at"))
    if finished is not None:
        family(
            "evidence_last_run_finished_timestamp_seconds",
            "Unix time the last `evidence run` finished.",
            [({}, finished.timestamp())],
        )
    exit_code = run.get("exit_code")
    if isinstance(exit_code, int) and not isinstance(exit_code, bool):
        family(
            "evidence_last_run_exit_code",
            "Exit code of the last `evidence run`.",
            [({}, exit_code)],
        )
    verify_ok = run.get("verify_ok")
    if isinstance(verify_ok, bool):
        family(
            "evidence_last_run_verify_ok",
            "1 if the last `evidence run` verified the archive without findings.",
            [({}, 1 if verify_ok else 0)],
        )
    lines: list[str] = []
    for name, help_, samples in families:
        lines.append(f"# HELP {name} {_help(help_)}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            lb = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{lb}}} {_number(value)}" if lb else f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"
