"""`evidence sql` over archives collected from the fake Snowflake: the README's auditor
queries run verbatim, each stream reads as one Hive-partitioned table, and S3 (moto).

The demo-like archive is made as ``evidence demo`` makes it (and as
tests/unit/reports/checks/test_demo_archive.py does): seed, collect yesterday,
change four controls, collect tonight, with the committed dbt fixture.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.compute as pc
import pytest

from das_evidence.config import load_settings
from das_evidence.demo.policy_seed import (
    NEW_GRANT,
    REVOKED_GRANT,
    apply_policy_changes,
    seed_policy_state,
)
from das_evidence.demo.run import DBT_TARGET, DEMO_ORIGIN, write_demo_config
from das_evidence.demo.seed import BURST_ATTEMPTS, BURST_IP, BURST_USER, seed_account_usage
from das_evidence.demo.server import FakeSnowflake
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.reports.checks.phi import phi_reads
from das_evidence.reports.evidence import EvidenceSet, from_archive
from das_evidence.services import Services
from das_evidence.timefmt import parse_rfc3339
from tests.conftest import ROOT
from tests.integration.conftest import Env
from tests.integration.test_s3 import _s3_env
from tests.s3_server import MotoServer

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # just after the dbt fixture ran
DAYS = 2
START = (NOW - timedelta(days=DAYS)).replace(hour=0)


@dataclass(frozen=True)
class Demo:
    dir: Path
    config: Path
    archive: Path
    evidence: EvidenceSet


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    directory: Path = tmp_path_factory.mktemp("sqldemo")
    write_key_pair(directory / "keys", DEMO_ORIGIN)
    with FakeSnowflake() as fake:
        seed_account_usage(fake.duck, end=NOW, days=DAYS + 1, access_rows_per_day=400)
        seed_policy_state(fake.duck, now=NOW - timedelta(days=1, hours=3))
        config = write_demo_config(directory, port=fake.port, start=START)
        with config.open("a") as out:
            out.write(f'\n[[dbt]]\nproject = "jaffle_health"\ntarget_dir = "{DBT_TARGET}"\n')
        settings = load_settings(config)
        first = Services(settings, clock=lambda: NOW - timedelta(days=1)).collect(only=None)
        apply_policy_changes(fake.duck, at=NOW - timedelta(hours=12))
        second = Services(settings, clock=lambda: NOW).collect(only=None)
    assert first.ok and second.ok
    archive = directory / "archive"
    evidence = from_archive(LocalStore(archive), DEMO_ORIGIN, START, NOW)
    yield Demo(directory, config, archive, evidence)


def sql(config: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """``evidence sql -c config ARGS --format json``: the rows, or fail with stderr."""
    r = run_sql(config, *args, "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def run_sql(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "das_evidence.cli.main", "sql", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=config.parent,
    )


def readme_queries() -> dict[str, str]:
    """The README's ```sql blocks, by their first line (``-- <title>``), verbatim."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    return {b.splitlines()[0].removeprefix("-- ").strip(): b for b in blocks}


QUERIES = readme_queries()


def test_the_readme_has_the_three_auditor_queries() -> None:
    assert list(QUERIES) == [
        "PHI reads by user",
        "Failed logins by client IP",
        "Grants changed in a period",
    ]


def _run_readme(demo: Demo, title: str, *extra: str) -> list[dict[str, Any]]:
    query = demo.dir / f"{title.replace(' ', '_')}.sql"
    query.write_text(QUERIES[title])
    rows: list[dict[str, Any]] = sql(demo.config, "--file", str(query), *extra)
    assert rows, f"{title}: no rows"
    return rows


