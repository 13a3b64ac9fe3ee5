"""The run's verified log: its summary is trusted only when it verifies for its checkpoint.

A summary (each stream's head, the entry naming each file, ...) lets a nightly run skip
parsing every statement; a tampered or stale one must mean a full read, never a run that
plans its windows or its orphan sweep from unverified heads or names.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.errors import FormatError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.checkpoint import Checkpoint, sign_checkpoint
from das_evidence.manifests.dsse import Envelope, sign_envelope
from das_evidence.manifests.log import ArchiveLog, EvidenceFile, KnownLog
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import Ed25519Signer, PublicKey
from das_evidence.manifests.statement import canonical_json
from das_evidence.schedules.state import (
    STATE_TYPE,
    VerifiedLog,
    load_verified,
    log_path,
    write_verified,
)

ORIGIN = "evidence.example.com/state"
STREAMS = ("snowflake/ACME/login_history", "snowflake/ACME/sessions")


def _append(
    log: ArchiveLog,
    signer: Ed25519Signer,
    stream: str,
    day: int,
    key: str | None = None,
    **extra: object,
) -> None:
    """An entry of ``stream``'s window of ``day`` (November 2026), naming ``key`` (a new
    file by default; an existing one is named again as it is, not written)."""
    body = f"{stream},{day},{sorted(extra)}\n".encode()
    key = key or f"evidence/{stream}/{day:02d}-{len(log.entries)}.csv"
    if log.store.head(key) is None:
        log.store.put_once(key, body)
    log.append(
        stream=stream,
        files=[EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 1)],
        predicate={
            "collector": {"name": "test", "version": "0"},
            "window": {
                "start": f"2026-11-{day:02d}T00:00:00Z",
                "end": f"2026-11-{day + 1:02d}T00:00:00Z",
            },
            "collected_at": f"2026-11-{day + 1:02d}T06:00:00Z",
            **extra,
        },
        signer=signer,
        note_signer=signer,
    )


class Kept:
    def __init__(self, tmp_path: Path) -> None:
        self.signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
        self.note_key = VerifierKey.from_public_key(self.signer.name, self.signer.public_key_raw())
        self.keys = [PublicKey.from_pem(self.signer.public_key_pem())]
        self.log = ArchiveLog(LocalStore(tmp_path / "archive", create=True), ORIGIN)
        self.last_run = tmp_path / "state" / "last-run.json"

    def grow(self, days: range) -> None:
        for day in days:
            for stream in STREAMS:
                _append(self.log, self.signer, stream, day)
        # A late-rows amendment: it does not move its stream's head.
        _append(self.log, self.signer, STREAMS[0], days[-1], amends=len(self.log.entries) - 2)

    def keep(self, signer: Ed25519Signer | None = None) -> bytes:
        cp = Checkpoint(ORIGIN, self.log.size, self.log.root())
        note = sign_checkpoint(cp, self.signer)
        write_verified(self.last_run, note, cp, self.log.known(), signer or self.signer)
        return note

    def lines(self) -> list[bytes]:
        return log_path(self.last_run).read_bytes().split(b"\n")[:-1]

    def write_lines(self, lines: list[bytes]) -> None:
        log_path(self.last_run).write_bytes(b"".join(line + b"\n" for line in lines))

    def load(self) -> tuple[object, str]:
        return load_verified(self.last_run, self.note_key, ORIGIN, self.keys)


@pytest.fixture
def kept(tmp_path: Path) -> Kept:
    k = Kept(tmp_path)
    k.grow(range(1, 6))
    k.keep()
    return k


def _summary(kept: Kept) -> tuple[Envelope, dict[str, object]]:
    envelope = Envelope.from_bytes(base64.b64decode(kept.lines()[-1]))
    assert envelope.payload_type == STATE_TYPE
    return envelope, json.loads(envelope.payload)


def test_the_summary_says_what_parsing_every_statement_says(kept: Kept) -> None:
    verified, why = load_verified(kept.last_run, kept.note_key, ORIGIN, kept.keys)
    assert verified is not None, why
    parsed = KnownLog.from_statements(verified.statements)
    assert verified.known.summary() == parsed.summary()
    # Heads: the newest window of each stream, not the amendment after it.
    assert verified.known.heads == {STREAMS[0]: 8, STREAMS[1]: 9}
    log = ArchiveLog(kept.log.store, ORIGIN, verified.known)
    assert log.stream_end(STREAMS[0]) == kept.log.stream_end(STREAMS[0])
    assert set(log.referenced_paths()) == set(kept.log.referenced_paths())
    # Nothing was parsed to get there but the head asked for.
    assert sum(e._statement is not None for e in log.entries) == 1


def test_tampered_heads_are_a_full_read(kept: Kept) -> None:
    """verified_log_heads_moved_back: a head pointed at an older window of its stream, so
    the run would collect that stream's windows again."""
    envelope, fields = _summary(kept)
    heads = dict(fields["heads"])  # type: ignore[call-overload]
    heads[STREAMS[0]] = 0
    forged = Envelope(
        json.dumps({**fields, "heads": heads}).encode(),
        envelope.payload_type,
        envelope.signatures,
    )
    kept.write_lines([*kept.lines()[:-1], base64.b64encode(forged.to_bytes())])
    verified, why = kept.load()
    assert verified is None
    assert "summary" in why and "does not verify" in why


