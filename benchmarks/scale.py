"""Every figure of issue 13 on a simulated archive of 1, 4 and 12 months, grown in place.

The archive is written through the product's own writer (``DeterministicParquetWriter``,
``LocalStore.put_once``, ``ArchiveLog.append(seal=False)`` and one ``seal`` per simulated
night, as a run does), ten entries a night under the product's stream names:

* ``snowflake/ACME_PROD/{access_history,login_history,query_history,sessions,
  trust_center_findings}``: one-day windows of each view's own schema (``views.py``);
  ACCESS_HISTORY carries nearly all the bytes (``--gib`` GiB over 12 months, rows from
  ``benchmarks/pack.py``'s generator: one row in 256 reads a PHI-tagged column);
* ``snowflake/ACME_PROD/policy_state``: a nightly snapshot (TAG_REFERENCES tags that
  column PHI, a few GRANTS_TO_ROLES), ``as_of`` the night's midnight;
* ``dbt/jaffle_health/<invocation_id>``: four dbt builds a day, each collected by the
  product's own dbt collector from the test fixture's target, re-stamped to the night
  (``evidence demo``'s ``restamp_dbt_target``) under a fresh invocation id.

At each size (1, then 4, then 12 months: the archive is extended, not rebuilt) it measures,
each in a fresh child process that times its own work after its imports and reports its
peak RSS (``VmHWM``, which starts afresh at ``exec``):

1. **verify**: ``evidence verify ARCHIVE --pub`` (full) against a bare ``hashlib`` pass on
   every core over the same files (``benchmarks/verify.py``'s child) and ``sha256sum``;
2. **nightly**: with an ``evidence.toml`` naming the archive, the bench key and a
   ``[status] last_run_file``: a first ``evidence run`` (which records the verified log),
   then the measured nothing-due ``evidence run`` and ``evidence collect``; the clock
   (``EVIDENCE_NOW``) is 40 minutes after the last night's midnight, when no window is due.
   A webhook (a receiver on loopback) is configured, as in production: every run computes
   its stale-stream and retention alerts.
   Each of those two is run ``--repeat`` times (3) and the fastest kept: a figure of
   0.1 s moves by more than 10 % with the machine's load. Store operations are counted in
   the child by wrapping ``LocalStore``'s public methods (the CLI runs in-process; ``list``
   also counts the keys it yields). Then a **nightly append**: a child opens the log as a
   run does, from the verified log the first run kept (``ArchiveLog(store, origin,
   known)``), and appends one more night of 10 entries with one seal;
3. **pack**: ``evidence pack`` of the whole period against ``zip -r -q`` over the same
   files (``evidence/`` and ``log/entries/``); ``evidence verify pack.zip`` against the
   hashlib pass;
4. **report**: ``evidence report --format html`` of the whole period: time and peak RSS.

Printed per size, with the ratios, and across sizes the nightly figures at 12 months over
1 month (target: within 10 %).

Run::

    .venv/bin/python benchmarks/scale.py              # 1/4/12 months, ~2.1 GB (~20 min)
    .venv/bin/python benchmarks/scale.py --quick      # 7/14/28 days, small (~2 min)
    .venv/bin/python benchmarks/scale.py --json
    .venv/bin/python benchmarks/scale.py --skip pack report --other-src /other/checkout/src

``--skip`` leaves figures out (the nightly ones are always measured); ``--other-src`` also
measures the nightly figures with another checkout's sources in the same passes (after
this checkout's, on the same archive): a before/after under the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

# Sibling scripts (benchmarks/ is on sys.path when this one runs).
from pack import (
    BATCH_ROWS,
    BYTES_PER_ROW,
    _access_batch,
    _peak_rss_mib,
    _pick,
    _put,
    _query_table,
    phi_tags,
)
from verify import _child_hash as _hash_all_cores
from verify import _files

from das_evidence.collectors.parquet import DeterministicParquetWriter
from das_evidence.collectors.snowflake.views import (
    ACCESS_HISTORY,
    LOGIN_HISTORY,
    QUERY_HISTORY,
    SESSIONS,
    TRUST_CENTER_FINDINGS,
    ViewSpec,
    schema_fingerprint,
)
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog, EvidenceFile, KnownLog
from das_evidence.timefmt import rfc3339

ORIGIN = "evidence.example.com/bench-scale"
ACCOUNT = "ACME_PROD"
DBT_PROJECT = "jaffle_health"
START = datetime(2025, 1, 1, tzinfo=UTC)
SIZES_DAYS = (30, 120, 365)
QUICK_DAYS = (7, 14, 28)
SMALL_ROWS = 200  # rows a day of the small history views
DBT_RUNS = 4  # dbt builds a day
USERS = ("ALICE", "BOB", "CAROL", "DAVE", "ERIN")
NOW_AFTER_MIDNIGHT = timedelta(minutes=40)  # nothing due: before any view's latency passed

#: Before and after the demo's config (``write_demo_config``): the run's verified log
#: and the dbt project; ``reconcile_days`` must come before the first table.
CONFIG_HEAD = """\
# Written by benchmarks/scale.py over the demo's config: the simulated archive. No window
# is due at the benchmark's clock; `evidence run` still re-counts the last reconcile_days
# of windows (COUNT queries) on the fake Snowflake, which holds no rows then.
reconcile_days = {reconcile_days}

