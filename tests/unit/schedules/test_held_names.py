"""The verified log keeps only the recent named files; the rest are read when asked for.

The summary used to list every file an entry names (13,908 after a simulated year, 1.6 MB
of its 1.8 MB), read and checked by every nightly ``evidence collect`` and ``run``. It now
keeps the files in the ``date=`` partitions at or after the earliest sweep cursor: the
orphan sweep asks only about files after its cursor, and a new window's file lies after it
too. A file in an earlier partition (or in none) is looked up in the statements, which are
authenticated first: a re-claimed old file is still found by an incremental run.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from das_evidence.config import load_settings
from das_evidence.errors import FormatError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.checkpoint import Checkpoint, sign_checkpoint
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.manifests.log import ArchiveLog, KnownLog, Names, names_since
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import Ed25519Signer, PublicKey
from das_evidence.schedules.runner import run
from das_evidence.schedules.state import load_verified, log_path, write_verified
from tests.unit.schedules.test_state import _append
from tests.unit.verify.test_rollback import NOW, ORIGIN, _config

STREAMS = ("snowflake/A/access_history", "snowflake/A/login_history")
CURSOR_DAY = 7  # each stream's sweep cursor: every key up to date=2026-11-07 is named


def _key(stream: str, day: int) -> str:
    return f"evidence/{stream}/date=2026-11-{day:02d}/part-{day}.csv"


class Archive:
    """Ten days of two streams, their sweep cursors at day 7, kept as the verified log a
    run would have written, under the keys and config :func:`run` uses."""

    def __init__(self, tmp_path: Path) -> None:
        keys = write_key_pair(tmp_path / "keys", ORIGIN)
        self.signer = Ed25519Signer.from_file(keys["key"], ORIGIN)
        self.note_key = VerifierKey.from_public_key(self.signer.name, self.signer.public_key_raw())
        self.keys = [PublicKey.from_pem(self.signer.public_key_pem())]
        self.log = ArchiveLog(LocalStore(tmp_path / "archive", create=True), ORIGIN)
        for day in range(1, 11):
            for stream in STREAMS:
                _append(self.log, self.signer, stream, day, _key(stream, day))
        for stream in STREAMS:
            self.log.sweep_to(stream, f"evidence/{stream}/date=2026-11-{CURSOR_DAY:02d}")
        self.config = _config(tmp_path, self.log.store.root, None)  # type: ignore[attr-defined]
        self.last_run = tmp_path / "last-run.json"
        self.keep()

    def keep(self) -> None:
        cp = Checkpoint(ORIGIN, self.log.size, self.log.root())
        note = sign_checkpoint(cp, self.signer)
        write_verified(self.last_run, note, cp, self.log.known(), self.signer)

    def load(self) -> KnownLog:
        verified, why = load_verified(self.last_run, self.note_key, ORIGIN, self.keys)
        assert verified is not None, why
        return verified.known

    def summary(self) -> dict[str, object]:
        line = log_path(self.last_run).read_bytes().split(b"\n")[-2]
        payload = json.loads(base64.b64decode(line))["payload"]
        fields: dict[str, object] = json.loads(base64.b64decode(payload))
        return fields


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return Archive(tmp_path)


def _damage_line(path: Path, index: int) -> None:
    """Change one base64 character of statement line ``index``: still base64, another
    statement (its leaf no longer the one the checkpoint covers)."""
    lines = path.read_bytes().split(b"\n")
    line = bytearray(lines[index])
    line[40] = ord("B") if line[40] != ord("B") else ord("C")
    lines[index] = bytes(line)
    path.write_bytes(b"\n".join(lines))


def test_the_summary_keeps_the_names_after_the_earliest_cursor(archive: Archive) -> None:
    fields = archive.summary()
    assert fields["names_since"] == f"2026-11-{CURSOR_DAY:02d}"
    held = fields["names"]
    assert isinstance(held, dict)
    assert set(held) == {_key(s, d) for s in STREAMS for d in range(CURSOR_DAY, 11)}
    # Yet the loaded log answers for every file as parsing every statement does.
    known = archive.load()
    parsed = KnownLog.from_statements(known.statements)
    assert dict(known.names) == dict(parsed.names) and len(known.names) == 20
    for stream in STREAMS:
        for day in range(1, 11):
            assert known.names[_key(stream, day)] == parsed.names[_key(stream, day)]
        assert _key(stream, 11) not in known.names


def test_a_recent_look_up_reads_no_statement_an_old_one_authenticates_them(
    archive: Archive,
) -> None:
    """An old statement line is damaged: the sweep's look-ups (recent files, named or
    not) never read it; a look-up of an old file reads and authenticates every statement,
    and refuses the damaged one instead of answering from it."""
    _damage_line(log_path(archive.last_run), 0)  # entry 0: day 1, not a head
    known = archive.load()
    for stream in STREAMS:
        assert _key(stream, 9) in known.names
        assert f"evidence/{stream}/date=2026-11-11/part-11.csv" not in known.names
        assert known.names.get(f"evidence/{stream}/date=2026-11-08/orphan.csv") is None
    with pytest.raises(FormatError, match="damaged"):
        _ = _key(STREAMS[0], 2) in known.names


def test_an_archive_log_gives_up_a_damaged_verified_log_for_the_store(
    archive: Archive,
) -> None:
    """In the run's own log a damaged statement found by an old look-up is not an error:
    the log is read whole from the store, as for a damaged head."""
    _damage_line(log_path(archive.last_run), 0)
    log = ArchiveLog(archive.log.store, ORIGIN, archive.load())
    assert _key(STREAMS[0], 9) in log.referenced_paths()
    assert log.damaged is None
    assert _key(STREAMS[0], 2) in log.referenced_paths()
    assert log.damaged is not None and "do not reproduce its checkpoint" in log.damaged
    assert set(log.referenced_paths()) == {_key(s, d) for s in STREAMS for d in range(1, 11)}


def test_an_old_file_claimed_again_is_found_by_an_incremental_run(archive: Archive) -> None:
    """check_tail's V6: a new entry naming a file an old entry named (outside the held
    names) is a finding, as in a full verification."""
    old = _key(STREAMS[0], 2)
    _append(archive.log, archive.signer, STREAMS[0], 11, old)
    summary = run(load_settings(archive.config), clock=lambda: NOW)
    out = summary.to_json()
    assert out["verification"]["mode"] == "incremental", out
    assert any("V6 evidence" in f and old in f and "named by both" in f for f in summary.findings)


def test_a_later_cursor_moves_the_held_names_an_earlier_one_does_not(
    archive: Archive,
) -> None:
    """The names before ``names_since`` are not held, so a summary written without reading
    them cannot start earlier (a new stream's cursor at day 2); it moves forward with the
    cursors, and the names stay complete."""
    log = ArchiveLog(archive.log.store, ORIGIN, archive.load())
    log.sweep_to("snowflake/A/sessions", "evidence/snowflake/A/sessions/date=2026-11-02")
    for stream in STREAMS:
        log.sweep_to(stream, f"evidence/{stream}/date=2026-11-09")
    known = log.known()
    held, since = known.names.held("2026-11-02")
    assert since == f"2026-11-{CURSOR_DAY:02d}" and len(held) == 8
    log.sweep_to("snowflake/A/sessions", "evidence/snowflake/A/sessions/date=2026-11-09")
    archive.log = log
    archive.keep()
    assert archive.summary()["names_since"] == "2026-11-09"
    assert len(archive.load().names) == 20


_DAYS = st.sampled_from(["2026-01-01", "2026-01-02", "2026-02-01", "2027-01-01"])
_KEYS = st.one_of(
    st.builds(
        lambda p, d, n: f"evidence/{p}/date={d}/{n}",
        st.sampled_from("ab"),
        _DAYS,
        st.text("xyz", max_size=2),
    ),
    st.builds(lambda p, n: f"evidence/{p}/{n}", st.sampled_from("ab"), st.text("xyz", max_size=2)),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(
    every=st.dictionaries(_KEYS, st.integers(0, 50), max_size=12),
    since=_DAYS,
    later=st.one_of(st.none(), _DAYS),
    asked=st.lists(_KEYS, max_size=12),
)
def test_held_names_answer_as_every_name_does(
    every: dict[str, int], since: str, later: str | None, asked: list[str]
) -> None:
    held, start = Names(every).held(since)
    read: list[int] = []

    def rest() -> dict[str, int]:
        read.append(1)
        return every

    names = Names(held, start, rest)
    for key in [*asked, *every]:
        assert (key in names) == (key in every)
        assert names.get(key) == every.get(key)
    assert len(read) <= 1
    if not read:  # a summary of it without the rest: never starting earlier than it holds
        kept, at = names.held(later)
        if later is not None:
            assert at == max(later, start)
            assert kept == Names(every).held(at)[0]
        assert len(read) <= 1
    assert dict(names) == every


def test_a_stream_no_longer_collected_does_not_hold_the_names_back(archive: Archive) -> None:
    """A disabled stream's cursor stays where it was: were it counted, every file named
    after it would be kept in the summary again, growing with the archive's age."""
    cursor = "evidence/snowflake/A/{}/date={}"
    assert names_since({"a": cursor.format("a", "2026-11-07")}) == "2026-11-07"
    lagging = {"a": cursor.format("a", "2026-11-07"), "b": cursor.format("b", "2026-08-01")}
    assert names_since(lagging) == "2026-08-01"  # 98 days behind: still collected
    gone = {"a": cursor.format("a", "2026-11-07"), "gone": cursor.format("gone", "2026-01-01")}
    assert names_since(gone) == "2026-11-07"
    assert names_since({"a": cursor.format("a", "2026-13-45")}) is None  # not a day: all held
    assert names_since({"a": "evidence/snowflake/A/a/"}) is None
    log = ArchiveLog(archive.log.store, ORIGIN, archive.load())
    log.sweep_to("snowflake/A/gone", cursor.format("gone", "2026-01-01"))
    archive.log = log
    archive.keep()
    assert archive.summary()["names_since"] == f"2026-11-{CURSOR_DAY:02d}"
    assert len(archive.load().names) == 20
