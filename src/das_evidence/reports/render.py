"""The auditor report: its data (:class:`ReportData`) and its HTML, Markdown and JSON.

:func:`build_report_data` is the only part that reads evidence; the renderers
take a :class:`ReportData` and return text. The HTML is one self-contained
file: inline CSS (with a print stylesheet), inline SVG charts, no script, and
a Content-Security-Policy that forbids every fetch, so opening it makes no
network request. Every value is escaped by the templates (Jinja2 autoescape
for HTML; a Markdown escape applied to every printed value for Markdown).
Findings and details are tables of human values (:mod:`.cells`), never raw JSON:
long lists are a count that expands, each finding links to its log entries, and
each chart is drawn beside the first check it supports. The scope section's
coverage statement is the evidence-gaps check's result (:func:`coverage_of`).
Links to evidence are relative to the root of an auditor pack
(``entries/<index>.dsse.json``, ``evidence/...``), where the report sits.
Nothing reads the clock: the same data gives the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from das_evidence import __version__
from das_evidence.config import ChecksConfig
from das_evidence.reports import cells, charts
from das_evidence.reports.cells import Cell, entry_href
from das_evidence.reports.charts import ChartsData, chart_data
from das_evidence.reports.checks.cis import BENCHMARK, RECOMMENDATIONS, SECTIONS
from das_evidence.reports.checks.completeness import EvidenceGaps
from das_evidence.reports.cis_coverage import STATE_LABELS, CisCoverage, cis_coverage
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.reports.model import CheckResult, EvidenceRef, Status
from das_evidence.timefmt import format_duration, parse_signed, rfc3339

REPORT_FORMAT = "das-evidence report v1"
TEMPLATES = Path(__file__).with_name("templates")
MAX_FINDING_ROWS = 200  # per check in HTML and Markdown; the JSON has them all
FINDINGS_SHOWN = 25  # rows of a findings table shown open; the rest expand below it
# The chart beside each check it supports: drawn once, with the first of them in the report.
CHART_OF_CHECK = {
    "failed-login-bursts-per-user": "logins",
    "failed-login-bursts-per-ip": "logins",
    "phi-reads-outside-allowlist": "phi_reads",
    "protection-policies-changed": "policy_changes",
    "dbt-tests-failed-or-skipped": "dbt_tests",
}
CHARTS = ("logins", "phi_reads", "policy_changes", "dbt_tests")
CHART_TITLES = {
    "logins": "Logins and failed logins per UTC day",
    "phi_reads": "PHI reads per role",
    "policy_changes": "Policy changes per UTC day",
    "dbt_tests": "dbt test results per invocation",
}
STATUSES = ("pass", "fail", "not_evidenced")
STATUS_LABELS = {"pass": "PASS", "fail": "FAIL", "not_evidenced": "NOT EVIDENCED"}

VERIFY_COMMAND = "evidence verify pack.zip --pub keys/signing.pub --vkey keys/signing.vkey"
VERIFICATION = (
    "This report is one file of an auditor pack, and the pack's signed SHA256SUMS covers it. "
    "Every link under Findings points into the pack: entries/<index>.dsse.json is the signed "
    "statement of one log entry, and the evidence/ paths are the files it names, with the "
    "SHA-256 it signed. Check the whole pack, this report included, with the command below, "
    "using the public key your auditee published out of band rather than the copy in keys/. "
    "VERIFY.md in the pack repeats every step by hand with sha256sum and openssl."
)


class GapLike(Protocol):
    """A window of the period a stream has no evidence for (``reports.pack.Gap``)."""

    @property
    def stream(self) -> str: ...

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


@dataclass(frozen=True)
class ReportGap:
    stream: str
    start: datetime
    end: datetime

    def to_json(self) -> dict[str, str]:
        return {"stream": self.stream, "start": rfc3339(self.start), "end": rfc3339(self.end)}


@dataclass(frozen=True)
class CoverageGap:
    """Time of the period a stream has no evidence for, and who says so.

    ``source`` is ``evidence-gaps`` (the check's finding: ``kind`` gap or missing)
    or ``archive`` (the pack found no window of a windowed stream there: ``kind``
    window).
    """

    stream: str
    start: datetime
    end: datetime
    kind: str
    source: str

    @property
    def hours(self) -> float:
        return round((self.end - self.start).total_seconds() / 3600, 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "hours": self.hours,
            "kind": self.kind,
            "source": self.source,
        }


@dataclass(frozen=True)
class Coverage:
    """What the report says about the period's coverage, in one place.

    The evidence-gaps check's own result (``status`` and ``summary``, ``None`` when
    it was not run) and its gap findings, and the windows the archive is missing
    (``ReportData.gaps``) that no finding of the check already covers: the scope
    section states these, so it never contradicts the check.
    """

    check_id: str
    status: Status | None
    summary: str
    gaps: tuple[CoverageGap, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "check": None
            if self.status is None
            else {"check_id": self.check_id, "status": self.status, "summary": self.summary},
            "gaps": [g.to_json() for g in self.gaps],
        }


def coverage_of(results: Sequence[CheckResult], gaps: Sequence[ReportGap]) -> Coverage:
    """The coverage statement from the evidence-gaps result and the archive's missing windows."""
    check = next((r for r in results if r.check_id == EvidenceGaps.check_id), None)
    found: list[CoverageGap] = []
    for f in check.findings if check is not None else ():
        start, end = parse_signed(f.get("start")), parse_signed(f.get("end"))
        if start is not None and end is not None:
            kind = str(f.get("kind"))
            found.append(CoverageGap(str(f.get("stream")), start, end, kind, EvidenceGaps.check_id))
    for g in gaps:
        if not any(c.stream == g.stream and c.start <= g.start and g.end <= c.end for c in found):
            found.append(CoverageGap(g.stream, g.start, g.end, "window", "archive"))
    return Coverage(
        check_id=EvidenceGaps.check_id,
        status=check.status if check is not None else None,
        summary=check.summary if check is not None else "",
        gaps=tuple(sorted(found, key=lambda c: (c.stream, c.start, c.source))),
    )


