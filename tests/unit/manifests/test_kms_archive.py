"""An archive signed through KMS (ECDSA P-256 entries, Ed25519 checkpoints) verifies.

The KMS service is replaced by a fake that keeps real keys and signs the way
AWS documents (ECDSA over a DIGEST message, Ed25519 over a RAW message), so the
product's KMS signers, the verifier and the conformance checker all run for
real.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.kms import export_public, kms_signers
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.verify import verify_target

ORIGIN = "evidence.example.com/kms"


class FakeKms:
    """GetPublicKey and Sign over local keys, with KMS's message types."""

    class exceptions:
        class ClientError(Exception):
            pass

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {
            "alias/dsse": ec.generate_private_key(ec.SECP256R1()),
            "alias/notes": Ed25519PrivateKey.generate(),
        }
        self.calls: list[tuple[str, str]] = []

    def get_public_key(self, KeyId: str) -> dict[str, Any]:
        key = self.keys[KeyId]
        ecdsa = isinstance(key, ec.EllipticCurvePrivateKey)
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "KeyId": KeyId,
            "KeySpec": "ECC_NIST_P256" if ecdsa else "ECC_NIST_EDWARDS25519",
            "KeyUsage": "SIGN_VERIFY",
            "SigningAlgorithms": ["ECDSA_SHA_256"] if ecdsa else ["ED25519_SHA_512"],
            "PublicKey": der,
        }

    def sign(
        self,
        KeyId: str,
        Message: bytes,
        MessageType: str,
        SigningAlgorithm: str,
    ) -> dict[str, Any]:
        self.calls.append((KeyId, MessageType))
        key = self.keys[KeyId]
        if SigningAlgorithm == "ECDSA_SHA_256":
            assert MessageType == "DIGEST" and len(Message) == 32
            sig = key.sign(Message, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        else:
            assert SigningAlgorithm == "ED25519_SHA_512" and MessageType == "RAW"
            sig = key.sign(Message)
        return {"KeyId": KeyId, "Signature": sig, "SigningAlgorithm": SigningAlgorithm}


def test_a_kms_signed_archive_verifies(tmp_path: Path, eaf_verify: Path) -> None:
    kms = FakeKms()
    signer, note_signer = kms_signers("kms:alias/dsse", "kms:alias/notes", ORIGIN, kms)
    store = LocalStore(tmp_path / "archive", create=True)
    log = ArchiveLog(store, ORIGIN)
    for day in (1, 2):
        body = f"day {day}\n".encode() * 500
        key = f"evidence/s/a/2026110{day}.csv"
        store.put_once(key, body)
        log.append(
            stream="s/a",
            files=[EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 500)],
            predicate={
                "collector": {"name": "t", "version": "0"},
                "window": {
                    "start": f"2026-11-0{day}T00:00:00Z",
                    "end": f"2026-11-0{day + 1}T00:00:00Z",
                },
                "collected_at": "2026-11-05T00:00:00Z",
            },
            signer=signer,
            note_signer=note_signer,
        )
    assert ("alias/dsse", "DIGEST") in kms.calls and ("alias/notes", "RAW") in kms.calls

    pem, vkey = export_public(signer, note_signer)
    pub = tmp_path / "signing.pub"
    pub.write_bytes(pem)
    report = verify_target(str(store.root), pubs=[pub], vkey=vkey)
    assert report.ok, report.findings
    # Without the note key, an ECDSA pub cannot check checkpoints: a finding, not a pass.
    assert not verify_target(str(store.root), pubs=[pub]).ok

    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(store.root), "--pub", str(pub), "--vkey", vkey],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout + checker.stderr