"""
CONFIG_TAIL = """
[status]
last_run_file = "state/last-run.json"

[[dbt]]
project = "{project}"
target_dir = "dbt-target"
"""


# -- the archive ------------------------------------------------------------------------


def _small_table(spec: ViewSpec, day: datetime, n: int) -> pa.Table:
    """``n`` rows of ``spec``'s schema over ``day``: times, users, the rest null."""
    schema = spec.schema()
    start = int(day.timestamp() * 1_000_000)
    step = 86_400_000_000 // n
    times = pa.array(range(start, start + n * step, step), pa.int64()).cast(
        pa.timestamp("us", tz="UTC")
    )
    cols = []
    for f in schema:
        if f.name == spec.time_column:
            cols.append(times.cast(f.type))
        elif f.name == "USER_NAME":
            cols.append(_pick(list(USERS), n))
        elif f.name == "IS_SUCCESS" and f.type == pa.string():
            cols.append(pa.array(["YES"] * n, f.type))
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.table(cols, schema=schema)


class Builder:
    """Appends simulated nights to the archive under ``root``; its state is on disk, so a
    child process can append the next night as the parent would."""

    def __init__(self, root: Path, *, access_rows_per_day: int) -> None:
        from das_evidence.manifests.keyring import load_signers, write_key_pair

        self.root = root
        self.rows_per_day = access_rows_per_day
        keys = root / "keys"
        if not (keys / "signing.key").exists():
            write_key_pair(keys, ORIGIN)
        self.signer, self.note_signer = load_signers(str(keys / "signing.key"), ORIGIN)
        self.store = LocalStore(root / "archive", create=True)
        self._log: ArchiveLog | None = None
        #: Seconds spent in the log (opening it, appending, sealing), apart from writing
        #: the files: a nightly append's own cost.
        self.log_seconds = 0.0
        self.spool = root / "spool"
        self.spool.mkdir(exist_ok=True)

    @property
    def state(self) -> dict[str, Any]:
        path = self.root / "builder.json"
        if path.exists():
            state: dict[str, Any] = json.loads(path.read_text())
            return state
        return {"nights": 0, "rows": 0}

    def log(self, *, from_verified: bool = False) -> ArchiveLog:
        """The log, read whole; ``from_verified``: started from the verified log the last
        ``evidence run`` kept (as a run or a collect starts from it), when it is trusted."""
        if self._log is None:
            t = time.perf_counter()
            self._log = ArchiveLog(self.store, ORIGIN, self._verified() if from_verified else ())
            self.log_seconds += time.perf_counter() - t
        return self._log

    def _verified(self) -> KnownLog:
        """The verified log as `evidence run` and `evidence collect` trust it (the
        product's own start, with this archive's config and keys)."""
        from das_evidence.config import load_settings
        from das_evidence.schedules.state import read_from_verified
        from das_evidence.services import Services

        services = Services(
            load_settings(self.root / "evidence.toml"), clock=lambda: datetime.now(UTC)
        )
        read_from_verified(services)
        if services.known is None:
            raise SystemExit("the nightly append found no verified log it trusts (run first)")
        return services.known

    def forget_log(self) -> None:
        """Another process appended: read the log afresh when next needed."""
        self._log = None

    def _file(self, key: str, path: Path, rows: int, media_type: str | None = None) -> EvidenceFile:
        f = _put(self.store, self.log(), self.signer, key, path, rows)
        path.unlink()
        if media_type is not None:
            f = EvidenceFile(f.path, f.sha256, f.size, media_type, f.rows)
        return f

    def _append(self, stream: str, files: list[EvidenceFile], predicate: dict[str, Any]) -> None:
        log = self.log()
        t = time.perf_counter()
        log.append(
            stream=stream,
            files=files,
            predicate=predicate,
            signer=self.signer,
            note_signer=self.note_signer,
            seal=False,
        )
        self.log_seconds += time.perf_counter() - t

    def _history(self, spec: ViewSpec, day: datetime, table_or_batches: Any, rows: int) -> None:
        end = day + timedelta(days=1)
        path = self.spool / f"{spec.stream}.parquet"
        schema = spec.schema()
        with DeterministicParquetWriter(path, schema) as w:
            for b in table_or_batches:
                w.write(b)
        name = f"{day.strftime('%Y%m%dT%H%M%SZ')}_{end.strftime('%Y%m%dT%H%M%SZ')}.parquet"
        key = f"evidence/snowflake/{ACCOUNT}/{spec.stream}/date={day.date().isoformat()}/{name}"
        f = self._file(key, path, rows)
        self._append(
            f"snowflake/{ACCOUNT}/{spec.stream}",
            [f],
            {
                "collector": {"name": f"snowflake.account_usage.{spec.stream}", "version": "0"},
                "window": {"start": rfc3339(day), "end": rfc3339(end)},
                "collected_at": rfc3339(end + timedelta(hours=3)),
                "rows": rows,
                "completeness": {"source_count": rows},
                "schema": {
                    "columns": schema.names,
                    "fingerprint": schema_fingerprint(spec.view, schema),
                },
                "source": {
                    "system": "snowflake",
                    "account": ACCOUNT,
                    "object": spec.qualified,
                    "time_column": spec.time_column,
                    "latency_safety_seconds": int(spec.latency.total_seconds()),
                },
            },
        )

    def _policy(self, as_of: datetime, first: bool) -> None:
        tags = phi_tags()
        stamp = as_of.strftime("%Y%m%dT%H%M%SZ")
        prefix = (
            f"evidence/snowflake/{ACCOUNT}/policy_state/date={as_of.date().isoformat()}"
            f"/as_of={stamp}"
        )
        path = self.spool / "tag_references.parquet"
        with DeterministicParquetWriter(path, tags.schema) as w:
            for b in tags.to_batches():
                w.write(b)
        f = self._file(f"{prefix}/tag_references.parquet", path, tags.num_rows)
        self._append(
            f"snowflake/{ACCOUNT}/policy_state",
            [f],
            {
                "collector": {"name": "snowflake.account_usage.policy_state", "version": "0"},
                "as_of": rfc3339(as_of),
                "window": {"start": rfc3339(as_of), "end": rfc3339(as_of)},
                "collected_at": rfc3339(as_of + timedelta(hours=2)),
                "views": {"TAG_REFERENCES": {"status": "evidenced"}},
                "changes": {
                    "baseline": first,
                    "counts": {"added": 0, "changed": 0, "removed": 0},
                    "since": None if first else rfc3339(as_of - timedelta(days=1)),
                },
            },
        )

    def _dbt(self, ran_at: datetime, night: int, run: int) -> Path:
        """One dbt build collected by the product's dbt collector; its target directory."""
        from das_evidence.collectors.dbt.collector import dbt_collectors
        from das_evidence.demo.run import DBT_TARGET, restamp_dbt_target

        target = restamp_dbt_target(DBT_TARGET, self.root / "dbt-target", ran_at)
        run_results = json.loads((target / "run_results.json").read_text())
        old = run_results["metadata"]["invocation_id"]
        new = str(uuid.UUID(int=night * DBT_RUNS + run + 1))
        for name in ("run_results.json", "manifest.json"):
            p = target / name
            p.write_text(p.read_text().replace(old, new))
        collector = dbt_collectors([(DBT_PROJECT, str(target))])[0]
        window = collector.due_windows(None, ran_at + timedelta(hours=1))[0]
        spool = self.spool / "dbt"
        spool.mkdir(exist_ok=True)
        c = collector.collect(window, spool)
        files = [self._file(f.key, f.local_path, f.rows or 0, f.media_type) for f in c.files]
        predicate = {
            **c.predicate,
            "collector": {"name": collector.name, "version": "0"},
            "window": window.to_json(),
            "collected_at": rfc3339(ran_at + timedelta(hours=1)),
        }
        self._append(c.stream, files, predicate)
        return target

    def night(self) -> None:
        """One more simulated night: ten entries, sealed once."""
        state = self.state
        n = state["nights"]
        day = START + timedelta(days=n)
        # ACCESS_HISTORY, batch by batch; its first query ids feed QUERY_HISTORY.
        sample: list[pa.Array] = []

        def batches() -> Any:
            left = self.rows_per_day
            while left:
                k = min(left, BATCH_ROWS)
                batch = _access_batch(day, k)
                if not sample:
                    sample.append(batch.column(0).slice(0, SMALL_ROWS))
                yield batch
                left -= k

        self._history(ACCESS_HISTORY, day, batches(), self.rows_per_day)
        qh = _query_table(day, sample[0])
        self._history(QUERY_HISTORY, day, qh.to_batches(), qh.num_rows)
        for spec in (LOGIN_HISTORY, SESSIONS, TRUST_CENTER_FINDINGS):
            t = _small_table(spec, day, SMALL_ROWS)
            self._history(spec, day, t.to_batches(), t.num_rows)
        self._policy(day, first=n == 0)
        for run in range(DBT_RUNS):
            self._dbt(day + timedelta(hours=2 + 6 * run), n, run)
        log = self.log()
        t = time.perf_counter()
        log.seal(self.note_signer)
        self.log_seconds += time.perf_counter() - t
        state["nights"] = n + 1
        state["rows"] += self.rows_per_day + qh.num_rows + 3 * SMALL_ROWS
        (self.root / "builder.json").write_text(json.dumps(state))

    @property
    def end(self) -> datetime:
        """The end of the last simulated night's windows."""
        return START + timedelta(days=self.state["nights"])

    def summary(self) -> dict[str, Any]:
        files = _files(self.root)
        return {
            "nights": self.state["nights"],
            "entries": len(list((self.root / "archive" / "log" / "entries").iterdir())),
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
            "rows": self.state["rows"],
        }


