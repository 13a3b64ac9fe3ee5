"""Throughput and peak memory of ``evidence collect`` for ACCESS_HISTORY against a bare
connector-to-pyarrow baseline, at one or more sizes.

What is measured, each pass in a fresh child process, on the same seeded data:

* **baseline**: what a hand-written export script would do. One
  ``snowflake.connector.connect``; for each one-day window the product collects, the
  identical SELECT (built by ``HistoryCollector.sql``), rows read with
  ``cursor.fetch_arrow_batches()`` and written with a default ``pyarrow.parquet.ParquetWriter``
  to one Parquet file per window.
* **product**: ``Services(settings, clock=...).collect(only="access_history")`` into a fresh
  directory archive: the same connector, plus the pinned-schema cast, windows over
  ``max_rows_per_query`` read in sub-range queries, deterministic Parquet (zstd, fixed row
  groups, parts above ``max_file_bytes``), SHA-256 of every file, DSSE signing, put-once
  store writes and signed checkpoints.

The fake Snowflake (fakesnow's HTTP server on 127.0.0.1) runs in a process of its own,
seeded with ``--rows`` ACCESS_HISTORY rows over 7 UTC days (other views kept tiny), so the
figures are those of the collecting process alone. The passes alternate (baseline, product,
baseline, product, ...) so drift in the machine's state hits both alike. The clock is fixed,
so every pass collects exactly the same 7 windows.

Each child times its own work (imports done before the timer, so interpreter start-up
counts on neither side) and reports its peak RSS (``VmHWM`` from ``/proc/self/status``:
the child's own, since ``exec``). Printed per size: seconds and rows/s of each side, the
throughput ratio ``product / baseline`` (1.00: no overhead; target: product time within
1.15x), and the peak RSS of each side with the ratio product/baseline; and across sizes
the product's peak RSS at the largest size over that at the smallest (target: within 15 %).

Absolute rows/s are dominated by fakesnow (DuckDB, JSON/Arrow over local HTTP, the
connector's decoding), which is the same for both sides; the ratio isolates what the
product adds on top of "connector to Parquet".

Run::

    .venv/bin/python benchmarks/collect.py                          # 100 k and 1 M rows
    .venv/bin/python benchmarks/collect.py --rows 1000000 10000000  # issue 13's sizes
    .venv/bin/python benchmarks/collect.py --rows 100000 --json     # quick, machine-readable
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    """One timed pass of one side, in a child process of its own."""

    side: str  # baseline | product
    repeat: int
    rows: int
    files: int
    bytes: int
    seconds: float
    peak_rss_mib: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else math.nan


def _log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _peak_rss_mib() -> float:
    """This process's peak RSS since ``exec`` (Linux ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


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


# -- the fake server's process ---------------------------------------------------------------


def serve(rows: int) -> int:
    """Seed ``rows`` ACCESS_HISTORY rows, print ``READY <port> <rows>``, serve until stdin ends."""
    from das_evidence.demo.seed import seed_incidents, seed_window
    from das_evidence.demo.server import FakeSnowflake

    logging.getLogger("das_evidence").setLevel(logging.WARNING)
    with FakeSnowflake() as fake:
        # Day by day: seeding is a pure function of the day, and one day at a time keeps
        # the seeding's own memory to a day's rows (10 M rows at once would need ~26 GB).
        days = [
            seed_window(
                fake.duck,
                START + timedelta(days=day),
                START + timedelta(days=day + 1),
                access_rows_per_day=math.ceil(rows / DAYS),
                query_rows_per_day=10,
                login_rows_per_day=48,
            )
            for day in range(DAYS)
        ]
        # After the windows, as seed_account_usage does (seeding a window replaces its rows).
        seeded = sum(days[1:], days[0]) + seed_incidents(fake.duck, START, END)
        sys.stdout.write(f"READY {fake.port} {seeded.access_history}\n")
        sys.stdout.flush()
        sys.stdin.read()  # until the parent closes it (or dies)
    return 0