def test_phi_reads_by_user_are_the_reads_the_phi_check_counts(demo: Demo) -> None:
    rows = _run_readme(demo, "PHI reads by user")
    reads = phi_reads(demo.evidence, ("PHI",))
    assert not hasattr(reads, "reason"), reads
    queries: dict[str, set[str]] = {}
    columns: dict[str, set[tuple[str, str, str]]] = {}
    for r in reads.reads:  # type: ignore[union-attr]
        queries.setdefault(str(r.user), set()).add(r.query_id)
        columns.setdefault(str(r.user), set()).add((r.query_id, r.object, r.column))
    assert {r["USER_NAME"]: r["phi_queries"] for r in rows} == {
        u: len(q) for u, q in queries.items()
    }
    assert {r["USER_NAME"]: r["phi_column_reads"] for r in rows} == {
        u: len(c) for u, c in columns.items()
    }
    assert len(rows) > 2 and {r["_account"] for r in rows} == {"ACME_PROD"}
    assert [r["phi_queries"] for r in rows] == sorted(
        (r["phi_queries"] for r in rows), reverse=True
    )
    for r in rows:
        assert START <= parse_rfc3339(r["first_read"]) <= parse_rfc3339(r["last_read"]) < NOW


def test_failed_logins_by_ip_find_the_burst_and_count_every_failure(demo: Demo) -> None:
    rows = _run_readme(demo, "Failed logins by client IP")
    by_hand: dict[str, int] = {}
    for _, table in demo.evidence.history_rows("login_history"):
        failed = table.filter(pc.equal(table["IS_SUCCESS"], "NO"))
        for ip in failed["CLIENT_IP"].to_pylist():
            by_hand[ip] = by_hand.get(ip, 0) + 1
    assert {r["CLIENT_IP"]: r["failed_logins"] for r in rows} == by_hand
    top = rows[0]
    assert top["CLIENT_IP"] == BURST_IP and top["failed_logins"] >= BURST_ATTEMPTS
    assert top["users"] == 1
    users = sql(
        demo.config,
        f"SELECT DISTINCT USER_NAME FROM login_history WHERE CLIENT_IP = '{BURST_IP}' "
        "AND IS_SUCCESS = 'NO'",
    )
    assert users == [{"USER_NAME": BURST_USER}]


def test_grants_changed_in_the_period_are_the_grant_and_the_revoke(demo: Demo) -> None:
    rows = _run_readme(demo, "Grants changed in a period")
    assert [(r["CHANGE"], r["VIEW"]) for r in rows] == [
        ("added", "GRANTS_TO_ROLES"),
        ("removed", "GRANTS_TO_ROLES"),
    ]
    keys = [json.loads(r["KEY"]) for r in rows]
    assert (keys[0]["NAME"], keys[0]["GRANTEE_NAME"]) == (NEW_GRANT[4], NEW_GRANT[5])
    assert (keys[1]["NAME"], keys[1]["GRANTEE_NAME"]) == (REVOKED_GRANT[4], REVOKED_GRANT[5])
    # recorded by tonight's snapshot, comparing with yesterday's
    assert {(r["_as_of"], r["_since"]) for r in rows} == {
        ("2026-11-27T00:00:00Z", "2026-11-26T00:00:00Z")  # the day grid of as_of
    }


def test_verified_answers_are_the_same(demo: Demo) -> None:
    for title in QUERIES:
        assert _run_readme(demo, title, "--verified") == _run_readme(demo, title), title


def test_every_row_ties_back_to_a_signed_file(demo: Demo) -> None:
    signed = {
        (e.index, str(f["path"])): f.get("rows") for e in demo.evidence.entries for f in e.files
    }
    for view in ("access_history", "policy_changes", "dbt_tests", "policy_users"):
        rows = sql(
            demo.config, f"SELECT _entry, _file, COUNT(*) AS n FROM {view} GROUP BY _entry, _file"
        )
        assert rows, view
        for r in rows:
            assert signed[(r["_entry"], r["_file"])] == r["n"], (view, r)


