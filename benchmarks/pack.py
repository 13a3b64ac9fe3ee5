"""Building and verifying an auditor pack against ``zip -r`` and a bare hashlib pass.

What is measured, on one simulated archive written through the product's own writer
(``DeterministicParquetWriter``, ``LocalStore.put_once``, ``ArchiveLog.append``):

* the archive: ``--days`` one-day ACCESS_HISTORY windows of together about ``--gib`` GiB
  of Parquet (random query ids, JSON object lists naming a few tables and columns), a
  small QUERY_HISTORY window per day naming the roles, and one policy-state snapshot
  whose TAG_REFERENCES tags a column PHI (one ACCESS_HISTORY row in 256 reads it), so
  the report's PHI-reads chart and checks read every ACCESS_HISTORY file;
* **build**: ``build_pack`` with the report hook the CLI passes (``report_files``: HTML
  report, charts, checks, OSCAL), in a child process; against ``zip -r -q`` over the same
  files (``evidence/`` and ``log/entries/`` of the archive, default deflate level), also
  in a child process;
* **verify**: ``verify_target`` on the pack, in a child process; against a bare
  ``hashlib.sha256`` pass (1 MiB reads) over the same files in the archive.

Peak RSS is each child's own ``VmHWM`` from ``/proc/self/status``, read as it exits:
it starts afresh at ``exec``, so the parent's generation of the archive does not count
(``getrusage`` would: Linux carries the parent's high-water mark into a forked child).
Times are wall-clock seconds of each child's work, timed inside it after the interpreter
has started (``zip`` from the outside: it has no start-up to speak of), best of
``--repeats``. The ratios are the
numbers to watch: ``build / zip`` (target <= 1.5) and ``verify / hashlib``; the peak RSS
of build and verify (target < 512 MiB) should not grow with ``--gib``.

Run::

    .venv/bin/python benchmarks/pack.py                 # 0.25 GiB over 7 days (~1 min)
    .venv/bin/python benchmarks/pack.py --gib 2         # a larger archive
    .venv/bin/python benchmarks/pack.py --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.collectors.parquet import DeterministicParquetWriter
from das_evidence.collectors.snowflake.views import ACCESS_HISTORY, QUERY_HISTORY
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.timefmt import rfc3339

ORIGIN = "evidence.example.com/bench-pack"
ACCOUNT = "ACME_PROD"
START = datetime(2026, 1, 1, tzinfo=UTC)
PARQUET = "application/vnd.apache.parquet"
TABLES = ("CLINIC.PUBLIC.PATIENTS", "CLINIC.PUBLIC.VISITS", "SALES.PUBLIC.ORDERS")
COLUMNS = ("SSN", "NAME", "DOB", "AMOUNT", "ID")
PHI = ("CLINIC.PUBLIC.PATIENTS", "SSN")
USERS = ("ALICE", "BOB", "CAROL", "DAVE", "ERIN")
ROLES = ("ANALYST", "ADMIN", "CLINICIAN", "ETL")
# Compressed bytes per generated ACCESS_HISTORY row, measured: sizes the rows per window.
BYTES_PER_ROW = 60
BATCH_ROWS = 262_144
# 256 bytes -> 64 id characters, so random bytes translate into ids without Python loops.
_ALPHABET = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_" * 4)[:256]


def _ids(n: int, width: int = 32) -> pa.Array:
    """``n`` random ``width``-character ids, built as one Arrow buffer (no Python strings)."""
    chars = os.urandom(n * width).translate(_ALPHABET)
    offsets = pa.array(range(0, (n + 1) * width, width), pa.int32()).buffers()[1]
    return pa.StringArray.from_buffers(n, offsets, pa.py_buffer(chars))


def _pick(choices: list[str], n: int) -> pa.Array:
    """``n`` values drawn from ``choices`` (uniform up to the rounding of 256 bytes)."""
    raw = pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(os.urandom(n))])
    table = pa.array([choices[i % len(choices)] for i in range(256)])
    return pa.DictionaryArray.from_arrays(raw.cast(pa.int16()), table).cast(pa.string())


def _objects_json(table: str, column: str) -> str:
    return json.dumps(
        [{"objectName": table, "objectDomain": "Table", "columns": [{"columnName": column}]}]
    )


def _access_batch(day: datetime, n: int) -> pa.RecordBatch:
    # One row in 256 reads the PHI column (CLINIC.PUBLIC.PATIENTS.SSN), the others not.
    others = [_objects_json(t, c) for t in TABLES for c in COLUMNS if (t, c) != PHI]
    objects = [_objects_json(*PHI)] + [others[i % len(others)] for i in range(255)]
    start = int(day.timestamp() * 1_000_000)
    step = 86_400_000_000 // n
    times = pa.array(range(start, start + n * step, step), pa.int64()).cast(
        pa.timestamp("us", tz="UTC")
    )
    qids = _ids(n)
    nulls = pa.nulls(n, pa.string())
    base = _pick(objects, n)
    cols = {
        "QUERY_ID": qids,
        "QUERY_START_TIME": times,
        "USER_NAME": _pick(list(USERS), n),
        "DIRECT_OBJECTS_ACCESSED": base,
        "BASE_OBJECTS_ACCESSED": base,
        "OBJECTS_MODIFIED": pa.array(["[]"] * n, pa.string()),
        "OBJECT_MODIFIED_BY_DDL": nulls,
        "POLICIES_REFERENCED": pa.array(["[]"] * n, pa.string()),
        "PARENT_QUERY_ID": nulls,
        "ROOT_QUERY_ID": qids,
    }
    return pa.RecordBatch.from_arrays(
        [cols[f.name] for f in ACCESS_HISTORY.schema()], schema=ACCESS_HISTORY.schema()
    )


def _query_table(day: datetime, qids: pa.Array) -> pa.Table:
    n = len(qids)
    schema = QUERY_HISTORY.schema()
    start = pa.array([day] * n, pa.timestamp("us", tz="UTC"))
    given = {"QUERY_ID": qids, "ROLE_NAME": _pick(list(ROLES), n), "START_TIME": start}
    return pa.table(
        [given.get(f.name, pa.nulls(n, f.type)) for f in schema],
        schema=schema,
    )


def phi_tags() -> pa.Table:
    """TAG_REFERENCES of the policy snapshot: PATIENTS.SSN tagged as PHI."""
    return pa.table(
        {
            "TAG_DATABASE": ["GOV"],
            "TAG_SCHEMA": ["TAGS"],
            "TAG_NAME": ["PHI"],
            "TAG_VALUE": ["yes"],
            "OBJECT_DATABASE": ["CLINIC"],
            "OBJECT_SCHEMA": ["PUBLIC"],
            "OBJECT_NAME": ["PATIENTS"],
            "COLUMN_NAME": ["SSN"],
            "DOMAIN": ["COLUMN"],
            "OBJECT_DELETED": pa.array([None], pa.timestamp("us", tz="UTC")),
        }
    )


def _put(
    store: LocalStore, log: ArchiveLog, signer: Ed25519Signer, key: str, path: Path, rows: int
) -> EvidenceFile:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    store.put_once(key, path)
    return EvidenceFile(key, digest.hexdigest(), path.stat().st_size, PARQUET, rows)


def build_archive(root: Path, *, gib: float, days: int) -> dict[str, Any]:
    """The simulated archive under ``root/archive``, its signing key as ``root/key``."""
    key = Ed25519PrivateKey.generate()
    (root / "key").write_bytes(key.private_bytes_raw())
    signer = Ed25519Signer(key, ORIGIN)
    (root / "signing.pub").write_bytes(signer.public_key_pem())
    store = LocalStore(root / "archive", create=True)
    log = ArchiveLog(store, ORIGIN)
    spool = root / "spool"
    spool.mkdir()
    rows_per_day = max(1, int(gib * 1024**3 / BYTES_PER_ROW / days))
    total_rows = 0

    def append(stream: str, start: datetime, end: datetime, files: list[EvidenceFile]) -> None:
        log.append(
            stream=f"snowflake/{ACCOUNT}/{stream}",
            files=files,
            predicate={
                "collector": {"name": "bench", "version": "0"},
                "window": {"start": rfc3339(start), "end": rfc3339(end)},
                "collected_at": rfc3339(end + timedelta(hours=3)),
                "rows": sum(f.rows or 0 for f in files),
            },
            signer=signer,
            note_signer=signer,
        )

    # The policy snapshot first: TAG_REFERENCES tags PATIENTS.SSN as PHI.
    tags = phi_tags()
    as_of = START + timedelta(hours=1)
    path = spool / "tag_references.parquet"
    with DeterministicParquetWriter(path, tags.schema) as w:
        for b in tags.to_batches():
            w.write(b)
    stamp = as_of.strftime("%Y%m%dT%H%M%SZ")
    snap_key = f"evidence/snowflake/{ACCOUNT}/policy_state/as_of={stamp}/tag_references.parquet"
    f = _put(store, log, signer, snap_key, path, tags.num_rows)
    log.append(
        stream=f"snowflake/{ACCOUNT}/policy_state",
        files=[f],
        predicate={
            "collector": {"name": "bench", "version": "0"},
            "window": {"start": rfc3339(as_of), "end": rfc3339(as_of)},
            "collected_at": rfc3339(as_of),
            "views": {"TAG_REFERENCES": {"status": "evidenced"}},
        },
        signer=signer,
        note_signer=signer,
    )
    path.unlink()

    for d in range(days):
        day = START + timedelta(days=d)
        date = day.date().isoformat()
        ah = spool / "access_history.parquet"
        sample: list[pa.Array] = []
        with DeterministicParquetWriter(ah, ACCESS_HISTORY.schema()) as w:
            left = rows_per_day
            while left:
                n = min(left, BATCH_ROWS)
                batch = _access_batch(day, n)
                w.write(batch)
                if not sample:
                    sample.append(batch.column(0).slice(0, 2000))
                left -= n
        ah_key = f"evidence/snowflake/{ACCOUNT}/access_history/date={date}/part-0.parquet"
        ah_file = _put(store, log, signer, ah_key, ah, rows_per_day)
        ah.unlink()
        append("access_history", day, day + timedelta(days=1), [ah_file])
        qh = spool / "query_history.parquet"
        table = _query_table(day, sample[0])
        with DeterministicParquetWriter(qh, table.schema) as w:
            for b in table.to_batches():
                w.write(b)
        qh_key = f"evidence/snowflake/{ACCOUNT}/query_history/date={date}/part-0.parquet"
        qh_file = _put(store, log, signer, qh_key, qh, table.num_rows)
        qh.unlink()
        append("query_history", day, day + timedelta(days=1), [qh_file])
        total_rows += rows_per_day
        print(f"  day {d + 1}/{days}: {rows_per_day:,} ACCESS_HISTORY rows", file=sys.stderr)
    spool.rmdir()
    size = sum(p.stat().st_size for p in (root / "archive").rglob("*") if p.is_file())
    return {"rows": total_rows, "bytes": size, "entries": log.size}


# -- children ---------------------------------------------------------------------------


def _child_build(root: Path, out: Path, days: int) -> None:
    from das_evidence.config import ChecksConfig
    from das_evidence.reports.bundle import report_files
    from das_evidence.reports.pack import build_pack

    signer = Ed25519Signer(
        Ed25519PrivateKey.from_private_bytes((root / "key").read_bytes()), ORIGIN
    )
    build_pack(
        LocalStore(root / "archive"),
        origin=ORIGIN,
        signer=signer,
        note_signer=signer,
        start=START,
        end=START + timedelta(days=days),
        out=out,
        extras=report_files(checks=ChecksConfig()),
    )


def _child_verify(root: Path, pack: Path) -> None:
    from das_evidence.verify import verify_target

    report = verify_target(str(pack), pubs=[root / "signing.pub"])
    if not report.ok:
        raise SystemExit(f"the pack does not verify: {report.findings[:5]}")


def _child_hash(root: Path) -> None:
    for top in ("evidence", "log/entries"):
        for p in sorted((root / "archive" / top).rglob("*")):
            if p.is_file():
                h = hashlib.sha256()
                with p.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float


def _peak_rss_mib() -> float:
    """This process's peak RSS since ``exec`` (Linux ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run(argv: list[str], cwd: Path | None = None, result: Path | None = None) -> Run:
    """One child: the seconds and peak RSS it wrote to ``result``, else its wall seconds."""
    t = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, check=False)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed with exit status {done.returncode}")
    if result is None:
        return Run(seconds, float("nan"))
    return Run(**json.loads(result.read_text()))