def test_names_hidden_from_the_orphan_sweep_are_a_full_read(kept: Kept) -> None:
    """verified_log_names_resigned_by_another_key: a summary that would hide a file from
    the sweep, signed by a key that is not the run's."""
    _, fields = _summary(kept)
    other = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    fields["names"] = {}
    forged = sign_envelope(json.dumps(fields).encode(), other, STATE_TYPE)
    kept.write_lines([*kept.lines()[:-1], base64.b64encode(forged.to_bytes())])
    verified, why = kept.load()
    assert verified is None and "does not verify" in why


def test_a_stale_summary_beside_a_newer_checkpoint_is_a_full_read(kept: Kept) -> None:
    """verified_log_summary_replayed: the signed summary of an older state kept beside a
    newer checkpoint and its entries."""
    stale = kept.lines()[-1]
    kept.grow(range(6, 8))
    kept.keep()
    kept.write_lines([*kept.lines()[:-1], stale])
    verified, why = kept.load()
    assert verified is None and "another checkpoint" in why


def test_a_statement_swapped_under_a_sound_summary_is_never_used(kept: Kept) -> None:
    """verified_log_entry_swapped: statements are not read at start (the summary and its
    compact range are), so a swapped one is caught when it is read, by the leaf its
    summary keeps or the chain link of the entry after it: the log is then read whole
    from the store, and the file is cut to no trailer (the next run reads the whole log
    too, and keeps it afresh)."""
    lines = kept.lines()
    lines[1], lines[2] = lines[2], lines[1]
    kept.write_lines(lines)
    verified, why = kept.load()
    assert isinstance(verified, VerifiedLog), why
    log = ArchiveLog(kept.log.store, ORIGIN, verified.known)
    assert log.entries[5].statement_bytes == kept.log.entries[5].statement_bytes
    assert log.damaged is None
    # Read, it does not authenticate: the log is read whole from the store instead.
    assert log.entries[2].statement_bytes == kept.log.entries[2].statement_bytes
    assert log.damaged is not None and "damaged: entry 2 is not the one" in log.damaged
    assert log.base is None and log.root() == kept.log.root()
    verified, why = kept.load()
    assert verified is None and "does not verify" in why


def test_the_whole_statements_are_checked_against_the_checkpoint(kept: Kept) -> None:
    lines = kept.lines()
    lines[1], lines[2] = lines[2], lines[1]
    kept.write_lines(lines)
    verified, why = kept.load()
    assert isinstance(verified, VerifiedLog), why
    with pytest.raises(FormatError, match="do not reproduce its checkpoint"):
        verified.statements  # noqa: B018


def test_statements_read_back_are_the_kept_ones(kept: Kept) -> None:
    """Every entry read lazily (heads by their kept leaf, others down the chain links)."""
    verified, why = kept.load()
    assert isinstance(verified, VerifiedLog), why
    log = ArchiveLog(kept.log.store, ORIGIN, verified.known)
    for i in reversed(range(kept.log.size)):
        assert log.entries[i].statement_bytes == kept.log.entries[i].statement_bytes
        assert log.entries[i].leaf == kept.log.entries[i].leaf
    assert log.root() == kept.log.root()
    assert list(verified.statements) == [e.statement_bytes for e in kept.log.entries]


def _legacy(kept: Kept, summary: bool) -> None:
    """The format before the trailer: the note first, the statements, a summary line."""
    lines = kept.lines()
    legacy = [lines[-2], *lines[:-2]]
    if summary:
        _, fields = _summary(kept)
        for k in ("format", "log_bytes", "compact", "anchors"):
            fields.pop(k)
        signed = sign_envelope(json.dumps(fields).encode(), kept.signer, STATE_TYPE)
        legacy.append(base64.b64encode(signed.to_bytes()))
    kept.write_lines(legacy)


