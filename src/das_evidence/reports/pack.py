"""Auditor packs (ARCHIVE-FORMAT section 5): one zip that proves a period on its own.

A pack holds the archive's newest checkpoint, the selected entries byte for
byte, a C2SP tlog-proof of each against that checkpoint, every evidence file
they name, ``SHA256SUMS`` over every other file and ``SHA256SUMS.sig`` by the
entry signing key; beside them a report, OSCAL results, ``pack.json``, the
public keys and ``VERIFY.md``. The same selection gives the same bytes: the
zip has fixed timestamps and order, and nothing in it reads the wall clock.

A pack is written as a stream. Evidence files are never held whole: each is
copied from the store into the zip in chunks and hashed on the way, and the pack
is abandoned unless every one matches the digest its entry signed (so
``SHA256SUMS`` can list those digests before the copy). Parquet and other
already-compressed files are stored, not deflated again. The report reads only
the columns it needs, batch by batch (:class:`~das_evidence.reports.evidence.
EvidenceSet`). Only the log members, keys and report are held in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from das_evidence import __version__
from das_evidence.errors import (
    ConfigError,
    EvidenceError,
    FormatError,
    GapError,
    InternalError,
    NothingSelectedError,
    ReportError,
    VerificationError,
)
from das_evidence.evidence_store.interface import CHECKPOINT_KEY, EvidenceStore, entry_key
from das_evidence.manifests.checkpoint import Checkpoint
from das_evidence.manifests.consistency import ConsistencyProof, consistency_steps, proof_name
from das_evidence.manifests.log import ArchiveLog, LogEntry
from das_evidence.manifests.merkle import MerkleTree
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import (
    FINGERPRINT_COMMAND,
    NoteSigner,
    PublicKey,
    Signer,
)
from das_evidence.manifests.tlog_proof import TlogProof
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet, in_period, local_paths
from das_evidence.streams import is_accounting, stream_matches
from das_evidence.timefmt import parse_rfc3339, rfc3339
from das_evidence.verify.archive import Trust, check_entry, open_signed_checkpoint
from das_evidence.verify.continuity import find_breaks, tiling_window
from das_evidence.verify.files import copy_verified, verified_opener, verified_reader
from das_evidence.verify.findings import Report
from das_evidence.verify.keys import KeyRanges, merged_keys
from das_evidence.verify.trusted import TrustedCheckpoint, open_trusted

# 1980-01-01, the earliest time a zip can hold: no member carries a wall-clock time.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Members already compressed by their own format: stored, since deflate gains nothing.
STORED_SUFFIXES = (".parquet", ".gz", ".zst", ".zip", ".bz2", ".xz", ".png", ".jpg")


@dataclass(frozen=True)
class StoredFile:
    """A pack member copied from the store in chunks as the zip is written, refused
    unless it matches the digest its entry signed."""

    key: str
    sha256: str
    size: int
    entry: int
    open: Callable[[str], BinaryIO]


Member = bytes | StoredFile


@dataclass(frozen=True)
class Gap:
    stream: str
    start: datetime
    end: datetime

    def to_json(self) -> dict[str, str]:
        return {"stream": self.stream, "start": rfc3339(self.start), "end": rfc3339(self.end)}

    def __str__(self) -> str:
        return f"{self.stream}: [{rfc3339(self.start)}, {rfc3339(self.end)})"


@dataclass
class Selection:
    start: datetime
    end: datetime
    only: str | None
    entries: list[LogEntry]
    gaps: list[Gap] = field(default_factory=list)

    @property
    def streams(self) -> list[str]:
        return sorted({str(e.predicate["stream"]) for e in self.entries})

    def require_entries(self) -> None:
        """The one empty-selection rule (:class:`NothingSelectedError`, exit 2)."""
        if self.entries:
            return
        raise NothingSelectedError(
            f"nothing selected: no entries in [{rfc3339(self.start)}, {rfc3339(self.end)})"
            + (f" for streams matching {self.only!r}" if self.only else ""),
            fix="choose a period and streams the archive has: `evidence status` lists each "
            "stream and the end of its newest window",
        )


def _windowed(entry: LogEntry) -> bool:
    w = entry.predicate["window"]
    return bool(w["start"] != w["end"]) and "amends" not in entry.predicate


def select(archive: ArchiveLog, start: datetime, end: datetime, only: str | None) -> Selection:
    """Entries of the period, and the windows the archive is missing in it."""
    if start >= end:
        raise ConfigError(
            f"--from {rfc3339(start)} is not before --to {rfc3339(end)}",
            fix="give a period of at least one day, e.g. --from 2026-11-01 --to 2026-12-01",
        )

    def wanted(stream: str) -> bool:
        return stream_matches(stream, only)

    entries = [
        e
        for e in archive.entries
        if wanted(str(e.predicate["stream"])) and in_period(e.predicate, start, end)
    ]
    sel = Selection(start, end, only, entries)
    # Every windowed stream the archive has must tile the whole period.
    streams = {str(e.predicate["stream"]) for e in archive.entries if _windowed(e)}
    breaks = find_breaks(
        [w for e in entries if (w := tiling_window(e.index, e.predicate)) is not None],
        period=(start, end),
        streams=(s for s in streams if wanted(s)),
    )
    sel.gaps = [Gap(b.stream, b.after, b.before) for b in breaks if b.kind == "gap"]
    return sel


def sha256sums(files: Mapping[str, Member]) -> bytes:
    """``sha256sum`` format (two spaces, text mode), sorted by path.

    A :class:`StoredFile` is listed with the digest its entry signed: the zip is
    abandoned unless its bytes hash to it as they are copied.
    """
    lines = [f"{_digest(data)}  {path}\n" for path, data in sorted(files.items())]
    return "".join(lines).encode()


def _digest(data: Member) -> str:
    return data.sha256 if isinstance(data, StoredFile) else hashlib.sha256(data).hexdigest()


def _size(data: Member) -> int:
    return data.size if isinstance(data, StoredFile) else len(data)


def write_zip(
    files: Mapping[str, Member],
    out: Path,
    progress: Callable[[int, int, str], None] | None = None,
) -> None:
    """Deterministic zip, written to a temporary file and renamed into place.

    A :class:`StoredFile` is copied from the store in chunks, hashed as it goes and
    checked against its signed digest (else :class:`FormatError`, and no pack);
    Parquet and other compressed formats (:data:`STORED_SUFFIXES`) are stored as
    they are. Raises :class:`ConfigError` when ``out`` cannot be written.
    ``progress(written, total, what)`` hears of each file.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".pack-", suffix=".zip", dir=out.parent)
    except OSError as e:
        raise _unwritable(out, e) from e
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as z:
            for done, name in enumerate(sorted(files)):
                if progress:
                    progress(done, len(files), "writing files")
                data = files[name]
                info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                info.create_system = 3
                if isinstance(data, bytes):
                    z.writestr(info, data, compresslevel=9)
                    continue
                if name.endswith(STORED_SUFFIXES):
                    info.compress_type = zipfile.ZIP_STORED
                # else deflated at zlib's default level, 6, as `zip` does
                info.file_size = data.size  # sizes the header (zip64 above 4 GiB)
                with z.open(info, "w") as member:
                    copied = copy_verified(
                        data.open, data.key, data.sha256, data.entry, member.write
                    )
                if copied != data.size:
                    raise FormatError(
                        f"{data.key} (entry {data.entry}) has {copied} bytes, its entry "
                        f"signed {data.size}; refusing to build on it",
                        fix="run `evidence verify` on the archive and restore the file",
                    )
        os.chmod(tmp, 0o644)  # a pack is meant to be handed out
        os.replace(tmp, out)
        if progress:
            progress(len(files), len(files), "writing files")
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _unwritable(out, e) from e
        raise