@dataclass(frozen=True)
class Scope:
    origin: str  # the archive's log origin
    accounts: tuple[str, ...]  # Snowflake accounts (from configuration, per the streams)
    dbt_projects: tuple[str, ...]
    streams: tuple[str, ...]  # streams with entries in the period (dbt grouped per project)
    streams_missing: tuple[str, ...]  # expected by the caller, but with no entry
    check_settings: ChecksConfig  # the [checks] settings the checks ran with

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "accounts": list(self.accounts),
            "dbt_projects": list(self.dbt_projects),
            "streams": list(self.streams),
            "streams_missing": list(self.streams_missing),
            # ISO 8601 durations: ChecksConfig.model_validate reads this back as it is.
            "check_settings": self.check_settings.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class StreamSummary:
    stream: str  # e.g. snowflake/ACME/login_history, or dbt/<project> for its invocations
    kind: str
    entries: int
    rows: int
    first: datetime  # earliest window start
    last: datetime  # latest window end
    first_entry: int
    last_entry: int

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "kind": self.kind,
            "entries": self.entries,
            "rows": self.rows,
            "first": rfc3339(self.first),
            "last": rfc3339(self.last),
            "first_entry": self.first_entry,
            "last_entry": self.last_entry,
        }


@dataclass(frozen=True)
class ReportData:
    title: str
    generated_at: datetime
    period_start: datetime
    period_end: datetime
    scope: Scope
    results: tuple[CheckResult, ...]
    charts: ChartsData
    streams: tuple[StreamSummary, ...]
    gaps: tuple[ReportGap, ...]  # windows the archive is missing (the pack's selection)
    coverage: Coverage
    verification: str
    verify_command: str
    generator_version: str
    # every CIS recommendation's state (automated pass/fail/not evidenced, manual, not run)
    cis_coverage: CisCoverage

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.results if r.status == s) for s in STATUSES}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "title": self.title,
            "generated_at": rfc3339(self.generated_at),
            "generator": {"name": "das-evidence", "version": self.generator_version},
            "period": {"start": rfc3339(self.period_start), "end": rfc3339(self.period_end)},
            "scope": self.scope.to_json(),
            "summary": self.counts,
            "results": [r.to_json() for r in self.results],
            "streams": [s.to_json() for s in self.streams],
            "gaps": [g.to_json() for g in self.gaps],
            "coverage": self.coverage.to_json(),
            "cis_coverage": self.cis_coverage.to_json(),
            "charts": self.charts.to_json(),
            "verification": {"text": self.verification, "command": self.verify_command},
        }


def _rows(entry: EvidenceEntry) -> int:
    rows = entry.predicate.get("rows")
    if isinstance(rows, int):
        return rows
    return sum(f["rows"] for f in entry.files if isinstance(f.get("rows"), int))


