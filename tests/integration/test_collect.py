"""`evidence collect` and `evidence verify` against the fake Snowflake over HTTP."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from das_evidence.collectors.snowflake.history import WINDOW_GRID, floor_to, plan_windows
from das_evidence.demo.seed import DEFAULT_PHI_CANARY
from das_evidence.manifests.dsse import Envelope
from das_evidence.manifests.statement import Statement
from das_evidence.streams import DOCUMENTED_LATENCY, HISTORY_STREAMS
from das_evidence.timefmt import parse_rfc3339
from tests.integration.conftest import START, T0, Env

STREAMS = HISTORY_STREAMS


def windows_by_stream(env: Env) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for path in env.entries():
        p = Statement.from_bytes(Envelope.from_bytes(path.read_bytes()).payload).predicate
        if p["window"]["start"] == p["window"]["end"]:
            continue  # point-in-time snapshots are not windows over history
        stream = p["stream"].split("/")[-1]
        out.setdefault(stream, []).append((p["window"]["start"], p["window"]["end"]))
    return out


def expected_windows(stream: str, now: datetime, start: datetime = START) -> list[tuple[str, str]]:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return [
        (w.start.strftime(fmt), w.end.strftime(fmt))
        for w in plan_windows(start, now, DOCUMENTED_LATENCY[stream])
    ]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_collect_twice_adds_nothing_and_verifies(env: Env, eaf_verify: Path) -> None:
    first = env.cli("collect")
    assert first.returncode == 0, first.stderr
    assert windows_by_stream(env) == {s: expected_windows(s, T0) for s in STREAMS}
    before = snapshot(env.archive)

    second = env.cli("collect", "--json")
    assert second.returncode == 0, second.stderr
    assert all(s["entries"] == [] for s in json.loads(second.stdout)["streams"])
    assert snapshot(env.archive) == before

    verified = env.cli("verify", str(env.archive), "--pub", str(env.pub), "--json")
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["verdict"] == "pass"

    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(env.archive), "--pub", str(env.pub)],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout + checker.stderr


def test_advancing_the_clock_two_days_adds_exactly_the_new_windows(env: Env) -> None:
    assert env.cli("collect").returncode == 0
    before = windows_by_stream(env)
    later = T0 + timedelta(days=2)
    result = env.cli("collect", now=later)
    assert result.returncode == 0, result.stderr
    after = windows_by_stream(env)
    for stream in STREAMS:
        old, new = before[stream], after[stream][len(before[stream]) :]
        assert after[stream][: len(old)] == old
        assert new, stream
        assert new[0][0] == old[-1][1], f"{stream}: new windows do not start at the old end"
        assert new == expected_windows(stream, later, start=parse_rfc3339(old[-1][1]))
        # Contiguous and at most a day each, cut at midnight.
        for (_, end), (start, _) in pairwise(new):
            assert end == start
        # The trailing window ends on the hour, whatever minute the run starts.
        horizon = floor_to(later - DOCUMENTED_LATENCY[stream], WINDOW_GRID)
        assert new[-1][1] == horizon.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert env.cli("verify", str(env.archive), "--pub", str(env.pub)).returncode == 0


def test_sigkill_at_random_points_is_completed_by_the_next_collect(env: Env) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    kills = 0
    # Start collect again and again, each time killed at a random moment, until a
    # run gets to finish on its own; each killed run leaves whatever it had written.
    for _ in range(40):
        proc = env.popen("collect")
        try:
            proc.wait(timeout=rng.uniform(0.4, 1.6))
            break
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            kills += 1
    final = env.cli("collect")
    assert final.returncode == 0, f"seed {seed}: {final.stderr}"
    assert kills >= 2, f"seed {seed}: collect finished before it could be killed"
    assert windows_by_stream(env) == {s: expected_windows(s, T0) for s in STREAMS}, seed
    verified = env.cli("verify", str(env.archive), "--pub", str(env.pub))
    assert verified.returncode == 0, f"seed {seed}: {verified.stdout}"


def test_a_missing_column_fails_only_that_stream_and_an_extra_one_is_ignored(env: Env) -> None:
    env.fake.duck.execute("ALTER TABLE SNOWFLAKE.ACCOUNT_USAGE.LOGIN_HISTORY DROP COLUMN CLIENT_IP")
    env.fake.duck.execute(
        "ALTER TABLE SNOWFLAKE.ACCOUNT_USAGE.ACCESS_HISTORY ADD COLUMN SOMETHING_NEW VARCHAR"
    )
    result = env.cli("collect")
    assert result.returncode == 3
    assert "SNOWFLAKE.ACCOUNT_USAGE.LOGIN_HISTORY" in result.stderr
    assert "CLIENT_IP" in result.stderr
    windows = windows_by_stream(env)
    assert "login_history" not in windows
    assert not list(env.archive.glob("evidence/snowflake/*/login_history/**/*"))
    for stream in ("access_history", "query_history", "sessions"):
        assert windows[stream] == expected_windows(stream, T0)
    columns = pq.read_schema(next(env.archive.rglob("access_history/*/*.parquet"))).names
    assert "SOMETHING_NEW" not in columns
    assert env.cli("verify", str(env.archive), "--pub", str(env.pub)).returncode == 0


def test_a_role_that_cannot_read_trust_center_findings_fails_that_stream_naming_the_grant(
    env: Env,
) -> None:
    env.fake.duck.execute("DROP TABLE SNOWFLAKE.ACCOUNT_USAGE.TRUST_CENTER_FINDINGS")
    result = env.cli("collect")
    assert result.returncode == 3
    assert "SNOWFLAKE.ACCOUNT_USAGE.TRUST_CENTER_FINDINGS" in result.stderr
    assert "GRANT APPLICATION ROLE SNOWFLAKE.TRUST_CENTER_VIEWER" in result.stderr
    windows = windows_by_stream(env)
    assert "trust_center_findings" not in windows
    for stream in ("access_history", "login_history", "query_history", "sessions"):
        assert windows[stream] == expected_windows(stream, T0)
    assert env.cli("verify", str(env.archive), "--pub", str(env.pub)).returncode == 0


def test_the_phi_canary_lands_in_no_byte_of_the_archive(env: Env) -> None:
    canary = DEFAULT_PHI_CANARY
    in_source = env.fake.duck.execute(
        "SELECT count(*) FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY "
        "WHERE (QUERY_TEXT LIKE ? OR CAST(BIND_VALUES AS VARCHAR) LIKE ?) "
        "AND START_TIME >= ? AND START_TIME < ?",
        [f"%{canary}%", f"%{canary}%", START, T0 - timedelta(minutes=45)],
    ).fetchone()
    assert in_source and in_source[0] > 0, "the seed must put the canary in collected windows"
    assert env.cli("collect").returncode == 0
    needle = canary.encode()
    files = [p for p in env.archive.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert needle not in path.read_bytes(), path
    hmacs = 0
    for path in env.archive.rglob("*.parquet"):
        table = pq.read_table(path)
        for column in table.columns:
            for value in column.to_pylist():
                assert canary not in str(value), path
        if "QUERY_TEXT_HMAC" in table.column_names:
            hmacs += table.num_rows
    assert hmacs > 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[log\norigin='x'", "not valid TOML"),
        ("[log]\norigin='x'\n[streams.acces_history]\n", "unknown stream 'acces_history'"),
        ("[log]\norigin='x'\n[stor]\nuri='a'\n", "stor: is not a known setting"),
        ("[snowflake]\naccount='A'\n", "log: is required"),
        ("[log]\norigin='x'\n[streams.access_history]\nsafety='1h'\n", "shorter than the view"),
    ],
)
def test_bad_config_is_named_and_nothing_is_written(env: Env, config: str, message: str) -> None:
    env.config.write_text(config)
    result = env.cli("collect")
    assert result.returncode == 2
    assert message in result.stderr
    assert not env.archive.exists()


def test_windows_over_the_row_budget_are_read_in_bounded_queries_from_the_server(
    env: Env,
) -> None:
    """The per-minute histogram (rows and text bytes: TO_VARCHAR of the ARRAY and OBJECT
    columns) runs on the server; the sub-range queries return every row exactly once."""
    config = env.dir / "evidence.toml"
    text = config.read_text()
    assert "[streams.access_history]\n" in text
    config.write_text(
        text.replace(
            "[streams.access_history]\n", "[streams.access_history]\nmax_rows_per_query = 400\n"
        )
    )
    done = env.cli("collect", "--only", "access_history")
    assert done.returncode == 0, done.stdout + done.stderr
    split = 0
    for path in env.entries():
        p = Statement.from_bytes(Envelope.from_bytes(path.read_bytes()).payload).predicate
        if not p["stream"].endswith("/access_history"):
            continue
        q = p["query"]
        assert p["rows"] == p["completeness"]["source_count"]
        if p["rows"] > 400:
            split += 1
            assert "BYTES_IN_BUCKET" in q["split"]["histogram_sql"]
            assert q["split"]["max_bytes_per_query"] == 64 << 20
            assert all(x["rows"] <= 400 for x in q["split"]["queries"] if x["rows"])
            assert sum(x["rows"] for x in q["split"]["queries"]) == p["rows"]
    assert split >= 3
    verified = env.cli("verify", str(env.archive), "--pub", str(env.pub))
    assert verified.returncode == 0, verified.stdout
