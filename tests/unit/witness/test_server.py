"""The witness server over loopback: cosigns consistent growth, refuses rollbacks and forks."""

from __future__ import annotations

import urllib.error
import urllib.request

from das_evidence.manifests.merkle import MerkleTree
from das_evidence.manifests.note import SignedNote
from das_evidence.witness.cosignature import WitnessSigner, add_cosignature, verify_cosignature
from das_evidence.witness.protocol import AddCheckpoint
from tests.unit.witness.conftest import NOW, ORIGIN, Log, leaves


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(url + "/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def _add(
    url: str, log: Log, old: int, tree: list[bytes], proof_from: list[bytes] | None = None
) -> tuple[int, bytes]:
    proof = MerkleTree(tree).consistency_proof(old) if 0 < old < len(tree) else []
    return _post(url, AddCheckpoint(old, tuple(proof), log.checkpoint(tree)).to_bytes())


def _latest(url: str) -> bytes:
    with urllib.request.urlopen(f"{url}/checkpoint/{ORIGIN.replace('/', '%2F')}", timeout=10) as r:
        return bytes(r.read())


def test_cosigns_consistent_growth(
    witness_url: str, log: Log, witness_signer: WitnessSigner
) -> None:
    status, body = _add(witness_url, log, 0, leaves(3))
    assert status == 200, body
    note = SignedNote.from_bytes(
        add_cosignature(
            log.checkpoint(leaves(3)), SignedNote.from_bytes(b"x\n\n" + body).signatures[0]
        )
    )
    assert verify_cosignature(note, witness_signer.verifier) == int(NOW.timestamp())
    status, body = _add(witness_url, log, 3, leaves(7))
    assert status == 200, body
    latest = SignedNote.from_bytes(_latest(witness_url))
    assert latest.text.split("\n")[1] == "7"
    verify_cosignature(latest, witness_signer.verifier)


def test_refuses_a_rollback_with_409_and_its_size(witness_url: str, log: Log) -> None:
    assert _add(witness_url, log, 0, leaves(6))[0] == 200
    # The archive was cut back to 3 entries: a client that claims the witness saw 3.
    status, body = _add(witness_url, log, 3, leaves(3))
    assert (status, body) == (409, b"6\n")
    # Or one that knows the witness saw 6 and offers a smaller tree.
    assert _add(witness_url, log, 6, leaves(3))[0] == 400
    assert SignedNote.from_bytes(_latest(witness_url)).text.split("\n")[1] == "6"


def test_refuses_a_fork_with_422(witness_url: str, log: Log) -> None:
    assert _add(witness_url, log, 0, leaves(4))[0] == 200
    forked = leaves(4)[:2] + leaves(4, tag="forged")[2:] + leaves(1, tag="new")
    proof = MerkleTree(forked).consistency_proof(4)
    status, body = _post(
        witness_url, AddCheckpoint(4, tuple(proof), log.checkpoint(forked)).to_bytes()
    )
    assert status == 422, body
    # Same size, another root: the empty proof between equal sizes does not hold either.
    same_size = leaves(3) + leaves(1, tag="other")
    assert _add(witness_url, log, 4, same_size)[0] == 422


def test_refuses_a_checkpoint_the_log_did_not_sign(witness_url: str, log: Log) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from das_evidence.manifests.signers import Ed25519Signer

    impostor = Log(Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN))
    assert _add(witness_url, impostor, 0, leaves(2))[0] == 403
    assert _post(witness_url, b"old 0\n\nnot a note\n")[0] == 400
