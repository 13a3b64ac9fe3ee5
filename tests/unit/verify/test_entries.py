"""The checks `evidence sql --verified` makes of the log it reads (verify.entries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from das_evidence.manifests.log import LogEntry
from das_evidence.verify.archive import Trust
from das_evidence.verify.entries import check_log, check_signed_entry
from tests.unit.query.conftest import ORIGIN, T0, ArchiveBuilder


@pytest.fixture
def builder(tmp_path: Path) -> ArchiveBuilder:
    return ArchiveBuilder(tmp_path)


def _two(builder: ArchiveBuilder) -> list[LogEntry]:
    for day in (0, 1):
        builder.history(
            "sessions", [], start=T0.replace(day=20 + day), end=T0.replace(day=21 + day)
        )
    return builder.log.entries


def _trust(builder: ArchiveBuilder) -> Trust:
    from das_evidence.verify import load_trust

    return load_trust([builder.pub], str(builder.vkey), ORIGIN)


def _checkpoint(builder: ArchiveBuilder) -> bytes:
    current = builder.store.get_checkpoint()
    assert current is not None
    return current[0]


def test_an_intact_log_passes(builder: ArchiveBuilder) -> None:
    entries = _two(builder)
    report = check_log(entries, _checkpoint(builder), _trust(builder), ORIGIN, "t")
    assert report.ok, report.findings
    assert report.stats["checkpoint"] == "size 2, verified"


def test_entries_reordered_break_the_chain(builder: ArchiveBuilder) -> None:
    first, second = _two(builder)
    report = check_log([second, first], _checkpoint(builder), _trust(builder), ORIGIN, "t")
    checks = {f.check for f in report.findings}
    assert {"V4 index", "V5 chain", "V7 checkpoint"} <= checks


def test_another_origin_is_refused(builder: ArchiveBuilder) -> None:
    entries = _two(builder)
    report = check_log(entries, _checkpoint(builder), _trust(builder), "other.example/log", "t")
    assert {f.check for f in report.findings} >= {"V4 index", "V7 checkpoint"}


def test_without_a_note_key_the_checkpoint_is_not_checked_and_says_so(
    builder: ArchiveBuilder,
) -> None:
    entries = _two(builder)
    report = check_log(entries, None, Trust(keys=()), ORIGIN, "t")
    assert report.ok and report.stats["checkpoint"].startswith("not checked")
    assert not check_log(entries, None, _trust(builder), ORIGIN, "t").ok  # missing: unsealed


def test_an_envelope_is_checked_against_the_statement_read(builder: ArchiveBuilder) -> None:
    first, second = _two(builder)
    envelope = builder.store.get("log/entries/000000000000.dsse.json")
    assert check_signed_entry(first, envelope, _trust(builder), ORIGIN).ok
    # entry_swapped: entry 1's slot read back with entry 0's (validly signed) envelope
    swapped = check_signed_entry(second, envelope, _trust(builder), ORIGIN)
    assert {f.check for f in swapped.findings} >= {"V4 index", "V2 signature"}
    untrusted = check_signed_entry(first, envelope, Trust(keys=()), ORIGIN)
    assert [f.check for f in untrusted.findings] == ["V2 signature"]