def build_report_data(
    evidence: EvidenceSet,
    results: Sequence[CheckResult],
    *,
    title: str,
    generated_at: datetime,
    origin: str,
    gaps: Iterable[GapLike] = (),
    checks: ChecksConfig,
) -> ReportData:
    """Everything the report shows; the one step that reads evidence files.

    ``checks`` are the settings ``results`` were computed with: the report prints
    them, and its PHI chart counts reads of ``checks.phi_tags`` as the check does.
    """
    groups: dict[str, list[EvidenceEntry]] = {}
    for e in evidence.entries:
        groups.setdefault(e.family, []).append(e)
    streams = tuple(
        StreamSummary(
            stream=name,
            kind=es[0].kind,
            entries=len(es),
            rows=sum(_rows(e) for e in es),
            first=min(e.start for e in es),
            last=max(e.end for e in es),
            first_entry=min(e.index for e in es),
            last_entry=max(e.index for e in es),
        )
        for name, es in sorted(groups.items())
    )
    ids = [sid for e in evidence.entries if (sid := e.stream_id) is not None]
    scope = Scope(
        origin=origin,
        accounts=tuple(sorted({sid.scope for sid in ids if sid.is_snowflake})),
        dbt_projects=tuple(sorted({sid.scope for sid in ids if sid.is_dbt})),
        streams=tuple(s.stream for s in streams),
        streams_missing=tuple(sorted(set(evidence.streams_expected) - set(evidence.streams()))),
        check_settings=checks,
    )
    missing = tuple(
        ReportGap(g.stream, g.start, g.end) for g in sorted(gaps, key=lambda g: (g.stream, g.start))
    )
    return ReportData(
        title=title,
        generated_at=generated_at,
        period_start=evidence.start,
        period_end=evidence.end,
        scope=scope,
        results=tuple(results),
        charts=chart_data(evidence, phi_tags=checks.phi_tags),
        streams=streams,
        gaps=missing,
        coverage=coverage_of(results, missing),
        verification=VERIFICATION,
        verify_command=VERIFY_COMMAND,
        generator_version=__version__,
        cis_coverage=cis_coverage(results),
    )


# -- view model shared by the HTML and Markdown templates -----------------------------


def file_href(path: str) -> str:
    """A relative URL for a pack path: no scheme, no host, never absolute."""
    href = quote(path, safe="/=-._~")
    return "./" + href.lstrip("/") if href.startswith("/") else href


def _anchor(check_id: str, used: set[str]) -> str:
    base = "check-" + (re.sub(r"[^a-z0-9-]+", "-", check_id.lower()).strip("-") or "unnamed")
    anchor, n = base, 1
    while anchor in used:
        n += 1
        anchor = f"{base}-{n}"
    used.add(anchor)
    return anchor


def _findings(r: CheckResult) -> dict[str, Any]:
    """The findings table: the first rows open, the rest (up to the cap) expandable."""
    rows = r.findings[:MAX_FINDING_ROWS]
    t = cells.table(rows, check_refs=r.evidence)
    return {
        "table": t,
        "shown": t.rows[:FINDINGS_SHOWN],
        "more": t.rows[FINDINGS_SHOWN:],
        "hidden": len(r.findings) - len(rows),
    }


def _details(details: Mapping[str, Any], refs: Sequence[EvidenceRef]) -> dict[str, Any]:
    """A check's ``details``: values as setting/value rows, lists of objects as tables."""
    values: list[tuple[str, Cell]] = []
    tables: list[tuple[str, cells.Table]] = []
    for key, value in details.items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            tables.append((cells.header(key), cells.table(value, check_refs=refs)))
        else:
            values.append((cells.header(key), cells.cell(key, value)))
    return {"pairs": values, "tables": tables}


def _evidence(refs: Sequence[EvidenceRef]) -> dict[str, Any]:
    entries = sorted({r.entry for r in refs})
    files = "file" if len(refs) == 1 else "files"
    where = cells.entries_cell({e: [] for e in entries}).text
    return {
        "summary": f"{len(refs)} {files} of {where}" if refs else "",
        "rows": [
            {
                "entry": r.entry,
                "entry_name": f"entry {r.entry}",
                "entry_href": entry_href(r.entry),
                "path": r.path,
                # a line may break after each "/" and "_" of a long path, nowhere else
                "path_parts": re.findall(r"[^/_]*[/_]?", r.path)[:-1] or [r.path],
                "href": file_href(r.path),
                "sha256": r.sha256,
            }
            for r in refs
        ],
    }


def _setting_text(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} = {v}" for k, v in sorted(value.items())) if value else "(none)"
    return str(value)


def check_settings_rows(settings: ChecksConfig) -> list[dict[str, str]]:
    """``[checks]`` as the report prints it: setting, value, and what it means."""
    return [
        {
            "name": name,
            "value": _setting_text(getattr(settings, name)),
            "meaning": info.description or "",
        }
        for name, info in type(settings).model_fields.items()
    ]


