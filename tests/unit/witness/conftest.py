"""A log signer, a witness key and a witness server on 127.0.0.1 (ephemeral port)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.manifests.checkpoint import Checkpoint, sign_checkpoint
from das_evidence.manifests.merkle import MerkleTree, leaf_hash
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.witness.cosignature import WitnessSigner
from das_evidence.witness.server import Witness, make_server

ORIGIN = "evidence.example.org/witness-test"
NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def leaves(n: int, tag: str = "") -> list[bytes]:
    return [leaf_hash(f"entry {i}{tag}".encode()) for i in range(n)]


@dataclass
class Log:
    signer: Ed25519Signer

    @property
    def vkey(self) -> VerifierKey:
        return VerifierKey.from_public_key(ORIGIN, self.signer.public_key_raw())

    def checkpoint(self, tree_leaves: list[bytes]) -> bytes:
        root = MerkleTree(tree_leaves).root
        return sign_checkpoint(Checkpoint(ORIGIN, len(tree_leaves), root), self.signer)


@pytest.fixture
def log() -> Log:
    return Log(Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN))


@pytest.fixture
def witness_signer() -> WitnessSigner:
    return WitnessSigner.generate("witness.example.net/w1")


@pytest.fixture
def witness_url(tmp_path: Path, log: Log, witness_signer: WitnessSigner) -> Iterator[str]:
    """A witness over loopback for the test's duration; shut down after it."""
    witness = Witness(witness_signer, [log.vkey], tmp_path / "witness-state", lambda: NOW)
    server = make_server(witness, "127.0.0.1:0")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
