"""AWS KMS signers behind the :class:`Signer` and :class:`NoteSigner` contracts.

A ``kms:`` key reference names a KMS key by key id, key ARN, alias name or
alias ARN. Two kinds of KMS key can sign the archive:

- ``ECC_NIST_P256`` (:class:`KmsEcdsaSigner`) signs DSSE envelopes and pack
  checksums. Only the SHA-256 digest is sent (``MessageType=DIGEST``), so
  evidence of any size never leaves the machine. It cannot sign checkpoints,
  which are Ed25519 signed notes.
- ``ECC_NIST_EDWARDS25519`` (:class:`KmsEd25519Signer`) signs checkpoints and,
  for payloads up to 4096 bytes, DSSE envelopes. Pure Ed25519 signs the message
  itself (``MessageType=RAW``), and KMS caps RAW messages at 4096 bytes.
  ``ED25519_PH_SHA_512`` is not used: Ed25519ph signatures do not verify as
  the plain Ed25519 signatures that the archive format and signed notes require.

Every signature KMS returns is verified here against the key's public key
before it is handed out, so a wrong or garbled answer raises instead of
producing an archive that fails verification later.

The KMS client is passed in (``aws.make_client("kms")``): this module imports
neither boto3 nor botocore (their error types come from ``aws``), and wraps their
errors where they enter: :class:`KmsKeyError` (a :class:`ConfigError`, exit 2)
when the key or its permissions are wrong, :class:`KmsError` (exit 3) when KMS
could not be reached or answered something unusable.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from das_evidence.aws import TRANSPORT_ERRORS
from das_evidence.errors import KmsError, KmsKeyError
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import (
    ECDSA_P256_SHA256,
    ED25519,
    NoteSigner,
    PublicKey,
    Signer,
    check_note_name,
)

log = logging.getLogger(__name__)

KMS_PREFIX = "kms:"

SPEC_P256 = "ECC_NIST_P256"
SPEC_ED25519 = "ECC_NIST_EDWARDS25519"
USAGE_SIGN = "SIGN_VERIFY"
ALG_ECDSA_SHA_256 = "ECDSA_SHA_256"
ALG_ED25519 = "ED25519_SHA_512"

# KMS Sign accepts at most 4096 bytes in ``Message`` (RAW or DIGEST).
MAX_RAW_MESSAGE = 4096
# KMS's KeyId parameter is at most 2048 characters; an alias name at most 256.
_MAX_KEY_ID = 2048
_MAX_ALIAS = 256

_KEY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_MRK_ID = re.compile(r"mrk-[0-9a-f]{32}", re.ASCII)
_ALIAS = re.compile(r"alias/[A-Za-z0-9/_-]+", re.ASCII)
_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+):"
    r"(?P<account>[0-9]{12}):(?P<resource>.+)",
    re.ASCII,
)

_REF_FIX = (
    'write "kms:" followed by a key id, key ARN, alias name or alias ARN, e.g. '
    '"kms:alias/evidence-dsse" or "kms:arn:aws:kms:us-east-1:111122223333:key/<key id>"'
)
_SERVICE_FIX = "check network access to KMS and the AWS credentials; the next run retries"
# KMS error codes that mean the key or its permissions are misconfigured,
# as opposed to KMS being unreachable or failing (which a retry may fix).
_CONFIG_CODES = {
    "NotFoundException": "does not exist (or is not visible to these credentials)",
    "DisabledException": "is disabled",
    "KMSInvalidStateException": "is not in a usable state (pending deletion or import?)",
    "InvalidKeyUsageException": "is not a SIGN_VERIFY key",
    "UnsupportedOperationException": "does not support this operation",
    "AccessDeniedException": "may not be used with these credentials",
    "InvalidArnException": "has an invalid ARN",
    "ValidationException": "was refused",
}


@dataclass(frozen=True)
class KmsKeyRef:
    """A validated ``kms:`` key reference; ``key_id`` is what KMS calls ``KeyId``."""

    key_id: str

    @classmethod
    def parse(cls, ref: str) -> KmsKeyRef:
        """Accept ``kms:<key id | key ARN | alias name | alias ARN>``; raise ``KmsKeyError``."""
        if not ref.startswith(KMS_PREFIX):
            raise KmsKeyError(
                f"key reference {ref!r} is not a KMS reference (it does not start with 'kms:')",
                fix=_REF_FIX,
            )
        key_id = ref[len(KMS_PREFIX) :]
        problem = _key_id_problem(key_id)
        if problem:
            raise KmsKeyError(f"KMS key reference {ref!r} {problem}", fix=_REF_FIX)
        return cls(key_id)

    @property
    def region(self) -> str | None:
        """The region named by an ARN reference; None for key ids and alias names."""
        m = _ARN.fullmatch(self.key_id)
        return m.group("region") if m else None

    def __str__(self) -> str:
        return KMS_PREFIX + self.key_id


def _key_id_problem(key_id: str) -> str | None:
    if not key_id:
        return "names no key"
    if len(key_id) > _MAX_KEY_ID:
        return f"is longer than {_MAX_KEY_ID} characters"
    if key_id != key_id.strip() or any(ch.isspace() for ch in key_id):
        return "contains white space"
    m = _ARN.fullmatch(key_id)
    if m:
        resource = m.group("resource")
        if resource.startswith("key/"):
            return _bare_key_id_problem(resource[len("key/") :])
        if resource.startswith("alias/"):
            return _alias_problem(resource)
        return "is a KMS ARN of neither a key (…:key/<id>) nor an alias (…:alias/<name>)"
    if key_id.startswith("arn:"):
        return (
            "is not a KMS key or alias ARN "
            "(expected arn:<partition>:kms:<region>:<12-digit account>:key/<id> or …:alias/<name>)"
        )
    if key_id.startswith("alias/"):
        return _alias_problem(key_id)
    return _bare_key_id_problem(key_id)


def _bare_key_id_problem(key_id: str) -> str | None:
    if _KEY_ID.fullmatch(key_id) or _MRK_ID.fullmatch(key_id):
        return None
    return (
        f"names {key_id!r}, which is not a key id (lower-case UUID such as "
        "1234abcd-12ab-34cd-56ef-1234567890ab, or mrk-<32 hex digits>), "
        "a key ARN, or an alias (alias/<name>)"
    )


def _alias_problem(alias: str) -> str | None:
    if not _ALIAS.fullmatch(alias) or len(alias) > _MAX_ALIAS:
        return (
            f"has an invalid alias {alias!r} (alias/ then up to {_MAX_ALIAS - 6} of "
            "A-Z a-z 0-9 / _ -)"
        )
    if alias.startswith("alias/aws/"):
        return (
            f"names the AWS managed alias {alias!r}; AWS managed keys are symmetric "
            "encryption keys and cannot sign"
        )
    return None


@dataclass(frozen=True)
class KmsPublicKey:
    """What GetPublicKey says about a key: its spec, usage, algorithms and SPKI DER."""

    ref: KmsKeyRef
    arn: str
    key_spec: str
    key_usage: str
    signing_algorithms: tuple[str, ...]
    der: bytes

    @classmethod
    def fetch(cls, client: Any, ref: KmsKeyRef) -> KmsPublicKey:
        """Call GetPublicKey; refuse a reference whose ARN region differs from the client's."""
        client_region = getattr(getattr(client, "meta", None), "region_name", None)
        if ref.region and isinstance(client_region, str) and client_region != ref.region:
            raise KmsKeyError(
                f"KMS key {ref} is in region {ref.region}, but the KMS client is for "
                f"{client_region}",
                fix=f"set the AWS region to {ref.region} for signing",
            )
        response = _call(client, "get_public_key", ref, KeyId=ref.key_id)
        # Real KMS answers both; moto and older APIs only CustomerMasterKeySpec.
        spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
        der = response.get("PublicKey")
        algorithms = response.get("SigningAlgorithms") or []
        return cls(
            ref=ref,
            arn=str(response.get("KeyId") or ref.key_id),
            key_spec=str(spec or "unknown"),
            key_usage=str(response.get("KeyUsage") or "unknown"),
            signing_algorithms=tuple(str(a) for a in algorithms),
            der=bytes(der) if isinstance(der, bytes | bytearray) else b"",
        )


