"""Evidence gaps and stale streams."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from das_evidence.reports.checks.completeness import EvidenceGaps, StaleStreams
from tests.unit.reports.checks import cases
from tests.unit.reports.checks.conftest import (
    END,
    NOW,
    START,
    EvidenceBuilder,
    config,
    user,
)

GAPS = EvidenceGaps()
STALE = StaleStreams()


def test_a_hole_between_windows_is_a_gap_with_the_entries_around_it() -> None:
    evidence, cfg = cases.gaps_fail()
    result = GAPS.run(evidence, cfg)
    assert result.status == "fail"
    [gap] = result.findings
    assert gap == {
        "stream": "snowflake/ACME_PROD/access_history",
        "kind": "gap",
        "start": "2026-11-22T03:00:00Z",
        "end": "2026-11-23T00:00:00Z",
        "hours": 21.0,
    }
    bounding = {r.path.rsplit("/", 1)[1] for r in result.evidence if "access_history" in r.path}
    assert bounding == {
        "20261120T000000Z_20261122T030000Z.parquet",
        "20261123T000000Z_20261126T210000Z.parquet",
    }
    assert STALE.run(evidence, cfg).status == "pass"  # a gap is not staleness


def test_contiguous_streams_pass() -> None:
    evidence, cfg = cases.gaps_pass()
    result = GAPS.run(evidence, cfg)
    assert result.status == "pass"
    assert result.details["horizon"] == "2026-11-25T22:00:00Z"  # end - 26 h
    assert len(result.details["streams"]) == 5


def test_a_required_stream_with_no_entry_is_a_gap_and_stale() -> None:
    b = EvidenceBuilder()
    for kind in ("access_history", "login_history", "query_history"):
        b.history(kind)
    cases._snapshots_daily(b)
    evidence = b.build()
    [gap] = GAPS.run(evidence, config()).findings
    assert gap["stream"] == "snowflake/*/sessions" and gap["kind"] == "missing"
    [stale] = STALE.run(evidence, config()).findings
    assert stale["stream"] == "snowflake/*/sessions" and stale["last_evidence"] is None
    # Not required: no finding.
    fewer = config(required_streams=("access_history",))
    assert GAPS.run(evidence, fewer).status == "pass"


def test_an_expected_stream_without_entries_is_missing() -> None:
    b = EvidenceBuilder()
    b.all_history()
    cases._snapshots_daily(b)
    evidence = b.build(streams_expected=["snowflake/OTHER_ACCOUNT/login_history"])
    [gap] = GAPS.run(evidence, config()).findings
    assert gap["stream"] == "snowflake/OTHER_ACCOUNT/login_history"


def _daily_snapshots(b: EvidenceBuilder, *days: int, baseline: bool = False) -> None:
    """Snapshots an hour into the given days of the period, each compared with the last."""
    since: datetime | None = None
    for d in days:
        as_of = START + timedelta(days=d, hours=1)
        changes: list[dict[str, Any]] | None = None if baseline and since is None else []
        b.snapshot(as_of, {"USERS": [user("A")]}, changes=changes, since=since)
        since = as_of


def test_policy_snapshots_further_apart_than_stale_after_leave_a_gap() -> None:
    b = EvidenceBuilder()
    b.all_history()
    _daily_snapshots(b, 0, 3, 4, 5, 6)  # none on the 21st and 22nd
    [gap] = GAPS.run(b.build(), config()).findings
    assert gap["stream"] == "snowflake/ACME_PROD/policy_state"
    assert (gap["start"], gap["end"]) == ("2026-11-21T03:00:00Z", "2026-11-23T01:00:00Z")


def test_a_first_snapshot_inside_the_period_leaves_a_leading_gap() -> None:
    b = EvidenceBuilder()
    b.all_history()
    _daily_snapshots(b, 2, 3, 4, 5, 6, baseline=True)  # the stream began on the 22nd
    [gap] = GAPS.run(b.build(), config()).findings
    assert (gap["start"], gap["end"]) == ("2026-11-20T00:00:00Z", "2026-11-22T01:00:00Z")


def test_a_stream_that_stopped_is_stale_not_a_gap() -> None:
    evidence, cfg = cases.stale_fail()
    result = STALE.run(evidence, cfg)
    assert result.status == "fail"
    [stale] = result.findings
    assert stale["stream"] == "snowflake/ACME_PROD/login_history"
    assert stale["last_evidence"] == "2026-11-24T00:00:00Z" and stale["age_hours"] == 72.0
    assert GAPS.run(evidence, cfg).status == "pass"


def test_fresh_streams_pass() -> None:
    evidence, cfg = cases.stale_pass()
    result = STALE.run(evidence, cfg)
    assert result.status == "pass"
    assert result.details["last_evidence"]["snowflake/ACME_PROD/policy_state"] == (
        "2026-11-26T01:00:00Z"
    )


def test_a_stale_policy_snapshot_is_found() -> None:
    b = EvidenceBuilder()
    b.all_history()
    b.snapshot(END - timedelta(days=2), {"USERS": [user("A")]}, changes=[])
    [stale] = STALE.run(b.build(), config()).findings
    assert stale["stream"] == "snowflake/ACME_PROD/policy_state" and stale["point_in_time"]


def test_staleness_is_judged_at_the_earlier_of_now_and_the_period_end() -> None:
    evidence, _ = cases.stale_pass()
    later = config(now=NOW + timedelta(days=30))  # a report on a past period
    assert STALE.run(evidence, later).status == "pass"
    early = config(now=END - timedelta(days=3))  # now inside the period: less is expected
    stale_evidence, _ = cases.stale_fail()
    assert STALE.run(stale_evidence, early).status == "pass"


def test_dbt_streams_are_not_expected_to_be_continuous() -> None:
    evidence, cfg = cases.gaps_pass()
    b = EvidenceBuilder()
    b.entries, b.files = list(evidence.entries), {}
    b.dbt(START + timedelta(days=1))
    streams = GAPS.run(b.build(), cfg).details["streams"]
    assert not any(s.startswith("dbt/") for s in streams)
