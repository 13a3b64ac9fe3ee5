"""Offline verification of an auditor pack (ARCHIVE-FORMAT sections 5 and 6).

:func:`read_pack` is the only part that reads: it opens the zip safely (member
names relative, without ``..``, backslashes or duplicates, no links, bounded
sizes and compression ratios) into memory. :func:`check_pack` is pure. Checks:

- ``P1 zip``: member names and sizes are safe.
- ``P2 sums``: SHA256SUMS lists every other file with its digest, and
  SHA256SUMS.sig is a signature over its exact bytes by a trusted key.
- ``P3 checkpoint``: the checkpoint verifies with the note key and origin.
- ``P4 entries``: each entry verifies as in an archive (signature, statement,
  origin), has a tlog proof for its index against that checkpoint, fully
  consumed, and every evidence file it names is in the pack with its digest.
- ``P5 continuity``: each stream's windows in the pack are contiguous, except
  for gaps the signed ``pack.json`` declares.
- ``P6 trusted``: the pack's checkpoint is the same tree as, or extends, every
  checkpoint the auditor trusts from before (``--trusted``), by the RFC 9162
  consistency proof ``consistency/<m>`` the pack carries from each trusted size ``m``.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from das_evidence.errors import EvidenceError, StoreError
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.consistency import ConsistencyProof, proof_name
from das_evidence.manifests.dsse import Envelope
from das_evidence.manifests.merkle import leaf_hash, verify_inclusion
from das_evidence.manifests.note import SignedNote, VerifierKey
from das_evidence.manifests.statement import Statement
from das_evidence.manifests.tlog_proof import TlogProof
from das_evidence.timefmt import rfc3339
from das_evidence.verify.archive import Trust, _note_key, check_entry
from das_evidence.verify.continuity import find_breaks, tiling_window
from das_evidence.verify.findings import Report
from das_evidence.verify.trusted import check_trusted

MAX_MEMBERS = 200_000
MAX_TOTAL_BYTES = 8 * 1024**3
MAX_RATIO = 200  # uncompressed / compressed, per member above 1 MiB
_ENTRY = re.compile(r"^entries/(\d{12})\.dsse\.json$")
_PROOF = re.compile(r"^proofs/(\d{12})\.tlog-proof$")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._=-]+$")


@dataclass
class PackContents:
    target: str
    files: dict[str, bytes] = field(default_factory=dict)
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
    except (zipfile.BadZipFile, OSError) as e:
        raise StoreError(f"{path} is not a readable zip file: {e}") from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise StoreError(f"{path} has {len(infos)} members, more than {MAX_MEMBERS}")
        total = sum(i.file_size for i in infos)
        if total > MAX_TOTAL_BYTES:
            raise StoreError(
                f"{path} would unpack to {total} bytes, more than {MAX_TOTAL_BYTES}: "
                "refusing a possible zip bomb"
            )
        seen: set[str] = set()
        for info in infos:
            name = info.filename
            if info.is_dir():
                continue
            problem = _unsafe(name)
            mode = info.external_attr >> 16
            if problem is None and stat.S_ISLNK(mode):
                problem = "a symbolic link"
            if problem is None and name in seen:
                problem = "a duplicate member name"
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
            try:
                data = z.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError) as e:
                contents.problems.append((name, f"cannot be read: {e}"))
                continue
            if len(data) != info.file_size:
                contents.problems.append((name, "its size differs from the zip directory"))
                continue
            contents.files[name] = data
    return contents


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
    for name, problem in pack.problems:
        report.fail("P1 zip", name, problem)

    # P2: the list and its signature
    sums_bytes, sig = files.get("SHA256SUMS"), files.get("SHA256SUMS.sig")
    if sums_bytes is None or sig is None:
        report.fail("P2 sums", "SHA256SUMS", "SHA256SUMS or SHA256SUMS.sig is missing")
    else:
        if not any(k.verify(sig, sums_bytes) for k in trust.keys):
            report.fail("P2 sums", "SHA256SUMS.sig", "not a valid signature by a trusted key")
        sums = _parse_sums(sums_bytes, report) or {}
        for name, digest in sorted(sums.items()):
            data = files.get(name)
            if data is None:
                report.fail("P2 sums", name, "listed in SHA256SUMS but not in the pack")
            elif hashlib.sha256(data).hexdigest() != digest:
                report.fail("P2 sums", name, "its SHA-256 differs from SHA256SUMS")
        for name in sorted(set(files) - set(sums) - {"SHA256SUMS", "SHA256SUMS.sig"}):
            report.fail("P2 sums", name, "in the pack but not listed in SHA256SUMS")

    # P3: the checkpoint
    cp = _check_checkpoint(files, trust, report)
    origin = cp.origin if cp else trust.origin

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
        for subject in statement.subjects:
            referenced.add(subject.name)
            data = files.get(subject.name)
            if data is None:
                report.fail("P4 entries", subject.name, f"named by {name} but not in the pack")
            elif hashlib.sha256(data).hexdigest() != subject.sha256:
                report.fail("P4 entries", subject.name, f"SHA-256 differs from what {name} signed")
    for name in sorted(n for n in files if n.startswith("evidence/") and n not in referenced):
        report.fail("P4 entries", name, "an evidence file that no entry in the pack names")
    for name in sorted(files):
        m = _PROOF.match(name)
        if m and int(m.group(1)) not in {i for i, _ in entries}:
            report.fail("P4 entries", name, "a proof for an entry the pack does not hold")

    # P5: continuity within the pack
    _check_continuity(report, statements, _declared_gaps(files))

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
            for f in s.predicate.get("files", [])
            if isinstance(f, dict) and isinstance(f.get("rows", 0), int)
        ),
    }
    return report


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
        return open_checkpoint(data, key, origin)
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
            if own.size > cp.size:
                report.fail("P4 entries", name, "its checkpoint is newer than the pack's")
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
    )


def _declared_gaps(files: dict[str, bytes]) -> list[dict[str, Any]]:
    try:
        doc = json.loads(files.get("pack.json", b"{}"))
        gaps = doc.get("gaps", [])
        return [g for g in gaps if isinstance(g, dict)]
    except (ValueError, AttributeError):
        return []


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
