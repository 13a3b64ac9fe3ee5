"""The report's charts: their data, computed from an EvidenceSet, and their SVG.

Two halves, both pure. The data functions read the signed files of a period
through :class:`EvidenceSet` and return frozen values that also name the log
entries they came from, so a bar in the report leads back to signed bytes.
The SVG functions turn those values into inline ``<svg>`` strings: no script,
no external font or stylesheet, a ``<title>`` and ``<desc>`` for screen
readers, and a ``<title>`` on every bar and point. Nothing reads the clock,
and coordinates are printed with a fixed precision, so the same evidence
always gives the same bytes.

A chart whose evidence is missing says so (``note``) instead of drawing zeros:
"no LOGIN_HISTORY entries" and "no failed logins" are different statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any

import polars as pl
import pyarrow as pa

from das_evidence.errors import ReportError
from das_evidence.reports.checks._support import history_files, time_spans
from das_evidence.reports.checks.phi import Missing, phi_reads
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet, collect
from das_evidence.timefmt import rfc3339

CHANGE_KINDS = ("added", "removed", "changed")
DBT_STATUSES = ("passed", "failed", "warned", "errored", "not_evidenced")

# Okabe-Ito and Tol colours, safe for the common colour-vision deficiencies. Each
# chart has colours of its own (the browser test finds each chart by them), and
# the page's CSS uses none of them.
COLORS: Mapping[str, str] = {
    "login_succeeded": "#009e73",
    "login_failed": "#d55e00",
    "phi_reads": "#0072b2",
    "change_added": "#56b4e9",
    "change_removed": "#cc79a7",
    "change_changed": "#e69f00",
    "dbt_passed": "#117733",
    "dbt_failed": "#882255",
    "dbt_warned": "#ddcc77",
    "dbt_errored": "#aa4499",
    "dbt_not_evidenced": "#888888",
}


# -- chart data ---------------------------------------------------------------


@dataclass(frozen=True)
class DayLogins:
    day: date
    succeeded: int
    failed: int

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "succeeded": self.succeeded, "failed": self.failed}


@dataclass(frozen=True)
class LoginsChart:
    """Logins per UTC day of the period, from LOGIN_HISTORY (``IS_SUCCESS``)."""

    days: tuple[DayLogins, ...]
    entries: tuple[int, ...]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "days": [d.to_json() for d in self.days],
            "entries": list(self.entries),
            "note": self.note,
        }


@dataclass(frozen=True)
class RolePhiReads:
    role: str
    queries: int  # distinct queries that read at least one tagged column
    column_reads: int  # distinct (query, table, column) reads of tagged columns

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "queries": self.queries, "column_reads": self.column_reads}


@dataclass(frozen=True)
class PhiReadsChart:
    """PHI reads per role (:func:`phi_reads_per_role`): ACCESS_HISTORY joined to QUERY_HISTORY."""

    roles: tuple[RolePhiReads, ...]
    tags: tuple[str, ...]
    tagged_columns: int  # columns with a column-level tag
    snapshot_entry: int | None  # the policy snapshot whose TAG_REFERENCES was used
    entries: tuple[int, ...]
    note: str | None = None
    tagged_objects: int = 0  # tables and views tagged whole (every column is PHI)

    def to_json(self) -> dict[str, Any]:
        return {
            "roles": [r.to_json() for r in self.roles],
            "tags": list(self.tags),
            "tagged_columns": self.tagged_columns,
            "tagged_objects": self.tagged_objects,
            "snapshot_entry": self.snapshot_entry,
            "entries": list(self.entries),
            "note": self.note,
        }


@dataclass(frozen=True)
class PolicyChangeDay:
    day: date
    added: int
    removed: int
    changed: int
    by_view: Mapping[str, int]
    baseline: bool  # only baseline snapshots that day: nothing was compared

    def count(self, kind: str) -> int:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}[kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "by_view": dict(sorted(self.by_view.items())),
            "baseline": self.baseline,
        }


@dataclass(frozen=True)
class PolicyChangesChart:
    """Policy-state changes per UTC day of the snapshots (``changes.parquet``)."""

    days: tuple[PolicyChangeDay, ...]
    entries: tuple[int, ...]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "days": [d.to_json() for d in self.days],
            "entries": list(self.entries),
            "note": self.note,
        }


@dataclass(frozen=True)
class DbtInvocationTests:
    entry: int
    project: str
    invocation_id: str
    generated_at: datetime
    command: str | None
    counts: Mapping[str, int]  # DBT_STATUSES -> tests

    @property
    def label(self) -> str:
        return f"{self.generated_at:%m-%d %H:%M} {self.project}"

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "project": self.project,
            "invocation_id": self.invocation_id,
            "generated_at": rfc3339(self.generated_at),
            "command": self.command,
            "counts": {s: self.counts.get(s, 0) for s in DBT_STATUSES},
        }


@dataclass(frozen=True)
class DbtTestsChart:
    """dbt test results per invocation, from each entry's ``dbt.tests`` counts."""

    invocations: tuple[DbtInvocationTests, ...]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"invocations": [i.to_json() for i in self.invocations], "note": self.note}


