"""``evidence verify`` of a local archive against bare hashlib on every core and ``sha256sum``.

What is measured, on simulated archives written through the product's own writer
(``DeterministicParquetWriter``, ``LocalStore.put_once``, ``ArchiveLog.append``, sealed once
per simulated night as a run does), one case at a time:

* **small**: ``--entries`` entries (default 5,000) of one small Parquet file each, ten
  streams of one-day windows, so per-entry costs (signatures, parsing, checkpoints) show;
* **large**: ``--large-files`` Parquet files of ``--large-mib`` MiB of random bytes each
  (default 4 x 256 MiB), one per entry, so the cost per byte shows;
* **mixed** (``--entry-kib K``, in place of small): ``--entries`` entries whose Parquet
  files hold ``K`` KiB of random bytes on average, from 1 % to 4x by stream
  (:data:`MIX_WEIGHTS`), like the issue's 12-month archive (``--entries 3600 --entry-kib
  600``: ~2.1 GB), where the cost per entry and the cost per byte both count.

Then, for each case:

* **verify**: ``evidence verify ARCHIVE --pub ... --json`` through the CLI's own entry point,
  in a child process that times its own work (interpreter start-up and the CLI's imports
  count on no side; they are printed apart)
  and reports its peak RSS (``VmHWM``, which starts afresh at ``exec``);
* **hashlib**: a bare ``hashlib.sha256`` pass (1 MiB reads) over the same files (every file
  under ``evidence/`` and ``log/``), on ``os.cpu_count()`` threads, in a child process: the
  physical limit of hashing here;
* **sha256sum**: coreutils ``sha256sum`` over the same files, one process (``xargs``).

It prints seconds and peak RSS per side and the ratios ``verify / hashlib`` (target
<= 1.1) and ``verify / sha256sum`` (target < 1), best of ``--repeats``. The files are in
the page cache on every side (they were just written, and each side reads them all).

With ``--archive ROOT``, no archive is written: the three sides run on an existing one,
``ROOT/archive`` with ``ROOT/keys/signing.pub`` (what ``benchmarks/scale.py --keep``
leaves; ``--pub`` for another key), which is only read (the children write their
results under ``--dir``). Each side then also prints its CPU seconds measured from
outside (``RUSAGE_CHILDREN`` of this process around the child: interpreter start-up,
imports and any process it waited for included), beside what the child timed itself.

Run::

    .venv/bin/python benchmarks/verify.py                       # ~1 min
    .venv/bin/python benchmarks/verify.py --entries 10000       # per-entry cost at 10 k
    .venv/bin/python benchmarks/verify.py --large-mib 1024 --json
    .venv/bin/python benchmarks/verify.py --entries 3600 --entry-kib 600 --large-files 0
    .venv/bin/python benchmarks/verify.py --archive /work/scale12/bench-scale-XXXX --repeats 5
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
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# A sibling script (benchmarks/ is on sys.path when this one runs): one way to put a
# file and to read a child's peak RSS.
from pack import _peak_rss_mib, _put

from das_evidence.collectors.parquet import DeterministicParquetWriter
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.timefmt import rfc3339

ORIGIN = "evidence.example.com/bench-verify"
ACCOUNT = "ACME_PROD"
START = datetime(2024, 1, 1, tzinfo=UTC)
PARQUET = "application/vnd.apache.parquet"
STREAMS = 10  # entries per simulated night, sealed once
SMALL_ROWS = 40
LARGE_BATCH = 16 << 20  # bytes of random payload per record batch


def _small_table(rows: int) -> pa.Table:
    return pa.table(
        {
            "ID": pa.array([os.urandom(16).hex() for _ in range(rows)]),
            "N": pa.array(range(rows), pa.int64()),
        }
    )


#: Relative file sizes of the ten streams in the mixed case (``--entry-kib``): a few tiny
#: files, most a few hundred KiB, some of several MiB; they average 1.
MIX_WEIGHTS = (0.01, 0.03, 0.1, 0.2, 0.4, 0.7, 1.0, 1.4, 2.2, 3.96)


def _large_batches(mib: int, nbytes: int | None = None) -> Iterator[pa.RecordBatch]:
    left = mib << 20 if nbytes is None else nbytes
    while left > 0:
        n = min(left, LARGE_BATCH)
        per = min(1 << 16, n)
        count = max(1, n // per)
        payload = os.urandom(count * per)
        offsets = pa.array(range(0, (count + 1) * per, per), pa.int32()).buffers()[1]
        col = pa.BinaryArray.from_buffers(
            pa.binary(), count, [None, offsets, pa.py_buffer(payload)]
        )
        yield pa.RecordBatch.from_arrays([col], names=["PAYLOAD"])
        left -= count * per


def build_archive(
    root: Path, *, entries: int, large_files: int, large_mib: int, entry_kib: int = 0
) -> dict[str, Any]:
    """An archive under ``root/archive``, its public key as ``root/signing.pub``.

    With ``entry_kib``, each of the ``entries`` holds random bytes instead of the small
    table: ``entry_kib`` KiB on average, spread over the streams by :data:`MIX_WEIGHTS`."""
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    (root / "signing.pub").write_bytes(signer.public_key_pem())
    store = LocalStore(root / "archive", create=True)
    log = ArchiveLog(store, ORIGIN)
    seal = log.seal
    # Seal once per simulated night (a run's behaviour), not once per entry.
    log.seal = lambda *a, **k: False  # type: ignore[method-assign]
    spool = root / "spool"
    spool.mkdir()
    count = entries if entries else large_files
    for i in range(count):
        stream = f"stream{i % STREAMS:02d}" if entries else "bulk"
        day = START + timedelta(days=i // STREAMS if entries else i)
        path = spool / "part.parquet"
        if entries and entry_kib:
            nbytes = int(entry_kib * 1024 * MIX_WEIGHTS[i % STREAMS])
            batches = _large_batches(0, nbytes)
            schema = pa.schema([("PAYLOAD", pa.binary())])
        elif entries:
            table = _small_table(SMALL_ROWS)
            schema, batches = table.schema, table.to_batches()
        else:
            batches = _large_batches(large_mib)
            schema = pa.schema([("PAYLOAD", pa.binary())])
        with DeterministicParquetWriter(path, schema) as w:
            for b in batches:
                w.write(b)
        rows = w.rows
        key = f"evidence/snowflake/{ACCOUNT}/{stream}/date={day.date().isoformat()}/part-0.parquet"
        f = _put(store, log, signer, key, path, rows)
        path.unlink()
        log.append(
            stream=f"snowflake/{ACCOUNT}/{stream}",
            files=[f],
            predicate={
                "collector": {"name": "bench", "version": "0"},
                "window": {"start": rfc3339(day), "end": rfc3339(day + timedelta(days=1))},
                "collected_at": rfc3339(day + timedelta(days=1, hours=3)),
                "rows": rows,
            },
            signer=signer,
            note_signer=signer,
        )
        if (i + 1) % STREAMS == 0 or i + 1 == count:
            seal(signer)
        if (i + 1) % 1000 == 0:
            print(f"  {i + 1}/{count} entries", file=sys.stderr)
    spool.rmdir()
    files = _files(root)
    return {
        "entries": log.size,
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
    }


def _files(root: Path) -> list[Path]:
    """Every file verification reads: the evidence and the log."""
    archive = root / "archive"
    return sorted(
        p for top in ("evidence", "log") for p in (archive / top).rglob("*") if p.is_file()
    )


# -- children ---------------------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process so far, every thread (user + system), and of the
    processes it waited for."""
    return time.process_time() + _children_cpu()


