"""A configuration with only [store], [signing], [log] and [[dbt]]: a dbt CI job that
archives its artifacts. No Snowflake is configured, and none is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from das_evidence.manifests.keyring import write_key_pair
from tests.conftest import ROOT

TARGET = ROOT / "tests" / "fixtures" / "dbt" / "target"
ORIGIN = "evidence.example.com/dbt-ci"
# An hour after the fixture's invocation (run_results generated_at 2026-11-27T04:00:32Z).
NOW = "2026-11-27T05:00:00Z"

pytestmark = pytest.mark.integration


def _cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    return subprocess.run(
        [sys.executable, "-m", "das_evidence.cli.main", *args],
        cwd=directory,
        env={**env, "EVIDENCE_NOW": NOW},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def dbt_only(tmp_path: Path) -> Path:
    write_key_pair(tmp_path / "keys", ORIGIN)
    (tmp_path / "evidence.toml").write_text(
        '[store]\nuri = "archive"\n\n[signing]\nkey = "keys/signing.key"\n\n'
        f'[log]\norigin = "{ORIGIN}"\n\n'
        f'[status]\nlast_run_file = "last-run.json"\n\n'
        f'[[dbt]]\nproject = "jaffle_health"\ntarget_dir = "{TARGET}"\n'
    )
    return tmp_path


def test_collect_run_status_and_pack_need_no_snowflake(dbt_only: Path) -> None:
    collect = _cli(dbt_only, "collect", "--only", "dbt/*", "--json")
    assert collect.returncode == 0, collect.stderr
    streams = json.loads(collect.stdout)["streams"]
    assert [s["stream"].split("/")[:2] for s in streams] == [["dbt", "jaffle_health"]]
    assert len(streams[0]["entries"]) == 1

    run = _cli(dbt_only, "run")
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert summary["ok"] and summary["new_entries"] == 0 and summary["checkpoint"]["size"] == 1

    status = _cli(dbt_only, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert [s["stream"] for s in json.loads(status.stdout)["streams"]] == ["dbt/jaffle_health"]

    pack = _cli(dbt_only, "pack", "--from", "2026-11-27", "--to", "2026-11-28", "--out", "pack.zip")
    assert pack.returncode == 0, pack.stdout + pack.stderr
    verify = _cli(dbt_only, "verify", "pack.zip", "--pub", "keys/signing.pub")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_snowflake_stream_selected_without_snowflake_is_a_clear_error(dbt_only: Path) -> None:
    result = _cli(dbt_only, "collect", "--only", "access_history")
    assert result.returncode == 2
    assert "matches no configured stream" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (dbt_only / "archive").exists()