def _unwritable(out: Path, e: OSError) -> ConfigError:
    return ConfigError(
        f"cannot write the pack {out}: {e.strerror or e}", fix="choose a writable --out path"
    )


@dataclass(frozen=True)
class PackResult:
    path: Path
    entries: int
    files: int
    bytes: int
    gaps: list[Gap]
    checks: dict[str, int]


ReportHook = Callable[[EvidenceSet, Selection, str, datetime], Mapping[str, bytes]]


def build_pack(
    store: EvidenceStore,
    *,
    origin: str,
    signer: Signer,
    note_signer: NoteSigner,
    start: datetime,
    end: datetime,
    out: Path,
    only: str | None = None,
    allow_gaps: bool = False,
    extras: ReportHook | None = None,
    since: Sequence[TrustedCheckpoint] = (),
    progress: Callable[[int, int, str], None] | None = None,
    keys: KeyRanges | None = None,
) -> PackResult:
    """Write the pack for ``[start, end)`` to ``out``; nothing is written on any error.

    ``since`` are checkpoints the auditor holds (``--since-checkpoint``): the pack
    carries ``consistency/<m>`` from each one's size to its own checkpoint.
    ``keys``: the keys file (``[signing] keys_file``) when the log was signed by more
    than one key: entries and checkpoints count with the key covering their index,
    and the pack carries every key and ``keys/keys.toml`` for the auditor.
    ``progress(done, total, what)`` hears of each file read from the store and
    each file written into the zip.
    """
    archive = ArchiveLog(store, origin)
    if archive.size == 0:
        raise ReportError(f"the archive {store.uri} has no entries", fix="run `evidence collect`")
    sel = select(archive, start, end, only)
    sel.require_entries()
    if sel.gaps and not allow_gaps:
        listing = "\n  ".join(str(g) for g in sel.gaps)
        raise GapError(
            f"the archive does not cover the period; missing windows:\n  {listing}",
            fix="collect the missing windows, choose another period, or pass --allow-gaps "
            "to build the pack with the gaps listed in its report",
        )

    # What goes into the pack is checked first with the verifier's own checks,
    # against the keys the pack is signed with: a damaged archive yields no pack.
    vkey = VerifierKey.from_public_key(note_signer.name, note_signer.public_key_raw())
    own = PublicKey.from_pem(signer.public_key_pem())
    trust = Trust(keys=merged_keys(keys, [own]), note_key=vkey, origin=origin, ranges=keys)
    checked = Report(store.uri)
    checkpoint = store.get(CHECKPOINT_KEY)
    try:
        cp = open_signed_checkpoint(checkpoint, trust, vkey, origin)
    except EvidenceError as e:
        raise VerificationError(
            f"{CHECKPOINT_KEY} of {store.uri} does not verify: {e.message}",
            fix="run `evidence verify` on the archive; do not hand out a damaged pack",
        ) from None
    if cp.size != archive.size or cp.root_hash != archive.root():
        raise ReportError(
            f"{CHECKPOINT_KEY} does not cover the log ({cp.size} of {archive.size} entries)",
            fix="run `evidence collect` (it seals the log) or `evidence verify`",
        )
    if keys is not None and own.key_id not in {k.key_id for k in trust.entry_keys(cp.size - 1)}:
        raise ConfigError(
            f"the signing key {own.fingerprint} does not count at log index {cp.size - 1} "
            f"in the keys file: {keys.entry_problem(own, cp.size - 1)}",
            fix="sign packs with the current key ([signing] key), and list it in "
            "[signing] keys_file with a range that covers the log's newest entry",
        )
    tree = MerkleTree([e.leaf for e in archive.entries])
    proofs = consistency_files(since, tree, cp, vkey, keys)

    files: dict[str, bytes] = {"checkpoint": checkpoint, **proofs}
    # Evidence files: what their entries signed, read from the store only as the zip
    # is written (and by the report, through a digest check of its own).
    stored: dict[str, StoredFile] = {}
    read, to_read = 0, sum(1 + len(e.statement.subjects) for e in sel.entries)
    for entry in sel.entries:
        if progress:
            progress(read, to_read, "reading evidence")
        read += 1 + len(entry.statement.subjects)
        key = entry_key(entry.index)
        name = key.removeprefix("log/")
        files[name] = store.get(key)
        check_entry(checked, key, files[name], trust, entry.index, origin)
        proof = TlogProof(entry.index, tuple(tree.inclusion_proof(entry.index)), checkpoint)
        files[f"proofs/{entry.index:012d}.tlog-proof"] = proof.to_bytes()
        sizes = {f.get("path"): f.get("size") for f in entry.predicate.get("files") or ()}
        for subject in entry.statement.subjects:
            size = sizes.get(subject.name)
            known = stored.get(subject.name)
            if known is not None and known.sha256 != subject.sha256:
                raise FormatError(
                    f"{subject.name} is signed with two digests (entries {known.entry} and "
                    f"{entry.index}); refusing to build on it",
                    fix="run `evidence verify` on the archive",
                )
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise FormatError(
                    f"entry {entry.index} signs no size for {subject.name}",
                    fix="run `evidence verify` on the archive",
                )
            stored.setdefault(
                subject.name,
                StoredFile(subject.name, subject.sha256, size, entry.index, store.open),
            )
    if checked.findings:
        listing = "\n  ".join(str(f) for f in checked.findings[:20])
        rotation = (
            ""
            if keys is not None
            else "; if the period spans a key rotation, list every key that signed the log in "
            "[signing] keys_file (docs/SECURITY.md, key rotation)"
        )
        raise VerificationError(
            f"entries of the period fail verification:\n  {listing}",
            fix="run `evidence verify` on the archive; do not hand out a damaged pack" + rotation,
        )

    generated_at = max(parse_rfc3339(e.predicate["collected_at"]) for e in sel.entries)
    key_files = _keys(signer, vkey, keys, origin)
    files.update(key_files.members)
    files["pack.json"] = _pack_json(
        sel, origin, cp, generated_at, signer, vkey, since=proofs, ranges=key_files.ranges
    )

    signed = {name: (f.sha256, f.entry) for name, f in stored.items()}
    evidence = EvidenceSet(
        [
            EvidenceEntry(e.index, str(e.predicate["stream"]), e.predicate)
            for e in sel.entries
            if not is_accounting(e.predicate)  # orphan files are evidence of no window
        ],
        verified_reader(store.get, signed),
        start=start,
        end=end,
        open=verified_opener(store.open, signed),
        local=local_paths(store),
    )
    checks: dict[str, int] = {}
    if extras is not None:
        produced = extras(evidence, sel, origin, generated_at)
        for name, data in produced.items():
            if name in files or name in stored:
                raise InternalError(
                    f"internal error: the report writer tried to replace {name} in the pack "
                    "— this is a bug",
                    fix="report it; no pack was written",
                )
            files[name] = data
        if "checks.json" in produced:
            for r in json.loads(produced["checks.json"]):
                checks[r["status"]] = checks.get(r["status"], 0) + 1
    files["VERIFY.md"] = verify_guide(files, sel, cp, signer, vkey, key_files).encode()

    members: dict[str, Member] = {**files, **stored}
    sums = sha256sums(members)
    members["SHA256SUMS"] = sums
    members["SHA256SUMS.sig"] = signer.sign(sums)
    write_zip(members, out, progress)
    return PackResult(
        out,
        len(sel.entries),
        len(members),
        sum(_size(v) for v in members.values()),
        sel.gaps,
        checks,
    )


