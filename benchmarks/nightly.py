"""A nightly run's cost at 1, 4 and 12 months: no-op ``evidence run``, no-op ``evidence
collect`` and a one-night append, in time and store requests (issue 13 item 4).

For each ``--entries`` size it writes a directory archive through the product's own
writer (``DeterministicParquetWriter``, ``LocalStore.put_once``, ``ArchiveLog.append``,
sealed once per simulated night as a run does; the put and peak-RSS helpers come from
``pack.py``): ten streams nightly, one-day windows, of which five are the configured
Snowflake history streams (their files named as their collector names them, so the
orphan sweep sees a real prefix) and five others that only make the log older.
``evidence.toml`` points at a fake Snowflake (``demo.server.FakeSnowflake``, in this
process, answering the append's queries; nothing else talks to it) and keeps
``[status] last_run_file``. A first ``evidence run`` (not timed) verifies the archive and
leaves the run's verified log. Then, each in a child process that imports the CLI before
its clock starts and counts the requests its store makes:

* **run, nothing due**: ``evidence run`` half an hour after the last night's windows;
* **collect, nothing due**: ``evidence collect`` at the same time;
* **append**: ``evidence run`` a day later, on a copy of the archive and its state: one
  window of each of the five configured history streams and a policy snapshot (the first
  run took the first), sealed once and verified.

Requests are counted by a **counting store** (``LocalStore``'s public methods wrapped in
the child): a ``list`` counts one request per 1,000 keys it yields (an S3 LIST page), every
other call one (as ``get``/``put_once``/``head``/``get_checkpoint``/``replace_checkpoint``
are one S3 request each); the keys listed are printed apart, as local work that a page
count hides. It prints each figure at each size and the ratio largest/smallest size
(target: within 1.10).

    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/nightly.py               # 300, 1,200, 3,600
    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/nightly.py --entries 300 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

# Sibling scripts (benchmarks/ is on sys.path when this one runs): one way to put a file
# and to read a child's peak RSS.
from pack import _peak_rss_mib, _put

from das_evidence.collectors.parquet import DeterministicParquetWriter
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.keyring import load_signers, write_key_pair
from das_evidence.manifests.log import ArchiveLog
from das_evidence.timefmt import rfc3339

ORIGIN = "evidence.example.com/bench-nightly"
ACCOUNT = "ACME_PROD"
START = datetime(2025, 1, 1, tzinfo=UTC)
HISTORY = ("access_history", "login_history", "query_history", "sessions", "trust_center_findings")
OTHERS = tuple(f"other{i}" for i in range(5))
STREAMS = (*HISTORY, *OTHERS)  # ten entries a night
COMPACT = "%Y%m%dT%H%M%SZ"
PAGE = 1000  # keys per S3 LIST page
FIGURES = ("run_noop", "collect_noop", "append")


def _config(root: Path, port: int, origin: str = ORIGIN) -> None:
    """``root/evidence.toml``: the five history streams from START, the run's state kept."""
    from das_evidence.demo.run import write_demo_config

    config = write_demo_config(root, port=port, start=START, origin=origin)
    with config.open("a") as f:
        f.write('\n[status]\nlast_run_file = "state/last-run.json"\n')