def _child_verify(root: Path, archive: Path | None = None, pub: Path | None = None) -> None:
    """``evidence verify`` of ``archive`` (default ``root/archive``) with ``pub`` (default
    ``root/signing.pub``); its JSON report in ``root/verify-out.json``."""
    from das_evidence.cli.main import main as evidence  # imported before the clock starts

    out = root / "verify-out.json"
    archive = archive or root / "archive"
    argv = [str(archive), "--pub", str(pub or root / "signing.pub"), "--json"]
    sys.argv = ["evidence", "verify", *argv]
    saved = sys.stdout
    with out.open("w") as sys.stdout:
        try:
            evidence()
        except SystemExit as e:
            if e.code not in (0, None):
                sys.stdout = saved
                raise SystemExit(f"evidence verify exited {e.code}: see {out}") from None
        finally:
            sys.stdout = saved


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _child_hash(root: Path, hash_file: Any = None) -> None:
    """Every file verification reads hashed on ``os.cpu_count()`` threads, by
    ``hash_file`` (default :func:`_sha256`: the bare pass)."""
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for _ in pool.map(hash_file or _sha256, _files(root)):
            pass


_lean = threading.local()


def _sha256_lean(path: Path) -> str:
    """:func:`_sha256` without a fresh buffer per read: ``readv`` into one 256 KiB buffer
    per thread (what ``LocalStore`` does), so the pass pays for hashing, not for memory."""
    view = getattr(_lean, "view", None)
    if view is None:
        view = _lean.view = memoryview(bytearray(256 << 10))
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        while n := os.readv(fd, [view]):
            h.update(view[:n])
    finally:
        os.close(fd)
    return h.hexdigest()