def _chart_entries(entries: Sequence[int]) -> Cell:
    return cells.entries_cell({e: [] for e in entries})


PLATFORM_GROUP = "Platform checks"


def _group_key(r: CheckResult) -> tuple[int, tuple[int, ...]]:
    """CIS checks by benchmark section and recommendation, then the platform's own."""
    if r.cis is None or r.cis not in RECOMMENDATIONS:
        return (len(SECTIONS), ())
    rec = RECOMMENDATIONS[r.cis]
    return (list(SECTIONS).index(rec.section), rec.sort_key())


def _groups(checks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checks under their heading: ``<n> <section title>`` (CIS), then the platform's."""
    groups: dict[str, dict[str, Any]] = {}
    for c in checks:
        r: CheckResult = c["r"]
        if r.cis is not None and r.cis in RECOMMENDATIONS:
            section = RECOMMENDATIONS[r.cis].section
            key, title = f"cis-{section}", f"{section} {SECTIONS[section]}"
            sub = f"{BENCHMARK}, section {section}"
        else:
            key, title, sub = "platform", PLATFORM_GROUP, "das-evidence's own controls"
        groups.setdefault(key, {"id": f"group-{key}", "title": title, "sub": sub, "checks": []})
        groups[key]["checks"].append(c)
    return list(groups.values())


def _cis_view(cov: CisCoverage, anchors: Mapping[str, str]) -> dict[str, Any]:
    """The coverage summary table (one row per section and a total) and the manual list."""
    rows = [
        {
            "section": f"{s.section} {s.title}",
            "total": len(s.items),
            "counts": {state: s.count(state) for state in STATE_LABELS},
        }
        for s in cov.sections
    ]
    return {
        "benchmark": cov.benchmark,
        "rows": rows,
        "total": {state: cov.count(state) for state in STATE_LABELS},
        "recommendations": len(cov.items),
        "manual": cov.manual(),
        "not_run": [i for i in cov.items if i.state == "not_run"],
        "states": STATE_LABELS,
        "anchors": anchors,
    }


def _view(report: ReportData) -> dict[str, Any]:
    used: set[str] = set()
    placed: dict[str, dict[str, str]] = {}  # chart -> the check it is drawn with
    checks: list[dict[str, Any]] = []
    for r in sorted(report.results, key=_group_key):
        anchor = _anchor(r.check_id, used)
        chart = CHART_OF_CHECK.get(r.check_id)
        draws = chart is not None and chart not in placed
        if chart is not None and draws:
            placed[chart] = {"anchor": anchor, "title": r.title}
        checks.append(
            {
                "r": r,
                "anchor": anchor,
                "label": STATUS_LABELS.get(r.status, r.status.upper()),
                "findings": _findings(r),
                "details": _details(r.details, r.evidence),
                "evidence": _evidence(r.evidence),
                "chart": chart if draws else None,
                # the check whose article draws this check's chart
                "chart_elsewhere": placed.get(chart) if chart is not None and not draws else None,
            }
        )
    data = report.charts
    cov = report.coverage
    return {
        "report": report,
        "format": REPORT_FORMAT,
        "period": (rfc3339(report.period_start), rfc3339(report.period_end)),
        "generated_at": rfc3339(report.generated_at),
        "counts": report.counts,
        "labels": STATUS_LABELS,
        "checks": checks,
        "groups": _groups(checks),
        "cis": _cis_view(
            report.cis_coverage,
            {c["r"].cis: c["anchor"] for c in checks if c["r"].cis is not None},
        ),
        "check_settings": check_settings_rows(report.scope.check_settings),
        "coverage": {
            "c": cov,
            "label": STATUS_LABELS[cov.status] if cov.status is not None else "",
            "anchor": next((c["anchor"] for c in checks if c["r"].check_id == cov.check_id), ""),
        },
        "charts_placed": [
            {"name": name, "title": CHART_TITLES[name], "anchor": placed[name]["anchor"]}
            for name in CHARTS
            if name in placed
        ],
        "charts_unplaced": [name for name in CHARTS if name not in placed],
        "chart_titles": CHART_TITLES,
        "chart_entries": {
            "logins": _chart_entries(data.logins.entries),
            "phi_reads": _chart_entries(data.phi_reads.entries),
            "policy_changes": _chart_entries(data.policy_changes.entries),
        },
        "svg": {
            "logins": Markup(charts.logins_svg(data.logins)),  # noqa: S704 (built escaped)
            "phi_reads": Markup(charts.phi_reads_svg(data.phi_reads)),  # noqa: S704
            "policy_changes": Markup(charts.policy_changes_svg(data.policy_changes)),  # noqa: S704
            "dbt_tests": Markup(charts.dbt_tests_svg(data.dbt_tests)),  # noqa: S704
        },
        "dbt_statuses": charts.DBT_STATUSES,
        "change_kinds": charts.CHANGE_KINDS,
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-able: {value!r}")


_LONG_TOKEN = re.compile(r"\S{25,}")


def breakable(text: str) -> Markup:
    """``text`` escaped, with line-break chances after ``.``, ``_`` and ``/`` inside long
    names (dbt test ids, object paths), so a column is not as wide as its longest id."""
    out: list[str] = []
    last = 0
    for m in _LONG_TOKEN.finditer(text):
        out.append(str(escape(text[last : m.start()])))
        out.append(re.sub(r"([._/])", r"\1<wbr>", str(escape(m.group(0)))))
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))  # noqa: S704 - every piece escaped above


