"""The collecting process in ``server_side_unload`` mode against the same stream in select mode.

What is measured, on the same seeded data and the same 7 one-day ACCESS_HISTORY windows:

* **select** (the baseline): ``evidence collect --only access_history`` with the default
  ``mode = "select"``: rows come over the connector as Arrow, are cast to the pinned
  schema and written as Parquet by the collector.
* **unload**: the same command with ``mode = "server_side_unload"``: the fake Snowflake
  answers ``COPY INTO @stage`` by writing Parquet to a stage on the evidence bucket
  (``demo/fake_unload.py``), and the collector copies the staged files in with parallel
  ranged GETs, hashing as it streams.

Each ``evidence collect`` runs in its own process, so its peak RSS (its own ``VmHWM``,
written as it exits) and CPU time (``os.wait4``) are the collector's alone: the fake
Snowflake runs in this process and moto_server in another, and their work (running the
query, writing the Parquet) is in neither figure. Wall time includes them: in select
mode the fake's Arrow-over-HTTP serving, in unload mode its Parquet writing (which a
real warehouse does in parallel, off the collector's machine), so the wall-time ratio
says little about a real account; collector CPU and peak RSS are the figures to watch. The passes
alternate (select, unload, ...); each writes a new archive prefix.

Run::

    .venv/bin/python benchmarks/unload.py                   # 1,000,000 rows, 2 repeats
    .venv/bin/python benchmarks/unload.py --rows 100000     # quick check
    .venv/bin/python benchmarks/unload.py --json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from das_evidence.demo import fake_unload
from das_evidence.demo.moto import CREDENTIALS, MotoServer
from das_evidence.demo.seed import seed_account_usage
from das_evidence.demo.server import FakeSnowflake
from das_evidence.manifests.keyring import write_key_pair

ORIGIN = "evidence.example.com/bench-unload"
DAYS = 7
END = datetime(2026, 1, 8, tzinfo=UTC)
START = END - timedelta(days=DAYS)
NOW = END + timedelta(hours=3)
STAGE = "@EVIDENCE_DB.EVIDENCE.UNLOAD_STAGE"

CONFIG = """\
[snowflake]
account = "ACME_PROD"
user = "EVIDENCE_COLLECTOR"
password = "bench-only"
host = "127.0.0.1"
port = {port}
protocol = "http"
network_timeout = 600

[store]
uri = "s3://{bucket}/{name}"
endpoint_url = "{endpoint}"

[signing]
key = "{keys}/signing.key"

[log]
origin = "{origin}"

[redaction]
hmac_key = "{keys}/redaction.key"

