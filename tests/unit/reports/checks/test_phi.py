"""One definition of a PHI read: what counts, and the chart and the check agreeing on it.

Each case is crafted Parquet (the pinned schemas) exercising one part of the
definition in :mod:`das_evidence.reports.checks.phi`; for each, the reads are
asserted exactly, and the report's chart and the ``phi-reads-outside-allowlist``
check must count the same queries per role.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from das_evidence.config import ChecksConfig
from das_evidence.reports import charts
from das_evidence.reports import evidence as evidence_module
from das_evidence.reports.checks import CheckContext, run_checks
from das_evidence.reports.checks import phi as phi_module
from das_evidence.reports.checks.phi import UNKNOWN_ROLE, Missing, PhiReads, phi_reads
from das_evidence.reports.evidence import EvidenceSet
from das_evidence.reports.model import CheckResult
from tests.unit.reports.checks.conftest import (
    NOW,
    PATIENTS,
    START,
    EvidenceBuilder,
    access,
    query,
    tag,
)

AS_OF = NOW - timedelta(hours=2)
AT = START + timedelta(days=2, hours=10)
LABS = "CLINICAL.PUBLIC.LAB_RESULTS"
VIEW = "ANALYTICS.MARTS.V_PATIENT_SUMMARY"
CLAIMS = "BILLING.PUBLIC.CLAIMS"

DEFAULTS = ChecksConfig()
Read = tuple[str, str, str, str]  # query id, role name, object, column


def _evidence(
    tags: list[dict[str, object]],
    reads: list[dict[str, object]],
    roles: dict[str, str | None],
) -> EvidenceSet:
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"TAG_REFERENCES": tags})
    b.history("access_history", reads)
    b.history(
        "query_history",
        [query(q, AT, "SOMEONE", role) for q, role in roles.items() if role is not None],
    )
    return b.build()


def column_level_tag() -> EvidenceSet:
    """Only the tagged column of a table is PHI; the query's other columns are not."""
    return _evidence(
        [tag(PATIENTS, "SSN")],
        [access("q1", AT, "ALICE", (PATIENTS, ("PATIENT_ID", "SSN")))],
        {"q1": "ANALYST"},
    )


def table_level_tag() -> EvidenceSet:
    """A tag on a whole table makes every column of it PHI."""
    return _evidence(
        [tag(LABS, None)],
        [access("q1", AT, "BOB", (LABS, ("LAB_ID", "RESULT_VALUE")), (CLAIMS, ("AMOUNT",)))],
        {"q1": "ENGINEER"},
    )


def through_a_view() -> EvidenceSet:
    """A view over a tagged table: the base table's column is the PHI read."""
    return _evidence(
        [tag(PATIENTS, "SSN")],
        [
            access(
                "q1",
                AT,
                "CAROL",
                (PATIENTS, ("PATIENT_ID", "SSN")),
                direct=[(VIEW, ("PATIENT_ID", "SSN_LAST4"))],
            )
        ],
        {"q1": "BILLING_ANALYST"},
    )


def direct_objects_only() -> EvidenceSet:
    """Tagged names only among the direct objects: nothing was read from a tagged base."""
    return _evidence(
        [tag(VIEW, None), tag(PATIENTS, "SSN")],
        [
            # a tagged view over an untagged table
            access("q1", AT, "CAROL", (CLAIMS, ("AMOUNT",)), direct=[(VIEW, ("AMOUNT",))]),
            # the direct list names PATIENTS.SSN, the base list does not
            access("q2", AT, "CAROL", (CLAIMS, ("AMOUNT",)), direct=[(PATIENTS, ("SSN",))]),
        ],
        {"q1": "BILLING_ANALYST", "q2": "BILLING_ANALYST"},
    )


def missing_from_query_history() -> EvidenceSet:
    """A read whose query is not in QUERY_HISTORY has an unknown role, never a guess."""
    return _evidence(
        [tag(PATIENTS, "SSN"), tag(PATIENTS, "DOB")],
        [
            access("q-known", AT, "DAVE", (PATIENTS, ("SSN",))),
            access("q-lost", AT, "ERIN", (PATIENTS, ("SSN", "DOB"))),
        ],
        {"q-known": "PHI_READER", "q-lost": None},
    )