def consistency_files(
    since: Sequence[TrustedCheckpoint],
    tree: MerkleTree,
    cp: Checkpoint,
    vkey: VerifierKey,
    ranges: KeyRanges | None = None,
) -> dict[str, bytes]:
    """``consistency/<m>`` for each checkpoint in ``since`` smaller than ``cp``.

    Each must be this log's, signed by its note key (else :class:`ConfigError`), and
    the archive must extend it (else :class:`VerificationError`: no pack that hides a
    rollback or a fork from the auditor who holds it).
    """
    out: dict[str, bytes] = {}
    for t in since:
        try:
            old = open_trusted(t, vkey, cp.origin, ranges)
        except EvidenceError as e:
            raise ConfigError(
                f"--since-checkpoint {e.message}",
                fix="pass a checkpoint of this log the auditor holds: a copy of "
                "log/checkpoints/<n>, or the auditor's earlier pack",
            ) from None
        if old.size > cp.size:
            raise VerificationError(
                f"the archive's checkpoint covers {cp.size} entries, fewer than the {old.size} "
                f"of {t.source}: the log was rolled back",
                fix=f"run `evidence verify ARCHIVE --trusted {t.source}`; do not hand out a pack",
            )
        if tree.prefix_root(old.size) != old.root_hash:
            raise VerificationError(
                f"the archive's first {old.size} entries are not the tree of {t.source}: "
                "the log was forked or rewritten",
                fix=f"run `evidence verify ARCHIVE --trusted {t.source}`; do not hand out a pack",
            )
        if 0 < old.size < cp.size:
            proof = ConsistencyProof(tuple(tree.consistency_proof(old.size)))
            out[proof_name(old.size)] = proof.to_bytes()
    return out


