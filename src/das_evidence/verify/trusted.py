"""Trusted state: checkpoints the verifier saw before, which a target must extend.

An auditor (or ``evidence run``) keeps a signed checkpoint from an earlier
look at the log: a ``log/checkpoints/<n>`` file, the ``checkpoint`` of an
earlier pack, or the one the last run recorded. A target passes only if its
own checkpoint is the same tree or a consistent extension of each of them
(ARCHIVE-FORMAT sections 5 and 6). Without one, a log cut back to an older
checkpoint, or rebuilt by someone holding the keys, verifies on its own.

:func:`check_trusted` is pure: checkpoint bytes, the target's size and root,
and a way to reach the target's older roots (the archive's own leaves, or the
consistency proofs a pack carries) in; findings out.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from das_evidence.errors import EvidenceError, FormatError, SignatureError
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.note import SignedNote, VerifierKey
from das_evidence.verify.findings import Report
from das_evidence.verify.keys import KeyRanges


@dataclass(frozen=True)
class TrustedCheckpoint:
    """A signed checkpoint seen before (unverified bytes) and where it came from."""

    source: str
    note: bytes

    def peek(self) -> Checkpoint:
        """The checkpoint text, its signature not checked; raises ``FormatError``."""
        return Checkpoint.from_text(SignedNote.from_bytes(self.note).text)

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "note": base64.b64encode(self.note).decode()}


def open_trusted(
    trusted: TrustedCheckpoint,
    note_key: VerifierKey | None,
    origin: str | None,
    ranges: KeyRanges | None = None,
) -> Checkpoint:
    """Verify ``trusted`` with the target's note key and origin; with ``ranges`` (a
    keys file), with the note key that covered its size when it was signed, so a
    checkpoint saved before a key rotation still counts after it.

    Raises ``FormatError`` (or ``SignatureError``) naming the file, and the log it
    belongs to when it is another log's.
    """
    try:
        other = trusted.peek().origin
    except EvidenceError as e:
        raise FormatError(f"{trusted.source} is not a signed checkpoint: {e.message}") from None
    if origin is not None and other != origin:
        raise FormatError(
            f"{trusted.source} is a checkpoint of the log {other!r}, not of {origin!r}: "
            "it says nothing about this log (pass a checkpoint saved from this log)"
        )
    if ranges is not None:
        try:
            return ranges.open_checkpoint(trusted.note, origin)
        except EvidenceError as e:
            raise SignatureError(
                f"{trusted.source} is not signed by a note key of the keys file that covers "
                f"its size: {e.message}"
            ) from None
    if note_key is None:
        raise FormatError(f"{trusted.source}: no note key to check it with (pass --vkey)")
    try:
        return open_checkpoint(trusted.note, note_key, origin)
    except EvidenceError as e:
        raise SignatureError(
            f"{trusted.source} is not signed by this log's note key {note_key.name} "
            f"({note_key.key_id.hex()}): {e.message}"
        ) from None


def check_trusted(
    report: Report,
    check: str,
    subject: str,
    trusted: tuple[TrustedCheckpoint, ...],
    *,
    note_key: VerifierKey | None,
    origin: str | None,
    size: int,
    root: bytes,
    prefix_root: Callable[[int], bytes] | None = None,
    proof_for: Callable[[int, bytes], str | None] | None = None,
    ranges: KeyRanges | None = None,
) -> None:
    """Require the target's checkpoint ``(size, root)`` to extend every trusted checkpoint.

    1. The trusted checkpoint verifies with the note key (with ``ranges``, the note
       key covering its size) and has the target's origin.
    2. Its size is at most the target's (else the target was rolled back).
    3. Same size: the same root. Smaller: for an archive, ``prefix_root(m)`` (from its
       own leaves) is the trusted root; for a pack, ``proof_for(m, old_root)`` checks
       the RFC 9162 consistency proof it carries and returns what is wrong, or None.
    """
    for t in trusted:
        try:
            old = open_trusted(t, note_key, origin, ranges)
        except EvidenceError as e:
            report.fail(check, t.source, e.message)
            continue
        m = old.size
        if m > size:
            report.fail(
                check,
                subject,
                f"rolled back: the checkpoint covers {size} entries, fewer than the {m} of "
                f"the trusted checkpoint {t.source}",
            )
        elif m == size:
            if old.root_hash != root:
                report.fail(
                    check,
                    subject,
                    f"forked: size {size} has another root than the trusted checkpoint {t.source}",
                )
        elif prefix_root is not None:
            if prefix_root(m) != old.root_hash:
                report.fail(
                    check,
                    subject,
                    f"forked or rewritten: the first {m} entries are not the tree of the "
                    f"trusted checkpoint {t.source}",
                )
        elif proof_for is not None:
            problem = proof_for(m, old.root_hash)
            if problem is not None:
                report.fail(check, subject, f"trusted checkpoint {t.source}: {problem}")
        else:  # pragma: no cover - every caller passes one of the two
            raise AssertionError("check_trusted needs prefix_root or proof_for")