def _best(runs: list[Run]) -> Run:
    return Run(min(r.seconds for r in runs), max(r.peak_rss_mib for r in runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--gib", type=float, default=0.25, help="ACCESS_HISTORY GiB (0.25)")
    parser.add_argument("--days", type=int, default=7, help="one-day windows (7)")
    parser.add_argument("--repeats", type=int, default=1, help="passes of each side (1)")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--child", choices=("build", "verify", "hash"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        root = args.dir
        t = time.perf_counter()
        if args.child == "build":
            _child_build(root, root / "pack.zip", args.days)
        elif args.child == "verify":
            _child_verify(root, root / "pack.zip")
        else:
            _child_hash(root)
        seconds = time.perf_counter() - t
        (root / f"{args.child}.json").write_text(
            json.dumps({"seconds": seconds, "peak_rss_mib": _peak_rss_mib()})
        )
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-pack-", dir=args.dir))
    try:
        print(f"== writing {args.gib} GiB of ACCESS_HISTORY over {args.days} days", file=sys.stderr)
        t = time.perf_counter()
        archive = build_archive(work, gib=args.gib, days=args.days)
        print(f"   {time.perf_counter() - t:.1f} s", file=sys.stderr)
        me = [sys.executable, str(Path(__file__).resolve()), "--dir", str(work)]
        me += ["--days", str(args.days)]
        builds, zips, verifies, hashes = [], [], [], []
        for i in range(args.repeats):
            print(f"== pass {i + 1}: zip -r, build, hashlib, verify", file=sys.stderr)
            (work / "baseline.zip").unlink(missing_ok=True)
            zips.append(
                _run(
                    ["zip", "-r", "-q", str(work / "baseline.zip"), "evidence", "log/entries"],
                    cwd=work / "archive",
                )
            )
            (work / "pack.zip").unlink(missing_ok=True)
            for side, runs in (("build", builds), ("hash", hashes), ("verify", verifies)):
                runs.append(_run([*me, "--child", side], result=work / f"{side}.json"))
        build, zip_, verify, hashing = _best(builds), _best(zips), _best(verifies), _best(hashes)
        result = {
            "gib": args.gib,
            "days": args.days,
            "archive": archive,
            "pack_bytes": (work / "pack.zip").stat().st_size,
            "zip_bytes": (work / "baseline.zip").stat().st_size,
            "build": asdict(build),
            "zip": asdict(zip_),
            "verify": asdict(verify),
            "hashlib": asdict(hashing),
            "build_over_zip": build.seconds / zip_.seconds,
            "verify_over_hashlib": verify.seconds / hashing.seconds,
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
        f"archive: {archive['rows']:,} ACCESS_HISTORY rows, {archive['entries']} entries, "
        f"{archive['bytes'] / mib:,.0f} MiB; pack {result['pack_bytes'] / mib:,.0f} MiB, "
        f"zip -r {result['zip_bytes'] / mib:,.0f} MiB"
    )
    print(f"{'':18}{'seconds':>9}{'peak RSS MiB':>14}")
    for name, r in (
        ("build_pack", build),
        ("zip -r", zip_),
        ("verify", verify),
        ("hashlib", hashing),
    ):
        rss = "-" if r.peak_rss_mib != r.peak_rss_mib else f"{r.peak_rss_mib:.0f}"  # NaN: zip
        print(f"{name:18}{r.seconds:9.2f}{rss:>14}")
    print(f"build / zip -r      {result['build_over_zip']:.2f}x  (target <= 1.5)")
    print(f"verify / hashlib    {result['verify_over_hashlib']:.2f}x")
    print(
        f"peak RSS build {build.peak_rss_mib:.0f} MiB, verify {verify.peak_rss_mib:.0f} MiB "
        "(target < 512)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
