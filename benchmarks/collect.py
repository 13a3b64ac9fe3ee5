"""Throughput of ``evidence collect`` for ACCESS_HISTORY against a bare connector baseline.

What is measured, in one process and on the same seeded data:

* **baseline**: what a hand-written export script would do. One
  ``snowflake.connector.connect(**fake.connection_args())``; for each one-day window the
  product collects, the identical SELECT (built by ``HistoryCollector.sql``), rows read with
  ``cursor.fetch_arrow_batches()`` and written with a default ``pyarrow.parquet.ParquetWriter``
  to one Parquet file per window.
* **product**: ``Services(settings, clock=...).collect(only="access_history")`` into a fresh
  archive: the same queries through the same connector, plus the pinned-schema cast,
  deterministic Parquet (zstd, fixed row groups), SHA-256 of every file, DSSE signing,
  put-once store writes and signed checkpoints.

Both read from one fakesnow HTTP server on 127.0.0.1, seeded with ``--rows`` ACCESS_HISTORY
rows spread over 7 UTC days (other views kept tiny). The passes alternate (baseline, product,
baseline, product, ...) so drift in the machine's state hits both alike; each product pass
writes a new archive. The clock is fixed, so every pass collects exactly the same 7 windows.

Why the ratio matters: absolute rows/s here are dominated by fakesnow (DuckDB, JSON/Arrow over
local HTTP, the connector's decoding), which a real Snowflake account would not share. That
cost is identical for both sides, so ``product rows/s / baseline rows/s`` isolates what the
product adds on top of "connector to Parquet". A ratio of 1.00 means no overhead; 0.80 means
the product takes 25% longer than the bare script for the same rows.

Peak RSS (``resource.getrusage``) is per process and cannot be split per phase; the figure
printed at the end covers the seeded DuckDB, the server and every pass together.

Run::

    .venv/bin/python benchmarks/collect.py                  # 1,000,000 rows, 2 repeats
    .venv/bin/python benchmarks/collect.py --rows 100000    # quick check
    .venv/bin/python benchmarks/collect.py --json           # machine-readable result
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import snowflake.connector

# Imported up front so neither side pays first-import costs inside a timed pass.
import das_evidence.collectors.snowflake.connection  # noqa: F401
from das_evidence.collectors.interface import Window
from das_evidence.collectors.snowflake import HistoryCollector, LazySession, history_collector
from das_evidence.config import Settings, load_settings
from das_evidence.demo.seed import seed_account_usage
from das_evidence.demo.server import FakeSnowflake
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.services import Services

STREAM = "access_history"
ACCOUNT = "ACME_PROD"
ORIGIN = "evidence.example.com/bench"
DAYS = 7
# Seeded window [START, END); the clock sits 3 h (ACCESS_HISTORY's safety margin) past END,
# so the product's due windows are exactly the 7 seeded UTC days.
END = datetime(2026, 1, 8, tzinfo=UTC)
START = END - timedelta(days=DAYS)
NOW = END + timedelta(hours=3)

CONFIG = """\
[snowflake]
account = "{account}"
user = "EVIDENCE_COLLECTOR"
password = "bench-only"
host = "127.0.0.1"
port = {port}
protocol = "http"
network_timeout = 600

[store]
uri = "{store}"

[signing]
key = "{keys}/signing.key"

[log]
origin = "{origin}"

[redaction]
hmac_key = "{keys}/redaction.key"

[streams.access_history]
start = "{start}"
"""


@dataclass(frozen=True)
class Pass:
    """One timed pass of one side."""

    side: str  # baseline | product
    repeat: int
    rows: int
    files: int
    bytes: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else math.nan


def _log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _write_config(directory: Path, *, port: int, keys: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "evidence.toml"
    config.write_text(
        CONFIG.format(
            account=ACCOUNT,
            port=port,
            store=(directory / "archive").as_posix(),
            keys=keys.as_posix(),
            origin=ORIGIN,
            start=START.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    )
    return config


def _plan(settings: Settings) -> tuple[HistoryCollector, list[Window]]:
    """The product's own ACCESS_HISTORY collector and the windows it collects at NOW."""
    session = LazySession(settings.snowflake.connector_args())  # never opened: sql() only
    collector = history_collector(settings, session, NOW, STREAM)
    return collector, collector.due_windows(None, NOW)


def run_baseline(
    fake: FakeSnowflake, collector: HistoryCollector, windows: Sequence[Window], out: Path
) -> tuple[int, int, int]:
    """Connector to pyarrow to Parquet, one default-settings file per window."""
    rows = files = size = 0
    conn = snowflake.connector.connect(**fake.connection_args(ACCOUNT))
    try:
        for i, window in enumerate(windows):
            path = out / f"window-{i}.parquet"
            cur = conn.cursor()
            try:
                cur.execute(collector.sql(window))
                writer: pq.ParquetWriter | None = None
                try:
                    for table in cur.fetch_arrow_batches():
                        if writer is None:
                            writer = pq.ParquetWriter(str(path), table.schema)
                        writer.write_table(table)
                        rows += table.num_rows
                finally:
                    if writer is not None:
                        writer.close()
            finally:
                cur.close()
            if path.exists():
                files += 1
                size += path.stat().st_size
    finally:
        conn.close()
    return rows, files, size


def run_product(config: Path) -> tuple[int, int, int]:
    """``evidence collect --only access_history`` as a library call, into a fresh archive."""
    settings = load_settings(config)
    report = Services(settings, clock=lambda: NOW).collect(only=STREAM)
    if not report.ok:
        raise RuntimeError(f"product collection failed: {report.to_json()}")
    rows = sum(s.rows for s in report.streams)
    files = sum(len(s.entries) for s in report.streams)
    size = sum(s.bytes for s in report.streams)
    return rows, files, size


