"""C2SP signed notes (``c2sp.org/signed-note``) with Ed25519 keys, as Go's ``sumdb/note``.

A signed note is UTF-8 text ending in a newline, a blank line, then one or more
lines ``— <key name> <base64(4-byte key id || signature)>``. The text is what is
signed; it must be ignored unless a trusted key's signature verifies. Verifier
keys are published as ``<name>+<8 hex key id>+<base64(0x01 || 32-byte key)>``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from das_evidence.errors import FormatError, KeyFileError, SignatureError
from das_evidence.manifests._encoding import (
    b64decode_strict,
    b64encode,
    check_key_name,
    check_no_controls,
)
from das_evidence.manifests.signers import NoteSigner

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, U+0020 SPACE

# The spec asks verifiers to accept at least 16 signatures and to cap the count
# or size; these caps are far above what a checkpoint with witnesses needs.
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100

_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)


def typed_key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public_key)[:4]``: the key id of a signed-note key
    of any signature type (0x01 Ed25519 note keys, 0x04 cosignature/v1 witness keys)."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key
    ).digest()[:4]


def note_key_id(name: str, public_key: bytes) -> bytes:
    """The key id of an Ed25519 note key (signature type 0x01)."""
    return typed_key_id(name, ALG_ED25519, public_key)


def split_key_string(text: str, what: str) -> tuple[str, bytes, bytes]:
    """``<name>+<hex8>+<base64(type || key)>`` to (name, key id, typed key bytes).

    The form every signed-note key string shares; the caller checks the type byte.
    """
    name, sep1, rest = text.partition("+")
    key_id_hex, sep2, key_b64 = rest.partition("+")
    if not (sep1 and sep2):
        raise FormatError(
            f"{what} {text[:60]!r} is not of the form <name>+<8 hex digits>+<base64 key>"
        )
    check_key_name(name)
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise FormatError(f"{what} {name!r}: key id {key_id_hex!r} is not 8 hex digits")
    typed = b64decode_strict(key_b64, f"{what} {name!r} public key")
    return name, bytes.fromhex(key_id_hex), typed


@dataclass(frozen=True)
class VerifierKey:
    """A trusted Ed25519 note key: name, 4-byte key id and 32-byte public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise FormatError(
                f"verifier key {self.name!r}: an Ed25519 public key is 32 bytes, "
                f"not {len(self.public_key)}"
            )
        if self.key_id != note_key_id(self.name, self.public_key):
            raise FormatError(
                f"verifier key {self.name!r}: key id {self.key_id.hex()} does not match "
                "the name and public key"
            )

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> VerifierKey:
        return cls(name, note_key_id(name, public_key), public_key)

    @classmethod
    def from_string(cls, text: str) -> VerifierKey:
        """Parse the Go ``sumdb/note`` form ``<name>+<hex8>+<base64(0x01 || key)>``."""
        name, key_id, typed_key = split_key_string(text, "verifier key")
        if not typed_key or typed_key[0] != ALG_ED25519:
            alg = f"0x{typed_key[0]:02x}" if typed_key else "missing"
            raise FormatError(
                f"verifier key {name!r}: signature type {alg} is not supported, only Ed25519 (0x01)"
            )
        return cls(name, key_id, typed_key[1:])

    @classmethod
    def from_file(cls, path: str | Path) -> VerifierKey:
        """Read a file holding one verifier key line (like ``signing.vkey``)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise KeyFileError(
                f"cannot read verifier key file {p}: {e}",
                fix="pass the signing.vkey written by `evidence keys generate`",
            ) from e
        try:
            return cls.from_string(text.strip())
        except FormatError as e:
            raise KeyFileError(
                f"verifier key file {p}: {e.message}",
                fix="pass the signing.vkey written by `evidence keys generate`",
            ) from e

    def to_string(self) -> str:
        key_b64 = b64encode(bytes([ALG_ED25519]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{key_b64}"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note. Unverified until :func:`verify_note` says so."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.key_id) != 4:
            raise FormatError(f"note signature by {self.name!r}: key id must be 4 bytes")
        if not self.signature:
            raise FormatError(f"note signature by {self.name!r} is empty")

    def to_line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class SignedNote:
    """A note text (ending in a newline) and its signature lines, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not self.signatures:
            raise FormatError("a signed note needs at least one signature")
        if len(self.signatures) > MAX_SIGNATURES:
            raise FormatError(f"note has more than {MAX_SIGNATURES} signatures")

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedNote:
        """Parse a signed note strictly; signatures are not verified here."""
        if len(data) > MAX_NOTE_BYTES:
            raise FormatError(f"signed note is larger than {MAX_NOTE_BYTES} bytes")
        try:
            msg = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FormatError("signed note is not valid UTF-8") from e
        check_no_controls(msg, "signed note")
        # The text is separated from the signatures by the last blank line.
        split = msg.rfind("\n\n")
        if split < 0:
            raise FormatError("signed note has no blank line before its signatures")
        text, block = msg[: split + 1], msg[split + 2 :]
        if not block.endswith("\n"):
            raise FormatError("signed note does not end with a newline after its signatures")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise FormatError(f"signed note has more than {MAX_SIGNATURES} signatures")
        return cls(text, tuple(_parse_signature_line(line) for line in lines))

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.to_line() for s in self.signatures)).encode("utf-8")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise FormatError("note text must end with a newline")
    check_no_controls(text, "note text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise FormatError("note text is not encodable as UTF-8") from e


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise FormatError(
            f"note signature line {line[:40]!r} does not start with an em dash and a space"
        )
    name, sep, sig_b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep or not sig_b64:
        raise FormatError(f"note signature line {line[:40]!r} has no signature")
    check_key_name(name)
    blob = b64decode_strict(sig_b64, f"note signature by {name!r}")
    if len(blob) < 5:
        raise FormatError(f"note signature by {name!r} is shorter than a key id and a signature")
    return NoteSignature(name, blob[:4], blob[4:])


def sign_note(text: str, signer: NoteSigner) -> SignedNote:
    """Sign ``text`` (which must end in a newline) with an Ed25519 note key."""
    _check_text(text)
    key_id = note_key_id(signer.name, signer.public_key_raw())
    signature = signer.sign_note(text.encode("utf-8"))
    return SignedNote(text, (NoteSignature(signer.name, key_id, signature),))


def verify_note(note: SignedNote, key: VerifierKey) -> None:
    """Require a valid signature by ``key``; raise ``SignatureError`` otherwise.

    Signatures by other keys (a different name or key id) are ignored, as the
    spec requires. A signature that claims ``key``'s name and id but fails to
    verify rejects the whole note (the spec's SHOULD).
    """
    public = Ed25519PublicKey.from_public_bytes(key.public_key)
    msg = note.text.encode("utf-8")
    verified = False
    for sig in note.signatures:
        if sig.name != key.name or sig.key_id != key.key_id:
            continue
        try:
            if len(sig.signature) != 64:
                raise InvalidSignature
            public.verify(sig.signature, msg)
        except InvalidSignature as e:
            raise SignatureError(
                f"note signature by {key.name} ({key.key_id.hex()}) does not verify: "
                "the note text or the signature was changed"
            ) from e
        verified = True
    if not verified:
        found = ", ".join(f"{s.name} ({s.key_id.hex()})" for s in note.signatures)
        raise SignatureError(
            f"note is not signed by the trusted key {key.name} ({key.key_id.hex()}); "
            f"it carries signatures by: {found}"
        )
