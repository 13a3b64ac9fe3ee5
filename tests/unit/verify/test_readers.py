"""Evidence files read in forked worker processes (a directory store, a process with no
other thread) give the same report as on threads, findings and errors alike."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.errors import StoreError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import EvidenceFile
from das_evidence.verify import readers as readers_mod
from das_evidence.verify.archive import Trust, check_archive, load_archive
from das_evidence.verify.readers import (
    BatchQueue,
    ProcessReaders,
    ThreadReaders,
    can_fork,
    unwrapped,
)
from tests.unit.verify.days import append_day, new_archive

ORIGIN = "evidence.example.com/readers-test"
DAYS = 12

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods(),
    reason="forks only on Linux",
)


def _parquet(rows: int) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"N": pa.array(range(rows), pa.int64())}), buf)
    return buf.getvalue()


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, Trust]:
    store, log, signer, trust = new_archive(tmp_path, ORIGIN)
    for day in range(1, DAYS + 1):
        files = []
        for name, body, media, rows in (
            ("t.parquet", _parquet(day), "application/vnd.apache.parquet", day),
            ("a.csv", f"s,{day}\n".encode() * (day * 5000), "text/csv", 1),
        ):
            key = f"evidence/s/day={day:02d}/{name}"
            store.put_once(key, body)
            files.append(
                EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), media, rows)
            )
        append_day(log, signer, day, files)
    for p in store.root.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    return store.root, trust


FRESH = "DAS_EVIDENCE_READERS_FRESH"


@pytest.fixture(autouse=True)
def single_threaded(request: pytest.FixtureRequest) -> None:
    """Another test's server thread still running would keep readers on threads: then
    :func:`test_these_tests_run_in_a_fresh_interpreter` runs them where none is."""
    if request.node.name == test_these_tests_run_in_a_fresh_interpreter.__name__:
        return
    if not can_fork():
        others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        pytest.skip(f"threads of other tests are running ({others}): run in a fresh interpreter")


@pytest.mark.skipif(bool(os.environ.get(FRESH)), reason="already in the fresh interpreter")
def test_these_tests_run_in_a_fresh_interpreter() -> None:
    """The suite's own process may hold other tests' threads (servers on loopback), so
    the forked path is also checked in an interpreter of its own, where no test of this
    file may be skipped."""
    env = {**os.environ, FRESH: "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", __file__],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout, done.stdout
    # The only skip is this test's own, inside the fresh interpreter.
    assert "1 skipped" in done.stdout, done.stdout


@pytest.fixture
def kinds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The kinds of readers started, in order."""
    started: list[str] = []
    for cls in (ProcessReaders, ThreadReaders):
        real = cls.__init__

        def spy(self: Any, *a: Any, _real: Any = real, _name: str = cls.__name__) -> None:
            started.append(_name)
            _real(self, *a)

        monkeypatch.setattr(cls, "__init__", spy)
    yield started


def test_a_tampered_archive_reports_the_same_from_processes_as_from_threads(
    archive: tuple[Path, Trust], kinds: list[str]
) -> None:
    root, trust = archive
    (root / "evidence/s/day=02/a.csv").write_bytes(b"altered\n")
    (root / "evidence/s/day=05/t.parquet").write_bytes(_parquet(99))  # digest and rows
    (root / "evidence/s/day=07/a.csv").unlink()
    target = root / "evidence/s/day=09/a.csv"
    target.unlink()
    target.symlink_to(root / "evidence/s/day=10/a.csv")
    (root / "evidence/s/stray.csv").write_bytes(b"no entry names me\n")
    (root / "evidence/s/day=11/t.parquet").write_bytes(b"not parquet at all")

    forked = check_archive(load_archive(LocalStore(root)), trust)
    threaded = check_archive(load_archive(LocalStore(root), processes=False), trust)
    assert kinds == ["ProcessReaders", "ThreadReaders"]
    assert forked.findings == threaded.findings
    assert forked.stats == threaded.stats
    assert [(f.check, f.subject) for f in forked.findings] == [
        ("V1 layout", "evidence/s/day=09/a.csv"),
        ("V6 evidence", "evidence/s/day=02/a.csv"),
        ("V6 evidence", "evidence/s/day=02/a.csv"),
        ("V6 evidence", "evidence/s/day=05/t.parquet"),
        ("V6 evidence", "evidence/s/day=05/t.parquet"),
        ("V6 evidence", "evidence/s/day=05/t.parquet"),
        ("V6 evidence", "evidence/s/day=07/a.csv"),
        ("V6 evidence", "evidence/s/day=09/a.csv"),
        ("V6 evidence", "evidence/s/day=11/t.parquet"),
        ("V6 evidence", "evidence/s/day=11/t.parquet"),
        ("V6 evidence", "evidence/s/day=11/t.parquet"),
        ("V6 evidence", "evidence/s/stray.csv"),
    ]


