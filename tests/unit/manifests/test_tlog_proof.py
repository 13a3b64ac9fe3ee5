"""C2SP tlog-proof@v1: format round trips, strict parsing, and verification."""

from __future__ import annotations

import base64

import pytest

from das_evidence.errors import FormatError, ProofError, SignatureError
from das_evidence.manifests.checkpoint import Checkpoint, sign_checkpoint
from das_evidence.manifests.merkle import MerkleTree, leaf_hash
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.manifests.tlog_proof import TlogProof, verify_tlog_proof

from .conftest import ORIGIN

LEAVES = [leaf_hash(b"entry %d" % i) for i in range(11)]
TREE = MerkleTree(LEAVES)


def _vkey(signer: Ed25519Signer) -> VerifierKey:
    return VerifierKey.from_public_key(signer.name, signer.public_key_raw())


def _proof(signer: Ed25519Signer, index: int, extra: bytes | None = None) -> TlogProof:
    checkpoint = sign_checkpoint(Checkpoint(ORIGIN, TREE.size, TREE.root), signer)
    return TlogProof(index, tuple(TREE.inclusion_proof(index)), checkpoint, extra)


def test_layout_matches_the_spec(signer: Ed25519Signer) -> None:
    proof = _proof(signer, 7)
    lines = proof.to_bytes().split(b"\n")
    assert lines[0] == b"c2sp.org/tlog-proof@v1"
    assert lines[1] == b"index 7"
    assert [base64.b64decode(x) for x in lines[2 : 2 + len(proof.hashes)]] == list(proof.hashes)
    assert lines[2 + len(proof.hashes)] == b""
    assert proof.to_bytes().endswith(b"\n\n" + proof.checkpoint)


@pytest.mark.parametrize("extra", [None, b"", b"\x00opaque context\xff"])
def test_round_trip(signer: Ed25519Signer, extra: bytes | None) -> None:
    proof = _proof(signer, 10, extra)
    data = proof.to_bytes()
    assert TlogProof.from_bytes(data) == proof
    if extra is not None:
        assert data.split(b"\n")[1] == b"extra " + base64.b64encode(extra)


@pytest.mark.parametrize("index", range(11))
def test_verifies(signer: Ed25519Signer, index: int) -> None:
    proof = TlogProof.from_bytes(_proof(signer, index).to_bytes())
    cp = verify_tlog_proof(proof, LEAVES[index], _vkey(signer), ORIGIN)
    assert (cp.size, cp.root_hash) == (TREE.size, TREE.root)


def test_wrong_leaf(signer: Ed25519Signer) -> None:
    with pytest.raises(ProofError):
        verify_tlog_proof(_proof(signer, 3), LEAVES[4], _vkey(signer), ORIGIN)


def test_index_swapped(signer: Ed25519Signer) -> None:
    good = _proof(signer, 3)
    moved = TlogProof(4, good.hashes, good.checkpoint)
    with pytest.raises(ProofError):
        verify_tlog_proof(moved, LEAVES[3], _vkey(signer), ORIGIN)


def test_proof_not_fully_consumed(signer: Ed25519Signer) -> None:
    good = _proof(signer, 3)
    longer = TlogProof(3, (*good.hashes, good.hashes[0]), good.checkpoint)
    with pytest.raises(ProofError):
        verify_tlog_proof(longer, LEAVES[3], _vkey(signer), ORIGIN)


def test_checkpoint_by_untrusted_key(signer: Ed25519Signer, other_signer: Ed25519Signer) -> None:
    with pytest.raises(SignatureError):
        verify_tlog_proof(_proof(other_signer, 3), LEAVES[3], _vkey(signer), ORIGIN)


def test_wrong_origin(signer: Ed25519Signer) -> None:
    with pytest.raises(FormatError):
        verify_tlog_proof(_proof(signer, 3), LEAVES[3], _vkey(signer), "example.com/other")


def _mangle(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


@pytest.mark.parametrize(
    ("attack", "old", "new"),
    [
        ("wrong_header", b"tlog-proof@v1", b"tlog-proof@v2"),
        ("index_leading_zero", b"index 5", b"index 05"),
        ("index_negative", b"index 5", b"index -5"),
        ("index_missing", b"index 5\n", b""),
        ("extra_after_index", b"index 5\n", b"index 5\nextra AA==\n"),
        ("hash_not_base64", b"index 5\n", b"index 5\n!!!!\n"),
        ("hash_short", b"index 5\n", b"index 5\n" + base64.b64encode(b"\x00" * 31) + b"\n"),
        ("checkpoint_missing", b"\n\n", b"\n"),
        ("checkpoint_signature_hyphen", "\n— ".encode(), b"\n- "),
    ],
)
def test_malformed_proofs(signer: Ed25519Signer, attack: str, old: bytes, new: bytes) -> None:
    with pytest.raises(FormatError):
        TlogProof.from_bytes(_mangle(_proof(signer, 5).to_bytes(), old, new))


def test_too_many_hashes(signer: Ed25519Signer) -> None:
    good = _proof(signer, 5)
    with pytest.raises(FormatError):
        TlogProof(5, good.hashes * 30, good.checkpoint)
    line = base64.b64encode(b"\x00" * 32) + b"\n"
    data = _mangle(good.to_bytes(), b"index 5\n", b"index 5\n" + line * 65)
    with pytest.raises(FormatError, match="more than 64"):
        TlogProof.from_bytes(data)


def test_truncated_proof() -> None:
    with pytest.raises(FormatError):
        TlogProof.from_bytes(b"c2sp.org/tlog-proof@v1\nindex 0")
