"""Signers and trusted public keys: algorithms, key ids, and key-file errors."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from das_evidence.errors import ConfigError, KeyFileError
from das_evidence.manifests.signers import (
    EcdsaP256Signer,
    Ed25519Signer,
    PublicKey,
    generate_ed25519_key,
)

from .conftest import ORIGIN


def _pkcs8(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_generated_key_pair_loads_and_signs() -> None:
    private_pem, public_pem = generate_ed25519_key()
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    signer = Ed25519Signer.from_pem(private_pem, ORIGIN)
    public = PublicKey.from_pem(public_pem)
    assert signer.algorithm == public.algorithm == "ed25519"
    assert signer.public_key_pem() == public.to_pem() == public_pem
    assert signer.key_id == public.key_id == hashlib.sha256(signer.public_key_der()).hexdigest()
    assert public.ed25519_raw() == signer.public_key_raw()
    sig = signer.sign(b"evidence")
    assert len(sig) == 64
    assert public.verify(sig, b"evidence")
    assert not public.verify(sig, b"evidencE")
    assert not public.verify(sig[:63], b"evidence")
    assert len(signer.sign_note(b"text\n")) == 64


def test_ed25519_signature_by_another_key_fails(signer: Ed25519Signer) -> None:
    _, other_pub = generate_ed25519_key()
    assert not PublicKey.from_pem(other_pub).verify(signer.sign(b"x"), b"x")


def test_ecdsa_p256_signs_der_over_sha256() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = EcdsaP256Signer.from_pem(_pkcs8(key))
    public = PublicKey.from_pem(_spki_pem(key))
    assert signer.algorithm == public.algorithm == "ecdsa-p256-sha256"
    assert signer.key_id == public.key_id
    sig = signer.sign(b"evidence")
    assert sig[0] == 0x30  # a DER SEQUENCE, not raw r||s
    assert public.verify(sig, b"evidence")
    assert not public.verify(sig, b"Evidence")
    assert not public.verify(b"\x30\x00", b"evidence")
    with pytest.raises(KeyFileError):
        public.ed25519_raw()


def test_dsse_spec_ecdsa_vector_verifies() -> None:
    # secure-systems-lab/dsse protocol.md "Test Vectors"
    # (commit 0110cc2e89df500345148a36c780d883922443ca):
    # ECDSA P-256/SHA-256 key (X, Y) and the raw r||s signature over the PAE below.
    x = 46950820868899156662930047687818585632848591499744589407958293238635476079160
    y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
    raw = base64.b64decode(
        "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="
    )
    der_sig = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    public = PublicKey(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    pae = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert public.verify(der_sig, pae)
    assert not public.verify(der_sig, pae.replace(b"hello", b"jello"))


def test_conformance_public_key_id(vectors: Path) -> None:
    public = PublicKey.from_file(vectors / "signing.pub")
    assert public.algorithm == "ed25519"
    # The keyid every entry of the conformance archive carries.
    assert public.key_id == "319f741a35d49e1659af09c628a9cadac66e68feb2af0e37bea4248901ae9225"


def test_missing_private_key_file_names_file_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    with pytest.raises(KeyFileError) as err:
        Ed25519Signer.from_file(path, ORIGIN)
    assert str(path) in str(err.value)
    assert "evidence keys generate" in str(err.value)


def test_private_key_file_of_wrong_kind(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.write_bytes(_pkcs8(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(KeyFileError, match="not an Ed25519 key") as err:
        Ed25519Signer.from_file(path, ORIGIN)
    assert str(path) in str(err.value)


def test_private_key_file_that_is_a_public_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    path.write_bytes(generate_ed25519_key()[1])
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        Ed25519Signer.from_file(path, ORIGIN)


def test_encrypted_private_key_is_refused() -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(KeyFileError, match="encrypted"):
        Ed25519Signer.from_pem(pem, ORIGIN)


def test_ecdsa_signer_refuses_other_curves() -> None:
    with pytest.raises(KeyFileError, match="P-256"):
        EcdsaP256Signer.from_pem(_pkcs8(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(KeyFileError, match="not an ECDSA P-256 key"):
        EcdsaP256Signer.from_pem(_pkcs8(Ed25519PrivateKey.generate()))


def test_public_key_refuses_rsa_and_other_curves(tmp_path: Path) -> None:
    rsa_pem = _spki_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(KeyFileError, match="only Ed25519 and ECDSA P-256"):
        PublicKey.from_pem(rsa_pem)
    with pytest.raises(KeyFileError, match="P-256"):
        PublicKey.from_pem(_spki_pem(ec.generate_private_key(ec.SECP384R1())))
    path = tmp_path / "signing.pub"
    path.write_bytes(b"not a key\n")
    with pytest.raises(KeyFileError) as err:
        PublicKey.from_file(path)
    assert str(path) in str(err.value)
    with pytest.raises(KeyFileError, match="does not exist"):
        PublicKey.from_file(tmp_path / "absent.pub")
    with pytest.raises(KeyFileError):
        PublicKey(b"\x30\x03garbage")


def test_note_key_name_must_be_valid() -> None:
    for bad in ("", "has space", "a+b", "tab\there"):
        with pytest.raises(ConfigError):
            Ed25519Signer(Ed25519PrivateKey.generate(), bad)


def test_public_keys_compare_by_der() -> None:
    _, pub = generate_ed25519_key()
    assert PublicKey.from_pem(pub) == PublicKey.from_pem(pub)
    assert PublicKey.from_pem(pub) != PublicKey.from_pem(generate_ed25519_key()[1])


def test_the_fingerprint_is_what_openssl_prints_for_the_der_spki(tmp_path: Path) -> None:
    import shutil
    import subprocess

    from das_evidence.manifests.keyring import fingerprint_of_file, write_key_pair
    from das_evidence.manifests.signers import FINGERPRINT_COMMAND, fingerprint

    paths = write_key_pair(tmp_path / "keys", "evidence.example.com/fp")
    signer = Ed25519Signer.from_file(paths["key"], "evidence.example.com/fp")
    assert signer.fingerprint == fingerprint(signer.public_key_der())
    assert signer.fingerprint == "SHA256:" + signer.key_id
    # The PEM file, the note verifier key and the configured signer agree.
    assert fingerprint_of_file(paths["pub"])[0] == signer.fingerprint
    assert fingerprint_of_file(paths["vkey"])[0] == signer.fingerprint
    if shutil.which("openssl"):
        cmd = FINGERPRINT_COMMAND.format(path=paths["pub"])
        out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, check=True)
        assert out.stdout.split()[0] == signer.fingerprint.removeprefix("SHA256:")