@dataclass(frozen=True)
class PackKeys:
    """The ``keys/`` members of a pack, and which file holds which entry key."""

    members: dict[str, bytes]
    #: DSSE keyid -> (the key's file in the pack, its algorithm)
    by_keyid: dict[str, tuple[str, str]]
    #: each key of the keys file as pack.json lists it (empty without one)
    ranges: list[dict[str, Any]]

    @property
    def keys_file(self) -> str | None:
        return KEYS_TOML if KEYS_TOML in self.members else None


KEYS_TOML = "keys/keys.toml"


def _keys(signer: Signer, vkey: VerifierKey, ranges: KeyRanges | None, origin: str) -> PackKeys:
    pem = signer.public_key_pem()
    note = PublicKey.from_ed25519_raw(vkey.public_key)
    text = (
        "Compare these fingerprints with the ones your auditee published out of band\n"
        "(a policy page, a signed letter; `evidence keys fingerprint` prints them).\n"
        "Keys inside a pack prove nothing on their own: anyone who can write a pack\n"
        "can put a key in it. A fingerprint is SHA256: and the hex SHA-256 of the\n"
        f"key's DER SubjectPublicKeyInfo; `{FINGERPRINT_COMMAND.format(path='keys/signing.pub')}`\n"
        "prints the same hex.\n\n"
        f"signing.pub   {signer.fingerprint}\n"
        f"              algorithm: {signer.algorithm} (the DSSE keyid is the hex part)\n"
        f"note.pub      {note.fingerprint}\n"
        f"              the Ed25519 checkpoint key; as a note verifier key: {vkey.to_string()}\n"
    )
    members = {
        "keys/signing.pub": pem,
        "keys/note.pub": note.to_pem(),
        "keys/signing.vkey": (vkey.to_string() + "\n").encode(),
    }
    by_keyid = {signer.key_id: ("keys/signing.pub", signer.algorithm)}
    listed: list[dict[str, Any]] = []
    if ranges is not None:
        # Every key that signed the log, with the indexes it may sign: the pack's
        # entries may predate the current key (a rotation inside the period).
        toml = [
            "# The keys that signed this log, each with the log indexes it may sign",
            "# (docs/SECURITY.md, key rotation): evidence verify pack.zip --keys keys/keys.toml",
        ]
        text += "\nThe keys file keys/keys.toml: every key that signed the log, by index range.\n"
        for n, k in enumerate(ranges.keys, 1):
            doc: dict[str, Any] = {"from": k.start}
            toml += ["", "[[key]]"]
            vk = k.note_key(origin)
            if k.pub is not None:
                name = f"keys/key-{n}.pub"
                members[name] = k.pub.to_pem()
                by_keyid.setdefault(k.pub.key_id, (name, k.pub.algorithm))
                toml.append(f'pub = "key-{n}.pub"')
                doc.update(pub=name, fingerprint=k.pub.fingerprint, algorithm=k.pub.algorithm)
                text += f"key-{n}.pub     {k.pub.fingerprint}\n"
            if vk is not None:
                members[f"keys/key-{n}.vkey"] = (vk.to_string() + "\n").encode()
                toml.append(f'vkey = "key-{n}.vkey"')
                doc["vkey"] = vk.to_string()
                if k.pub is None:
                    text += f"key-{n}.vkey    {vk.to_string()}\n"
            toml.append(f"from = {k.start}")
            span = f"[{k.start}, {'' if k.until is None else k.until})"
            if k.until is not None:
                toml.append(f"until = {k.until}")
                doc["until"] = k.until
            if k.revoked_at is not None:
                toml.append(f"revoked_at = {k.revoked_at}")
                doc["revoked_at"] = k.revoked_at
                span += f", revoked at {k.revoked_at}"
            text += f"              signs log indexes {span}\n"
            listed.append(doc)
        members[KEYS_TOML] = ("\n".join(toml) + "\n").encode()
    members["keys/FINGERPRINTS.txt"] = text.encode()
    return PackKeys(members, by_keyid, listed)


