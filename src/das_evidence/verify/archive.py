"""Verify a whole archive against ARCHIVE-FORMAT section 6.

:func:`load_archive` is the only part that reads: it lists the store, reads
the checkpoints and returns a snapshot that reads each entry and evidence file
when it is checked (files streamed in chunks, never whole). :func:`check_archive`
does no IO of its own: bytes (through the snapshot) and trusted keys in, findings
out. It reads, parses and checks each entry once, keeping of it only what later
checks need (its leaf hash, window and subjects), so its memory follows the
number of entries, not their bytes. Meanwhile readers (worker processes for a
directory, else threads: :mod:`das_evidence.verify.readers`) read every evidence
file once, hashing it and counting its Parquet footer's rows; the files' checks run
when all are read. Its findings come in the order of the checks below, then of the
entries and keys, whatever order the files finish in. The checks are numbered like
this:

- ``V1 layout``: every key is a log key or an evidence file; entry names are contiguous.
- ``V2 signature``: each entry is a DSSE envelope signed by a trusted key.
- ``V3 statement``: each payload is an in-toto Statement v1 with the required predicate.
- ``V4 index``: ``log.index`` equals the entry's position; the origin matches.
- ``V5 chain``: ``log.prev_leaf_hash`` links each entry to the previous one.
- ``V6 evidence``: every subject exists with the signed digest and size, and a Parquet
  file's footer states the signed ``rows``; no extra files.
- ``V7 checkpoint``: every checkpoint verifies with the note key, has the origin, and its
  root equals the tree of that size; ``log/checkpoint`` is the newest and has its
  ``log/checkpoints/<size>``; no unsealed tail.
- ``V8 continuity``: each stream's windows tile time; amendments name a real entry.
- ``V9 trusted``: ``log/checkpoint`` is the same tree as, or extends, every checkpoint
  the auditor trusts from before (``--trusted``): its first ``m`` entries reproduce
  each trusted root (:mod:`das_evidence.verify.trusted`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from das_evidence.errors import (
    ConfigError,
    EvidenceError,
    FormatError,
    NotRegularFileError,
    StoreError,
)
from das_evidence.evidence_store.interface import (
    CHECKPOINT_KEY,
    CHECKPOINTS_PREFIX,
    ENTRIES_PREFIX,
    EVIDENCE_PREFIX,
    EvidenceStore,
    checkpoint_key,
    entry_key,
    validate_key,
)
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.dsse import MAX_ENVELOPE_BYTES, PAYLOAD_TYPE, Envelope, verify_envelope
from das_evidence.manifests.log import KnownLog
from das_evidence.manifests.merkle import CompactRange, MerkleTree, leaf_hash
from das_evidence.manifests.note import MAX_NOTE_BYTES, SignedNote, VerifierKey
from das_evidence.manifests.signers import PublicKey
from das_evidence.manifests.statement import Statement
from das_evidence.timefmt import parse_signed, rfc3339
from das_evidence.verify.continuity import TimedWindow, find_breaks, tiling_window
from das_evidence.verify.findings import Report
from das_evidence.verify.keys import KeyRanges
from das_evidence.verify.parquet import (
    MAX_FOOTER_BYTES,
    footer_length,
    footer_rows,
    load_reader,
)
from das_evidence.verify.readers import (
    BatchQueue,
    BatchRead,
    FileRead,
    ProcessReaders,
    ThreadReaders,
    can_fork,
    read_batch,
    unwrapped,
)
from das_evidence.verify.trusted import TrustedCheckpoint, check_trusted

_ENTRY = re.compile(r"^log/entries/(\d{12})\.dsse\.json$")
_CHECKPOINT = re.compile(r"^log/checkpoints/(0|[1-9]\d*)$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
ZERO_HASH = "0" * 64


@dataclass(frozen=True)
class Trust:
    """What the auditor trusts: the entry keys, the note key, and (optionally) the origin."""

    keys: tuple[PublicKey, ...]
    note_key: VerifierKey | None = None
    origin: str | None = None
    #: A checkpoint seen before, as (size, root hash): the archive must extend it.
    checkpoint: tuple[int, bytes] | None = None
    #: Signed checkpoints seen before (``--trusted``): the target must extend each.
    trusted: tuple[TrustedCheckpoint, ...] = ()
    #: Which key covers which log indexes (``--keys``): rotation and revocation.
    ranges: KeyRanges | None = None

    def entry_keys(self, index: int) -> tuple[PublicKey, ...]:
        """The keys whose signature counts on entry ``index``: every key without a
        keys file; with one, the keys covering ``index`` and any key it does not list."""
        if self.ranges is None:
            return self.keys
        listed = {k.key_id for k in self.ranges.all_entry_keys()}
        unlisted = tuple(k for k in self.keys if k.key_id not in listed)
        return self.ranges.entry_keys(index) + unlisted


def open_signed_checkpoint(
    data: bytes, trust: Trust, note_key: VerifierKey, origin: str | None
) -> Checkpoint:
    """:func:`open_checkpoint` with the note key that covers the checkpoint's size.

    Without a keys file that is ``note_key``. With one, a checkpoint of size ``n``
    counts only when signed by a note key covering index ``n - 1``; a signature
    by a listed key outside its range, or revoked, is a ``SignatureError`` saying so.
    """
    if trust.ranges is None:
        return open_checkpoint(data, note_key, origin)
    return trust.ranges.open_checkpoint(data, origin)


@dataclass
class ArchiveSnapshot:
    """The bytes of one archive's log and the digests of its evidence files."""

    target: str
    keys: list[str]
    entries: dict[str, bytes] = field(default_factory=dict)
    checkpoints: dict[str, bytes] = field(default_factory=dict)
    evidence: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: Parquet evidence file -> the row count its footer states, or why it has none.
    rows: dict[str, int | str] = field(default_factory=dict)
    #: Keys not read, and why: a bad name, a symlink, FIFO or device, too large.
    problems: dict[str, str] = field(default_factory=dict)
    #: Entries listed but not read yet (:func:`load_archive`): :meth:`entry` reads each
    #: with ``read`` as it is checked, so the snapshot never holds every entry's bytes.
    unread: list[str] = field(default_factory=list)
    read: Callable[[str], bytes] | None = None
    #: Evidence files not read yet (:func:`load_archive`): :meth:`start` has readers
    #: read them all while the entries are checked; :meth:`settle` waits for them.
    unhashed: set[str] = field(default_factory=set)
    #: Reads evidence file ``key``: its digest and size, and its footer's rows.
    read_file: Callable[[str], FileRead] | None = None
    #: Read the files in forked worker processes where this process may fork
    #: (:mod:`das_evidence.verify.readers`); on threads otherwise.
    processes: bool = False
    #: The batches of files being read (:meth:`start`).
    _batches: BatchQueue | None = field(default=None, repr=False)

    def start(self) -> None:
        """Have readers (:func:`hash_workers` of them) read every evidence file not read
        yet, in :func:`file_batches`, while this thread checks the entries."""
        if not self.unhashed or self.read_file is None:
            return
        keys = sorted(self.unhashed)
        self.unhashed.clear()
        kind = ProcessReaders if self.processes and can_fork() else ThreadReaders
        if kind is ProcessReaders and any(k.endswith(".parquet") for k in keys):
            load_reader()  # once here, not again in each worker
        batches = file_batches(keys)
        workers = hash_workers()
        self._batches = BatchQueue(kind(self.read_file, workers), batches, workers)

    def entry_keys(self) -> list[str]:
        """The keys of every entry, read or not."""
        return [*self.entries, *self.unread]

    def entry(self, key: str) -> bytes | None:
        """The bytes of entry ``key``; None when it cannot be read (a problem says why)."""
        if key in self.entries:
            return self.entries[key]
        if key in self.problems or self.read is None:
            return None
        try:
            return self.read(key)
        except (NotRegularFileError, FormatError) as e:
            self.problems[key] = e.message
            return None

    def settle(self) -> None:
        """Record every evidence file: read here the batches no reader started yet, wait
        for the others, and read any file not handed out; a file that cannot be read
        becomes a problem, as when read at once."""
        try:
            if self._batches is not None:
                # The batches no reader was handed are read here, from the last (the
                # readers take them from the first), then those handed are waited for.
                queue, done = self._batches, dict[int, BatchRead]()
                assert self.read_file is not None
                while (item := queue.take()) is not None:
                    done[item[0]] = read_batch(self.read_file, item[1])
                for number in sorted([*done, *queue.handed]):
                    got = done[number] if number in done else queue.handed[number].result()
                    for key, read in unwrapped(got):
                        self._record(key, read)
            if self.unhashed and self.read_file is not None:
                for key, read in read_batch(self.read_file, sorted(self.unhashed)):
                    self._record(key, read)
                self.unhashed.clear()
            self.cancel(wait=True)  # every batch is read: the readers end at once
        finally:
            self.cancel()

    def cancel(self, wait: bool = False) -> None:
        """Drop the reads no reader started and let the readers go (``wait``: until
        they have ended)."""
        if self._batches is not None:
            self._batches.close(wait)
            self._batches = None

    def _record(self, key: str, got: FileRead | str) -> None:
        if isinstance(got, str):
            self.problems[key] = got
            return
        found, rows = got
        if found is not None:
            self.evidence[key] = found
            if rows is not None:
                self.rows[key] = rows


