"""cosignature/v1 lines (c2sp.org/tlog-cosignature): round trip, tampering, and a known answer.

The known answer was derived by hand from the spec, outside the module under test:

- witness key: Ed25519 seed 00 01 02 ... 1f, name ``witness.example.com/w1``,
  public key 03a107bf...5531b8;
- key id = SHA-256("witness.example.com/w1" || 0x0A || 0x04 || public key)[:4] = a0059f11;
- message = "cosignature/v1\\ntime 1700000000\\n" || the checkpoint text
  "evidence.example.com/log\\n3\\n<base64 of 32 zero bytes>\\n";
- line = "— witness.example.com/w1 " || base64(key id || 1700000000 as 8 bytes
  big-endian (00 00 00 00 65 53 f1 00) || Ed25519 signature of the message).

Ed25519 is deterministic, so the line is fixed; it was computed with hashlib,
struct and the raw Ed25519 primitive, not with das_evidence.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.errors import FormatError, KeyFileError, SignatureError
from das_evidence.manifests.note import SignedNote
from das_evidence.witness.cosignature import (
    CosignerKey,
    WitnessSigner,
    add_cosignature,
    cosignature_key_id,
    verify_cosignature,
)

NAME = "witness.example.com/w1"
TEXT = "evidence.example.com/log\n3\n" + base64.b64encode(bytes(32)).decode() + "\n"
KAT_VKEY = "witness.example.com/w1+a0059f11+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
KAT_LINE = (
    "— witness.example.com/w1 oAWfEQAAAABlU/EAldU/mrNFhguyDTm/q6AKveewM4WBP1sEc1ZTWbZXtOQP"
    "C/OSR9Br6tSVsb6Mekm3bNrpmAiA2h66G6CHL2qwDA==\n"
)
LOG_LINE = "— evidence.example.com/log AAAAAAAA\n"  # some other signer, never checked here


def _signer() -> WitnessSigner:
    return WitnessSigner(NAME, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))


def _note(*lines: str) -> SignedNote:
    return SignedNote.from_bytes((TEXT + "\n" + "".join(lines)).encode())


def test_known_answer() -> None:
    signer = _signer()
    assert signer.verifier.to_string() == KAT_VKEY
    assert signer.verifier.key_id.hex() == "a0059f11"
    assert signer.cosign(TEXT, 1_700_000_000).to_line() == KAT_LINE
    assert verify_cosignature(_note(LOG_LINE, KAT_LINE), CosignerKey.from_string(KAT_VKEY)) == (
        1_700_000_000
    )


def test_round_trip_of_keys_and_lines(tmp_path: Path) -> None:
    signer = WitnessSigner.generate("w.example/2")
    key_file, vkey_file = signer.write(tmp_path)
    assert key_file.stat().st_mode & 0o777 == 0o600
    loaded = WitnessSigner.from_file(key_file)
    assert loaded.verifier == signer.verifier == CosignerKey.load(str(vkey_file))
    assert CosignerKey.from_string(signer.verifier.to_string()) == signer.verifier
    note = SignedNote.from_bytes(
        add_cosignature((TEXT + "\n" + LOG_LINE).encode(), loaded.cosign(TEXT, 42))
    )
    assert verify_cosignature(note, signer.verifier) == 42
    assert [s.name for s in note.signatures] == ["evidence.example.com/log", "w.example/2"]


def test_the_key_id_uses_the_cosignature_type_byte() -> None:
    pub = _signer().verifier.public_key
    assert cosignature_key_id(NAME, pub) != cosignature_key_id(NAME + "x", pub)
    # A note key (type 0x01) under the same name has another id.
    from das_evidence.manifests.note import note_key_id

    assert note_key_id(NAME, pub) != cosignature_key_id(NAME, pub)


def test_a_changed_checkpoint_or_time_fails() -> None:
    key = CosignerKey.from_string(KAT_VKEY)
    other = TEXT.replace("\n3\n", "\n4\n")
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(SignedNote.from_bytes((other + "\n" + KAT_LINE).encode()), key)
    blob = bytearray(base64.b64decode(KAT_LINE.split(" ")[2]))
    blob[4:12] = struct.pack(">Q", 1_700_000_001)
    forged = f"— {NAME} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(SignatureError, match="does not verify"):
        verify_cosignature(_note(forged), key)


def test_no_cosignature_by_the_key_fails() -> None:
    with pytest.raises(SignatureError, match="no cosignature"):
        verify_cosignature(_note(LOG_LINE), CosignerKey.from_string(KAT_VKEY))


def test_a_note_key_is_not_a_cosigner_key() -> None:
    with pytest.raises(FormatError, match=r"0x04"):
        CosignerKey.from_string(
            "evidence.example.com/log+12345678+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
        )
    with pytest.raises(FormatError, match="does not match"):
        CosignerKey.from_string(KAT_VKEY.replace("a0059f11", "a0059f12"))


def test_a_bad_key_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "witness.key"
    bad.write_text("not a key\n")
    with pytest.raises(KeyFileError, match=r"witness\.key"):
        WitnessSigner.from_file(bad)