def _pack_json(
    sel: Selection,
    origin: str,
    cp: Checkpoint,
    generated_at: datetime,
    signer: Signer,
    note_key: VerifierKey,
    *,
    since: Mapping[str, bytes],
    ranges: Sequence[Mapping[str, Any]] = (),
) -> bytes:
    streams: dict[str, dict[str, Any]] = {}
    for e in sel.entries:
        s = streams.setdefault(
            str(e.predicate["stream"]), {"entries": [], "first": None, "last": None}
        )
        s["entries"].append(e.index)
        w = e.predicate["window"]
        s["first"] = s["first"] or w["start"]
        s["last"] = w["end"]
    doc: dict[str, Any] = {
        "format": "das-evidence pack v1 (Evidence Archive Format v1, section 5)",
        "generator": {"name": "das-evidence", "version": __version__},
        "generated_at": rfc3339(generated_at),
        "origin": origin,
        "period": {"start": rfc3339(sel.start), "end": rfc3339(sel.end)},
        "only": sel.only,
        "checkpoint": {"size": cp.size, "root_hash": cp.root_hash.hex()},
        "signing_keyid": signer.key_id,
        "keys": {
            "signing": {"fingerprint": signer.fingerprint, "algorithm": signer.algorithm},
            "note": {
                "fingerprint": PublicKey.from_ed25519_raw(note_key.public_key).fingerprint,
                "vkey": note_key.to_string(),
            },
        },
        "streams": streams,
        "gaps": [g.to_json() for g in sel.gaps],
    }
    if ranges:
        doc["keys"]["ranges"] = [dict(r) for r in ranges]
    if since:
        doc["consistency"] = [
            {"from_size": int(name.removeprefix("consistency/")), "file": name}
            for name in sorted(since, key=lambda n: int(n.removeprefix("consistency/")))
        ]
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def verify_guide(
    files: Mapping[str, bytes],
    sel: Selection,
    cp: Checkpoint,
    signer: Signer,
    vkey: VerifierKey,
    keys: PackKeys | None = None,
) -> str:
    """VERIFY.md: every check by hand with sha256sum and openssl, on one real entry."""
    from das_evidence.manifests.dsse import Envelope
    from das_evidence.manifests.merkle import leaf_hash

    entry = sel.entries[0]
    name = f"entries/{entry.index:012d}.dsse.json"
    proof = TlogProof.from_bytes(files[f"proofs/{entry.index:012d}.tlog-proof"])
    ed25519 = signer.algorithm == "ed25519"
    # The entry's own key: before a rotation inside the period, not the pack's signer.
    by_keyid = keys.by_keyid if keys is not None else {}
    entry_pub, entry_algorithm = "keys/signing.pub", signer.algorithm
    for sig in Envelope.from_bytes(files[name]).signatures:
        if sig.keyid in by_keyid:
            entry_pub, entry_algorithm = by_keyid[sig.keyid]
            break
    keys_file = keys.keys_file if keys is not None else None
    trust_args = (
        f"--keys {keys_file}" if keys_file else "--pub keys/signing.pub --vkey keys/signing.vkey"
    )

    def openssl_verify(pub: str, algorithm: str, msg: str, sig: str) -> str:
        if algorithm == "ed25519":
            return f"openssl pkeyutl -verify -pubin -inkey {pub} -rawin -in {msg} -sigfile {sig}"
        return f"openssl dgst -sha256 -verify {pub} -signature {sig} {msg}"

    steps = _inclusion_steps(entry.index, cp.size, proof.hashes)
    leaf = leaf_hash(entry.statement_bytes)
    lines = [
        "# Verifying this pack",
        "",
        "Everything below runs in the unzipped pack with `sha256sum`, `openssl`, `base64`,",
        "`sed` and a POSIX shell, or in one command with `evidence verify pack.zip`.",
        "Do the steps in order; each must print what it says.",
        "",
        "## 0. Trust the keys, not the pack",
        "",
        "Compare `keys/FINGERPRINTS.txt` with the fingerprints your auditee published out",
        "of band. Use keys you obtained that way in place of `keys/` if they differ.",
        "A fingerprint is `SHA256:` and the hex SHA-256 of the key's DER",
        "SubjectPublicKeyInfo; these print the hex of the two keys in the pack:",
        "",
        "```sh",
        FINGERPRINT_COMMAND.format(path="keys/signing.pub"),
        FINGERPRINT_COMMAND.format(path="keys/note.pub"),
        *(
            FINGERPRINT_COMMAND.format(path=path)
            for path, _ in sorted(set(by_keyid.values()))
            if path != "keys/signing.pub"
        ),
        "```",
        "",
        *(
            [
                f"More than one key signed this log: `{keys_file}` lists each key with the log",
                "indexes it may sign (a rotation, or a revocation). Each entry counts only with",
                "a signature by a key whose range covers its index; compare every key's",
                "fingerprint, and its range, with what your auditee published.",
                "",
            ]
            if keys_file
            else []
        ),
        "## 1. Every file is as listed (prints `OK` for each, and no `FAILED`)",
        "",
        "```sh",
        "sha256sum -c SHA256SUMS",
        "```",
        "",
        "## 2. The list is signed by the evidence key (prints `Signature Verified Successfully`"
        if ed25519
        else "## 2. The list is signed by the evidence key (prints `Verified OK`)",
        "",
        "```sh",
        openssl_verify("keys/signing.pub", signer.algorithm, "SHA256SUMS", "SHA256SUMS.sig"),
        "```",
        "",
        f"## 3. One entry's DSSE signature: `{name}`",
        "",
        "The signature covers `DSSEv1 <len(type)> <type> <len(payload)> <payload>`.",
        "",
        "```sh",
        f'sed -n \'s/.*"payload":"\\([^"]*\\)".*/\\1/p\' {name} | base64 -d > payload.json',
        f'sed -n \'s/.*"sig":"\\([^"]*\\)".*/\\1/p\' {name} | base64 -d > entry.sig',
        "printf 'DSSEv1 28 application/vnd.in-toto+json %d ' \"$(wc -c < payload.json)\" > pae.bin",
        "cat payload.json >> pae.bin",
        openssl_verify(entry_pub, entry_algorithm, "pae.bin", "entry.sig"),
        "```",
        "",
        "`payload.json` is the signed statement: its `subject` lists the evidence files and",
        "their SHA-256, which step 1 matched.",
        "",
        "## 4. The checkpoint is signed by the log key",
        "",
        f"Its first line is the log's origin, `{cp.origin}`; the second the number of entries",
        f"({cp.size}); the third the Merkle root. The signature line ends in base64 of a 4-byte",
        "key id and a 64-byte Ed25519 signature over the first three lines.",
        "",
        "```sh",
        "head -n 3 checkpoint > checkpoint.txt",
        "tail -n 1 checkpoint | sed 's/.* //' | base64 -d | tail -c 64 > checkpoint.sig",
        "openssl pkeyutl -verify -pubin -inkey keys/note.pub -rawin -in checkpoint.txt "
        "-sigfile checkpoint.sig",
        "```",
        "",
        f"## 5. The entry is in the checkpoint's tree (inclusion proof, index {entry.index})",
        "",
        "Leaf hash = SHA-256(0x00 || payload); each proof step hashes 0x01 || left || right",
        f"(RFC 9162 section 2.1.3.2); `proofs/{entry.index:012d}.tlog-proof` lists the hashes.",
        "",
        "```sh",
        "{ printf '\\000'; cat payload.json; } | openssl dgst -sha256 -binary > h.bin",
        f'test "$(base64 < h.bin)" = "{_b64(leaf)}" && echo \'leaf hash OK\'',
    ]
    for i, (side, sibling) in enumerate(steps, 1):
        lines.append(f"echo '{_b64(sibling)}' | base64 -d > p{i}.bin")
        if side == "left":
            lines.append(
                f"{{ printf '\\001'; cat p{i}.bin h.bin; }} | openssl dgst -sha256 -binary > h2.bin"
            )
        else:
            lines.append(
                f"{{ printf '\\001'; cat h.bin p{i}.bin; }} | openssl dgst -sha256 -binary > h2.bin"
            )
        lines.append("mv h2.bin h.bin")
    lines += [
        'test "$(base64 < h.bin)" = "$(sed -n 3p checkpoint)" && echo \'root matches checkpoint\'',
        "```",
        "",
    ]
    lines += _consistency_guide(files, cp)
    lines += [
        "## 7. All of it at once",
        "",
        "```",
        f"evidence verify pack.zip {trust_args} --trusted old-checkpoint",
        "```",
        "",
        "`evidence verify` does every step above for every entry, checks that each stream's",
        "windows are contiguous over the period, and refuses unsafe zip member names.",
        "Leave out `--trusted` if you hold no earlier checkpoint.",
        "",
        "## 8. Every finding follows from these files",
        "",
        "```",
        f"evidence recheck pack.zip {trust_args}",
        "```",
        "",
        "runs every control check again over this pack's own statements and evidence files",
        "(with the period, `[checks]` settings and time `report.json` and `pack.json` record)",
        "and compares each result with `checks.json`; it prints `SAME` for each check.",
        "",
    ]
    return "\n".join(lines)


