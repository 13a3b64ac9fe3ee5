"""A policy-state snapshot of 1 M grants, and its comparison with the next day's.

What is measured, on ``--rows`` GRANTS_TO_ROLES rows for day 1 and a day 2 in which about
``--change`` of them changed (a third revoked: DELETED_ON set, a third re-granted by
another role: GRANTED_BY, a third new grants), each in a child process:

* **snapshot**: ``PolicyStateCollector.collect`` for day 1 (the baseline: nothing to
  compare) from a session that serves the view as a stream of Arrow batches read from a
  Parquet file, as the connector would; only GRANTS_TO_ROLES, no SHOW commands;
* **diff**: the same for day 2, with an archive reader whose previous entry is day 1's
  files (streamed to disk and checked against their digests, as ``StoreArchiveReader``
  does): the snapshot plus ``changes.parquet``, whose change counts are checked;
* **pyarrow**: the baseline, a bare ``pyarrow.parquet`` read of day 2's rows and write
  of them to a new file with default settings: what the product's day-2 snapshot cannot
  go below;
* with ``--old``, the comparison as it was before it was vectorised (every row a Python
  dict keyed by its canonical JSON key, kept here only), over the two snapshot files.

Peak RSS is each child's own ``VmHWM`` from ``/proc/self/status`` (it starts afresh at
``exec``); times are the wall-clock seconds of each child's work, timed inside it. The
figures to watch: peak RSS of snapshot and diff (target < 1 GiB at 1 M rows) and the
ratios ``diff / pyarrow``. The same script runs against an older checkout
(``PYTHONPATH=/path/to/old/src``), which is how the "before" figures were taken.

Run::

    .venv/bin/python benchmarks/policy_diff.py                  # 1,000,000 rows (~1 min)
    .venv/bin/python benchmarks/policy_diff.py --rows 200000    # quick check
    .venv/bin/python benchmarks/policy_diff.py --old --json     # also the dict comparison
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from das_evidence.collectors.interface import ArchiveReader, Window
from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS

GRANTS = next(v for v in POLICY_VIEWS if v.view == "GRANTS_TO_ROLES")
T = datetime(2026, 11, 20, tzinfo=UTC)
BATCH_ROWS = 50_000  # roughly what the connector hands over per Arrow batch


# -- the rows ---------------------------------------------------------------------------


def _grants(start: int, stop: int, day: int, change: float) -> pa.RecordBatch:
    """Grants ``start..stop`` as day ``day`` sees them. On day 2, one grant in
    ``3 / change`` is revoked, one re-granted by another role, and ``change / 3`` of the
    rows are new (beyond the day-1 rows)."""
    every = max(3, round(3 / change)) if change else 0
    rows: dict[str, list[Any]] = {c.name: [] for c in GRANTS.columns}
    for i in range(start, stop):
        k = i % every if every else -1
        deleted = T + timedelta(hours=12) if day == 2 and k == 1 else None
        by = "USERADMIN" if day == 2 and k == 2 else "SECURITYADMIN"
        values = {
            "CREATED_ON": T - timedelta(days=400, seconds=i),
            "MODIFIED_ON": T - timedelta(days=30, seconds=i),
            "PRIVILEGE": ("SELECT", "INSERT", "UPDATE", "DELETE")[i % 4],
            "GRANTED_ON": "TABLE",
            "NAME": f"TABLE_{i // 4:08d}",
            "TABLE_CATALOG": f"DB_{i % 37:03d}",
            "TABLE_SCHEMA": f"SCHEMA_{i % 11:03d}",
            "GRANTED_TO": "ROLE",
            "GRANTEE_NAME": f"ROLE_{i % 997:04d}",
            "GRANT_OPTION": i % 50 == 0,
            "GRANTED_BY": by,
            "DELETED_ON": deleted,
            "GRANTED_BY_ROLE_TYPE": "ROLE",
            "OBJECT_INSTANCE": None,
        }
        for name, value in values.items():
            rows[name].append(value)
    return pa.RecordBatch.from_pydict(rows, schema=GRANTS.schema())


def write_days(work: Path, n: int, change: float) -> dict[str, int]:
    """``day1.parquet`` and ``day2.parquet``: the view's rows as the source returns them."""
    added = round(n * change / 3)
    for day, total in ((1, n), (2, n + added)):
        with pq.ParquetWriter(str(work / f"day{day}.parquet"), GRANTS.schema()) as w:
            for start in range(0, total, BATCH_ROWS):
                # Day 2's extra rows are new grants: no change pattern beyond the day-1 rows.
                stop = min(start + BATCH_ROWS, total)
                cut = max(start, min(stop, n))
                if cut > start:
                    w.write_batch(_grants(start, cut, day, change))
                if stop > cut:
                    w.write_batch(_grants(cut, stop, 1, 0))
    every = max(3, round(3 / change)) if change else 0
    pattern = sum(1 for i in range(n) if every and i % every == 1) if every else 0
    regranted = sum(1 for i in range(n) if every and i % every == 2) if every else 0
    return {"added": added, "removed": pattern, "changed": regranted}