def test_an_intact_archive_passes_from_processes(
    archive: tuple[Path, Trust], kinds: list[str]
) -> None:
    root, trust = archive
    report = check_archive(load_archive(LocalStore(root)), trust)
    assert report.ok, report.findings
    assert kinds == ["ProcessReaders"]
    assert report.stats["rows"] == sum(range(1, DAYS + 1)) + DAYS
    assert report.stats["evidence_files"] == 2 * DAYS


def test_a_process_with_another_thread_reads_on_threads(
    archive: tuple[Path, Trust], kinds: list[str]
) -> None:
    """Forking copies every lock another thread may hold: no fork then."""
    root, trust = archive
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
        report = check_archive(load_archive(LocalStore(root), processes=True), trust)
    finally:
        stop.set()
        other.join()
    assert report.ok, report.findings
    assert kinds == ["ThreadReaders"]


def _refuse(key: str) -> readers_mod.FileRead:
    if key.endswith("bad"):
        raise StoreError(f"cannot read {key}: Input/output error", fix="check the disk")
    return (hashlib.sha256(key.encode()).hexdigest(), len(key)), None


def test_a_store_error_in_a_worker_reaches_the_caller_with_its_fix() -> None:
    readers = ProcessReaders(_refuse, 1)
    try:
        good = readers.submit(["evidence/a", "evidence/b"])
        bad = readers.submit(["evidence/c", "evidence/bad"])
        assert unwrapped(good.result()) == [(k, _refuse(k)) for k in ("evidence/a", "evidence/b")]
        with pytest.raises(StoreError) as e:
            unwrapped(bad.result())
    finally:
        readers.shutdown(wait=True)
    assert e.value.message == "cannot read evidence/bad: Input/output error"
    assert e.value.fix == "check the disk"


@pytest.mark.parametrize("kind", [ThreadReaders, ProcessReaders])
def test_a_busy_reader_holds_one_batch_and_the_caller_takes_the_rest(
    kind: type[ThreadReaders] | type[ProcessReaders], tmp_path: Path
) -> None:
    """A reader is handed a batch only when it is free: the others stay for the caller
    (a process pool would otherwise queue one more for its worker, out of reach)."""
    gate = tmp_path / "open"  # the reader waits until this file exists
    readers = kind(partial(_wait_for, gate), 1)
    queue = BatchQueue(readers, [[f"evidence/{i}"] for i in range(6)], 1)
    try:
        taken = []
        while (item := queue.take()) is not None:
            taken.append(item[0])
        assert taken == [5, 4, 3, 2, 1]
        assert list(queue.handed) == [0]
        gate.touch()
        assert unwrapped(queue.handed[0].result(timeout=30)) == [
            ("evidence/0", _wait_for(gate, "evidence/0"))
        ]
    finally:
        gate.touch()
        queue.close(wait=True)


def _wait_for(gate: Path, key: str) -> readers_mod.FileRead:
    deadline = time.monotonic() + 30
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return (hashlib.sha256(key.encode()).hexdigest(), len(key)), None