def _consistency_guide(files: Mapping[str, bytes], cp: Checkpoint) -> list[str]:
    """Step 6 of VERIFY.md: the pack's checkpoint extends one the auditor saved before."""
    sizes = sorted(
        int(name.removeprefix("consistency/")) for name in files if name.startswith("consistency/")
    )
    lines = [
        "## 6. The log was not rolled back or forked since a checkpoint you saved",
        "",
        "A pack alone cannot show that the log behind it is the one you saw before: someone",
        "who cut the log back, or rebuilt it without an entry, can sign a pack that passes",
        "steps 1-5. Keep every pack's `checkpoint` (or the auditee's `log/checkpoints/<n>`);",
        "the next pack must extend it. Same size: the two checkpoints' third lines are equal.",
        "Smaller size m: the pack carries `consistency/<m>`, an RFC 9162 consistency proof",
        f"from size m to this checkpoint's size {cp.size} (section 2.1.4.2), one base64 hash",
        "a line. A larger size than this checkpoint's means the log was rolled back.",
        "",
    ]
    if not sizes:
        lines += [
            "This pack carries no consistency proof. If you hold an earlier checkpoint of this",
            "log, ask for a pack built with `evidence pack --since-checkpoint <your file>`, or",
            "check this one with `evidence verify pack.zip ... --trusted <your file>`.",
            "",
        ]
        return lines
    for m in sizes:
        name = proof_name(m)
        proof = ConsistencyProof.from_bytes(files[name])
        steps = consistency_steps(m, cp.size, len(proof.hashes))
        lines += [
            f"### From size {m}",
            "",
            f"Put the checkpoint you saved at size {m} in `old-checkpoint` (from an earlier",
            "pack: `unzip -p old-pack.zip checkpoint > old-checkpoint`). It must be signed",
            f"by the same log key, name the same log and have size {m}; then `fr` must come",
            "out as its root and `sr` as this pack's checkpoint root.",
            "",
            "```sh",
            "head -n 3 old-checkpoint > old.txt",
            "grep -F \"— $(head -n 1 old-checkpoint) \" old-checkpoint | sed 's/.* //' | base64 -d "
            "| tail -c 64 > old.sig",
            "openssl pkeyutl -verify -pubin -inkey keys/note.pub -rawin -in old.txt "
            "-sigfile old.sig",
            'test "$(sed -n 1p old-checkpoint)" = "$(sed -n 1p checkpoint)" && echo \'same log\'',
            f'test "$(sed -n 2p old-checkpoint)" = "{m}" && echo \'old size {m}\'',
            "sed -n 3p old-checkpoint | base64 -d > old-root.bin",
            f'test "$(wc -l < {name})" -eq {len(proof.hashes)} '
            f"&& echo '{len(proof.hashes)} proof hashes'",
        ]
        for kind, line in steps:
            src = "old-root.bin" if line == 0 else f"c{line}.bin"
            if line:
                lines.append(f"sed -n {line}p {name} | base64 -d > c{line}.bin")
            if kind == "start":
                lines += [f"cp {src} fr.bin", f"cp {src} sr.bin"]
            elif kind == "both":
                lines += [
                    f"{{ printf '\\001'; cat {src} fr.bin; }} | openssl dgst -sha256 -binary "
                    "> t.bin && mv t.bin fr.bin",
                    f"{{ printf '\\001'; cat {src} sr.bin; }} | openssl dgst -sha256 -binary "
                    "> t.bin && mv t.bin sr.bin",
                ]
            else:
                lines.append(
                    f"{{ printf '\\001'; cat sr.bin {src}; }} | openssl dgst -sha256 -binary "
                    "> t.bin && mv t.bin sr.bin"
                )
        lines += [
            "cmp -s fr.bin old-root.bin && echo 'old root OK'",
            'test "$(base64 < sr.bin)" = "$(sed -n 3p checkpoint)" && echo \'new root OK\'',
            "```",
            "",
            "`fr` starts from the old root when m is a power of two, else from the first",
            "hash; each further hash is prepended to both `fr` and `sr`, or appended to `sr`",
            "only, as RFC 9162 section 2.1.4.2 steps 5-6 decide from the two sizes alone.",
            "",
        ]
    return lines


def _inclusion_steps(index: int, size: int, proof: Sequence[bytes]) -> list[tuple[str, bytes]]:
    """RFC 9162 2.1.3.2 as a list of (side of the sibling, sibling hash)."""
    fn, sn = index, size - 1
    steps: list[tuple[str, bytes]] = []
    for p in proof:
        if fn % 2 == 1 or fn == sn:
            steps.append(("left", p))
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            steps.append(("right", p))
        fn >>= 1
        sn >>= 1
    return steps
