"""The runner: write order, stream isolation, and adoption of a crashed run's leftovers."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.collectors.interface import (
    PARQUET_MEDIA_TYPE,
    CollectedFile,
    Collection,
    Collector,
    Window,
)
from das_evidence.collectors.parquet import DeterministicParquetWriter
from das_evidence.collectors.runner import Runner, StreamResult, select
from das_evidence.collectors.snowflake.history import plan_windows
from das_evidence.errors import CollectorError, StoreError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog, LogEntry
from das_evidence.manifests.signers import Ed25519Signer, PublicKey
from das_evidence.verify import Trust, check_archive, load_archive

ORIGIN = "evidence.example.com/runner-test"
NOW = datetime(2026, 11, 5, 6, tzinfo=UTC)
SCHEMA = pa.schema([pa.field("N", pa.int64())])


class FakeCollector(Collector):
    """A collector whose rows are chosen by the test (a Collector subclass, not a mock)."""

    def __init__(
        self, stream: str, rows: int = 3, fail: bool = False, error: Exception | None = None
    ) -> None:
        self.stream = stream
        self.name = "fake"
        self.rows = rows
        self.fail = fail
        self.error = error  # what the "source" raises while collecting

    def _due_windows(self, last_end: datetime | None, now: datetime) -> list[Window]:
        start = last_end or datetime(2026, 11, 1, tzinfo=UTC)
        return plan_windows(start, now, timedelta(hours=3))

    def _collect(self, window: Window, spool: Path) -> Collection:
        if self.fail:
            raise CollectorError(f"{self.stream} is broken")
        if self.error is not None:
            raise self.error
        key = f"evidence/{self.stream}/{window.start:%Y%m%dT%H%M%SZ}.parquet"
        path = spool / "f.parquet"
        with DeterministicParquetWriter(path, SCHEMA) as w:
            w.write(pa.record_batch([pa.array(range(self.rows), pa.int64())], schema=SCHEMA))
        data = path.read_bytes()
        f = CollectedFile(
            key, path, hashlib.sha256(data).hexdigest(), len(data), self.rows, PARQUET_MEDIA_TYPE
        )
        return Collection(self.stream, window, (f,), {"query": {"query_id": "q"}})


@pytest.fixture
def setup(tmp_path: Path) -> tuple[LocalStore, Ed25519Signer, Path]:
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    pub = tmp_path / "pub.pem"
    pub.write_bytes(signer.public_key_pem())
    return LocalStore(tmp_path / "archive", create=True), signer, pub


def _runner(store: LocalStore, signer: Ed25519Signer) -> Runner:
    return Runner(store, ArchiveLog(store, ORIGIN), signer, signer, lambda: NOW)


def _verify(store: LocalStore, pub: Path) -> list[str]:
    trust = Trust(keys=(PublicKey.from_file(pub),))
    return [str(f) for f in check_archive(load_archive(store), trust).findings]


def test_one_failing_stream_does_not_stop_the_others(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, signer, pub = setup
    report = _runner(store, signer).run([FakeCollector("a", fail=True), FakeCollector("b")])
    assert not report.ok and report.exit_code == 3
    assert report.streams[0].entries == [] and len(report.streams[1].entries) == 5
    assert not list(store.list("evidence/a/"))
    assert _verify(store, pub) == []


class BuggyCollector(FakeCollector):
    """A collector with a bug: it raises what no collector should let out."""

    def _collect(self, window: Window, spool: Path) -> Collection:
        raise KeyError("ROWS_PRODUCED")


class StorelessCollector(FakeCollector):
    """A collector whose source sits behind a store that went away."""

    def _collect(self, window: Window, spool: Path) -> Collection:
        raise StoreError(f"{self.stream}: the dbt target bucket is unreachable")


def test_a_bug_in_one_stream_fails_only_that_stream(
    setup: tuple[LocalStore, Ed25519Signer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    store, signer, _ = setup
    with caplog.at_level(logging.DEBUG):
        report = _runner(store, signer).run(
            [BuggyCollector("a"), StorelessCollector("b"), FakeCollector("c")]
        )
    bug, unreachable, ok = report.streams
    assert isinstance(bug.error, CollectorError) and bug.entries == []
    assert str(bug.error).startswith("a: unexpected KeyError: 'ROWS_PRODUCED'")
    assert unreachable.error is not None and unreachable.entries == []
    assert "the dbt target bucket is unreachable" in str(unreachable.error)
    assert unreachable.error.exit_code == 3
    assert ok.error is None and len(ok.entries) == 5
    assert not report.ok and report.exit_code == 3
    # The bug's traceback is there for --verbose (DEBUG), not in the error line.
    traced = [r.exc_info[0] for r in caplog.records if r.exc_info and r.levelno == logging.DEBUG]
    assert KeyError in traced


def test_a_bug_in_one_collector_fails_only_its_stream(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, signer, pub = setup
    broken = FakeCollector("a", error=KeyError("N"))
    report = _runner(store, signer).run([broken, FakeCollector("b")])
    error = report.streams[0].error
    assert isinstance(error, CollectorError) and isinstance(error.__cause__, KeyError)
    assert str(error).startswith("a: unexpected KeyError: 'N'")
    assert report.exit_code == 3 and len(report.streams[1].entries) == 5
    assert _verify(store, pub) == []


def test_a_leftover_file_with_other_bytes_is_adopted_not_overwritten(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, signer, pub = setup
    # An earlier run wrote the first window's file with 5 rows and died before its entry.
    leftover = FakeCollector("a", rows=5)
    spool = store.root.parent / "spool"
    spool.mkdir()
    first = leftover.collect(
        Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)), spool
    )
    store.put_once(first.files[0].key, first.files[0].local_path)
    # The source now has 3 rows for that window.
    report = _runner(store, signer).run([FakeCollector("a", rows=3)])
    assert report.ok
    log = ArchiveLog(store, ORIGIN)
    p = log.entries[0].predicate
    assert p["rows"] == 5 and p["files"][0]["rows"] == 5
    assert "recovered" in p
    assert "recovered" not in log.entries[1].predicate
    assert _verify(store, pub) == []


def test_an_unsealed_tail_is_sealed_first(setup: tuple[LocalStore, Ed25519Signer, Path]) -> None:
    store, signer, pub = setup
    with pytest.raises(_Killed):
        _runner(store, signer).run([FakeCollector("a")], on_entry=_kill_after(4))
    # The run was killed after entries it had not sealed yet (it seals once, at its end).
    assert len(list(store.list("log/entries/"))) == 4
    assert store.get_checkpoint() is None
    assert any("unsealed" in f or "checkpoint" in f for f in _verify(store, pub))
    report = _runner(store, signer).run([FakeCollector("a")])
    assert report.ok and report.streams[0].entries
    assert _verify(store, pub) == []


def test_a_run_seals_once_after_its_last_entry(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, signer, pub = setup
    report = _runner(store, signer).run([FakeCollector("a"), FakeCollector("b")])
    entries = sum(len(s.entries) for s in report.streams)
    assert entries > 2
    assert list(store.list("log/checkpoints/")) == [f"log/checkpoints/{entries}"]
    # A killed run's tail is sealed first by the next, before anything is appended.
    with pytest.raises(_Killed):
        _runner(store, signer).run([FakeCollector("c")], on_entry=_kill_after(1))
    report = _runner(store, signer).run([FakeCollector("c")])
    assert list(store.list("log/checkpoints/")) == [
        f"log/checkpoints/{entries}",
        f"log/checkpoints/{entries + 1}",
        f"log/checkpoints/{entries + 1 + len(report.streams[0].entries)}",
    ]
    assert _verify(store, pub) == []


class _Killed(BaseException):
    """What a kill looks like to the runner: nothing it catches."""


def _kill_after(n: int) -> Callable[[LogEntry], None]:
    heard: list[int] = []

    def on_entry(entry: LogEntry) -> None:
        heard.append(entry.index)
        if len(heard) == n:
            raise _Killed

    return on_entry


def test_select_by_glob() -> None:
    cs = [FakeCollector("snowflake/A/access_history"), FakeCollector("snowflake/A/sessions")]
    assert [c.stream for c in select(cs, "sessions")] == ["snowflake/A/sessions"]
    assert len(select(cs, "snowflake/*")) == 2
    assert select(cs, "nothing") == []
    assert len(select(cs, None)) == 2


def test_progress_hears_each_stream_and_entry_then_the_end(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, signer, pub = setup
    heard: list[tuple[int, int, str]] = []
    entries: list[int] = []
    report = _runner(store, signer).run(
        [FakeCollector("snowflake/A/login_history"), FakeCollector("snowflake/A/sessions", 2)],
        on_entry=lambda e: entries.append(e.index),
        progress=lambda done, total, what: heard.append((done, total, what)),
    )
    first, second = report.streams
    assert heard[0] == (0, 2, "snowflake/A/login_history")
    assert heard[1] == (0, 2, "snowflake/A/login_history 2026-11-01T00:00:00Z: 3 rows")
    assert (1, 2, "snowflake/A/sessions") in heard
    per_entry = [h for h in heard if h[2].endswith(" rows")]
    assert len(per_entry) == len(first.entries) + len(second.entries) == len(entries)
    assert heard[-1] == (2, 2, "done")

    # Verification reports each object read and each entry checked, and ends complete.
    read: list[tuple[int, int, str]] = []
    checked: list[tuple[int, int, str]] = []
    snap = load_archive(store, lambda *a: read.append(a))
    trust = Trust(keys=(PublicKey.from_file(pub),))
    result = check_archive(snap, trust, lambda *a: checked.append(a))
    assert result.ok
    assert read[-1] == (len(snap.keys), len(snap.keys), "reading objects")
    assert [d for d, _, _ in read] == list(range(len(snap.keys) + 1))
    assert checked[-1] == (len(entries), len(entries), "checking entries")
    assert len(checked) == len(entries) + 1


class SweptCollector(FakeCollector):
    """A FakeCollector whose files lie under one prefix, pending from the stream's end on."""

    def evidence_prefix(self) -> str:
        return f"evidence/{self.stream}/"

    def pending(self, key: str, last_end: datetime | None) -> bool:
        start = datetime.strptime(key.rsplit("/", 1)[-1][:16], "%Y%m%dT%H%M%SZ")
        return last_end is None or start.replace(tzinfo=UTC) >= last_end