@dataclass(frozen=True)
class ChartsData:
    logins: LoginsChart
    phi_reads: PhiReadsChart
    policy_changes: PolicyChangesChart
    dbt_tests: DbtTestsChart

    def to_json(self) -> dict[str, Any]:
        return {
            "logins": self.logins.to_json(),
            "phi_reads": self.phi_reads.to_json(),
            "policy_changes": self.policy_changes.to_json(),
            "dbt_tests": self.dbt_tests.to_json(),
        }


def chart_data(evidence: EvidenceSet, *, phi_tags: Sequence[str] = ("PHI",)) -> ChartsData:
    return ChartsData(
        logins=logins_per_day(evidence),
        phi_reads=phi_reads_per_role(evidence, tags=phi_tags),
        policy_changes=policy_changes_per_day(evidence),
        dbt_tests=dbt_tests_per_invocation(evidence),
    )


def _days(start: datetime, end: datetime) -> list[date]:
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _require(entry: EvidenceEntry, have: Sequence[str], names: Sequence[str]) -> None:
    missing = [n for n in names if n not in have]
    if missing:
        raise ReportError(
            f"entry {entry.index} ({entry.stream}) has no column {', '.join(missing)}",
            fix="check the entry's schema fingerprint against docs/FORMAT.md",
        )


def _columns(entry: EvidenceEntry, table: pa.Table, names: Sequence[str]) -> list[list[Any]]:
    _require(entry, table.column_names, names)
    return [table.column(n).to_pylist() for n in names]


def _indexes(evidence: EvidenceSet, *views: str) -> tuple[int, ...]:
    """The entries a chart read, empty windows included: they evidence "none"."""
    return tuple(sorted(e.index for v in views for e in evidence.history(v)))


def logins_per_day(evidence: EvidenceSet) -> LoginsChart:
    """Successful and failed logins per UTC day; an event counts once (``EVENT_ID``, its
    first row in log order). Counted by polars over the period's rows of three columns."""
    entries = evidence.history("login_history")
    if not entries:
        return LoginsChart((), (), note="no LOGIN_HISTORY entries in the period")
    counts = {d: [0, 0] for d in _days(evidence.start, evidence.end)}
    names = ("EVENT_ID", "EVENT_TIMESTAMP", "IS_SUCCESS")
    files = history_files(evidence, "login_history")
    for f in files:
        _require(f.entry, evidence.column_names(f.path), names)
    for lo, hi, span in time_spans(files, evidence.start, evidence.end):
        frame = evidence.scan([f.path for f in span], names, period=("EVENT_TIMESTAMP", lo, hi))
        at = pl.col("EVENT_TIMESTAMP")
        if getattr(frame.collect_schema()["EVENT_TIMESTAMP"], "time_zone", None) is not None:
            at = at.dt.convert_time_zone("UTC")
        per_day = (
            frame.unique(subset="EVENT_ID", keep="first", maintain_order=True)
            .group_by(at.dt.date().alias("day"))
            .agg(ok=(pl.col("IS_SUCCESS") == "YES").fill_null(False).sum(), rows=pl.len())
        )
        for day, ok, rows in collect(per_day).iter_rows():
            counts[day][0] += ok
            counts[day][1] += rows - ok
    days = tuple(DayLogins(d, s, f) for d, (s, f) in sorted(counts.items()))
    return LoginsChart(days, _indexes(evidence, "login_history"))