class _Webhook:
    """A webhook receiver on loopback (a thread of this process, answering 204), so the
    measured runs do what a production run with alerts configured does: compute the
    stale-stream and retention alerts on every run."""

    def __init__(self) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_config(root: Path, *, port: int, reconcile_days: int, webhook: str | None = None) -> Path:
    (root / "state").mkdir(exist_ok=True)
    from das_evidence.demo.run import DEMO_ACCOUNT, write_demo_config

    assert ACCOUNT == DEMO_ACCOUNT  # the demo's config names the account
    config = write_demo_config(root, port=port, start=START, origin=ORIGIN)
    body = config.read_text()
    config.write_text(
        CONFIG_HEAD.format(reconcile_days=reconcile_days)
        + body
        + CONFIG_TAIL.format(project=DBT_PROJECT)
        + (f'\n[[alerts.webhooks]]\nkind = "generic"\nurl = "{webhook}"\n' if webhook else "")
    )
    return config


# -- children ---------------------------------------------------------------------------


def _count_store_ops() -> dict[str, int]:
    """Count calls of ``LocalStore``'s public methods in this process (and listed keys).

    Not counted: what a full verify's forked readers (``verify/readers.py``) read in their
    own processes; the S3 request budgets are counted from the server's log instead
    (``tests/integration/test_run_requests.py``, ``benchmarks/s3_requests.py``)."""
    counts: dict[str, int] = {}

    def wrap(name: str) -> None:
        original = getattr(LocalStore, name)

        def counted(self: LocalStore, *a: Any, **k: Any) -> Any:
            counts[name] = counts.get(name, 0) + 1
            return original(self, *a, **k)

        setattr(LocalStore, name, counted)

    for name in (
        "put_once",
        "get_checkpoint",
        "replace_checkpoint",
        "get",
        "open",
        "get_tail",
        "head_tail",
        "head",
        "exists",
    ):
        wrap(name)
    listing = LocalStore.list

    def counted_list(self: LocalStore, *a: Any, **k: Any) -> Any:
        counts["list"] = counts.get("list", 0) + 1
        for key in listing(self, *a, **k):
            counts["listed_keys"] = counts.get("listed_keys", 0) + 1
            yield key

    LocalStore.list = counted_list  # type: ignore[method-assign]
    return counts


