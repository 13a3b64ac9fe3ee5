"""`evidence verify` of a directory hashes evidence files on several threads, while it
checks the entries, and still reports the same findings in the same order."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from das_evidence.evidence_store.interface import ObjectInfo
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.dsse import Envelope
from das_evidence.manifests.log import EvidenceFile
from das_evidence.verify import archive as archive_mod
from das_evidence.verify.archive import Trust, check_archive, load_archive
from tests.unit.verify.days import append_day, new_archive

ORIGIN = "evidence.example.com/parallel-test"
DAYS = 8


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, Trust]:
    store, log, signer, trust = new_archive(tmp_path, ORIGIN)
    for day in range(1, DAYS + 1):
        # Odd days large, even days small: every file is read on the threads.
        body = f"s,{day}\n".encode() * (300_000 if day % 2 else 1000)
        key = f"evidence/s/day={day:02d}.csv"
        store.put_once(key, body)
        append_day(
            log,
            signer,
            day,
            [EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 1)],
        )
    for p in store.root.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    return store.root, trust


class MeetingStore(LocalStore):
    """A store whose first two evidence reads wait for each other: they finish only
    when two files are read at the same time."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.barrier = threading.Barrier(2, timeout=10)
        self.reads = 0
        self.lock = threading.Lock()

    def head_tail(self, key: str, max_bytes: int) -> tuple[ObjectInfo, bytes] | None:
        with self.lock:
            self.reads += 1
            first_two = self.reads <= 2
        if first_two:
            self.barrier.wait()
        return super().head_tail(key, max_bytes)


def test_evidence_files_are_hashed_on_several_threads(archive: tuple[Path, Trust]) -> None:
    root, trust = archive
    report = check_archive(load_archive(MeetingStore(root)), trust)
    assert report.ok, report.findings


class SlowFirstStore(LocalStore):
    """A store whose earlier files take longer to read: they finish last."""

    def head_tail(self, key: str, max_bytes: int) -> tuple[ObjectInfo, bytes] | None:
        if key.startswith("evidence/s/day="):
            day = int(key.rsplit("=", 1)[1].split(".")[0])
            time.sleep((DAYS - day) * 0.02)
        return super().head_tail(key, max_bytes)


def test_findings_follow_the_entries_not_the_order_files_finish_in(
    archive: tuple[Path, Trust],
) -> None:
    root, trust = archive
    for day in (2, 5, 7):
        (root / f"evidence/s/day={day:02d}.csv").write_bytes(b"altered\n")
    (root / "evidence/s/stray.csv").write_bytes(b"no entry names me\n")
    report = check_archive(load_archive(SlowFirstStore(root)), trust)
    assert [(f.check, f.subject) for f in report.findings] == [
        ("V6 evidence", "evidence/s/day=02.csv"),
        ("V6 evidence", "evidence/s/day=02.csv"),
        ("V6 evidence", "evidence/s/day=05.csv"),
        ("V6 evidence", "evidence/s/day=05.csv"),
        ("V6 evidence", "evidence/s/day=07.csv"),
        ("V6 evidence", "evidence/s/day=07.csv"),
        ("V6 evidence", "evidence/s/stray.csv"),
    ]
    assert report.findings == check_archive(load_archive(LocalStore(root)), trust).findings


def test_layout_problems_of_files_read_late_still_come_first(
    archive: tuple[Path, Trust],
) -> None:
    root, trust = archive
    target = root / "evidence/s/day=03.csv"
    target.unlink()
    target.symlink_to(root / "evidence/s/day=04.csv")
    report = check_archive(load_archive(SlowFirstStore(root)), trust)
    assert [(f.check, f.subject) for f in report.findings] == [
        ("V1 layout", "evidence/s/day=03.csv"),
        ("V6 evidence", "evidence/s/day=03.csv"),
    ]
    assert "symbolic link" in report.findings[0].message


def test_each_envelope_is_parsed_once(
    archive: tuple[Path, Trust], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, trust = archive
    parsed: list[bytes] = []
    real = Envelope.from_bytes.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Envelope], data: bytes) -> Envelope:
        parsed.append(data)
        return real(cls, data)  # type: ignore[no-any-return]

    monkeypatch.setattr(archive_mod.Envelope, "from_bytes", classmethod(counting))
    report = check_archive(load_archive(LocalStore(root)), trust)
    assert report.ok, report.findings
    assert len(parsed) == DAYS


class EventStore(LocalStore):
    """A store that records each entry it is asked for, in one list with the checks."""

    def __init__(self, root: Path, events: list[str]) -> None:
        super().__init__(root)
        self.events = events

    def get_tail(self, key: str, max_bytes: int) -> tuple[bytes, int]:
        if key.startswith("log/entries/"):
            self.events.append(f"read {int(key[12:24])}")
        return super().get_tail(key, max_bytes)


def test_each_entry_is_read_when_it_is_checked_not_all_before(
    archive: tuple[Path, Trust],
) -> None:
    """So memory follows one entry, not the whole log."""
    root, trust = archive
    events: list[str] = []
    snap = load_archive(EventStore(root, events))
    report = check_archive(
        snap,
        trust,
        lambda done, total, what: events.append(f"check {done}") if done < total else None,
    )
    assert report.ok, report.findings
    assert events == [e for i in range(DAYS) for e in (f"read {i}", f"check {i}")]
