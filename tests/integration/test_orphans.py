"""No orphans, whatever the clock (issue 11, item 3).

A run that stops between two writes (SIGKILL, an S3 request failing after its
retries, a concurrent writer whose clock differs by minutes) and a next run at
a *later* clock: every file under the store's ``evidence/`` is named by an
entry afterwards, ``evidence verify`` passes, and no window is lost or doubled.
Each test prints its figure: archives that verify / runs, orphans, windows
lost or doubled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from das_evidence.manifests.dsse import Envelope
from das_evidence.manifests.statement import Statement
from tests.integration.conftest import T0, Env
from tests.integration.test_collect import STREAMS, expected_windows
from tests.s3_server import CREDENTIALS, MotoServer, TcpProxy

FMT = "%Y-%m-%dT%H:%M:%SZ"

# Runs the real CLI, killed with SIGKILL right after the nth write of one kind.
_KILLED_AFTER = r"""
import os, signal, sys
from das_evidence.evidence_store.local import LocalStore
kind, nth = sys.argv[1], int(sys.argv[2])
seen = 0

def kind_of(key):
    if key.startswith("evidence/"):
        return "evidence"
    if key.startswith("log/entries/"):
        return "entry"
    if key.startswith("log/checkpoints/"):
        return "checkpoints"
    return "other"

def hit():
    global seen
    seen += 1
    if seen == nth:
        os.kill(os.getpid(), signal.SIGKILL)

put_once = LocalStore.put_once
def killing_put_once(self, key, source, **kw):
    result = put_once(self, key, source, **kw)
    if kind_of(key) == kind and result.created:
        hit()
    return result
LocalStore.put_once = killing_put_once

replace = LocalStore.replace_checkpoint
def killing_replace(self, data, **kw):
    if kind == "checkpoint":
        hit()  # before log/checkpoint is replaced
    return replace(self, data, **kw)
LocalStore.replace_checkpoint = killing_replace