def phi_reads_per_role(evidence: EvidenceSet, *, tags: Sequence[str] = ("PHI",)) -> PhiReadsChart:
    """Queries that read PHI, per role, as :mod:`~das_evidence.reports.checks.phi` defines a
    PHI read (the ``phi-reads-outside-allowlist`` check counts the same reads).

    In short: a column tagged ``tags``, or any column of a table or view so tagged, in
    the newest snapshot of the period that evidences TAG_REFERENCES; read according
    to ACCESS_HISTORY ``BASE_OBJECTS_ACCESSED``; the role from QUERY_HISTORY
    ``ROLE_NAME`` by ``QUERY_ID``, or "unknown role" when the query is not in the
    period's QUERY_HISTORY evidence.
    """
    tag_list = tuple(tags)
    try:
        found = phi_reads(evidence, tag_list)
    except (pa.ArrowException, OSError) as e:
        raise ReportError(
            f"a PHI-read evidence file could not be read as Parquet: {e}",
            fix="run `evidence verify` on the archive or pack",
        ) from e
    if isinstance(found, Missing):
        return PhiReadsChart((), tag_list, 0, None, (), note=found.reason)
    snap = found.tag_view.entry
    n_columns, n_objects = len(found.tagged.columns), len(found.tagged.objects)
    if not found.access:
        return PhiReadsChart(
            (),
            tag_list,
            n_columns,
            snap.index,
            (snap.index,),
            note="no ACCESS_HISTORY entries",
            tagged_objects=n_objects,
        )
    rows = sorted(
        (RolePhiReads(role, queries, reads) for role, queries, reads in found.per_role()),
        key=lambda r: (-r.queries, r.role),
    )
    note = None
    if not found.tagged:
        note = f"the snapshot (entry {snap.index}) tags no column or table {'/'.join(tags)}"
    used = (snap.index, *_indexes(evidence, "access_history", "query_history"))
    return PhiReadsChart(
        tuple(rows), tag_list, n_columns, snap.index, tuple(sorted(used)), note, n_objects
    )


def policy_changes_per_day(evidence: EvidenceSet) -> PolicyChangesChart:
    """Rows of each snapshot's ``changes.parquet``, summed per UTC day of ``as_of``."""
    snaps = evidence.policy_snapshots()
    if not snaps:
        return PolicyChangesChart((), (), note="no policy-state snapshots in the period")
    per_day: dict[date, dict[str, Any]] = {}
    missing: list[int] = []
    for snap in snaps:
        day = per_day.setdefault(
            snap.start.date(),
            {"kinds": dict.fromkeys(CHANGE_KINDS, 0), "views": {}, "baseline": True},
        )
        changes = snap.predicate.get("changes") or {}
        day["baseline"] = day["baseline"] and bool(changes.get("baseline"))
        f = snap.file("changes.parquet")
        if f is None:
            missing.append(snap.index)
            continue
        path = str(f["path"])
        try:
            _require(snap, evidence.column_names(path), ("VIEW", "CHANGE"))
            table = evidence.table(path, ("VIEW", "CHANGE"))
        except (pa.ArrowException, OSError) as e:
            raise ReportError(
                f"{f['path']} (entry {snap.index}) could not be read as Parquet: {e}",
                fix="run `evidence verify` on the archive or pack",
            ) from e
        for view, kind in zip(*_columns(snap, table, ("VIEW", "CHANGE")), strict=True):
            if kind in day["kinds"]:
                day["kinds"][kind] += 1
            day["views"][str(view)] = day["views"].get(str(view), 0) + 1
    days = tuple(
        PolicyChangeDay(
            d,
            v["kinds"]["added"],
            v["kinds"]["removed"],
            v["kinds"]["changed"],
            dict(sorted(v["views"].items())),
            bool(v["baseline"]),
        )
        for d, v in sorted(per_day.items())
    )
    note = None
    if missing:
        note = "no changes.parquet in entries " + ", ".join(str(i) for i in missing)
    return PolicyChangesChart(days, tuple(s.index for s in snaps), note)


def dbt_tests_per_invocation(evidence: EvidenceSet) -> DbtTestsChart:
    """Test counts by evidence status per dbt invocation, oldest first."""
    out = []
    for entry in evidence.dbt_invocations():
        dbt = entry.predicate.get("dbt") or {}
        tests = dbt.get("tests") or {}
        sid = entry.stream_id
        out.append(
            DbtInvocationTests(
                entry=entry.index,
                project=str(dbt.get("project") or (sid.project if sid else "")),
                invocation_id=str(dbt.get("invocation_id") or (sid.invocation_id if sid else "")),
                generated_at=entry.start,
                command=dbt.get("command"),
                counts={s: int(tests.get(s, 0)) for s in DBT_STATUSES},
            )
        )
    out.sort(key=lambda i: (i.generated_at, i.entry))
    note = None if out else "no dbt invocations in the period"
    return DbtTestsChart(tuple(out), note)


# -- SVG ------------------------------------------------------------------------

