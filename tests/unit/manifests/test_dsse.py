"""DSSE envelopes: PAE, sign/verify with both algorithms, strict parsing."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from das_evidence.errors import FormatError, SignatureError
from das_evidence.manifests.dsse import (
    PAYLOAD_TYPE,
    DsseSignature,
    Envelope,
    pae,
    sign_envelope,
    verify_envelope,
)
from das_evidence.manifests.signers import EcdsaP256Signer, Ed25519Signer, PublicKey, Signer

PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1","note":"caf\xc3\xa9"}'


def _public(signer: Signer) -> PublicKey:
    return PublicKey(signer.public_key_der())


@pytest.fixture
def ecdsa_signer() -> EcdsaP256Signer:
    return EcdsaP256Signer(ec.generate_private_key(ec.SECP256R1()))


def test_pae_spec_vector() -> None:
    # secure-systems-lab/dsse protocol.md, "Test Vectors".
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t\u00e9", "\u00e9".encode()) == b"DSSEv1 3 t\xc3\xa9 2 \xc3\xa9"


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa"])
def test_sign_verify_round_trip(
    algorithm: str, signer: Ed25519Signer, ecdsa_signer: EcdsaP256Signer
) -> None:
    s: Signer = signer if algorithm == "ed25519" else ecdsa_signer
    env = sign_envelope(PAYLOAD, s)
    assert env.signatures[0].keyid == s.key_id
    parsed = Envelope.from_bytes(env.to_bytes())
    assert parsed == env
    assert verify_envelope(parsed, [_public(s)]) == _public(s)


def test_to_bytes_is_deterministic_compact_json(signer: Ed25519Signer) -> None:
    env = sign_envelope(PAYLOAD, signer)
    data = env.to_bytes()
    assert data.endswith(b"}\n") and b" " not in data
    obj = json.loads(data)
    assert list(obj) == ["payload", "payloadType", "signatures"]
    assert obj["payloadType"] == PAYLOAD_TYPE
    assert base64.b64decode(obj["payload"], validate=True) == PAYLOAD
    assert obj["signatures"] == [
        {"keyid": signer.key_id, "sig": base64.b64encode(env.signatures[0].sig).decode()}
    ]


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa"])
def test_flipped_payload_byte_fails(
    algorithm: str, signer: Ed25519Signer, ecdsa_signer: EcdsaP256Signer
) -> None:
    s: Signer = signer if algorithm == "ed25519" else ecdsa_signer
    env = sign_envelope(PAYLOAD, s)
    for i in (0, len(PAYLOAD) // 2, len(PAYLOAD) - 1):
        tampered = bytearray(PAYLOAD)
        tampered[i] ^= 0x01
        with pytest.raises(SignatureError, match="does not verify"):
            verify_envelope(
                Envelope(bytes(tampered), env.payload_type, env.signatures), [_public(s)]
            )


def test_changed_payload_type_fails(signer: Ed25519Signer) -> None:
    env = sign_envelope(PAYLOAD, signer)
    with pytest.raises(SignatureError):
        verify_envelope(Envelope(PAYLOAD, "application/json", env.signatures), [_public(signer)])


def test_untrusted_key_fails(signer: Ed25519Signer, other_signer: Ed25519Signer) -> None:
    env = sign_envelope(PAYLOAD, other_signer)
    with pytest.raises(SignatureError, match="not signed by a trusted key"):
        verify_envelope(env, [_public(signer)])


def test_unknown_keyid_does_not_count(signer: Ed25519Signer) -> None:
    # A valid signature by a trusted key, filed under another keyid, is not accepted.
    env = sign_envelope(PAYLOAD, signer)
    relabelled = Envelope(
        PAYLOAD, env.payload_type, (DsseSignature("0" * 64, env.signatures[0].sig),)
    )
    with pytest.raises(SignatureError):
        verify_envelope(relabelled, [_public(signer)])


def test_returns_the_key_that_verified(
    signer: Ed25519Signer, other_signer: Ed25519Signer, ecdsa_signer: EcdsaP256Signer
) -> None:
    env = sign_envelope(PAYLOAD, ecdsa_signer)
    extra = sign_envelope(PAYLOAD, other_signer).signatures[0]
    both = Envelope(PAYLOAD, env.payload_type, (extra, *env.signatures))
    keys = [_public(signer), _public(ecdsa_signer)]
    assert verify_envelope(both, keys) == _public(ecdsa_signer)


def test_sig_in_url_safe_base64_without_padding_is_accepted(signer: Ed25519Signer) -> None:
    env = sign_envelope(PAYLOAD, signer)
    obj = json.loads(env.to_bytes())
    obj["signatures"][0]["sig"] = (
        base64.urlsafe_b64encode(env.signatures[0].sig).decode().rstrip("=")
    )
    assert verify_envelope(Envelope.from_bytes(json.dumps(obj).encode()), [_public(signer)])


def test_pretty_printed_envelope_is_accepted(signer: Ed25519Signer) -> None:
    env = sign_envelope(PAYLOAD, signer)
    pretty = json.dumps(json.loads(env.to_bytes()), indent=1).encode()
    assert Envelope.from_bytes(pretty) == env


def _envelope_json(signer: Ed25519Signer) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(sign_envelope(PAYLOAD, signer).to_bytes())
    return obj


@pytest.mark.parametrize(
    ("attack", "mutate"),
    [
        ("payload_not_string", lambda o: o.update(payload=123)),
        (
            "payload_url_safe",
            lambda o: o.update(payload=base64.urlsafe_b64encode(b"\xfb\xff").decode()),
        ),
        ("payload_unpadded", lambda o: o.update(payload="YQ")),
        ("payload_type_missing", lambda o: o.pop("payloadType")),
        ("payload_type_not_string", lambda o: o.update(payloadType=["x"])),
        ("unknown_field", lambda o: o.update(extra="x")),
        ("signatures_empty", lambda o: o.update(signatures=[])),
        ("signatures_not_list", lambda o: o.update(signatures={"keyid": "", "sig": ""})),
        ("signature_keyid_missing", lambda o: o["signatures"][0].pop("keyid")),
        ("signature_keyid_number", lambda o: o["signatures"][0].update(keyid=1)),
        ("signature_not_base64", lambda o: o["signatures"][0].update(sig="***")),
        ("signature_mixed_alphabets", lambda o: o["signatures"][0].update(sig="ab+_")),
        ("signature_float_field", lambda o: o["signatures"][0].update(extra=1.5)),
    ],
)
def test_malformed_envelopes(
    signer: Ed25519Signer, attack: str, mutate: Callable[[dict[str, Any]], object]
) -> None:
    obj = _envelope_json(signer)
    mutate(obj)
    with pytest.raises(FormatError):
        Envelope.from_bytes(json.dumps(obj).encode())


def test_duplicate_keys_are_rejected(signer: Ed25519Signer) -> None:
    data = sign_envelope(PAYLOAD, signer).to_bytes()
    forged = data.replace(b'{"payload":', b'{"payload":"e30=","payload":', 1)
    with pytest.raises(FormatError, match="twice"):
        Envelope.from_bytes(forged)


def test_not_json() -> None:
    with pytest.raises(FormatError):
        Envelope.from_bytes(b"not json")
    with pytest.raises(FormatError):
        Envelope.from_bytes(b"[]")
