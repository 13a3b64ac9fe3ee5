"""`evidence run`: the cron entry point, alone and four at a time on one store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from das_evidence.demo.moto import CREDENTIALS, MotoServer
from das_evidence.verify import verify_target
from tests.integration.conftest import T0, Env
from tests.integration.test_collect import STREAMS, expected_windows, windows_by_stream
from tests.integration.test_s3 import verify_s3, windows_by_stream_s3


def _why(r: subprocess.CompletedProcess[str]) -> object:
    lines = r.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    return (r.returncode, summary.get("error"), summary.get("verification"), r.stderr[-300:])


def _run_many(env: Env, n: int) -> list[subprocess.CompletedProcess[str]]:
    environ = {**os.environ, **env.extra_env, "EVIDENCE_NOW": "2026-11-20T06:00:00Z"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "das_evidence.cli.main", "run"],
            cwd=env.dir,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def test_run_prints_one_json_line_and_verifies_what_it_appended(env: Env) -> None:
    r = env.cli("run")
    assert r.returncode == 0, r.stderr
    [line] = r.stdout.strip().splitlines()
    summary = json.loads(line)
    assert summary["ok"] and summary["new_entries"] == len(list(env.entries()))
    assert summary["verification"]["findings"] == []
    assert summary["checkpoint"]["size"] == summary["new_entries"]
    again = json.loads(env.cli("run").stdout)
    assert again["ok"] and again["new_entries"] == 0


def test_a_forged_checkpoint_fails_the_next_run(env: Env) -> None:
    from datetime import timedelta

    assert env.cli("run").returncode == 0
    cp = env.archive / "log" / "checkpoint"
    cp.chmod(0o644)
    lines = cp.read_text().split("\n")
    root = lines[2]
    lines[2] = ("B" if root[0] != "B" else "C") + root[1:]  # another root, same shape
    cp.write_text("\n".join(lines))
    r = env.cli("run", now=T0 + timedelta(days=1))
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)
    assert not summary["ok"]
    assert any("bad one" in f or "not consistent" in f for f in summary["verification"]["findings"])


def test_four_concurrent_runs_on_a_local_store_keep_one_linear_log(env: Env) -> None:
    results = _run_many(env, 4)
    assert all(r.returncode == 0 for r in results), [_why(r) for r in results]
    assert windows_by_stream(env) == {s: expected_windows(s, T0) for s in STREAMS}
    report = verify_target(str(env.archive), pubs=[env.pub])
    assert report.ok, report.findings
    assert sum(json.loads(r.stdout)["new_entries"] for r in results) >= len(env.entries()) - 4


@pytest.fixture
def moto_s3(tmp_path: Path) -> MotoServer:
    server = MotoServer(tmp_path / "moto.log", serial=True).start()
    yield server  # type: ignore[misc]
    server.stop()


def test_four_concurrent_runs_on_one_s3_store_keep_one_linear_log(
    env: Env, moto_s3: MotoServer
) -> None:
    bucket = f"ev-run-{int(time.time() * 1e6) % 10**9}"
    moto_s3.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    env.extra_env.update(
        CREDENTIALS,
        EVIDENCE_STORE__URI=f"s3://{bucket}/archive",
        EVIDENCE_STORE__ENDPOINT_URL=moto_s3.endpoint,
        EVIDENCE_STORE__RETENTION_DAYS="30",
    )
    results = _run_many(env, 4)
    assert all(r.returncode == 0 for r in results), [_why(r) for r in results]
    assert windows_by_stream_s3(moto_s3, bucket) == {s: expected_windows(s, T0) for s in STREAMS}
    report = verify_s3(env, bucket, moto_s3.endpoint)
    assert report["verdict"] == "pass", report["findings"]