def build_archive(root: Path, entries: int) -> datetime:
    """``entries`` entries (whole nights of ten) under ``root/archive``; returns the end of
    the last night's windows."""
    write_key_pair(root / "keys", ORIGIN)
    signer, note_signer = load_signers(str(root / "keys" / "signing.key"), ORIGIN)
    store = LocalStore(root / "archive", create=True)
    log = ArchiveLog(store, ORIGIN)
    seal = log.seal
    log.seal = lambda *a, **k: False  # type: ignore[method-assign]  # once a night, below
    part = root / "part.parquet"
    table = pa.table({"ID": pa.array([f"{i:08d}" for i in range(20)])})
    with DeterministicParquetWriter(part, table.schema) as w:
        for b in table.to_batches():
            w.write(b)
    nights = max(1, entries // len(STREAMS))
    for night in range(nights):
        start = START + timedelta(days=night)
        end = start + timedelta(days=1)
        for stream in STREAMS:
            key = (
                f"evidence/snowflake/{ACCOUNT}/{stream}/date={start.date().isoformat()}/"
                f"{start.strftime(COMPACT)}_{end.strftime(COMPACT)}.parquet"
            )
            f = _put(store, log, signer, key, part, w.rows)
            log.append(
                stream=f"snowflake/{ACCOUNT}/{stream}",
                files=[f],
                predicate={
                    "collector": {"name": "bench", "version": "0"},
                    "window": {"start": rfc3339(start), "end": rfc3339(end)},
                    "collected_at": rfc3339(end + timedelta(hours=4)),
                    "rows": w.rows,
                },
                signer=signer,
                note_signer=note_signer,
            )
        seal(note_signer)
    part.unlink()
    return START + timedelta(days=nights)


# -- children ---------------------------------------------------------------------------


def _count_requests(counts: Counter[str], listed: Counter[str]) -> None:
    """Wrap LocalStore's public methods so each call counts as the S3 request(s) it is."""

    def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: LocalStore, *a: Any, **k: Any) -> Any:
            counts[name] += 1
            return fn(self, *a, **k)

        return call

    def counted_list(fn: Callable[..., Iterator[str]]) -> Callable[..., Iterator[str]]:
        def call(self: LocalStore, *a: Any, **k: Any) -> Iterator[str]:
            n = 0
            counts["list"] += 1  # the first page, even when empty
            for key in fn(self, *a, **k):
                n += 1
                if n > PAGE and n % PAGE == 1:
                    counts["list"] += 1  # the next page
                yield key
            listed["keys"] += n

        return call

    for name in ("get", "open", "head", "put_once", "get_checkpoint", "replace_checkpoint"):
        setattr(LocalStore, name, counted(name, getattr(LocalStore, name)))
    LocalStore.list = counted_list(LocalStore.list)  # type: ignore[method-assign]


