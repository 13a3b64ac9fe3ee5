"""The run's verified log: what ``evidence run`` keeps outside the archive between runs.

After a run has verified the archive, it keeps, beside its last-run record
(``<last_run_file>.log``), the signed checkpoint it verified and the statements
of the entries that checkpoint covers: the first line is the checkpoint note in
standard base64, then one line per entry, the entry's statement (the DSSE
payload, whose leaf hash is the Merkle leaf) in standard base64, and last a
summary of those entries (each stream's head, the entry naming each file, the
files accounting entries name, the latest signed retention) as a DSSE envelope
signed by the run's entry key under its own payload type (:data:`STATE_TYPE`).

The next run reads the log only from there: the entries before come from this
file, the store's checkpoint must be a consistent extension of the one kept
(an RFC 9162 consistency proof over these leaves and the new entries'), and only
the entries after it are read and verified. So a nightly run's requests do not
grow with the archive's age; a full ``evidence verify`` still reads everything.
The statements are hashed, not parsed: what the run needs of them comes from the
summary, and a statement is parsed only when asked for (a stream's head, say).

The file is trusted only when its checkpoint verifies with the run's own note
key and origin, its statements' Merkle tree reproduces that checkpoint's size
and root, and its summary verifies with the run's own entry key for that
checkpoint; anything else (no file, damaged, another log, a key change) is a
full read, and the run's JSON line says why. A file without a summary line
(written before there was one) is used after parsing every statement.

``evidence collect`` starts from the same file when ``[status] last_run_file``
keeps one (:func:`collect_from_verified`), trusted the same way, but never
writes it: it verifies nothing. Without it, collect reads the whole log.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from das_evidence.errors import ConfigError, EvidenceError, FormatError
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.dsse import Envelope, sign_envelope, verify_envelope
from das_evidence.manifests.log import KnownLog
from das_evidence.manifests.merkle import MerkleTree, leaf_hash
from das_evidence.manifests.note import SignedNote, VerifierKey
from das_evidence.manifests.signers import PublicKey, Signer
from das_evidence.manifests.statement import canonical_json

if TYPE_CHECKING:
    from das_evidence.services import Services

log = logging.getLogger(__name__)

SUFFIX = ".log"


STATE_TYPE = "application/vnd.das-evidence.verified-log-summary+json"


@dataclass(frozen=True)
class VerifiedLog:
    """The checkpoint a run verified and the entries it covers (:class:`KnownLog`)."""

    note: bytes
    checkpoint: Checkpoint
    known: KnownLog
    # False for a file written before it had a summary line: the next run writes one.
    summarized: bool = True

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def statements(self) -> Sequence[bytes]:
        return self.known.statements

    @property
    def leaves(self) -> Sequence[bytes]:
        return self.known.leaves


def log_path(last_run_file: Path) -> Path:
    """Where the verified log of ``last_run_file`` is kept."""
    return last_run_file.with_name(last_run_file.name + SUFFIX)


def load_verified(
    last_run_file: Path | None,
    note_key: VerifierKey,
    origin: str,
    keys: Sequence[PublicKey] = (),
) -> tuple[VerifiedLog | None, str]:
    """The verified log, or None and why the run reads the whole log instead.

    ``keys``: the run's own entry key(s), which sign the summary line; without a
    summary line (a file written before there was one) the statements are parsed."""
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
        # strict_mode: the alphabet only, padding only at the end (as validate=True), and
        # without its regular expression: thousands of lines.
        decoded = [binascii.a2b_base64(line, strict_mode=True) for line in lines]
    except (binascii.Error, ValueError):
        return None, f"{path} is not base64 lines"
    if not decoded:
        return None, f"{path} is empty"
    try:
        cp = open_checkpoint(decoded[0], note_key, origin)
    except EvidenceError as e:
        return None, f"the checkpoint in {path} does not verify: {e.message}"
    summary = _summary_envelope(decoded[-1]) if len(decoded) > 1 else None
    statements = decoded[1:-1] if summary is not None else decoded[1:]
    leaves = [leaf_hash(s) for s in statements]
    tree = MerkleTree(leaves)
    if tree.size != cp.size or tree.root != cp.root_hash:
        return None, f"the entries in {path} do not reproduce its checkpoint {cp.size}"
    if summary is None:
        try:
            known = KnownLog.from_statements(statements, leaves)
        except EvidenceError as e:
            return None, f"an entry in {path} does not parse: {e.message}"
        return VerifiedLog(decoded[0], cp, known, summarized=False), ""
    try:
        verify_envelope(summary, keys)
        fields = json.loads(summary.payload)
        if fields.get("origin") != origin or fields.get("root") != cp.root_hash.hex():
            raise FormatError("it is the summary of another checkpoint")
        known = KnownLog.with_summary(statements, leaves, fields)
    except (EvidenceError, ValueError, AttributeError) as e:
        why = e.message if isinstance(e, EvidenceError) else "not a JSON object"
        return None, f"the summary in {path} does not verify: {why}"
    return VerifiedLog(decoded[0], cp, known), ""


def _summary_envelope(data: bytes) -> Envelope | None:
    """The last line as a summary envelope, or None when it is an entry's statement."""
    try:
        envelope = Envelope.from_bytes(data)
    except EvidenceError:
        return None
    return envelope if envelope.payload_type == STATE_TYPE else None