sys.argv = ["evidence", *sys.argv[3:]]
from das_evidence.cli.main import main
main()
"""


def _statements(blobs: Iterable[bytes]) -> list[dict[str, Any]]:
    out = []
    for blob in blobs:
        statement = Statement.from_bytes(Envelope.from_bytes(blob).payload)
        out.append(dict(statement.predicate))
    return out


def figure(
    predicates: list[dict[str, Any]], evidence_keys: set[str], now: datetime
) -> tuple[int, int]:
    """Orphans (evidence files no entry names) and windows lost or doubled, against the
    tiling the last clock should have produced."""
    named = [f["path"] for p in predicates for f in p["files"]]
    orphans = len(evidence_keys - set(named)) + (len(named) - len(set(named)))
    windows: dict[str, list[tuple[str, str]]] = {}
    for p in predicates:
        w = p["window"]
        if w["start"] == w["end"] or "amends" in p or "accounts_for" in p:
            continue
        windows.setdefault(p["stream"].split("/")[-1], []).append((w["start"], w["end"]))
    bad = 0
    for stream in STREAMS:
        got, want = windows.get(stream, []), expected_windows(stream, now)
        # Windows cut at other clocks may differ in where they end: compare the covered time.
        covered = [t for s, e in got for t in (s, e)]
        if got != sorted(got) or any(a[1] != b[0] for a, b in pairwise(got)):
            bad += 1  # a gap or an overlap
        elif not got or covered[0] != want[0][0] or covered[-1] != want[-1][1]:
            bad += 1
    return orphans, bad


def _local_figure(env: Env, now: datetime) -> tuple[int, int]:
    blobs = [p.read_bytes() for p in env.entries()]
    root = env.archive
    keys = {str(p.relative_to(root)) for p in (root / "evidence").rglob("*") if p.is_file()}
    return figure(_statements(blobs), keys, now)


def _accounting(env: Env) -> int:
    return sum("accounts_for" in p for p in _statements(p.read_bytes() for p in env.entries()))


@pytest.mark.parametrize(
    ("kind", "nth"),
    [
        ("evidence", 4),  # the trailing partial window of the first history stream
        ("evidence", 17),  # the first file of the policy snapshot
        ("entry", 4),  # three entries of the run unsealed (it seals once, at its end)
        # The run's one seal (not one per entry, so there is no 4th):
        ("checkpoints", 1),
        ("checkpoint", 1),  # after log/checkpoints/N, before log/checkpoint is replaced
    ],
)
def test_sigkill_at_each_boundary_then_a_later_clock(env: Env, kind: str, nth: int) -> None:
    killed_at = T0 + timedelta(minutes=50)
    environ = dict(os.environ, **env.extra_env, EVIDENCE_NOW=killed_at.strftime(FMT))
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER, kind, str(nth), "collect"],
        cwd=env.dir,
        env=environ,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    # The next run a day and an hour later: other trailing windows, another snapshot.
    later = killed_at + timedelta(days=1, minutes=25)
    again = env.cli("collect", now=later)
    assert again.returncode == 0, again.stderr
    verified = env.cli("verify", str(env.archive), "--pub", str(env.pub))
    orphans, bad = _local_figure(env, later)
    print(
        f"\nFIGURE sigkill after {kind} #{nth}: archives that verify 1 run(s): "
        f"{int(verified.returncode == 0)}/1, orphans {orphans}, windows lost or doubled {bad}, "
        f"orphans entries {_accounting(env)}"
    )
    assert verified.returncode == 0, verified.stdout
    assert (orphans, bad) == (0, 0)


def _s3_env(env: Env, endpoint: str, bucket: str) -> None:
    env.extra_env.update(
        CREDENTIALS,
        EVIDENCE_STORE__URI=f"s3://{bucket}/archive",
        EVIDENCE_STORE__ENDPOINT_URL=endpoint,
        EVIDENCE_STORE__RETENTION_DAYS="30",
    )


def _s3_figure(server: MotoServer, bucket: str, now: datetime) -> tuple[int, int]:
    s3 = server.client()
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="archive/"):
        keys += [o["Key"][len("archive/") :] for o in page.get("Contents", [])]
    blobs = [
        s3.get_object(Bucket=bucket, Key="archive/" + k)["Body"].read()
        for k in sorted(keys)
        if k.startswith("log/entries/")
    ]
    return figure(_statements(blobs), {k for k in keys if k.startswith("evidence/")}, now)


def _verify_s3(env: Env, bucket: str, endpoint: str) -> dict[str, Any]:
    r = env.cli(
        "verify", f"s3://{bucket}/archive", "--pub", str(env.pub), "--endpoint-url", endpoint,
        "--json",
    )  # fmt: skip
    assert r.returncode in (0, 1), r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


@pytest.fixture
def moto_serial(tmp_path: Path) -> Any:
    server = MotoServer(tmp_path / "moto.log", serial=True).start()
    yield server
    server.stop()


@pytest.fixture
def moto_threaded(tmp_path: Path) -> Any:
    # One writer: moto's threaded server (the serial one hangs on a request the proxy cut).
    server = MotoServer(tmp_path / "moto.log").start()
    yield server
    server.stop()


def test_an_entry_put_failing_after_its_retries_then_a_later_clock(
    env: Env, moto_threaded: MotoServer
) -> None:
    moto_serial = moto_threaded
    bucket = f"ev-orphan-{int(time.time() * 1e6) % 10**9}"
    moto_serial.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    # access_history's fourth window (its trailing partial one) is entry 3: its
    # evidence is in, then S3 is gone for every retry of the entry.
    proxy = TcpProxy(moto_serial.port, cut_on=b"/log/entries/000000000003.dsse.json").start()
    _s3_env(env, proxy.endpoint, bucket)
    try:
        failed = env.cli("collect", now=T0 + timedelta(minutes=50))
        assert proxy.tripped.is_set() and failed.returncode == 3, failed.stderr
    finally:
        proxy.restore()
    later = T0 + timedelta(hours=1, minutes=20)
    again = env.cli("collect", now=later)
    assert again.returncode == 0, again.stderr
    report = _verify_s3(env, bucket, proxy.endpoint)
    orphans, bad = _s3_figure(moto_serial, bucket, later)
    print(
        f"\nFIGURE one S3 PUT failing after all retries: archives that verify "
        f"{int(report['verdict'] == 'pass')}/1, orphans {orphans}, windows lost or doubled {bad}"
    )
    assert report["verdict"] == "pass", report["findings"]
    assert (orphans, bad) == (0, 0)


def _round_clock(r: int) -> datetime:
    """Round ``r``'s first clock: an hour on each round, alternately 2 minutes before the
    hour (the writers' clocks straddle it) and 10 past; round 4 straddles 02:00, where
    the policy snapshot's day changes."""
    base = datetime(2026, 11, 20, 22, tzinfo=T0.tzinfo) + timedelta(hours=r)
    return base - timedelta(minutes=2) if r % 2 == 0 else base + timedelta(minutes=10)


# 40 collects of every stream against one moto server: minutes of work on a loaded
# machine, so more than the suite's default 300 s.
@pytest.mark.timeout(1200)
def test_four_concurrent_s3_writers_with_clocks_minutes_apart(
    env: Env, moto_serial: MotoServer
) -> None:
    bucket = f"ev-clocks-{int(time.time() * 1e6) % 10**9}"
    moto_serial.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    _s3_env(env, moto_serial.endpoint, bucket)
    rounds, verified, runs, failed = 10, 0, 0, []
    for r in range(rounds):
        first = _round_clock(r)
        procs = []
        for w in range(4):
            now = first + timedelta(minutes=w)
            environ = dict(os.environ, **env.extra_env, EVIDENCE_NOW=now.strftime(FMT))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "das_evidence.cli.main", "collect"],
                    cwd=env.dir,
                    env=environ,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for p in procs:
            _, err = p.communicate(timeout=300)
            runs += 1
            if p.returncode != 0:
                failed.append((r, p.returncode, err[-500:]))
    last = _round_clock(rounds - 1) + timedelta(minutes=3)
    report = _verify_s3(env, bucket, moto_serial.endpoint)
    verified = int(report["verdict"] == "pass")
    orphans, bad = _s3_figure(moto_serial, bucket, last)
    print(
        f"\nFIGURE 4 concurrent S3 writers, clocks 0-3 min apart, {rounds} rounds: "
        f"archives that verify {verified}/1 ({runs - len(failed)}/{runs} runs ok), "
        f"orphans {orphans}, windows lost or doubled {bad}"
    )
    assert not failed, failed
    assert report["verdict"] == "pass", report["findings"]
    assert (orphans, bad) == (0, 0)
