"""The auditor report: its data (:class:`ReportData`) and its HTML, Markdown and JSON.

:func:`build_report_data` is the only part that reads evidence; the renderers
take a :class:`ReportData` and return text. The HTML is one self-contained
file: inline CSS (with a print stylesheet), inline SVG charts, no script, and
a Content-Security-Policy that forbids every fetch, so opening it makes no
network request. Every value is escaped by the templates (Jinja2 autoescape
for HTML; a Markdown escape applied to every printed value for Markdown).
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
from markupsafe import Markup

from das_evidence import __version__
from das_evidence.config import ChecksConfig
from das_evidence.reports import charts
from das_evidence.reports.charts import ChartsData, chart_data
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.reports.model import CheckResult, EvidenceRef
from das_evidence.timefmt import format_duration, rfc3339

REPORT_FORMAT = "das-evidence report v1"
TEMPLATES = Path(__file__).with_name("templates")
MAX_FINDING_ROWS = 200  # per check in HTML and Markdown; the JSON has them all
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
    gaps: tuple[ReportGap, ...]
    verification: str
    verify_command: str
    generator_version: str

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
    return ReportData(
        title=title,
        generated_at=generated_at,
        period_start=evidence.start,
        period_end=evidence.end,
        scope=scope,
        results=tuple(results),
        charts=chart_data(evidence, phi_tags=checks.phi_tags),
        streams=streams,
        gaps=tuple(
            ReportGap(g.stream, g.start, g.end)
            for g in sorted(gaps, key=lambda g: (g.stream, g.start))
        ),
        verification=VERIFICATION,
        verify_command=VERIFY_COMMAND,
        generator_version=__version__,
    )


# -- view model shared by the HTML and Markdown templates -----------------------------


def entry_href(index: int) -> str:
    return f"entries/{index:012d}.dsse.json"


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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)


def _findings(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    shown = rows[:MAX_FINDING_ROWS]
    return {
        "columns": columns,
        "rows": [[_cell(r.get(c)) for c in columns] for r in shown],
        "hidden": len(rows) - len(shown),
    }


def _evidence(refs: Sequence[EvidenceRef]) -> list[dict[str, Any]]:
    return [
        {
            "entry": r.entry,
            "entry_name": f"entry {r.entry}",
            "entry_href": entry_href(r.entry),
            "path": r.path,
            "href": file_href(r.path),
            "sha256": r.sha256,
        }
        for r in refs
    ]


def _setting_text(value: Any) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) if value else "(none)"
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


def _view(report: ReportData) -> dict[str, Any]:
    used: set[str] = set()
    checks = [
        {
            "r": r,
            "anchor": _anchor(r.check_id, used),
            "label": STATUS_LABELS.get(r.status, r.status.upper()),
            "findings": _findings(r.findings),
            "details": json.dumps(
                r.details, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default
            )
            if r.details
            else "",
            "evidence": _evidence(r.evidence),
        }
        for r in report.results
    ]
    c = report.charts
    return {
        "report": report,
        "format": REPORT_FORMAT,
        "period": (rfc3339(report.period_start), rfc3339(report.period_end)),
        "generated_at": rfc3339(report.generated_at),
        "counts": report.counts,
        "labels": STATUS_LABELS,
        "checks": checks,
        "check_settings": check_settings_rows(report.scope.check_settings),
        "svg": {
            "logins": Markup(charts.logins_svg(c.logins)),  # noqa: S704 (built escaped)
            "phi_reads": Markup(charts.phi_reads_svg(c.phi_reads)),  # noqa: S704
            "policy_changes": Markup(charts.policy_changes_svg(c.policy_changes)),  # noqa: S704
            "dbt_tests": Markup(charts.dbt_tests_svg(c.dbt_tests)),  # noqa: S704
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


def _rfc3339_filter(value: datetime) -> str:
    return rfc3339(value)


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
_md.filters["rfc3339"] = _rfc3339_filter


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
