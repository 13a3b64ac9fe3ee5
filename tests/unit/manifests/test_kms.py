"""AWS KMS signers: key references, key checks, signing, and refusing bad KMS answers.

ECDSA runs against moto's in-process KMS. moto has no Ed25519 keys, so the
Ed25519 signer runs on a real botocore KMS client with ``Stubber`` and canned,
correctly signed answers made with a local key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto import mock_aws
from moto.kms.exceptions import ValidationException
from moto.kms.responses import KmsResponse

from das_evidence.aws import make_client
from das_evidence.errors import ConfigError, EvidenceError, KmsError, KmsKeyError
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from das_evidence.manifests.dsse import Envelope, pae, sign_envelope, verify_envelope
from das_evidence.manifests.kms import (
    MAX_RAW_MESSAGE,
    KmsEcdsaSigner,
    KmsEd25519Signer,
    KmsKeyRef,
    KmsPublicKey,
    export_public,
    kms_signers,
)
from das_evidence.manifests.merkle import leaf_hash, root_hash
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import Ed25519Signer, PublicKey

from .conftest import ORIGIN

KEY_UUID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:111122223333:key/{KEY_UUID}"
ROOT = root_hash([leaf_hash(b"a"), leaf_hash(b"b")])
PAYLOAD = json.dumps({"_type": "https://in-toto.io/Statement/v1", "pad": "x" * 100_000}).encode()

_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Fake credentials only; no profile, config file or endpoint from the host leaks in."""
    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # boto3's default session caches credentials between tests.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


# -- ECDSA against moto ------------------------------------------------------------


