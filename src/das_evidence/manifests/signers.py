"""Signing keys and trusted public keys: the only module that touches key material.

Two small contracts, so that a later KMS backend can implement both:

- :class:`Signer` signs DSSE envelopes and pack checksums with Ed25519 (64 raw
  bytes) or ECDSA P-256 over SHA-256 (DER signature). Its ``key_id`` is the hex
  SHA-256 of its DER SubjectPublicKeyInfo (ARCHIVE-FORMAT section 2).
- :class:`NoteSigner` signs C2SP signed notes (checkpoints) with Ed25519.

:class:`PublicKey` is what a verifier trusts. Loading from files is the only IO
here and every failure is a ``KeyFileError`` that names the file and the fix.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from das_evidence.errors import ConfigError, FormatError, KeyFileError
from das_evidence.manifests._encoding import check_key_name

ED25519 = "ed25519"
ECDSA_P256_SHA256 = "ecdsa-p256-sha256"

_GENERATE_FIX = "run `evidence keys generate` to create a key pair, or pass the right file"


def _spki_der(key: Ed25519PublicKey | ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


FINGERPRINT_PREFIX = "SHA256:"
#: Reproduces a fingerprint by hand: the hex after ``SHA256:`` is what this prints.
FINGERPRINT_COMMAND = "openssl pkey -pubin -in {path} -outform DER | sha256sum"


def fingerprint(der: bytes) -> str:
    """The one key fingerprint: ``SHA256:`` and the hex SHA-256 of the DER
    SubjectPublicKeyInfo (see :data:`FINGERPRINT_COMMAND`). For the entry key it
    is the DSSE ``keyid`` with the prefix."""
    return FINGERPRINT_PREFIX + hashlib.sha256(der).hexdigest()


def _der_to_pem(der: bytes) -> bytes:
    key = serialization.load_der_public_key(der)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read_key_file(path: str | Path, kind: str) -> bytes:
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError as e:
        raise KeyFileError(f"{kind} file {p} does not exist", fix=_GENERATE_FIX) from e
    except OSError as e:
        raise KeyFileError(
            f"cannot read {kind} file {p}: {e.strerror or e}",
            fix="check the path and the file permissions",
        ) from e


class Signer(ABC):
    """Signs DSSE envelopes and auditor-pack checksums."""

    @property
    @abstractmethod
    def algorithm(self) -> str:
        """``"ed25519"`` or ``"ecdsa-p256-sha256"``."""

    @abstractmethod
    def public_key_der(self) -> bytes:
        """The DER SubjectPublicKeyInfo of the signing key."""

    @abstractmethod
    def sign(self, data: bytes) -> bytes:
        """Ed25519: 64 raw bytes. ECDSA P-256: DER signature over SHA-256 of ``data``."""

    @property
    def key_id(self) -> str:
        """Hex SHA-256 of the DER SubjectPublicKeyInfo: the DSSE ``keyid``."""
        return hashlib.sha256(self.public_key_der()).hexdigest()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key_der())

    def public_key_pem(self) -> bytes:
        return _der_to_pem(self.public_key_der())


class NoteSigner(ABC):
    """Signs C2SP signed notes with Ed25519 under a key name (the log's origin)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The note key name, e.g. ``evidence.example.org/acme-prod``."""

    @abstractmethod
    def public_key_raw(self) -> bytes:
        """The 32-byte Ed25519 public key."""

    @abstractmethod
    def sign_note(self, msg: bytes) -> bytes:
        """A 64-byte Ed25519 signature over the note text."""


def check_note_name(name: str) -> None:
    """A note signer's name must be a valid note key name (it is the log origin)."""
    try:
        check_key_name(name)
    except FormatError as e:
        raise ConfigError(
            f"cannot sign notes as {name!r}: {e.message}",
            fix="use the log origin as the key name, e.g. evidence.example.org/acme-prod",
        ) from e


class Ed25519Signer(Signer, NoteSigner):
    """A local Ed25519 key: signs envelopes and notes."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str) -> None:
        check_note_name(name)
        self._key = private_key
        self._name = name
        self._public = private_key.public_key()

    @classmethod
    def from_pem(cls, data: bytes, name: str) -> Ed25519Signer:
        """Load an unencrypted PKCS#8 PEM Ed25519 private key."""
        return cls(_load_ed25519(data, "private key"), name)

    @classmethod
    def from_file(cls, path: str | Path, name: str) -> Ed25519Signer:
        data = _read_key_file(path, "private key")
        return cls(_load_ed25519(data, f"private key file {path}"), name)

    @property
    def algorithm(self) -> str:
        return ED25519

    @property
    def name(self) -> str:
        return self._name

    def public_key_der(self) -> bytes:
        return _spki_der(self._public)

    def public_key_raw(self) -> bytes:
        return self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def sign_note(self, msg: bytes) -> bytes:
        return self._key.sign(msg)

    def __repr__(self) -> str:
        return f"Ed25519Signer(name={self._name!r}, key_id={self.key_id[:16]}...)"


class EcdsaP256Signer(Signer):
    """A local ECDSA P-256 key: signs envelopes (DER signatures over SHA-256)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise KeyFileError(
                f"ECDSA key is on curve {private_key.curve.name}, only P-256 is supported",
                fix=_GENERATE_FIX,
            )
        self._key = private_key

    @classmethod
    def from_pem(cls, data: bytes) -> EcdsaP256Signer:
        """Load an unencrypted PKCS#8 (or SEC1) PEM EC P-256 private key."""
        return cls(_load_ecdsa(data, "private key"))

    @classmethod
    def from_file(cls, path: str | Path) -> EcdsaP256Signer:
        data = _read_key_file(path, "private key")
        return cls(_load_ecdsa(data, f"private key file {path}"))

    @property
    def algorithm(self) -> str:
        return ECDSA_P256_SHA256

    def public_key_der(self) -> bytes:
        return _spki_der(self._key.public_key())

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))

    def __repr__(self) -> str:
        return f"EcdsaP256Signer(key_id={self.key_id[:16]}...)"