def _child_cli(root: Path, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """``evidence ARGV`` in this process, with store operations counted."""
    os.environ.update(env)
    os.chdir(root)
    t = time.perf_counter()
    from das_evidence.cli.main import main as evidence

    imports = time.perf_counter() - t
    counts = _count_store_ops()
    out = root / f"{argv[0]}-out.txt"
    sys.argv = ["evidence", *argv]
    saved = sys.stdout
    code: Any = 0
    t = time.perf_counter()
    with out.open("w") as sys.stdout:
        try:
            evidence()
        except SystemExit as e:
            code = e.code
        finally:
            sys.stdout = saved
    seconds = time.perf_counter() - t
    if code not in (0, None):
        raise SystemExit(f"evidence {' '.join(argv[:3])} exited {code}: see {out}")
    return {"seconds": seconds, "import_seconds": imports, "ops": counts}


def _child_append(root: Path, rows_per_day: int) -> dict[str, Any]:
    """One more night; its seconds are those spent in the log (open, 10 appends, seal)."""
    counts = _count_store_ops()
    t = time.perf_counter()
    builder = Builder(root, access_rows_per_day=rows_per_day)
    builder.log(from_verified=True)  # as `evidence run` opens it: from its verified log
    opened = builder.log_seconds
    builder.night()
    return {
        "seconds": builder.log_seconds,
        "open_seconds": opened,
        "night_seconds": time.perf_counter() - t,
        "ops": counts,
    }


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float
    import_seconds: float = 0.0
    open_seconds: float = 0.0
    night_seconds: float = 0.0
    ops: dict[str, int] = field(default_factory=dict)

    @property
    def store_ops(self) -> int:
        return sum(v for k, v in self.ops.items() if k != "listed_keys")


def _child(me: list[str], root: Path, kind: str, *extra: str, src: Path | None = None) -> Run:
    """A child of this script (with ``src`` as PYTHONPATH if given); what it reported."""
    result = root / "child.json"
    result.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(src)} if src is not None else None
    done = subprocess.run([*me, "--child", kind, *extra], check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"child {kind} {' '.join(extra[:3])} failed ({done.returncode})")
    return Run(**json.loads(result.read_text()))