[streams.access_history]
start = "{start}"
{mode}
"""

UNLOAD = f"""mode = "server_side_unload"
stage = "{STAGE}"
staging_prefix = "s3://{{bucket}}/staging/"
max_file_size = {{max_file_size}}
"""


# The CLI in a child that writes its own peak RSS (Linux VmHWM, which starts afresh at
# exec) to $BENCH_HWM as it exits: getrusage would carry this process's high-water mark
# (the seeded fake) into the forked child.
_CHILD = """
import atexit, os, runpy, sys
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(os.environ["BENCH_HWM"], "w").write(line.split()[1])
atexit.register(hwm)
sys.argv = ["evidence", *sys.argv[1:]]
runpy.run_module("das_evidence.cli.main", run_name="__main__")
"""
COMMAND = (sys.executable, "-c", _CHILD, "collect")


@dataclass(frozen=True)
class Pass:
    mode: str
    repeat: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    entries: int
    rows: int


def _log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _collect(mode: str, repeat: int, config: Path, env: dict[str, str]) -> Pass:
    """One ``evidence collect`` in a child process: its wall time, CPU and peak RSS."""
    t0 = time.perf_counter()
    out_path, err_path = config.parent / "stdout", config.parent / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [*COMMAND, "--config", str(config), "--only", "access_history", "--json"],
            cwd=config.parent,
            env=dict(env, BENCH_HWM=str(config.parent / "hwm")),
            stdout=out,
            stderr=err,
        )
        # wait4, not wait: the child's own rusage (peak RSS, CPU), not this process's.
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        tail = err_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{mode} collect failed ({proc.returncode}): {tail}")
    out_text = out_path.read_text()
    report = json.loads(out_text)
    streams = report["streams"]
    result = Pass(
        mode,
        repeat,
        seconds,
        usage.ru_utime + usage.ru_stime,
        int((config.parent / "hwm").read_text()) / 1024,
        sum(len(s["entries"]) for s in streams),
        sum(s["rows"] for s in streams),
    )
    _log(
        f"{mode} #{repeat}: {result.rows:,} rows in {result.entries} entries, "
        f"{seconds:.1f} s wall, {result.cpu_seconds:.1f} s CPU, {result.peak_rss_mib:.0f} MiB"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ACCESS_HISTORY rows")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-file-size", type=int, default=64 * 1024**2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("das_evidence").setLevel(logging.WARNING)
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)

    with tempfile.TemporaryDirectory(prefix="evidence-bench-unload-") as tmp:
        root = Path(tmp)
        keys = root / "keys"
        write_key_pair(keys, ORIGIN)
        moto = MotoServer(root / "moto.log").start()
        try:
            bucket = moto.locked_bucket(retention_days=1)
            with FakeSnowflake() as fake:
                fake_unload.register_stage(
                    STAGE, f"s3://{bucket}/staging/", endpoint_url=moto.endpoint
                )
                per_day = math.ceil(args.rows / DAYS)
                _log(f"seeding {per_day:,} ACCESS_HISTORY rows/day x {DAYS} days ...")
                seeded = seed_account_usage(
                    fake.duck,
                    end=END,
                    days=DAYS,
                    access_rows_per_day=per_day,
                    query_rows_per_day=10,
                    login_rows_per_day=48,
                )
                env = dict(
                    os.environ,
                    **CREDENTIALS,
                    EVIDENCE_NOW=NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
                passes: list[Pass] = []
                for repeat in range(1, args.repeats + 1):
                    for mode in ("select", "unload"):
                        name = f"{mode}-{repeat}"
                        directory = root / name
                        directory.mkdir()
                        extra = (
                            UNLOAD.format(bucket=bucket, max_file_size=args.max_file_size)
                            if mode == "unload"
                            else ""
                        )
                        config = directory / "evidence.toml"
                        config.write_text(
                            CONFIG.format(
                                port=fake.port,
                                bucket=bucket,
                                name=name,
                                endpoint=moto.endpoint,
                                keys=keys.as_posix(),
                                origin=ORIGIN,
                                start=START.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                mode=extra,
                            )
                        )
                        passes.append(_collect(mode, repeat, config, env))
        finally:
            moto.stop()

    def median(mode: str, field: str) -> float:
        return statistics.median(getattr(p, field) for p in passes if p.mode == mode)

    rows = {p.rows for p in passes}
    if rows != {seeded.access_history}:
        raise RuntimeError(f"passes read {sorted(rows)} rows, {seeded.access_history} seeded")
    result: dict[str, Any] = {
        "seeded_rows": seeded.access_history,
        "max_file_size": args.max_file_size,
        "median": {
            m: {f: median(m, f) for f in ("seconds", "cpu_seconds", "peak_rss_mib")}
            for m in ("select", "unload")
        },
        "ratio_unload_to_select": {
            f: median("unload", f) / median("select", f)
            for f in ("seconds", "cpu_seconds", "peak_rss_mib")
        },
        "passes": [asdict(p) for p in passes],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        r = result["ratio_unload_to_select"]
        print(f"rows: {seeded.access_history:,} over {DAYS} daily windows")
        for m in ("select", "unload"):
            s = result["median"][m]
            print(
                f"{m:>7}: {s['seconds']:.1f} s wall, {s['cpu_seconds']:.1f} s collector CPU, "
                f"{s['peak_rss_mib']:.0f} MiB collector peak RSS"
            )
        print(
            f"  unload / select: wall {r['seconds']:.2f}x, collector CPU "
            f"{r['cpu_seconds']:.2f}x, collector peak RSS {r['peak_rss_mib']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