def _leave(store: LocalStore, key: str, data: bytes) -> None:
    """What a run that stopped after its evidence PUT leaves: a file no entry names."""
    store.put_once(key, data)


def test_a_leftover_the_stream_has_moved_past_is_accounted_for_in_a_signed_entry(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, signer, pub = setup
    _runner(store, signer).run([SweptCollector("a")])
    stray = "evidence/a/20261101T050000Z.parquet"  # a window whose end moved with the clock
    _leave(store, stray, b"left by a killed run")
    assert any("no entry names" in f for f in _verify(store, pub))
    archive = ArchiveLog(store, ORIGIN)
    end = archive.stream_end("a")

    report = Runner(store, archive, signer, signer, lambda: NOW).run([SweptCollector("a")])

    assert report.ok and len(report.streams[0].entries) == 1
    entry = archive.entries[-1]
    assert entry.predicate["accounts_for"] == "orphans"
    assert entry.predicate["window"]["start"] == entry.predicate["window"]["end"]
    assert [(s.name, s.sha256) for s in entry.statement.subjects] == [
        (stray, hashlib.sha256(b"left by a killed run").hexdigest())
    ]
    assert archive.stream_end("a") == end  # it evidences no window
    assert _verify(store, pub) == []
    again = _runner(store, signer).run([SweptCollector("a")])
    assert again.streams[0].entries == []  # accounted once


def _parquet(tmp_path: Path, rows: int) -> bytes:
    path = tmp_path / "left.parquet"
    with DeterministicParquetWriter(path, SCHEMA) as w:
        w.write(pa.record_batch([pa.array(range(rows), pa.int64())], schema=SCHEMA))
    return path.read_bytes()


def test_a_leftover_the_next_window_writes_is_adopted_not_accounted(
    setup: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, pub = setup
    _runner(store, signer).run([SweptCollector("a")])
    archive = ArchiveLog(store, ORIGIN)
    end = archive.stream_end("a")
    assert end is not None
    later = NOW + timedelta(hours=2)
    key = f"evidence/a/{end:%Y%m%dT%H%M%SZ}.parquet"
    _leave(store, key, _parquet(tmp_path, rows=1))  # the source has had late rows since

    report = Runner(store, archive, signer, signer, lambda: later).run([SweptCollector("a")])

    assert report.ok
    assert not any("accounts_for" in e.predicate for e in archive.entries)
    assert archive.entries[-1].predicate["files"][0]["path"] == key
    assert "recovered" in archive.entries[-1].predicate
    assert _verify(store, pub) == []


def test_a_window_whose_key_an_orphans_entry_names_is_written_beside_it(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, signer, pub = setup
    _runner(store, signer).run([SweptCollector("a")])
    archive = ArchiveLog(store, ORIGIN)
    end = archive.stream_end("a")
    assert end is not None
    key = f"evidence/a/{end:%Y%m%dT%H%M%SZ}.parquet"
    _leave(store, key, b"accounted for already")
    runner = Runner(store, archive, signer, signer, lambda: NOW)
    runner._sweep(AlwaysOrphan("a"), report_stream := _result("a"), None)
    assert report_stream.entries == [archive.size - 1]

    report = Runner(store, archive, signer, signer, lambda: NOW + timedelta(hours=2)).run(
        [SweptCollector("a")]
    )

    assert report.ok
    assert archive.entries[-1].predicate["files"][0]["path"] == key.replace(
        ".parquet", ".retry-1.parquet"
    )
    assert _verify(store, pub) == []


class AlwaysOrphan(SweptCollector):
    def pending(self, key: str, last_end: datetime | None) -> bool:
        return False


def _result(stream: str) -> StreamResult:
    return StreamResult(stream)


class PartitionedCollector(SweptCollector):
    """Files in ``date=<window start day>`` partitions, as the Snowflake collectors'."""

    def _collect(self, window: Window, spool: Path) -> Collection:
        c = super()._collect(window, spool)
        f = c.files[0]
        key = f"evidence/{self.stream}/date={window.start:%Y-%m-%d}/{window.start:%Y%m%dT%H%M%SZ}"
        moved = CollectedFile(
            f"{key}.parquet", f.local_path, f.sha256, f.size, f.rows, f.media_type
        )
        return Collection(c.stream, c.window, (moved,), c.predicate)


def _listing(store: LocalStore) -> list[tuple[str, str]]:
    """Record each listing's prefix and start_after (the store is a real LocalStore)."""
    calls: list[tuple[str, str]] = []
    listing = store.list

    def recorded(prefix: str = "", *, start_after: str = "") -> object:
        calls.append((prefix, start_after))
        return listing(prefix, start_after=start_after)

    store.list = recorded  # type: ignore[method-assign, assignment]
    return calls


LATER = NOW + timedelta(days=20)


def test_the_sweep_lists_only_the_partitions_after_its_cursor(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    """The cursor stays SWEEP_LAG behind the head's window: an orphan left in a partition
    a writer can still write into (a window near the head whose end moved with a writer's
    clock) is listed and accounted for; the partitions before it are not listed."""
    store, signer, pub = setup
    archive = ArchiveLog(store, ORIGIN)
    Runner(store, archive, signer, signer, lambda: LATER).run([PartitionedCollector("a")])
    head = archive.head("a")
    assert head is not None and head.predicate["window"]["start"] == "2026-11-25T00:00:00Z"
    assert archive.swept("a") == "evidence/a/date=2026-11-18"  # 7 days before the head's
    assert archive.known().swept == {"a": "evidence/a/date=2026-11-18"}
    stray = "evidence/a/date=2026-11-18/20261118T050000Z.parquet"  # off the 3-hour grid
    _leave(store, stray, b"left by a killed writer whose clock differed")
    # From the kept summary (as the next run starts from the verified log).
    again = ArchiveLog(store, ORIGIN, archive.known())
    calls = _listing(store)

    report = Runner(store, again, signer, signer, lambda: LATER).run([PartitionedCollector("a")])

    sweeps = [c for c in calls if c[0] == "evidence/a/"]
    assert sweeps == [("evidence/a/", "evidence/a/date=2026-11-18")]
    assert report.ok and len(report.streams[0].entries) == 1
    assert [s.name for s in again.entries[-1].statement.subjects] == [stray]
    assert _verify(store, pub) == []


def test_without_a_cursor_the_whole_prefix_is_swept(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    """A log read whole (no verified log, or one that did not verify) has no cursor: an
    orphan in an old partition is found."""
    store, signer, pub = setup
    Runner(store, ArchiveLog(store, ORIGIN), signer, signer, lambda: LATER).run(
        [PartitionedCollector("a")]
    )
    stray = "evidence/a/date=2026-11-01/20261101T050000Z.parquet"
    _leave(store, stray, b"an old leftover")
    archive = ArchiveLog(store, ORIGIN)
    assert archive.swept("a") is None
    report = Runner(store, archive, signer, signer, lambda: LATER).run([PartitionedCollector("a")])
    assert report.ok and [s.name for s in archive.entries[-1].statement.subjects] == [stray]
    assert _verify(store, pub) == []


def test_no_cursor_when_a_key_lies_outside_the_date_partitions(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, signer, _ = setup
    archive = ArchiveLog(store, ORIGIN)
    Runner(store, archive, signer, signer, lambda: LATER).run([SweptCollector("a")])
    assert archive.swept("a") is None


def test_the_cursor_stays_before_a_pending_file_and_the_clock(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, signer, _ = setup
    archive = ArchiveLog(store, ORIGIN)
    runner = Runner(store, archive, signer, signer, lambda: LATER)
    runner.run([PartitionedCollector("a")])
    # A head window in the future (a writer whose clock ran ahead): bound by this clock.
    early = Runner(store, archive, signer, signer, lambda: LATER - timedelta(days=3))
    archive.sweep_to("a", "evidence/a/date=2026-11-01")
    early._sweep(PartitionedCollector("a"), _result("a"), None)
    assert archive.swept("a") == "evidence/a/date=2026-11-15"
    # A pending file (a window the stream will still archive) keeps the cursor before it.
    pending = "evidence/a/date=2026-11-10/20261130T000000Z.parquet"
    _leave(store, pending, b"pending")
    archive.sweep_to("a", "evidence/a/date=2026-11-01")
    runner._sweep(PartitionedCollector("a"), _result("a"), None)
    assert archive.swept("a") == "evidence/a/date=2026-11-10"


def test_a_cursor_for_another_prefix_is_not_used(
    setup: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    """A cursor that sorts after every key of this prefix would skip them all."""
    store, signer, _ = setup
    archive = ArchiveLog(store, ORIGIN)
    Runner(store, archive, signer, signer, lambda: LATER).run([PartitionedCollector("a")])
    stray = "evidence/a/date=2026-11-01/20261101T050000Z.parquet"
    _leave(store, stray, b"an old leftover")
    archive.sweep_to("a", "evidence/zzz/date=2999-01-01")
    runner = Runner(store, archive, signer, signer, lambda: LATER)
    runner._sweep(PartitionedCollector("a"), result := _result("a"), None)
    assert result.entries == [archive.size - 1]
    assert [s.name for s in archive.entries[-1].statement.subjects] == [stray]
