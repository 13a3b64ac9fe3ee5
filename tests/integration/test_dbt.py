"""dbt artifacts through `evidence collect --only 'dbt/*'`, next to Snowflake evidence."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.integration.conftest import Env

TARGET = ROOT / "tests" / "fixtures" / "dbt" / "target"


def _add_dbt(env: Env, target: Path, project: str = "jaffle_health") -> None:
    with env.config.open("a") as f:
        f.write(f'\n[[dbt]]\nproject = "{project}"\ntarget_dir = "{target}"\n')


def _predicates(env: Env) -> list[dict[str, Any]]:
    return [
        json.loads(base64.b64decode(json.loads(p.read_text())["payload"]))["predicate"]
        for p in sorted((env.archive / "log" / "entries").glob("*.dsse.json"))
    ]


def _dbt_entries(env: Env) -> list[dict[str, Any]]:
    return [p for p in _predicates(env) if p["stream"].startswith("dbt/")]


def test_one_entry_per_invocation_and_the_archive_verifies(env: Env, eaf_verify: Path) -> None:
    _add_dbt(env, TARGET)
    r = env.cli("collect", "--only", "dbt/*", "--json")
    assert r.returncode == 0, r.stderr
    [entry] = _dbt_entries(env)
    invocation = json.loads((TARGET / "run_results.json").read_text())["metadata"]["invocation_id"]
    assert entry["stream"] == f"dbt/jaffle_health/{invocation}"
    names = {f["path"].rsplit("/", 1)[-1] for f in entry["files"]}
    assert {"manifest.json", "run_results.json", "nodes.parquet", "results.parquet"} <= names

    # The same invocation is not archived again.
    again = env.cli("collect", "--only", "dbt/*", "--json")
    assert again.returncode == 0
    assert [s["entries"] for s in json.loads(again.stdout)["streams"]] == [[]]

    # Snowflake history and policy state beside it: the outside checker accepts all of it.
    assert env.cli("collect").returncode == 0
    streams = {p["stream"].split("/")[-1] for p in _predicates(env)}
    assert {"policy_state", "access_history"} <= streams
    assert env.cli("verify", str(env.archive), "--pub", str(env.pub)).returncode == 0
    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(env.archive), "--pub", str(env.pub)],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout + checker.stderr


def test_a_broken_target_fails_with_a_clear_message_and_writes_nothing(
    env: Env, tmp_path: Path
) -> None:
    broken = tmp_path / "target"
    shutil.copytree(TARGET, broken)
    data = (broken / "run_results.json").read_bytes()
    (broken / "run_results.json").write_bytes(data[: len(data) // 2])  # truncated
    _add_dbt(env, broken)
    r = env.cli("collect", "--only", "dbt/*")
    assert r.returncode == 3
    assert "run_results.json" in r.stderr
    assert not env.archive.exists() or not list(env.archive.rglob("*.json"))