def _outside(argv: list[str], **kw: Any) -> Run:
    t = time.perf_counter()
    done = subprocess.run(argv, check=False, **kw)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed with exit status {done.returncode}")
    return Run(time.perf_counter() - t, float("nan"))


def measure(
    me: list[str],
    root: Path,
    builder: Builder,
    *,
    skip: frozenset[str] = frozenset(),
    other_src: Path | None = None,
    repeat: int = 3,
) -> dict[str, Any]:
    """Every figure at the archive's current size (but those in ``skip``); with
    ``other_src``, the nightly figures also with those sources (after this checkout's)."""
    archive = builder.summary()
    end = builder.end
    now = end + NOW_AFTER_MIDNIGHT
    env = ["--env", json.dumps({"EVIDENCE_NOW": rfc3339(now)})]
    frm, to = START.date().isoformat(), end.date().isoformat()
    pub = str(root / "keys" / "signing.pub")

    def cli(*argv: str, src: Path | None = None) -> Run:
        return _child(me, root, "cli", *env, "--", *argv, src=src)

    def nothing_due(src: Path | None) -> dict[str, Any]:
        first_run = cli("run", src=src)
        runs = []
        for _ in range(repeat):
            runs.append(cli("run", src=src))
            summary = json.loads((root / "run-out.txt").read_text().strip().splitlines()[-1])
            if summary.get("new_entries"):
                raise SystemExit(f"the measured run was not nothing-due: {summary}")
        run = min(runs, key=lambda r: r.seconds)
        collect = min((cli("collect", src=src) for _ in range(repeat)), key=lambda r: r.seconds)
        return {
            "first_run": asdict(first_run),
            "run_nothing_due": asdict(run),
            "run_store_ops": run.store_ops,
            "collect_nothing_due": asdict(collect),
            "collect_store_ops": collect.store_ops,
        }

    def append(src: Path | None) -> dict[str, Any]:
        night = _child(me, root, "append", src=src)
        builder.forget_log()
        return {"append_night": asdict(night), "append_store_ops": night.store_ops}

    out: dict[str, Any] = {"archive": archive}
    entries = archive["entries"]

    say = lambda what: print(f"   {what}", file=sys.stderr)  # noqa: E731
    if "verify" not in skip or "pack" not in skip:
        say("hashlib, sha256sum")
        hashing = _child(me, root, "hash")
        listing = b"".join(str(p).encode() + b"\0" for p in _files(root))
        sha = _outside(["xargs", "-0", "sha256sum"], input=listing, stdout=subprocess.DEVNULL)
        out.update(hashlib=asdict(hashing), sha256sum=asdict(sha))
    if "verify" not in skip:
        say("evidence verify")
        verify = cli("verify", str(root / "archive"), "--pub", pub, "--json")
        verdict = json.loads((root / "verify-out.txt").read_text())
        if verdict.get("verdict") != "pass":
            raise SystemExit(f"the archive does not verify: {verdict.get('findings', [])[:5]}")
        out.update(
            verify=asdict(verify),
            verify_over_hashlib=verify.seconds / hashing.seconds,
            verify_over_sha256sum=verify.seconds / sha.seconds,
            verify_ms_per_entry=1000 * verify.seconds / entries,
        )
    say("evidence run (first, then nothing due), evidence collect (nothing due)")
    out.update(nothing_due(None))
    if other_src is not None:
        say(f"the same with {other_src}")
        out["other"] = nothing_due(other_src)
    if "pack" not in skip:
        say("pack, zip -r, verify pack")
        (root / "pack.zip").unlink(missing_ok=True)
        pack = cli("pack", "--from", frm, "--to", to, "--out", str(root / "pack.zip"))
        (root / "baseline.zip").unlink(missing_ok=True)
        zip_ = _outside(
            ["zip", "-r", "-q", str(root / "baseline.zip"), "evidence", "log/entries"],
            cwd=root / "archive",
        )
        pack_verify = cli("verify", str(root / "pack.zip"), "--pub", pub, "--json")
        out.update(
            pack=asdict(pack),
            zip=asdict(zip_),
            pack_over_zip=pack.seconds / zip_.seconds,
            pack_bytes=(root / "pack.zip").stat().st_size,
            zip_bytes=(root / "baseline.zip").stat().st_size,
            pack_verify=asdict(pack_verify),
            pack_verify_over_hashlib=pack_verify.seconds / hashing.seconds,
        )
        (root / "pack.zip").unlink()
        (root / "baseline.zip").unlink()
    if "report" not in skip:
        say("report")
        report = cli("report", "--from", frm, "--to", to, "--out", str(root / "report.html"))
        out["report"] = asdict(report)
    say("nightly append (one more night of 10 entries)")
    out.update(append(None))
    if other_src is not None:
        out["other"].update(append(other_src))
    return out


