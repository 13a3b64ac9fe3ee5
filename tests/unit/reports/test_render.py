"""The auditor report: chart data from signed Parquet, SVG, and HTML/Markdown/JSON output.

The evidence sets are built in memory with the real pinned schemas, so a chart
reads the same columns it reads in an archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.collectors.snowflake.policy import CHANGES_SCHEMA
from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS
from das_evidence.collectors.snowflake.views import VIEWS
from das_evidence.config import ChecksConfig
from das_evidence.errors import EvidenceError
from das_evidence.reports import charts
from das_evidence.reports.checks import CheckContext, run_checks
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef
from das_evidence.reports.render import (
    FINDINGS_SHOWN,
    VERIFY_COMMAND,
    ReportData,
    ReportGap,
    build_report_data,
    file_href,
    md_escape,
    render_html,
    render_json,
    render_markdown,
)
from das_evidence.timefmt import compact, format_duration, rfc3339

ACCOUNT = "ACME_PROD"
ORIGIN = "evidence.example.com/report-test"
START = datetime(2026, 11, 17, tzinfo=UTC)
END = datetime(2026, 11, 20, tzinfo=UTC)
GENERATED = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script>"
TAG_REFERENCES = next(v for v in POLICY_VIEWS if v.view == "TAG_REFERENCES")


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


@dataclass
class EvidenceBuilder:
    """Entries and their Parquet files, as a log would hold them, in memory."""

    files: dict[str, bytes] = field(default_factory=dict)
    entries: list[EvidenceEntry] = field(default_factory=list)

    def add(
        self,
        stream: str,
        start: datetime,
        end: datetime,
        tables: Mapping[str, pa.Table],
        **extra: Any,
    ) -> EvidenceEntry:
        index = len(self.entries)
        files = []
        for name, table in tables.items():
            window = f"{compact(start)}_{compact(end)}"
            path = f"evidence/{stream}/date={start:%Y-%m-%d}/{window}-{index}/{name}"
            data = _parquet(table)
            self.files[path] = data
            files.append(
                {
                    "path": path,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "media_type": "application/vnd.apache.parquet",
                    "rows": table.num_rows,
                }
            )
        predicate: dict[str, Any] = {
            "stream": stream,
            "window": {"start": rfc3339(start), "end": rfc3339(end)},
            "files": files,
            **extra,
        }
        entry = EvidenceEntry(index, stream, predicate)
        self.entries.append(entry)
        return entry

    def history(self, view: str, day: date, rows: Sequence[Mapping[str, Any]]) -> EvidenceEntry:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        table = pa.Table.from_pylist(list(rows), schema=VIEWS[view].schema())
        return self.add(
            f"snowflake/{ACCOUNT}/{view}",
            start,
            start + timedelta(days=1),
            {f"{view}.parquet": table},
            rows=table.num_rows,
        )

    def snapshot(
        self,
        as_of: datetime,
        tags: Sequence[Mapping[str, Any]] | None,
        changes: Sequence[Mapping[str, Any]],
        *,
        baseline: bool = False,
    ) -> EvidenceEntry:
        tables: dict[str, pa.Table] = {}
        views: dict[str, Any] = {}
        if tags is not None:
            tables["tag_references.parquet"] = pa.Table.from_pylist(
                list(tags), schema=TAG_REFERENCES.schema()
            )
            views["TAG_REFERENCES"] = {"status": "evidenced", "rows": len(tags)}
        else:
            views["TAG_REFERENCES"] = {
                "status": "not_evidenced",
                "reason": "insufficient privileges",
            }
        tables["changes.parquet"] = pa.Table.from_pylist(list(changes), schema=CHANGES_SCHEMA)
        return self.add(
            f"snowflake/{ACCOUNT}/policy_state",
            as_of,
            as_of,
            tables,
            as_of=rfc3339(as_of),
            views=views,
            changes={"baseline": baseline},
        )

    def dbt(self, project: str, invocation: str, at: datetime, tests: dict[str, int]) -> None:
        self.add(
            f"dbt/{project}/{invocation}",
            at,
            at,
            {},
            dbt={
                "project": project,
                "invocation_id": invocation,
                "command": "build",
                "tests": tests,
            },
        )

    def evidence(self, streams_expected: Sequence[str] = ()) -> EvidenceSet:
        files = dict(self.files)
        return EvidenceSet(
            list(self.entries),
            lambda path: files[path],
            start=START,
            end=END,
            streams_expected=streams_expected,
        )


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def login(event_id: int, ts: datetime, ok: bool, user: str = "ALICE") -> dict[str, Any]:
    return {
        "EVENT_ID": event_id,
        "EVENT_TIMESTAMP": ts,
        "EVENT_TYPE": "LOGIN",
        "USER_NAME": user,
        "CLIENT_IP": "10.0.0.1",
        "IS_SUCCESS": "YES" if ok else "NO",
    }


def access(query_id: str, ts: datetime, *reads: tuple[str, Sequence[str]]) -> dict[str, Any]:
    base = [
        {"objectDomain": "Table", "objectName": obj, "columns": [{"columnName": c} for c in cols]}
        for obj, cols in reads
    ]
    return {
        "QUERY_ID": query_id,
        "QUERY_START_TIME": ts,
        "USER_NAME": "ALICE",
        "BASE_OBJECTS_ACCESSED": json.dumps(base),
    }


def query(query_id: str, ts: datetime, role: str) -> dict[str, Any]:
    return {"QUERY_ID": query_id, "START_TIME": ts, "ROLE_NAME": role, "USER_NAME": "ALICE"}


def tag(name: str, obj: str, column: str | None, deleted: datetime | None = None) -> dict[str, Any]:
    db, schema, table = obj.split(".")
    return {
        "TAG_DATABASE": "GOVERNANCE",
        "TAG_SCHEMA": "TAGS",
        "TAG_NAME": name,
        "TAG_VALUE": "yes",
        "OBJECT_DATABASE": db,
        "OBJECT_SCHEMA": schema,
        "OBJECT_NAME": table,
        "OBJECT_DELETED": deleted,
        "DOMAIN": "COLUMN" if column else "TABLE",
        "COLUMN_NAME": column,
    }


def change(view: str, kind: str) -> dict[str, Any]:
    return {"VIEW": view, "CHANGE": kind, "KEY": "{}", "CHANGED_COLUMNS": "[]"}


PATIENTS = "CLINICAL.PUBLIC.PATIENTS"
CLAIMS = "BILLING.PUBLIC.CLAIMS"
LABS = "CLINICAL.PUBLIC.LAB_RESULTS"


def sample(
    role: str = "PHI_READER", findings_text: str = SCRIPT
) -> tuple[EvidenceBuilder, list[CheckResult]]:
    """Evidence for every chart over 2026-11-17..19, and three check results."""
    b = EvidenceBuilder()
    b.history(
        "login_history",
        date(2026, 11, 17),
        [
            login(1, at(17, 8), True),
            login(2, at(17, 9), True),
            login(3, at(17, 10), False),
            login(4, at(17, 11), True),
        ],
    )
    b.history(
        "login_history",
        date(2026, 11, 18),
        [login(5, at(18, 1), True), login(6, at(18, 2), False), login(7, at(18, 3), False)],
    )
    # an amendment repeating event 7 and adding one; an event before the period
    b.history(
        "login_history",
        date(2026, 11, 18),
        [login(7, at(18, 3), False), login(8, at(18, 4), True), login(9, at(16, 23), False)],
    )
    b.history("login_history", date(2026, 11, 19), [])
    b.history(
        "query_history",
        date(2026, 11, 18),
        [
            query("q1", at(18, 9), role),
            query("q2", at(18, 10), "ANALYST"),
            query("q3", at(18, 11), role),
            query("q5", at(18, 12), "ANALYST"),
        ],
    )
    b.history(
        "access_history",
        date(2026, 11, 18),
        [
            access("q1", at(18, 9), (PATIENTS, ["SSN", "PATIENT_ID"])),
            access("q2", at(18, 10), (PATIENTS, ["MRN", "DOB"])),
            access("q3", at(18, 11), (CLAIMS, ["AMOUNT"])),  # tagged only in an old snapshot
            access("q4", at(18, 12), (PATIENTS, ["SSN"])),  # not in QUERY_HISTORY
            access("q5", at(18, 13), (LABS, ["RESULT_VALUE"]), (PATIENTS, ["MRN"])),
            access("q1", at(18, 9), (PATIENTS, ["SSN"])),  # the same query again
            access("q6", at(18, 14), (PATIENTS, ["EMAIL"])),  # PII only
        ],
    )
    b.snapshot(
        at(17, 4),
        [tag("PHI", CLAIMS, "AMOUNT"), tag("PHI", PATIENTS, "SSN")],
        [],
        baseline=True,
    )
    b.snapshot(
        at(18, 4),
        None,  # TAG_REFERENCES not evidenced in this snapshot
        [
            change("GRANTS_TO_ROLES", "added"),
            change("GRANTS_TO_ROLES", "added"),
            change("USERS", "removed"),
        ],
    )
    b.snapshot(
        at(19, 4),
        [
            tag("PHI", PATIENTS, "SSN"),
            tag("PHI", PATIENTS, "MRN"),
            tag("PHI", PATIENTS, "DOB"),
            tag("PHI", LABS, None),  # a table-level tag covers every column
            tag("PII", PATIENTS, "EMAIL"),
            tag("PHI", PATIENTS, "OLD_NOTES", deleted=at(10)),
        ],
        [change("USERS", "changed"), change("TAG_REFERENCES", "added")],
    )
    b.dbt("jaffle_health", "inv-1", at(17, 6), {"passed": 10, "failed": 1, "not_evidenced": 2})
    b.dbt("jaffle_health", "inv-2", at(19, 6), {"passed": 12, "warned": 1})
    login_entry = b.entries[0]
    results = [
        CheckResult(
            "mfa-for-humans",
            "Human users sign in with MFA",
            "pass",
            "Every human login in the period used a second factor.",
            Control(("CC6.1",), ("164.312(d)",)),
            evidence=login_entry.refs(),
        ),
        CheckResult(
            "failed-login-bursts",
            f"Failed logins {SCRIPT}",
            "fail",
            f"One user failed to log in 2 times: {findings_text}",
            Control(("CC6.1", "CC7.2"), ("164.308(a)(5)(ii)(C)",)),
            findings=({"user": findings_text, "failures": 2, "ips": ["10.0.0.1"]},),
            evidence=(EvidenceRef(12, "evidence/x/a b.parquet", "ab" * 32),),
            details={"threshold": 2},
        ),
        CheckResult(
            "phi-masking",
            "PHI columns are masked",
            "not_evidenced",
            "No POLICY_REFERENCES in the period.",
            Control(("CC6.1",), ("164.312(a)(1)",)),
        ),
    ]
    return b, results


def report(**kwargs: Any) -> ReportData:
    b, results = sample(**kwargs)
    return build_report_data(
        b.evidence(streams_expected=[f"snowflake/{ACCOUNT}/sessions"]),
        results,
        title="ACME access evidence",
        generated_at=GENERATED,
        origin=ORIGIN,
        gaps=[ReportGap(f"snowflake/{ACCOUNT}/sessions", START, END)],
        checks=ChecksConfig(),
    )


# -- chart data -------------------------------------------------------------------


def test_logins_per_day_counts_each_event_once_within_the_period() -> None:
    b, _ = sample()
    chart = charts.logins_per_day(b.evidence())
    assert [(d.day.day, d.succeeded, d.failed) for d in chart.days] == [
        (17, 3, 1),
        (18, 2, 2),
        (19, 0, 0),
    ]
    assert chart.entries == (0, 1, 2, 3)
    assert chart.note is None


def test_logins_without_login_history_are_not_drawn_as_zero() -> None:
    chart = charts.logins_per_day(EvidenceBuilder().evidence())
    assert chart.days == ()
    assert chart.note == "no LOGIN_HISTORY entries in the period"
    assert "no LOGIN_HISTORY entries" in charts.logins_svg(chart)


def test_phi_reads_per_role_use_the_newest_tags_and_query_history_roles() -> None:
    b, _ = sample()
    chart = charts.phi_reads_per_role(b.evidence())
    # q1: SSN (PHI_READER); q2: MRN+DOB (ANALYST); q5: LAB_RESULTS (table tag) + MRN
    # (ANALYST); q4: SSN, not in QUERY_HISTORY; q3 (CLAIMS, tag gone) and q6 (PII) do not count.
    assert [(r.role, r.queries, r.column_reads) for r in chart.roles] == [
        ("ANALYST", 2, 4),
        ("PHI_READER", 1, 1),
        ("unknown role", 1, 1),
    ]
    snap = b.entries[-3]  # the newest snapshot with TAG_REFERENCES
    assert chart.snapshot_entry == snap.index
    assert chart.tagged_columns == 3  # the deleted tag is not counted
    assert chart.note is None


def test_phi_reads_can_count_other_tags() -> None:
    b, _ = sample()
    chart = charts.phi_reads_per_role(b.evidence(), tags=("PII",))
    assert [(r.role, r.queries) for r in chart.roles] == [("unknown role", 1)]


def test_phi_reads_without_a_tag_snapshot_say_so() -> None:
    b = EvidenceBuilder()
    b.history("access_history", date(2026, 11, 18), [access("q1", at(18), (PATIENTS, ["SSN"]))])
    chart = charts.phi_reads_per_role(b.evidence())
    assert chart.roles == ()
    assert chart.note == "no policy snapshot with TAG_REFERENCES in the period"


def test_policy_changes_per_day_by_kind_and_view() -> None:
    b, _ = sample()
    chart = charts.policy_changes_per_day(b.evidence())
    assert [(d.day.day, d.added, d.removed, d.changed, d.baseline) for d in chart.days] == [
        (17, 0, 0, 0, True),
        (18, 2, 1, 0, False),
        (19, 1, 0, 1, False),
    ]
    assert dict(chart.days[1].by_view) == {"GRANTS_TO_ROLES": 2, "USERS": 1}
    svg = charts.policy_changes_svg(chart)
    # the baseline day compared nothing: it is not a point on the chart
    assert "2026-11-17" not in svg and "2026-11-18: added 2" in svg


def test_dbt_tests_per_invocation_from_predicates() -> None:
    b, _ = sample()
    chart = charts.dbt_tests_per_invocation(b.evidence())
    assert [(i.invocation_id, dict(i.counts)) for i in chart.invocations] == [
        ("inv-1", {"passed": 10, "failed": 1, "warned": 0, "errored": 0, "not_evidenced": 2}),
        ("inv-2", {"passed": 12, "failed": 0, "warned": 1, "errored": 0, "not_evidenced": 0}),
    ]


def test_an_entry_without_the_expected_column_names_it() -> None:
    b = EvidenceBuilder()
    b.add(
        f"snowflake/{ACCOUNT}/login_history",
        START,
        START + timedelta(days=1),
        {"login_history.parquet": pa.table({"EVENT_ID": [1]})},
    )
    with pytest.raises(
        EvidenceError, match=r"entry 0 .* has no column EVENT_TIMESTAMP, IS_SUCCESS"
    ):
        charts.logins_per_day(b.evidence())


# -- SVG --------------------------------------------------------------------------------


def test_axis_steps_are_round() -> None:
    assert charts._nice(0) == (1, 1)
    assert charts._nice(3) == (3, 1)
    assert charts._nice(7) == (8, 2)
    assert charts._nice(42) == (50, 10)
    assert charts._nice(1234) == (1500, 500)


def test_svg_is_well_formed_accessible_and_escapes_labels() -> None:
    b, _ = sample(role="<img src=x onerror=alert(1)>")
    svg = charts.phi_reads_svg(charts.phi_reads_per_role(b.evidence()))
    root = ET.fromstring(svg)  # well-formed XML, so the labels cannot break out
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-phi-reads-title chart-phi-reads-desc"
    assert root.find(f"{ns}title") is not None and root.find(f"{ns}desc") is not None
    assert "<img" not in svg and "&lt;img src=x onerror=alert(1)&gt;" in svg
    bars = [r for r in root.iter(f"{ns}rect") if r.get("fill") == charts.COLORS["phi_reads"]]
    assert len(bars) == 4  # three roles, and the legend
    assert not re.search(r"<script|https?://(?!www\.w3\.org/2000/svg)|@import|url\(", svg)


def test_stacked_bars_stack_to_the_total() -> None:
    svg = charts.svg_stacked_bar(
        chart_id="t",
        title="t",
        description="d",
        categories=["a", "b"],
        series=[charts.Series("x", "#000001", (2, 0)), charts.Series("y", "#000002", (2, 4))],
    )
    heights = {
        (r.get("fill"), r.findtext("{http://www.w3.org/2000/svg}title")): float(r.get("height", 0))
        for r in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}rect")
        if r.findtext("{http://www.w3.org/2000/svg}title")
    }
    assert heights[("#000001", "a: x 2")] == heights[("#000002", "a: y 2")]
    assert heights[("#000002", "b: y 4")] == pytest.approx(2 * heights[("#000001", "a: x 2")])


def test_line_chart_draws_a_point_per_value() -> None:
    svg = charts.svg_line(
        chart_id="l",
        title="t",
        description="d",
        categories=["a", "b", "c"],
        series=[charts.Series("x", "#000003", (1, 5, 2))],
    )
    assert svg.count("<circle") == 3 and svg.count("<polyline") == 1


# -- HTML -------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "a" and a.get("href"):
            self.hrefs.append(str(a["href"]))


def test_html_escapes_every_value() -> None:
    html = render_html(report())
    assert SCRIPT not in html and "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


def test_html_is_self_contained() -> None:
    html = render_html(report())
    parser = _Links()
    parser.feed(html)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & parser.tags
    assert "default-src 'none'" in html  # the CSP forbids every fetch
    assert "@media print" in html
    urls = re.findall(r"(?:https?:)?//[^\s\"'<>)]+", html)
    assert set(urls) == {"http://www.w3.org/2000/svg"}, urls
    assert html.count("<svg ") == 4


def test_html_shows_controls_findings_and_links_to_their_evidence() -> None:
    html = render_html(report())
    parser = _Links()
    parser.feed(html)
    for anchor in (h[1:] for h in parser.hrefs if h.startswith("#")):
        assert anchor in parser.ids, anchor
    assert "#check-failed-login-bursts" in parser.hrefs
    assert "entries/000000000012.dsse.json" in parser.hrefs
    assert "evidence/x/a%20b.parquet" in parser.hrefs
    assert "ab" * 32 in html
    for control in ("CC7.2", "164.308(a)(5)(ii)(C)", "164.312(d)"):
        assert control in html
    for label in ('class="badge pass">PASS', 'class="badge fail">FAIL', "NOT EVIDENCED"):
        assert label in html
    assert VERIFY_COMMAND in html and "VERIFY.md" in html
    assert "snowflake/ACME_PROD/sessions</span>: 2026-11-17T00:00:00Z" in html  # the gap


def test_evidence_hrefs_stay_inside_the_pack() -> None:
    assert (
        file_href("evidence/a/date=2026-11-17/x.parquet") == "evidence/a/date=2026-11-17/x.parquet"
    )
    assert file_href("//evil.example/x") == "./evil.example/x"
    assert file_href("/etc/passwd") == "./etc/passwd"
    assert ":" not in file_href("javascript:alert(1)")


# -- Markdown and JSON ---------------------------------------------------------------------


def test_markdown_escapes_and_links() -> None:
    md = render_markdown(report())
    text = re.sub(r'<a id="check-[a-z0-9-]+"></a>', "", md)
    assert not re.search(r"(?<![\\(])<", text)  # only escaped, or a link's <href>
    assert "\\<script\\>" in md
    assert "| CC6.1, CC7.2 | 164.308(a)(5)(ii)(C) |" in md
    assert "[entry 12](<entries/000000000012.dsse.json>)" in md
    assert "| [Human users sign in with MFA](<#check-mfa-for-humans>)" in md
    assert "| 2026-11-18 | 2 | 2 |" in md  # logins per day
    assert "| ANALYST | 2 | 4 |" in md
    assert f"```\n{VERIFY_COMMAND}\n```" in md
    assert "\n\n\n" not in md


def test_md_escape() -> None:
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("[x](javascript:1)") == "\\[x\\](javascript:1)"
    assert md_escape("- item\nnext") == "\\- item next"
    assert md_escape("2026-11-20") == "2026-11-20"
    assert md_escape("1. x") == "1\\. x"
    assert md_escape("164.312(d)") == "164.312(d)"


def test_json_is_canonical_and_complete() -> None:
    text = render_json(report())
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert doc["format"] == "das-evidence report v1"
    assert doc["summary"] == {"pass": 1, "fail": 1, "not_evidenced": 1}
    assert doc["results"][1]["findings"][0]["user"] == SCRIPT  # data, unescaped
    assert doc["period"] == {"start": "2026-11-17T00:00:00Z", "end": "2026-11-20T00:00:00Z"}
    assert doc["scope"]["accounts"] == [ACCOUNT]
    assert doc["scope"]["dbt_projects"] == ["jaffle_health"]
    assert doc["scope"]["streams_missing"] == [f"snowflake/{ACCOUNT}/sessions"]
    streams = {s["stream"]: s for s in doc["streams"]}
    assert streams["dbt/jaffle_health"]["entries"] == 2
    assert streams[f"snowflake/{ACCOUNT}/login_history"]["rows"] == 10
    assert doc["charts"]["phi_reads"]["roles"][0] == {
        "role": "ANALYST",
        "queries": 2,
        "column_reads": 4,
    }
    assert doc["gaps"] == [
        {"stream": f"snowflake/{ACCOUNT}/sessions", "start": rfc3339(START), "end": rfc3339(END)}
    ]


def test_a_period_without_evidence_says_so_in_every_section() -> None:
    data = build_report_data(
        EvidenceBuilder().evidence(),
        [],
        title="Empty",
        generated_at=GENERATED,
        origin=ORIGIN,
        checks=ChecksConfig(),
    )
    html = render_html(data)
    for note in (
        "no LOGIN_HISTORY entries in the period",
        "no policy snapshot with TAG_REFERENCES in the period",
        "no policy-state snapshots in the period",
        "no dbt invocations in the period",
        "No control checks were run for this report.",
        "No evidence entries in the period.",
    ):
        assert note in html, note
    assert html.count("<svg ") == 4
    md = render_markdown(data)
    assert "**no dbt invocations in the period.**" in md
    assert json.loads(render_json(data))["summary"] == {"pass": 0, "fail": 0, "not_evidenced": 0}


def test_same_evidence_same_bytes() -> None:
    first, second = report(), report()
    assert first is not second
    assert render_html(first) == render_html(second)
    assert render_markdown(first) == render_markdown(second)
    assert render_json(first) == render_json(second)
    assert render_html(report(findings_text="other")) != render_html(first)


# -- check settings in the scope section ------------------------------------------------

SETTINGS = ChecksConfig(
    phi_reader_roles=("PHI_READER", "TRANSFORMER"),
    mfa_exempt_users=("BREAK_GLASS", SCRIPT),
    failed_login_threshold=5,
    failed_login_window=timedelta(minutes=15),
    stale_after=timedelta(days=2),
)


def _with(settings: ChecksConfig) -> ReportData:
    b, results = sample()
    return build_report_data(
        b.evidence(),
        results,
        title="ACME access evidence",
        generated_at=GENERATED,
        origin=ORIGIN,
        checks=settings,
    )


class _Rows(HTMLParser):
    """The cells of every table row inside ``<section id="scope">``."""

    def __init__(self) -> None:
        super().__init__()
        self.in_scope = False
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.in_scope = dict(attrs).get("id") == "scope"
        elif self.in_scope and tag == "tr":
            self.rows.append([])
        elif self.in_scope and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "section":
            self.in_scope = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_the_scope_section_prints_every_check_setting_with_its_value() -> None:
    parser = _Rows()
    parser.feed(render_html(_with(SETTINGS)))
    header, *rows = parser.rows
    assert header == ["Setting", "Value", "Meaning"]
    table = {name: value for name, value, _ in rows}
    assert list(table) == list(ChecksConfig.model_fields)
    assert table["phi_reader_roles"] == "PHI_READER, TRANSFORMER"
    assert table["mfa_exempt_users"] == f"BREAK_GLASS, {SCRIPT}"  # the parser unescapes
    assert table["accountadmin_allowlist"] == "(none)"
    assert table["failed_login_threshold"] == "5"
    assert table["failed_login_window"] == "15m"
    assert table["stale_after"] == "2d"
    meaning = {name: m for name, _, m in rows}
    assert "ACCOUNTADMIN" in meaning["accountadmin_allowlist"]


def test_the_default_settings_are_printed_too() -> None:
    parser = _Rows()
    parser.feed(render_html(_with(ChecksConfig())))
    table = {row[0]: row[1] for row in parser.rows[1:]}
    assert table["phi_reader_roles"] == "PHI_READER"
    assert table["failed_login_threshold"] == "10"
    assert table["failed_login_window"] == "10m"
    assert table["stale_after"] == "26h"
    assert table["mfa_exempt_users"] == "(none)"


def test_check_settings_are_escaped_in_html_and_markdown() -> None:
    data = _with(SETTINGS)
    html = render_html(data)
    assert SCRIPT not in html and "BREAK_GLASS, &lt;script&gt;" in html
    md = render_markdown(data)
    assert "| `phi_reader_roles` | PHI\\_READER, TRANSFORMER |" in md
    assert "| `mfa_exempt_users` | BREAK\\_GLASS, \\<script\\>alert('x')\\</script\\> |" in md
    assert "| `failed_login_window` | 15m |" in md


def test_the_json_records_the_settings_so_they_can_be_read_back() -> None:
    doc = json.loads(render_json(_with(SETTINGS)))
    recorded = doc["scope"]["check_settings"]
    assert recorded["failed_login_window"] == "15m"
    assert recorded["phi_reader_roles"] == ["PHI_READER", "TRANSFORMER"]
    assert ChecksConfig.model_validate(recorded) == SETTINGS
    assert (
        ChecksConfig.model_validate(json.loads(render_json(report()))["scope"]["check_settings"])
        == ChecksConfig()
    )


def test_duration_text_uses_the_config_file_units() -> None:
    assert [format_duration(timedelta(seconds=s)) for s in (90, 600, 3600 * 26, 86400 * 2, 0)] == [
        "90s",
        "10m",
        "26h",
        "2d",
        "0s",
    ]


# -- findings an auditor reads: human tables, charts beside their checks, coverage ---------

LOGINS = "evidence/snowflake/ACME_PROD/login_history/date=2026-11-18/w.parquet"


def _burst(check_id: str = "failed-login-bursts-per-user") -> CheckResult:
    return CheckResult(
        check_id,
        "Failed-login bursts per user",
        "fail",
        "1 failed-login burst(s) by user: DAVE_ADMIN",
        Control(("CC6.1",), ("164.308(a)(5)(ii)(C)",)),
        findings=(
            {
                "user": "DAVE_ADMIN",
                "failures": 40,
                "first": "2026-11-18T15:36:00.079655Z",
                "client_ips": ["203.0.113.45"],
                "event_ids": [207789000000 + i for i in range(40)],
                "evidence": [{"entry": 8, "path": LOGINS}],
            },
        ),
        evidence=(EvidenceRef(8, LOGINS, "cd" * 32),),
        details={"threshold": 10, "coverage_holes": {}},
    )


def _human(results: Sequence[CheckResult], **kwargs: Any) -> ReportData:
    b, _ = sample()
    return build_report_data(
        b.evidence(),
        results,
        title="Human",
        generated_at=GENERATED,
        origin=ORIGIN,
        checks=ChecksConfig(),
        **kwargs,
    )


class _Cells(HTMLParser):
    """The text of every table cell, and every tag inside one."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.tags_in_cells: set[str] = set()
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("td", "th"):
            self._cell = []
        elif self._cell is not None:
            self.tags_in_cells.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_findings_are_tables_of_human_values_linked_to_their_entries() -> None:
    _, results = sample()
    html = render_html(_human([*results, _burst()]))
    parser = _Cells()
    parser.feed(html)
    raw = [c for c in parser.cells if c.startswith(("[", "{")) or '"entry"' in c]
    assert raw == []
    assert "10.0.0.1" in parser.cells  # ["10.0.0.1"] before
    article = html[html.index('id="check-failed-login-bursts-per-user"') :]
    article = article[: article.index("</article>")]
    for text in (
        '<th scope="col">Client IPs</th>',
        '<th scope="col" class="num">Failures</th>',
        '<time datetime="2026-11-18T15:36:00.079655Z">',
        '2026-11-18</span> <span class="nw">15:36:00 UTC',
        "<details><summary>40 event IDs</summary>",
        "<li>207789000039</li>",  # the whole list, behind its count
        f'<a href="entries/000000000008.dsse.json" title="{LOGINS}">8</a>',
    ):
        assert text in article, text
    assert '<details class="aside"><summary>Details</summary>' in article
    assert "<details><summary>Evidence: 1 file of entry 8</summary>" in article


