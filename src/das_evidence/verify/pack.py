"""Offline verification of an auditor pack (ARCHIVE-FORMAT sections 5 and 6).

:func:`read_pack` is the only part that reads: it opens the zip safely (member
names relative, without ``..``, backslashes or duplicates, no links, bounded
sizes and compression ratios) and streams every member through SHA-256. Only
the log members it parses (checkpoint, entries, proofs, consistency proofs,
SHA256SUMS and its signature, pack.json) are held in memory, each at most
:data:`MAX_HELD_MEMBER_BYTES` and together at most :data:`MAX_HELD_BYTES`;
evidence files keep only their digest, size and (Parquet) footer row count.
So verifying a pack takes at most about ``MAX_HELD_BYTES`` + one Parquet
footer (:data:`~das_evidence.verify.parquet.MAX_FOOTER_BYTES`) + 1 MiB of
buffers beyond the interpreter, whatever the zip holds. :func:`check_pack` is
pure. Checks:

- ``P1 zip``: member names and sizes are safe (each at most :data:`MAX_MEMBER_BYTES`,
  above 1 MiB compressed at most :data:`MAX_RATIO`:1, and all together at most
  :data:`MAX_EXCESS_BYTES` beyond that ratio); directory members too (no data);
  every member decompresses to its stated size. There is no bound on the pack's
  total size: every member is streamed.
- ``P2 sums``: SHA256SUMS lists every other file with its digest, and
  SHA256SUMS.sig is a signature over its exact bytes by a trusted key.
- ``P3 checkpoint``: the checkpoint verifies with the note key and origin.
- ``P4 entries``: each entry verifies as in an archive (signature, statement,
  origin), has a tlog proof for its index against that checkpoint, fully
  consumed, against the pack's own checkpoint (byte for byte), and every evidence
  file it names is in the pack with its digest and, for Parquet, its signed rows.
- ``P5 continuity``: each stream's windows in the pack are contiguous, except
  for gaps the signed ``pack.json`` declares.
- ``P6 trusted``: the pack's checkpoint is the same tree as, or extends, every
  checkpoint the auditor trusts from before (``--trusted``), by the RFC 9162
  consistency proof ``consistency/<m>`` the pack carries from each trusted size ``m``.
- ``P7 pack.json``: when present, it is bounded JSON whose origin, checkpoint
  (size, root) and streams (each with its entry indices) are the pack's own.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import stat
import struct
import zipfile
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from das_evidence.errors import EvidenceError, StoreError
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.consistency import ConsistencyProof, proof_name
from das_evidence.manifests.dsse import Envelope
from das_evidence.manifests.merkle import leaf_hash, verify_inclusion
from das_evidence.manifests.note import SignedNote, VerifierKey
from das_evidence.manifests.statement import Statement, parse_json_strict
from das_evidence.manifests.tlog_proof import TlogProof
from das_evidence.timefmt import rfc3339
from das_evidence.verify.archive import (
    Trust,
    _note_key,
    check_entry,
    note_origin_source,
    open_signed_checkpoint,
    signed_files,
)
from das_evidence.verify.continuity import find_breaks, tiling_window
from das_evidence.verify.findings import Report
from das_evidence.verify.parquet import MAX_FOOTER_BYTES, footer_rows
from das_evidence.verify.trusted import check_trusted

MAX_MEMBERS = 200_000
#: No member may be larger (a finding, not a refusal of the pack). Members are streamed,
#: so this bounds time, not memory: a pack of any total size is verified in bounded memory.
MAX_MEMBER_BYTES = 64 * 1024**3
MAX_RATIO = 200  # uncompressed / compressed, per member above 1 MiB
#: Bytes members unpack to beyond MAX_RATIO times their compressed size, summed over the
#: pack: small members escape the per-member ratio, but not in bulk (a zip bomb of many
#: small members). A pack over it is refused whole.
MAX_EXCESS_BYTES = 1024**3
#: The members check_pack parses are held in memory, each and together at most these.
MAX_HELD_MEMBER_BYTES = 64 << 20
MAX_HELD_BYTES = 128 << 20
_CHUNK = 1 << 20
_HELD = re.compile(
    r"^(checkpoint|SHA256SUMS|SHA256SUMS\.sig|pack\.json|entries/[^/]+|proofs/[^/]+|consistency/[^/]+)$"
)
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    IndexError,
    KeyError,
    struct.error,
)
_ENTRY = re.compile(r"^entries/(\d{12})\.dsse\.json$")
_PROOF = re.compile(r"^proofs/(\d{12})\.tlog-proof$")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._=-]+$")


@dataclass
class PackContents:
    target: str
    #: The bytes of the members check_pack parses (see ``_HELD``).
    files: dict[str, bytes] = field(default_factory=dict)
    #: Every member read whole: its SHA-256 hex digest.
    digests: dict[str, str] = field(default_factory=dict)
    #: Parquet members: the rows their footer states, or why it states none.
    rows: dict[str, int | str] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (member, problem)


def _unsafe(name: str) -> str | None:
    if not name or name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return "an absolute or non-POSIX member name"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a member name with an empty, '.' or '..' segment (path traversal)"
    if not all(_SAFE_SEGMENT.match(p) for p in parts):
        return "a member name with characters outside A-Z a-z 0-9 . _ = -"
    return None


def read_pack(path: Path) -> PackContents:
    """Read a pack zip into memory, refusing anything unsafe before reading its bytes."""
    contents = PackContents(str(path))
    try:
        z = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise StoreError(f"{path} does not exist", fix="pass the pack's path") from None
    except _UNREADABLE as e:  # NotImplementedError for a "zip version 7.4", ...
        raise StoreError(f"{path} is not a readable zip file: {type(e).__name__}: {e}") from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise StoreError(f"{path} has {len(infos)} members, more than {MAX_MEMBERS}")
        excess = sum(max(0, i.file_size - MAX_RATIO * i.compress_size) for i in infos)
        if excess > MAX_EXCESS_BYTES:
            raise StoreError(
                f"{path} would unpack to {excess} bytes more than {MAX_RATIO} times the "
                f"compressed size of its members, more than {MAX_EXCESS_BYTES}: "
                "refusing a possible zip bomb"
            )
        seen: set[str] = set()
        held = 0
        for info in infos:
            name = info.filename
            if name.endswith("/"):  # not is_dir(): an empty name would raise
                problem = _unsafe(name[:-1])
                if problem is None and (info.file_size or info.compress_size > 2):
                    problem = "a directory member that holds data"
                if problem is not None:
                    contents.problems.append((name, problem))
                continue
            problem = _unsafe(name)
            mode = info.external_attr >> 16
            if problem is None and stat.S_ISLNK(mode):
                problem = "a symbolic link"
            if problem is None and name in seen:
                problem = "a duplicate member name"
            if problem is None and info.file_size > MAX_MEMBER_BYTES:
                problem = (
                    f"{info.file_size} bytes, more than a member may hold ({MAX_MEMBER_BYTES})"
                )
            if (
                problem is None
                and info.file_size > 1024**2
                and info.file_size > MAX_RATIO * max(info.compress_size, 1)
            ):
                problem = f"compressed {info.file_size // max(info.compress_size, 1)}:1 (zip bomb)"
            if problem is not None:
                contents.problems.append((name, problem))
                continue
            seen.add(name)
            keep = _HELD.match(name) is not None
            if keep and info.file_size > min(MAX_HELD_MEMBER_BYTES, MAX_HELD_BYTES - held):
                contents.problems.append(
                    (name, f"{info.file_size} bytes: more than a pack's log members may hold")
                )
                continue
            try:
                read = _read_member(z, info, keep)
            except _UNREADABLE as e:
                contents.problems.append((name, f"cannot be read: {type(e).__name__}: {e}"))
                continue
            if read is None:
                contents.problems.append((name, "its size differs from the zip directory"))
                continue
            digest, data, tail = read
            contents.digests[name] = digest
            if data is not None:
                contents.files[name] = data
                held += len(data)
            if name.startswith("evidence/") and name.endswith(".parquet"):
                try:
                    contents.rows[name] = footer_rows(tail)
                except EvidenceError as e:
                    contents.rows[name] = e.message
    return contents


def _read_member(
    z: zipfile.ZipFile, info: zipfile.ZipInfo, keep: bool
) -> tuple[str, bytes | None, bytes] | None:
    """Stream one member: its digest, its bytes when ``keep``, and its last bytes (a
    Parquet footer); None when it does not decompress to its stated size."""
    digest = hashlib.sha256()
    parts: list[bytes] = []
    # The last chunks, at least keep_tail bytes of them: a footer's length is known
    # only at the end, and copying a sliding window on every chunk would cost more
    # than the hash.
    tail: deque[bytes] = deque()
    held = 0
    keep_tail = MAX_FOOTER_BYTES + 8 if info.filename.endswith(".parquet") else 0
    size = 0
    with z.open(info) as f:
        while chunk := f.read(_CHUNK):
            size += len(chunk)
            if size > info.file_size:
                return None
            digest.update(chunk)
            if keep:
                parts.append(chunk)
            if keep_tail:
                tail.append(chunk)
                held += len(chunk)
                while held - len(tail[0]) >= keep_tail:
                    held -= len(tail.popleft())
    if size != info.file_size:
        return None
    return digest.hexdigest(), b"".join(parts) if keep else None, _footer(tail, keep_tail)


def _footer(chunks: deque[bytes], keep: int) -> bytes:
    """The last ``keep`` bytes of ``chunks``, or fewer: only as many as the footer length
    in the last 8 bytes asks for (plus those 8), when that is known and smaller."""
    if not chunks:
        return b""
    last8 = b"".join(list(chunks)[-2:])[-8:]
    want = keep
    if len(last8) == 8:
        length = int.from_bytes(last8[:4], "little")
        want = min(keep, length + 8)
    out: list[bytes] = []
    got = 0
    for chunk in reversed(chunks):
        out.append(chunk[-(want - got) :] if want - got < len(chunk) else chunk)
        got += len(out[-1])
        if got >= want:
            break
    return b"".join(reversed(out))


def _parse_sums(data: bytes, report: Report) -> dict[str, str] | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        report.fail("P2 sums", "SHA256SUMS", "is not UTF-8 text")
        return None
    sums: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line)
        if not m:
            report.fail("P2 sums", "SHA256SUMS", f"line {n} is not `<sha256>  <path>`")
            return None
        if m.group(2) in sums:
            report.fail("P2 sums", "SHA256SUMS", f"lists {m.group(2)} twice")
        sums[m.group(2)] = m.group(1)
    return sums


def check_pack(pack: PackContents, trust: Trust) -> Report:
    report = Report(pack.target)
    files = pack.files
    digests = pack.digests
    for name, problem in pack.problems:
        report.fail("P1 zip", name, problem)

    # P2: the list and its signature
    sums_bytes, sig = files.get("SHA256SUMS"), files.get("SHA256SUMS.sig")
    if sums_bytes is None or sig is None:
        report.fail("P2 sums", "SHA256SUMS", "SHA256SUMS or SHA256SUMS.sig is missing")
    else:
        unsigned = _sums_signature_problem(sig, sums_bytes, files.get("checkpoint"), trust)
        if unsigned is not None:
            report.fail("P2 sums", "SHA256SUMS.sig", unsigned)
        sums = _parse_sums(sums_bytes, report) or {}
        for name, digest in sorted(sums.items()):
            got = digests.get(name)
            if got is None:
                report.fail("P2 sums", name, "listed in SHA256SUMS but not in the pack")
            elif got != digest:
                report.fail("P2 sums", name, "its SHA-256 differs from SHA256SUMS")
        for name in sorted(set(digests) - set(sums) - {"SHA256SUMS", "SHA256SUMS.sig"}):
            report.fail("P2 sums", name, "in the pack but not listed in SHA256SUMS")

    # P3: the checkpoint
    cp = _check_checkpoint(files, trust, report)
    origin = cp.origin if cp else trust.origin
    note_origin_source(report, trust, origin)

    # P4: entries, proofs, evidence
    referenced: set[str] = set()
    statements: dict[int, Statement] = {}
    entries = sorted((int(m.group(1)), name) for name in files if (m := _ENTRY.match(name)))
    if not entries:
        report.fail("P4 entries", pack.target, "the pack holds no entries")
    for index, name in entries:
        statement = check_entry(report, name, files[name], trust, index, origin)
        if statement is None:
            continue
        statements[index] = statement
        _check_proof(report, files, index, files[name], cp, trust, origin)
        signed_rows = {f.get("path"): f.get("rows") for f in signed_files(statement)}
        for subject in statement.subjects:
            referenced.add(subject.name)
            got = digests.get(subject.name)
            if got is None:
                report.fail("P4 entries", subject.name, f"named by {name} but not in the pack")
            elif got != subject.sha256:
                report.fail("P4 entries", subject.name, f"SHA-256 differs from what {name} signed")
            rows = pack.rows.get(subject.name)
            if isinstance(rows, str):
                report.fail("P4 entries", subject.name, f"its rows cannot be counted: {rows}")
            elif rows is not None and signed_rows.get(subject.name) != rows:
                report.fail(
                    "P4 entries",
                    subject.name,
                    f"its Parquet footer states {rows} rows, {name} signed "
                    f"{signed_rows.get(subject.name)!r}",
                )
    for name in sorted(n for n in digests if n.startswith("evidence/") and n not in referenced):
        report.fail("P4 entries", name, "an evidence file that no entry in the pack names")
    for name in sorted(digests):
        m = _PROOF.match(name)
        if m and int(m.group(1)) not in {i for i, _ in entries}:
            report.fail("P4 entries", name, "a proof for an entry the pack does not hold")

    # P5: continuity within the pack; P7: what pack.json says of it
    pack_json = _pack_json(files, report)
    _check_continuity(report, statements, _declared_gaps(pack_json))
    if pack_json is not None:
        _check_pack_json(report, pack_json, cp, origin, statements)

    # P6: the checkpoint extends those the auditor trusts
    if trust.trusted:
        _check_trusted(report, files, cp, trust, origin)
    report.stats = {
        "origin": origin,
        "entries": len(entries),
        "evidence_files": len(referenced),
        "checkpoint_size": cp.size if cp else None,
        "streams": sorted({str(s.predicate.get("stream")) for s in statements.values()}),
        "rows": sum(
            int(f.get("rows", 0))
            for s in statements.values()
            for f in signed_files(s)
            if isinstance(f.get("rows", 0), int)
        ),
        **report.stats,
    }
    return report


def _sums_signature_problem(
    sig: bytes, sums: bytes, checkpoint: bytes | None, trust: Trust
) -> str | None:
    """What is wrong with SHA256SUMS.sig, or None.

    With a keys file the pack's signer must be a key that counts at the newest entry
    the pack's checkpoint seals (the key in use when the pack was built): a key
    rotated out or revoked before then signs no pack.
    """
    keys = trust.keys
    index = None
    if trust.ranges is not None and checkpoint is not None:
        try:
            index = max(Checkpoint.from_text(SignedNote.from_bytes(checkpoint).text).size - 1, 0)
        except EvidenceError:
            index = None  # P3 says why
        if index is not None:
            keys = trust.entry_keys(index)
    if any(k.verify(sig, sums) for k in keys):
        return None
    if trust.ranges is not None and index is not None:
        for k in trust.keys:
            if k.verify(sig, sums):
                return (
                    f"signed by key {k.key_id[:16]}..., which does not count on a pack whose "
                    f"checkpoint seals index {index}: {trust.ranges.entry_problem(k, index)}"
                )
    return "not a valid signature by a trusted key"


def _check_checkpoint(files: dict[str, bytes], trust: Trust, report: Report) -> Checkpoint | None:
    data = files.get("checkpoint")
    if data is None:
        report.fail("P3 checkpoint", "checkpoint", "missing")
        return None
    try:
        origin = trust.origin or Checkpoint.from_text(SignedNote.from_bytes(data).text).origin
    except EvidenceError as e:
        report.fail("P3 checkpoint", "checkpoint", e.message)
        return None
    key = _note_key(trust, origin)
    if key is None:
        report.fail("P3 checkpoint", "checkpoint", "no Ed25519 note key to check it (pass --vkey)")
        return None
    try:
        return open_signed_checkpoint(data, trust, key, origin)
    except EvidenceError as e:
        report.fail("P3 checkpoint", "checkpoint", e.message)
        return None


def _check_proof(
    report: Report,
    files: dict[str, bytes],
    index: int,
    envelope: bytes,
    cp: Checkpoint | None,
    trust: Trust,
    origin: str | None,
) -> None:
    name = f"proofs/{index:012d}.tlog-proof"
    data = files.get(name)
    if data is None:
        report.fail("P4 entries", name, "missing: the entry cannot be shown to be in the log")
        return
    try:
        proof = TlogProof.from_bytes(data)
        leaf = leaf_hash(Envelope.from_bytes(envelope).payload)
        if proof.index != index:
            report.fail("P4 entries", name, f"is for index {proof.index}")
            return
        if cp is None:
            return
        if proof.checkpoint != files.get("checkpoint"):
            key: VerifierKey | None = _note_key(trust, origin or cp.origin)
            assert key is not None
            own = open_checkpoint(proof.checkpoint, key, origin)
            which = (
                "newer than"
                if own.size > cp.size
                else "older than"
                if own.size < cp.size
                else "other bytes than"
            )
            report.fail(
                "P4 entries",
                name,
                f"embeds a checkpoint of size {own.size}, {which} the pack's checkpoint "
                f"(size {cp.size}); a proof must be against the pack's checkpoint",
            )
            return
        verify_inclusion(index, cp.size, leaf, proof.hashes, cp.root_hash)
    except EvidenceError as e:
        report.fail("P4 entries", name, f"does not prove entry {index}: {e.message}")


def _check_trusted(
    report: Report,
    files: dict[str, bytes],
    cp: Checkpoint | None,
    trust: Trust,
    origin: str | None,
) -> None:
    if cp is None:
        report.fail("P6 trusted", "checkpoint", "no verified checkpoint to compare with")
        return

    def proof_for(m: int, old_root: bytes) -> str | None:
        name = proof_name(m)
        data = files.get(name)
        if data is None:
            return (
                f"the pack has no {name} to show that its checkpoint (size {cp.size}) "
                f"extends it: ask for a pack built with `--since-checkpoint` and that file"
            )
        try:
            ConsistencyProof.from_bytes(data).verify(m, old_root, cp.size, cp.root_hash)
        except EvidenceError as e:
            return f"{name} does not prove the pack's checkpoint extends it (forked?): {e.message}"
        return None

    check_trusted(
        report,
        "P6 trusted",
        "checkpoint",
        trust.trusted,
        note_key=_note_key(trust, origin or cp.origin),
        origin=origin or cp.origin,
        size=cp.size,
        root=cp.root_hash,
        proof_for=proof_for,
        ranges=trust.ranges,
    )


def _pack_json(files: dict[str, bytes], report: Report) -> dict[str, Any] | None:
    data = files.get("pack.json")
    if data is None:
        return None
    try:
        doc = parse_json_strict(data)
    except EvidenceError as e:
        report.fail("P7 pack.json", "pack.json", e.message)
        return None
    if not isinstance(doc, dict):
        report.fail("P7 pack.json", "pack.json", "is not a JSON object")
        return None
    return doc


def _declared_gaps(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    gaps = doc.get("gaps", []) if doc is not None else []
    return [g for g in gaps if isinstance(g, dict)] if isinstance(gaps, list) else []


def _check_pack_json(
    report: Report,
    doc: dict[str, Any],
    cp: Checkpoint | None,
    origin: str | None,
    statements: dict[int, Statement],
) -> None:
    def fail(message: str) -> None:
        report.fail("P7 pack.json", "pack.json", message)

    if origin is not None and doc.get("origin") != origin:
        fail(f"origin is {doc.get('origin')!r}, the pack's checkpoint is for {origin!r}")
    said = doc.get("checkpoint")
    if cp is not None:
        want = {"size": cp.size, "root_hash": cp.root_hash.hex()}
        if not isinstance(said, Mapping) or {k: said.get(k) for k in want} != want:
            fail(f"checkpoint {said!r} is not the pack's checkpoint {want}")
    streams: dict[str, list[int]] = {}
    for index, st in sorted(statements.items()):
        streams.setdefault(str(st.predicate.get("stream")), []).append(index)
    listed = doc.get("streams")
    if not isinstance(listed, Mapping):
        fail("streams is missing or not an object")
        return
    for stream in sorted(set(listed) | set(streams)):
        entry = listed.get(stream)
        said_entries = entry.get("entries") if isinstance(entry, Mapping) else None
        if stream not in streams:
            fail(f"lists stream {stream!r}, of which the pack holds no entry")
        elif said_entries != streams[stream]:
            holds = streams[stream]
            fail(f"stream {stream!r} lists entries {said_entries!r}, the pack holds {holds}")


def _check_continuity(
    report: Report, statements: dict[int, Statement], gaps: list[dict[str, Any]]
) -> None:
    allowed = {(g.get("stream"), g.get("start"), g.get("end")) for g in gaps}
    windows = [
        w for i, st in statements.items() if (w := tiling_window(i, st.predicate)) is not None
    ]
    for b in find_breaks(windows):
        if b.kind == "gap" and (b.stream, rfc3339(b.after), rfc3339(b.before)) in allowed:
            continue
        report.fail(
            "P5 continuity",
            f"entries/{b.index:012d}.dsse.json",
            f"stream {b.stream}: {b.kind} before this window (previous ended "
            f"{rfc3339(b.after)}, this starts {rfc3339(b.before)})",
        )