WIDTH, HEIGHT = 640, 300
EMPTY_HEIGHT = 64
LEFT, RIGHT, TOP = 56, 16, 44
BOTTOM, BOTTOM_ROTATED = 36, 100  # room for x labels, level or at -35 degrees
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
MAX_LABELS = 16
LABEL_CHARS = 24


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: tuple[int, ...]


def _f(x: float) -> str:
    return f"{x:.1f}"


def _nice(vmax: int) -> tuple[int, int]:
    """An axis maximum and tick step: at most five steps of 1, 2 or 5 times 10^k."""
    if vmax <= 0:
        return 1, 1
    raw = -(-vmax // 5)
    mag = 10 ** (len(str(raw)) - 1)
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return -(-vmax // step) * step, step


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "\u2026"


def _open(chart_id: str, title: str, description: str, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" font-family="{FONT}" font-size="12">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]


def _empty(chart_id: str, title: str, description: str, message: str) -> str:
    """A chart with nothing to draw: its message in a low box, not an empty plot."""
    height = EMPTY_HEIGHT
    parts = _open(chart_id, title, description, height)
    parts.append(
        f'<text x="{WIDTH // 2}" y="{height // 2 + 5}" text-anchor="middle" fill="#444444" '
        f'font-size="14">{escape(message)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _frame(
    parts: list[str], categories: Sequence[str], series: Sequence[Series], ymax: int, step: int
) -> tuple[float, float]:
    """Legend, grid, y ticks and x labels; returns (band width, plot height)."""
    plot_w = WIDTH - LEFT - RIGHT
    band = plot_w / len(categories)
    rotate = len(categories) > 6 or any(len(_short(c)) * 7 > band for c in categories)
    plot_h = HEIGHT - TOP - (BOTTOM_ROTATED if rotate else BOTTOM)
    x = LEFT
    for s in series:
        parts.append(
            f'<rect x="{x}" y="14" width="12" height="12" fill="{s.color}"/>'
            f'<text x="{x + 16}" y="24" fill="#222222">{escape(s.name)}</text>'
        )
        x += 32 + 7 * len(s.name)
    for tick in range(0, ymax + 1, step):
        y = TOP + plot_h - tick * plot_h / ymax
        parts.append(
            f'<line x1="{LEFT}" y1="{_f(y)}" x2="{WIDTH - RIGHT}" y2="{_f(y)}" '
            f'stroke="#e3e3e3" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{_f(y + 4)}" text-anchor="end" fill="#333333">{tick}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        f'stroke="#555555" stroke-width="1"/>'
    )
    every = -(-len(categories) // MAX_LABELS)
    for i, label in enumerate(categories):
        if i % every:
            continue
        cx = LEFT + band * (i + 0.5)
        y = TOP + plot_h + 16
        if rotate:
            parts.append(
                f'<text x="{_f(cx)}" y="{y}" text-anchor="end" fill="#333333" '
                f'transform="rotate(-35 {_f(cx)} {y})">{escape(_short(label))}</text>'
            )
        else:
            parts.append(
                f'<text x="{_f(cx)}" y="{y}" text-anchor="middle" fill="#333333">'
                f"{escape(_short(label))}</text>"
            )
    return band, plot_h


def _check(categories: Sequence[str], series: Sequence[Series]) -> None:
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(categories)}")


def svg_stacked_bar(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    empty: str = "No data",
) -> str:
    """Bars of ``series`` stacked per category, first series at the bottom."""
    _check(categories, series)
    if not categories or not series:
        return _empty(chart_id, title, description, empty)
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    ymax, step = _nice(max(totals))
    parts = _open(chart_id, title, description)
    band, plot_h = _frame(parts, categories, series, ymax, step)
    width = max(band * 0.7, 1.0)
    for i, category in enumerate(categories):
        x = LEFT + band * i + (band - width) / 2
        base = 0
        for s in series:
            v = s.values[i]
            if v <= 0:
                continue
            y0 = TOP + plot_h - base * plot_h / ymax
            y1 = TOP + plot_h - (base + v) * plot_h / ymax
            parts.append(
                f'<rect x="{_f(x)}" y="{_f(y1)}" width="{_f(width)}" height="{_f(y0 - y1)}" '
                f'fill="{s.color}" shape-rendering="crispEdges">'
                f"<title>{escape(category)}: {escape(s.name)} {v}</title></rect>"
            )
            base += v
    parts.append("</svg>")
    return "\n".join(parts)


def svg_bar(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    values: Sequence[int],
    name: str,
    color: str,
    empty: str = "No data",
) -> str:
    """One bar per category."""
    return svg_stacked_bar(
        chart_id=chart_id,
        title=title,
        description=description,
        categories=categories,
        series=[Series(name, color, tuple(values))],
        empty=empty,
    )


def svg_line(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    empty: str = "No data",
) -> str:
    """One line per series, a marker (with its value as ``<title>``) at each category."""
    _check(categories, series)
    if not categories or not series:
        return _empty(chart_id, title, description, empty)
    ymax, step = _nice(max(max(s.values) for s in series))
    parts = _open(chart_id, title, description)
    band, plot_h = _frame(parts, categories, series, ymax, step)
    for s in series:
        points = [
            (LEFT + band * (i + 0.5), TOP + plot_h - v * plot_h / ymax)
            for i, v in enumerate(s.values)
        ]
        parts.append(
            f'<polyline fill="none" stroke="{s.color}" stroke-width="3" stroke-linejoin="round" '
            f'points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in points)}"/>'
        )
        for (x, y), category, v in zip(points, categories, s.values, strict=True):
            parts.append(
                f'<circle cx="{_f(x)}" cy="{_f(y)}" r="4.5" fill="{s.color}">'
                f"<title>{escape(category)}: {escape(s.name)} {v}</title></circle>"
            )
    parts.append("</svg>")
    return "\n".join(parts)


# -- the report's four charts -----------------------------------------------------


def logins_svg(chart: LoginsChart) -> str:
    days = [d.day.isoformat() for d in chart.days]
    ok = sum(d.succeeded for d in chart.days)
    failed = sum(d.failed for d in chart.days)
    span = f"from {days[0]} to {days[-1]}" if days else "in the period"
    return svg_stacked_bar(
        chart_id="chart-logins",
        title="Logins and failed logins per UTC day",
        description=f"Logins per UTC day {span}: {ok} succeeded, {failed} failed.",
        categories=days,
        series=[
            Series("succeeded", COLORS["login_succeeded"], tuple(d.succeeded for d in chart.days)),
            Series("failed", COLORS["login_failed"], tuple(d.failed for d in chart.days)),
        ],
        empty=chart.note or "No logins",
    )


def phi_reads_svg(chart: PhiReadsChart) -> str:
    tags = "/".join(chart.tags)
    total = sum(r.queries for r in chart.roles)
    empty = chart.note or f"No reads of {tags}-tagged columns in the period"
    return svg_bar(
        chart_id="chart-phi-reads",
        title=f"Queries reading {tags}-tagged columns, per role",
        description=(
            f"{total} queries read {tags}-tagged columns, by {len(chart.roles)} roles: "
            + ", ".join(f"{r.role} {r.queries}" for r in chart.roles)
            + "."
        ),
        categories=[r.role for r in chart.roles],
        values=[r.queries for r in chart.roles],
        name="queries",
        color=COLORS["phi_reads"],
        empty=empty,
    )


def policy_changes_svg(chart: PolicyChangesChart) -> str:
    # A baseline snapshot compares nothing, so its zeros are not drawn as "no change".
    days = [d for d in chart.days if not d.baseline]
    totals = {k: sum(d.count(k) for d in days) for k in CHANGE_KINDS}
    return svg_line(
        chart_id="chart-policy-changes",
        title="Policy changes per UTC day",
        description=(
            f"Policy-state changes on {len(days)} days with a compared snapshot: "
            + ", ".join(f"{totals[k]} {k}" for k in CHANGE_KINDS)
            + "."
        ),
        categories=[d.day.isoformat() for d in days],
        series=[
            Series(k, COLORS[f"change_{k}"], tuple(d.count(k) for d in days)) for k in CHANGE_KINDS
        ],
        empty=chart.note or "No compared policy snapshots (baseline only)",
    )


def dbt_tests_svg(chart: DbtTestsChart) -> str:
    totals = {s: sum(i.counts.get(s, 0) for i in chart.invocations) for s in DBT_STATUSES}
    return svg_stacked_bar(
        chart_id="chart-dbt-tests",
        title="dbt test results per invocation",
        description=(
            f"{len(chart.invocations)} dbt invocations: "
            + ", ".join(f"{totals[s]} {s.replace('_', ' ')}" for s in DBT_STATUSES)
            + "."
        ),
        categories=[i.label for i in chart.invocations],
        series=[
            Series(
                s.replace("_", " "),
                COLORS[f"dbt_{s}"],
                tuple(i.counts.get(s, 0) for i in chart.invocations),
            )
            for s in DBT_STATUSES
        ],
        empty=chart.note or "No dbt tests",
    )