@pytest.fixture
def moto_kms(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield make_client("kms", region="us-east-1")


@pytest.fixture
def moto_signs_digests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto honour ``MessageType=DIGEST`` as AWS documents it.

    moto 5.2 ignores MessageType and hashes the digest again (getmoto/moto#10202,
    see ``test_moto_digest_bug_is_refused``). This signs the digest itself, with
    moto's own key material; key lookup, usage and algorithm checks stay moto's.
    """
    original = KmsResponse.sign

    def sign(self: KmsResponse) -> str:
        if self._get_param("MessageType") != "DIGEST":
            return str(original(self))
        key_id = self._get_param("KeyId")
        self._validate_key_id(key_id)
        key = self.kms_backend.describe_key(key_id)
        algorithm = self._get_param("SigningAlgorithm")
        digest = self._get_param("Message")
        if (
            key.key_usage != "SIGN_VERIFY"
            or algorithm not in key.signing_algorithms
            or algorithm != "ECDSA_SHA_256"
            or len(digest) != 32
        ):
            raise ValidationException("test patch signs only 32-byte ECDSA_SHA_256 digests")
        sig = key.private_key.private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        return json.dumps(
            {
                "KeyId": key.arn,
                "Signature": base64.b64encode(sig).decode(),
                "SigningAlgorithm": algorithm,
            }
        )

    monkeypatch.setattr(KmsResponse, "sign", sign)


def _moto_key(client: Any, spec: str = "ECC_NIST_P256", usage: str = "SIGN_VERIFY") -> str:
    return str(client.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"])


def _record_sign_params(client: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    client.meta.events.register("provide-client-params.kms.Sign", record)
    return sent


def test_ecdsa_signs_dsse_envelope_that_verifies(moto_kms: Any, moto_signs_digests: None) -> None:
    key_id = _moto_key(moto_kms)
    moto_kms.create_alias(AliasName="alias/evidence-dsse", TargetKeyId=key_id)
    signer = KmsEcdsaSigner.load(moto_kms, "kms:alias/evidence-dsse")
    sent = _record_sign_params(moto_kms)

    env = Envelope.from_bytes(sign_envelope(PAYLOAD, signer).to_bytes())

    public = PublicKey.from_pem(signer.public_key_pem())
    assert verify_envelope(env, [public]) == public
    assert signer.algorithm == public.algorithm == "ecdsa-p256-sha256"
    assert env.signatures[0].keyid == hashlib.sha256(signer.public_key_der()).hexdigest()
    # Plain cryptography agrees: a DER ECDSA signature over SHA-256 of the PAE.
    kms_der = moto_kms.get_public_key(KeyId=key_id)["PublicKey"]
    plain = serialization.load_der_public_key(kms_der)
    assert isinstance(plain, ec.EllipticCurvePublicKey)
    plain.verify(env.signatures[0].sig, pae(env.payload_type, PAYLOAD), ec.ECDSA(hashes.SHA256()))
    # Only the 32-byte digest went to KMS, never the 100 kB payload.
    assert len(sent) == 1
    assert sent[0]["Message"] == hashlib.sha256(pae(env.payload_type, PAYLOAD)).digest()
    assert sent[0]["MessageType"] == "DIGEST"
    assert sent[0]["SigningAlgorithm"] == "ECDSA_SHA_256"
    assert sent[0]["KeyId"] == "alias/evidence-dsse"


def test_moto_signs_ecdsa_for_real(moto_kms: Any, moto_signs_digests: None) -> None:
    signer = KmsEcdsaSigner.load(moto_kms, f"kms:{_moto_key(moto_kms)}")
    sig = signer.sign(b"SHA256SUMS contents")
    public = PublicKey(signer.public_key_der())
    assert public.verify(sig, b"SHA256SUMS contents")
    assert not public.verify(sig, b"SHA256SUMS contentz")
    other = KmsEcdsaSigner.load(moto_kms, f"kms:{_moto_key(moto_kms)}")
    assert not PublicKey(other.public_key_der()).verify(sig, b"SHA256SUMS contents")


def test_moto_digest_bug_is_refused(moto_kms: Any) -> None:
    """Unpatched moto signs SHA-256(digest): a real wrong KMS answer, which must raise.

    If this fails because moto now signs digests correctly (getmoto/moto#10202),
    delete this test and the ``moto_signs_digests`` fixture.
    """
    signer = KmsEcdsaSigner.load(moto_kms, f"kms:{_moto_key(moto_kms)}")
    with pytest.raises(EvidenceError, match="does not verify") as e:
        signer.sign(b"statement")
    assert e.value.exit_code == 3


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("RSA_2048", "SIGN_VERIFY"),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P384", "SIGN_VERIFY"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY"),
    ],
)
def test_ecdsa_refuses_other_key_specs(moto_kms: Any, spec: str, usage: str) -> None:
    key_id = _moto_key(moto_kms, spec, usage)
    with pytest.raises(ConfigError) as e:
        KmsEcdsaSigner.load(moto_kms, f"kms:{key_id}")
    assert f"kms:{key_id}" in str(e.value)
    assert spec in str(e.value)
    assert e.value.exit_code == 2


def test_ecdsa_refuses_key_agreement_usage(moto_kms: Any) -> None:
    key_id = _moto_key(moto_kms, "ECC_NIST_P256", "KEY_AGREEMENT")
    with pytest.raises(ConfigError, match=f"kms:{key_id} has key usage KEY_AGREEMENT"):
        KmsEcdsaSigner.load(moto_kms, f"kms:{key_id}")


def test_missing_key_is_a_config_error_naming_it(moto_kms: Any) -> None:
    with pytest.raises(ConfigError, match="kms:alias/nope does not exist") as e:
        KmsEcdsaSigner.load(moto_kms, "kms:alias/nope")
    assert "NotFoundException" in str(e.value)


def test_kms_signers_ecdsa_with_moto_needs_note_key(moto_kms: Any) -> None:
    key_id = _moto_key(moto_kms)
    with pytest.raises(ConfigError) as e:
        kms_signers(f"kms:{key_id}", None, ORIGIN, moto_kms)
    assert 'signing.note_key = "kms:' in str(e.value)
    assert "Ed25519" in str(e.value)
    assert f"kms:{key_id}" in str(e.value)


# -- Ed25519 with Stubber ------------------------------------------------------------


class StubbedKms:
    """A real botocore KMS client whose answers are queued, in order."""

    def __init__(self) -> None:
        self.client = make_client("kms", region="us-east-1")
        self.stubber = Stubber(self.client)

    def public_key(
        self,
        key_id: str,
        der: bytes,
        spec: str = "ECC_NIST_EDWARDS25519",
        usage: str = "SIGN_VERIFY",
        algorithms: tuple[str, ...] = ("ED25519_SHA_512",),
    ) -> None:
        self.stubber.add_response(
            "get_public_key",
            {
                "KeyId": f"arn:aws:kms:us-east-1:111122223333:key/{KEY_UUID}",
                "PublicKey": der,
                "CustomerMasterKeySpec": spec,
                "KeySpec": spec,
                "KeyUsage": usage,
                "SigningAlgorithms": list(algorithms),
            },
            {"KeyId": key_id},
        )

    def sign(self, key_id: str, message: bytes, signature: bytes) -> None:
        self.stubber.add_response(
            "sign",
            {
                "KeyId": f"arn:aws:kms:us-east-1:111122223333:key/{KEY_UUID}",
                "Signature": signature,
                "SigningAlgorithm": "ED25519_SHA_512",
            },
            {
                "KeyId": key_id,
                "Message": message,
                "MessageType": "RAW",
                "SigningAlgorithm": "ED25519_SHA_512",
            },
        )


@pytest.fixture
def kms(aws_env: None) -> Iterator[StubbedKms]:
    stubbed = StubbedKms()
    with stubbed.stubber:
        yield stubbed
        stubbed.stubber.assert_no_pending_responses()


@pytest.fixture
def ed_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _der(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_ed25519_signs_checkpoint_that_opens(kms: StubbedKms, ed_key: Ed25519PrivateKey) -> None:
    cp = Checkpoint(ORIGIN, 2, ROOT)
    text = cp.to_text().encode()
    kms.public_key("alias/evidence-notes", _der(ed_key))
    kms.sign("alias/evidence-notes", text, ed_key.sign(text))
    signer = KmsEd25519Signer.load(kms.client, "kms:alias/evidence-notes", ORIGIN)

    signed = sign_checkpoint(cp, signer)

    pem, vkey = export_public(signer, signer)
    assert open_checkpoint(signed, VerifierKey.from_string(vkey), ORIGIN) == cp
    # The verifier key names the origin and holds the KMS key's 32 raw bytes.
    local = Ed25519Signer(ed_key, ORIGIN)
    assert signer.public_key_raw() == local.public_key_raw()
    assert vkey == VerifierKey.from_public_key(ORIGIN, local.public_key_raw()).to_string()
    assert pem == local.public_key_pem()


def test_ed25519_signs_small_dsse_envelope(kms: StubbedKms, ed_key: Ed25519PrivateKey) -> None:
    payload = b'{"_type":"https://in-toto.io/Statement/v1"}'
    message = pae("application/vnd.in-toto+json", payload)
    kms.public_key(KEY_ARN, _der(ed_key))
    kms.sign(KEY_ARN, message, ed_key.sign(message))
    signer = KmsEd25519Signer.load(kms.client, f"kms:{KEY_ARN}", ORIGIN)

    env = sign_envelope(payload, signer)

    public = PublicKey.from_pem(signer.public_key_pem())
    assert verify_envelope(env, [public]) == public
    assert env.signatures[0].keyid == hashlib.sha256(_der(ed_key)).hexdigest()
    assert len(env.signatures[0].sig) == 64


@pytest.mark.parametrize("attack", ["other_key", "flipped_bit", "truncated"])
def test_ed25519_wrong_kms_signature_raises(
    kms: StubbedKms, ed_key: Ed25519PrivateKey, attack: str
) -> None:
    text = Checkpoint(ORIGIN, 2, ROOT).to_text().encode()
    good = ed_key.sign(text)
    bad = {
        "other_key": Ed25519PrivateKey.generate().sign(text),
        "flipped_bit": bytes([good[0] ^ 1]) + good[1:],
        "truncated": good[:63],
    }[attack]
    kms.public_key("alias/notes", _der(ed_key))
    kms.sign("alias/notes", text, bad)
    signer = KmsEd25519Signer.load(kms.client, "kms:alias/notes", ORIGIN)
    with pytest.raises(EvidenceError, match="does not verify") as e:
        sign_checkpoint(Checkpoint(ORIGIN, 2, ROOT), signer)
    assert e.value.exit_code == 3


def test_ed25519_message_size_limit(kms: StubbedKms, ed_key: Ed25519PrivateKey) -> None:
    at_limit = b"x" * MAX_RAW_MESSAGE
    kms.public_key("alias/notes", _der(ed_key))
    kms.sign("alias/notes", at_limit, ed_key.sign(at_limit))
    signer = KmsEd25519Signer.load(kms.client, "kms:alias/notes", ORIGIN)
    assert len(signer.sign(at_limit)) == 64
    # One byte more is refused before any call: an unstubbed call would be an
    # EvidenceError from the Stubber, not this ConfigError.
    with pytest.raises(ConfigError, match=f"of {MAX_RAW_MESSAGE + 1} bytes") as e:
        signer.sign(at_limit + b"x")
    assert "ECC_NIST_P256" in str(e.value)
    with pytest.raises(ConfigError, match="kms:alias/notes"):
        signer.sign_note(b"y" * 5000)


def test_ed25519_public_key_must_match_key_spec(kms: StubbedKms) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    kms.public_key("alias/notes", _der(p256))
    with pytest.raises(EvidenceError, match="does not match its key spec") as e:
        KmsEd25519Signer.load(kms.client, "kms:alias/notes", ORIGIN)
    assert e.value.exit_code == 3


def test_ed25519_public_key_must_be_der(kms: StubbedKms) -> None:
    kms.public_key("alias/notes", b"not DER")
    with pytest.raises(EvidenceError, match="no valid DER") as e:
        KmsEd25519Signer.load(kms.client, "kms:alias/notes", ORIGIN)
    assert not isinstance(e.value, ConfigError)


def test_ed25519_refuses_ecdsa_key_naming_it(kms: StubbedKms) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    kms.public_key("alias/dsse", _der(p256), "ECC_NIST_P256", algorithms=("ECDSA_SHA_256",))
    with pytest.raises(ConfigError, match="kms:alias/dsse has key spec ECC_NIST_P256"):
        KmsEd25519Signer.load(kms.client, "kms:alias/dsse", ORIGIN)


def test_ed25519_refuses_missing_algorithm(kms: StubbedKms, ed_key: Ed25519PrivateKey) -> None:
    kms.public_key("alias/notes", _der(ed_key), algorithms=("ED25519_PH_SHA_512",))
    with pytest.raises(ConfigError, match="does not offer the signing algorithm ED25519_SHA_512"):
        KmsEd25519Signer.load(kms.client, "kms:alias/notes", ORIGIN)


def test_ed25519_refuses_bad_note_name(kms: StubbedKms, ed_key: Ed25519PrivateKey) -> None:
    with pytest.raises(ConfigError, match="cannot sign notes as 'has space'"):
        KmsEd25519Signer.load(kms.client, "kms:alias/notes", "has space")


@pytest.mark.parametrize(
    ("code", "error_type", "exit_code"),
    [
        ("AccessDeniedException", KmsKeyError, 2),
        ("DisabledException", KmsKeyError, 2),
        ("KMSInvalidStateException", KmsKeyError, 2),
        ("KMSInternalException", KmsError, 3),
        ("KeyUnavailableException", KmsError, 3),
    ],
)
def test_kms_errors_are_wrapped(
    kms: StubbedKms, ed_key: Ed25519PrivateKey, code: str, error_type: type, exit_code: int
) -> None:
    kms.public_key("alias/notes", _der(ed_key))
    kms.stubber.add_client_error("sign", service_error_code=code, service_message="nope")
    signer = KmsEd25519Signer.load(kms.client, "kms:alias/notes", ORIGIN)
    with pytest.raises(error_type) as e:
        signer.sign_note(b"note\n")
    assert type(e.value) is error_type
    assert e.value.exit_code == exit_code
    assert code in str(e.value)
    assert "kms:alias/notes" in str(e.value)


def test_no_credentials_is_a_service_error(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    client = make_client("kms", region="us-east-1")
    with pytest.raises(EvidenceError, match="NoCredentialsError") as e:
        KmsEcdsaSigner.load(client, "kms:alias/evidence-dsse")
    assert e.value.exit_code == 3
    assert not isinstance(e.value, ConfigError)


# -- kms_signers ----------------------------------------------------------------------


def test_kms_signers_one_ed25519_key_signs_both(kms: StubbedKms, ed_key: Ed25519PrivateKey) -> None:
    kms.public_key("alias/evidence", _der(ed_key))  # fetched once, for both roles
    signer, note_signer = kms_signers("kms:alias/evidence", None, ORIGIN, kms.client)
    assert signer is note_signer
    assert isinstance(signer, KmsEd25519Signer)
    assert note_signer.name == ORIGIN


def test_kms_signers_same_note_key_is_one_key(kms: StubbedKms, ed_key: Ed25519PrivateKey) -> None:
    kms.public_key("alias/evidence", _der(ed_key))
    signer, note_signer = kms_signers(
        "kms:alias/evidence", "kms:alias/evidence", ORIGIN, kms.client
    )
    assert signer is note_signer


def test_kms_signers_ecdsa_and_ed25519_note_key(kms: StubbedKms, ed_key: Ed25519PrivateKey) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    kms.public_key("alias/dsse", _der(p256), "ECC_NIST_P256", algorithms=("ECDSA_SHA_256",))
    kms.public_key("alias/notes", _der(ed_key))
    signer, note_signer = kms_signers("kms:alias/dsse", "kms:alias/notes", ORIGIN, kms.client)
    assert isinstance(signer, KmsEcdsaSigner)
    assert isinstance(note_signer, KmsEd25519Signer)
    assert signer.key_id == hashlib.sha256(_der(p256)).hexdigest()

    pem, vkey = export_public(signer, note_signer)
    assert PublicKey.from_pem(pem).der == _der(p256)
    assert (
        VerifierKey.from_string(vkey).public_key == Ed25519Signer(ed_key, ORIGIN).public_key_raw()
    )
    assert vkey.startswith(ORIGIN + "+")


def test_kms_signers_separate_ed25519_keys(kms: StubbedKms, ed_key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    kms.public_key("alias/dsse", _der(other))
    kms.public_key("alias/notes", _der(ed_key))
    signer, note_signer = kms_signers("kms:alias/dsse", "kms:alias/notes", ORIGIN, kms.client)
    assert signer is not note_signer
    assert signer.public_key_der() == _der(other)
    assert note_signer.public_key_raw() == Ed25519Signer(ed_key, ORIGIN).public_key_raw()


def test_kms_signers_ecdsa_without_note_key(kms: StubbedKms) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    kms.public_key("alias/dsse", _der(p256), "ECC_NIST_P256", algorithms=("ECDSA_SHA_256",))
    with pytest.raises(ConfigError) as e:
        kms_signers("kms:alias/dsse", None, ORIGIN, kms.client)
    assert 'signing.note_key = "kms:' in str(e.value)
    assert "kms:alias/dsse" in str(e.value)


def test_kms_signers_ecdsa_note_key_refused(kms: StubbedKms) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    kms.public_key("alias/dsse", _der(p256), "ECC_NIST_P256", algorithms=("ECDSA_SHA_256",))
    kms.public_key("alias/notes", _der(p256), "ECC_NIST_P256", algorithms=("ECDSA_SHA_256",))
    with pytest.raises(
        ConfigError, match=re.escape("signing.note_key kms:alias/notes has key spec ECC_NIST")
    ):
        kms_signers("kms:alias/dsse", "kms:alias/notes", ORIGIN, kms.client)


def test_kms_signers_refuses_rsa_key(kms: StubbedKms) -> None:
    kms.public_key("alias/rsa", b"\x30", "RSA_2048", algorithms=("RSASSA_PSS_SHA_256",))
    with pytest.raises(
        ConfigError, match=re.escape("signing.key kms:alias/rsa has key spec RSA_2048")
    ):
        kms_signers("kms:alias/rsa", None, ORIGIN, kms.client)


def test_kms_signers_refuses_non_kms_references(kms: StubbedKms) -> None:
    with pytest.raises(ConfigError, match=re.escape("'keys/signing.key' is not a KMS reference")):
        kms_signers("keys/signing.key", None, ORIGIN, kms.client)
    with pytest.raises(ConfigError, match=re.escape("'signing.vkey' is not a KMS reference")):
        kms_signers("kms:alias/dsse", "signing.vkey", ORIGIN, kms.client)


def test_arn_in_another_region_is_refused_before_calling(kms: StubbedKms) -> None:
    ref = f"kms:arn:aws:kms:eu-west-1:111122223333:key/{KEY_UUID}"
    with pytest.raises(ConfigError, match="is in region eu-west-1, but the KMS client is for us-"):
        kms_signers(ref, None, ORIGIN, kms.client)


# -- KmsKeyRef.parse -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "key_id", "region"),
    [
        ("kms:alias/evidence-dsse", "alias/evidence-dsse", None),
        ("kms:alias/team_a/evidence-dsse", "alias/team_a/evidence-dsse", None),
        (f"kms:{KEY_UUID}", KEY_UUID, None),
        ("kms:mrk-1234abcd12ab34cd56ef1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab", None),
        (f"kms:{KEY_ARN}", KEY_ARN, "us-east-1"),
        (
            "kms:arn:aws:kms:us-west-2:111122223333:alias/evidence-dsse",
            "arn:aws:kms:us-west-2:111122223333:alias/evidence-dsse",
            "us-west-2",
        ),
        (
            f"kms:arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/{KEY_UUID}",
            f"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/{KEY_UUID}",
            "us-gov-west-1",
        ),
    ],
)
def test_key_ref_accepts(ref: str, key_id: str, region: str | None) -> None:
    parsed = KmsKeyRef.parse(ref)
    assert parsed.key_id == key_id
    assert parsed.region == region
    assert str(parsed) == ref


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("alias/evidence-dsse", "does not start with 'kms:'"),
        ("KMS:alias/evidence-dsse", "does not start with 'kms:'"),
        ("kms:", "names no key"),
        ("kms: alias/evidence-dsse", "white space"),
        ("kms:alias/evidence dsse", "white space"),
        ("kms:alias/", "invalid alias"),
        ("kms:alias/evidence.dsse", "invalid alias"),
        ("kms:alias/" + "a" * 251, "invalid alias"),
        ("kms:alias/aws/ebs", "AWS managed alias"),
        ("kms:evidence-dsse", "not a key id"),
        ("kms:1234ABCD-12AB-34CD-56EF-1234567890AB", "not a key id"),
        ("kms:1234abcd-12ab-34cd-56ef-1234567890a", "not a key id"),
        ("kms:key/1234abcd-12ab-34cd-56ef-1234567890ab", "not a key id"),
        ("kms:arn:aws:s3:::evidence-bucket", "not a KMS key or alias ARN"),
        (f"kms:arn:aws:kms:us-east-1:1111:key/{KEY_UUID}", "not a KMS key or alias ARN"),
        ("kms:arn:aws:kms:us-east-1:111122223333:grant/abc", "neither a key"),
        ("kms:arn:aws:kms:us-east-1:111122223333:key/not-a-uuid", "not a key id"),
        ("kms:arn:aws:kms:us-east-1:111122223333:alias/aws/s3", "AWS managed alias"),
    ],
)
def test_key_ref_rejects(ref: str, problem: str) -> None:
    with pytest.raises(ConfigError) as e:
        KmsKeyRef.parse(ref)
    message = str(e.value)
    assert problem in message
    assert repr(ref) in message
    assert 'fix: write "kms:"' in message


def test_key_ref_at_alias_length_limit() -> None:
    alias = "alias/" + "a" * 250
    assert KmsKeyRef.parse(f"kms:{alias}").key_id == alias


def test_public_key_fetch_reads_customer_master_key_spec(
    kms: StubbedKms, ed_key: Ed25519PrivateKey
) -> None:
    """moto and older KMS answers carry only CustomerMasterKeySpec."""
    kms.stubber.add_response(
        "get_public_key",
        {
            "KeyId": KEY_ARN,
            "PublicKey": _der(ed_key),
            "CustomerMasterKeySpec": "ECC_NIST_P256",
            "KeyUsage": "SIGN_VERIFY",
        },
        {"KeyId": "alias/x"},
    )
    info = KmsPublicKey.fetch(kms.client, KmsKeyRef.parse("kms:alias/x"))
    assert info.key_spec == "ECC_NIST_P256"
    assert info.arn == KEY_ARN
    assert info.signing_algorithms == ()
