"""Stream status: lag, objectives and the stale/fresh transition under an injected clock."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.collectors.interface import Window
from das_evidence.config import Settings
from das_evidence.errors import ConfigError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import PREDICATE_TYPE, ArchiveLog, EvidenceFile, LogEntry
from das_evidence.manifests.merkle import leaf_hash
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.manifests.statement import Statement, Subject, build_statement
from das_evidence.schedules.status import (
    DEFAULT_OBJECTIVE,
    LastRun,
    StatusReport,
    default_objectives,
    expected_streams,
    load_last_run,
    render_json,
    render_prometheus,
    render_table,
    stream_status,
    write_last_run,
)
from das_evidence.streams import POLICY_LATENCY
from das_evidence.timefmt import rfc3339

ORIGIN = "evidence.example.org/status-test"
ACCESS = "snowflake/ACME/access_history"
POLICY = "snowflake/ACME/policy_state"
T0 = datetime(2026, 11, 26, tzinfo=UTC)
H = timedelta(hours=1)


def entry(index: int, stream: str, start: datetime, end: datetime, **extra: Any) -> LogEntry:
    predicate = {
        "stream": stream,
        "window": Window(start, end).to_json(),
        "collected_at": rfc3339(end + 3 * H),
        "log": {"origin": ORIGIN, "index": index},
        **extra,
    }
    data = build_statement(
        [Subject(f"evidence/{index}.parquet", "0" * 64)], PREDICATE_TYPE, predicate
    )
    return LogEntry(index, data, Statement.from_bytes(data), leaf_hash(data))


def day(index: int, stream: str = ACCESS, n: int = 0) -> LogEntry:
    start = T0 + timedelta(days=n)
    return entry(index, stream, start, start + timedelta(days=1))


def test_a_stream_turns_stale_when_the_clock_passes_its_objective() -> None:
    entries = [day(0), day(1, n=1)]
    end = T0 + timedelta(days=2)
    fresh = stream_status(entries, now=end + DEFAULT_OBJECTIVE)
    [s] = fresh.streams
    assert s.last_window_end == end and s.lag == DEFAULT_OBJECTIVE
    assert not s.stale and fresh.ok and fresh.exit_code == 0 and fresh.stale == ()

    late = stream_status(entries, now=end + DEFAULT_OBJECTIVE + timedelta(seconds=1))
    assert late.streams[0].stale and not late.ok and late.exit_code == 1
    assert late.stale == (ACCESS,)

    # A new window makes it fresh again at the same clock.
    again = stream_status([*entries, day(2, n=2)], now=end + DEFAULT_OBJECTIVE + H)
    assert again.ok and again.streams[0].lag == DEFAULT_OBJECTIVE + H - timedelta(days=1)


def test_per_stream_fields_are_the_newest_entry() -> None:
    entries = [day(0), entry(1, POLICY, T0, T0), day(2, n=1)]
    report = stream_status(entries, now=T0 + timedelta(days=2))
    access, policy = report.streams
    assert (access.stream, access.entries, access.last_index) == (ACCESS, 2, 2)
    assert access.last_collected_at == T0 + timedelta(days=2) + 3 * H
    assert not access.point_in_time
    assert (policy.stream, policy.entries, policy.last_index) == (POLICY, 1, 1)
    assert policy.point_in_time and policy.last_window_end == T0
    assert policy.lag == timedelta(days=2)


def test_an_expected_stream_with_no_entry_is_stale() -> None:
    report = stream_status([day(0)], now=T0 + 2 * H, expected=[ACCESS, POLICY])
    assert report.stale == (POLICY,)
    policy = report.streams[1]
    assert policy.entries == 0 and policy.lag is None and policy.last_window_end is None


def test_an_amendment_counts_but_does_not_move_the_end() -> None:
    amendment = entry(1, ACCESS, T0 + timedelta(days=5), T0 + timedelta(days=6), amends=0)
    [s] = stream_status([day(0), amendment], now=T0 + 2 * H).streams
    assert s.entries == 2 and s.last_index == 1
    assert s.last_window_end == T0 + timedelta(days=1)


def test_dbt_invocations_are_one_status_per_project() -> None:
    old = entry(0, "dbt/shop/aaaa", T0, T0)
    new = entry(1, "dbt/shop/bbbb", T0 + 20 * H, T0 + 20 * H)
    report = stream_status([new, old], now=T0 + 30 * H, expected=["dbt/shop"])
    [s] = report.streams
    assert s.stream == "dbt/shop" and s.entries == 2
    assert s.last_window_end == T0 + 20 * H and not s.stale


def test_objectives_exact_name_first_then_glob_on_name_or_last_part() -> None:
    entries = [day(0), entry(1, POLICY, T0, T0), day(2, "snowflake/ACME/login_history")]
    objectives = {
        "*history": 10 * H,
        ACCESS: 100 * H,
        "snowflake/*/policy_state": 50 * H,
    }
    report = stream_status(entries, now=T0 + 40 * H, objectives=objectives, objective=H)
    by = {s.stream: s for s in report.streams}
    assert by[ACCESS].objective == 100 * H and not by[ACCESS].stale
    assert by["snowflake/ACME/login_history"].objective == 10 * H
    assert by["snowflake/ACME/login_history"].stale
    assert by[POLICY].objective == 50 * H and not by[POLICY].stale


def test_status_of_a_real_archive_agrees_with_the_log(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive", create=True)
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    archive = ArchiveLog(store, ORIGIN)
    for i, (stream, window) in enumerate(
        [
            (ACCESS, Window(T0, T0 + 6 * H)),
            (POLICY, Window(T0 + 4 * H, T0 + 4 * H)),
            (ACCESS, Window(T0 + 6 * H, T0 + 9 * H)),
        ]
    ):
        f = EvidenceFile(f"evidence/{i}.json", "ab" * 32, 2, "application/json", None)
        archive.append(
            stream=stream,
            files=[f],
            predicate={"window": window.to_json(), "collected_at": rfc3339(T0 + 12 * H)},
            signer=signer,
            note_signer=signer,
        )
    reloaded = ArchiveLog(store, ORIGIN)
    report = stream_status(reloaded.entries, now=T0 + 12 * H)
    for s in report.streams:
        assert s.last_window_end == reloaded.stream_end(s.stream)
    assert [s.last_index for s in report.streams] == [2, 1]


def _settings(**extra: Any) -> Settings:
    # model_validate: no EVIDENCE_* variables of the test environment leak in.
    return Settings.model_validate(
        {"log": {"origin": ORIGIN}, "snowflake": {"account": "ACME"}, **extra}
    )


def test_expected_streams_follow_the_configuration() -> None:
    s = _settings(
        streams={"sessions": {"enabled": False}},
        dbt=[{"project": "shop", "target_dir": "target"}],
    )
    assert expected_streams(s) == [
        "snowflake/ACME/access_history",
        "snowflake/ACME/login_history",
        "snowflake/ACME/query_history",
        "snowflake/ACME/trust_center_findings",
        "snowflake/ACME/policy_state",
        "dbt/shop",
    ]


def test_default_objectives_allow_for_each_streams_own_latency() -> None:
    s = _settings(streams={"login_history": {"safety": "5h"}, "policy_state": {"interval": "3d"}})
    got = default_objectives(s, objective=26 * H, configured={"*query_history": 30 * H})
    assert got["snowflake/ACME/access_history"] == 26 * H + 3 * H
    assert got["snowflake/ACME/login_history"] == 26 * H + 5 * H
    assert got["snowflake/ACME/query_history"] == 30 * H  # configured: taken as written
    assert got["snowflake/ACME/policy_state"] == 26 * H + POLICY_LATENCY + timedelta(days=2)
    assert got["*query_history"] == 30 * H


def test_a_nightly_run_is_not_stale_just_before_the_next_one() -> None:
    # Nightly at 03:15 with a 3 h safety margin: the window ends at 00:15, and the
    # next run is 24 h later, when the lag is 27 h.
    s = _settings()
    entries = [entry(0, "snowflake/ACME/access_history", T0 - 6 * H, T0 + timedelta(minutes=15))]
    before_next = T0 + timedelta(days=1, hours=3, minutes=14)
    tuned = stream_status(entries, now=before_next, objectives=default_objectives(s))
    assert tuned.ok
    plain = stream_status(entries, now=before_next)
    assert not plain.ok


def test_last_run_round_trips_and_shows_in_the_report(tmp_path: Path) -> None:
    path = tmp_path / "state" / "last-run.json"
    run = LastRun("nightly", T0, T0 + H, 0, entries_written=4, failed_streams=0, verify_ok=True)
    write_last_run(path, run)
    assert [p.name for p in path.parent.iterdir()] == ["last-run.json"]
    loaded = load_last_run(path)
    assert loaded == run.to_json()
    loaded = {**(loaded or {}), "nested": {"not": "kept"}}
    report = stream_status([day(0)], now=T0 + 2 * H, last_verification=loaded)
    assert report.last_run == run.to_json()
    assert json.loads(render_json(report))["last_run"]["schedule"] == "nightly"
    assert "last run: " in render_table(report)


def test_a_last_run_record_that_cannot_be_written_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the directory should be")
    path = tmp_path / "state" / "last-run.json"
    with pytest.raises(ConfigError, match="cannot write the last-run record") as e:
        write_last_run(path, LastRun("nightly", T0, T0 + H, 0))
    assert str(path) in e.value.message and e.value.fix and "last_run_file" in e.value.fix
    (tmp_path / "dir.json").mkdir()  # the rename fails: no temporary file stays behind
    with pytest.raises(ConfigError):
        write_last_run(tmp_path / "dir.json", LastRun("nightly", T0, T0 + H, 0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.json", "state"]


def test_a_missing_or_damaged_last_run_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert load_last_run(None) is None
    assert load_last_run(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert load_last_run(bad) is None
    assert "ignoring last-run record" in caplog.text
    (tmp_path / "list.json").write_text("[1]")
    assert load_last_run(tmp_path / "list.json") is None


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        stream_status([], now=datetime(2026, 1, 1))


# --- Prometheus exposition: parsed line by line ---------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_exposition(text: str) -> dict[str, dict[str, Any]]:
    """A strict reader of the text format: HELP and TYPE before a family's samples."""
    assert text.endswith("\n")
    families: dict[str, dict[str, Any]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert name not in families, f"family {name} repeated"
            families[name] = {"help": help_, "type": None, "samples": []}
            current = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name == current and kind in ("gauge", "counter"), line
            families[name]["type"] = kind
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name, labels_text, value = m.groups()
            assert name == current and families[name]["type"], f"{name} before HELP/TYPE"
            labels: dict[str, str] = {}
            if labels_text:
                pos = 0
                while pos < len(labels_text):
                    lm = _LABEL.match(labels_text, pos)
                    assert lm, f"bad labels {labels_text!r}"
                    labels[lm.group(1)] = _unescape(lm.group(2))
                    pos = lm.end()
            families[name]["samples"].append((labels, float(value)))
    return families


def _report() -> StatusReport:
    odd = 'snowflake/AC"ME\\x/access_history\nsecond'
    entries = [day(0), entry(1, odd, T0, T0 + H)]
    run = LastRun("nightly", T0, T0 + 30 * H, 1, verify_ok=False).to_json()
    return stream_status(
        entries, now=T0 + 30 * H, expected=[POLICY], objective=26 * H, last_verification=run
    )


def test_prometheus_output_is_valid_exposition_with_escaped_labels() -> None:
    fam = parse_exposition(render_prometheus(_report()))
    odd = 'snowflake/AC"ME\\x/access_history\nsecond'
    lag = dict((lb["stream"], v) for lb, v in fam["evidence_stream_lag_seconds"]["samples"])
    assert lag == {ACCESS: 6 * 3600, odd: 29 * 3600, POLICY: float("inf")}
    stale = dict((lb["stream"], v) for lb, v in fam["evidence_stream_stale"]["samples"])
    assert stale == {ACCESS: 0, odd: 1, POLICY: 1}
    entries = dict((lb["stream"], v) for lb, v in fam["evidence_stream_entries"]["samples"])
    assert entries == {ACCESS: 1, odd: 1, POLICY: 0}
    ends = fam["evidence_stream_last_window_end_timestamp_seconds"]["samples"]
    assert dict((lb["stream"], v) for lb, v in ends) == {
        ACCESS: (T0 + timedelta(days=1)).timestamp(),
        odd: (T0 + H).timestamp(),
    }
    assert fam["evidence_streams_stale"]["samples"] == [({}, 2)]
    assert fam["evidence_last_run_exit_code"]["samples"] == [({}, 1)]
    assert fam["evidence_last_run_verify_ok"]["samples"] == [({}, 0)]
    assert fam["evidence_last_run_finished_timestamp_seconds"]["samples"] == [
        ({}, (T0 + 30 * H).timestamp())
    ]
    assert all(f["type"] == "gauge" and f["help"] for f in fam.values())


def test_prometheus_without_a_last_run_has_no_run_metrics() -> None:
    fam = parse_exposition(render_prometheus(stream_status([day(0)], now=T0)))
    assert not [n for n in fam if n.startswith("evidence_last_run")]


def test_table_and_json_show_each_stream_and_the_verdict() -> None:
    report = _report()
    table = render_table(report)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["STREAM", "LAST"]
    policy_row = next(line for line in lines if line.startswith(POLICY))
    assert policy_row.split()[-1] == "STALE" and "never" in policy_row
    access_row = next(line for line in lines if line.startswith(ACCESS))
    assert access_row.split()[-1] == "ok" and "6h 00m" in access_row
    assert len(lines) == 1 + 3 + 2  # header, three streams, last run, verdict
    assert (
        sum(1 for line in lines if line.startswith('snowflake/AC"ME\\x/access_history\\nsecond '))
        == 1
    )
    assert lines[-1].startswith("status at 2026-11-27T06:00:00Z: STALE")
    data = json.loads(render_json(report))
    assert data["ok"] is False and POLICY in data["stale"]
    assert {s["stream"]: s["lag_seconds"] for s in data["streams"]}[POLICY] is None
