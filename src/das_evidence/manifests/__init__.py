"""The integrity layer: statements, DSSE envelopes, the Merkle log, checkpoints, signers.

Everything here is pure (bytes in, bytes or values out) except the explicit
key-file loaders. Each module implements one public standard, so that an
auditor's stock tools can check what this code writes:

- :mod:`.statement`: in-toto Statement v1 and strict canonical JSON
- :mod:`.dsse`: DSSE envelopes signed by a :class:`Signer`
- :mod:`.merkle`: RFC 9162 Merkle tree hashes and proofs
- :mod:`.note`: C2SP signed notes (Go ``sumdb/note`` compatible)
- :mod:`.checkpoint`: C2SP tlog checkpoints
- :mod:`.tlog_proof`: C2SP tlog-proof@v1 offline inclusion proofs
- :mod:`.signers`: signing keys and trusted public keys
"""

from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from das_evidence.manifests.dsse import (
    PAYLOAD_TYPE,
    DsseSignature,
    Envelope,
    pae,
    sign_envelope,
    verify_envelope,
)
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
from das_evidence.manifests.note import (
    NoteSignature,
    SignedNote,
    VerifierKey,
    note_key_id,
    sign_note,
    verify_note,
)
from das_evidence.manifests.signers import (
    EcdsaP256Signer,
    Ed25519Signer,
    NoteSigner,
    PublicKey,
    Signer,
    generate_ed25519_key,
)
from das_evidence.manifests.statement import (
    STATEMENT_TYPE,
    Statement,
    Subject,
    build_statement,
    canonical_json,
    parse_json_strict,
)
from das_evidence.manifests.tlog_proof import TlogProof, verify_tlog_proof

__all__ = [
    "EMPTY_ROOT",
    "PAYLOAD_TYPE",
    "STATEMENT_TYPE",
    "Checkpoint",
    "DsseSignature",
    "EcdsaP256Signer",
    "Ed25519Signer",
    "Envelope",
    "MerkleTree",
    "NoteSignature",
    "NoteSigner",
    "PublicKey",
    "SignedNote",
    "Signer",
    "Statement",
    "Subject",
    "TlogProof",
    "VerifierKey",
    "build_statement",
    "canonical_json",
    "consistency_proof",
    "generate_ed25519_key",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "note_key_id",
    "open_checkpoint",
    "pae",
    "parse_json_strict",
    "root_hash",
    "sign_checkpoint",
    "sign_envelope",
    "sign_note",
    "verify_consistency",
    "verify_envelope",
    "verify_inclusion",
    "verify_note",
    "verify_tlog_proof",
]
