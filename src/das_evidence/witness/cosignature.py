"""C2SP ``tlog-cosignature`` (``c2sp.org/tlog-cosignature``): ``cosignature/v1`` lines.

A witness cosigns a checkpoint by adding one more signed-note signature line:

    — <witness name> base64(key id || timestamp || signature)

- key id: ``SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]``
  (0x04 is the cosignature/v1 signature type);
- timestamp: 8 bytes, big-endian, Unix seconds when the witness cosigned;
- signature: Ed25519 over ``"cosignature/v1\\ntime <timestamp>\\n" || <note text>``,
  the note text being the checkpoint body (origin, size, root and extension lines).

Verifier keys are ``<name>+<8 hex key id>+<base64(0x04 || public key)>``. A
witness's private key file holds ``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x04 || seed)>``
(the Go ``sumdb/note`` private key layout, with the cosignature type byte).

Everything here is pure: bytes and a timestamp in, lines or errors out.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from das_evidence.errors import ConfigError, FormatError, KeyFileError, SignatureError
from das_evidence.manifests._encoding import b64decode_strict, b64encode, check_key_name
from das_evidence.manifests.note import NoteSignature, SignedNote, split_key_string, typed_key_id

ALG_COSIGNATURE_V1 = 0x04
COSIGNATURE_SIZE = 8 + 64
PRIVATE_PREFIX = "PRIVATE+KEY+"
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || 0x04 || public_key)[:4]``."""
    return typed_key_id(name, ALG_COSIGNATURE_V1, public_key)


