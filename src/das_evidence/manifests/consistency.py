"""Consistency proof files (ARCHIVE-FORMAT section 5, ``consistency/<m>`` in a pack).

A file holds the RFC 9162 section 2.1.4.1 ``PROOF(m, D[n])`` from tree size
``m`` (its name) to the pack's checkpoint (size ``n``): one standard-base64
SHA-256 a line, in the RFC's order, each line ending in a newline; an empty
file is the empty proof. The old root is not in the file: it comes from the
checkpoint the verifier already trusts, never from the pack.
"""

from __future__ import annotations

from dataclasses import dataclass

from das_evidence.errors import FormatError
from das_evidence.manifests._encoding import b64decode_strict, b64encode
from das_evidence.manifests.merkle import HASH_SIZE, MAX_PROOF_HASHES, verify_consistency

PREFIX = "consistency/"
MAX_BYTES = MAX_PROOF_HASHES * 45


def proof_name(old_size: int) -> str:
    """The pack member that holds the proof from ``old_size``: ``consistency/<m>``."""
    return f"{PREFIX}{old_size}"


@dataclass(frozen=True)
class ConsistencyProof:
    """The hashes of a consistency proof; the sizes and roots come from checkpoints."""

    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.hashes) > MAX_PROOF_HASHES:
            raise FormatError(f"consistency proof has more than {MAX_PROOF_HASHES} hashes")
        for i, h in enumerate(self.hashes):
            if len(h) != HASH_SIZE:
                raise FormatError(f"consistency proof hash {i + 1} is {len(h)} bytes, not 32")

    def to_bytes(self) -> bytes:
        return "".join(b64encode(h) + "\n" for h in self.hashes).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> ConsistencyProof:
        """Parse strictly: base64 lines, each a 32-byte hash, the last ending in a newline."""
        if len(data) > MAX_BYTES:
            raise FormatError(f"consistency proof is larger than {MAX_BYTES} bytes")
        if not data:
            return cls(())
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as e:
            raise FormatError("consistency proof is not ASCII text") from e
        if not text.endswith("\n"):
            raise FormatError("consistency proof does not end with a newline")
        hashes = tuple(
            b64decode_strict(line, f"consistency proof line {n}")
            for n, line in enumerate(text[:-1].split("\n"), 1)
        )
        return cls(hashes)

    def verify(self, old_size: int, old_root: bytes, new_size: int, new_root: bytes) -> None:
        """RFC 9162 section 2.1.4.2; raises ``ProofError`` when it does not hold."""
        verify_consistency(old_size, new_size, old_root, new_root, self.hashes)


def consistency_steps(old_size: int, new_size: int, count: int) -> list[tuple[str, int]]:
    """The verification of ``PROOF(old_size, D[new_size])`` as by-hand steps.

    RFC 9162 section 2.1.4.2 unrolled: which hashes a verifier combines depends
    only on the two sizes. Returns ``("start", line)`` (line 0: the old root),
    then per proof line ``("both", line)`` (``fr = H(c, fr)``, ``sr = H(c, sr)``)
    or ``("right", line)`` (``sr = H(sr, c)``); lines count from 1.
    """
    if not 0 < old_size < new_size:
        return []
    # A complete old tree is itself a node of the new one: its root starts the path.
    complete = old_size & (old_size - 1) == 0
    path = [0, *range(1, count + 1)] if complete else list(range(1, count + 1))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    steps = [("start", path[0])]
    for line in path[1:]:
        if fn & 1 or fn == sn:
            steps.append(("both", line))
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            steps.append(("right", line))
        fn >>= 1
        sn >>= 1
    return steps
