"""Failed-login bursts per user and per client IP."""

from __future__ import annotations

from datetime import datetime, timedelta

from das_evidence.reports.checks.logins import (
    FailedLoginBurstsPerIp,
    FailedLoginBurstsPerUser,
    bursts,
)
from tests.unit.reports.checks import cases
from tests.unit.reports.checks.conftest import START, EvidenceBuilder, config, login

PER_USER = FailedLoginBurstsPerUser()
PER_IP = FailedLoginBurstsPerIp()
T = START + timedelta(days=1)
TEN_MINUTES = timedelta(minutes=10)


def _times(*seconds: int) -> list[datetime]:
    return [T + timedelta(seconds=s) for s in seconds]


def test_ten_failures_within_ten_minutes_is_a_burst_nine_is_not() -> None:
    ten = _times(*(60 * k for k in range(10)))  # 0 .. 540 s
    assert bursts(ten, 10, TEN_MINUTES) == [(0, 10)]
    assert bursts(ten[:9], 10, TEN_MINUTES) == []
    spread = _times(*(70 * k for k in range(10)))  # 630 s from first to last
    assert bursts(spread, 10, TEN_MINUTES) == []
    edge = _times(*(600 * k // 9 for k in range(10)))  # exactly 600 s: within
    assert bursts(edge, 10, TEN_MINUTES) == [(0, 10)]


def test_overlapping_bursts_merge_and_separate_ones_do_not() -> None:
    first = list(range(0, 30 * 15, 30))  # 15 failures, 30 s apart
    second = [3600 + s for s in range(0, 100, 10)]  # an hour later, 10 more
    spans = bursts(_times(*first, *second), 10, TEN_MINUTES)
    assert spans == [(0, 15), (15, 25)]


def test_per_user_finds_the_burst_with_its_ip_and_events() -> None:
    evidence, cfg = cases.bursts_fail()
    result = PER_USER.run(evidence, cfg)
    assert result.status == "fail"
    [burst] = result.findings
    assert burst["user"] == "DAVE_ADMIN"
    assert burst["failures"] == 12
    assert burst["client_ips"] == [cases.BURST_IP]
    assert burst["first"] == "2026-11-22T09:00:00Z" and burst["seconds"] == 77
    assert burst["event_ids"] == list(range(9000, 9012))
    assert burst["error_codes"] == [390100]
    [ref] = result.evidence
    assert burst["evidence"] == [{"entry": ref.entry, "path": ref.path}]


def test_per_ip_finds_the_same_burst_by_address() -> None:
    evidence, cfg = cases.bursts_fail()
    [burst] = PER_IP.run(evidence, cfg).findings
    assert burst["client_ip"] == cases.BURST_IP and burst["users"] == ["DAVE_ADMIN"]


def test_scattered_failures_pass() -> None:
    evidence, cfg = cases.bursts_pass()
    for check in (PER_USER, PER_IP):
        result = check.run(evidence, cfg)
        assert result.status == "pass", result.summary
        assert result.details["failed_logins"] == 6


def test_password_spraying_is_a_burst_per_ip_but_not_per_user() -> None:
    b = EvidenceBuilder()
    b.history(
        "login_history",
        [login(T + timedelta(seconds=20 * k), f"USER_{k}", "192.0.2.99") for k in range(10)],
    )
    evidence = b.build()
    assert PER_USER.run(evidence, config()).status == "pass"
    [spray] = PER_IP.run(evidence, config()).findings
    assert len(spray["users"]) == 10


def test_a_burst_across_two_windows_is_one_burst() -> None:
    midnight = START + timedelta(days=2)
    rows = [
        login(midnight + timedelta(seconds=30 * k), "DAVE_ADMIN", "203.0.113.45")
        for k in range(-6, 6)
    ]
    b = EvidenceBuilder()
    b.history("login_history", [r for r in rows if r["EVENT_TIMESTAMP"] < midnight], end=midnight)
    b.history(
        "login_history", [r for r in rows if r["EVENT_TIMESTAMP"] >= midnight], start=midnight
    )
    result = PER_USER.run(b.build(), config())
    [burst] = result.findings
    assert burst["failures"] == 12 and len(burst["evidence"]) == 2


def test_threshold_and_window_come_from_the_config() -> None:
    evidence, _ = cases.bursts_fail()
    assert PER_USER.run(evidence, config(failed_login_threshold=13)).status == "pass"
    window = timedelta(seconds=30)  # failures 7 s apart: 5 fit in 30 s
    assert PER_USER.run(evidence, config(failed_login_window=window)).status == "pass"
    five = config(failed_login_threshold=5, failed_login_window=window)
    assert PER_USER.run(evidence, five).status == "fail"


def test_rows_outside_the_period_are_ignored() -> None:
    before = START - timedelta(hours=1)
    b = EvidenceBuilder()
    b.history(
        "login_history",
        [login(before + timedelta(seconds=k), "DAVE_ADMIN", "203.0.113.45") for k in range(20)],
        start=START - timedelta(days=1),
    )
    assert PER_USER.run(b.build(), config()).status == "pass"


def test_no_login_history_is_not_evidenced() -> None:
    result = PER_USER.run(EvidenceBuilder().build(), config())
    assert result.status == "not_evidenced"


def test_a_hole_in_login_history_turns_a_pass_into_not_evidenced() -> None:
    b = EvidenceBuilder()
    b.history("login_history", [], start=START, end=START + timedelta(days=2))
    b.history("login_history", [], start=START + timedelta(days=3))
    result = PER_IP.run(b.build(), config())
    assert result.status == "not_evidenced"
    assert result.details["coverage_holes"] == {
        "snowflake/ACME_PROD/login_history": [
            {"start": "2026-11-22T00:00:00Z", "end": "2026-11-23T00:00:00Z"}
        ]
    }