def _call(client: Any, operation: str, ref: KmsKeyRef, **params: Any) -> dict[str, Any]:
    """One KMS API call with its errors wrapped; vendor exception types never escape."""
    client_error: type[Exception] = client.exceptions.ClientError
    try:
        response = getattr(client, operation)(**params)
    except client_error as e:
        error = getattr(e, "response", {}).get("Error", {})
        code = str(error.get("Code", ""))
        detail = f"{code}: {error.get('Message', e)}"
        if code in _CONFIG_CODES:
            raise KmsKeyError(
                f"KMS key {ref} {_CONFIG_CODES[code]} ({detail})",
                fix="check the key reference, its region and state, and that the credentials "
                "may call kms:GetPublicKey and kms:Sign on it",
            ) from e
        raise KmsError(f"KMS {operation} with key {ref} failed ({detail})", fix=_SERVICE_FIX) from e
    except TRANSPORT_ERRORS as e:  # no credentials, no connection, timeouts
        raise KmsError(
            f"KMS {operation} with key {ref} failed: {type(e).__name__}: {e}", fix=_SERVICE_FIX
        ) from e
    if not isinstance(response, dict):
        raise KmsError(f"KMS {operation} with key {ref} returned {type(response).__name__}")
    return response


def _require_sign_key(info: KmsPublicKey, spec: str, algorithm: str, role: str) -> PublicKey:
    """Check spec, usage and algorithm, then load the public key the signatures must match."""
    if info.key_spec != spec:
        raise KmsKeyError(
            f"KMS key {info.ref} has key spec {info.key_spec}; {role} needs KeySpec {spec}",
            fix=f"create a KMS key with KeySpec={spec} and KeyUsage={USAGE_SIGN}",
        )
    if info.key_usage != USAGE_SIGN:
        raise KmsKeyError(
            f"KMS key {info.ref} has key usage {info.key_usage}, not {USAGE_SIGN}",
            fix=f"create a KMS key with KeySpec={spec} and KeyUsage={USAGE_SIGN}",
        )
    if algorithm not in info.signing_algorithms:
        offered = ", ".join(info.signing_algorithms) or "none"
        raise KmsKeyError(
            f"KMS key {info.ref} does not offer the signing algorithm {algorithm} "
            f"(it offers {offered})",
            fix=f"create a KMS key with KeySpec={spec} and KeyUsage={USAGE_SIGN}",
        )
    try:
        key = serialization.load_der_public_key(info.der)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KmsError(
            f"KMS GetPublicKey for {info.ref} returned no valid DER SubjectPublicKeyInfo"
        ) from e
    if spec == SPEC_ED25519:
        matches = isinstance(key, Ed25519PublicKey)
    else:
        matches = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    if not matches:
        raise KmsError(
            f"KMS GetPublicKey for {info.ref} returned a {type(key).__name__.lstrip('_')}, "
            f"which does not match its key spec {spec}"
        )
    return PublicKey(info.der)


