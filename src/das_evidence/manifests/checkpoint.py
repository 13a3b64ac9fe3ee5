"""C2SP transparency-log checkpoints (``c2sp.org/tlog-checkpoint``) in signed notes.

A checkpoint's note text is the log's origin, its size in decimal and its
root hash in base64, one per line, then optional extension lines. In this
archive format the note key name equals the origin (ARCHIVE-FORMAT section 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from das_evidence.errors import FormatError
from das_evidence.manifests._encoding import b64decode_strict, b64encode, check_no_controls
from das_evidence.manifests.merkle import HASH_SIZE
from das_evidence.manifests.note import SignedNote, VerifierKey, sign_note, verify_note
from das_evidence.manifests.signers import NoteSigner

MAX_TREE_SIZE = (1 << 64) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed head: origin, tree size, root hash and extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise FormatError("checkpoint origin is empty")
        check_no_controls(self.origin, "checkpoint origin")
        if "\n" in self.origin:
            raise FormatError("checkpoint origin spans more than one line")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise FormatError(f"checkpoint size {self.size} is outside 0..2^64-1")
        if len(self.root_hash) != HASH_SIZE:
            raise FormatError(
                f"checkpoint root hash is {len(self.root_hash)} bytes, expected {HASH_SIZE}"
            )
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise FormatError("checkpoint extension lines must be single non-empty lines")
            check_no_controls(ext, "checkpoint extension line")

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text strictly (size without leading zeros, 32-byte root)."""
        if not text.endswith("\n"):
            raise FormatError("checkpoint text does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise FormatError("checkpoint text has fewer than three lines (origin, size, root)")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise FormatError("checkpoint origin line is empty")
        if not _DECIMAL.fullmatch(size_text):
            raise FormatError(
                f"checkpoint size {size_text[:30]!r} is not a decimal without leading zeros"
            )
        size = int(size_text)
        root = b64decode_strict(root_text, "checkpoint root hash")
        if len(root) != HASH_SIZE:
            raise FormatError(f"checkpoint root hash is {len(root)} bytes, expected {HASH_SIZE}")
        return cls(origin, size, root, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> bytes:
    """The signed-note bytes of ``cp``; the signer's key name must be the origin."""
    if signer.name != cp.origin:
        raise FormatError(
            f"checkpoint origin {cp.origin!r} differs from the signing key name {signer.name!r}; "
            "the archive format requires them to be equal"
        )
    return sign_note(cp.to_text(), signer).to_bytes()


def open_checkpoint(data: bytes, key: VerifierKey, origin: str | None = None) -> Checkpoint:
    """Verify and parse a signed checkpoint.

    1. Parse the signed note (``FormatError``).
    2. Verify a signature by ``key`` (``SignatureError``); the text is untrusted before.
    3. Parse the checkpoint text (``FormatError``).
    4. Check the origin equals the key name and, if given, ``origin`` (``FormatError``).
    """
    note = SignedNote.from_bytes(data)
    verify_note(note, key)
    cp = Checkpoint.from_text(note.text)
    if cp.origin != key.name:
        raise FormatError(f"checkpoint origin {cp.origin!r} differs from its key name {key.name!r}")
    if origin is not None and cp.origin != origin:
        raise FormatError(f"checkpoint is for log {cp.origin!r}, expected {origin!r}")
    return cp
