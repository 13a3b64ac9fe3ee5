"""Loading the signing keys a run is configured with.

``signing.key`` is a path to a PKCS#8 PEM key (Ed25519 signs both the DSSE
envelopes and the checkpoints). ``kms:`` references are reserved for AWS KMS
signers, which a later version adds behind the same interfaces.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat
from pathlib import Path

from das_evidence.errors import ConfigError, KeyFileError
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import Ed25519Signer, NoteSigner, Signer, generate_ed25519_key

log = logging.getLogger(__name__)

# Read by others, or writable by anyone but the owner. Group read alone is allowed:
# Kubernetes mounts the config Secret 0440 for the pod's fsGroup (deploy/k8s/).
_EXPOSED = stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP


def warn_if_exposed(path: Path, what: str) -> None:
    """Warn, naming the file and the fix, when a secret key file is open to other users.

    A warning, not a refusal: the key still works, and refusing would stop
    evidence collection over a permission; every run says so until it is fixed.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # reading the key reports a missing or unreadable file
    if mode & _EXPOSED:
        log.warning(
            "%s %s has mode %04o: other users can read or change it; run `chmod 600 %s`",
            what,
            path,
            mode,
            path,
        )


def load_signers(
    key_ref: str,
    origin: str,
    note_key_ref: str | None = None,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> tuple[Signer, NoteSigner]:
    """The entry signer and the checkpoint (note) signer.

    ``key_ref`` is a PKCS#8 key file or ``kms:<key>``; ``note_key_ref`` (only
    needed when the entry key cannot sign checkpoints) likewise.
    """
    if key_ref.startswith("kms:") or (note_key_ref or "").startswith("kms:"):
        from das_evidence.aws import make_client
        from das_evidence.manifests.kms import KmsKeyRef, kms_signers

        if not key_ref.startswith("kms:") or not (
            note_key_ref is None or note_key_ref.startswith("kms:")
        ):
            raise ConfigError(
                "signing.key and signing.note_key must both be KMS keys, or both key files",
                fix="use kms: references for both, or local key files for both",
            )
        regions = [KmsKeyRef.parse(r).region for r in (key_ref, note_key_ref) if r]
        arn_region = next((r for r in regions if r), None)
        client = make_client("kms", endpoint_url=endpoint_url, region=arn_region or region)
        return kms_signers(key_ref, note_key_ref, origin, client)
    signer_ = Ed25519Signer.from_file(key_ref, origin)
    warn_if_exposed(Path(key_ref), "signing key")
    if note_key_ref is not None and note_key_ref != key_ref:
        note_signer = Ed25519Signer.from_file(note_key_ref, origin)
        warn_if_exposed(Path(note_key_ref), "note signing key")
        return signer_, note_signer
    return signer_, signer_


def write_key_pair(out: Path, origin: str, *, force: bool = False) -> dict[str, Path]:
    """Write signing.key (0600), signing.pub, signing.vkey and redaction.key into ``out``."""
    paths = {
        "key": out / "signing.key",
        "pub": out / "signing.pub",
        "vkey": out / "signing.vkey",
        "redaction": out / "redaction.key",
    }
    if not force:
        for p in paths.values():
            if p.exists():
                raise ConfigError(
                    f"{p} already exists; refusing to overwrite a key",
                    fix="choose another --out directory, or pass --force if you mean it",
                )
    private_pem, public_pem = generate_ed25519_key()
    signer = Ed25519Signer.from_pem(private_pem, origin)
    vkey = VerifierKey.from_public_key(origin, signer.public_key_raw()).to_string()
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_private(paths["key"], private_pem)
        _write_private(paths["redaction"], secrets.token_hex(32).encode() + b"\n")
        paths["pub"].write_bytes(public_pem)
        paths["vkey"].write_text(vkey + "\n")
    except OSError as e:
        raise KeyFileError(
            f"cannot write the key files into {out}: {e.strerror or e}",
            fix="choose a writable --out directory",
        ) from e
    return paths


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_hmac_key(path: Path) -> bytes:
    """The redaction HMAC key: hex text in a file (written by `evidence keys generate`)."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise KeyFileError(
            f"redaction key {path} does not exist (query_history needs it to HMAC query text)",
            fix="run `evidence keys generate`, or set redaction.hmac_key in evidence.toml",
        ) from None
    except OSError as e:
        raise KeyFileError(f"cannot read redaction key {path}: {e}") from e
    except UnicodeDecodeError:
        raise KeyFileError(
            f"redaction key {path} is not hex text",
            fix="write 64 hex characters, e.g. `openssl rand -hex 32`",
        ) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(
            f"redaction key {path} is not hex text",
            fix="write 64 hex characters, e.g. `openssl rand -hex 32`",
        ) from None
    if len(key) < 16:
        raise KeyFileError(f"redaction key {path} is shorter than 16 bytes", fix="use 32 bytes")
    warn_if_exposed(path, "redaction key")
    return key


def key_fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint_of_file(path: Path) -> tuple[str, str]:
    """(fingerprint, what) of a public key file: SPKI PEM, or a note verifier key."""
    from das_evidence.errors import FormatError
    from das_evidence.manifests.signers import PublicKey

    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(
            f"cannot read {path}: {getattr(e, 'strerror', None) or e}",
            fix="pass a public key file (signing.pub, note.pub or signing.vkey)",
        ) from e
    if text.startswith("-----BEGIN"):
        key = PublicKey.from_file(path)
        return key.fingerprint, f"{key.algorithm} public key"
    try:
        vkey = VerifierKey.from_string(text)
    except FormatError:
        raise KeyFileError(
            f"{path} is neither a PEM public key nor a note verifier key",
            fix="pass signing.pub, note.pub or signing.vkey",
        ) from None
    return (
        PublicKey.from_ed25519_raw(vkey.public_key).fingerprint,
        f"note verifier key {vkey.name}",
    )