def _signature(response: dict[str, Any], ref: KmsKeyRef) -> bytes:
    sig = response.get("Signature")
    if not isinstance(sig, bytes | bytearray) or not sig:
        raise KmsError(f"KMS Sign with key {ref} returned no signature", fix=_SERVICE_FIX)
    return bytes(sig)


def _check_signature(public: PublicKey, sig: bytes, data: bytes, ref: KmsKeyRef) -> bytes:
    if not public.verify(sig, data):
        raise KmsError(
            f"KMS Sign with key {ref} returned a signature that does not verify against the "
            "key's public key; nothing was signed with it",
            fix="retry; if it persists, check that the key was not replaced or re-imported",
        )
    return sig


class KmsEcdsaSigner(Signer):
    """An ``ECC_NIST_P256`` KMS key: DER ECDSA signatures over SHA-256 of the data."""

    def __init__(self, client: Any, key: KmsPublicKey) -> None:
        self._public = _require_sign_key(key, SPEC_P256, ALG_ECDSA_SHA_256, "ECDSA signing")
        self._client = client
        self._key = key

    @classmethod
    def load(cls, client: Any, key_ref: str | KmsKeyRef) -> KmsEcdsaSigner:
        """Fetch and check the key's public key once; it is cached for the signer's life."""
        ref = key_ref if isinstance(key_ref, KmsKeyRef) else KmsKeyRef.parse(key_ref)
        return cls(client, KmsPublicKey.fetch(client, ref))

    @property
    def algorithm(self) -> str:
        return ECDSA_P256_SHA256

    @property
    def ref(self) -> KmsKeyRef:
        return self._key.ref

    def public_key_der(self) -> bytes:
        return self._key.der

    def sign(self, data: bytes) -> bytes:
        digest = hashlib.sha256(data).digest()
        log.debug("KMS Sign (ECDSA_SHA_256 digest) with %s", self._key.ref)
        response = _call(
            self._client,
            "sign",
            self._key.ref,
            KeyId=self._key.ref.key_id,
            Message=digest,
            MessageType="DIGEST",
            SigningAlgorithm=ALG_ECDSA_SHA_256,
        )
        return _check_signature(self._public, _signature(response, self._key.ref), data, self.ref)

    def __repr__(self) -> str:
        return f"KmsEcdsaSigner(key={self._key.ref}, key_id={self.key_id[:16]}...)"


