"""The log's Merkle tree: RFC 9162 section 2.1 (same hashing as RFC 6962), SHA-256.

Leaf hash ``SHA-256(0x00 || data)``, interior node ``SHA-256(0x01 || left || right)``,
split at the largest power of two smaller than the size; the empty tree hashes
to ``SHA-256("")``. Functions take and return bytes and never do IO.

Building a tree level by level, promoting an unpaired last node unchanged to
the next level, yields exactly the RFC tree: the node at level ``j`` and
position ``p`` is ``MTH(D[p * 2**j : min((p + 1) * 2**j, n)])``. So root, audit
paths and consistency proofs are computed in O(n) time from those levels, and
:class:`MerkleTree` keeps the levels to answer many proofs in O(log n) each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from das_evidence.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# A tree of 2**64 leaves has audit paths of at most 64 hashes (RFC 9162 sizes are uint64).
MAX_PROOF_HASHES = 64


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 ``MTH({d(0)})``: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The ``k`` of RFC 9162: the largest power of two strictly smaller than ``n >= 2``."""
    return 1 << ((n - 1).bit_length() - 1)


def _build_levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    for i, h in enumerate(leaf_hashes):
        if len(h) != HASH_SIZE:
            raise ValueError(f"leaf hash {i} is {len(h)} bytes, expected {HASH_SIZE}")
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