class Server:
    """The fake Snowflake in a child process."""

    def __init__(self, rows: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(rows)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 3 or line[0] != "READY":
            self.stop()
            raise RuntimeError(f"the fake server did not start: {line!r}")
        self.port, self.rows = int(line[1]), int(line[2])

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


# -- the two sides, each run in a child ----------------------------------------------------


def child_baseline(config: Path, out: Path) -> dict[str, Any]:
    """Connector to pyarrow to Parquet, one default-settings file per window."""
    import pyarrow.parquet as pq
    import snowflake.connector

    from das_evidence.collectors.snowflake import LazySession, history_collector
    from das_evidence.config import load_settings

    settings = load_settings(config)
    collector = history_collector(settings, LazySession({}), NOW, STREAM)  # sql() only
    windows = collector.due_windows(None, NOW)
    args = settings.snowflake.connector_args()
    args["session_parameters"] = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}
    t0 = time.perf_counter()
    rows = files = size = 0
    conn = snowflake.connector.connect(**args)
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
    seconds = time.perf_counter() - t0
    return {"rows": rows, "files": files, "bytes": size, "seconds": seconds}


def child_product(config: Path) -> dict[str, Any]:
    """``evidence collect --only access_history`` as a library call, into a fresh archive."""
    # Imported before the timer, as the baseline imports the connector before its own.
    import das_evidence.collectors.snowflake.connection  # noqa: F401
    from das_evidence.config import load_settings
    from das_evidence.services import Services

    settings = load_settings(config)
    t0 = time.perf_counter()
    report = Services(settings, clock=lambda: NOW).collect(only=STREAM)
    seconds = time.perf_counter() - t0
    if not report.ok:
        raise RuntimeError(f"product collection failed: {report.to_json()}")
    return {
        "rows": sum(s.rows for s in report.streams),
        "files": sum(len(s.entries) for s in report.streams),
        "bytes": sum(s.bytes for s in report.streams),
        "seconds": seconds,
    }


def _pass(side: str, repeat: int, config: Path, out: Path) -> Pass:
    result = out / "result.json"
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", side]
    argv += ["--config", str(config), "--out", str(out)]
    done = subprocess.run(argv, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {side} pass failed with exit status {done.returncode}")
    r = json.loads(result.read_text())
    p = Pass(side, repeat, r["rows"], r["files"], r["bytes"], r["seconds"], r["peak_rss_mib"])
    _log(
        f"  {side:<8} #{repeat}: {p.rows:,} rows, {p.files} files, {p.bytes:,} bytes "
        f"in {p.seconds:.2f} s ({p.rows_per_s:,.0f} rows/s), peak RSS {p.peak_rss_mib:.0f} MiB"
    )
    return p


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
        "peak_rss_mib": max(p.peak_rss_mib for p in passes),
    }


def run_size(
    rows: int, repeats: int, root: Path, sides: Sequence[str] = ("baseline", "product")
) -> dict[str, Any]:
    """Seed a server with ``rows`` rows and run ``repeats`` passes of each side against it."""
    from das_evidence.manifests.keyring import write_key_pair

    keys = root / "keys"
    if not keys.exists():
        write_key_pair(keys, ORIGIN)
    _log(f"seeding {rows:,} ACCESS_HISTORY rows over {DAYS} days in the server's process ...")
    t0 = time.perf_counter()
    server = Server(rows)
    _log(f"seeded {server.rows:,} rows in {time.perf_counter() - t0:.1f} s")
    passes: list[Pass] = []
    try:
        for repeat in range(1, repeats + 1):
            for side in sides:
                run_dir = root / f"{side}-{rows}-{repeat}"
                config = _write_config(run_dir, port=server.port, keys=keys)
                passes.append(_pass(side, repeat, config, run_dir))
                shutil.rmtree(run_dir)
    finally:
        server.stop()
    if {p.rows for p in passes} != {server.rows}:
        raise RuntimeError(
            f"passes read {sorted({p.rows for p in passes})} rows; {server.rows:,} were seeded"
        )
    prod = _summary([p for p in passes if p.side == "product"])
    result: dict[str, Any] = {"seeded_rows": server.rows, "repeats": repeats, "product": prod}
    result["passes"] = [{**asdict(p), "rows_per_s": p.rows_per_s} for p in passes]
    if "baseline" not in sides:
        return result
    base = _summary([p for p in passes if p.side == "baseline"])
    result["baseline"] = base
    result["ratio"] = {
        "best": prod["best_rows_per_s"] / base["best_rows_per_s"],
        "median": prod["median_rows_per_s"] / base["median_rows_per_s"],
        "median_time": prod["median_seconds"] / base["median_seconds"],
        "peak_rss": prod["peak_rss_mib"] / base["peak_rss_mib"],
    }
    return result