# -- the children ---------------------------------------------------------------------


class ParquetSession:
    """A session whose GRANTS_TO_ROLES is a Parquet file, served in Arrow batches."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def columns(self, qualified: str) -> list[str]:
        return [c.name for c in GRANTS.columns]

    def query_arrow(self, sql: str, params: Any) -> Any:
        from das_evidence.collectors.snowflake.connection import QueryResult

        def batches() -> Iterator[pa.RecordBatch]:
            yield from pq.ParquetFile(str(self.path)).iter_batches(batch_size=BATCH_ROWS)

        return QueryResult("q-bench", batches())

    def show(self, command: str, *, needs: str) -> Any:
        raise AssertionError("no SHOW commands in this benchmark")


class SpoolArchive(ArchiveReader):
    """The previous entry is the files of an earlier collection, with their digests."""

    def __init__(self, manifest: Path | None) -> None:
        self.files: dict[str, tuple[Path, str]] = {}
        if manifest is not None:
            doc = json.loads(manifest.read_text())
            self.files = {k: (Path(p), sha) for k, (p, sha) in doc.items()}

    def last_files(self, stream: str) -> tuple[Mapping[str, Any], dict[str, bytes]] | None:
        if not self.files:
            return None
        return {"window": {"start": "day 1"}}, {
            k: p.read_bytes() for k, (p, _) in self.files.items()
        }

    def last_files_to(
        self, stream: str, directory: Path
    ) -> tuple[Mapping[str, Any], dict[str, Path]] | None:
        from das_evidence.verify.files import copy_verified

        if not self.files:
            return None
        paths = {}
        for n, (key, (path, sha)) in enumerate(sorted(self.files.items())):
            local = directory / f"{n}.parquet"

            def open_(_: str, path: Path = path) -> BinaryIO:
                return path.open("rb")

            with local.open("wb") as f:
                copy_verified(open_, key, sha, 0, f.write)
            paths[key] = local
        return {"window": {"start": "day 1"}}, paths


def _child_collect(work: Path, day: int) -> dict[str, Any]:
    from das_evidence.collectors.snowflake.policy import PolicyStateCollector

    previous = work / "day1.json" if day == 2 else None
    collector = PolicyStateCollector(
        account="BENCH",
        session=lambda: ParquetSession(work / f"day{day}.parquet"),
        hmac_key=b"k" * 32,
        views=(GRANTS,),
        shows=(),
    )
    collector.attach(SpoolArchive(previous))
    spool = work / f"spool{day}"
    spool.mkdir()
    at = T + timedelta(days=day)
    col = collector.collect(Window(at, at), spool)
    (work / f"day{day}.json").write_text(
        json.dumps({f.key: [str(f.local_path), f.sha256] for f in col.files})
    )
    return dict(col.predicate["changes"]["counts"])


def _child_pyarrow(work: Path) -> dict[str, Any]:
    table = pq.read_table(str(work / "day2.parquet"))
    pq.write_table(table, str(work / "pyarrow.parquet"))
    return {}


def _dumps(value: Any) -> str:
    from das_evidence.timefmt import rfc3339

    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        default=lambda v: rfc3339(v) if isinstance(v, datetime) else v,
    )


def _child_old(work: Path) -> dict[str, Any]:
    """The comparison before polars: every row a dict, keyed by its JSON key."""
    view = GRANTS
    files = [json.loads((work / f"day{d}.json").read_text()) for d in (1, 2)]
    before, after = (
        pq.read_table(next(p for k, (p, _) in f.items() if k.endswith("/grants_to_roles.parquet")))
        for f in files
    )

    def current(table: pa.Table) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for row in table.to_pylist():
            if row.get(view.deleted or "") is not None:
                continue
            rows[_dumps({k: row.get(k) for k in view.key})] = row
        return rows

    old, new = current(before), current(after)
    compared = [n for n in after.column_names if n in before.column_names]
    counts = {"added": 0, "removed": 0, "changed": 0}
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None and b is not None:
            counts["added"] += 1
            out.append({"KEY": key, "AFTER": _dumps(b)})
        elif b is None and a is not None:
            counts["removed"] += 1
            out.append({"KEY": key, "BEFORE": _dumps(a)})
        elif a is not None and b is not None:
            changed = [c for c in compared if a.get(c) != b.get(c)]
            if changed:
                counts["changed"] += 1
                out.append({"KEY": key, "BEFORE": _dumps(a), "AFTER": _dumps(b)})
    return counts


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float
    counts: dict[str, int]


def _peak_rss_mib() -> float:
    """This process's peak RSS since ``exec`` (Linux ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run(me: list[str], side: str, work: Path) -> Run:
    print(f"== {side}", file=sys.stderr)
    done = subprocess.run([*me, "--child", side], check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {side} child failed with exit status {done.returncode}")
    return Run(**json.loads((work / f"{side}.result").read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="day-1 grants (1,000,000)")
    parser.add_argument("--change", type=float, default=0.01, help="share changed (0.01)")
    parser.add_argument("--old", action="store_true", help="also the dict-based comparison")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--child", choices=("snapshot", "diff", "pyarrow", "old"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)

    if args.child:
        work = args.dir
        t = time.perf_counter()
        if args.child == "snapshot":
            counts = _child_collect(work, 1)
        elif args.child == "diff":
            counts = _child_collect(work, 2)
        elif args.child == "pyarrow":
            counts = _child_pyarrow(work)
        else:
            counts = _child_old(work)
        seconds = time.perf_counter() - t
        (work / f"{args.child}.result").write_text(
            json.dumps({"seconds": seconds, "peak_rss_mib": _peak_rss_mib(), "counts": counts})
        )
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-policy-", dir=args.dir))
    try:
        print(f"== writing {args.rows:,} grants for day 1 and day 2", file=sys.stderr)
        expected = write_days(work, args.rows, args.change)
        me = [sys.executable, str(Path(__file__).resolve()), "--dir", str(work)]
        sides = ["snapshot", "diff", "pyarrow", *(["old"] if args.old else [])]
        runs = {side: _run(me, side, work) for side in sides}
        for side in ("diff", "old"):
            if side in runs and runs[side].counts != expected:
                raise SystemExit(f"{side} found {runs[side].counts}, expected {expected}")
        sizes = {
            f"day{d}_snapshot_bytes": sum(
                p.stat().st_size for p in (work / f"spool{d}").iterdir() if p.is_file()
            )
            for d in (1, 2)
        }
        pyarrow = runs["pyarrow"]
        result: dict[str, Any] = {
            "rows": args.rows,
            "change": args.change,
            "expected_changes": expected,
            **{side: asdict(r) for side, r in runs.items()},
            **sizes,
            "snapshot_over_pyarrow": runs["snapshot"].seconds / pyarrow.seconds,
            "diff_over_pyarrow": runs["diff"].seconds / pyarrow.seconds,
            "diff_rss_over_pyarrow": runs["diff"].peak_rss_mib / pyarrow.peak_rss_mib,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
        if "old" in runs:
            result["old_over_diff"] = runs["old"].seconds / runs["diff"].seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.rows:,} GRANTS_TO_ROLES rows, day 2 changes {expected}")
    print(f"{'':26}{'seconds':>9}{'peak RSS MiB':>14}")
    names = {
        "snapshot": "snapshot (day 1)",
        "diff": "snapshot + diff (day 2)",
        "pyarrow": "pyarrow read+write",
        "old": "dict comparison only",
    }
    for side, r in runs.items():
        print(f"{names[side]:26}{r.seconds:9.2f}{r.peak_rss_mib:14.0f}")
    print(f"snapshot / pyarrow          {result['snapshot_over_pyarrow']:.2f}x time")
    print(
        f"diff / pyarrow              {result['diff_over_pyarrow']:.2f}x time, "
        f"{result['diff_rss_over_pyarrow']:.2f}x peak RSS"
    )
    if "old" in result:
        print(f"dict comparison / diff      {result['old_over_diff']:.2f}x time")
    print(
        f"peak RSS snapshot {runs['snapshot'].peak_rss_mib:.0f} MiB, "
        f"diff {runs['diff'].peak_rss_mib:.0f} MiB (target < 1024)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