def test_markdown_findings_are_human_tables_too() -> None:
    md = render_markdown(_human([_burst()]))
    assert "| User | Failures | First | Client IPs | Event IDs | Log entries |" in md
    assert "|---|--:|---|---|---|---|" in md
    assert (
        "| DAVE\\_ADMIN | 40 | 2026-11-18 15:36:00 UTC | 203.0.113.45 | 40 event IDs: "
        "207789000000, 207789000001, 207789000002, 207789000003, 207789000004, … "
        "| [8](<entries/000000000008.dsse.json>) |"
    ) in md
    assert "- Threshold: 10" in md and '"entry"' not in md


def test_json_keeps_findings_as_structured_values() -> None:
    doc = json.loads(render_json(_human([_burst()])))
    [finding] = doc["results"][0]["findings"]
    assert finding["event_ids"][0] == 207789000000 and len(finding["event_ids"]) == 40
    assert finding["evidence"] == [{"entry": 8, "path": LOGINS}]
    assert doc["results"][0]["details"] == {"threshold": 10, "coverage_holes": {}}


def _article(html: str, check_id: str) -> str:
    start = html.index(f'<article class="check" id="check-{check_id}">')
    return html[start : html.index("</article>", start)]


def test_each_chart_is_drawn_beside_the_first_check_it_supports() -> None:
    b, _ = sample()
    evidence = b.evidence()
    results = run_checks(evidence, CheckContext(GENERATED))
    data = build_report_data(
        evidence,
        results,
        title="Charts",
        generated_at=GENERATED,
        origin=ORIGIN,
        checks=ChecksConfig(),
    )
    html = render_html(data)
    assert html.count("<svg ") == 4
    for check_id, chart in (
        ("failed-login-bursts-per-user", "chart-logins"),
        ("phi-reads-outside-allowlist", "chart-phi-reads"),
        ("protection-policies-changed", "chart-policy-changes"),
        ("dbt-tests-failed-or-skipped", "chart-dbt-tests"),
    ):
        assert f'id="{chart}"' in _article(html, check_id), check_id
    per_ip = _article(html, "failed-login-bursts-per-ip")
    assert "<svg " not in per_ip
    assert 'drawn with <a href="#check-failed-login-bursts-per-user">' in per_ip
    charts_section = html[html.index('<section id="charts">') :]
    assert "<svg " not in charts_section[: charts_section.index("</section>")]
    assert '<a href="#check-phi-reads-outside-allowlist">PHI reads per role</a>' in html
    md = render_markdown(data)
    phi = md[md.index('<a id="check-phi-reads-outside-allowlist">') :]
    assert phi.index("#### Queries reading PHI-tagged columns, per role") < phi.index(
        '<a id="check-', 1
    )