def repeated_and_outside() -> EvidenceSet:
    """The same query in two rows counts once; a read outside the period not at all; a
    read that names no column (COUNT(*)) reads no PHI value; a dropped tag is gone."""
    return _evidence(
        [tag(PATIENTS, "SSN"), tag(LABS, None), {**tag(PATIENTS, "DOB"), "OBJECT_DELETED": START}],
        [
            access("q1", AT, "ALICE", (PATIENTS, ("SSN",))),
            access("q1", AT, "ALICE", (PATIENTS, ("SSN",))),
            access("q-old", START - timedelta(hours=1), "ALICE", (PATIENTS, ("SSN",))),
            access("q-count", AT, "ALICE", (LABS, ())),
            access("q-dob", AT, "ALICE", (PATIENTS, ("DOB",))),
        ],
        {"q1": "ANALYST", "q-old": "ANALYST", "q-count": "ANALYST", "q-dob": "ANALYST"},
    )


def names_are_exact() -> EvidenceSet:
    """PATIENTS tagged does not make PATIENTS_ARCHIVE PHI, nor a column of that name elsewhere."""
    return _evidence(
        [tag(PATIENTS, "SSN")],
        [
            access("q1", AT, "BOB", (PATIENTS + "_ARCHIVE", ("SSN",))),
            access("q2", AT, "BOB", ("CLINICAL.PUBLIC.EMPLOYEES", ("SSN",))),
        ],
        {"q1": "ENGINEER", "q2": "ENGINEER"},
    )


@dataclass(frozen=True)
class Case:
    build: Callable[[], EvidenceSet]
    reads: set[Read]
    status: str  # of phi-reads-outside-allowlist with the default allowlist (PHI_READER)


CASES = {
    "column-level tag": Case(column_level_tag, {("q1", "ANALYST", PATIENTS, "SSN")}, "fail"),
    "table-level tag": Case(
        table_level_tag,
        {("q1", "ENGINEER", LABS, "LAB_ID"), ("q1", "ENGINEER", LABS, "RESULT_VALUE")},
        "fail",
    ),
    "base object of a view": Case(
        through_a_view, {("q1", "BILLING_ANALYST", PATIENTS, "SSN")}, "fail"
    ),
    "direct objects only": Case(direct_objects_only, set(), "pass"),
    "query missing from QUERY_HISTORY": Case(
        missing_from_query_history,
        {
            ("q-known", "PHI_READER", PATIENTS, "SSN"),
            ("q-lost", UNKNOWN_ROLE, PATIENTS, "SSN"),
            ("q-lost", UNKNOWN_ROLE, PATIENTS, "DOB"),
        },
        "not_evidenced",
    ),
    "repeated, outside the period, no column, dropped tag": Case(
        repeated_and_outside, {("q1", "ANALYST", PATIENTS, "SSN")}, "fail"
    ),
    "names are exact": Case(names_are_exact, set(), "pass"),
}


def _reads(found: PhiReads) -> set[Read]:
    return {(r.query_id, r.role_name, r.object, r.column) for r in found.reads}


def _check(evidence: EvidenceSet, settings: ChecksConfig = DEFAULTS) -> CheckResult:
    [result] = run_checks(
        evidence, CheckContext(NOW, settings), only=["phi-reads-outside-allowlist"]
    )
    return result