def _children_cpu() -> float:
    """CPU seconds (user + system) of every child this process has waited for."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float
    import_seconds: float = 0.0
    #: CPU seconds of the child's work (user + system, every thread) and of its main
    #: thread: on a loaded machine these scatter less than the wall clock.
    cpu_seconds: float = float("nan")
    main_cpu_seconds: float = float("nan")
    #: Seconds and CPU seconds of the whole child process seen from outside: start-up,
    #: imports and the processes it waited for included.
    outside_seconds: float = float("nan")
    outside_cpu_seconds: float = float("nan")


def _run(argv: list[str], result: Path | None = None, **kw: Any) -> Run:
    t, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(argv, check=False, **kw)
    seconds, cpu = time.perf_counter() - t, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed with exit status {done.returncode}")
    if result is None:
        return Run(
            seconds, float("nan"), cpu_seconds=cpu, outside_seconds=seconds, outside_cpu_seconds=cpu
        )
    return Run(**json.loads(result.read_text()), outside_seconds=seconds, outside_cpu_seconds=cpu)


def _ratio(a: float, b: float) -> float:
    """``a / b``; NaN when ``b`` is 0 (CPU seconds of a tiny archive: os.times() ticks)."""
    return a / b if b else float("nan")


def _best(runs: list[Run]) -> Run:
    return Run(
        min(r.seconds for r in runs),
        max(r.peak_rss_mib for r in runs),
        min(r.import_seconds for r in runs),
        min(r.cpu_seconds for r in runs),
        min(r.main_cpu_seconds for r in runs),
        min(r.outside_seconds for r in runs),
        min(r.outside_cpu_seconds for r in runs),
    )


def _case(name: str, work: Path, args: argparse.Namespace, **sizes: int) -> dict[str, Any]:
    root = work / name
    root.mkdir()
    print(f"== {name}: writing {sizes}", file=sys.stderr)
    t = time.perf_counter()
    archive = build_archive(root, **sizes)
    print(f"   {time.perf_counter() - t:.1f} s", file=sys.stderr)
    result = _measure(name, root, root, root / "signing.pub", archive, args)
    shutil.rmtree(root, ignore_errors=True)
    return result


def _summary(source: Path) -> dict[str, Any]:
    """Entries, files and bytes of the archive under ``source`` (as ``build_archive``)."""
    files = _files(source)
    entries = sum(1 for _ in (source / "archive" / "log" / "entries").iterdir())
    return {
        "entries": entries,
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
    }


def _measure(
    name: str,
    root: Path,
    source: Path,
    pub: Path,
    archive: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Every side over ``source/archive``, best of ``args.repeats`` interleaved passes;
    the children write their results under ``root`` (``source`` is only read)."""
    me = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--dir",
        str(root),
        "--source",
        str(source),
        "--pub",
        str(pub),
    ]
    listing = b"".join(str(p).encode() + b"\0" for p in _files(source))
    verifies, hashes, leans, sums, others = [], [], [], [], []
    # --other-src: the same verify with another checkout's sources (e.g. main), in the
    # same passes, so that a before/after on a shared machine sees the same load.
    other_env = {**os.environ, "PYTHONPATH": str(args.other_src)} if args.other_src else None
    for i in range(args.repeats):
        print(f"== {name} pass {i + 1}: sha256sum, hashlib, hashlib lean, verify", file=sys.stderr)
        sums.append(_run(["xargs", "-0", "sha256sum"], input=listing, stdout=subprocess.DEVNULL))
        hashes.append(_run([*me, "--child", "hash"], result=root / "hash.json"))
        leans.append(_run([*me, "--child", "hash-lean"], result=root / "hash-lean.json"))
        verifies.append(_run([*me, "--child", "verify"], result=root / "verify.json"))
        if other_env is not None:
            others.append(
                _run([*me, "--child", "verify"], result=root / "verify.json", env=other_env)
            )
    verify, hashing, lean, sha = _best(verifies), _best(hashes), _best(leans), _best(sums)
    other = {}
    if others:
        best = _best(others)
        other = {
            "other_verify": asdict(best),
            "other_over_hashlib": best.seconds / hashing.seconds,
            "other_over_sha256sum": best.seconds / sha.seconds,
            "other_ms_per_entry": 1000 * best.seconds / archive["entries"],
            "other_cpu_over_hashlib_cpu": _ratio(best.cpu_seconds, hashing.cpu_seconds),
            "other_cpu_ms_per_entry": 1000 * best.cpu_seconds / archive["entries"],
        }
    report = json.loads((root / "verify-out.json").read_text())
    if report.get("verdict") != "pass":
        raise SystemExit(f"{name}: the archive does not verify: {report.get('findings')[:5]}")
    return {
        "archive": archive,
        "verify": asdict(verify),
        "hashlib": asdict(hashing),
        "hashlib_lean": asdict(lean),
        "sha256sum": asdict(sha),
        "verify_over_hashlib": verify.seconds / hashing.seconds,
        "verify_over_sha256sum": verify.seconds / sha.seconds,
        "ms_per_entry": 1000 * verify.seconds / archive["entries"],
        "cpu_over_hashlib_cpu": _ratio(verify.cpu_seconds, hashing.cpu_seconds),
        "cpu_ms_per_entry": 1000 * verify.cpu_seconds / archive["entries"],
        "verify_over_hashlib_lean": verify.seconds / lean.seconds,
        "cpu_over_hashlib_lean_cpu": _ratio(verify.cpu_seconds, lean.cpu_seconds),
        "outside_cpu_over_hashlib": _ratio(verify.outside_cpu_seconds, hashing.outside_cpu_seconds),
        **other,
    }