def test_list_and_errors_through_the_cli(demo: Demo) -> None:
    views = {v["view"]: v for v in sql(demo.config, "--list")}
    assert {
        "access_history",
        "access_history_base_columns",
        "login_history",
        "query_history",
        "sessions",
        "policy_grants_to_roles",
        "policy_grants_to_roles_history",
        "policy_tag_references",
        "policy_changes",
        "dbt_nodes",
        "dbt_tests",
        "dbt_results",
        "dbt_source_freshness",
    } <= set(views)
    assert views["policy_users_history"]["rows"] == 2 * views["policy_users"]["rows"]
    bad = run_sql(demo.config, "SELECT * FROM login_history WHERE")
    assert bad.returncode == 2 and "polars SQL refused the query" in bad.stderr
    unknown = run_sql(demo.config, "SELECT * FROM grants")
    assert unknown.returncode == 2 and "policy_grants_to_roles" in unknown.stderr


# --- Hive: each stream is one partitioned table ------------------------------------------

HIVE_KEYS = {
    "history": ["date"],
    "policy_state": ["date", "as_of"],
    "dbt": ["date", "invocation_id"],
}


def _hive(root: Path, name: str) -> pl.DataFrame:
    """What DuckDB's read_parquet('<root>/**/<name>', hive_partitioning=true) reads."""
    return pl.scan_parquet(f"{root}/**/{name}", hive_partitioning=True).collect()


def test_each_stream_reads_as_one_hive_partitioned_table(demo: Demo) -> None:
    evidence = demo.archive / "evidence"
    counts = {v["view"]: v["rows"] for v in sql(demo.config, "--list")}
    for view in ("access_history", "login_history", "query_history", "sessions"):
        table = _hive(evidence / "snowflake" / "ACME_PROD" / view, "*.parquet")
        assert table.columns[-1:] == HIVE_KEYS["history"] and table.height == counts[view], view
    policy = evidence / "snowflake" / "ACME_PROD" / "policy_state"
    for name in ("grants_to_roles", "users", "tag_references", "changes"):
        table = _hive(policy, f"{name}.parquet")
        view = "policy_changes" if name == "changes" else f"policy_{name}_history"
        assert table.columns[-2:] == HIVE_KEYS["policy_state"] and table.height == counts[view]
        if name != "changes":  # the baseline's changes file has no rows
            assert table["as_of"].n_unique() == 2
    for name in ("nodes", "tests", "results", "source_freshness"):
        table = _hive(evidence / "dbt" / "jaffle_health", f"{name}.parquet")
        assert table.columns[-2:] == HIVE_KEYS["dbt"] and table.height == counts[f"dbt_{name}"]


# --- S3 -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


FAILED_BY_IP = (
    "SELECT CLIENT_IP, COUNT(*) AS n, MIN(_file) AS f FROM login_history "
    "WHERE IS_SUCCESS = 'NO' GROUP BY CLIENT_IP ORDER BY CLIENT_IP"
)


def test_s3_archive_queries_directly_and_verified(env: Env, moto: MotoServer) -> None:
    bucket = f"sql-{int(time.time() * 1e6) % 10**12}"
    moto.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    _s3_env(env, moto.endpoint, bucket)
    for stream in ("login_history", "policy_state"):
        r = env.cli("collect", "--only", stream)
        assert r.returncode == 0, r.stderr
    cli_env = dict(os.environ, **env.extra_env)
    direct = sql(env.config, FAILED_BY_IP, env=cli_env)
    verified = sql(env.config, FAILED_BY_IP, "--verified", env=cli_env)
    assert direct == verified and sum(r["n"] for r in direct) > 0
    assert all(
        r["f"].startswith("evidence/snowflake/ACME_PROD/login_history/date=") for r in direct
    )
    policy = sql(env.config, "SELECT COUNT(*) AS n FROM policy_users", env=cli_env)
    assert policy[0]["n"] > 0

    # second_version_on_evidence: a new version of a file the entries pinned. A direct
    # query reads the newest version (and fails on its bytes); --verified reads the
    # version its entry pinned, checks it, and answers as before.
    s3 = moto.client()
    key = "archive/" + direct[0]["f"]
    s3.put_object(Bucket=bucket, Key=key, Body=b"PAR1 not the evidence")
    hit = run_sql(env.config, FAILED_BY_IP, env=cli_env)
    assert hit.returncode == 3, hit.stderr
    assert sql(env.config, FAILED_BY_IP, "--verified", env=cli_env) == verified