def test_the_scope_states_the_gaps_the_evidence_gaps_check_found() -> None:
    b, _ = sample()
    evidence = b.evidence(streams_expected=[f"snowflake/{ACCOUNT}/sessions"])
    [gaps] = run_checks(evidence, CheckContext(GENERATED), only=["evidence-gaps"])
    assert gaps.status == "fail" and len(gaps.findings) >= 2
    data = build_report_data(
        evidence,
        [gaps],
        title="Gaps",
        generated_at=GENERATED,
        origin=ORIGIN,
        checks=ChecksConfig(),
        gaps=[],  # the archive's windows tile the period: the check still finds gaps
    )
    html = render_html(data)
    scope = html[html.index('<section id="scope">') : html.index('<section id="controls">')]
    assert "No missing windows" not in html
    assert 'check reports <span class="badge fail">FAIL</span>' in scope
    assert '<a href="#check-evidence-gaps">evidence-gaps</a>' in scope
    for f in gaps.findings:
        line = (
            f'<span class="mono">{f["stream"]}</span>: {f["start"]} to {f["end"]} ({f["hours"]:g} h'
        )
        assert line in scope, line
    doc = json.loads(render_json(data))
    assert doc["coverage"]["check"] == {
        "check_id": "evidence-gaps",
        "status": "fail",
        "summary": gaps.summary,
    }
    assert [(g["stream"], g["start"], g["end"], g["kind"]) for g in doc["coverage"]["gaps"]] == [
        (f["stream"], f["start"], f["end"], f["kind"]) for f in gaps.findings
    ]
    md = render_markdown(data)
    assert "No missing windows" not in md and "check reports **FAIL**" in md