def _timed(side: str, repeat: int, fn: Callable[[], tuple[int, int, int]]) -> Pass:
    t0 = time.perf_counter()
    rows, files, size = fn()
    seconds = time.perf_counter() - t0
    result = Pass(side, repeat, rows, files, size, seconds)
    _log(
        f"  {side:<8} #{repeat}: {rows:,} rows, {files} files, {size:,} bytes "
        f"in {seconds:.2f} s ({result.rows_per_s:,.0f} rows/s)"
    )
    return result


def _summary(passes: Sequence[Pass]) -> dict[str, Any]:
    secs = [p.seconds for p in passes]
    rates = [p.rows_per_s for p in passes]
    return {
        "rows": passes[0].rows,
        "files": passes[0].files,
        "bytes": passes[0].bytes,
        "best_seconds": min(secs),
        "median_seconds": statistics.median(secs),
        "best_rows_per_s": max(rates),
        "median_rows_per_s": statistics.median(rates),
    }


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _table(result: dict[str, Any]) -> str:
    base, prod = result["baseline"], result["product"]
    ratio = result["ratio"]
    lines = [
        f"ACCESS_HISTORY collect benchmark: {result['seeded_rows']:,} seeded rows, "
        f"{result['windows']} one-day windows, {result['repeats']} repeats (alternating)",
        "",
        f"{'':<10}{'rows':>12}{'best s':>10}{'median s':>10}"
        f"{'best rows/s':>14}{'median rows/s':>16}",
    ]
    for name, s in (("baseline", base), ("product", prod)):
        lines.append(
            f"{name:<10}{s['rows']:>12,}{s['best_seconds']:>10.2f}{s['median_seconds']:>10.2f}"
            f"{s['best_rows_per_s']:>14,.0f}{s['median_rows_per_s']:>16,.0f}"
        )
    lines += [
        "",
        f"ratio product/baseline throughput: best {ratio['best']:.3f}, "
        f"median {ratio['median']:.3f}",
        f"product overhead (median): {ratio['median_overhead_pct']:+.1f}% wall time",
        f"Parquet bytes: baseline {base['bytes']:,} (pyarrow defaults), "
        f"product {prod['bytes']:,} (deterministic, zstd)",
        f"peak RSS {result['peak_rss_mib']:.0f} MiB (whole process: server, DuckDB and all "
        "passes; not separable per phase)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="ACCESS_HISTORY collect throughput vs a bare connector-to-pyarrow baseline."
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="ACCESS_HISTORY rows")
    parser.add_argument("--repeats", type=int, default=2, help="passes of each side")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.rows < DAYS:
        parser.error(f"--rows must be at least {DAYS}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    # Per-window INFO lines would interleave with the progress output.
    logging.getLogger("das_evidence").setLevel(logging.WARNING)
    per_day = math.ceil(args.rows / DAYS)

    with tempfile.TemporaryDirectory(prefix="evidence-bench-") as tmp, FakeSnowflake() as fake:
        root = Path(tmp)
        keys = root / "keys"
        write_key_pair(keys, ORIGIN)

        _log(f"seeding {per_day:,} ACCESS_HISTORY rows/day x {DAYS} days ...")
        t0 = time.perf_counter()
        seeded = seed_account_usage(
            fake.duck,
            end=END,
            days=DAYS,
            access_rows_per_day=per_day,
            query_rows_per_day=10,
            login_rows_per_day=48,
        )
        _log(f"seeded {seeded} in {time.perf_counter() - t0:.1f} s")

        settings = load_settings(_write_config(root / "plan", port=fake.port, keys=keys))
        collector, windows = _plan(settings)
        _log(f"{len(windows)} windows: {windows[0].start} .. {windows[-1].end}")

        passes: list[Pass] = []
        for repeat in range(1, args.repeats + 1):
            out = root / f"baseline-{repeat}"
            out.mkdir()
            passes.append(
                _timed("baseline", repeat, partial(run_baseline, fake, collector, windows, out))
            )
            shutil.rmtree(out)

            run_dir = root / f"product-{repeat}"
            config = _write_config(run_dir, port=fake.port, keys=keys)
            passes.append(_timed("product", repeat, partial(run_product, config)))
            shutil.rmtree(run_dir)

    base_passes = [p for p in passes if p.side == "baseline"]
    prod_passes = [p for p in passes if p.side == "product"]
    rows_seen = {p.rows for p in passes}
    if len(rows_seen) != 1:
        raise RuntimeError(f"passes read different row counts: {sorted(rows_seen)}")
    if rows_seen != {seeded.access_history}:
        raise RuntimeError(
            f"passes read {rows_seen.pop():,} rows but {seeded.access_history:,} were seeded"
        )

    base, prod = _summary(base_passes), _summary(prod_passes)
    result: dict[str, Any] = {
        "seeded_rows": seeded.access_history,
        "windows": len(windows),
        "repeats": args.repeats,
        "baseline": base,
        "product": prod,
        "ratio": {
            "best": prod["best_rows_per_s"] / base["best_rows_per_s"],
            "median": prod["median_rows_per_s"] / base["median_rows_per_s"],
            "median_overhead_pct": 100.0 * (prod["median_seconds"] / base["median_seconds"] - 1),
        },
        "peak_rss_mib": _peak_rss_mib(),
        "passes": [{**asdict(p), "rows_per_s": p.rows_per_s} for p in passes],
        "environment": {
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "snowflake_connector": snowflake.connector.__version__,
            "platform": platform.platform(),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
