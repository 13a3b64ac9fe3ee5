"""C2SP signed notes, anchored to Go's golang.org/x/mod/sumdb/note test vectors."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.errors import FormatError, KeyFileError, SignatureError
from das_evidence.manifests.note import (
    NoteSignature,
    SignedNote,
    VerifierKey,
    note_key_id,
    sign_note,
    verify_note,
)
from das_evidence.manifests.signers import Ed25519Signer

# github.com/golang/mod sumdb/note/note_test.go (commit 02c991387e35f9e4c0a9b7ce137717055f8d716d):
# TestNewVerifier, TestSign and TestOpen.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
NOTE = TEXT + "\n" + PETER_SIG


def _peter_signer() -> Ed25519Signer:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]
    return Ed25519Signer(Ed25519PrivateKey.from_private_bytes(seed), "PeterNeumann")


def test_go_verifier_key_parses_and_round_trips() -> None:
    key = VerifierKey.from_string(PETER_VKEY)
    assert key.name == "PeterNeumann"
    assert key.key_id.hex() == "c74f20a3"
    assert len(key.public_key) == 32
    assert key.to_string() == PETER_VKEY
    assert note_key_id("PeterNeumann", key.public_key) == key.key_id


def test_go_verifier_key_manglings_are_rejected() -> None:
    # TestNewVerifier: every proper substring and every single-byte increment fails.
    b = PETER_VKEY.encode()
    bad: list[bytes] = [
        b[i:j] for i in range(len(b) + 1) for j in range(i + 1, len(b) + 1) if (i, j) != (0, len(b))
    ]
    bad += [b[:i] + bytes([b[i] + 1]) + b[i + 1 :] for i in range(len(b))]
    accepted = []
    for k in bad:
        try:
            VerifierKey.from_string(k.decode())
        except FormatError:
            continue
        accepted.append(k)
    assert accepted == []
    # Wrong key length and unknown algorithm, each with an adjusted key id.
    for key_text, reason in (
        # (Go's lenient decoder reaches the length check; this one stops at the stray bits.)
        ("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", "canonical"),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not supported"),
    ):
        with pytest.raises(FormatError, match=reason):
            VerifierKey.from_string(key_text)


def test_go_signed_note_verifies() -> None:
    note = SignedNote.from_bytes(NOTE.encode())
    assert note.text == TEXT
    assert note.to_bytes() == NOTE.encode()
    verify_note(note, VerifierKey.from_string(PETER_VKEY))


def test_signing_reproduces_the_go_note_byte_for_byte() -> None:
    # Ed25519 is deterministic, so the same seed must give Go's exact output.
    assert sign_note(TEXT, _peter_signer()).to_bytes() == NOTE.encode()


def test_tampered_text_fails() -> None:
    note = SignedNote.from_bytes(NOTE.replace("cryptography", "cryptographY").encode())
    with pytest.raises(SignatureError):
        verify_note(note, VerifierKey.from_string(PETER_VKEY))


def test_tampered_signature_fails() -> None:
    # TestOpen "Invalid signature": four base64 characters inserted.
    sig = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    note = SignedNote.from_bytes((TEXT + "\n" + sig).encode())
    with pytest.raises(SignatureError, match="does not verify"):
        verify_note(note, VerifierKey.from_string(PETER_VKEY))
    flipped = bytearray(SignedNote.from_bytes(NOTE.encode()).signatures[0].signature)
    flipped[10] ^= 1
    forged = SignedNote(
        TEXT, (NoteSignature("PeterNeumann", bytes.fromhex("c74f20a3"), bytes(flipped)),)
    )
    with pytest.raises(SignatureError):
        verify_note(forged, VerifierKey.from_string(PETER_VKEY))


def test_unknown_key_signatures_are_ignored() -> None:
    note = SignedNote.from_bytes((TEXT + "\n" + ENOCH_SIG + PETER_SIG).encode())
    verify_note(note, VerifierKey.from_string(PETER_VKEY))
    verify_note(note, VerifierKey.from_string(ENOCH_VKEY))


def test_note_signed_only_by_unknown_key_fails() -> None:
    note = SignedNote.from_bytes((TEXT + "\n" + ENOCH_SIG).encode())
    with pytest.raises(SignatureError, match="not signed by the trusted key"):
        verify_note(note, VerifierKey.from_string(PETER_VKEY))


def test_same_name_other_key_id_is_not_the_trusted_key() -> None:
    # TestOpen "wrong hash": same name, different key id: an unknown key.
    note = SignedNote.from_bytes((TEXT + "\n" + PETER_SIG.replace("x08g", "xxxx")).encode())
    with pytest.raises(SignatureError, match="not signed by the trusted key"):
        verify_note(note, VerifierKey.from_string(PETER_VKEY))


def test_other_name_same_key_is_not_the_trusted_key() -> None:
    note = SignedNote.from_bytes((TEXT + "\n" + PETER_SIG.replace("Peter", "Carmen")).encode())
    with pytest.raises(SignatureError):
        verify_note(note, VerifierKey.from_string(PETER_VKEY))


@pytest.mark.parametrize(
    "msg",
    [
        # TestOpen "Invalid encoded message syntax".
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1],
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        # Too many signatures.
        TEXT + "\n" + PETER_SIG * 101,
        # Hyphen instead of em dash, and a signature that is only a key id.
        TEXT + "\n" + PETER_SIG.replace("—", "-"),
        TEXT + "\n" + "— PeterNeumann x08gow==\n",
        # Non-canonical or non-standard base64.
        TEXT + "\n" + PETER_SIG.replace("/", "_"),
        TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),
        # A carriage return is a control character.
        TEXT.replace("\n", "\r\n", 1) + "\n" + PETER_SIG,
    ],
    ids=lambda m: repr(m[-30:]),
)
def test_malformed_notes_are_rejected(msg: str) -> None:
    with pytest.raises(FormatError):
        SignedNote.from_bytes(msg.encode())


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(FormatError, match="UTF-8"):
        SignedNote.from_bytes(b"\xff" + NOTE.encode())


def test_text_may_contain_blank_lines(signer: Ed25519Signer) -> None:
    text = "first\n\nthird\n"
    note = SignedNote.from_bytes(sign_note(text, signer).to_bytes())
    assert note.text == text
    verify_note(note, VerifierKey.from_public_key(signer.name, signer.public_key_raw()))


def test_sign_note_requires_trailing_newline(signer: Ed25519Signer) -> None:
    with pytest.raises(FormatError):
        sign_note("abc", signer)


def test_verifier_key_of_wrong_length_is_rejected() -> None:
    key = VerifierKey.from_string(PETER_VKEY)
    with pytest.raises(FormatError, match="32 bytes"):
        VerifierKey.from_public_key("PeterNeumann", key.public_key + b"\x00")
    typed = base64.b64encode(b"\x01" + key.public_key[:31]).decode()
    key_id = note_key_id("PeterNeumann", key.public_key[:31]).hex()
    with pytest.raises(FormatError, match="32 bytes"):
        VerifierKey.from_string(f"PeterNeumann+{key_id}+{typed}")


def test_verifier_key_with_mismatched_id_is_rejected() -> None:
    key = VerifierKey.from_string(PETER_VKEY)
    with pytest.raises(FormatError, match="does not match"):
        VerifierKey("PeterNeumann", b"\x00\x00\x00\x00", key.public_key)


def test_verifier_key_file(tmp_path: Path) -> None:
    path = tmp_path / "signing.vkey"
    path.write_text(PETER_VKEY + "\n")
    assert VerifierKey.from_file(path).to_string() == PETER_VKEY
    path.write_text(PETER_VKEY[:-2] + "\n")
    with pytest.raises(KeyFileError) as err:
        VerifierKey.from_file(path)
    assert str(path) in str(err.value)
    with pytest.raises(KeyFileError):
        VerifierKey.from_file(tmp_path / "absent.vkey")
