"""History streams read through polars scans (``EvidenceSet.scan``): the period and the
columns pushed into the reader, the same answer from local paths and from a reader, the
digest still checked before polars reads a local file, and checks that read in chunks.

Every test here runs on both read paths (``file_access`` in conftest).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from das_evidence.errors import FormatError, ReportError
from das_evidence.reports import charts
from das_evidence.reports.checks import ALL_CHECKS, _support
from das_evidence.reports.checks.registry import run_checks
from das_evidence.reports.evidence import FILE_COLUMN, EvidenceSet, collect
from das_evidence.verify.files import verified_opener
from tests.unit.reports.checks.cases_cis_monitoring import BACKGROUND, EVENTS
from tests.unit.reports.checks.conftest import END, START, EvidenceBuilder, config, login

DAY = timedelta(days=1)


def _two_windows() -> EvidenceSet:
    b = EvidenceBuilder()
    before = START - timedelta(hours=1)  # a window reaching back past the period's start
    b.history(
        "login_history",
        [
            login(before, "EARLY", "10.0.0.1", ok=True, event_id=1),
            login(START, "ALICE", "10.0.0.1", ok=True, event_id=2),
            login(START + timedelta(hours=5), "BOB", "10.0.0.2", event_id=3),
        ],
        start=before,
        end=START + DAY,
    )
    b.history(
        "login_history",
        [
            # the same event again in an amended window: counted once, by its first row
            login(START + timedelta(hours=5), "BOB", "10.0.0.2", event_id=3),
            login(START + DAY, "CAROL", "10.0.0.3", ok=True, event_id=4),
            login(END, "LATE", "10.0.0.4", ok=True, event_id=5),  # the period's end: out
        ],
        start=START + DAY,
        end=END + DAY,
    )
    return b.build()


def _paths(evidence: EvidenceSet) -> list[str]:
    return [f.path for f in _support.history_files(evidence, "login_history")]


def test_a_scan_keeps_the_periods_rows_of_the_columns_asked_with_their_file() -> None:
    evidence = _two_windows()
    frame = evidence.scan(
        _paths(evidence),
        ["EVENT_ID", "USER_NAME"],
        period=("EVENT_TIMESTAMP", evidence.start, evidence.end),
        where=pl.col("IS_SUCCESS") == "YES",
    )
    got = collect(frame)
    assert got.columns == ["EVENT_ID", "USER_NAME", FILE_COLUMN]
    assert got.rows() == [(2, "ALICE", 0), (4, "CAROL", 1)]


def test_logins_per_day_counts_each_event_once_and_only_in_the_period() -> None:
    chart = charts.logins_per_day(_two_windows())
    counted = {d.day: (d.succeeded, d.failed) for d in chart.days if d.succeeded or d.failed}
    assert counted == {START.date(): (1, 1), (START + DAY).date(): (1, 0)}


def test_a_scan_names_a_missing_column() -> None:
    evidence = _two_windows()
    with pytest.raises(ReportError, match="has no column NO_SUCH_COLUMN"):
        evidence.scan(_paths(evidence), ["NO_SUCH_COLUMN"])


def test_a_local_file_that_no_longer_matches_its_digest_is_not_scanned(tmp_path: Path) -> None:
    """polars reads a local file by its path, but only after ``open`` checked its digest."""
    evidence = _two_windows()
    [first, *_] = evidence.history("login_history")
    path = str(first.files[0]["path"])
    good = evidence.read_bytes(path)
    local = tmp_path / "tampered.parquet"
    local.write_bytes(good.replace(b"ALICE", b"ALICX"))
    store = {path: local}
    signed = {path: (str(first.files[0]["sha256"]), first.index)}
    tampered = EvidenceSet(
        [first],
        lambda p: store[p].read_bytes(),
        start=evidence.start,
        end=evidence.end,
        open=verified_opener(lambda p: store[p].open("rb"), signed),
        local=lambda p: store[p],
    )
    with pytest.raises(FormatError, match="does not match the digest its entry signed"):
        tampered.scan([path], ["EVENT_ID"])
    local.write_bytes(good)
    assert collect(tampered.scan([path], ["EVENT_ID"])).height == 3


@pytest.mark.parametrize("check_id", sorted(EVENTS))
def test_monitoring_checks_read_in_chunks_give_the_same_result(
    check_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file per chunk (a year of large files) and all in one chunk agree."""
    [check] = [c for c in ALL_CHECKS if c.check_id == check_id]
    kind, events = EVENTS[check_id]
    b = EvidenceBuilder()
    b.history(kind, BACKGROUND[kind], start=START, end=START + 3 * DAY)
    b.history(kind, events, start=START + 3 * DAY)
    evidence, ctx = b.build(), config()
    whole = check.run(evidence, ctx)
    monkeypatch.setattr(_support, "CHUNK_ROWS", 1)
    assert check.run(evidence, ctx) == whole
    assert whole.status == "fail"


def test_every_check_runs_on_a_set_of_history_windows() -> None:
    results = run_checks(_two_windows(), config())
    assert {r.check_id for r in results} == {c.check_id for c in ALL_CHECKS}
