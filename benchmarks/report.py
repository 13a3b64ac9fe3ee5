"""The report of a long period (up to a year) against a bare polars scan of the same columns.

What is measured, on one simulated archive written through the product's own writer
(the generators of ``benchmarks/pack.py``: ``build_archive`` for ACCESS_HISTORY,
QUERY_HISTORY and a TAG_REFERENCES snapshot tagging one column PHI, one ACCESS_HISTORY
row in 256 reading it; plus, here, one LOGIN_HISTORY window per day):

* **report**: what ``evidence report --format json`` does for the whole period, in a
  child process: ``select`` and ``from_archive`` over the archive's log (every file's
  digest is checked as it is first read), ``run_checks_for`` (every control check),
  ``report_documents`` (charts, OSCAL) and ``render_json``;
* **baseline**: a bare polars lazy scan (``pl.scan_parquet`` over the same files, streaming
  engine) of the columns the report's history charts and checks read, computing the same
  per-day aggregates: logins per day (an event counted once by ``EVENT_ID``), the PHI
  reads (``BASE_OBJECTS_ACCESSED`` naming the tagged table, joined to QUERY_HISTORY
  ``ROLE_NAME`` by ``QUERY_ID``) per role, and the failed logins; no digest check;
* **digests**: a bare ``hashlib.sha256`` pass over the archive's files (what the product's
  digest check costs at least), for reference.

Peak RSS is each child's own ``VmHWM`` (it starts afresh at ``exec``; see
``benchmarks/pack.py``); times are each child's work after its imports, best of
``--repeats``. Printed: seconds and peak RSS of each, ``report / baseline`` for both,
and the bound the report keeps at this size ("12 months: N s, M MiB").

``--existing DIR`` measures an archive ``benchmarks/scale.py --keep`` left (read-only:
its ``evidence.toml`` and keys, outputs go to a temporary directory) instead of writing
one: ``evidence report`` (and with ``--pack``, ``evidence pack``) through the CLI, of the
first ``--periods`` days, each run in a child process of its own (seconds after imports,
CPU seconds of the process, ``VmHWM``); with ``--other-src``, each run again with those
sources right after (a before/after under the same load), and whether both wrote the
same bytes.

Run (against another checkout: ``PYTHONPATH=/path/to/src``)::

    .venv/bin/python benchmarks/report.py                          # 12 months (~4 min)
    .venv/bin/python benchmarks/report.py --months 1               # quick
    .venv/bin/python benchmarks/report.py --months 12 --access-rows-per-day 100000 --json
    .venv/bin/python benchmarks/report.py --existing /work/scale12/bench-scale-X \
        --periods 30 120 365 --pack --other-src /tmp/main/src
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# A sibling script (benchmarks/ is on sys.path when this one runs): the same archive.
from pack import (
    ACCOUNT,
    BYTES_PER_ROW,
    ORIGIN,
    START,
    USERS,
    Run,
    _best,
    _child_hash,
    _peak_rss_mib,
    _pick,
    _put,
    _run,
    build_archive,
)

from das_evidence.collectors.parquet import DeterministicParquetWriter
from das_evidence.collectors.snowflake.views import LOGIN_HISTORY
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.timefmt import rfc3339

DAYS_PER_MONTH = 30
IPS = ("10.0.0.1", "10.0.0.2", "192.0.2.7", "198.51.100.9")
# Each user signs in one way: SSO, a password with MFA, or a key pair (a service), so the
# monitoring checks find what a healthy account shows: next to nothing.
FACTORS = {
    "ALICE": ("SAML2_ASSERTION", None),
    "BOB": ("SAML2_ASSERTION", None),
    "CAROL": ("PASSWORD", "DUO_PUSH"),
    "DAVE": ("PASSWORD", "DUO_PUSH"),
    "ERIN": ("RSA_KEYPAIR", None),
}
PHI_TABLE = '"CLINIC.PUBLIC.PATIENTS"'


def _login_table(day: datetime, n: int, first_id: int) -> pa.Table:
    """``n`` LOGIN_HISTORY rows over ``day``; one in 100 a failure."""
    start = int(day.timestamp() * 1_000_000)
    step = 86_400_000_000 // n
    times = pa.array(range(start, start + n * step, step), pa.int64()).cast(
        pa.timestamp("us", tz="UTC")
    )
    outcomes = ["NO"] + ["YES"] * 99
    success = pa.array([outcomes[i % 100] for i in range(n)], pa.string())
    users = _pick(list(USERS), n)
    which = pc.index_in(users, value_set=pa.array(list(FACTORS)))
    given = {
        "EVENT_ID": pa.array(range(first_id, first_id + n), pa.int64()),
        "EVENT_TIMESTAMP": times,
        "EVENT_TYPE": pa.array(["LOGIN"] * n, pa.string()),
        "USER_NAME": users,
        "CLIENT_IP": _pick(list(IPS), n),
        "REPORTED_CLIENT_TYPE": _pick(["JDBC_DRIVER", "PYTHON_DRIVER", "SNOWFLAKE_UI"], n),
        "FIRST_AUTHENTICATION_FACTOR": pa.array([f for f, _ in FACTORS.values()]).take(which),
        "SECOND_AUTHENTICATION_FACTOR": pa.array([f for _, f in FACTORS.values()]).take(which),
        "IS_SUCCESS": success,
    }
    schema = LOGIN_HISTORY.schema()
    return pa.table([given.get(f.name, pa.nulls(n, f.type)) for f in schema], schema=schema)


def add_logins(root: Path, *, days: int, per_day: int) -> int:
    """One LOGIN_HISTORY window per day appended to the archive ``build_archive`` wrote."""
    signer = Ed25519Signer(
        Ed25519PrivateKey.from_private_bytes((root / "key").read_bytes()), ORIGIN
    )
    store = LocalStore(root / "archive")
    log = ArchiveLog(store, ORIGIN)
    spool = root / "spool"
    spool.mkdir(exist_ok=True)
    for d in range(days):
        day = START + timedelta(days=d)
        path = spool / "login_history.parquet"
        table = _login_table(day, per_day, d * per_day)
        with DeterministicParquetWriter(path, table.schema) as w:
            for b in table.to_batches(max_chunksize=65_536):
                w.write(b)
        key = (
            f"evidence/snowflake/{ACCOUNT}/login_history/date={day.date().isoformat()}/"
            "part-0.parquet"
        )
        f = _put(store, log, signer, key, path, table.num_rows)
        path.unlink()
        log.append(
            stream=f"snowflake/{ACCOUNT}/login_history",
            files=[f],
            predicate={
                "collector": {"name": "bench", "version": "0"},
                "window": {"start": rfc3339(day), "end": rfc3339(day + timedelta(days=1))},
                "collected_at": rfc3339(day + timedelta(days=1, hours=3)),
                "rows": table.num_rows,
            },
            signer=signer,
            note_signer=signer,
        )
    spool.rmdir()
    return days * per_day


# -- children ---------------------------------------------------------------------------


class _NoPaths:
    """The directory store seen as a store without local paths (S3, a pack's members):
    ``--through-reader`` makes the report read every file through the store's reader."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _child_report(root: Path, days: int, through_reader: bool = False) -> dict[str, Any]:
    """``evidence report --format json`` over the whole period, through the functions the
    CLI calls, with the default ``[checks]`` settings."""
    from das_evidence.config import ChecksConfig
    from das_evidence.manifests.log import ArchiveLog
    from das_evidence.reports.bundle import report_documents, run_checks_for
    from das_evidence.reports.evidence import from_archive
    from das_evidence.reports.pack import select
    from das_evidence.reports.render import render_json

    store = LocalStore(root / "archive")
    start, end = START, START + timedelta(days=days)
    now = end + timedelta(days=1)
    selection = select(ArchiveLog(store, ORIGIN), start, end, None)
    selection.require_entries()
    evidence = from_archive(_NoPaths(store) if through_reader else store, ORIGIN, start, end)
    checks = ChecksConfig()
    results = run_checks_for(evidence, now, checks)
    docs = report_documents(
        evidence,
        results,
        origin=ORIGIN,
        generated_at=now,
        gaps=selection.gaps,
        title="bench",
        checks=checks,
    )
    text = render_json(docs["data"])
    charts = json.loads(text).get("charts", {})
    return {"report_bytes": len(text), "charts": sorted(charts) if isinstance(charts, dict) else []}


def _child_baseline(root: Path, days: int) -> dict[str, Any]:
    """The same history aggregates by a bare polars lazy scan of the same files."""
    import polars as pl

    base = root / "archive" / "evidence" / "snowflake" / ACCOUNT
    start, end = START, START + timedelta(days=days)

    def scan(kind: str, columns: list[str], time_column: str) -> pl.LazyFrame:
        files = sorted(str(p) for p in (base / kind).rglob("*.parquet"))
        frame = pl.scan_parquet(files).select(columns)
        return frame.filter(pl.col(time_column).is_between(start, end, closed="left"))

    logins = scan("login_history", ["EVENT_ID", "EVENT_TIMESTAMP", "IS_SUCCESS"], "EVENT_TIMESTAMP")
    per_day = (
        logins.unique(subset="EVENT_ID", keep="first", maintain_order=True)
        .group_by(pl.col("EVENT_TIMESTAMP").dt.date().alias("day"))
        .agg(ok=(pl.col("IS_SUCCESS") == "YES").sum(), rows=pl.len())
        .collect(engine="streaming")
    )
    failed = scan(
        "login_history",
        ["EVENT_ID", "EVENT_TIMESTAMP", "USER_NAME", "CLIENT_IP", "IS_SUCCESS"],
        "EVENT_TIMESTAMP",
    ).filter(pl.col("IS_SUCCESS") == "NO")
    failures = failed.select(pl.len()).collect(engine="streaming").item()
    access = scan(
        "access_history",
        ["QUERY_ID", "QUERY_START_TIME", "USER_NAME", "BASE_OBJECTS_ACCESSED"],
        "QUERY_START_TIME",
    ).filter(pl.col("BASE_OBJECTS_ACCESSED").str.contains(PHI_TABLE, literal=True))
    roles = scan("query_history", ["QUERY_ID", "ROLE_NAME", "START_TIME"], "START_TIME")
    phi = (
        access.join(roles.select("QUERY_ID", "ROLE_NAME"), on="QUERY_ID", how="left")
        .group_by("ROLE_NAME")
        .agg(pl.col("QUERY_ID").n_unique())
        .collect(engine="streaming")
    )
    return {"days": per_day.height, "failures": failures, "phi_roles": phi.height}


# -- an existing archive (benchmarks/scale.py --keep) -----------------------------------------

#: scale.py's first night, and its clock: 40 minutes after the last night's midnight
SCALE_START = datetime(2025, 1, 1, tzinfo=UTC)
SCALE_NOW_AFTER = timedelta(minutes=40)


def _child_cli(root: Path, out: Path, argv: list[str], now: str) -> dict[str, Any]:
    """``evidence ARGV`` in this process, from ``root`` (its config); what it cost."""
    os.environ["EVIDENCE_NOW"] = now
    os.chdir(root)
    from das_evidence.cli.main import main as evidence

    used = resource.getrusage(resource.RUSAGE_SELF)
    sys.argv = ["evidence", *argv]
    t = time.perf_counter()
    try:
        evidence()
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
    peak = _peak_rss_mib()  # before the output is hashed (in chunks)
    with out.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": peak, "sha256": digest}


def _existing(args: argparse.Namespace) -> int:
    root = args.existing.resolve()
    nights = json.loads((root / "builder.json").read_text())["nights"]
    now = rfc3339(SCALE_START + timedelta(days=nights) + SCALE_NOW_AFTER)
    sides = [("this", os.environ.get("PYTHONPATH", ""))]
    if args.other_src is not None:
        sides.append(("other", str(args.other_src.resolve())))
    commands = ["report", *(["pack"] if args.pack else [])]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-report-out-") as tmp:
        for days in args.periods:
            to = (SCALE_START + timedelta(days=min(days, nights))).date().isoformat()
            for command in commands:
                row: dict[str, Any] = {"days": days, "command": command}
                for side, src in sides:
                    out = Path(tmp) / f"{command}-{side}.{'zip' if command == 'pack' else 'html'}"
                    result = Path(tmp) / "child.json"
                    argv = [command, "--from", SCALE_START.date().isoformat(), "--to", to]
                    argv += ["--out", str(out)]
                    me = [sys.executable, str(Path(__file__).resolve()), "--child", "cli"]
                    me += ["--dir", str(root), "--out", str(out), "--now", now]
                    me += ["--result", str(result), "--", *argv]
                    env = {**os.environ, "PYTHONPATH": src}
                    done = subprocess.run(me, env=env, check=False)
                    if done.returncode != 0:
                        raise SystemExit(f"evidence {' '.join(argv)} failed ({side})")
                    row[side] = json.loads(result.read_text())
                    out.unlink()
                if "other" in row:
                    row["same_bytes"] = row["this"]["sha256"] == row["other"]["sha256"]
                results.append(row)
                print(json.dumps(row), file=sys.stderr)
    if args.json:
        print(json.dumps({"archive": str(root), "nights": nights, "runs": results}, indent=2))
        return 0
    print(f"archive: {root} ({nights} nights); seconds after imports / CPU seconds / peak RSS")
    for row in results:
        line = f"{row['command']:7}{row['days']:5} days  "
        for side, _ in sides:
            r = row[side]
            line += (
                f"{side}: {r['seconds']:6.1f} s {r['cpu_seconds']:6.1f} cpu "
                f"{r['peak_rss_mib']:5.0f} MiB   "
            )
        if "same_bytes" in row:
            line += "same bytes" if row["same_bytes"] else "DIFFERENT BYTES"
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--months", type=int, default=12, help="30-day months (12)")
    parser.add_argument(
        "--access-rows-per-day", type=int, default=60_000, help="ACCESS_HISTORY rows (60,000)"
    )
    parser.add_argument(
        "--logins-per-day", type=int, default=20_000, help="LOGIN_HISTORY rows (20,000)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="passes of each side (1)")
    parser.add_argument(
        "--through-reader",
        action="store_true",
        help="the report reads files through the store's reader, as from S3 or a pack",
    )
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--existing",
        type=Path,
        metavar="DIR",
        help="measure this archive of benchmarks/scale.py --keep (read-only) instead",
    )
    parser.add_argument(
        "--periods", type=int, nargs="+", default=[365], help="with --existing: days (365)"
    )
    parser.add_argument("--pack", action="store_true", help="with --existing: evidence pack too")
    parser.add_argument(
        "--other-src", type=Path, help="with --existing: each run again with these sources"
    )
    parser.add_argument(
        "--child", choices=("report", "baseline", "hash", "cli"), help=argparse.SUPPRESS
    )
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    days = args.months * DAYS_PER_MONTH

    if args.child == "cli":
        out = _child_cli(args.dir, args.out, args.rest, args.now)
        args.result.write_text(json.dumps(out))
        return 0
    if args.existing is not None:
        return _existing(args)

    if args.child:
        root = args.dir
        if args.child == "report":  # imports before the timer, as the baseline's are
            import das_evidence.reports.bundle
            import das_evidence.reports.oscal
            import das_evidence.reports.pack
            import das_evidence.reports.render  # noqa: F401
        import polars  # noqa: F401

        t = time.perf_counter()
        out: dict[str, Any] = {}
        if args.child == "report":
            out = _child_report(root, days, args.through_reader)
        elif args.child == "baseline":
            out = _child_baseline(root, days)
        else:
            _child_hash(root)
        seconds = time.perf_counter() - t
        (root / f"{args.child}.json").write_text(
            json.dumps({"seconds": seconds, "peak_rss_mib": _peak_rss_mib()})
        )
        (root / f"{args.child}.out.json").write_text(json.dumps(out))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-report-", dir=args.dir))
    try:
        gib = args.access_rows_per_day * days * BYTES_PER_ROW / 1024**3
        print(f"== writing {args.months} months ({days} days) of history", file=sys.stderr)
        t = time.perf_counter()
        archive = build_archive(work, gib=gib, days=days)
        logins = add_logins(work, days=days, per_day=args.logins_per_day)
        archive["bytes"] = sum(
            p.stat().st_size for p in (work / "archive").rglob("*") if p.is_file()
        )
        print(f"   {time.perf_counter() - t:.1f} s", file=sys.stderr)
        me = [sys.executable, str(Path(__file__).resolve()), "--dir", str(work)]
        me += ["--months", str(args.months)] + (["--through-reader"] if args.through_reader else [])
        runs: dict[str, list[Run]] = {"report": [], "baseline": [], "hash": []}
        for i in range(args.repeats):
            print(f"== pass {i + 1}: baseline, hashlib, report", file=sys.stderr)
            for side in ("baseline", "hash", "report"):
                runs[side].append(_run([*me, "--child", side], result=work / f"{side}.json"))
        report, baseline, hashing = (_best(runs[s]) for s in ("report", "baseline", "hash"))
        outputs = {s: json.loads((work / f"{s}.out.json").read_text()) for s in runs}
        result = {
            "months": args.months,
            "days": days,
            "archive": {**archive, "login_rows": logins},
            "report": asdict(report),
            "baseline": asdict(baseline),
            "hashlib": asdict(hashing),
            "report_over_baseline_seconds": report.seconds / baseline.seconds,
            "report_over_baseline_rss": report.peak_rss_mib / baseline.peak_rss_mib,
            "outputs": outputs,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    mib = 1024**2
    print(
        f"archive: {args.months} months, {archive['entries'] + days} entries, "
        f"{archive['rows']:,} ACCESS_HISTORY rows, {logins:,} LOGIN_HISTORY rows, "
        f"{archive['bytes'] / mib:,.0f} MiB"
    )
    print(f"{'':28}{'seconds':>9}{'peak RSS MiB':>14}")
    for name, r in (
        ("report (evidence report)", report),
        ("baseline (bare polars)", baseline),
        ("hashlib (digests alone)", hashing),
    ):
        print(f"{name:28}{r.seconds:9.2f}{r.peak_rss_mib:14.0f}")
    print(
        f"report / baseline: {result['report_over_baseline_seconds']:.2f}x time, "
        f"{result['report_over_baseline_rss']:.2f}x peak RSS"
    )
    how = "files read through the store's reader" if args.through_reader else "local paths"
    print(
        f"bound: {args.months} months: {report.seconds:.0f} s, {report.peak_rss_mib:.0f} MiB "
        f"(report of the whole period, {how}, {os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