def _rfc3339_filter(value: datetime) -> str:
    return rfc3339(value)


def _hours_filter(value: float) -> str:
    return f"{value:g} h"


# -- HTML -------------------------------------------------------------------------

_html = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_html.filters["rfc3339"] = _rfc3339_filter
_html.filters["breakable"] = breakable
_html.filters["hours"] = _hours_filter
_html.globals["entry_href"] = entry_href


def render_html(report: ReportData) -> str:
    """One self-contained HTML file: no script, no network, prints on paper."""
    return _html.get_template("report.html.j2").render(_view(report))


# -- Markdown ---------------------------------------------------------------------

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones
# that could start markup, a link, HTML or a table cell boundary inside a line.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")
# ...and these only at the start of a line, where they would open a list or a heading.
_MD_LINE_START = re.compile(r"^(\d+[.)]|[-+=])(?=\s|$)")


def md_escape(value: Any) -> str:
    text = "" if value is None else str(value)
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], text)


def _md_finalize(value: Any) -> Any:
    """Every ``{{ }}`` in a Markdown template is escaped unless it is :class:`Markup`."""
    return value if isinstance(value, Markup) else md_escape(value)


def _md_code(value: Any) -> Markup:
    text = "" if value is None else str(value)
    if text and not re.search(r"[`|\r\n]", text):
        return Markup(f"`{text}`")  # noqa: S704 (Markdown, not HTML: a code span shows text as is)
    return Markup(md_escape(text))  # noqa: S704


def _md_code_block(value: Any) -> Markup:
    text = str(value)
    if "```" in text:
        return Markup(md_escape(text))  # noqa: S704
    return Markup(text)  # noqa: S704 (inside a fenced block Markdown shows text as is)


def _md_link(text: Any, href: str) -> Markup:
    # hrefs come from entry_href / file_href: percent-encoded, without spaces or brackets
    return Markup(f"[{md_escape(text)}](<{href}>)")  # noqa: S704


MD_ITEMS = 5  # items of a long list a Markdown cell writes out before "…"


def _md_cell(cell: Cell) -> Markup:
    """A cell in a Markdown table: entry links, a long list cut short, or its text."""
    if cell.runs:
        runs = ", ".join(
            "–".join(_md_link(link.text, link.href) for link in run) for run in cell.runs
        )
        noun = ("entry " if len(cell.links) == 1 else "entries ") if cell.noun else ""
        return Markup(noun + runs)  # noqa: S704 (Markdown built from escaped parts)
    if cell.items:
        shown = ", ".join(md_escape(i) for i in cell.items[:MD_ITEMS])
        more = ", …" if len(cell.items) > MD_ITEMS else ""
        return Markup(f"{md_escape(cell.text)}: {shown}{more}")  # noqa: S704
    return Markup(md_escape(cell.text))  # noqa: S704


_md = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=False,  # noqa: S701 (Markdown: escaped by _md_finalize instead)
    finalize=_md_finalize,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_md.filters["code"] = _md_code
_md.filters["link"] = _md_link
_md.filters["code_block"] = _md_code_block
_md.filters["cell"] = _md_cell
_md.filters["rfc3339"] = _rfc3339_filter
_md.filters["hours"] = _hours_filter


def render_markdown(report: ReportData) -> str:
    """The same report as Markdown (GitHub-flavoured tables), charts as tables."""
    text = _md.get_template("report.md.j2").render(_view(report))
    return re.sub(r"\n{3,}", "\n\n", text)


# -- JSON ---------------------------------------------------------------------------


def render_json(report: ReportData) -> str:
    """Canonical JSON: sorted keys, two-space indent, UTF-8, a final newline."""
    return (
        json.dumps(
            report.to_json(), sort_keys=True, indent=2, ensure_ascii=False, default=_json_default
        )
        + "\n"
    )
