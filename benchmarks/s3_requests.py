"""Count S3 requests per log entry on collect and per object on online verify.

Runs the real CLI code against a local ``moto_server`` (its access log is the
count) and the fake Snowflake, with the demo's seed. Prints the counts by
request kind, so a change that adds a request per object shows up here.

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
            entries = sum(len(s.entries) for s in report.streams)
            before = len(server.requests())
            verdict = verify_target(
                settings.store.uri, pubs=[d / "keys" / "signing.pub"], endpoint_url=server.endpoint
            )
            verify_requests = server.requests()[before:]
        finally:
            server.stop()
    objects = verdict.stats["evidence_files"] + 2 * entries + 1  # + entries, checkpoints/N
    print(
        f"collect: {entries} entries, {len(collect_requests)} S3 requests, "
        f"{len(collect_requests) / entries:.2f} per entry"
    )
    for kind, n in sorted(collections.Counter(_kind(m, p) for m, p, _ in collect_requests).items()):
        print(f"  {n:5d}  {kind}  ({n / entries:.2f} per entry)")
    print(
        f"verify:  {objects} objects, {len(verify_requests)} S3 requests, "
        f"{len(verify_requests) / objects:.2f} per object (verdict: "
        f"{'pass' if verdict.ok else 'fail'})"
    )
    for kind, n in sorted(collections.Counter(_kind(m, p) for m, p, _ in verify_requests).items()):
        print(f"  {n:5d}  {kind}")


if __name__ == "__main__":
    main()