class MerkleTree:
    """A tree over a fixed list of leaf hashes, keeping every level for fast proofs.

    Immutable after construction. Use it when producing many proofs from one
    tree (an auditor pack); the module functions build one for a single answer.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._size = len(leaf_hashes)
        self._levels = _build_levels(leaf_hashes) if leaf_hashes else []

    @property
    def size(self) -> int:
        return self._size

    @property
    def root(self) -> bytes:
        return self._levels[-1][0] if self._size else EMPTY_ROOT

    def prefix_root(self, size: int) -> bytes:
        """``MTH(D[0:size])``, the root of the tree's first ``size`` leaves, in O(log n).

        The prefix splits into perfect, aligned subtrees (one per set bit of
        ``size``), which this tree already holds; they are joined right to left.
        """
        if not 0 <= size <= self._size:
            raise ValueError(f"prefix size {size} outside 0..{self._size}")
        if size == 0:
            return EMPTY_ROOT
        parts: list[bytes] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size & (1 << level):
                parts.append(self._levels[level][start >> level])
                start += 1 << level
        root = parts[-1]
        for part in reversed(parts[:-1]):
            root = node_hash(part, root)
        return root

    def _node(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])`` for a range that is a node of this tree."""
        level = (end - start - 1).bit_length()
        # Every range reached by the RFC recursion is aligned to its level.
        assert start % (1 << level) == 0 and (end == self._size or end - start == 1 << level)
        return self._levels[level][start >> level]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 9162 section 2.1.3.1 ``PATH(index, D[n])``: leaf's sibling first."""
        if not 0 <= index < self._size:
            raise ValueError(f"leaf index {index} is outside a tree of size {self._size}")
        siblings: list[bytes] = []
        start, end, m = 0, self._size, index
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if m < k:
                siblings.append(self._node(start + k, end))
                end = start + k
            else:
                siblings.append(self._node(start, start + k))
                start += k
                m -= k
        siblings.reverse()
        return siblings

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 9162 section 2.1.4.1 ``PROOF(old_size, D[n])``; empty when ``old_size`` is 0 or n."""
        if not 0 <= old_size <= self._size:
            raise ValueError(f"old size {old_size} is outside 0..{self._size}")
        if old_size in (0, self._size):
            return []
        # SUBPROOF(m, D[start:end], b), unrolled: hashes collected on the way
        # down are emitted innermost first, after the hash where recursion stops.
        collected: list[bytes] = []
        start, end, m, complete = 0, self._size, old_size, True
        while m != end - start:
            k = _largest_power_of_two_below(end - start)
            if m <= k:
                collected.append(self._node(start + k, end))
                end = start + k
            else:
                collected.append(self._node(start, start + k))
                start += k
                m -= k
                complete = False
        proof = [] if complete else [self._node(start, end)]
        proof.extend(reversed(collected))
        return proof


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 ``MTH(D[n])`` over already-hashed leaves; ``EMPTY_ROOT`` for none."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = _build_levels(leaf_hashes)[-1]
    return level[0]


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaf_hashes``."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the first ``old_size`` leaves are a prefix of ``leaf_hashes``."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, expected a {HASH_SIZE}-byte SHA-256")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) is at ``index`` in the tree of ``size`` with ``root``.

    RFC 9162 section 2.1.3.2; every proof hash must be used. Raises ``ProofError``.
    """
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"inclusion proof hash {i}")
    # Step 1.
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {size}")
    # Steps 2-3.
    fn, sn, r = index, size - 1, leaf
    # Step 4.
    for p in proof:
        if sn == 0:
            raise ProofError(
                f"inclusion proof for leaf {index} in tree size {size} has too many hashes"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise ProofError(f"inclusion proof for leaf {index} in tree size {size} is too short")
    if r != root:
        raise ProofError(
            f"inclusion proof for leaf {index} does not lead to the root of tree size {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``.

    RFC 9162 section 2.1.4.2, which covers ``0 < old_size < new_size``. The edge
    cases are decided here: equal sizes need equal roots and an empty proof; an
    old size of 0 needs ``old_root == EMPTY_ROOT`` and an empty proof. Every
    proof hash must be used. Raises ``ProofError``.
    """
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    for i, c in enumerate(proof):
        _check_hash(c, f"consistency proof hash {i}")
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"tree size went from {old_size} to {new_size}: a log only grows")
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different root hashes for the same tree size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError("the root hash of an empty tree must be SHA-256 of nothing")
        return
    # Step 1.
    if not proof:
        raise ProofError(f"consistency proof from size {old_size} to {new_size} is empty")
    # Step 2: a complete old tree is itself a node of the new one.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Step 3.
    fn, sn = old_size - 1, new_size - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError(
                f"consistency proof from size {old_size} to {new_size} has too many hashes"
            )
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError(f"consistency proof from size {old_size} to {new_size} is too short")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the new root (size {new_size})")


class CompactRange:
    """The RFC 9162 compact range of leaves ``[0, size)``: the roots of the perfect,
    aligned subtrees that cover them, largest (leftmost) first, one per set bit of
    ``size``. It is all a log needs to keep of its first ``size`` leaves to compute the
    root of any larger tree from the leaves after them, in O(log n) (a binary counter:
    appending a leaf merges the equal-sized subtrees at the right end).

    A tree of size ``n`` extends the kept one exactly when the kept range extended by
    leaves ``[size, n)`` has that tree's root: no consistency proof over all leaves."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(f"a compact range of {size} leaves has {size.bit_count()} hashes")
        for i, h in enumerate(hashes):
            if len(h) != HASH_SIZE:
                raise ValueError(f"compact range hash {i} is {len(h)} bytes, expected {HASH_SIZE}")
        self.size = size
        self.hashes = list(hashes)

    @classmethod
    def of(cls, leaf_hashes: Sequence[bytes]) -> CompactRange:
        """The compact range of ``leaf_hashes``."""
        out = cls()
        out.extend(leaf_hashes)
        return out

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.hashes)

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf)} bytes, expected {HASH_SIZE}")
        h, size = leaf, self.size
        while size & 1:
            h = node_hash(self.hashes.pop(), h)
            size >>= 1
        self.hashes.append(h)
        self.size += 1

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        for leaf in leaf_hashes:
            self.append(leaf)

    def root(self) -> bytes:
        """``MTH(D[0:size])``: the subtrees joined right to left."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            root = node_hash(h, root)
        return root

    def extended_root(self, leaf_hashes: Sequence[bytes]) -> bytes:
        """The root of this range followed by ``leaf_hashes`` (this range is not changed)."""
        out = self.copy()
        out.extend(leaf_hashes)
        return out.root()
