"""Failed-login bursts in LOGIN_HISTORY, per user and per client IP.

A burst is at least ``failed_login_threshold`` failed logins (``IS_SUCCESS = 'NO'``)
whose first and last lie at most ``failed_login_window`` apart; overlapping bursts
of one user (or IP) are reported as one finding. Rows are pooled over every window
of the period first, so a burst that straddles two windows is still found.

A pass needs LOGIN_HISTORY to cover the period up to the staleness horizon (see
``completeness``); where it has holes, no burst found means ``not_evidenced``.

| check | SOC 2 | HIPAA |
|---|---|---|
| ``failed-login-bursts-per-user`` | CC6.1, CC7.2 (anomalies are detected) | 164.308(a)(5)(ii)(C) log-in monitoring, 164.308(a)(1)(ii)(D) activity review |
| ``failed-login-bursts-per-ip`` | CC6.1, CC7.2 | 164.308(a)(5)(ii)(C), 164.308(a)(1)(ii)(D) |
"""  # noqa: E501

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import polars as pl

from das_evidence.reports.checks._support import (
    HistoryFile,
    collect_history,
    coverage_holes,
    history_files,
    holes_json,
    ts,
)
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.evidence import FILE_COLUMN, EvidenceSet
from das_evidence.reports.model import CheckResult, Control

MAX_LISTED = 50  # event ids listed per finding; the count is always complete

_COLUMNS = ("EVENT_ID", "EVENT_TIMESTAMP", "USER_NAME", "CLIENT_IP", "ERROR_CODE")


@dataclass(frozen=True)
class _Failure:
    at: datetime
    event_id: int | None
    user: str | None
    ip: str | None
    error_code: int | None
    source: HistoryFile


def bursts(times: Sequence[datetime], threshold: int, window: timedelta) -> list[tuple[int, int]]:
    """Index ranges ``[i, j)`` of sorted ``times`` holding a burst, overlapping ones merged."""
    spans: list[tuple[int, int]] = []
    j = 0
    for i in range(len(times)):
        while j < len(times) and times[j] - times[i] <= window:
            j += 1
        if j - i >= threshold:
            if spans and i < spans[-1][1]:
                spans[-1] = (spans[-1][0], j)
            else:
                spans.append((i, j))
    return spans


class _FailedLoginBursts(Check):
    dimension: ClassVar[str]  # "user" or "client_ip"
    control = Control(
        soc2=("CC6.1", "CC7.2"), hipaa=("164.308(a)(5)(ii)(C)", "164.308(a)(1)(ii)(D)")
    )

    @abstractmethod
    def key(self, failure: _Failure) -> str | None:
        """What bursts are grouped by."""

    @abstractmethod
    def other(self, failure: _Failure) -> tuple[str, str | None]:
        """The other dimension, listed in each finding: ``(field name, value)``."""

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        settings = ctx.settings
        files = history_files(evidence, "login_history")
        if not files:
            return self.not_evidenced("no LOGIN_HISTORY window in the period")
        failures: dict[str | None, list[_Failure]] = {}
        total = 0
        # Only the failed logins leave polars: a year of LOGIN_HISTORY is scanned, not loaded.
        failed = pl.col("IS_SUCCESS").str.to_uppercase() == "NO"
        rows = collect_history(evidence, files, _COLUMNS, "EVENT_TIMESTAMP", where=failed)
        for r in rows.iter_rows(named=True):
            failure = _Failure(
                r["EVENT_TIMESTAMP"],
                r["EVENT_ID"],
                r["USER_NAME"],
                r["CLIENT_IP"],
                r["ERROR_CODE"],
                files[r[FILE_COLUMN]],
            )
            failures.setdefault(self.key(failure), []).append(failure)
            total += 1

        findings = []
        for key in sorted(failures, key=lambda k: (k is None, k or "")):
            events = sorted(failures[key], key=lambda x: (x.at, x.event_id or 0))
            times = [e.at for e in events]
            spans = bursts(times, settings.failed_login_threshold, settings.failed_login_window)
            for i, j in spans:
                findings.append(self._finding(key, events[i:j]))
        refs = [f.ref for f in files]
        holes = coverage_holes(
            evidence, "login_history", ctx.horizon(evidence), settings.stale_after
        )
        details: dict[str, Any] = {
            "failed_logins": total,
            "threshold": settings.failed_login_threshold,
            "window_seconds": int(settings.failed_login_window.total_seconds()),
            "coverage_holes": {s: holes_json(h) for s, h in holes.items()},
        }
        if findings:
            keys = sorted({str(f[self.dimension]) for f in findings})
            return self.result(
                "fail",
                f"{len(findings)} failed-login burst(s) of at least "
                f"{settings.failed_login_threshold} within "
                f"{_minutes(settings.failed_login_window)} by {self.dimension}: {', '.join(keys)}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        if holes:
            return self.not_evidenced(
                "no failed-login burst in the evidenced windows, but LOGIN_HISTORY does not "
                "cover the whole period: " + ", ".join(sorted(holes)),
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"no {self.dimension} had {settings.failed_login_threshold} failed logins within "
            f"{_minutes(settings.failed_login_window)} ({total} failed logins in the period)",
            evidence=refs,
            details=details,
        )

    def _finding(self, key: str | None, events: list[_Failure]) -> dict[str, Any]:
        other_name = self.other(events[0])[0]
        sources = sorted({(e.source.entry.index, e.source.path) for e in events})
        return {
            self.dimension: key,
            "failures": len(events),
            "first": ts(events[0].at),
            "last": ts(events[-1].at),
            "seconds": int((events[-1].at - events[0].at).total_seconds()),
            other_name: sorted({str(v) for e in events if (v := self.other(e)[1]) is not None}),
            "error_codes": sorted({e.error_code for e in events if e.error_code is not None}),
            "event_ids": [e.event_id for e in events[:MAX_LISTED]],
            "evidence": [{"entry": i, "path": p} for i, p in sources],
        }


def _minutes(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    return f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"


class FailedLoginBurstsPerUser(_FailedLoginBursts):
    """Bursts of failed logins against one user name (password guessing on an account)."""

    check_id = "failed-login-bursts-per-user"
    reads = ("stream login_history (ACCOUNT_USAGE.LOGIN_HISTORY)",)
    title = "Failed-login bursts per user"
    dimension = "user"

    def key(self, failure: _Failure) -> str | None:
        return failure.user

    def other(self, failure: _Failure) -> tuple[str, str | None]:
        return "client_ips", failure.ip


class FailedLoginBurstsPerIp(_FailedLoginBursts):
    """Bursts of failed logins from one client IP (guessing, or spraying across users)."""

    check_id = "failed-login-bursts-per-ip"
    reads = ("stream login_history (ACCOUNT_USAGE.LOGIN_HISTORY)",)
    title = "Failed-login bursts per client IP"
    dimension = "client_ip"

    def key(self, failure: _Failure) -> str | None:
        return failure.ip

    def other(self, failure: _Failure) -> tuple[str, str | None]:
        return "users", failure.user