NIGHTLY = (
    ("evidence run (first)", "first_run"),
    ("evidence run, nothing due", "run_nothing_due"),
    ("evidence collect, nothing", "collect_nothing_due"),
    ("nightly append (10)", "append_night"),
)


OTHER = {
    "first_run": "run (first)",
    "run_nothing_due": "run",
    "collect_nothing_due": "collect",
    "append_night": "append",
}


def _print(result: dict[str, Any]) -> None:
    mib = 1024**2
    nan = float("nan")

    def rss(r: dict[str, Any]) -> str:
        v = r.get("peak_rss_mib", nan)
        return "-" if v != v else f"{v:.0f}"

    def line(label: str, r: dict[str, Any]) -> None:
        ops = r.get("ops") or {}
        n = sum(v for key, v in ops.items() if key != "listed_keys")
        ops_text = f"{n:,}" if ops else "-"
        print(f"  {label:26}{r['seconds']:9.2f}{rss(r):>14}{ops_text:>11}")

    for s in result["sizes"]:
        a = s["archive"]
        print(
            f"== {a['nights']} days: {a['entries']:,} entries, {a['files']:,} files, "
            f"{a['bytes'] / mib:,.0f} MiB, {a['rows']:,} rows (built in {s['build_seconds']:.0f} s "
            f"cumulative)"
        )
        print(f"  {'':26}{'seconds':>9}{'peak RSS MiB':>14}{'store ops':>11}")
        rows = (
            ("evidence verify", "verify"),
            ("hashlib, all cores", "hashlib"),
            ("sha256sum", "sha256sum"),
            *NIGHTLY,
            ("evidence pack", "pack"),
            ("zip -r", "zip"),
            ("evidence verify pack", "pack_verify"),
            ("evidence report (html)", "report"),
        )
        for label, k in rows:
            if k in s:
                line(label, s[k])
        for _, k in NIGHTLY if "other" in s else ():
            line(f"{OTHER[k]}, --other-src", s["other"][k])
        if "verify" in s:
            print(
                f"  verify / hashlib {s['verify_over_hashlib']:.2f}x (target <= 1.1), "
                f"/ sha256sum {s['verify_over_sha256sum']:.2f}x (target < 1), "
                f"{s['verify_ms_per_entry']:.2f} ms per entry"
            )
        if "pack" in s:
            print(
                f"  pack / zip -r {s['pack_over_zip']:.2f}x (target <= 1.5); pack "
                f"{s['pack_bytes'] / mib:,.0f} MiB, zip {s['zip_bytes'] / mib:,.0f} MiB; "
                f"verify pack / hashlib {s['pack_verify_over_hashlib']:.2f}x; peak RSS pack "
                f"{s['pack']['peak_rss_mib']:.0f}, verify pack "
                f"{s['pack_verify']['peak_rss_mib']:.0f} MiB (target < 512)"
            )
        if "report" in s:
            r = s["report"]
            print(
                f"  report of {a['nights']} days: {r['seconds']:.1f} s, "
                f"{r['peak_rss_mib']:.0f} MiB peak ({1000 * r['seconds'] / a['nights']:.0f} ms "
                "per day)"
            )
        for who, d in (("", s), ("other: ", s.get("other"))):
            if d is None:
                continue
            ap = d["append_night"]
            print(
                f"  {who}nightly append: {ap['seconds']:.2f} s in the log (of which opening it "
                f"{ap['open_seconds']:.2f} s), {ap['night_seconds']:.1f} s with writing the files"
            )
            for k in ("run_nothing_due", "collect_nothing_due", "append_night"):
                print(f"  {who}{k} store ops: {dict(sorted(d[k]['ops'].items()))}")
    for who, g in (("", result["growth"]), ("other: ", result.get("other_growth"))):
        if g is None:
            continue
        print(
            f"{who}largest / smallest size (target: within 1.10x): nothing-due run "
            f"{g['run_seconds']:.2f}x time, {g['run_store_ops']:.2f}x store ops; nothing-due "
            f"collect {g['collect_seconds']:.2f}x, {g['collect_store_ops']:.2f}x; nightly "
            f"append {g['append_seconds']:.2f}x, {g['append_store_ops']:.2f}x"
        )


