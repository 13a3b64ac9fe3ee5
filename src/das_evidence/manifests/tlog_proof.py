"""C2SP transparency-log proofs (``c2sp.org/tlog-proof@v1``): offline inclusion proofs.

A proof file is::

    c2sp.org/tlog-proof@v1
    extra <base64>          (optional, unauthenticated)
    index <decimal>
    <base64 hash>           (zero or more: the audit path, leaf's sibling first)

    <the signed checkpoint note, verbatim>

It proves that a leaf hash sits at ``index`` in the tree the checkpoint signs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from das_evidence.errors import FormatError
from das_evidence.manifests._encoding import b64decode_strict, b64encode
from das_evidence.manifests.checkpoint import MAX_TREE_SIZE, Checkpoint, open_checkpoint
from das_evidence.manifests.merkle import HASH_SIZE, MAX_PROOF_HASHES, verify_inclusion
from das_evidence.manifests.note import MAX_NOTE_BYTES, SignedNote, VerifierKey

HEADER = b"c2sp.org/tlog-proof@v1"
MAX_EXTRA_BYTES = 1 << 16
MAX_PROOF_BYTES = MAX_NOTE_BYTES + 2 * MAX_EXTRA_BYTES + 8192

_INDEX = re.compile(rb"index (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class TlogProof:
    """An entry's index, its audit path, the signed checkpoint bytes and optional extra data.

    ``extra`` is not authenticated by anything; never trust it.
    """

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index <= MAX_TREE_SIZE:
            raise FormatError(f"tlog proof index {self.index} is outside 0..2^64-1")
        if len(self.hashes) > MAX_PROOF_HASHES:
            raise FormatError(f"tlog proof has more than {MAX_PROOF_HASHES} hashes")
        for i, h in enumerate(self.hashes):
            if len(h) != HASH_SIZE:
                raise FormatError(f"tlog proof hash {i} is {len(h)} bytes, expected {HASH_SIZE}")
        if self.extra is not None and len(self.extra) > MAX_EXTRA_BYTES:
            raise FormatError(f"tlog proof extra data is larger than {MAX_EXTRA_BYTES} bytes")
        if not self.checkpoint:
            raise FormatError("tlog proof has no checkpoint")

    def to_bytes(self) -> bytes:
        lines = [HEADER]
        if self.extra is not None:
            lines.append(b"extra " + b64encode(self.extra).encode("ascii"))
        lines.append(b"index %d" % self.index)
        lines.extend(b64encode(h).encode("ascii") for h in self.hashes)
        return b"".join(line + b"\n" for line in lines) + b"\n" + self.checkpoint

    @classmethod
    def from_bytes(cls, data: bytes) -> TlogProof:
        """Parse a proof strictly; the checkpoint must be a well-formed signed note."""
        if len(data) > MAX_PROOF_BYTES:
            raise FormatError(f"tlog proof is larger than {MAX_PROOF_BYTES} bytes")
        lines = _Lines(data)
        if lines.next() != HEADER:
            raise FormatError(f"tlog proof does not start with {HEADER.decode()}")
        line = lines.next()
        extra = None
        if line.startswith(b"extra "):
            extra = b64decode_strict(_ascii(line[6:]), "tlog proof extra data")
            line = lines.next()
        match = _INDEX.fullmatch(line)
        if match is None:
            raise FormatError(
                f"tlog proof line {_ascii(line)[:40]!r} is not 'index <decimal>' "
                "without leading zeros"
            )
        index = int(match.group(1))
        hashes: list[bytes] = []
        while line := lines.next():
            if len(hashes) == MAX_PROOF_HASHES:
                raise FormatError(f"tlog proof has more than {MAX_PROOF_HASHES} hashes")
            h = b64decode_strict(_ascii(line), f"tlog proof hash {len(hashes)}")
            if len(h) != HASH_SIZE:
                raise FormatError(f"tlog proof hash {len(hashes)} is {len(h)} bytes")
            hashes.append(h)
        checkpoint = lines.rest()
        SignedNote.from_bytes(checkpoint)  # reject a malformed note early; verified later
        return cls(index, tuple(hashes), checkpoint, extra)


class _Lines:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def next(self) -> bytes:
        end = self._data.find(b"\n", self._pos)
        if end < 0:
            raise FormatError("tlog proof ends before its checkpoint")
        line = self._data[self._pos : end]
        self._pos = end + 1
        return line

    def rest(self) -> bytes:
        return self._data[self._pos :]


def _ascii(line: bytes) -> str:
    try:
        return line.decode("ascii")
    except UnicodeDecodeError as e:
        raise FormatError("tlog proof header lines must be ASCII") from e


def verify_tlog_proof(
    proof: TlogProof, leaf: bytes, key: VerifierKey, origin: str | None = None
) -> Checkpoint:
    """Check that ``leaf`` (an RFC 6962 leaf hash) is in the log ``key`` signs.

    1. Open the checkpoint: signature by ``key``, origin (``SignatureError``, ``FormatError``).
    2. Verify the inclusion proof at ``proof.index`` against its root (``ProofError``).

    Returns the verified checkpoint.
    """
    cp = open_checkpoint(proof.checkpoint, key, origin)
    verify_inclusion(proof.index, cp.size, leaf, proof.hashes, cp.root_hash)
    return cp