def test_a_file_without_a_summary_is_used_after_parsing_every_statement(kept: Kept) -> None:
    """The format before the summary line: the run parses the statements and writes one."""
    _legacy(kept, summary=False)
    verified, why = kept.load()
    assert verified is not None, why
    assert not verified.summarized
    assert verified.known.heads == {STREAMS[0]: 8, STREAMS[1]: 9}


def test_a_file_in_the_format_before_the_trailer_is_read_whole(kept: Kept) -> None:
    _legacy(kept, summary=True)
    verified, why = kept.load()
    assert isinstance(verified, VerifiedLog), why
    assert not verified.summarized  # the next run writes the trailer format
    assert verified.known.heads == {STREAMS[0]: 8, STREAMS[1]: 9}
    lines = kept.lines()
    lines[1], lines[2] = lines[2], lines[1]
    kept.write_lines(lines)
    verified, why = kept.load()
    assert verified is None and "do not reproduce its checkpoint" in why


def _resign(kept: Kept, signer: Ed25519Signer | None = None, **fields: object) -> None:
    _, old = _summary(kept)
    signed = sign_envelope(canonical_json({**old, **fields}), signer or kept.signer, STATE_TYPE)
    kept.write_lines([*kept.lines()[:-1], base64.b64encode(signed.to_bytes())])


def test_a_compact_range_of_another_tree_is_a_full_read(kept: Kept) -> None:
    """verified_log_compact_range_forged: the root the run extends from is the signed
    checkpoint's, whatever the summary's compact range says (even signed by its key)."""
    _, fields = _summary(kept)
    forged = list(fields["compact"])  # type: ignore[call-overload]
    forged[0] = "00" * 32
    _resign(kept, compact=forged)
    verified, why = kept.load()
    assert verified is None and "compact range is not the checkpoint's tree" in why


def test_a_compact_range_resigned_by_another_key_is_a_full_read(kept: Kept) -> None:
    other = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    _, fields = _summary(kept)
    forged = list(fields["compact"])  # type: ignore[call-overload]
    forged[-1] = "11" * 32
    _resign(kept, other, compact=forged)
    verified, why = kept.load()
    assert verified is None and "does not verify" in why


def test_a_compact_range_of_the_wrong_shape_is_a_full_read(kept: Kept) -> None:
    _, fields = _summary(kept)
    _resign(kept, compact=list(fields["compact"])[:-1])  # type: ignore[call-overload]
    verified, why = kept.load()
    assert verified is None and "does not verify" in why


def test_an_anchor_moved_to_another_leaf_is_caught_on_read(kept: Kept) -> None:
    """A head's kept leaf that is not its statement's (signed by the run's key, as a bug
    would): the statement is refused when read, never trusted."""
    _, fields = _summary(kept)
    anchors = dict(fields["anchors"])  # type: ignore[call-overload]
    anchors["8"] = [anchors["8"][0], "22" * 32]
    _resign(kept, anchors=anchors)
    verified, why = kept.load()
    assert isinstance(verified, VerifiedLog), why
    log = ArchiveLog(kept.log.store, ORIGIN, verified.known)
    head = log.head(STREAMS[0])
    assert head is not None and head.statement_bytes == kept.log.entries[8].statement_bytes
    assert log.damaged is not None and "entry 8" in log.damaged
    verified, why = kept.load()
    assert verified is None  # the file was cut: the next run reads the whole log


def test_a_summary_without_every_heads_leaf_is_a_full_read(kept: Kept) -> None:
    _, fields = _summary(kept)
    anchors = dict(fields["anchors"])  # type: ignore[call-overload]
    del anchors["8"]
    _resign(kept, anchors=anchors)
    verified, why = kept.load()
    assert verified is None and "every head" in why


@pytest.mark.parametrize("cut", [1, 40, 200])
def test_a_truncated_file_is_a_full_read(kept: Kept, cut: int) -> None:
    """verified_log_truncated: cut anywhere, in its trailer or its statements."""
    path = log_path(kept.last_run)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    verified, _ = kept.load()
    assert verified is None
    # The trailer kept, statements cut from the front: they no longer end where it starts.
    path.write_bytes(data[cut:])
    verified, why = kept.load()
    assert verified is None and "bytes of statements" in why


def test_a_line_inserted_before_the_trailer_is_a_full_read(kept: Kept) -> None:
    lines = kept.lines()
    kept.write_lines([*lines[:-2], lines[0], *lines[-2:]])
    verified, why = kept.load()
    assert verified is None and "bytes of statements" in why


