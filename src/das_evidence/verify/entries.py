"""Checks of the log a reader builds on, short of verifying the whole archive.

``evidence sql --verified`` reads a few streams of a large archive; it checks
what it reads, not everything ``evidence verify`` checks. Both functions are
pure (bytes and trust in, a :class:`Report` out) and number their findings as
:mod:`das_evidence.verify.archive` does:

- :func:`check_log`: ``V4 index`` and ``V5 chain`` for every entry (each entry's
  ``log.index``, origin and ``prev_leaf_hash``), and ``V7 checkpoint`` for the
  newest checkpoint only: signed by the note key, for this origin, covering
  exactly the entries read, with their root. Without a note key the checkpoint
  is not checked and ``stats["checkpoint"]`` says so.
- :func:`check_signed_entry`: ``V2 signature`` and ``V3 statement`` for one
  entry, from its envelope's bytes; the payload must be the statement the
  log was read with.

Not checked here: older checkpoints, window continuity (``V8``), evidence files
no entry names, S3 locks and versions. The digest of each file read is checked
where it is read (:func:`das_evidence.verify.files.read_verified`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from das_evidence.errors import EvidenceError
from das_evidence.evidence_store.interface import CHECKPOINT_KEY, entry_key
from das_evidence.manifests.log import LogEntry
from das_evidence.manifests.merkle import MerkleTree
from das_evidence.verify.archive import (
    ZERO_HASH,
    Trust,
    _note_key,
    check_envelope,
    open_signed_checkpoint,
)
from das_evidence.verify.findings import Report


def check_log(
    entries: Sequence[LogEntry], checkpoint: bytes | None, trust: Trust, origin: str, target: str
) -> Report:
    """The chain of ``entries`` (the whole log, in order) and the checkpoint sealing it."""
    report = Report(target)
    prev = ZERO_HASH
    for position, entry in enumerate(entries):
        key = entry_key(position)
        log = entry.predicate.get("log")
        log = log if isinstance(log, Mapping) else {}
        if entry.index != position or log.get("index") != position:
            report.fail("V4 index", key, f"log.index is {log.get('index')!r}, not {position}")
        if log.get("origin") != origin:
            report.fail("V4 index", key, f"log.origin is {log.get('origin')!r}, not {origin!r}")
        if log.get("prev_leaf_hash") != prev:
            report.fail(
                "V5 chain",
                key,
                f"prev_leaf_hash {log.get('prev_leaf_hash')} is not the previous entry's "
                f"leaf hash {prev}",
            )
        prev = entry.leaf.hex()

    note_key = _note_key(trust, origin)
    if note_key is None:
        report.stats["checkpoint"] = "not checked: no Ed25519 note key (pass --vkey)"
        return report
    if checkpoint is None:
        if entries:
            report.fail("V7 checkpoint", CHECKPOINT_KEY, "missing: the log is not sealed")
        return report
    try:
        cp = open_signed_checkpoint(checkpoint, trust, note_key, origin)
    except EvidenceError as e:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, e.message)
        return report
    if cp.size != len(entries):
        report.fail(
            "V7 checkpoint",
            CHECKPOINT_KEY,
            f"covers {cp.size} entries, the log has {len(entries)}",
        )
    elif cp.root_hash != MerkleTree([e.leaf for e in entries]).root:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, f"root does not match the {cp.size} entries")
    report.stats["checkpoint"] = f"size {cp.size}, verified"
    return report


def check_signed_entry(entry: LogEntry, envelope: bytes, trust: Trust, origin: str) -> Report:
    """``entry``'s envelope is signed by a trusted key and carries the statement read."""
    key = entry_key(entry.index)
    report = Report(key)
    statement, payload = check_envelope(report, key, envelope, trust, entry.index, origin)
    if statement is not None and payload != entry.statement_bytes:
        report.fail(
            "V2 signature",
            key,
            "the envelope read now carries another statement than the log was read with",
        )
    return report