def assert_chart_and_check_agree(evidence: EvidenceSet, settings: ChecksConfig) -> None:
    """Per role, the chart counts the queries the check counts, allowed, flagged or unknown."""
    chart = charts.phi_reads_per_role(evidence, tags=settings.phi_tags)
    check = _check(evidence, settings)
    found = phi_reads(evidence, settings.phi_tags)
    assert not isinstance(found, Missing)
    per_role = {r.role: r for r in chart.roles}
    assert {role: len(q) for role, q in found.queries_by_role().items()} == {
        role: r.queries for role, r in per_role.items()
    }
    assert sum(r.queries for r in chart.roles) == check.details["phi_reads"]
    assert sum(r.column_reads for r in chart.roles) == check.details["phi_column_reads"]
    unknown = per_role.get(UNKNOWN_ROLE)
    assert (unknown.queries if unknown else 0) == check.details["unresolved_reads"]
    allowed = {r.upper() for r in settings.phi_reader_roles}
    assert (
        sum(r.queries for r in chart.roles if r.role.upper() in allowed)
        == check.details["allowed_reads"]
    )
    flagged = {
        r.role for r in chart.roles if r.role != UNKNOWN_ROLE and r.role.upper() not in allowed
    }
    assert {f["role"] for f in check.findings} == flagged
    flagged_queries = {
        q for role, qs in found.queries_by_role().items() if role in flagged for q in qs
    }
    assert {q for f in check.findings for q in f["query_ids"]} == flagged_queries


@pytest.mark.parametrize("name", list(CASES))
def test_the_definition_on_crafted_cases(name: str) -> None:
    case = CASES[name]
    evidence = case.build()
    found = phi_reads(evidence, ("PHI",))
    assert not isinstance(found, Missing)
    assert _reads(found) == case.reads
    assert _check(evidence).status == case.status
    assert_chart_and_check_agree(evidence, ChecksConfig())


@pytest.mark.parametrize("name", list(CASES))
def test_chart_and_check_agree_whatever_the_allowlist(name: str) -> None:
    evidence = CASES[name].build()
    for roles in ((), ("ANALYST", "engineer"), ("BILLING_ANALYST", "PHI_READER")):
        assert_chart_and_check_agree(evidence, ChecksConfig(phi_reader_roles=roles))


def test_the_unknown_role_is_explicit_in_the_chart_and_the_check() -> None:
    evidence = missing_from_query_history()
    chart = charts.phi_reads_per_role(evidence)
    assert [(r.role, r.queries, r.column_reads) for r in chart.roles] == [
        ("PHI_READER", 1, 1),
        (UNKNOWN_ROLE, 1, 2),
    ]
    [unresolved] = _check(evidence).details["unresolved"]
    assert unresolved["role"] == UNKNOWN_ROLE
    assert (unresolved["user"], unresolved["query_ids"]) == ("ERIN", ["q-lost"])
    assert unresolved["columns"] == ["DOB", "SSN"]


def test_masking_is_recorded_per_column_read() -> None:
    evidence = _evidence(
        [tag(PATIENTS, "SSN"), tag(PATIENTS, "DOB")],
        [access("q1", AT, "ALICE", (PATIENTS, ("SSN", "DOB")), masked=[(PATIENTS, "SSN")])],
        {"q1": "ANALYST"},
    )
    found = phi_reads(evidence, ("PHI",))
    assert not isinstance(found, Missing)
    assert {(r.column, r.masked) for r in found.reads} == {("SSN", True), ("DOB", False)}
    [finding] = _check(evidence).findings
    assert finding["masked_columns"] == ["SSN"] and finding["columns"] == ["DOB", "SSN"]


def test_tags_come_from_the_newest_snapshot_that_evidences_tag_references() -> None:
    b = EvidenceBuilder()
    b.snapshot(AS_OF - timedelta(days=2), {"TAG_REFERENCES": [tag(CLAIMS, "AMOUNT")]})
    newest_with_tags = b.snapshot(
        AS_OF - timedelta(days=1), {"TAG_REFERENCES": [tag(PATIENTS, "SSN")]}
    )
    b.snapshot(AS_OF, {}, not_evidenced={"TAG_REFERENCES": "insufficient privileges"})
    b.history(
        "access_history",
        [
            access("q1", AT, "ALICE", (CLAIMS, ("AMOUNT",))),  # tagged only in the oldest
            access("q2", AT, "ALICE", (PATIENTS, ("SSN",))),
        ],
    )
    b.history(
        "query_history", [query("q1", AT, "ALICE", "ANALYST"), query("q2", AT, "ALICE", "ANALYST")]
    )
    evidence = b.build()
    found = phi_reads(evidence, ("PHI",))
    assert not isinstance(found, Missing)
    assert found.tag_view.entry.index == newest_with_tags.index
    assert _reads(found) == {("q2", "ANALYST", PATIENTS, "SSN")}
    chart = charts.phi_reads_per_role(evidence)
    check = _check(evidence)
    assert chart.snapshot_entry == check.details["tags_entry"] == newest_with_tags.index
    assert_chart_and_check_agree(evidence, ChecksConfig())