def _load_private_key(data: bytes, source: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError as e:
        raise KeyFileError(
            f"{source} is encrypted with a password, which is not supported",
            fix="store the key unencrypted in a secret store, or use a KMS key",
        ) from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"{source} is not a PEM private key", fix=_GENERATE_FIX) from e


def _load_ed25519(data: bytes, source: str) -> Ed25519PrivateKey:
    key = _load_private_key(data, source)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{source} holds {_kind(key)}, not an Ed25519 key", fix=_GENERATE_FIX)
    return key


def _load_ecdsa(data: bytes, source: str) -> ec.EllipticCurvePrivateKey:
    key = _load_private_key(data, source)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(
            f"{source} holds {_kind(key)}, not an ECDSA P-256 key", fix=_GENERATE_FIX
        )
    return key


def _kind(key: object) -> str:
    return f"a {type(key).__name__.removeprefix('_')}"


@dataclass(frozen=True)
class PublicKey:
    """A trusted Ed25519 or ECDSA P-256 public key, held as DER SubjectPublicKeyInfo."""

    der: bytes
    _key: Ed25519PublicKey | ec.EllipticCurvePublicKey = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        try:
            key = serialization.load_der_public_key(self.der)
        except (ValueError, UnsupportedAlgorithm) as e:
            raise KeyFileError(
                "public key is not a DER SubjectPublicKeyInfo", fix=_GENERATE_FIX
            ) from e
        object.__setattr__(self, "_key", _accept_public_key(key, "public key"))

    @classmethod
    def from_pem(cls, data: bytes) -> PublicKey:
        return cls(_pem_to_der(data, "public key"))

    @classmethod
    def from_ed25519_raw(cls, raw: bytes) -> PublicKey:
        """The SubjectPublicKeyInfo of a raw 32-byte Ed25519 key (a note verifier key's)."""
        try:
            key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as e:
            raise KeyFileError("not a 32-byte Ed25519 public key", fix=_GENERATE_FIX) from e
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(der)

    @classmethod
    def from_file(cls, path: str | Path) -> PublicKey:
        return cls(_pem_to_der(_read_key_file(path, "public key"), f"public key file {path}"))

    @property
    def algorithm(self) -> str:
        return ED25519 if isinstance(self._key, Ed25519PublicKey) else ECDSA_P256_SHA256

    @property
    def key_id(self) -> str:
        """Hex SHA-256 of the DER SubjectPublicKeyInfo."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.der)

    def to_pem(self) -> bytes:
        return _der_to_pem(self.der)

    def ed25519_raw(self) -> bytes:
        """The 32 raw bytes of an Ed25519 key, e.g. to publish a note verifier key."""
        if not isinstance(self._key, Ed25519PublicKey):
            raise KeyFileError(
                "an ECDSA key cannot sign notes; checkpoints need an Ed25519 key",
                fix=_GENERATE_FIX,
            )
        return self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True if ``signature`` is valid over ``data`` for this key; never raises."""
        try:
            if isinstance(self._key, Ed25519PublicKey):
                if len(signature) != 64:
                    return False
                self._key.verify(signature, data)
            else:
                self._key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


def _pem_to_der(data: bytes, source: str) -> bytes:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyFileError(
            f"{source} is not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')",
            fix="pass the signing.pub written by `evidence keys generate`",
        ) from e
    return _spki_der(_accept_public_key(key, source))


def _accept_public_key(key: object, source: str) -> Ed25519PublicKey | ec.EllipticCurvePublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return key
        raise KeyFileError(
            f"{source} is an ECDSA key on {key.curve.name}; only P-256 is supported",
            fix=_GENERATE_FIX,
        )
    raise KeyFileError(
        f"{source} is {_kind(key)}; only Ed25519 and ECDSA P-256 keys are supported",
        fix=_GENERATE_FIX,
    )


def generate_ed25519_key() -> tuple[bytes, bytes]:
    """A new key pair: (unencrypted PKCS#8 PEM private key, SPKI PEM public key)."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem
