"""The run's verified log: what ``evidence run`` keeps outside the archive between runs.

After a run has verified the archive, it keeps, beside its last-run record
(``<last_run_file>.log``), the statements of the entries the checkpoint it verified
covers, one line per entry (the DSSE payload, whose leaf hash is the Merkle leaf, in
standard base64), then a trailer of two lines: the checkpoint note and a summary of those
entries as a DSSE envelope signed by the run's entry key under its own payload type
(:data:`STATE_TYPE`): the RFC 9162 compact range of their leaves (the roots of the perfect
subtrees covering them), where the statements end, the leaf and line offset of each
stream's head and of the last entry, each stream's head, the entry naming each file in the
partitions the orphan sweep can still ask about (:class:`~das_evidence.manifests.log.Names`:
older ones are looked up in the statements), the files accounting entries name, the latest
signed retention and each stream's orphan-sweep cursor.

The next run reads only the trailer (from the end of the file) and the log only from
there: the store's checkpoint must be the root of the compact range extended by the
store's later entries, and only those entries are read and verified. So a nightly run's
requests and work do not grow with the archive's age; a full ``evidence verify`` still
reads everything. A statement is read only when needed (a stream's head, the entries a
reconciliation re-counts) and authenticated first (:class:`FileStatements`): by the leaf
the summary keeps or the chain link of the entry after it. One that does not
authenticate makes the run read the whole log from the store, and cuts the trailer off so
the next one does too. An append writes only the new lines and a new trailer.

The file is trusted only when its checkpoint verifies with the run's own note key and
origin, its summary verifies with the run's own entry key for that checkpoint, its compact
range reproduces the checkpoint's root and its statements end where the trailer starts;
anything else (no file, damaged, truncated, another log, a key change) is a full read, and
the run's JSON line says why. A file in the format before the trailer (the note first,
with or without a summary line) is read whole and hashed, as before, and rewritten.

``evidence collect`` starts from the same file when ``[status] last_run_file``
keeps one (:func:`read_from_verified`), trusted the same way, but never
writes it: it verifies nothing. Without it, collect reads the whole log.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from das_evidence.errors import ConfigError, EvidenceError, FormatError
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.dsse import Envelope, sign_envelope, verify_envelope
from das_evidence.manifests.log import KnownLog
from das_evidence.manifests.merkle import CompactRange, MerkleTree, leaf_hash
from das_evidence.manifests.note import SignedNote, VerifierKey
from das_evidence.manifests.signers import PublicKey, Signer
from das_evidence.manifests.statement import Statement, canonical_json

if TYPE_CHECKING:
    from das_evidence.services import Services

log = logging.getLogger(__name__)

SUFFIX = ".log"


STATE_TYPE = "application/vnd.das-evidence.verified-log-summary+json"


# The summary's format: the statement lines first, then the checkpoint note and the summary
# (a trailer), so that an append writes only the new lines and the trailer.
FORMAT = 2
_CHUNK = 1 << 16


@dataclass(frozen=True)
class VerifiedLog:
    """The checkpoint a run verified and the entries it covers (:class:`KnownLog`)."""

    note: bytes
    checkpoint: Checkpoint
    known: KnownLog
    # False for a file written before it had a summary line: the next run writes one.
    summarized: bool = True
    # The file as kept (trailer format): where the statements end, and where each head's
    # and the last statement's line starts (index -> offset), for an append.
    log_bytes: int | None = None
    offsets: Mapping[int, int] = field(default_factory=dict)

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


class FileStatements:
    """The statement lines of a verified log file, read only when asked for and each
    authenticated before it is returned: by the leaf hash its signed summary keeps (the
    heads' and the last entry's), or by the chain link (``prev_leaf_hash``) of the entry
    after it, itself authenticated; :meth:`all` by the root of all of them. A line that
    does not authenticate makes the file untrusted: its trailer is cut off, so the next
    run reads the whole log, and this one stops with a :class:`FormatError`."""

    def __init__(
        self,
        path: Path,
        size: int,
        log_bytes: int,
        anchors: Mapping[int, tuple[int, bytes]],
        root: bytes,
    ) -> None:
        self.path = path
        self.size = size
        self.log_bytes = log_bytes
        self.root = root
        self.offsets = {i: off for i, (off, _) in anchors.items()}
        self._leaves: dict[int, bytes] = {i: leaf for i, (_, leaf) in anchors.items()}
        self._lines: dict[int, bytes] = {}
        self._checked: set[int] = set()
        # Lines are found backward from the end of the statements: line ``_low`` starts
        # at ``_low_offset`` and every line after it is in ``_lines``.
        self._low, self._low_offset = size, log_bytes
        self._all: list[bytes] | None = None

    def _read(self, offset: int, n: int) -> bytes:
        try:
            with self.path.open("rb") as f:
                f.seek(offset)
                return f.read(n)
        except OSError as e:
            raise self._damaged(f"cannot read it: {e.strerror or e}") from e

    def _line(self, index: int) -> bytes:
        line = self._lines.get(index)
        if line is not None:
            return line
        offset = self.offsets.get(index)
        if offset is not None:
            data = b""
            while b"\n" not in data and offset + len(data) < self.log_bytes:
                more = self._read(offset + len(data), _CHUNK)
                if not more:
                    break
                data += more
            raw = data.split(b"\n", 1)[0]
        else:
            want = _CHUNK
            while self._low > index:
                start = max(0, self._low_offset - want)
                chunk = self._read(start, self._low_offset - start)
                if len(chunk) != self._low_offset - start or not chunk.endswith(b"\n"):
                    raise self._damaged("its statements are not the lines its summary counts")
                # The complete lines in the chunk (the first may be cut unless at 0).
                parts = chunk[:-1].split(b"\n")
                if start > 0:
                    parts = parts[1:]
                    if not parts:
                        want *= 2  # a line longer than the chunk
                        continue
                for raw_line in reversed(parts):
                    self._low -= 1
                    self._low_offset -= len(raw_line) + 1
                    if self._low < 0:
                        raise self._damaged("it has more lines than its summary says")
                    self._lines.setdefault(self._low, self._decode(raw_line))
                if start == 0 and self._low > 0:
                    raise self._damaged("it has fewer lines than its summary says")
            return self._lines[index]
        line = self._decode(raw)
        self._lines[index] = line
        return line

    def _decode(self, raw: bytes) -> bytes:
        try:
            return binascii.a2b_base64(raw, strict_mode=True)
        except (binascii.Error, ValueError):
            raise self._damaged("a statement line is not base64") from None

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise IndexError(index)
        leaf = self._leaves.get(index)
        if leaf is not None:
            return leaf
        # The nearest later entry whose leaf is known, then down the chain links.
        above = index + 1
        while above not in self._leaves:
            above += 1
        for k in range(above, index, -1):
            link = self._chain_link(k)
            self._leaves[k - 1] = link
        return self._leaves[index]

    def _chain_link(self, index: int) -> bytes:
        data = self.statement(index)
        try:
            prev = Statement.from_verified_bytes(data).predicate["log"]["prev_leaf_hash"]
            return bytes.fromhex(prev)
        except (EvidenceError, KeyError, TypeError, ValueError):
            raise self._damaged(f"entry {index} has no chain link") from None

    def statement(self, index: int) -> bytes:
        if self._all is not None:
            return self._all[index]
        data = self._line(index)
        if index not in self._checked:
            if leaf_hash(data) != self.leaf(index):
                raise self._damaged(f"entry {index} is not the one its checkpoint covers")
            self._checked.add(index)
        return data

    def all(self) -> Sequence[bytes]:
        if self._all is None:
            data = self._read(0, self.log_bytes)
            lines = data.split(b"\n")
            if len(data) != self.log_bytes or lines[-1] != b"" or len(lines) != self.size + 1:
                raise self._damaged("its lines are not the ones its summary counts")
            statements = [self._decode(line) for line in lines[:-1]]
            if CompactRange.of([leaf_hash(s) for s in statements]).root() != self.root:
                raise self._damaged("its entries do not reproduce its checkpoint")
            self._all = statements
        return self._all

    def _damaged(self, why: str) -> FormatError:
        """Cut the trailer off (the next run reads the whole log) and say why."""
        log.error(
            "the verified log %s is damaged (%s): the next run reads the whole log", self.path, why
        )
        try:
            with self.path.open("r+b") as f:
                f.truncate(self.log_bytes)
        except OSError:
            pass
        return FormatError(
            f"the verified log {self.path} is damaged: {why}",
            fix="run again: the next run reads the whole log and keeps it afresh",
        )


def _tail(path: Path) -> tuple[int, list[bytes]] | None:
    """The last two lines of ``path`` and where the first of them starts, reading it from
    the end; None when it has fewer."""
    with path.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        data, start = b"", end
        while start > 0:
            # Twice as much each time, reading only what is new (the summary is large).
            below = max(0, start - max(_CHUNK, len(data)))
            f.seek(below)
            data = f.read(start - below) + data
            start = below
            if data.count(b"\n") >= 3 or (start == 0 and data.count(b"\n") >= 2):
                break
    if not data.endswith(b"\n"):
        return None
    lines = data[:-1].split(b"\n")
    if len(lines) < 2 or (len(lines) == 2 and start > 0):
        return None
    note, summary = lines[-2], lines[-1]
    return end - len(note) - len(summary) - 2, [note, summary]


def load_verified(
    last_run_file: Path | None,
    note_key: VerifierKey,
    origin: str,
    keys: Sequence[PublicKey] = (),
) -> tuple[VerifiedLog | None, str]:
    """The verified log, or None and why the run reads the whole log instead.

    ``keys``: the run's own entry key(s), which sign the summary; its statements are not
    read here (:class:`FileStatements`). A file in the format before the trailer is read
    whole as before (without a summary line its statements are parsed)."""
    if last_run_file is None:
        return None, "no [status] last_run_file to keep the verified log in"
    path = log_path(last_run_file)
    try:
        tail = _tail(path)
    except FileNotFoundError:
        return None, f"no verified log at {path} (a first run)"
    except OSError as e:
        return None, f"cannot read {path}: {e.strerror or e}"
    if tail is not None:
        at, (note_line, summary_line) = tail
        try:
            note = binascii.a2b_base64(note_line, strict_mode=True)
            summary = _summary_envelope(binascii.a2b_base64(summary_line, strict_mode=True))
            SignedNote.from_bytes(note)
        except (binascii.Error, ValueError, EvidenceError):
            summary = None
        fields = _trailer_fields(summary) if summary is not None else None
        if summary is not None and fields is not None:
            return _load_trailer(path, at, note, summary, fields, note_key, origin, keys)
    return _load_whole(path, note_key, origin, keys)


def _trailer_fields(summary: Envelope) -> dict[str, Any] | None:
    """The (unverified) summary's JSON when it says it is in the trailer format, else None.
    It decides only how to read the file: a summary that lies about it fails its signature
    or its checks. Parsed once: the summary is megabytes at a year."""
    try:
        fields = _fields(summary)
    except FormatError:
        return None
    return fields if isinstance(fields, dict) and fields.get("format") == FORMAT else None


def _fields(summary: Envelope) -> Any:
    """The summary's JSON; :class:`FormatError` when it is not JSON or nests deeper than
    the parser can follow (a hostile file must not end the run in a ``RecursionError``;
    no depth scan first: the summary is megabytes at a year, read every night)."""
    try:
        return json.loads(summary.payload)
    except (ValueError, RecursionError) as e:
        raise FormatError("it is not JSON, or nests too deep") from e


def _load_trailer(
    path: Path,
    at: int,
    note: bytes,
    summary: Envelope,
    fields: dict[str, Any],
    note_key: VerifierKey,
    origin: str,
    keys: Sequence[PublicKey],
) -> tuple[VerifiedLog | None, str]:
    """The trailer format: trusted on the checkpoint's and the summary's signatures, the
    compact range reproducing the checkpoint's root and the statements ending where the
    trailer starts; the statements are read later, authenticated one by one."""
    try:
        cp = open_checkpoint(note, note_key, origin)
    except EvidenceError as e:
        return None, f"the checkpoint in {path} does not verify: {e.message}"
    try:
        verify_envelope(summary, keys)  # ``fields`` are its payload's, parsed before
        if fields.get("origin") != origin or fields.get("root") != cp.root_hash.hex():
            raise FormatError("it is the summary of another checkpoint")
        compact = CompactRange(cp.size, [bytes.fromhex(h) for h in fields["compact"]])
        if fields.get("size") != cp.size or compact.root() != cp.root_hash:
            raise FormatError("its compact range is not the checkpoint's tree")
        if fields.get("log_bytes") != at:
            raise FormatError(f"it counts {fields.get('log_bytes')} bytes of statements, not {at}")
        anchors = {
            int(i): (int(off), bytes.fromhex(leaf))
            for i, (off, leaf) in dict(fields["anchors"]).items()
        }
        if not all(0 <= i < cp.size and 0 <= off < at for i, (off, _) in anchors.items()):
            raise FormatError("it places a statement outside the file")
        if cp.size and (cp.size - 1) not in anchors:
            raise FormatError("it does not hold the last entry's leaf")
        source = FileStatements(path, cp.size, at, anchors, cp.root_hash)
        last = anchors[cp.size - 1][1] if cp.size else None
        known = KnownLog.from_summary(fields, compact, last, source)
        if not all(i in anchors for i in known.heads.values()):
            raise FormatError("it does not hold every head's leaf")
    except (EvidenceError, ValueError, AttributeError, KeyError, TypeError) as e:
        why = e.message if isinstance(e, EvidenceError) else "not the expected JSON object"
        return None, f"the summary in {path} does not verify: {why}"
    return VerifiedLog(note, cp, known, log_bytes=at, offsets=source.offsets), ""


def _load_whole(
    path: Path,
    note_key: VerifierKey,
    origin: str,
    keys: Sequence[PublicKey],
) -> tuple[VerifiedLog | None, str]:
    """The format before the trailer (note first, statements, a summary line or none):
    read whole and every statement hashed."""
    try:
        lines = path.read_bytes().split(b"\n")
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
        fields = _fields(summary)
        if fields.get("origin") != origin or fields.get("root") != cp.root_hash.hex():
            raise FormatError("it is the summary of another checkpoint")
        known = KnownLog.with_summary(statements, leaves, fields)
    except (EvidenceError, ValueError, AttributeError) as e:
        why = e.message if isinstance(e, EvidenceError) else "not a JSON object"
        return None, f"the summary in {path} does not verify: {why}"
    # Summarized, but in the format before the trailer: the next run rewrites it.
    return VerifiedLog(decoded[0], cp, known, summarized=False), ""


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


def read_from_verified(services: Services) -> None:
    """Let ``evidence collect`` (and ``evidence status``) start from the log the last run
    verified (its verified log beside ``[status] last_run_file``), trusted as the run
    trusts it: its checkpoint verifies with the run's own note key and its statements
    reproduce it. They never write it (they verify nothing); without one they read the
    whole log, as before.
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
    last_run_file: Path,
    note: bytes,
    checkpoint: Checkpoint,
    known: KnownLog,
    signer: Signer,
    kept: VerifiedLog | None = None,
) -> None:
    """Keep ``known`` (the entries ``checkpoint`` covers) as the verified log; raises
    :class:`ConfigError` when it cannot.

    The file is the statement lines, then a trailer: the checkpoint note and the summary
    of ``known`` (heads, named files, the compact range of its leaves, where the heads'
    statements start ...), a DSSE envelope signed by ``signer`` (the run's entry key)
    under its own payload type, so it can never pass for an entry. With ``kept`` (the
    file as this run loaded it, a prefix of ``known``) only the new lines and a new
    trailer are written over the old trailer; a crash before the trailer is complete
    leaves a file without one, which the next run reads whole. Otherwise it is replaced
    atomically."""
    path = log_path(last_run_file)
    offsets: dict[int, int] = {}
    if (
        kept is not None
        and kept.log_bytes is not None
        and kept.size <= known.size
        and all(i >= kept.size or i in kept.offsets for i in _anchored(known))
    ):
        start, first = kept.log_bytes, kept.size
        offsets.update((i, off) for i, off in kept.offsets.items() if i in _anchored(known))
    else:
        kept, start, first = None, 0, 0
    lines = []
    at = start
    for i in range(first, known.size):
        line = base64.b64encode(known.statement(i)) + b"\n"
        offsets[i] = at
        lines.append(line)
        at += len(line)
    anchored = _anchored(known)
    fields = {
        "origin": checkpoint.origin,
        "root": checkpoint.root_hash.hex(),
        "format": FORMAT,
        "log_bytes": at,
        "compact": [h.hex() for h in known.compact],
        "anchors": {str(i): [offsets[i], known.source.leaf(i).hex()] for i in sorted(anchored)},
        **known.summary(),
    }
    summary = sign_envelope(canonical_json(fields), signer, STATE_TYPE).to_bytes()
    trailer = base64.b64encode(note) + b"\n" + base64.b64encode(summary) + b"\n"
    if kept is None:
        write_atomic(path, b"".join(lines) + trailer)
        return
    try:
        with path.open("r+b") as f:
            f.truncate(start)  # the old trailer: from here on the file has none
            f.seek(start)
            f.write(b"".join(lines))
            f.write(trailer)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise _unwritable(path, e) from e


def _anchored(known: KnownLog) -> set[int]:
    """The entries whose leaf and offset the summary keeps: each head and the last."""
    return {*known.heads.values(), *([known.size - 1] if known.size else [])}


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
