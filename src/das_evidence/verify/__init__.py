"""The verifier: bytes in, findings out. ``verify_target`` picks the reader for a target."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from das_evidence.errors import ConfigError, EvidenceError, StoreError
from das_evidence.evidence_store import open_store
from das_evidence.manifests.note import MAX_NOTE_BYTES, VerifierKey
from das_evidence.manifests.signers import PublicKey
from das_evidence.verify.archive import Trust, check_archive, load_archive
from das_evidence.verify.findings import Finding, Report
from das_evidence.verify.keys import load_keys_file, merged_keys
from das_evidence.verify.trusted import TrustedCheckpoint

__all__ = [
    "Finding",
    "Report",
    "Trust",
    "TrustedCheckpoint",
    "check_archive",
    "load_archive",
    "load_trusted",
    "verify_target",
]

_TRUSTED_FIX = (
    "pass a signed checkpoint saved earlier (a copy of log/checkpoint or "
    "log/checkpoints/<n>), or an earlier pack .zip of the same log"
)


def load_trusted(paths: Sequence[Path], flag: str = "--trusted") -> tuple[TrustedCheckpoint, ...]:
    """Read checkpoints seen before: signed checkpoint files, or packs (their ``checkpoint``).

    Only the form is checked here; the signature and origin are checked against
    the target's keys by the verifier. A file that is not one is a usage error.
    """
    out = []
    for path in paths:
        try:
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as z:
                    info = z.getinfo("checkpoint")
                    if info.file_size > MAX_NOTE_BYTES:
                        raise ValueError(f"its checkpoint is larger than {MAX_NOTE_BYTES} bytes")
                    data = z.read(info)
                source = f"{path} (its checkpoint)"
            else:
                with open(path, "rb") as f:
                    data = f.read(MAX_NOTE_BYTES + 1)
                source = str(path)
        except KeyError:
            raise ConfigError(
                f"{flag} {path} is a zip without a checkpoint member", fix=_TRUSTED_FIX
            ) from None
        except (OSError, ValueError, zipfile.BadZipFile, RuntimeError) as e:
            raise ConfigError(f"cannot read {flag} {path}: {e}", fix=_TRUSTED_FIX) from None
        trusted = TrustedCheckpoint(source, data)
        try:
            trusted.peek()
        except EvidenceError as e:
            raise ConfigError(
                f"{flag} {path} is not a signed checkpoint: {e.message}", fix=_TRUSTED_FIX
            ) from None
        out.append(trusted)
    return tuple(out)


def load_trust(
    pubs: Sequence[Path], vkey: str | None, origin: str | None, keys_file: Path | None = None
) -> Trust:
    """The keys to verify with; ``keys_file`` (``--keys``) also says which key covers
    which log indexes (:mod:`das_evidence.verify.keys`)."""
    ranges = load_keys_file(keys_file) if keys_file is not None else None
    if not pubs and ranges is None:
        raise ConfigError(
            "no --pub given", fix="pass the signer's public key: --pub signing.pub (or --keys)"
        )
    keys = merged_keys(ranges, [PublicKey.from_file(p) for p in pubs])
    note_key = None
    if vkey is not None:
        text = vkey
        candidate = Path(vkey)
        if "+" not in vkey or candidate.is_file():
            try:
                text = candidate.read_text().strip()
            except OSError as e:
                raise ConfigError(f"cannot read --vkey file {vkey}: {e}") from e
        note_key = VerifierKey.from_string(text)
    elif ranges is not None:
        note_key = ranges.newest_note_key(origin)
    return Trust(keys=keys, note_key=note_key, origin=origin, ranges=ranges)


def auditor_trust(
    pubs: Sequence[Path],
    vkey: str | None,
    origin: str | None,
    keys_file: Path | None = None,
    trusted: Sequence[Path] = (),
    checkpoint: tuple[int, bytes] | None = None,
) -> Trust:
    """Everything an auditor's command line trusts: the keys (:func:`load_trust`), the
    checkpoints seen before (``--trusted`` files) and one as (size, root) (a witness's)."""
    return replace(
        load_trust(pubs, vkey, origin, keys_file),
        trusted=load_trusted(trusted),
        checkpoint=checkpoint,
    )


def verify_target(
    target: str,
    *,
    pubs: Sequence[Path],
    vkey: str | None = None,
    origin: str | None = None,
    endpoint_url: str | None = None,
    lock_mode: str = "COMPLIANCE",
    trusted: Sequence[Path] = (),
    progress: Callable[[int, int, str], None] | None = None,
    checkpoint: tuple[int, bytes] | None = None,
    keys_file: Path | None = None,
) -> Report:
    """Verify an archive directory, an ``s3://`` archive or a pack (``.zip``).

    ``trusted`` are checkpoints seen before (files or packs): the target must extend
    each. ``checkpoint`` is one seen before as (size, root), e.g. a witness's: the
    target must extend it too. ``progress(done, total, what)`` hears of each object
    read and each entry checked.
    """
    trust = auditor_trust(pubs, vkey, origin, keys_file, trusted, checkpoint)
    if target.startswith("s3://"):
        from das_evidence.evidence_store.s3 import S3Store
        from das_evidence.verify.s3 import check_s3, load_s3_archive

        s3 = S3Store(target, endpoint_url=endpoint_url, lock_mode=lock_mode)
        snap, facts = load_s3_archive(s3, progress)
        report = check_archive(snap, trust, progress)
        check_s3(snap, facts, report, lock_mode=lock_mode)
        return report
    if target.endswith(".zip"):
        from das_evidence.verify.pack import check_pack, read_pack

        return check_pack(read_pack(Path(target)), trust)
    path = Path(target)
    if "://" not in target and not path.is_dir():
        raise StoreError(f"{target} is not a directory", fix="pass the archive directory")
    store = open_store(target)
    return check_archive(load_archive(store, progress), trust, progress)
