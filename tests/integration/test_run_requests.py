"""A nightly `evidence run` on S3 makes as many requests at 60 entries as at 10,
within a request budget; online `evidence verify` makes about one per object.

Counted from moto_server's own request log. The run reads the log from the
checkpoint the last run verified (its verified log beside the last-run record):
a nothing-due run and a run that appends one window must each make the same
number of requests whatever the archive's age. A run that re-read the log
(a GET per entry) fails this by 50 requests or more.

The budgets (issue 13): a nothing-due run at most ``NOTHING_DUE_BUDGET``
requests; each appended entry at most its files + 3 more than a nothing-due run
(the run seals once, not once per entry, and does not read back what it wrote);
online verification at most 1.1 requests per object (one GET each, whose
response carries the lock and checksum a HEAD would).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import T0, Env
from tests.s3_server import CREDENTIALS, MotoServer

pytestmark = pytest.mark.integration

SIZES = (10, 60)
# log/checkpoint, LIST entries, the bucket's 5 settings, LIST of the stream's evidence,
# and verification: LIST entries, log/checkpoint, log/checkpoints/<size>.
NOTHING_DUE_BUDGET = 11


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


def _configure(env: Env, moto: MotoServer, entries: int) -> str:
    bucket = f"req-{entries}-{int(time.time() * 1e6) % 10**9}"
    moto.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    # Hourly windows of login_history, ``entries`` of them due at T0 (2 h latency).
    start = T0 - timedelta(hours=2 + entries)
    env.extra_env.update(
        CREDENTIALS,
        EVIDENCE_STORE__URI=f"s3://{bucket}/archive",
        EVIDENCE_STORE__ENDPOINT_URL=moto.endpoint,
        EVIDENCE_STORE__RETENTION_DAYS="30",
        EVIDENCE_STREAMS__LOGIN_HISTORY__START=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        EVIDENCE_STREAMS__LOGIN_HISTORY__MAX_WINDOW="1h",
        EVIDENCE_STATUS__LAST_RUN_FILE=str(env.dir / f"state-{entries}" / "last-run.json"),
    )
    return bucket


def _run(env: Env, moto: MotoServer, hours: int) -> tuple[dict[str, Any], int]:
    """One `evidence run --only login_history` at T0 + ``hours``: its summary and requests."""
    summary, requests = _run_requests(env, moto, hours)
    return summary, len(requests)


def _run_requests(
    env: Env, moto: MotoServer, hours: int
) -> tuple[dict[str, Any], list[tuple[str, str, int]]]:
    before = len(moto.requests())
    r = env.cli("run", "--only", "login_history", now=T0 + timedelta(hours=hours))
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout), moto.requests()[before:]


def _kinds(requests: list[tuple[str, str, int]]) -> dict[str, int]:
    """Requests by method and object kind, for a message that says where a budget went."""
    kinds: dict[str, int] = {}
    for method, path, _ in requests:
        obj = path.split("?")[0].split("/archive/", 1)[-1].split("/")
        kind = f"{method} {'/'.join(obj[:2]) if obj[0] == 'log' else obj[0]}"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def _within_entry_budget(
    summary: dict[str, Any], requests: list[tuple[str, str, int]], nothing_due: int
) -> None:
    """At most files + 3 requests per appended entry over a nothing-due run."""
    entries = summary["new_entries"]
    files = sum(1 for m, p, _ in requests if m == "PUT" and "/evidence/" in p)
    assert entries > 0 and files >= entries
    budget = nothing_due + files + 3 * entries
    assert len(requests) <= budget, (
        f"{len(requests)} requests for {entries} entries of {files} files, over the budget "
        f"of {budget} (a nothing-due run's {nothing_due} + files + 3 per entry): "
        f"{_kinds(requests)}"
    )


def test_nightly_requests_do_not_grow_with_the_archive(env: Env, moto: MotoServer) -> None:
    nothing_due: dict[int, int] = {}
    append: dict[int, int] = {}
    first_run: dict[int, int] = {}
    five: dict[int, int] = {}
    full: dict[int, int] = {}
    for entries in SIZES:
        _configure(env, moto, entries)
        first, first_requests = _run_requests(env, moto, 0)
        assert first["verification"]["mode"] == "full"
        assert "no verified log" in first["verification"]["full_because"]
        assert first["checkpoint"]["size"] >= entries

        idle, idle_requests = _run_requests(env, moto, 0)
        nothing_due[entries] = len(idle_requests)
        assert idle["new_entries"] == 0
        assert idle["verification"]["mode"] == "incremental"
        assert idle["verification"]["from_size"] == first["checkpoint"]["size"]
        assert nothing_due[entries] <= NOTHING_DUE_BUDGET, _kinds(idle_requests)
        # The first run appended every entry in one batch: sealed once, nothing read back.
        _within_entry_budget(first, first_requests, nothing_due[entries])
        first_run[entries] = len(first_requests)

        grown, grown_requests = _run_requests(env, moto, 1)
        append[entries] = len(grown_requests)
        _within_entry_budget(grown, grown_requests, nothing_due[entries])
        assert grown["new_entries"] == 1, grown
        assert grown["verification"]["mode"] == "incremental"
        assert grown["checkpoint"]["size"] == first["checkpoint"]["size"] + 1
        # The last-run record keeps the verified checkpoint and each stream's head.
        record = json.loads(Path(env.extra_env["EVIDENCE_STATUS__LAST_RUN_FILE"]).read_text())
        verified = record["verified"]
        assert verified["size"] == grown["checkpoint"]["size"]
        assert verified["mode"] == "incremental"
        assert [h["index"] for h in verified["heads"].values()] == [verified["size"] - 1]

        # Five windows due at once: one seal for the five entries.
        batch, batch_requests = _run_requests(env, moto, 6)
        assert batch["new_entries"] == 5, batch
        assert batch["verification"]["mode"] == "incremental"
        _within_entry_budget(batch, batch_requests, nothing_due[entries])
        five[entries] = len(batch_requests)
        puts = [p for m, p, _ in batch_requests if m == "PUT" and "/log/checkpoint" in p]
        assert len(puts) == 2, puts  # log/checkpoints/<size> and log/checkpoint, once

        # Without its verified log the same nothing-due run reads the whole log.
        Path(env.extra_env["EVIDENCE_STATUS__LAST_RUN_FILE"] + ".log").unlink()
        reread, full[entries] = _run(env, moto, 6)
        assert reread["verification"]["mode"] == "full"
    print(
        f"requests per run: nothing due {nothing_due}, append one entry {append}, "
        f"append five entries {five}, the first run appending them all {first_run}, "
        f"nothing due reading the whole log {full}"
    )
    # The count sees a full read grow with the log, so the equalities below can fail.
    assert full[SIZES[1]] - full[SIZES[0]] >= 2 * (SIZES[1] - SIZES[0])
    assert nothing_due[SIZES[0]] == nothing_due[SIZES[1]], nothing_due
    assert append[SIZES[0]] == append[SIZES[1]], append


def test_the_run_trusts_its_verified_checkpoint_and_verify_still_reads_everything(
    env: Env, moto: MotoServer
) -> None:
    bucket = _configure(env, moto, 10)
    assert _run(env, moto, 0)[0]["ok"]
    # entry_swapped_under_a_signed_checkpoint: an older entry's bytes replaced in place.
    s3 = moto.client()
    key = "archive/log/entries/000000000003.dsse.json"
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=original.replace(b'"payload"', b'"payload" '))

    # The run reads only what is new: it relies on the signed checkpoint and the
    # consistency of the store's checkpoint with the one it verified.
    summary, _ = _run(env, moto, 1)
    assert summary["verification"]["mode"] == "incremental" and summary["ok"]

    # A full `evidence verify` reads every entry and names the swapped one.
    r = env.cli(
        "verify",
        f"s3://{bucket}/archive",
        "--pub",
        str(env.pub),
        "--endpoint-url",
        moto.endpoint,
        "--json",
    )
    assert r.returncode == 1, r.stdout + r.stderr
    subjects = {f["subject"] for f in json.loads(r.stdout)["findings"]}
    assert "log/entries/000000000003.dsse.json" in subjects


def _swap_a_verified_statement(env: Env) -> None:
    state = Path(env.extra_env["EVIDENCE_STATUS__LAST_RUN_FILE"] + ".log")
    lines = state.read_bytes().split(b"\n")
    # The statements, then the trailer (the note, the summary) and the final newline: the
    # newest statement (the stream's head, which every run reads) replaced by the one
    # before it. Statements are not read at start, but each one read is authenticated.
    lines[-4] = lines[-5]
    state.write_bytes(b"\n".join(lines))


def test_a_damaged_verified_log_means_a_full_read_and_says_so(env: Env, moto: MotoServer) -> None:
    _configure(env, moto, 10)
    assert _run(env, moto, 0)[0]["ok"]
    _swap_a_verified_statement(env)
    summary, _ = _run(env, moto, 0)
    assert summary["ok"] and summary["verification"]["mode"] == "full"
    assert (
        "is damaged: entry 9 is not the one its checkpoint covers"
        in (summary["verification"]["full_because"])
    )
    # The full run wrote a sound verified log again.
    assert _run(env, moto, 0)[0]["verification"]["mode"] == "incremental"


def test_online_verify_makes_one_request_per_object(env: Env, moto: MotoServer) -> None:
    bucket = _configure(env, moto, 60)
    assert _run(env, moto, 0)[0]["ok"]
    s3 = moto.client()
    objects = sum(
        len(page.get("Contents", []))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="archive/")
    )
    assert objects > 120  # 60 entries, their 60 files, log/checkpoint(s)
    before = len(moto.requests())
    r = env.cli(
        "verify",
        f"s3://{bucket}/archive",
        "--pub",
        str(env.pub),
        "--endpoint-url",
        moto.endpoint,
        "--json",
    )
    requests = moto.requests()[before:]
    assert r.returncode == 0, r.stdout + r.stderr
    # Locks and checksums come from each GET's headers (test_s3 shows they are checked).
    assert json.loads(r.stdout)["findings"] == []
    assert len(requests) <= 1.1 * objects, (
        f"{len(requests)} requests for {objects} objects, over 1.1 per object: {_kinds(requests)}"
    )


# log/checkpoint, LIST entries after the verified log, the bucket's 5 settings and the
# LIST of the stream's evidence (the orphan sweep).
NOTHING_DUE_COLLECT_BUDGET = 8


def _collect_requests(env: Env, moto: MotoServer, hours: int) -> list[tuple[str, str, int]]:
    before = len(moto.requests())
    r = env.cli("collect", "--only", "login_history", "--json", now=T0 + timedelta(hours=hours))
    assert r.returncode == 0, r.stdout + r.stderr
    assert [s["entries"] for s in json.loads(r.stdout)["streams"]] == [[]], r.stdout
    return moto.requests()[before:]


def _entry_gets(requests: list[tuple[str, str, int]]) -> list[str]:
    return [p for m, p, _ in requests if m == "GET" and "/log/entries/" in p.split("?")[0]]


def test_a_nothing_due_collect_starts_from_the_runs_verified_log(
    env: Env, moto: MotoServer
) -> None:
    """`evidence collect` reads the log from the checkpoint the last run verified, as the
    run does: a nothing-due collect makes the same requests at 10 and 60 entries. Before,
    it read every entry (a GET each) and failed both the budget and the equality."""
    nothing_due: dict[int, int] = {}
    full: dict[int, int] = {}
    for entries in SIZES:
        _configure(env, moto, entries)
        assert _run(env, moto, 0)[0]["ok"]  # leaves the verified log
        idle = _collect_requests(env, moto, 0)
        nothing_due[entries] = len(idle)
        assert nothing_due[entries] <= NOTHING_DUE_COLLECT_BUDGET, _kinds(idle)
        assert not _entry_gets(idle), _kinds(idle)
        # Without the run's verified log it reads the whole log, as before.
        Path(env.extra_env["EVIDENCE_STATUS__LAST_RUN_FILE"] + ".log").unlink()
        full[entries] = len(_collect_requests(env, moto, 0))
    print(f"nothing-due collect: {nothing_due}; without the verified log: {full}")
    assert full[SIZES[1]] - full[SIZES[0]] >= SIZES[1] - SIZES[0]
    assert nothing_due[SIZES[0]] == nothing_due[SIZES[1]], nothing_due


def test_a_collect_reads_the_whole_log_when_the_verified_log_is_damaged(
    env: Env, moto: MotoServer
) -> None:
    """verified_log_entry_swapped: a statement in the verified log replaced by another
    no longer reproduces its signed checkpoint, so collect does not start from it."""
    _configure(env, moto, 10)
    assert _run(env, moto, 0)[0]["ok"]
    _swap_a_verified_statement(env)
    requests = _collect_requests(env, moto, 0)
    assert len(_entry_gets(requests)) >= 10, _kinds(requests)
