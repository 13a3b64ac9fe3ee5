"""C2SP checkpoints: round trips and the attacks a verifier must reject."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.errors import FormatError, SignatureError
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from das_evidence.manifests.merkle import EMPTY_ROOT, leaf_hash, root_hash
from das_evidence.manifests.note import NoteSignature, SignedNote, VerifierKey, sign_note
from das_evidence.manifests.signers import Ed25519Signer

from .conftest import ORIGIN

ROOT = root_hash([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
ROOT_B64 = base64.b64encode(ROOT).decode()
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()


def _vkey(signer: Ed25519Signer) -> VerifierKey:
    return VerifierKey.from_public_key(signer.name, signer.public_key_raw())


def _signed_text(text: str, signer: Ed25519Signer) -> bytes:
    """Sign arbitrary note text, bypassing Checkpoint validation, as an attacker would."""
    return sign_note(text, signer).to_bytes()


def test_text_round_trip() -> None:
    cp = Checkpoint(ORIGIN, 3, ROOT)
    assert cp.to_text() == f"{ORIGIN}\n3\n{ROOT_B64}\n"
    assert Checkpoint.from_text(cp.to_text()) == cp


def test_text_round_trip_with_extensions() -> None:
    cp = Checkpoint(ORIGIN, 3, ROOT, ("ext one", "ext-two"))
    assert cp.to_text().endswith(f"{ROOT_B64}\next one\next-two\n")
    assert Checkpoint.from_text(cp.to_text()) == cp


def test_empty_tree_checkpoint() -> None:
    cp = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert Checkpoint.from_text(cp.to_text()) == cp


def test_sign_and_open(signer: Ed25519Signer) -> None:
    cp = Checkpoint(ORIGIN, 3, ROOT)
    data = sign_checkpoint(cp, signer)
    assert data.startswith(cp.to_text().encode() + b"\n\xe2\x80\x94 " + ORIGIN.encode() + b" ")
    assert open_checkpoint(data, _vkey(signer)) == cp
    assert open_checkpoint(data, _vkey(signer), origin=ORIGIN) == cp


def test_wrong_origin(signer: Ed25519Signer) -> None:
    data = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), signer)
    with pytest.raises(FormatError, match="expected"):
        open_checkpoint(data, _vkey(signer), origin="evidence.example.org/other-log")


def test_origin_differs_from_key_name(signer: Ed25519Signer) -> None:
    with pytest.raises(FormatError, match="key name"):
        sign_checkpoint(Checkpoint("evidence.example.org/other-log", 3, ROOT), signer)
    # A key for one log signing a checkpoint that claims to be another log.
    data = _signed_text(f"evidence.example.org/other-log\n3\n{ROOT_B64}\n", signer)
    with pytest.raises(FormatError, match="key name"):
        open_checkpoint(data, _vkey(signer))


def test_bad_signature(signer: Ed25519Signer) -> None:
    note = SignedNote.from_bytes(sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), signer))
    good = note.signatures[0]
    sig = bytearray(good.signature)
    sig[0] ^= 0x01
    forged = SignedNote(note.text, (NoteSignature(good.name, good.key_id, bytes(sig)),))
    with pytest.raises(SignatureError, match="does not verify"):
        open_checkpoint(forged.to_bytes(), _vkey(signer))


def test_size_changed_after_signing(signer: Ed25519Signer) -> None:
    data = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), signer)
    with pytest.raises(SignatureError):
        open_checkpoint(data.replace(b"\n3\n", b"\n4\n", 1), _vkey(signer))


def test_signed_by_untrusted_key(signer: Ed25519Signer, other_signer: Ed25519Signer) -> None:
    data = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), other_signer)
    with pytest.raises(SignatureError, match="not signed by the trusted key"):
        open_checkpoint(data, _vkey(signer))


def test_untrusted_text_is_not_parsed_before_the_signature(signer: Ed25519Signer) -> None:
    # Garbage text signed by someone else must fail on the signature, not the parse.
    other = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    data = _signed_text("not a checkpoint\n", other)
    with pytest.raises(SignatureError):
        open_checkpoint(data, _vkey(signer))


@pytest.mark.parametrize(
    ("attack", "text"),
    [
        ("size_leading_zero", f"{ORIGIN}\n03\n{ROOT_B64}\n"),
        ("size_negative", f"{ORIGIN}\n-3\n{ROOT_B64}\n"),
        ("size_plus_sign", f"{ORIGIN}\n+3\n{ROOT_B64}\n"),
        ("size_with_space", f"{ORIGIN}\n 3\n{ROOT_B64}\n"),
        ("size_unicode_digit", f"{ORIGIN}\n\u0663\n{ROOT_B64}\n"),
        ("size_hex", f"{ORIGIN}\n0x3\n{ROOT_B64}\n"),
        ("size_over_uint64", f"{ORIGIN}\n{2**64}\n{ROOT_B64}\n"),
        ("root_not_base64", f"{ORIGIN}\n3\n{ROOT.hex()}\n"),
        ("root_url_safe_base64", f"{ORIGIN}\n3\n{URLSAFE_ROOT}\n"),
        ("root_without_padding", f"{ORIGIN}\n3\n{ROOT_B64.rstrip('=')}\n"),
        ("root_wrong_length", f"{ORIGIN}\n3\n{base64.b64encode(ROOT[:31]).decode()}\n"),
        ("root_missing", f"{ORIGIN}\n3\n"),
        ("origin_empty", f"\n3\n{ROOT_B64}\n"),
        ("empty_extension_line", f"{ORIGIN}\n3\n{ROOT_B64}\n\next\n"),
        ("no_final_newline", f"{ORIGIN}\n3\n{ROOT_B64}"),
    ],
)
def test_malformed_checkpoint_text(attack: str, text: str) -> None:
    with pytest.raises(FormatError):
        Checkpoint.from_text(text)


def test_malformed_text_in_a_validly_signed_note(signer: Ed25519Signer) -> None:
    data = _signed_text(f"{ORIGIN}\n03\n{ROOT_B64}\n", signer)
    with pytest.raises(FormatError, match="leading zeros"):
        open_checkpoint(data, _vkey(signer))


def test_checkpoint_values_are_validated() -> None:
    with pytest.raises(FormatError):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(FormatError):
        Checkpoint(ORIGIN, 1, ROOT[:16])
    with pytest.raises(FormatError):
        Checkpoint("", 1, ROOT)
    with pytest.raises(FormatError):
        Checkpoint("two\nlines", 1, ROOT)
