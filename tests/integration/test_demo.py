"""`evidence demo` as a newcomer runs it: self-consistent, tidy, and every hint works."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

NOW = "2026-11-27T06:00:00Z"
CLI = (sys.executable, "-m", "das_evidence.cli.main")


def _env(tmpdir: Path, now: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    return {**env, "EVIDENCE_NOW": now, "TMPDIR": str(tmpdir)}


def test_the_demo_is_self_consistent_leaves_nothing_and_its_hints_work(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    demo = tmp_path / "demo"
    run = subprocess.run(
        # A relative --dir, as a newcomer types it (its dbt target_dir once doubled it).
        [*CLI, "demo", "--dir", "demo", "--days", "3", "--access-rows-per-day", "500"],
        env=_env(tmpdir, NOW),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # Nothing left in $TMPDIR (fakesnow makes a stage directory there on import).
    assert list(tmpdir.iterdir()) == []

    # The pack covers the policy change the demo seeds, and the dbt build.
    with zipfile.ZipFile(demo / "pack.zip") as z:
        streams = json.loads(z.read("pack.json"))["streams"]
        policy = next(v for k, v in streams.items() if k.endswith("/policy_state"))
        assert len(policy["entries"]) == 2
        second = json.loads(z.read(f"entries/{policy['entries'][1]:012d}.dsse.json"))
    import base64

    predicate = json.loads(base64.b64decode(second["payload"]))["predicate"]
    assert predicate["changes"]["baseline"] is False
    assert sum(predicate["changes"]["counts"].values()) > 0
    assert any(k.startswith("dbt/") for k in streams)

    # Every command under "try:" works as printed, a few minutes later.
    hints = run.stdout.split("\ntry:\n", 1)[1].strip().splitlines()
    assert len(hints) >= 5
    for hint in hints:
        done = subprocess.run(
            shlex.split(hint),
            env=_env(tmpdir, "2026-11-27T06:05:00Z"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{hint}\n{done.stdout}{done.stderr}"
    assert list(tmpdir.iterdir()) == []