def cosigned_message(note_text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: a header naming the time, then the checkpoint body."""
    if not 0 <= timestamp < 1 << 63:
        raise FormatError(f"cosignature timestamp {timestamp} is out of range")
    return f"cosignature/v1\ntime {timestamp}\n".encode() + note_text.encode("utf-8")


@dataclass(frozen=True)
class CosignerKey:
    """A witness's public key: name, key id and 32-byte Ed25519 key (signature type 0x04)."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise FormatError(f"witness key {self.name!r}: an Ed25519 key is 32 bytes")
        if self.key_id != cosignature_key_id(self.name, self.public_key):
            raise FormatError(
                f"witness key {self.name!r}: key id {self.key_id.hex()} does not match "
                "the name and public key"
            )

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> CosignerKey:
        return cls(name, cosignature_key_id(name, public_key), public_key)

    @classmethod
    def from_string(cls, text: str) -> CosignerKey:
        """Parse ``<name>+<hex8>+<base64(0x04 || key)>``."""
        name, key_id, typed = split_key_string(text.strip(), "witness key")
        if len(typed) != 33 or typed[0] != ALG_COSIGNATURE_V1:
            raise FormatError(
                f"witness key {name!r} is not a cosignature/v1 key "
                "(base64 of 0x04 and a 32-byte Ed25519 key)"
            )
        return cls(name, key_id, typed[1:])

    @classmethod
    def load(cls, value: str) -> CosignerKey:
        """A verifier key given as the string itself or as a file holding it."""
        path = Path(value)
        if "+" not in value or path.is_file():
            try:
                value = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise KeyFileError(
                    f"cannot read witness verifier key file {value}: {e}",
                    fix="pass the witness.vkey written by `evidence witness keygen`",
                ) from e
        return cls.from_string(value)

    def to_string(self) -> str:
        return (
            f"{self.name}+{self.key_id.hex()}+"
            f"{b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key)}"
        )


@dataclass(frozen=True)
class WitnessSigner:
    """A witness's private key and name: makes cosignature/v1 lines."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @classmethod
    def generate(cls, name: str) -> WitnessSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> CosignerKey:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return CosignerKey.from_public_key(self.name, raw)

    def to_string(self) -> str:
        seed = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        v = self.verifier
        return (
            f"{PRIVATE_PREFIX}{self.name}+{v.key_id.hex()}+"
            f"{b64encode(bytes([ALG_COSIGNATURE_V1]) + seed)}"
        )

    @classmethod
    def from_string(cls, text: str) -> WitnessSigner:
        if not text.startswith(PRIVATE_PREFIX):
            raise FormatError(f"a witness private key starts with {PRIVATE_PREFIX}")
        name, sep1, rest = text[len(PRIVATE_PREFIX) :].strip().partition("+")
        key_id_hex, sep2, key_b64 = rest.partition("+")
        if not (sep1 and sep2) or not _KEY_ID_HEX.fullmatch(key_id_hex):
            raise FormatError("a witness private key is PRIVATE+KEY+<name>+<hex8>+<base64>")
        check_key_name(name)
        typed = b64decode_strict(key_b64, f"witness private key {name!r}")
        if len(typed) != 33 or typed[0] != ALG_COSIGNATURE_V1:
            raise FormatError(f"witness private key {name!r} is not a cosignature/v1 key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(typed[1:]))
        if signer.verifier.key_id != bytes.fromhex(key_id_hex):
            raise FormatError(f"witness private key {name!r}: the key id does not match")
        return signer

    @classmethod
    def from_file(cls, path: Path) -> WitnessSigner:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise KeyFileError(
                f"cannot read witness key {path}: {e}",
                fix="pass the witness.key written by `evidence witness keygen`",
            ) from e
        try:
            return cls.from_string(text)
        except FormatError as e:
            raise KeyFileError(
                f"witness key {path}: {e.message}",
                fix="pass the witness.key written by `evidence witness keygen`",
            ) from e

    def write(self, directory: Path, *, force: bool = False) -> tuple[Path, Path]:
        """Write ``witness.key`` (0600) and ``witness.vkey`` into ``directory``."""
        key, vkey = directory / "witness.key", directory / "witness.vkey"
        for p in (key, vkey):
            if p.exists() and not force:
                raise ConfigError(f"{p} exists", fix="choose another --out, or pass --force")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.to_string() + "\n")
            vkey.write_text(self.verifier.to_string() + "\n", encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot write witness keys into {directory}: {e}") from e
        return key, vkey

    def cosign(self, note_text: str, timestamp: int) -> NoteSignature:
        """The cosignature/v1 line over ``note_text`` at ``timestamp`` (Unix seconds)."""
        signature = self.private_key.sign(cosigned_message(note_text, timestamp))
        return NoteSignature(
            self.name, self.verifier.key_id, struct.pack(">Q", timestamp) + signature
        )


def add_cosignature(note_bytes: bytes, signature: NoteSignature) -> bytes:
    """``note_bytes`` with ``signature`` appended (replacing an older one by the same key)."""
    note = SignedNote.from_bytes(note_bytes)
    kept = tuple(
        s
        for s in note.signatures
        if not (s.name == signature.name and s.key_id == signature.key_id)
    )
    return SignedNote(note.text, (*kept, signature)).to_bytes()


def verify_cosignature(note: SignedNote, key: CosignerKey) -> int:
    """Require a valid cosignature/v1 by ``key`` on ``note``; return its timestamp.

    Signatures by other keys are ignored, as signed notes require; a line that
    claims ``key``'s name and id but does not verify rejects the note.
    """
    public = Ed25519PublicKey.from_public_bytes(key.public_key)
    found: int | None = None
    for sig in note.signatures:
        if sig.name != key.name or sig.key_id != key.key_id:
            continue
        if len(sig.signature) != COSIGNATURE_SIZE:
            raise SignatureError(
                f"cosignature by {key.name} is {len(sig.signature)} bytes, "
                f"not {COSIGNATURE_SIZE} (timestamp and Ed25519 signature)"
            )
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        try:
            public.verify(sig.signature[8:], cosigned_message(note.text, timestamp))
        except (InvalidSignature, FormatError) as e:
            raise SignatureError(
                f"cosignature by witness {key.name} ({key.key_id.hex()}) does not verify: "
                "the checkpoint or the cosignature was changed"
            ) from e
        found = timestamp if found is None else max(found, timestamp)
    if found is None:
        raise SignatureError(
            f"the checkpoint carries no cosignature by witness {key.name} ({key.key_id.hex()})"
        )
    return found