#: Evidence files read per task on a thread: few enough tasks that handing them over
#: costs nothing beside the reads, enough that the threads finish together.
FILE_BATCH = 32


def file_batches(keys: Sequence[str]) -> list[list[str]]:
    """``keys`` dealt into batches of at most :data:`FILE_BATCH`, and at least eight per
    thread (a few large files still spread over every thread), round-robin: a stream's
    files (sorted together, of like sizes) spread over every batch, so the batches are
    of like sizes and no thread is left with the large files at the end."""
    count = min(len(keys), max(8 * hash_workers(), -(-len(keys) // FILE_BATCH)))
    return [list(keys[i::count]) for i in range(count)]


def shown(key: str) -> str:
    """``key`` printable: bytes that are not UTF-8 (surrogate escapes) as ``\\xNN``."""
    return key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _bad_name(key: str) -> str | None:
    try:
        validate_key(key)
    except ConfigError:
        return "not a valid key: a segment is empty or uses a character outside A-Z a-z 0-9 . _ = -"
    return None


def read_bounded(store: EvidenceStore, key: str, limit: int) -> bytes:
    """The bytes of ``key``, refused (``FormatError``) when it is larger than ``limit``."""
    data, size = store.get_tail(key, limit + 1)
    if size > limit:
        raise FormatError(f"{size} bytes, more than the {limit} a log object may have; not read")
    return data


#: The tail read first for a Parquet footer: a whole small file, or a large file's footer
#: unless it has very many columns or row groups (then a second read fetches the rest).
FOOTER_GUESS = 64 << 10


def parquet_rows(
    store: EvidenceStore, key: str, read: tuple[bytes, int] | None = None
) -> int | str:
    """The rows ``key``'s Parquet footer states, or why it states none; ``read`` is
    ``store.get_tail(key, FOOTER_GUESS)`` when the caller has it."""
    try:
        tail, size = read if read is not None else store.get_tail(key, FOOTER_GUESS)
        length = footer_length(tail[-8:])
        if length + 12 > size:
            raise FormatError("Parquet footer is longer than the file")
        if length + 8 > len(tail):
            tail, _ = store.get_tail(key, min(length + 8, MAX_FOOTER_BYTES + 8))
        return footer_rows(tail)
    except FormatError as e:
        return e.message


def _read_file(store: EvidenceStore, key: str) -> FileRead:
    """The digest and size of evidence file ``key`` and, for Parquet, its footer's rows:
    one read where the store can (:meth:`~EvidenceStore.head_tail`), the footer taken
    from the end of the bytes hashed (a second read only for a footer longer than
    :data:`FOOTER_GUESS`)."""
    parquet = key.endswith(".parquet")
    found = store.head_tail(key, FOOTER_GUESS if parquet else 0)
    if found is None:
        return None, None
    info, tail = found
    rows = parquet_rows(store, key, (tail, info.size)) if parquet else None
    return (info.sha256, info.size), rows


def hash_workers() -> int:
    """Readers (processes or threads) of evidence files while the entries are checked:
    one per core but the checking thread's, at least one; the checking thread joins
    them when the entries are done (:meth:`ArchiveSnapshot.settle`). More readers than
    that only compete for the cores (with threads, pass the GIL around more often: a
    tenth more CPU with two reading threads on two cores)."""
    return max(1, (os.cpu_count() or 1) - 1)


def load_archive(
    store: EvidenceStore,
    progress: Callable[[int, int, str], None] | None = None,
    *,
    processes: bool | None = None,
) -> ArchiveSnapshot:
    """Read everything verification needs from ``store``; ``progress(read, total, what)``
    hears of each object.

    Evidence files are read later (:func:`_read_file`, streamed in chunks):
    :func:`check_archive` has readers read them all while it checks the entries, and
    :meth:`ArchiveSnapshot.settle` waits for them before the files' checks. The
    readers are worker processes for a directory store (``processes=None``) where this
    process may fork, else threads (:mod:`das_evidence.verify.readers`)."""
    keys = list(store.list())
    snap = ArchiveSnapshot(
        store.uri,
        keys,
        read=lambda key: read_bounded(store, key, MAX_ENVELOPE_BYTES),
        read_file=partial(_read_file, store),
        # A directory store holds no connection and no state a copy could share; a
        # subclass (a test's) may hold state its reads change, which a copy would not.
        processes=type(store) is LocalStore if processes is None else processes,
    )
    for done, key in enumerate(keys):
        if progress:
            progress(done, len(keys), "reading objects")
        problem = _bad_name(key)
        if problem is not None:
            snap.problems[key] = problem
            continue
        try:
            if _ENTRY.match(key):
                snap.unread.append(key)
            elif key == CHECKPOINT_KEY or _CHECKPOINT.match(key):
                snap.checkpoints[key] = read_bounded(store, key, MAX_NOTE_BYTES)
            elif key.startswith(EVIDENCE_PREFIX):
                snap.unhashed.add(key)
        except (NotRegularFileError, FormatError) as e:
            snap.problems[key] = e.message
    if progress:
        progress(len(keys), len(keys), "reading objects")
    return snap


def _note_key(trust: Trust, origin: str) -> VerifierKey | None:
    if trust.note_key is not None:
        return trust.note_key
    for key in trust.keys:
        if key.algorithm == "ed25519":
            return VerifierKey.from_public_key(origin, key.ed25519_raw())
    return None


def _origin_of(snap: ArchiveSnapshot, trust: Trust) -> str | None:
    if trust.origin:
        return trust.origin
    if trust.note_key is not None:
        return trust.note_key.name
    data = snap.checkpoints.get(CHECKPOINT_KEY)
    if data is None:
        return None
    try:
        return Checkpoint.from_text(SignedNote.from_bytes(data).text).origin
    except (FormatError, EvidenceError):
        return None


def check_archive(
    snap: ArchiveSnapshot,
    trust: Trust,
    progress: Callable[[int, int, str], None] | None = None,
    *,
    files: bool = True,
) -> Report:
    """Every check of the archive format over ``snap``; ``progress(checked, total, what)``
    hears of each entry. ``files=False`` checks the log alone (V6 is left to another
    check of the evidence, e.g. S3's own checksums at rest): ``snap`` holds no evidence."""
    # V2-V6 entries, one at a time (read, parsed and checked once; what later checks
    # need of each is kept, not its bytes), while readers read every evidence file
    # (started first); the files' checks run once all are read, their findings put
    # where they would have come, after their entry's. The findings follow V1's. An
    # entry that cannot be read takes no position (V1 says why).
    if files:
        snap.start()
    report = Report(snap.target)
    checked = Report(snap.target)
    indexed: list[tuple[int, str]] = []
    leaves: list[bytes] = []
    spans: list[_Span] = []
    streams: set[str] = set()
    rows = 0
    prev_leaf = ZERO_HASH
    referenced: dict[str, str] = {}
    deferred: list[tuple[int, _SignedFile]] = []
    try:
        origin = _origin_of(snap, trust)
        note_origin_source(report, trust, origin)
        listed = sorted(
            (int(m.group(1)), key) for key in snap.entry_keys() if (m := _ENTRY.match(key))
        )
        for index, key in listed:
            data = snap.entry(key)
            if data is None:
                continue
            position = len(indexed)
            indexed.append((index, key))
            if progress:
                progress(position, len(listed), "checking entries")
            statement, payload = check_envelope(checked, key, data, trust, position, origin)
            del data
            leaf = leaf_hash(payload) if payload is not None else hashlib.sha256(b"").digest()
            leaves.append(leaf)
            if statement is not None:
                if (span := _span(index, key, statement)) is not None:
                    spans.append(span)
                streams.add(str(statement.predicate.get("stream")))
                records = signed_files(statement)
                rows += sum(
                    int(f.get("rows", 0)) for f in records if isinstance(f.get("rows", 0), int)
                )
                _check_chain(checked, statement, key, prev_leaf)
                for subject in statement.subjects:
                    _claim(checked, referenced, subject.name, key)
                    if files:
                        signed = _signed_file(statement, records, subject.name, subject.sha256, key)
                        deferred.append((len(checked.findings), signed))
            prev_leaf = leaf.hex()
        if progress:
            progress(len(listed), len(listed), "checking entries")
        snap.settle()
    finally:
        snap.cancel()
    for at, signed in reversed(deferred):
        late = Report(snap.target)
        _check_signed_file(late, snap, signed)
        if late.findings:
            checked.findings[at:at] = late.findings

    # V1 layout
    for key, problem in sorted(snap.problems.items()):
        report.fail("V1 layout", shown(key), problem)
    for key in snap.keys:
        if key in snap.problems:
            continue
        if key.startswith(ENTRIES_PREFIX):
            if not _ENTRY.match(key):
                report.fail("V1 layout", key, "not a valid entry name (12-digit index)")
        elif key == CHECKPOINT_KEY:
            pass
        elif key.startswith(CHECKPOINTS_PREFIX):
            if not _CHECKPOINT.match(key):
                report.fail("V1 layout", key, "not a valid checkpoint name (decimal size)")
        elif not key.startswith(EVIDENCE_PREFIX):
            report.fail("V1 layout", key, "a file outside log/ and evidence/")
    for position, (index, key) in enumerate(indexed):
        if index != position:
            report.fail(
                "V1 layout", key, f"index gap: expected entry {position:012d} before this one"
            )
            break

    report.findings.extend(checked.findings)
    for path in sorted(set(snap.evidence) - set(referenced) if files else ()):
        report.fail("V6 evidence", path, "an evidence file that no entry names")

    # V7 checkpoints
    _check_checkpoints(report, snap, trust, origin, leaves)

    # V8 continuity
    _check_spans(report, spans)

    # V9 trusted
    if trust.trusted:
        _check_trusted(report, snap, trust, origin, leaves)

    report.stats = {
        "origin": origin,
        "entries": len(indexed),
        "evidence_files": len(snap.evidence),
        "evidence_bytes": sum(size for _, size in snap.evidence.values()),
        "streams": sorted(streams),
        "rows": rows,
        **report.stats,
    }
    return report


ORIGIN_FROM_TARGET = (
    "origin taken from the archive: without --vkey (or --origin) nothing ties the log "
    "to the one you expect; pass --vkey to pin the checkpoint key"
)


def note_origin_source(report: Report, trust: Trust, origin: str | None) -> None:
    """Say where the origin came from; a target that chose its own origin is warned of."""
    if trust.origin:
        source = "--origin"
    elif trust.note_key is not None:
        source = "--vkey"
    else:
        source = "target"
        if origin is not None:
            report.warn(ORIGIN_FROM_TARGET)
    report.stats["origin_source"] = source
    if source == "target":
        report.stats["note"] = "origin taken from the archive"


def signed_files(statement: Statement) -> list[Mapping[str, Any]]:
    """``predicate.files`` entries that are objects (a non-list counts as none)."""
    files = statement.predicate.get("files")
    if not isinstance(files, list):
        return []
    return [f for f in files if isinstance(f, Mapping)]


def check_entry(
    report: Report,
    key: str,
    data: bytes,
    trust: Trust,
    position: int,
    origin: str | None,
) -> Statement | None:
    """V2 to V5 of one entry's envelope bytes; its statement, or None if it has none."""
    return check_envelope(report, key, data, trust, position, origin)[0]


def check_envelope(
    report: Report,
    key: str,
    data: bytes,
    trust: Trust,
    position: int,
    origin: str | None,
) -> tuple[Statement | None, bytes | None]:
    """:func:`check_entry`, parsing the envelope once: the statement and the payload
    (the leaf's bytes; None when ``data`` is not an envelope)."""
    try:
        envelope = Envelope.from_bytes(data)
    except EvidenceError as e:
        report.fail("V2 signature", key, f"not a DSSE envelope: {e.message}")
        return None, None
    if envelope.payload_type != PAYLOAD_TYPE:
        report.fail("V2 signature", key, f"payloadType is {envelope.payload_type!r}")
    try:
        verify_envelope(envelope, trust.entry_keys(position))
    except EvidenceError as e:
        signer = None
        if trust.ranges is not None:
            try:
                signer = verify_envelope(envelope, trust.keys)
            except EvidenceError:
                signer = None
        if signer is not None and trust.ranges is not None:
            report.fail(
                "V2 signature",
                key,
                f"signed by key {signer.key_id[:16]}..., which does not count at index "
                f"{position}: {trust.ranges.entry_problem(signer, position)}",
            )
        else:
            report.fail("V2 signature", key, f"no valid signature by a trusted key: {e.message}")
    try:
        statement = Statement.from_bytes(envelope.payload)
    except EvidenceError as e:
        report.fail("V3 statement", key, f"payload is not an in-toto Statement: {e.message}")
        return None, envelope.payload
    p = statement.predicate
    log = p.get("log")
    if not isinstance(log, Mapping):
        report.fail("V3 statement", key, "predicate.log is missing")
        return None, envelope.payload
    for name in ("stream", "collector", "window", "collected_at", "files"):
        if name not in p:
            report.fail("V3 statement", key, f"predicate.{name} is missing")
    if log.get("index") != position:
        report.fail(
            "V4 index", key, f"log.index is {log.get('index')!r}, its position is {position}"
        )
    if origin is not None and log.get("origin") != origin:
        report.fail("V4 index", key, f"log.origin is {log.get('origin')!r}, expected {origin!r}")
    prev = log.get("prev_leaf_hash")
    if not isinstance(prev, str) or not _HEX64.match(prev):
        report.fail("V5 chain", key, "log.prev_leaf_hash is not 64 hex digits")
    files = p.get("files")
    if "files" in p and not isinstance(files, list):
        report.fail("V3 statement", key, f"predicate.files is a {type(files).__name__}, not a list")
    if isinstance(files, list):
        paths = [f.get("path") if isinstance(f, Mapping) else None for f in files]
        if paths != [s.name for s in statement.subjects]:
            report.fail("V3 statement", key, "predicate.files do not list the subjects in order")
    window = p.get("window")
    if isinstance(window, Mapping):
        start, end = parse_signed(window.get("start")), parse_signed(window.get("end"))
        if start is None or end is None or start > end:
            report.fail("V3 statement", key, f"window {dict(window)} is not valid RFC 3339 UTC")
    return statement, envelope.payload


@dataclass(frozen=True)
class _SignedFile:
    """What V6 needs of one subject of an entry, kept until its file is read (not the
    entry's statement)."""

    path: str
    sha256: str
    entry: str
    #: The entry's ``predicate.files`` records for ``path``.
    records: tuple[Mapping[str, Any], ...]
    #: The entry accounts for leftovers (``predicate.accounts_for``): it signs no rows.
    accounting: bool


def _signed_file(
    statement: Statement,
    records: Sequence[Mapping[str, Any]],
    path: str,
    sha256: str,
    entry: str,
) -> _SignedFile:
    """``statement``'s subject ``path`` (``records``: its ``signed_files``)."""
    return _SignedFile(
        path,
        sha256,
        entry,
        tuple(f for f in records if f.get("path") == path),
        statement.predicate.get("accounts_for") is not None,
    )


def _check_file(
    report: Report,
    snap: ArchiveSnapshot,
    path: str,
    sha256: str,
    statement: Statement,
    entry: str,
) -> None:
    """V6 of one subject of ``statement``, whose file ``snap`` has read."""
    signed = _signed_file(statement, signed_files(statement), path, sha256, entry)
    _check_signed_file(report, snap, signed)


def _check_signed_file(report: Report, snap: ArchiveSnapshot, signed: _SignedFile) -> None:
    path, sha256, entry = signed.path, signed.sha256, signed.entry
    found = snap.evidence.get(path)
    if found is None:
        report.fail("V6 evidence", path, f"named by {entry} but missing from the archive")
        return
    digest, size = found
    if digest != sha256:
        report.fail("V6 evidence", path, f"sha256 is {digest}, {entry} signed {sha256}")
    for f in signed.records:
        if f.get("sha256") != sha256:
            report.fail("V3 statement", entry, f"files[].sha256 for {path} differs from subject")
        if f.get("size") != size:
            report.fail("V6 evidence", path, f"size is {size}, {entry} signed {f.get('size')}")
        rows = snap.rows.get(path)
        if f.get("rows") is None and signed.accounting:
            # An accounting entry (orphans) signs a leftover's bytes as found, not rows.
            continue
        if isinstance(rows, str):
            report.fail("V6 evidence", path, f"its rows cannot be counted: {rows}")
        elif rows is not None and f.get("rows") != rows:
            report.fail(
                "V6 evidence",
                path,
                f"its Parquet footer states {rows} rows, {entry} signed {f.get('rows')!r}",
            )


def _check_checkpoints(
    report: Report,
    snap: ArchiveSnapshot,
    trust: Trust,
    origin: str | None,
    leaves: Sequence[bytes],
) -> None:
    if origin is None:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, "missing or unreadable: no origin to check")
        return
    note_key = _note_key(trust, origin)
    if note_key is None:
        report.fail(
            "V7 checkpoint",
            CHECKPOINT_KEY,
            "no Ed25519 note key to check checkpoints with (pass --vkey)",
        )
        return
    tree = MerkleTree(leaves)  # one tree; each checkpoint's root is a prefix of it
    sizes: dict[str, int] = {}
    for key, data in sorted(snap.checkpoints.items()):
        try:
            cp = open_signed_checkpoint(data, trust, note_key, origin)
        except EvidenceError as e:
            report.fail("V7 checkpoint", key, e.message)
            continue
        sizes[key] = cp.size
        m = _CHECKPOINT.match(key)
        if m and int(m.group(1)) != cp.size:
            report.fail("V7 checkpoint", key, f"holds size {cp.size}, not the size in its name")
        if cp.size > len(leaves):
            report.fail("V7 checkpoint", key, f"size {cp.size} but only {len(leaves)} entries")
        elif cp.root_hash != tree.prefix_root(cp.size):
            report.fail("V7 checkpoint", key, f"root does not match the first {cp.size} entries")
    if trust.checkpoint is not None:
        size, root = trust.checkpoint
        if size > len(leaves):
            report.fail(
                "V7 checkpoint",
                CHECKPOINT_KEY,
                f"the log has {len(leaves)} entries, fewer than the {size} of a checkpoint "
                "seen before (rolled back)",
            )
        elif tree.prefix_root(size) != root:
            report.fail(
                "V7 checkpoint",
                CHECKPOINT_KEY,
                f"the first {size} entries are not the tree of a checkpoint seen before (forked)",
            )
    newest = sizes.get(CHECKPOINT_KEY)
    if CHECKPOINT_KEY not in snap.checkpoints:
        if leaves:
            report.fail("V7 checkpoint", CHECKPOINT_KEY, "missing: the log is not sealed")
        return
    if newest is None:
        return
    if newest > 0 and checkpoint_key(newest) not in snap.checkpoints:
        report.fail(
            "V7 checkpoint",
            checkpoint_key(newest),
            f"missing: {CHECKPOINT_KEY} has size {newest}, but no checkpoint of that size is kept",
        )
    bigger = [s for k, s in sizes.items() if k != CHECKPOINT_KEY and s > newest]
    if bigger:
        report.fail(
            "V7 checkpoint",
            CHECKPOINT_KEY,
            f"size {newest} is smaller than an earlier checkpoint's {max(bigger)} (rolled back)",
        )
    if newest < len(leaves):
        report.fail(
            "V7 checkpoint",
            CHECKPOINT_KEY,
            f"covers {newest} of {len(leaves)} entries: an unsealed tail",
        )


def _check_trusted(
    report: Report,
    snap: ArchiveSnapshot,
    trust: Trust,
    origin: str | None,
    leaves: Sequence[bytes],
) -> None:
    """V9: the archive's head extends each trusted checkpoint, checked on its own leaves."""
    note_key = _note_key(trust, origin) if origin is not None else None
    tree = MerkleTree(leaves)
    size, root = tree.size, tree.root
    data = snap.checkpoints.get(CHECKPOINT_KEY)
    if data is not None and note_key is not None:
        try:
            head = open_signed_checkpoint(data, trust, note_key, origin)
        except EvidenceError:
            pass  # V7 says why; compare with the entries themselves
        else:
            if head.size <= len(leaves):
                size, root = head.size, tree.prefix_root(head.size)
    check_trusted(
        report,
        "V9 trusted",
        CHECKPOINT_KEY,
        trust.trusted,
        note_key=note_key,
        origin=origin,
        size=size,
        root=root,
        prefix_root=tree.prefix_root,
        ranges=trust.ranges,
    )


@dataclass(frozen=True)
class _Span:
    """What V8 needs of one entry: kept for every entry, unlike its statement."""

    index: int
    key: str
    window: tuple[str, tuple[Any, Any]]  # (stream, (start, end)) as signed
    amends: tuple[Any] | None  # (predicate.amends,) when the entry amends another
    tiling: TimedWindow | None


def _span(index: int, key: str, statement: Statement | None) -> _Span | None:
    """``statement``'s window for V8, or None when it has no stream and window."""
    if statement is None:
        return None
    p = statement.predicate
    stream, window = p.get("stream"), p.get("window")
    if not isinstance(stream, str) or not isinstance(window, Mapping):
        return None
    amends = (p["amends"],) if "amends" in p else None
    tiling = tiling_window(index, p) if amends is None else None
    return _Span(index, key, (stream, (window.get("start"), window.get("end"))), amends, tiling)


def _check_continuity(
    report: Report,
    indexed: Sequence[tuple[int, str]],
    statements: Sequence[Statement | None],
) -> None:
    spans = (_span(i, k, s) for (i, k), s in zip(indexed, statements, strict=True))
    _check_spans(report, [s for s in spans if s is not None])


def _check_spans(report: Report, spans: Sequence[_Span]) -> None:
    """V8 over the windows of the entries, in log order."""
    keys = {span.index: span.key for span in spans}
    windows: dict[int, tuple[str, tuple[Any, Any]]] = {}
    tiling: list[TimedWindow] = []
    for span in spans:
        index, key = span.index, span.key
        windows[index] = span.window
        if span.amends is not None:
            (amends,) = span.amends
            target = windows.get(amends) if isinstance(amends, int) else None
            if target is None or target != windows[index] or amends >= index:
                report.fail(
                    "V8 continuity",
                    key,
                    f"amends {amends!r}, which is not an earlier "
                    "entry of the same stream and window",
                )
            continue
        if span.tiling is not None:
            tiling.append(span.tiling)
    for b in find_breaks(tiling):
        assert b.index is not None and b.previous is not None  # no period: breaks sit between
        report.fail(
            "V8 continuity",
            keys[b.index],
            f"stream {b.stream}: {b.kind} between {keys[b.previous]} (ends "
            f"{rfc3339(b.after)}) and this window (starts {rfc3339(b.before)})",
        )


# --- incremental: the entries after a checkpoint verified before -------------------------


def load_tail(store: EvidenceStore, base: int) -> ArchiveSnapshot:
    """What :func:`check_tail` needs: the entries after the first ``base``, the files they
    name, ``log/checkpoint`` and the ``log/checkpoints/<size>`` it names. Reads nothing
    of the first ``base`` entries, so its requests follow what is new, not the log's age."""
    after = entry_key(base - 1) if base else ""
    keys = list(store.list(ENTRIES_PREFIX, start_after=after))
    snap = ArchiveSnapshot(store.uri, keys)
    for key in keys:
        problem = _bad_name(key)
        if problem is not None:
            snap.problems[key] = problem
            continue
        if not _ENTRY.match(key):
            continue  # V1 names it
        try:
            snap.entries[key] = read_bounded(store, key, MAX_ENVELOPE_BYTES)
            statement = Statement.from_bytes(Envelope.from_bytes(snap.entries[key]).payload)
        except (NotRegularFileError, FormatError) as e:
            snap.problems.setdefault(key, e.message)
            continue
        except EvidenceError:
            continue  # check_entry says why
        for subject in statement.subjects:
            if _bad_name(subject.name) is not None or subject.name in snap.evidence:
                continue
            info = store.head(subject.name)
            if info is not None:
                snap.evidence[subject.name] = (info.sha256, info.size)
                if subject.name.endswith(".parquet"):
                    snap.rows[subject.name] = parquet_rows(store, subject.name)
    try:
        current = read_bounded(store, CHECKPOINT_KEY, MAX_NOTE_BYTES)
    except (StoreError, NotRegularFileError, FormatError):
        return snap  # V7: missing
    snap.checkpoints[CHECKPOINT_KEY] = current
    try:
        size = Checkpoint.from_text(SignedNote.from_bytes(current).text).size
        snap.checkpoints[checkpoint_key(size)] = read_bounded(
            store, checkpoint_key(size), MAX_NOTE_BYTES
        )
    except (StoreError, NotRegularFileError, FormatError):
        pass  # V7 says which is missing or bad
    return snap


def check_tail(snap: ArchiveSnapshot, trust: Trust, base: Checkpoint, known: KnownLog) -> Report:
    """The checks of :func:`check_archive` for the entries after ``base``, a checkpoint
    verified before whose entries are ``known`` (their tree is ``base``).

    ``log/checkpoint`` must verify and be a consistent extension of ``base`` (RFC 9162
    consistency proof from ``base``'s size, over the kept leaves and the new ones),
    cover every entry and have its ``log/checkpoints/<size>``; each new entry is checked
    as in V1 to V6 and its window against its stream's previous one (V8). Entries
    before ``base`` are not read: a full ``evidence verify`` checks them.
    """
    report = Report(snap.target)
    origin = trust.origin or base.origin
    # What is needed of the entries before the base (each stream's head, the entry that
    # names each file) comes from ``known`` without parsing every statement.
    n = known.size
    leaves: list[bytes] = []  # the new entries' (the known ones: their compact range)

    # V1 layout of what was listed after the base
    for key, problem in sorted(snap.problems.items()):
        report.fail("V1 layout", shown(key), problem)
    indexed: list[tuple[int, str]] = []
    for key in snap.keys:
        if key in snap.problems and key not in snap.entries:
            continue
        m = _ENTRY.match(key)
        if m is None:
            report.fail("V1 layout", key, "not a valid entry name (12-digit index)")
            continue
        if int(m.group(1)) != n + len(indexed):
            report.fail(
                "V1 layout",
                key,
                f"index gap: expected entry {n + len(indexed):012d} before this one",
            )
            break
        indexed.append((int(m.group(1)), key))

    # V2-V6 the new entries
    # The new entries' claims; the known ones' are looked up by name (the known log holds
    # only its recent names, and reads the rest only for a file outside them).
    referenced: dict[str, str] = {}
    prev_leaf = known.last_leaf.hex() if known.last_leaf else ZERO_HASH
    new: list[Statement | None] = []
    for index, key in indexed:
        statement, payload = check_envelope(report, key, snap.entries[key], trust, index, origin)
        leaf = leaf_hash(payload) if payload is not None else hashlib.sha256(b"").digest()
        leaves.append(leaf)
        new.append(statement)
        if statement is not None:
            _check_chain(report, statement, key, prev_leaf)
            for subject in statement.subjects:
                if subject.name not in referenced and subject.name in known.names:
                    referenced[subject.name] = entry_key(known.names[subject.name])
                _claim(report, referenced, subject.name, key)
                _check_file(report, snap, subject.name, subject.sha256, statement, key)
        prev_leaf = leaf.hex()

    # V7 the head checkpoint extends the base
    _check_head(report, snap, trust, origin, base, known.compact_range(), leaves)

    # V8 continuity: every window against the ones before it, findings on the new entries
    scratch = Report(snap.target)
    # Of the entries before: the head of each stream a new entry is of (the window the
    # next one must follow) and the entries the new ones amend (the window an amendment
    # must repeat). Other streams' heads cannot meet a new window: not read (streams
    # accumulate, e.g. one per dbt invocation, so reading every head grows with age).
    amended = {
        a
        for st in new
        if st is not None and type(a := st.predicate.get("amends")) is int and 0 <= a < n
    }
    streams = {st.predicate.get("stream") for st in new if st is not None}
    heads = {i for stream, i in known.heads.items() if stream in streams}
    wanted = sorted({*heads, *amended})
    before = [(i, entry_key(i)) for i in wanted]
    spans = [Statement.from_verified_bytes(known.statement(i)) for i in wanted]
    _check_continuity(scratch, [*before, *indexed], [*spans, *new])
    fresh = {key for _, key in indexed}
    report.findings.extend(f for f in scratch.findings if f.subject in fresh)

    report.stats = {
        "origin": origin,
        "entries": n + len(leaves),
        "mode": "incremental",
        "from_size": n,
        "checked_entries": len(indexed),
        **report.stats,
    }
    return report


def _check_head(
    report: Report,
    snap: ArchiveSnapshot,
    trust: Trust,
    origin: str,
    base: Checkpoint,
    compact: CompactRange,
    leaves: Sequence[bytes],
) -> None:
    note_key = _note_key(trust, origin)
    data = snap.checkpoints.get(CHECKPOINT_KEY)
    if note_key is None:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, "no Ed25519 note key to check it with")
        return
    if data is None:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, "missing: the log is not sealed")
        return
    try:
        head = open_signed_checkpoint(data, trust, note_key, origin)
    except EvidenceError as e:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, e.message)
        return
    # The kept leaves as their compact range, the new ones after it: O(log n) + new.
    total = compact.size + len(leaves)
    if head.size < base.size:
        report.fail(
            "V7 checkpoint",
            CHECKPOINT_KEY,
            f"size {head.size} is smaller than the verified checkpoint's {base.size} (rolled back)",
        )
        return
    if head.size > total:
        report.fail("V7 checkpoint", CHECKPOINT_KEY, f"size {head.size} but {total} entries")
        return
    if compact.size != base.size or compact.root() != base.root_hash:
        report.fail(
            "V7 checkpoint",
            CHECKPOINT_KEY,
            f"the verified log's leaves are not the tree of its checkpoint {base.size}",
        )
        return
    if compact.extended_root(leaves[: head.size - base.size]) != head.root_hash:
        report.fail(
            "V7 checkpoint",
            CHECKPOINT_KEY,
            f"not a consistent extension of the verified checkpoint {base.size}: its root is "
            f"not the tree of the verified entries and the {head.size - base.size} after them",
        )
        return
    if head.size < total:
        report.fail(
            "V7 checkpoint",
            CHECKPOINT_KEY,
            f"covers {head.size} of {total} entries: an unsealed tail",
        )
    kept = snap.checkpoints.get(checkpoint_key(head.size))
    if head.size > 0 and kept is None:
        report.fail(
            "V7 checkpoint",
            checkpoint_key(head.size),
            f"missing: {CHECKPOINT_KEY} has size {head.size}, but no checkpoint of that "
            "size is kept",
        )
    elif kept is not None:
        try:
            other = open_signed_checkpoint(kept, trust, note_key, origin)
        except EvidenceError as e:
            report.fail("V7 checkpoint", checkpoint_key(head.size), e.message)
        else:
            if (other.size, other.root_hash) != (head.size, head.root_hash):
                report.fail(
                    "V7 checkpoint", checkpoint_key(head.size), "not the tree of log/checkpoint"
                )


def _check_chain(report: Report, statement: Statement, key: str, prev_leaf: str) -> None:
    """V5: an entry names the leaf hash of the entry before it."""
    got = statement.predicate.get("log", {}).get("prev_leaf_hash")
    if got != prev_leaf:
        report.fail(
            "V5 chain",
            key,
            f"prev_leaf_hash {got} is not the previous entry's leaf hash {prev_leaf}",
        )


def _claim(report: Report, referenced: dict[str, str], name: str, key: str) -> None:
    """V6: an evidence file is named by one entry only."""
    if name in referenced:
        report.fail("V6 evidence", name, f"named by both {referenced[name]} and {key}")
    referenced[name] = key
