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

from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.checkpoint import Checkpoint, sign_checkpoint
from das_evidence.manifests.dsse import Envelope, sign_envelope
from das_evidence.manifests.log import ArchiveLog, EvidenceFile, KnownLog
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import Ed25519Signer, PublicKey
from das_evidence.schedules.state import (
    STATE_TYPE,
    load_verified,
    log_path,
    write_verified,
)

ORIGIN = "evidence.example.com/state"
STREAMS = ("snowflake/ACME/login_history", "snowflake/ACME/sessions")


def _append(log: ArchiveLog, signer: Ed25519Signer, stream: str, day: int, **extra: object) -> None:
    body = f"{stream},{day},{sorted(extra)}\n".encode()
    key = f"evidence/{stream}/{day:02d}-{len(log.entries)}.csv"
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


def test_a_statement_swapped_under_a_sound_summary_is_a_full_read(kept: Kept) -> None:
    lines = kept.lines()
    lines[1], lines[2] = lines[2], lines[1]
    kept.write_lines(lines)
    verified, why = kept.load()
    assert verified is None and "do not reproduce its checkpoint" in why


def test_a_file_without_a_summary_is_used_after_parsing_every_statement(kept: Kept) -> None:
    """The format before the summary line: the run parses the statements and writes one."""
    kept.write_lines(kept.lines()[:-1])
    verified, why = kept.load()
    assert verified is not None, why
    assert not verified.summarized
    assert verified.known.heads == {STREAMS[0]: 8, STREAMS[1]: 9}
