"""RFC 9162 / RFC 6962 Merkle tree: known vectors, tampering, and a property test."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from das_evidence.errors import ProofError
from das_evidence.manifests.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# RFC 6962 test vectors as published in github.com/transparency-dev/merkle,
# proof/verify_test.go (commit 02194e9afb6c1d95b5381350007963aa70fff472):
# `leaves`, `roots` (tree sizes 1..8), `inclusionProofs` and `consistencyProofs`.
# That file numbers inclusion-proof leaves from 1; the indexes below are 0-based.
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def _h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# (index, tree size, proof)
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _h(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _h(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _h(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]

LEAF_HASHES = [leaf_hash(d) for d in LEAVES]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


# A naive reference written straight from the recursive definitions of
# RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1 (slicing, no cleverness).
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def _flip(h: bytes, bit: int = 3) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_hash([]) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_rfc6962_roots(size: int) -> None:
    assert root_hash(LEAF_HASHES[:size]) == ROOTS[size - 1]
    assert MerkleTree(LEAF_HASHES[:size]).root == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_rfc6962_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(index, LEAF_HASHES[:size]) == proof
    verify_inclusion(index, size, LEAF_HASHES[index], proof, ROOTS[size - 1])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION[1:])
def test_tampered_inclusion_proofs_fail(index: int, size: int, proof: list[bytes]) -> None:
    # The corruptions of transparency-dev/merkle's corruptInclusionProof.
    root, leaf = ROOTS[size - 1], LEAF_HASHES[index]
    probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, SOME_HASH, proof, root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, root], root),  # trailing hash: not fully consumed
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),  # removed component
        (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root),
    ]
    probes += [
        (index, size, leaf, [*proof[:i], _flip(proof[i]), *proof[i + 1 :]], root)
        for i in range(len(proof))
    ]
    for p_index, p_size, p_leaf, p_proof, p_root in probes:
        with pytest.raises(ProofError):
            verify_inclusion(p_index, p_size, p_leaf, p_proof, p_root)


@pytest.mark.parametrize(
    ("index", "size"), [(0, 0), (1, 1), (2, 1), (-1, 4), (4, 4)], ids=lambda v: str(v)
)
def test_inclusion_index_outside_tree_fails(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(index, size, LEAF_HASHES[0], [], LEAF_HASHES[0])


def test_inclusion_proof_must_be_fully_consumed() -> None:
    proof = inclusion_proof(2, LEAF_HASHES[:3])
    with pytest.raises(ProofError, match="too many hashes"):
        verify_inclusion(2, 3, LEAF_HASHES[2], [*proof, SOME_HASH], ROOTS[2])
    with pytest.raises(ProofError, match="too short"):
        verify_inclusion(0, 3, LEAF_HASHES[0], inclusion_proof(0, LEAF_HASHES[:3])[:1], ROOTS[2])


def test_inclusion_rejects_wrong_hash_lengths() -> None:
    with pytest.raises(ProofError):
        verify_inclusion(0, 1, b"", [], b"")
    with pytest.raises(ProofError):
        verify_inclusion(0, 2, LEAF_HASHES[0], [b"\x00" * 31], ROOTS[1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_rfc6962_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(old, LEAF_HASHES[:new]) == proof
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY[1:])
def test_tampered_consistency_proofs_fail(old: int, new: int, proof: list[bytes]) -> None:
    # The corruptions of transparency-dev/merkle's corruptConsistencyProof.
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, SOME_HASH, r2, proof),
        (old, new, r1, SOME_HASH, proof),
        (old, new, r2, r1, proof),  # swapped roots
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    probes += [
        (old, new, r1, r2, [*proof[:i], _flip(proof[i], 4), *proof[i + 1 :]])
        for i in range(len(proof))
    ]
    for p_old, p_new, p_r1, p_r2, p_proof in probes:
        with pytest.raises(ProofError):
            verify_consistency(p_old, p_new, p_r1, p_r2, p_proof)


def test_consistency_edge_cases() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    bad = [
        (3, 3, ROOTS[2], ROOTS[3], []),  # same size, different roots: a fork
        (3, 3, ROOTS[2], ROOTS[2], [EMPTY_ROOT]),  # equal sizes need an empty proof
        (0, 5, SOME_HASH, ROOTS[4], []),  # a size-0 tree has exactly one root
        (0, 5, EMPTY_ROOT, ROOTS[4], [EMPTY_ROOT]),
        (4, 3, ROOTS[3], ROOTS[2], []),  # the log shrank
        (1, 2, ROOTS[0], ROOTS[1], []),  # empty proof for a real extension
    ]
    for old, new, r1, r2, proof in bad:
        with pytest.raises(ProofError):
            verify_consistency(old, new, r1, r2, proof)


def test_proof_generation_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(3, LEAF_HASHES[:3])
    with pytest.raises(ValueError):
        consistency_proof(4, LEAF_HASHES[:3])
    with pytest.raises(ValueError):
        root_hash([b"short"])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_proofs_match_naive_reference(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=300), label="size")
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree = MerkleTree(leaves)
    root = ref_mth(leaves)
    assert tree.root == root_hash(leaves) == root

    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    path = tree.inclusion_proof(index)
    assert path == ref_path(index, leaves)
    verify_inclusion(index, size, leaves[index], path, root)
    if size > 1:
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaves[(index + 1) % size], path, root)

    old = data.draw(st.integers(min_value=1, max_value=size), label="old")
    proof = tree.consistency_proof(old)
    assert proof == (ref_subproof(old, leaves, True) if old < size else [])
    verify_consistency(old, size, ref_mth(leaves[:old]), root, proof)
    if proof:
        with pytest.raises(ProofError):
            verify_consistency(old, size, ref_mth(leaves[:old]), root, proof[:-1])


def test_large_tree_matches_reference() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(100_000)]
    root = root_hash(leaves)
    assert root == ref_mth(leaves)
    tree = MerkleTree(leaves)
    for index in (0, 65_535, 65_536, 99_999):
        verify_inclusion(index, len(leaves), leaves[index], tree.inclusion_proof(index), root)
    old_root = ref_mth(leaves[:70_001])
    verify_consistency(70_001, len(leaves), old_root, root, tree.consistency_proof(70_001))


def test_prefix_roots_equal_the_roots_of_the_prefixes() -> None:
    from das_evidence.manifests.merkle import MerkleTree, leaf_hash, root_hash

    leaves = [leaf_hash(bytes([i, i >> 8])) for i in range(70)]
    tree = MerkleTree(leaves)
    for m in range(len(leaves) + 1):
        assert tree.prefix_root(m) == root_hash(leaves[:m]), m


def test_compact_range_roots_match_the_tree_at_every_size() -> None:
    from das_evidence.manifests.merkle import CompactRange, MerkleTree, leaf_hash

    leaves = [leaf_hash(bytes([i])) for i in range(70)]
    tree = MerkleTree(leaves)
    compact = CompactRange()
    for n in range(71):
        assert compact.size == n and len(compact.hashes) == n.bit_count()
        assert compact.root() == tree.prefix_root(n)
        # Kept as its hashes and rebuilt: the same range.
        assert CompactRange(n, compact.hashes).extended_root(leaves[n:]) == tree.root
        if n < 70:
            compact.append(leaves[n])


def test_a_compact_range_of_the_wrong_shape_is_refused() -> None:
    from das_evidence.manifests.merkle import CompactRange

    with pytest.raises(ValueError):
        CompactRange(3, [b"\x00" * 32])  # 3 leaves: two subtrees
    with pytest.raises(ValueError):
        CompactRange(1, [b"\x00" * 31])
