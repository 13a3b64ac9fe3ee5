"""Is the evidence of the period complete? Gaps between windows, and streams gone stale.

Streams considered: every Snowflake stream with entries in the set, every stream
the set was told to expect (``EvidenceSet.streams_expected``), and one per kind in
``required_streams`` that has no stream at all (named ``snowflake/*/<kind>``).
dbt streams are left out: an invocation happens when dbt runs, not on a schedule.

Coverage: a history window covers its ``[start, end)``; a policy-state snapshot
covers ``[as_of, as_of + stale_after)``, and so does the earlier snapshot it was
compared with (``changes.since``), which is how a snapshot taken just before the
period covers its start. Evidence is expected from the period start
up to the horizon, ``min(now, period end) - stale_after`` (the views' latency and
one missed run fit in ``stale_after``). A hole that ends where the stream's evidence
ends is staleness, reported by ``stale-streams``; every other hole, and a stream
with no entry in the period, is a gap.

| check | SOC 2 | HIPAA |
|---|---|---|
| ``evidence-gaps`` | CC7.2 (system components are monitored), CC4.1 (monitoring is evaluated) | 164.312(b) audit controls, 164.308(a)(1)(ii)(D) activity review |
| ``stale-streams`` | CC7.2, CC4.1, A1.2 (the archive is the retained copy of logs ACCOUNT_USAGE keeps for a year: its collection is a backup process that must be monitored) | 164.312(b), 164.308(a)(1)(ii)(D) |
"""  # noqa: E501

from __future__ import annotations

from datetime import datetime
from typing import Any

from das_evidence.reports.checks._support import (
    POINT_IN_TIME_KINDS,
    covered,
    ts,
    uncovered,
)
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef
from das_evidence.streams import StreamId

_HIPAA = ("164.312(b)", "164.308(a)(1)(ii)(D)")


def _is_dbt(stream: str) -> bool:
    sid = StreamId.try_parse(stream)
    return sid is not None and sid.is_dbt


def _kind(stream: str) -> str:
    sid = StreamId.try_parse(stream)
    return sid.kind if sid is not None else stream


def expected_streams(evidence: EvidenceSet, ctx: CheckContext) -> dict[str, list[EvidenceEntry]]:
    """Stream -> its entries in the period (possibly none), dbt streams left out."""
    streams = {s: e for s, e in evidence.streams().items() if not _is_dbt(s)}
    for s in evidence.streams_expected:
        if not _is_dbt(s):
            streams.setdefault(s, [])
    kinds = {_kind(s) for s in streams}
    for kind in ctx.settings.required_streams:
        if kind not in kinds:
            streams[str(StreamId.snowflake("*", kind))] = []
    return dict(sorted(streams.items()))


def _hours(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() / 3600, 2)


def _bounding(entries: list[EvidenceEntry], at: datetime, ctx: CheckContext) -> list[EvidenceRef]:
    """The files of the entries whose coverage ends or starts at ``at``."""
    refs: list[EvidenceRef] = []
    for e in entries:
        end = e.end if e.end > e.start else e.start + ctx.settings.stale_after
        if at in (e.start, end):
            refs.extend(e.refs())
    return refs


class EvidenceGaps(Check):
    """Holes in a stream's coverage of the period, and expected streams with no entry."""

    check_id = "evidence-gaps"
    reads = ("every stream: the log entries' windows and as_of",)
    title = "Evidence gaps in the period"
    control = Control(soc2=("CC7.2", "CC4.1"), hipaa=_HIPAA)

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        streams = expected_streams(evidence, ctx)
        if not streams:
            return self.not_evidenced("no stream in the period and none expected")
        horizon = ctx.horizon(evidence)
        findings: list[dict[str, Any]] = []
        refs: list[EvidenceRef] = []
        for stream, entries in streams.items():
            if not entries:
                findings.append(
                    {
                        "stream": stream,
                        "kind": "missing",
                        "start": ts(evidence.start),
                        "end": ts(max(horizon, evidence.start)),
                        "hours": _hours(evidence.start, max(horizon, evidence.start)),
                    }
                )
                continue
            spans = covered(entries, ctx.settings.stale_after)
            stale = spans[-1][1] <= horizon
            for s, e in uncovered(spans, evidence.start, horizon):
                if stale and e == horizon:
                    continue  # the stream stopped: that is stale-streams' finding
                findings.append(
                    {
                        "stream": stream,
                        "kind": "gap",
                        "start": ts(s),
                        "end": ts(e),
                        "hours": _hours(s, e),
                    }
                )
                refs.extend(_bounding(entries, s, ctx) + _bounding(entries, e, ctx))
            refs.extend(entries[-1].refs())
        details = {
            "period": {"start": ts(evidence.start), "end": ts(evidence.end)},
            "horizon": ts(horizon),
            "streams": list(streams),
        }
        if findings:
            names = sorted({f["stream"] for f in findings})
            return self.result(
                "fail",
                f"{len(findings)} gap(s) in the evidence of {len(names)} stream(s): "
                + ", ".join(names),
                findings=findings,
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"all {len(streams)} streams cover the period up to {ts(horizon)} without gaps",
            evidence=refs,
            details=details,
        )


class StaleStreams(Check):
    """Streams whose evidence ends before the horizon (no entry for ``stale_after``)."""

    check_id = "stale-streams"
    reads = ("every stream: the log entries' windows and as_of",)
    title = "Stale evidence streams"
    control = Control(soc2=("CC7.2", "CC4.1", "A1.2"), hipaa=_HIPAA)

    def run(self, evidence: EvidenceSet, ctx: CheckContext) -> CheckResult:
        streams = expected_streams(evidence, ctx)
        if not streams:
            return self.not_evidenced("no stream in the period and none expected")
        reference = min(ctx.now, evidence.end)
        horizon = ctx.horizon(evidence)
        findings: list[dict[str, Any]] = []
        refs: list[EvidenceRef] = []
        latest: dict[str, str | None] = {}
        for stream, entries in streams.items():
            # How far the evidence reaches: a window's end, a snapshot's as_of.
            last = max(entries, key=lambda e: (e.end, e.index)) if entries else None
            latest[stream] = ts(last.end) if last else None
            if last is not None:
                refs.extend(last.refs())
            if last is None or last.end < horizon:
                findings.append(
                    {
                        "stream": stream,
                        "point_in_time": _kind(stream) in POINT_IN_TIME_KINDS,
                        "last_evidence": latest[stream],
                        "last_entry": last.index if last else None,
                        "age_hours": _hours(last.end, reference) if last else None,
                    }
                )
        details = {
            "reference_time": ts(reference),
            "horizon": ts(horizon),
            "stale_after_hours": _hours(horizon, reference),
            "last_evidence": latest,
        }
        if findings:
            names = ", ".join(f["stream"] for f in findings)
            return self.result(
                "fail",
                f"{len(findings)} stream(s) have no evidence since {ts(horizon)}: {names}",
                findings=findings,
                evidence=refs,
                details=details,
            )
        return self.result(
            "pass",
            f"every one of {len(streams)} streams has evidence after {ts(horizon)}",
            evidence=refs,
            details=details,
        )
