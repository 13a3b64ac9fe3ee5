"""The run's verified log: what ``evidence run`` keeps outside the archive between runs.

After a run has verified the archive, it keeps, beside its last-run record
(``<last_run_file>.log``), the signed checkpoint it verified and the statements
of the entries that checkpoint covers: the first line is the checkpoint note in
standard base64, then one line per entry, the entry's statement (the DSSE
payload, whose leaf hash is the Merkle leaf) in standard base64.

The next run reads the log only from there: the entries before come from this
file, the store's checkpoint must be a consistent extension of the one kept
(an RFC 9162 consistency proof over these leaves and the new entries'), and only
the entries after it are read and verified. So a nightly run's requests do not
grow with the archive's age; a full ``evidence verify`` still reads everything.

The file is trusted only when its checkpoint verifies with the run's own note
key and origin and its statements' Merkle tree reproduces that checkpoint's
size and root; anything else (no file, damaged, another log, a key change) is
a full read, and the run's JSON line says why.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from das_evidence.errors import ConfigError, EvidenceError
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.merkle import MerkleTree, leaf_hash
from das_evidence.manifests.note import VerifierKey

log = logging.getLogger(__name__)

SUFFIX = ".log"


@dataclass(frozen=True)
class VerifiedLog:
    """The checkpoint a run verified and the statements of the entries it covers."""

    note: bytes
    checkpoint: Checkpoint
    statements: tuple[bytes, ...]

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def leaves(self) -> list[bytes]:
        return [leaf_hash(s) for s in self.statements]


def log_path(last_run_file: Path) -> Path:
    """Where the verified log of ``last_run_file`` is kept."""
    return last_run_file.with_name(last_run_file.name + SUFFIX)


def load_verified(
    last_run_file: Path | None, note_key: VerifierKey, origin: str
) -> tuple[VerifiedLog | None, str]:
    """The verified log, or None and why the run reads the whole log instead."""
    if last_run_file is None:
        return None, "no [status] last_run_file to keep the verified log in"
    path = log_path(last_run_file)
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return None, f"no verified log at {path} (a first run)"
    except OSError as e:
        return None, f"cannot read {path}: {e.strerror or e}"
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        decoded = [base64.b64decode(line, validate=True) for line in lines]
    except (binascii.Error, ValueError):
        return None, f"{path} is not base64 lines"
    if not decoded:
        return None, f"{path} is empty"
    try:
        cp = open_checkpoint(decoded[0], note_key, origin)
    except EvidenceError as e:
        return None, f"the checkpoint in {path} does not verify: {e.message}"
    statements = tuple(decoded[1:])
    tree = MerkleTree([leaf_hash(s) for s in statements])
    if tree.size != cp.size or tree.root != cp.root_hash:
        return None, f"the entries in {path} do not reproduce its checkpoint {cp.size}"
    return VerifiedLog(decoded[0], cp, statements), ""


def write_verified(last_run_file: Path, note: bytes, statements: Sequence[bytes]) -> None:
    """Replace the verified log atomically; raises :class:`ConfigError` when it cannot."""
    data = b"".join(base64.b64encode(x) + b"\n" for x in (note, *statements))
    write_atomic(log_path(last_run_file), data)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _unwritable(path, e) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _unwritable(path, e) from e
        raise


def _unwritable(path: Path, e: OSError) -> ConfigError:
    return ConfigError(
        f"cannot write the last-run record {path}: {e.strerror or e}",
        fix="point [status] last_run_file at a writable path, or remove it",
    )
