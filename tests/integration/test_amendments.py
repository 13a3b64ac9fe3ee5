"""Completeness: a row that arrives after its window closed becomes an amendment entry."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tests.integration.conftest import Env

LATE_EVENT_ID = 987654321


def _predicates(env: Env) -> list[dict[str, object]]:
    return [
        json.loads(base64.b64decode(json.loads(p.read_text())["payload"]))["predicate"]
        for p in env.entries()
    ]


def test_a_late_row_is_archived_in_an_amendment_and_nothing_else_changes(
    env: Env, eaf_verify: Path
) -> None:
    first = env.cli("run")
    assert first.returncode == 0, first.stderr
    before = _predicates(env)
    login = next(
        p
        for p in before
        if str(p["stream"]).endswith("login_history")
        and p["window"] == {"start": "2026-11-19T00:00:00Z", "end": "2026-11-20T00:00:00Z"}  # type: ignore[comparison-overlap]
    )
    assert login["completeness"]["source_count"] == login["rows"]  # type: ignore[index]

    env.fake.duck.execute(
        "INSERT INTO SNOWFLAKE.ACCOUNT_USAGE.LOGIN_HISTORY (EVENT_ID, EVENT_TIMESTAMP, "
        "EVENT_TYPE, USER_NAME, CLIENT_IP, IS_SUCCESS) VALUES "
        f"({LATE_EVENT_ID}, TIMESTAMPTZ '2026-11-19 12:00:00+00', 'LOGIN', 'LATE_USER', "
        "'198.51.100.7', 'NO')"
    )
    second = env.cli("run")
    assert second.returncode == 0, second.stderr
    after = _predicates(env)
    assert after[: len(before)] == before
    [amendment] = after[len(before) :]
    assert amendment["amends"] == login["log"]["index"]  # type: ignore[index]
    assert amendment["window"] == login["window"]
    assert amendment["rows"] == 1
    [f] = amendment["files"]  # type: ignore[misc]
    rows = pq.read_table(env.archive / f["path"]).to_pylist()
    assert [r["EVENT_ID"] for r in rows] == [LATE_EVENT_ID]

    third = env.cli("run")  # reconciled: nothing more to amend
    assert json.loads(third.stdout)["new_entries"] == 0
    assert env.cli("verify", str(env.archive), "--pub", str(env.pub)).returncode == 0
    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(env.archive), "--pub", str(env.pub)],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout + checker.stderr