def test_without_any_tag_snapshot_both_say_so_and_neither_counts() -> None:
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {}, not_evidenced={"TAG_REFERENCES": "insufficient privileges"})
    b.history("access_history", [access("q1", AT, "ALICE", (PATIENTS, ("SSN",)))])
    evidence = b.build()
    found = phi_reads(evidence, ("PHI",))
    assert isinstance(found, Missing) and "insufficient privileges" in found.reason
    chart = charts.phi_reads_per_role(evidence)
    assert chart.roles == () and chart.note == found.reason
    check = _check(evidence)
    assert check.status == "not_evidenced" and check.summary == found.reason


def _daily(days: int) -> EvidenceSet:
    """A PHI read a day, each day's ACCESS_HISTORY and QUERY_HISTORY a window of its own."""
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"TAG_REFERENCES": [tag(PATIENTS, "SSN")]})
    for d in range(days):
        day = START + timedelta(days=d)
        at = day + timedelta(hours=1)
        user = "ALICE" if d % 2 else "BOB"
        role = "PHI_READER" if d % 3 == 0 else "ANALYST"
        nxt = day + timedelta(days=1)
        b.history(
            "access_history", [access(f"q{d}", at, user, (PATIENTS, ("SSN",)))], start=day, end=nxt
        )
        b.history("query_history", [query(f"q{d}", at, user, role)], start=day, end=nxt)
    return b.build()


def test_a_period_is_scanned_a_few_files_per_polars_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polars reads the files of one query concurrently: a year of daily files at once held
    twice the memory. Each query reads at most FILES_PER_QUERY files, and the reads (their
    files included) are those of one query over every file."""
    whole = _check(_daily(6)).to_json()
    monkeypatch.setattr(evidence_module, "FILES_PER_QUERY", 2)
    scanned: list[int] = []
    scan = EvidenceSet.scan

    def counted(self: EvidenceSet, paths: Sequence[str], *a: Any, **kw: Any) -> Any:
        scanned.append(len(paths))
        return scan(self, paths, *a, **kw)

    monkeypatch.setattr(EvidenceSet, "scan", counted)
    evidence = _daily(6)
    found = phi_reads(evidence, ("PHI",))
    assert not isinstance(found, Missing)
    assert scanned and max(scanned) <= 2
    for r in found.reads:  # each read's files are its own day's, whatever part it was in
        day = (START + timedelta(days=int(r.query_id[1:]))).strftime("%Y-%m-%d")
        assert r.role_source is not None
        assert f"date={day}/" in r.source.path and f"date={day}/" in r.role_source.path
    assert _check(evidence).to_json() == whole


def test_the_check_and_the_chart_build_no_object_per_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reads stay a polars frame: a year holds hundreds of thousands of them."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a PhiRead was built")

    monkeypatch.setattr(phi_module, "PhiRead", refused)
    evidence = _daily(6)
    result = _check(evidence)
    assert "error" not in result.details and result.status == "fail"
    assert result.details["phi_reads"] == 6 and result.details["allowed_reads"] == 2
    assert {(f["role"], f["user"]) for f in result.findings} == {
        ("ANALYST", "ALICE"),
        ("ANALYST", "BOB"),
    }
    chart = charts.phi_reads_per_role(evidence)
    assert [(r.role, r.queries, r.column_reads) for r in chart.roles] == [
        ("ANALYST", 4, 4),
        ("PHI_READER", 2, 2),
    ]