def test_the_scope_adds_missing_archive_windows_the_check_does_not_cover() -> None:
    passed = CheckResult(
        "evidence-gaps",
        "Evidence gaps in the period",
        "pass",
        "all 4 streams cover the period up to 2026-11-19T04:00:00Z without gaps",
        Control(("CC7.2",), ("164.312(b)",)),
    )
    html = render_html(_human([passed]))
    assert '<div class="warn ok" role="note" id="coverage">' in html
    assert "without gaps." in html and "No missing windows" not in html
    tail = ReportGap(f"snowflake/{ACCOUNT}/sessions", at(19, 4), END)
    data = _human([passed], gaps=[tail])
    html = render_html(data)
    assert '<div class="warn" role="note" id="coverage">' in html
    assert f"sessions</span>: {rfc3339(at(19, 4))} to {rfc3339(END)} (20 h; no window" in html
    [gap] = json.loads(render_json(data))["coverage"]["gaps"]
    assert (gap["source"], gap["kind"], gap["hours"]) == ("archive", "window", 20)


def test_a_long_findings_table_shows_its_first_rows_and_the_rest_expand() -> None:
    many = CheckResult(
        "many-findings",
        "Many findings",
        "fail",
        "30 users without MFA",
        Control(("CC6.1",), ("164.312(d)",)),
        findings=tuple({"user": f"USER_{i:02d}"} for i in range(30)),
    )
    article = _article(render_html(_human([many])), "many-findings")
    shown, more = article.split("<details><summary>5 more findings</summary>")
    assert shown.count("<td>USER_") == FINDINGS_SHOWN == 25
    assert more.count("<td>USER_") == 5 and "<td>USER_29</td>" in more
    assert "| USER\\_29 |" in render_markdown(_human([many]))  # Markdown has no <details>