def breakdown(source: Path, pub: Path) -> dict[str, float]:
    """CPU seconds of each part of a full verification of ``source/archive``, each timed
    alone on this one thread, through the product's own functions (``--breakdown``):
    where the floor of ``verify / hashlib`` is. ``other`` is the whole
    ``check_archive`` on one thread (no file threads) less the parts."""
    from das_evidence.evidence_store.local import LocalStore
    from das_evidence.manifests.checkpoint import Checkpoint
    from das_evidence.manifests.dsse import Envelope, verify_envelope
    from das_evidence.manifests.note import SignedNote
    from das_evidence.manifests.statement import Statement
    from das_evidence.verify import archive as va
    from das_evidence.verify import load_trust

    store = LocalStore(source / "archive")
    trust = load_trust([pub], None, None)
    parts: dict[str, float] = {}

    def timed(name: str, work: Any) -> Any:
        cpu = time.process_time()
        out = work()
        parts[name] = parts.get(name, 0.0) + time.process_time() - cpu
        return out

    snap = timed("list the store, read checkpoints", lambda: va.load_archive(store))
    keys = sorted(snap.unhashed)
    tails = timed(
        "hash evidence files (one read each)",
        lambda: [
            (k, store.head_tail(k, va.FOOTER_GUESS if k.endswith(".parquet") else 0)) for k in keys
        ],
    )
    timed(
        "Parquet footers (pyarrow)",
        lambda: [
            va.parquet_rows(store, k, (t[1], t[0].size)) for k, t in tails if k.endswith(".parquet")
        ],
    )
    entries = timed("read entries", lambda: [snap.entry(k) for k in sorted(snap.unread)])
    envelopes = timed("parse envelopes", lambda: [Envelope.from_bytes(d) for d in entries])
    timed(
        "entry signatures (Ed25519)",
        lambda: [verify_envelope(e, trust.entry_keys(i)) for i, e in enumerate(envelopes)],
    )
    timed("parse statements", lambda: [Statement.from_bytes(e.payload) for e in envelopes])
    origin = Checkpoint.from_text(SignedNote.from_bytes(snap.checkpoints["log/checkpoint"]).text)
    note_key = va._note_key(trust, origin.origin)
    assert note_key is not None
    timed(
        "checkpoints (parse + Ed25519)",
        lambda: [
            va.open_signed_checkpoint(d, trust, note_key, origin.origin)
            for d in snap.checkpoints.values()
        ],
    )
    workers = va.hash_workers
    va.hash_workers = lambda: 1  # type: ignore[assignment]
    try:
        cpu = time.process_time()
        snap = va.load_archive(store)
        for k in sorted(snap.unhashed):  # read here, not on a thread
            snap._record(k, va._read_file(store, k))
        snap.unhashed.clear()
        report = va.check_archive(snap, trust)
        whole = time.process_time() - cpu
    finally:
        va.hash_workers = workers  # type: ignore[assignment]
    if not report.ok:
        raise SystemExit(f"the archive does not verify: {report.findings[:5]}")
    parts["other (checks, Merkle tree, V8, ...)"] = whole - sum(parts.values())
    parts["whole check_archive, one thread"] = whole
    cpu = time.process_time()
    for p in _files(source):
        _sha256(p)
    parts["bare hashlib pass (benchmark's), one thread"] = time.process_time() - cpu
    cpu = time.process_time()
    for p in _files(source):
        _sha256_lean(p)
    parts["bare hashlib, lean reads, one thread"] = time.process_time() - cpu
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=5000, help="small case entries (5000)")
    parser.add_argument("--large-files", type=int, default=4, help="large case files (4)")
    parser.add_argument("--large-mib", type=int, default=256, help="MiB per large file (256)")
    parser.add_argument(
        "--entry-kib",
        type=int,
        default=0,
        help="instead of the small case, a mixed one: entries of random bytes, this many "
        "KiB on average (tiny to ~4x, by stream; 3600 x 600 KiB is ~2.1 GB)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="passes of each side (2)")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--other-src",
        type=Path,
        help="also time verify with these sources (PYTHONPATH), e.g. main's src: a before",
    )
    parser.add_argument(
        "--archive",
        type=Path,
        help="measure an existing archive instead of writing one: a directory holding "
        "archive/ and keys/signing.pub (benchmarks/scale.py --keep); only read",
    )
    parser.add_argument("--pub", type=Path, help="with --archive: its public key")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="with --archive: CPU seconds of each part of verification, on one thread",
    )
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("verify", "hash", "hash-lean"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        root = args.dir
        t = time.perf_counter()
        cpu0 = 0.0
        if args.child == "verify":
            # The CLI's own imports (typer, rich: ~0.1-0.3 s) are start-up, as the
            # interpreter's is; what verification imports as it goes (pyarrow) counts.
            import das_evidence.cli.main  # noqa: F401

            imports = time.perf_counter() - t
            t, cpu0, main0 = time.perf_counter(), _cpu(), time.thread_time()
            _child_verify(root, args.source / "archive", args.pub)
        else:
            imports = 0.0
            cpu0, main0 = _cpu(), time.thread_time()
            _child_hash(args.source, _sha256 if args.child == "hash" else _sha256_lean)
        seconds = time.perf_counter() - t
        (root / f"{args.child}.json").write_text(
            json.dumps(
                {
                    "seconds": seconds,
                    "peak_rss_mib": _peak_rss_mib(),
                    "import_seconds": imports,
                    "cpu_seconds": _cpu() - cpu0,
                    "main_cpu_seconds": time.thread_time() - main0,
                }
            )
        )
        return 0

    if args.breakdown:
        if not args.archive:
            parser.error("--breakdown needs --archive")
        source = args.archive.resolve()
        parts = breakdown(source, (args.pub or source / "keys" / "signing.pub").resolve())
        if args.json:
            print(json.dumps(parts, indent=2))
            return 0
        base = parts["bare hashlib pass (benchmark's), one thread"]
        print(f"{source}: CPU seconds on one thread (ratio to the benchmark's hashlib pass)")
        for name, sec in parts.items():
            print(f"  {name:48}{sec:8.3f}  {sec / base:6.3f}")
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-verify-", dir=args.dir))
    try:
        cases = {}
        if args.archive:
            source = args.archive.resolve()
            pub = (args.pub or source / "keys" / "signing.pub").resolve()
            print(f"== {source}: counting", file=sys.stderr)
            cases["existing"] = _measure("existing", work, source, pub, _summary(source), args)
        elif args.entries and args.entry_kib:
            cases["mixed"] = _case(
                "mixed",
                work,
                args,
                entries=args.entries,
                large_files=0,
                large_mib=0,
                entry_kib=args.entry_kib,
            )
        elif args.entries:
            cases["small"] = _case(
                "small", work, args, entries=args.entries, large_files=0, large_mib=0
            )
        if args.large_files and not args.archive:
            cases["large"] = _case(
                "large",
                work,
                args,
                entries=0,
                large_files=args.large_files,
                large_mib=args.large_mib,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"cases": cases, "python": platform.python_version(), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    mib = 1024**2
    for name, c in cases.items():
        a = c["archive"]
        print(
            f"{name}: {a['entries']:,} entries, {a['files']:,} files, {a['bytes'] / mib:,.0f} MiB "
            f"({os.cpu_count()} cores)"
        )
        print(
            f"  {'':14}{'wall s':>9}{'CPU s':>9}{'whole CPU s':>13}{'peak RSS MiB':>14}"
            "   (CPU: user + sys of every thread and waited-for child, after the imports;"
        )
        print(f"  {'':59}whole: the process from outside, start-up included)")
        for side in ("verify", "hashlib", "hashlib_lean", "sha256sum"):
            r = c[side]
            rss = "-" if r["peak_rss_mib"] != r["peak_rss_mib"] else f"{r['peak_rss_mib']:.0f}"
            print(
                f"  {side:14}{r['seconds']:9.2f}{r['cpu_seconds']:9.2f}"
                f"{r['outside_cpu_seconds']:13.2f}{rss:>14}"
            )
        print(
            f"  verify / hashlib    {c['verify_over_hashlib']:.2f}x wall (target <= 1.1), "
            f"{c['cpu_over_hashlib_cpu']:.2f}x CPU, {c['outside_cpu_over_hashlib']:.2f}x whole CPU"
        )
        print(
            f"  verify / hashlib lean reads  {c['verify_over_hashlib_lean']:.2f}x wall, "
            f"{c['cpu_over_hashlib_lean_cpu']:.2f}x CPU"
        )
        print(f"  verify / sha256sum  {c['verify_over_sha256sum']:.2f}x wall (target < 1)")
        print(f"  verify per entry    {c['ms_per_entry']:.3f} ms")
        print(f"  (CLI imports before the clock: {c['verify']['import_seconds']:.2f} s)")
        v, h = c["verify"], c["hashlib"]
        print(
            f"  CPU s: verify {v['cpu_seconds']:.2f} (main thread {v['main_cpu_seconds']:.2f}), "
            f"hashlib {h['cpu_seconds']:.2f}; {c['cpu_ms_per_entry']:.3f} ms CPU per entry"
        )
        if "other_verify" in c:
            o = c["other_verify"]
            print(
                f"  --other-src verify {o['seconds']:.2f} s, peak RSS {o['peak_rss_mib']:.0f} MiB: "
                f"/ hashlib {c['other_over_hashlib']:.2f}x, / sha256sum "
                f"{c['other_over_sha256sum']:.2f}x, {c['other_ms_per_entry']:.3f} ms per entry"
            )
            print(
                f"  --other-src CPU s: verify {o['cpu_seconds']:.2f} (main thread "
                f"{o['main_cpu_seconds']:.2f}); / hashlib CPU "
                f"{c['other_cpu_over_hashlib_cpu']:.2f}x, "
                f"{c['other_cpu_ms_per_entry']:.3f} ms CPU per entry"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