def _child(kind: str, root: Path, now: datetime, out: Path) -> None:
    from das_evidence.cli.main import main as evidence  # imported before the clock starts

    counts: Counter[str] = Counter()
    listed: Counter[str] = Counter()
    _count_requests(counts, listed)
    os.environ["EVIDENCE_NOW"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    os.chdir(root)
    command = "collect" if kind == "collect_noop" else "run"
    sys.argv = ["evidence", "--quiet", command, *(["--json"] if command == "collect" else [])]
    saved = sys.stdout
    profiler = None
    if os.environ.get("NIGHTLY_PROFILE"):  # a cProfile of the timed part, for finding costs
        import cProfile

        profiler = cProfile.Profile()
    cpu = _cpu_seconds()
    t = time.perf_counter()
    with (root / f"{kind}.out").open("w") as sys.stdout:
        if profiler is not None:
            profiler.enable()
        try:
            evidence()
        except SystemExit as e:
            code = e.code
        else:
            code = 0
        finally:
            if profiler is not None:
                profiler.disable()
            sys.stdout = saved
    seconds = time.perf_counter() - t
    cpu = _cpu_seconds() - cpu
    if profiler is not None:
        profiler.dump_stats(str(Path(os.environ["NIGHTLY_PROFILE"]) / f"{kind}.prof"))
    if code not in (0, None):
        raise SystemExit(f"evidence {command} exited {code}: see {root / f'{kind}.out'}")
    out.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "requests": sum(counts.values()),
                "by_kind": dict(counts),
                "keys_listed": listed["keys"],
                "peak_rss_mib": _peak_rss_mib(),
                "output": (root / f"{kind}.out").read_text()[-2000:],
            }
        )
    )


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _run_child(kind: str, root: Path, now: datetime) -> dict[str, Any]:
    out = root / f"{kind}.json"
    argv = [sys.executable, __file__, "--child", kind, "--dir", str(root), "--now", now.isoformat()]
    subprocess.run(argv, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(runs, key=lambda r: r["seconds"])
    # The least CPU of the repeats, apart from the fastest wall time: less noisy under load.
    best["cpu_seconds"] = min(r["cpu_seconds"] for r in runs)
    if len({r["requests"] for r in runs}) != 1:
        best["requests_varied"] = sorted({r["requests"] for r in runs})
    return best


def measure(root: Path, entries: int, repeats: int, port: int) -> dict[str, Any]:
    t = time.perf_counter()
    end = build_archive(root, entries)
    built = time.perf_counter() - t
    _config(root, port)
    idle = end + timedelta(minutes=30)  # every stream's next window still open
    first = _run_child("run_noop", root, idle)  # a full read: leaves the verified log
    if '"exit_code": 0' not in first["output"]:
        raise SystemExit(f"first run failed: {first['output']}")
    result: dict[str, Any] = {
        "entries": sum(1 for _ in (root / "archive" / "log" / "entries").iterdir()),
        "build_seconds": round(built, 1),
        "first_run_seconds": round(first["seconds"], 3),
    }
    for kind in ("run_noop", "collect_noop"):
        result[kind] = _best([_run_child(kind, root, idle) for _ in range(repeats)])
    appends = []
    for _ in range(repeats):
        copy = root / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        copy.mkdir()
        for name in ("archive", "state", "keys", "evidence.toml"):
            src = root / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, copy / name)
        r = _run_child("append", copy, end + timedelta(days=1, minutes=30))
        if '"new_entries": 6' not in r["output"] or '"exit_code": 0' not in r["output"]:
            raise SystemExit(f"the append did not write 6 entries: {r['output']}")
        appends.append(r)
    result["append"] = _best(appends)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[300, 1200, 3600])
    parser.add_argument("--repeats", type=int, default=3, help="passes of each figure (3)")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--child", choices=FIGURES, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(
            args.child, args.dir, datetime.fromisoformat(args.now), args.dir / f"{args.child}.json"
        )
        return 0

    from das_evidence.demo.seed import seed_account_usage
    from das_evidence.demo.server import FakeSnowflake

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, FakeSnowflake() as fake:
        for entries in args.entries:
            nights = max(1, entries // len(STREAMS))
            # A few rows on the appended night, so the append writes real windows.
            seed_account_usage(
                fake.duck,
                end=START + timedelta(days=nights + 1),
                days=1,
                access_rows_per_day=200,
                query_rows_per_day=100,
                login_rows_per_day=20,
            )
            root = Path(tmp) / str(entries)
            root.mkdir()
            r = measure(root, entries, args.repeats, fake.port)
            results.append(r)
            print(
                f"{r['entries']} entries (built in {r['build_seconds']} s; first run, a full "
                f"read, {r['first_run_seconds']} s)",
                file=sys.stderr,
            )
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    _print(results)
    return 0


def _print(results: list[dict[str, Any]]) -> None:
    sizes = [r["entries"] for r in results]
    print(f"{'figure':<34}" + "".join(f"{n:>14,}" for n in sizes) + f"{'largest/smallest':>18}")
    for kind, label in (
        ("run_noop", "run, nothing due"),
        ("collect_noop", "collect, nothing due"),
        ("append", "run, one night appended (6)"),
    ):
        for field, unit in (
            ("seconds", "s"),
            ("cpu_seconds", "CPU s"),
            ("requests", "requests"),
            ("keys_listed", "keys listed"),
            ("peak_rss_mib", "peak RSS MiB"),
        ):
            values = [r[kind][field] for r in results]
            ratio = values[-1] / values[0] if values[0] else float("nan")
            cells = "".join(f"{v:>14.3f}" if isinstance(v, float) else f"{v:>14,}" for v in values)
            print(f"{label + ', ' + unit:<34}{cells}{ratio:>17.2f}x")
    for r in results:
        for kind in ("run_noop", "collect_noop", "append"):
            print(f"  {r['entries']:>6} {kind:<13} {r[kind]['by_kind']}")


if __name__ == "__main__":
    sys.exit(main())