def test_an_append_writes_only_the_new_lines_and_a_trailer(kept: Kept) -> None:
    verified, why = kept.load()
    assert isinstance(verified, VerifiedLog), why
    before = log_path(kept.last_run).read_bytes()
    log = ArchiveLog(kept.log.store, ORIGIN, verified.known)
    for day in range(6, 9):
        _append(log, kept.signer, STREAMS[1], day)
    cp = Checkpoint(ORIGIN, log.size, log.root())
    write_verified(
        kept.last_run, sign_checkpoint(cp, kept.signer), cp, log.known(), kept.signer, verified
    )
    after = log_path(kept.last_run).read_bytes()
    assert verified.log_bytes is not None
    assert after[: verified.log_bytes] == before[: verified.log_bytes]  # never rewritten
    again, why = kept.load()
    assert isinstance(again, VerifiedLog), why
    assert again.size == log.size and again.known.heads == {STREAMS[0]: 8, STREAMS[1]: 13}
    assert list(again.statements) == [e.statement_bytes for e in log.entries]
    assert ArchiveLog(kept.log.store, ORIGIN, again.known).head(STREAMS[0]).statement_bytes == (  # type: ignore[union-attr]
        kept.log.entries[8].statement_bytes
    )


def test_an_append_stopped_before_its_trailer_is_a_full_read(kept: Kept) -> None:
    """verified_log_append_crashed: the new lines written, the trailer not (or half):
    the file has no trailer, so the next run reads the whole log; never a trailer that
    describes lines it does not have."""
    verified, why = kept.load()
    assert isinstance(verified, VerifiedLog) and verified.log_bytes is not None, why
    log = ArchiveLog(kept.log.store, ORIGIN, verified.known)
    _append(log, kept.signer, STREAMS[1], 6)
    cp = Checkpoint(ORIGIN, log.size, log.root())
    write_verified(
        kept.last_run, sign_checkpoint(cp, kept.signer), cp, log.known(), kept.signer, verified
    )
    path = log_path(kept.last_run)
    whole = path.read_bytes()
    new_line = len(base64.b64encode(log.entries[-1].statement_bytes)) + 1
    for end in (verified.log_bytes + new_line, verified.log_bytes + new_line + 30, len(whole) - 5):
        path.write_bytes(whole[:end])
        verified_now, _ = kept.load()
        assert verified_now is None


def test_a_sweep_cursor_moved_forward_is_a_full_read(kept: Kept) -> None:
    """verified_log_cursor_skips_orphans: a cursor moved past partitions never swept
    would hide their orphans; the summary it is in no longer verifies (tampered in place,
    or re-signed by another key)."""
    envelope, fields = _summary(kept)
    fields["swept"] = {STREAMS[0]: "evidence/x/date=2999-01-01"}
    tampered = Envelope(canonical_json(fields), envelope.payload_type, envelope.signatures)
    kept.write_lines([*kept.lines()[:-1], base64.b64encode(tampered.to_bytes())])
    verified, why = kept.load()
    assert verified is None and "does not verify" in why
    _resign(kept, Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN), swept=fields["swept"])
    verified, why = kept.load()
    assert verified is None and "does not verify" in why


def test_the_sweep_cursor_is_kept_in_the_signed_summary(kept: Kept) -> None:
    kept.log.sweep_to(STREAMS[0], "evidence/x/date=2026-11-01")
    kept.keep()
    verified, why = kept.load()
    assert isinstance(verified, VerifiedLog), why
    assert verified.known.swept == {STREAMS[0]: "evidence/x/date=2026-11-01"}
    assert ArchiveLog(kept.log.store, ORIGIN, verified.known).swept(STREAMS[0]) == (
        "evidence/x/date=2026-11-01"
    )
    _resign(kept, swept={STREAMS[0]: 5})
    verified, why = kept.load()
    assert verified is None and "does not describe" in why


@pytest.mark.parametrize("signed", [False, True])
def test_a_summary_nested_too_deep_is_a_full_read_not_a_traceback(kept: Kept, signed: bool) -> None:
    """A summary line whose payload nests 100,000 levels (by anyone who can write the file,
    or signed by the run's key): a full read, with why."""
    payload = b"[" * 100_000 + b"]" * 100_000
    if signed:
        envelope = sign_envelope(payload, kept.signer, STATE_TYPE)
    else:
        envelope = Envelope(payload, STATE_TYPE, ())
    kept.write_lines([*kept.lines()[:-1], base64.b64encode(envelope.to_bytes())])
    verified, why = kept.load()
    assert verified is None and why, why
