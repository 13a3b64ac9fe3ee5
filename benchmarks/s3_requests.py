"""Count S3 requests per log entry on collect and per object on online verify.

Runs the real CLI code against a local ``moto_server`` (its access log is the
count) and the fake Snowflake, with the demo's seed. Prints the counts by
request kind, so a change that adds a request per object shows up here, and
each figure against its floor measured in the same run: collect against the
writes an entry cannot do without (its files and the entry: files + 1 per
entry), verify against one GET per object, and a second, nothing-due collect
(without, then with the run's verified log).

    .venv/bin/python benchmarks/s3_requests.py [--days 3]
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from das_evidence.config import load_settings
from das_evidence.demo.moto import CREDENTIALS, MotoServer
from das_evidence.demo.run import write_demo_config
from das_evidence.demo.seed import seed_account_usage
from das_evidence.demo.server import FakeSnowflake
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.schedules.runner import run
from das_evidence.schedules.state import read_from_verified
from das_evidence.services import Services
from das_evidence.verify import verify_target

NOW = datetime(2026, 11, 27, 6, tzinfo=UTC)


def _kind(method: str, path: str) -> str:
    query = path.split("?", 1)[1].split("=")[0] if "?" in path else ""
    if "/log/entries/" in path:
        obj = "entry"
    elif "/log/checkpoints/" in path:
        obj = "checkpoints/N"
    elif path.split("?")[0].endswith("/log/checkpoint"):
        obj = "checkpoint"
    elif "/evidence/" in path:
        obj = "evidence"
    else:
        obj = "bucket"
    return f"{method} {obj}{'?' + query if query else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        server = MotoServer(d / "moto.log").start()
        try:
            bucket = server.production_like_bucket(retention_days=2557)
            write_key_pair(d / "keys", "bench.example/s3")
            with FakeSnowflake() as fake:
                seed_account_usage(fake.duck, end=NOW, days=args.days + 1, access_rows_per_day=500)
                start = (NOW - timedelta(days=args.days)).replace(hour=0)
                store = f'uri = "s3://{bucket}/archive"\nendpoint_url = "{server.endpoint}"'
                config = write_demo_config(
                    d, port=fake.port, start=start, origin="bench.example/s3", store=store
                )
                settings = load_settings(config)
                before = len(server.requests())
                report = Services(settings, clock=lambda: NOW).collect(only=None)
                collect_requests = server.requests()[before:]
                before = len(server.requests())
                Services(settings, clock=lambda: NOW).collect(only=None)
                idle_requests = server.requests()[before:]
                # `evidence run` keeps the log it verified: the next run starts from there.
                status = settings.status.model_copy(update={"last_run_file": d / "last-run"})
                run_settings = settings.model_copy(update={"status": status})
                for _ in range(2):
                    before = len(server.requests())
                    summary = run(run_settings, clock=lambda: NOW)
                    run_requests = server.requests()[before:]
                assert summary.exit_code == 0 and summary.verified is not None, summary
                # `evidence collect` starts from the run's verified log too.
                before = len(server.requests())
                with Services(run_settings, clock=lambda: NOW) as services:
                    read_from_verified(services)
                    assert services.known is not None
                    services.collect(only=None)
                kept_requests = server.requests()[before:]
            entries = sum(len(s.entries) for s in report.streams)
            objects = sum(
                len(page.get("Contents", []))
                for page in server.client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=bucket, Prefix="archive/")
            )
            before = len(server.requests())
            verdict = verify_target(
                settings.store.uri, pubs=[d / "keys" / "signing.pub"], endpoint_url=server.endpoint
            )
            verify_requests = server.requests()[before:]
        finally:
            server.stop()
    files = verdict.stats["evidence_files"]
    floor = files + entries  # a PUT per file and per entry
    print(
        f"collect: {entries} entries of {files} files, {len(collect_requests)} S3 requests, "
        f"{len(collect_requests) / entries:.2f} per entry; floor (files + 1 per entry) "
        f"{floor / entries:.2f} per entry: {len(collect_requests) / floor:.2f}x; "
        f"budget (files + 3 per entry) {(files + 3 * entries) / entries:.2f}"
    )
    for kind, n in sorted(collections.Counter(_kind(m, p) for m, p, _ in collect_requests).items()):
        print(f"  {n:5d}  {kind}  ({n / entries:.2f} per entry)")
    print(
        f"collect with nothing due: {len(idle_requests)} S3 requests (no verified log yet: "
        "reads every entry)"
    )
    for kind, n in sorted(collections.Counter(_kind(m, p) for m, p, _ in idle_requests).items()):
        print(f"  {n:5d}  {kind}")
    print(
        f"collect with nothing due, from the run's verified log: {len(kept_requests)} S3 requests"
    )
    for kind, n in sorted(collections.Counter(_kind(m, p) for m, p, _ in kept_requests).items()):
        print(f"  {n:5d}  {kind}")
    print(
        f"run with nothing due (from its verified log): {len(run_requests)} S3 requests, "
        f"{len(run_requests) / len(idle_requests):.2f}x a nothing-due collect"
    )
    for kind, n in sorted(collections.Counter(_kind(m, p) for m, p, _ in run_requests).items()):
        print(f"  {n:5d}  {kind}")
    print(
        f"verify:  {objects} objects, {len(verify_requests)} S3 requests, "
        f"{len(verify_requests) / objects:.2f} per object; floor (one GET each) 1.00 "
        f"(verdict: {'pass' if verdict.ok else 'fail'})"
    )
    for kind, n in sorted(collections.Counter(_kind(m, p) for m, p, _ in verify_requests).items()):
        print(f"  {n:5d}  {kind}")


if __name__ == "__main__":
    main()