def _growth(first: dict[str, Any], last: dict[str, Any]) -> dict[str, float]:
    """The nightly figures at the largest size over the smallest."""

    def ratio(a: float, b: float) -> float:
        return b / a if a else float("nan")

    out = {}
    for name, key in (
        ("run", "run_nothing_due"),
        ("collect", "collect_nothing_due"),
        ("append", "append_night"),
    ):
        out[f"{name}_seconds"] = ratio(first[key]["seconds"], last[key]["seconds"])
        ops = f"{name}_store_ops"
        out[ops] = ratio(first[ops], last[ops])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--gib", type=float, default=2.0, help="ACCESS_HISTORY GiB over 365 days (2.0)"
    )
    parser.add_argument(
        "--days", type=int, nargs="+", help="sizes in days (30 120 365; --quick: 7 14 28)"
    )
    parser.add_argument("--quick", action="store_true", help="small and short: checks the script")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each nothing-due command, the fastest kept (default 3)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--save", type=Path, help="also write the JSON result to this file")
    parser.add_argument(
        "--skip",
        nargs="+",
        default=[],
        choices=("verify", "pack", "report"),
        help="leave these figures out (the nightly ones are always measured)",
    )
    parser.add_argument(
        "--other-src",
        type=Path,
        help="also measure the nightly figures with these sources (PYTHONPATH), e.g. "
        "another branch's src, in the same passes: a before/after under the same load",
    )
    parser.add_argument(
        "--no-snowflake",
        action="store_true",
        help="no fake Snowflake: reconcile_days = 0, so the run re-counts nothing",
    )
    parser.add_argument("--child", choices=("cli", "hash", "append"), help=argparse.SUPPRESS)
    parser.add_argument("--env", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--rows-per-day", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        root = args.dir
        t = time.perf_counter()
        if args.child == "cli":
            out = _child_cli(root, args.rest, json.loads(args.env))
        elif args.child == "hash":
            _hash_all_cores(root)
            out = {"seconds": time.perf_counter() - t}
        else:
            out = _child_append(root, args.rows_per_day)
        out["peak_rss_mib"] = _peak_rss_mib()
        (root / "child.json").write_text(json.dumps(out))
        return 0

    sizes = sorted(args.days or (QUICK_DAYS if args.quick else SIZES_DAYS))
    gib = 0.05 if args.quick and args.gib == 2.0 else args.gib
    rows_per_day = max(1, int(gib * 1024**3 / BYTES_PER_ROW / 365))
    work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.dir))
    started = time.perf_counter()
    stack = contextlib.ExitStack()
    try:
        root = work
        builder = Builder(root, access_rows_per_day=rows_per_day)
        hook = _Webhook()
        stack.callback(hook.close)
        if args.no_snowflake:
            write_config(root, port=9, reconcile_days=0, webhook=hook.url)
        else:
            # The fake Snowflake (a thread of this process, idle while a child is
            # measured): empty ACCOUNT_USAGE tables, so the run's re-counts find no
            # late rows.
            from das_evidence.demo.server import FakeSnowflake

            fake = stack.enter_context(FakeSnowflake())
            write_config(root, port=fake.port, reconcile_days=2, webhook=hook.url)
        me = [sys.executable, str(Path(__file__).resolve()), "--dir", str(root)]
        me += ["--rows-per-day", str(rows_per_day)]
        results = []
        build_seconds = 0.0
        for days in sizes:
            t = time.perf_counter()
            print(f"== building to {days} days ({rows_per_day:,} rows a day)", file=sys.stderr)
            while builder.state["nights"] < days:
                builder.night()
                n = builder.state["nights"]
                if n % 30 == 0:
                    print(f"  {n} nights", file=sys.stderr)
            build_seconds += time.perf_counter() - t
            # The build's gigabytes on their way to the disk slowed the first figures
            # measured after it (even the CLI's imports took 1.5 times as long).
            os.sync()
            print(f"   {build_seconds:.0f} s; measuring", file=sys.stderr)
            size = measure(
                me,
                root,
                builder,
                skip=frozenset(args.skip),
                other_src=args.other_src,
                repeat=args.repeat,
            )
            size["build_seconds"] = build_seconds
            results.append(size)
    finally:
        stack.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)
    first, last = results[0], results[-1]
    result = {
        "sizes": results,
        "growth": _growth(first, last),
        **({"other_growth": _growth(first["other"], last["other"])} if args.other_src else {}),
        "other_src": str(args.other_src) if args.other_src else None,
        "gib": gib,
        "rows_per_day": rows_per_day,
        "total_seconds": time.perf_counter() - started,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    if args.save:
        args.save.write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _print(result)
    print(f"(whole script: {result['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
