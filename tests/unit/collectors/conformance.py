"""The collector conformance suite: the contract every collector inherits.

A collector's tests subclass :class:`CollectorConformance`, name the collector
class it covers, and define four fixtures:

``make_collector``
    a factory of fresh collectors over fixed input (each call a new instance,
    as a new ``evidence collect`` process would make);
``broken_collector``
    a factory of collectors over the same kind of source, made to raise the
    given exception while it is read;
``now``
    the clock of the run;
``expected_span``
    the time the due windows must tile at ``now``, ``[first start, now - safety)``;
    or, for a point-in-time stream (policy state, a dbt invocation), the one
    snapshot ``[t, t]`` that is due.

and, where they apply, ``VOLATILE`` (predicate fields that legitimately differ
between two collections of the same input, such as a query id) and
``READS_ARCHIVE`` (the collector compares with its previous entry). Each
subclass then gets every test below:

1. due windows are UTC, half-open, contiguous and tile the span, and a run
   resumed from any window's end plans the same remaining windows; a snapshot
   is one window ``[t, t]``, due once;
2. idempotence: once the real Runner has archived what is due, a fresh
   collector has nothing due at the same ``now`` and a second run writes nothing;
3. identical input gives byte-identical files and equal predicates, apart
   from the fields named in ``VOLATILE``;
4. collecting writes nothing outside the spool directory (not the working
   directory, not the temporary directory, not the collector's input);
5. any failure surfaces as a CollectorError naming the stream and the
   exception type: one raised by the source, and one raised reading the archive.
"""

from __future__ import annotations

import errno
import hashlib
import json
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.collectors.interface import ArchiveReader, Collector, Window
from das_evidence.collectors.runner import Runner, StoreArchiveReader
from das_evidence.errors import CollectorError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog, LogEntry
from das_evidence.manifests.signers import Ed25519Signer, PublicKey
from das_evidence.verify import Trust, check_archive, load_archive

ORIGIN = "evidence.example.com/conformance"

#: What a source or a bug may throw that is not a CollectorError, one fresh instance a call.
UNEXPECTED: dict[str, Callable[[], Exception]] = {
    "KeyError": lambda: KeyError("QUERY_ID"),
    "OSError": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "ConnectionResetError": lambda: OSError(errno.ECONNRESET, "Connection reset by peer"),
    "ArrowInvalid": lambda: pa.ArrowInvalid("Float value 1.5 was truncated"),
    "RecursionError": lambda: RecursionError("maximum recursion depth exceeded"),
    "MemoryError": lambda: MemoryError(),
}


class NoArchive(ArchiveReader):
    """An archive with no entries yet."""

    def last_files(self, stream: str) -> None:
        return None