class KmsEd25519Signer(Signer, NoteSigner):
    """An ``ECC_NIST_EDWARDS25519`` KMS key: signs notes as ``name`` and small envelopes."""

    def __init__(self, client: Any, key: KmsPublicKey, name: str) -> None:
        check_note_name(name)
        self._public = _require_sign_key(key, SPEC_ED25519, ALG_ED25519, "checkpoint signing")
        self._client = client
        self._key = key
        self._name = name

    @classmethod
    def load(cls, client: Any, key_ref: str | KmsKeyRef, name: str) -> KmsEd25519Signer:
        """Fetch and check the key's public key once; it is cached for the signer's life."""
        ref = key_ref if isinstance(key_ref, KmsKeyRef) else KmsKeyRef.parse(key_ref)
        check_note_name(name)
        return cls(client, KmsPublicKey.fetch(client, ref), name)

    @property
    def algorithm(self) -> str:
        return ED25519

    @property
    def name(self) -> str:
        return self._name

    @property
    def ref(self) -> KmsKeyRef:
        return self._key.ref

    def public_key_der(self) -> bytes:
        return self._key.der

    def public_key_raw(self) -> bytes:
        return self._public.ed25519_raw()

    def sign(self, data: bytes) -> bytes:
        return self._sign_raw(data, "a DSSE envelope")

    def sign_note(self, msg: bytes) -> bytes:
        return self._sign_raw(msg, "a checkpoint note")

    def _sign_raw(self, data: bytes, what: str) -> bytes:
        if not 0 < len(data) <= MAX_RAW_MESSAGE:
            raise KmsKeyError(
                f"cannot sign {what} of {len(data)} bytes with the Ed25519 KMS key "
                f"{self._key.ref}: KMS signs Ed25519 messages of 1 to {MAX_RAW_MESSAGE} bytes",
                fix="use an ECC_NIST_P256 KMS key as signing.key (it signs a digest, any size) "
                'and keep this Ed25519 key as signing.note_key = "kms:..."',
            )
        log.debug("KMS Sign (ED25519_SHA_512 raw, %d bytes) with %s", len(data), self._key.ref)
        response = _call(
            self._client,
            "sign",
            self._key.ref,
            KeyId=self._key.ref.key_id,
            Message=data,
            MessageType="RAW",
            SigningAlgorithm=ALG_ED25519,
        )
        return _check_signature(self._public, _signature(response, self._key.ref), data, self.ref)

    def __repr__(self) -> str:
        return f"KmsEd25519Signer(key={self._key.ref}, name={self._name!r})"


def kms_signers(
    key_ref: str, note_key_ref: str | None, origin: str, client: Any
) -> tuple[Signer, NoteSigner]:
    """The entry signer and the checkpoint signer for ``signing.key`` / ``signing.note_key``.

    An Ed25519 ``signing.key`` signs both unless ``signing.note_key`` names
    another key. An ECDSA P-256 ``signing.key`` needs an Ed25519
    ``signing.note_key``, since checkpoints are Ed25519 signed notes.
    """
    ref = KmsKeyRef.parse(key_ref)
    note_ref = KmsKeyRef.parse(note_key_ref) if note_key_ref is not None else None
    check_note_name(origin)
    info = KmsPublicKey.fetch(client, ref)
    signer: Signer
    if info.key_spec == SPEC_ED25519:
        ed_signer = KmsEd25519Signer(client, info, origin)
        if note_ref is None or note_ref == ref:
            return ed_signer, ed_signer
        signer = ed_signer
    elif info.key_spec == SPEC_P256:
        signer = KmsEcdsaSigner(client, info)
    else:
        raise KmsKeyError(
            f"signing.key {ref} has key spec {info.key_spec}; only {SPEC_P256} (ECDSA) and "
            f"{SPEC_ED25519} (Ed25519) KMS keys can sign evidence",
            fix=f"create a KMS key with KeySpec={SPEC_ED25519} (or {SPEC_P256} plus an "
            f"Ed25519 signing.note_key) and KeyUsage={USAGE_SIGN}",
        )
    if note_ref is None:
        raise KmsKeyError(
            f"signing.key {ref} is an ECDSA P-256 key, which cannot sign checkpoints: "
            "checkpoints are signed notes and need an Ed25519 key",
            fix=f'set signing.note_key = "kms:<Ed25519 key>" to a KMS key with '
            f"KeySpec={SPEC_ED25519} and KeyUsage={USAGE_SIGN}",
        )
    note_info = info if note_ref == ref else KmsPublicKey.fetch(client, note_ref)
    if note_info.key_spec != SPEC_ED25519:
        raise KmsKeyError(
            f"signing.note_key {note_ref} has key spec {note_info.key_spec}; checkpoints are "
            f"signed notes and need an Ed25519 ({SPEC_ED25519}) key",
            fix=f"create a KMS key with KeySpec={SPEC_ED25519} and KeyUsage={USAGE_SIGN}",
        )
    return signer, KmsEd25519Signer(client, note_info, origin)


def export_public(signer: Signer, note_signer: NoteSigner) -> tuple[bytes, str]:
    """The DSSE signer's SPKI PEM and the note verifier key (``evidence keys export-public``)."""
    vkey = VerifierKey.from_public_key(note_signer.name, note_signer.public_key_raw())
    return signer.public_key_pem(), vkey.to_string()