def start_from_verified(
    last_run_file: Path | None,
    note_key: VerifierKey,
    origin: str,
    current: tuple[bytes, str] | None,
    keys: Sequence[PublicKey] = (),
) -> tuple[VerifiedLog | None, str]:
    """The verified log a command may start from, given ``current`` (``log/checkpoint`` as
    the command read it), or None and why it reads the whole log instead.

    A store whose checkpoint is missing or smaller than the verified one (rolled back,
    emptied, another bucket) is read whole: its own entries decide."""
    verified, why = load_verified(last_run_file, note_key, origin, keys)
    if verified is None:
        return None, why
    size = None
    if current is not None:
        try:
            size = Checkpoint.from_text(SignedNote.from_bytes(current[0]).text).size
        except EvidenceError:
            size = None
    if size is None or size < verified.size:
        what = "missing or unreadable" if size is None else f"of size {size}"
        return None, (
            f"the store's checkpoint is {what}, below the verified log's "
            f"{verified.size}: its own entries decide"
        )
    return verified, ""


def collect_from_verified(services: Services) -> None:
    """Let ``evidence collect`` start from the log the last run verified (its verified log
    beside ``[status] last_run_file``), trusted as the run trusts it: its checkpoint
    verifies with the run's own note key and its statements reproduce it. Collect never
    writes it (it verifies nothing); without one it reads the whole log, as before.
    :meth:`Services.collect` still reads the whole log when the store's signed checkpoint
    does not extend it."""
    settings = services.settings
    path = settings.status.last_run_file
    if path is None or not log_path(path).exists():
        # Not even the keys are loaded before collect's own checks of the configuration.
        why = (
            "no [status] last_run_file" if path is None else f"no verified log at {log_path(path)}"
        )
        log.debug("reading the whole log: %s", why)  # collect's usual case
        return
    note_key = services.trust().note_key
    assert note_key is not None  # the run's own note key
    verified, why = load_verified(path, note_key, settings.log.origin, [services.own_key()])
    if verified is None:
        log.info("reading the whole log: %s", why)
        return
    services.known = verified.known


def write_verified(
    last_run_file: Path, note: bytes, checkpoint: Checkpoint, known: KnownLog, signer: Signer
) -> None:
    """Replace the verified log atomically; raises :class:`ConfigError` when it cannot.

    The last line is the summary of ``known`` (heads, named files, ...) for
    ``checkpoint``, a DSSE envelope signed by ``signer`` (the run's entry key) under its
    own payload type, so it can never pass for an entry."""
    fields = {"origin": checkpoint.origin, "root": checkpoint.root_hash.hex(), **known.summary()}
    summary = sign_envelope(canonical_json(fields), signer, STATE_TYPE).to_bytes()
    data = b"".join(base64.b64encode(x) + b"\n" for x in (note, *known.statements, summary))
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