def _table(result: dict[str, Any]) -> str:
    lines = [
        f"ACCESS_HISTORY collect benchmark: {DAYS} one-day windows, fake server in its own "
        "process, each pass a fresh child process",
        "",
        f"{'rows':>12}  {'side':<9}{'median s':>10}{'median rows/s':>15}{'peak RSS MiB':>14}",
    ]
    for size in result["sizes"]:
        for name in ("baseline", "product"):
            if name not in size:
                continue
            s = size[name]
            lines.append(
                f"{size['seeded_rows']:>12,}  {name:<9}{s['median_seconds']:>10.2f}"
                f"{s['median_rows_per_s']:>15,.0f}{s['peak_rss_mib']:>14.0f}"
            )
        r = size.get("ratio")
        if r is None:
            continue
        lines.append(
            f"{'':>12}  ratio    throughput product/baseline {r['median']:.3f} (best "
            f"{r['best']:.3f}), time {r['median_time']:.3f}x, peak RSS {r['peak_rss']:.2f}x"
        )
    first, last = result["sizes"][0], result["sizes"][-1]
    if len(result["sizes"]) > 1:
        lines += [
            "",
            f"product peak RSS at {last['seeded_rows']:,} rows / at {first['seeded_rows']:,}: "
            f"{result['product_rss_growth']:.3f} (target <= 1.15)",
        ]
        if result["baseline_rss_growth"] is not None:
            lines.append(
                f"baseline peak RSS at {last['seeded_rows']:,} rows / at "
                f"{first['seeded_rows']:,}: {result['baseline_rss_growth']:.3f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="ACCESS_HISTORY collect throughput and peak RSS vs a bare "
        "connector-to-pyarrow baseline."
    )
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[100_000, 1_000_000],
        help="ACCESS_HISTORY rows, one run per size (default: 100000 1000000)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="passes of each side per size")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--product-only",
        action="store_true",
        help="no baseline passes (the fake server cannot hold a 1.4 M-row result whole: it "
        "ran out of 23 GB at 10 M rows)",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("baseline", "product"), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    # Per-window INFO lines would interleave with the progress output.
    logging.getLogger("das_evidence").setLevel(logging.WARNING)
    if args.serve is not None:
        return serve(args.serve)
    if args.child:
        if args.child == "baseline":
            r = child_baseline(args.config, args.out)
        else:
            r = child_product(args.config)
        r["peak_rss_mib"] = _peak_rss_mib()
        (args.out / "result.json").write_text(json.dumps(r))
        return 0
    if min(args.rows) < DAYS:
        parser.error(f"--rows must be at least {DAYS}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    import pyarrow as pa

    with tempfile.TemporaryDirectory(prefix="evidence-bench-") as tmp:
        sides = ("product",) if args.product_only else ("baseline", "product")
        sizes = [run_size(rows, args.repeats, Path(tmp), sides) for rows in args.rows]
    first, last = sizes[0], sizes[-1]
    result: dict[str, Any] = {
        "sizes": sizes,
        "product_rss_growth": last["product"]["peak_rss_mib"] / first["product"]["peak_rss_mib"],
        "baseline_rss_growth": None
        if args.product_only
        else last["baseline"]["peak_rss_mib"] / first["baseline"]["peak_rss_mib"],
        "environment": {
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
