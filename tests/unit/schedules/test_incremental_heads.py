"""A nightly run reads the heads of the streams that moved, not every stream's.

Streams accumulate (one per dbt invocation: ~1,500 after a year of four builds a night),
so a run that parsed every stream's head to check continuity or to write its last-run
record grew with the archive's age. Continuity is still checked against the head of each
stream a new entry is of, and the last-run record still names every head.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from das_evidence.config import load_settings
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.manifests.log import ArchiveLog
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.manifests.statement import Statement
from das_evidence.schedules.runner import RunSummary, _verified_record, run
from tests.unit.verify.test_rollback import ACCESS, LOG, NOW, ORIGIN, POLICY, _append, _config


@pytest.fixture
def archive(tmp_path: Path) -> tuple[ArchiveLog, Ed25519Signer, Path]:
    keys = write_key_pair(tmp_path / "keys", ORIGIN)
    signer = Ed25519Signer.from_file(keys["key"], ORIGIN)
    log = ArchiveLog(LocalStore(tmp_path / "archive", create=True), ORIGIN)
    for stream, day in LOG:
        _append(log, signer, stream, day)
    config = _config(tmp_path, log.store.root, None)  # type: ignore[attr-defined]
    first = run(load_settings(config), clock=lambda: NOW)
    assert first.exit_code == 0 and first.verified is None, first.to_json()
    return log, signer, config


def _parsed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(stream, window start) of every statement parsed from the verified log."""
    seen: list[tuple[str, str]] = []
    real = Statement.from_verified_bytes.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Statement], data: bytes) -> Statement:
        st: Statement = real(cls, data)
        seen.append((st.predicate["stream"], st.predicate["window"]["start"]))
        return st

    monkeypatch.setattr(Statement, "from_verified_bytes", classmethod(spy))
    return seen


def test_a_new_window_is_checked_against_its_own_stream_head_only(
    archive: tuple[ArchiveLog, Ed25519Signer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    log, signer, config = archive
    log.reload()
    _append(log, signer, ACCESS, 5)  # day 4 is missing: a gap after the head (day 3)
    parsed = _parsed(monkeypatch)
    second = run(load_settings(config), clock=lambda: NOW)
    summary = second.to_json()
    assert summary["verification"]["mode"] == "incremental", summary
    assert any("V8 continuity" in f and "gap" in f for f in second.findings), second.findings
    # The access stream's head was read to find the gap; the policy stream's was not.
    assert (ACCESS, "2026-11-03T00:00:00Z") in parsed
    assert not [p for p in parsed if p[0] == POLICY], parsed


def test_a_nothing_due_run_reads_no_head_and_records_every_one(
    archive: tuple[ArchiveLog, Ed25519Signer, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, _, config = archive
    before = json.loads((tmp_path / "last-run.json").read_text())["verified"]["heads"]
    parsed = _parsed(monkeypatch)
    again = run(load_settings(config), clock=lambda: NOW)
    assert again.exit_code == 0 and again.verified is not None, again.to_json()
    assert parsed == []
    after = json.loads((tmp_path / "last-run.json").read_text())["verified"]["heads"]
    assert after == before and set(after) == {ACCESS, POLICY}
    assert after[ACCESS] == {"end": "2026-11-04T00:00:00Z", "index": 4}


class _Log:
    """What :func:`_verified_record` asks of the log: head indexes, and entries it reads."""

    def __init__(self, heads: dict[str, int], ends: dict[int, str]) -> None:
        self._heads, self.ends = heads, ends
        self.read: list[int] = []

    def head_indexes(self) -> dict[str, int]:
        return dict(self._heads)

    @property
    def entries(self) -> _Log:
        return self

    def __getitem__(self, index: int) -> Any:
        self.read.append(index)
        return type("E", (), {"predicate": {"window": {"end": self.ends[index]}}})()


def test_the_record_reads_only_the_heads_that_moved() -> None:
    log = _Log({"a": 7, "b": 3, "c": 9}, {7: "E7", 3: "E3", 9: "E9"})
    summary = RunSummary(NOW, checkpoint={"size": 10}, archive=log)  # type: ignore[arg-type]
    previous = {
        "verified": {
            "heads": {
                "a": {"end": "E5", "index": 5},  # moved: read again
                "b": {"end": "kept", "index": 3},  # same index: kept
                "gone": {"end": "x", "index": 1},  # no longer a stream: dropped
            }
        }
    }
    record = _verified_record(summary, previous)
    assert record is not None
    assert record["heads"] == {
        "a": {"end": "E7", "index": 7},
        "b": {"end": "kept", "index": 3},
        "c": {"end": "E9", "index": 9},
    }
    assert sorted(log.read) == [7, 9]
    # Without a previous record (or a damaged one) every head is read.
    log.read.clear()
    assert _verified_record(summary, {"verified": "damaged"}) is not None
    assert sorted(log.read) == [3, 7, 9]
