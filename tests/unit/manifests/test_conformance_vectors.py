"""The independent checker's golden vectors must verify with this implementation."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from das_evidence.errors import ProofError, SignatureError
from das_evidence.manifests.checkpoint import open_checkpoint
from das_evidence.manifests.dsse import PAYLOAD_TYPE, Envelope, verify_envelope
from das_evidence.manifests.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
)
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import PublicKey
from das_evidence.manifests.statement import Statement
from das_evidence.manifests.tlog_proof import TlogProof, verify_tlog_proof

ORIGIN = "evidence.example.org/conformance-vector"


def _envelopes(vectors: Path) -> list[Envelope]:
    paths = sorted((vectors / "archive/log/entries").glob("*.dsse.json"))
    assert [p.name for p in paths] == [f"{i:012d}.dsse.json" for i in range(9)]
    return [Envelope.from_bytes(p.read_bytes()) for p in paths]


def _leaves(vectors: Path) -> list[bytes]:
    return [leaf_hash(env.payload) for env in _envelopes(vectors)]


def test_verifier_key_matches_public_key(vectors: Path) -> None:
    vkey = VerifierKey.from_file(vectors / "signing.vkey")
    assert vkey.name == ORIGIN
    assert vkey.to_string() == (vectors / "signing.vkey").read_text().strip()
    assert vkey.public_key == PublicKey.from_file(vectors / "signing.pub").ed25519_raw()


def test_checkpoint_root_matches_entries(vectors: Path) -> None:
    vkey = VerifierKey.from_file(vectors / "signing.vkey")
    cp = open_checkpoint((vectors / "archive/log/checkpoint").read_bytes(), vkey, ORIGIN)
    assert cp.size == 9
    assert cp.root_hash == root_hash(_leaves(vectors))


def test_every_historic_checkpoint_is_consistent(vectors: Path) -> None:
    vkey = VerifierKey.from_file(vectors / "signing.vkey")
    leaves = _leaves(vectors)
    cps = [
        open_checkpoint((vectors / f"archive/log/checkpoints/{n}").read_bytes(), vkey, ORIGIN)
        for n in range(1, 10)
    ]
    for n, cp in enumerate(cps, start=1):
        assert (cp.size, cp.root_hash) == (n, root_hash(leaves[:n]))
        for later in cps[n:]:
            proof = consistency_proof(n, leaves[: later.size])
            verify_consistency(n, later.size, cp.root_hash, later.root_hash, proof)


def test_every_entry_verifies_and_chains(vectors: Path) -> None:
    public = PublicKey.from_file(vectors / "signing.pub")
    prev = "0" * 64
    for index, env in enumerate(_envelopes(vectors)):
        assert env.payload_type == PAYLOAD_TYPE
        assert verify_envelope(env, [public]) == public
        st = Statement.from_bytes(env.payload)
        log = st.predicate["log"]
        assert (log["origin"], log["index"], log["prev_leaf_hash"]) == (ORIGIN, index, prev)
        prev = leaf_hash(env.payload).hex()


def test_entry_with_flipped_payload_byte_fails(vectors: Path) -> None:
    public = PublicKey.from_file(vectors / "signing.pub")
    env = _envelopes(vectors)[4]
    tampered = bytearray(env.payload)
    tampered[len(tampered) // 2] ^= 0x20
    with pytest.raises(SignatureError):
        verify_envelope(Envelope(bytes(tampered), env.payload_type, env.signatures), [public])


def test_pack_proofs_verify(vectors: Path) -> None:
    vkey = VerifierKey.from_file(vectors / "signing.vkey")
    leaves = _leaves(vectors)
    with zipfile.ZipFile(vectors / "pack.zip") as pack:
        names = sorted(n for n in pack.namelist() if n.startswith("proofs/"))
        assert names
        for name in names:
            data = pack.read(name)
            proof = TlogProof.from_bytes(data)
            assert name == f"proofs/{proof.index:012d}.tlog-proof"
            assert proof.to_bytes() == data
            assert proof.checkpoint == pack.read("checkpoint")
            env = Envelope.from_bytes(pack.read(f"entries/{proof.index:012d}.dsse.json"))
            cp = verify_tlog_proof(proof, leaf_hash(env.payload), vkey, ORIGIN)
            assert cp.root_hash == root_hash(leaves[: cp.size])
            assert list(proof.hashes) == inclusion_proof(proof.index, leaves[: cp.size])
            # The same proof must not vouch for a neighbouring entry.
            other = leaves[(proof.index + 1) % cp.size]
            with pytest.raises(ProofError):
                verify_tlog_proof(proof, other, vkey, ORIGIN)


def test_pack_checksums_signature(vectors: Path) -> None:
    public = PublicKey.from_file(vectors / "signing.pub")
    with zipfile.ZipFile(vectors / "pack.zip") as pack:
        sums, sig = pack.read("SHA256SUMS"), pack.read("SHA256SUMS.sig")
    assert public.verify(sig, sums)
    assert not public.verify(sig, sums + b"\n")