class BrokenArchive(ArchiveReader):
    """An archive whose every read fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.reads = 0

    def last_files(self, stream: str) -> tuple[Mapping[str, Any], dict[str, bytes]] | None:
        self.reads += 1
        raise self.error


def tree(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every directory, file (by SHA-256) and symlink under ``root``, except ``skip``."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or path.is_relative_to(skip)):
            continue
        name = str(path.relative_to(root))
        if path.is_symlink():
            out[name] = f"-> {path.readlink()}"
        elif path.is_dir():
            out[name] = "dir"
        else:
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def without(predicate: Mapping[str, Any], paths: tuple[str, ...]) -> tuple[Any, set[str]]:
    """``predicate`` as JSON without the dotted ``paths`` (``*`` is any key), and those found."""
    doc = json.loads(json.dumps(predicate, sort_keys=True))
    found: set[str] = set()

    def drop(node: Any, parts: list[str]) -> bool:
        if not isinstance(node, dict):
            return False
        head, rest = parts[0], parts[1:]
        hit = False
        for key in list(node) if head == "*" else [head] if head in node else []:
            if rest:
                hit = drop(node[key], rest) or hit
            else:
                del node[key]
                hit = True
        return hit

    for path in paths:
        if drop(doc, path.split(".")):
            found.add(path)
    return doc, found


def causes(e: BaseException) -> list[BaseException]:
    """``e`` and every exception it was raised from or during."""
    chain: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


class CollectorConformance:
    """Subclass as ``TestXConformance``; define the fixtures described in the module docstring."""

    #: the collector class these tests cover
    collector_type: ClassVar[type[Collector]]
    #: predicate fields (dotted, ``*`` for any key) that differ between identical collections
    VOLATILE: ClassVar[tuple[str, ...]] = ()
    #: the collector reads its previous entry back from the archive
    READS_ARCHIVE: ClassVar[bool] = False

    @pytest.fixture
    def make_collector(self) -> Callable[[], Collector]:
        raise NotImplementedError(f"{type(self).__name__} must define the make_collector fixture")

    @pytest.fixture
    def broken_collector(self) -> Callable[[Exception], Collector]:
        raise NotImplementedError(f"{type(self).__name__} must define broken_collector")

    @pytest.fixture
    def now(self) -> datetime:
        raise NotImplementedError(f"{type(self).__name__} must define the now fixture")

    @pytest.fixture
    def expected_span(self) -> Window:
        raise NotImplementedError(f"{type(self).__name__} must define expected_span")

    # -- helpers --------------------------------------------------------------------

    @staticmethod
    def _first_window(collector: Collector, now: datetime) -> Window:
        collector.attach(NoArchive())
        windows = collector.due_windows(None, now)
        assert windows, f"{collector.stream} has nothing due at {now}: the fixture proves nothing"
        return windows[0]

    @staticmethod
    def _spool(tmp_path: Path, name: str) -> Path:
        spool = tmp_path / name
        spool.mkdir()
        return spool

    # -- 1. windows -----------------------------------------------------------------

    def test_due_windows_tile_the_span_and_resume_where_they_ended(
        self, make_collector: Callable[[], Collector], now: datetime, expected_span: Window
    ) -> None:
        collector = make_collector()
        collector.attach(NoArchive())
        windows = collector.due_windows(None, now)
        for w in windows:
            assert w.start.utcoffset() == w.end.utcoffset() == timedelta(0), w
        if expected_span.start == expected_span.end:
            # A snapshot: one point in time, not in the future, due once.
            assert windows == [expected_span]
            assert expected_span.end <= now
            assert collector.due_windows(expected_span.end, now) == []
            return
        assert windows, f"nothing due in {expected_span}"
        assert windows[0].start == expected_span.start
        assert windows[-1].end == expected_span.end
        assert all(w.start < w.end for w in windows), windows
        for before, after in pairwise(windows):
            assert before.end == after.start, f"gap or overlap between {before} and {after}"
        # A run that stopped after any window plans exactly the rest, so its keys match.
        for k, w in enumerate(windows):
            assert collector.due_windows(w.end, now) == windows[k + 1 :]
        later = collector.due_windows(expected_span.end, now + timedelta(days=1))
        assert later and later[0].start == expected_span.end

    # -- 2. idempotence -------------------------------------------------------------

    def test_a_second_run_at_the_same_time_has_nothing_due_and_writes_nothing(
        self, make_collector: Callable[[], Collector], now: datetime, tmp_path: Path
    ) -> None:
        signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
        store = LocalStore(tmp_path / "archive", create=True)

        planned = make_collector()
        planned.attach(NoArchive())
        due = planned.due_windows(None, now)

        def run() -> list[int]:
            runner = Runner(store, ArchiveLog(store, ORIGIN), signer, signer, lambda: now)
            archived: list[int] = []

            def on_entry(entry: LogEntry) -> None:
                # Fail now, rather than at the timeout, if the stream never stops being due.
                archived.append(entry.index)
                assert len(archived) <= len(due), f"archived {len(archived)} of {len(due)} due"

            report = runner.run([make_collector()], on_entry=on_entry)
            assert report.ok, report.to_json()
            return report.streams[0].entries

        assert len(run()) == len(due) > 0
        after_first = tree(store.root)

        fresh = make_collector()
        archive = ArchiveLog(store, ORIGIN)
        fresh.attach(StoreArchiveReader(store, archive))
        assert fresh.due_windows(archive.stream_end(fresh.stream), now) == []
        assert run() == []
        assert tree(store.root) == after_first

        trust = Trust(keys=(PublicKey.from_pem(signer.public_key_pem()),))
        assert [str(f) for f in check_archive(load_archive(store), trust).findings] == []

    # -- 3. identical bytes ---------------------------------------------------------

    def test_identical_input_gives_identical_bytes(
        self, make_collector: Callable[[], Collector], now: datetime, tmp_path: Path
    ) -> None:
        a, b = make_collector(), make_collector()
        window = self._first_window(a, now)
        assert self._first_window(b, now) == window
        one = a.collect(window, self._spool(tmp_path, "a"))
        two = b.collect(window, self._spool(tmp_path, "b"))

        assert [f.key for f in one.files] == [f.key for f in two.files]
        assert any(f.rows is None or f.rows > 0 for f in one.files), "no rows: proves little"
        for f, g in zip(one.files, two.files, strict=True):
            assert f.local_path.read_bytes() == g.local_path.read_bytes(), f.key
            assert (f.sha256, f.size, f.rows, f.media_type) == (
                g.sha256,
                g.size,
                g.rows,
                g.media_type,
            )
        p1, found1 = without(one.predicate, self.VOLATILE)
        p2, found2 = without(two.predicate, self.VOLATILE)
        assert found1 == found2 == set(self.VOLATILE), "a VOLATILE field is not in the predicate"
        assert p1 == p2

    # -- 4. spool-only writes -------------------------------------------------------

    def test_collect_writes_only_the_files_it_names_inside_the_spool(
        self,
        make_collector: Callable[[], Collector],
        now: datetime,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        collector = make_collector()
        window = self._first_window(collector, now)
        spool = self._spool(tmp_path, "spool")
        # Relative paths and temporary files land where this test can see them.
        monkeypatch.chdir(self._spool(tmp_path, "cwd"))
        scratch = self._spool(tmp_path, "tmp")
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        monkeypatch.setenv("TMPDIR", str(scratch))
        before = tree(tmp_path, skip=spool)

        collection = collector.collect(window, spool)

        assert tree(tmp_path, skip=spool) == before
        written = {p.resolve() for p in spool.rglob("*") if not p.is_dir()}
        assert written == {f.local_path.resolve() for f in collection.files}

    # -- 5. every failure is a CollectorError ---------------------------------------

    @pytest.mark.parametrize("kind", list(UNEXPECTED))
    def test_a_failing_source_surfaces_as_a_collector_error(
        self,
        broken_collector: Callable[[Exception], Collector],
        now: datetime,
        tmp_path: Path,
        kind: str,
    ) -> None:
        error = UNEXPECTED[kind]()
        collector = broken_collector(error)
        with pytest.raises(CollectorError) as caught:
            collector.attach(NoArchive())
            windows = collector.due_windows(None, now)
            assert windows, "the broken collector has nothing due: its failure is never reached"
            collector.collect(windows[0], self._spool(tmp_path, "spool"))
        self._assert_names(caught.value, collector, error)

    def test_a_failing_archive_read_surfaces_as_a_collector_error(
        self, make_collector: Callable[[], Collector], now: datetime, tmp_path: Path
    ) -> None:
        error = UNEXPECTED["OSError"]()
        collector = make_collector()
        archive = BrokenArchive(error)
        caught: CollectorError | None = None
        try:
            collector.attach(archive)
            windows = collector.due_windows(None, now)
            collector.collect(windows[0], self._spool(tmp_path, "spool"))
        except CollectorError as e:
            caught = e
        if self.READS_ARCHIVE:
            assert caught is not None, "the archive was not read: set READS_ARCHIVE = False"
            self._assert_names(caught, collector, error)
        else:
            assert caught is None and archive.reads == 0, "set READS_ARCHIVE = True"

    @staticmethod
    def _assert_names(caught: CollectorError, collector: Collector, error: Exception) -> None:
        assert type(caught) is CollectorError
        assert caught.message.startswith(f"{collector.stream}: unexpected {type(error).__name__}")
        assert error in causes(caught)


__all__ = [
    "UNEXPECTED",
    "BrokenArchive",
    "CollectorConformance",
    "NoArchive",
    "causes",
    "tree",
    "without",
]
