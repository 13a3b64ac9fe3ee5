"""Hostile input to `evidence verify`: each ends in exit 1 with a finding (or 3 when the
target cannot be read), never a traceback, a hang or unbounded memory.

Tests are named after the hostile input.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.config import ChecksConfig
from das_evidence.errors import StoreError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.reports.bundle import report_files
from das_evidence.reports.pack import build_pack, sha256sums
from das_evidence.verify import pack as pack_module
from das_evidence.verify.pack import read_pack
from tests.unit.cli.conftest import Evidence, Result, clean_env, evidence  # noqa: F401

ORIGIN = "evidence.example.com/hostile-test"
Archive = tuple[LocalStore, Ed25519Signer, Path]


def _parquet(rows: int) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"n": list(range(rows))}), buf)
    return buf.getvalue()


def _append(log: ArchiveLog, signer: Ed25519Signer, day: int, signed_rows: int = 3) -> None:
    body = _parquet(3)
    key = f"evidence/s/A/t/date=2026-11-0{day}/part.parquet"
    log.store.put_once(key, body)
    start, end = f"2026-11-0{day}T00:00:00Z", f"2026-11-0{day + 1}T00:00:00Z"
    log.append(
        stream="s/A/t",
        files=[
            EvidenceFile(
                key,
                hashlib.sha256(body).hexdigest(),
                len(body),
                "application/vnd.apache.parquet",
                signed_rows,
            )
        ],
        predicate={
            "collector": {"name": "t", "version": "0"},
            "window": {"start": start, "end": end},
            "collected_at": end,
        },
        signer=signer,
        note_signer=signer,
    )


@pytest.fixture
def archive(tmp_path: Path, clean_env: None) -> Archive:  # noqa: F811
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    store = LocalStore(tmp_path / "archive", create=True)
    log = ArchiveLog(store, ORIGIN)
    for day in (1, 2, 3):
        _append(log, signer, day)
    pub = tmp_path / "signing.pub"
    pub.write_bytes(signer.public_key_pem())
    for p in store.root.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    return store, signer, pub


def _verify(evidence: Evidence, target: Path, pub: Path, *more: str) -> Result:  # noqa: F811
    r = evidence("verify", str(target), "--pub", str(pub), "--format", "json", *more)
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    assert r.code in (1, 3), (r.code, r.out, r.err)
    return r


def _findings(r: Result) -> list[str]:
    return [f"[{f['check']}] {f['subject']}: {f['message']}" for f in json.loads(r.out)["findings"]]


def _has(r: Result, check: str, text: str) -> None:
    assert r.code == 1
    found = _findings(r)
    assert any(f.startswith(f"[{check}") and text in f for f in found), found


# -- archives ----------------------------------------------------------------------------


def test_entry_files_not_a_list(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    path = store.root / "log/entries/000000000001.dsse.json"
    env = json.loads(path.read_bytes())
    statement = json.loads(base64.b64decode(env["payload"]))
    statement["predicate"]["files"] = 5
    env["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(env))
    _has(_verify(evidence, store.root, pub), "V3", "predicate.files is a int, not a list")


def test_checkpoint_is_a_symlink_to_dev_zero(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    (store.root / "log/checkpoint").unlink()
    (store.root / "log/checkpoint").symlink_to("/dev/zero")
    _has(_verify(evidence, store.root, pub), "V1", "symbolic link")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_checkpoint_is_a_device(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    (store.root / "log/checkpoints/3").unlink()
    try:
        os.mknod(store.root / "log/checkpoints/3", 0o644 | 0o020000, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("mknod needs root")
    _has(_verify(evidence, store.root, pub), "V1", "a device")


def test_entry_is_a_fifo(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    (store.root / "log/entries/000000000001.dsse.json").unlink()
    os.mkfifo(store.root / "log/entries/000000000001.dsse.json")
    _has(_verify(evidence, store.root, pub), "V1", "a FIFO")


def test_evidence_file_is_a_fifo(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    path = next(store.root.rglob("*.parquet"))
    path.unlink()
    os.mkfifo(path)
    _has(_verify(evidence, store.root, pub), "V1", "a FIFO")


def test_stray_file_name_with_a_space(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    (store.root / "evidence" / "a stray file.txt").write_text("x")
    _has(_verify(evidence, store.root, pub), "V1", "not a valid key")


def test_stray_file_name_not_utf8(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    with open(os.fsencode(store.root / "evidence") + b"/\xff\xfe.bin", "wb") as f:
        f.write(b"x")
    r = _verify(evidence, store.root, pub)
    _has(r, "V1", "not a valid key")
    assert "\\xff" in r.out


def test_entry_larger_than_an_envelope_may_be(
    evidence: Evidence,  # noqa: F811
    archive: Archive,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from das_evidence.verify import archive as archive_module

    monkeypatch.setattr(archive_module, "MAX_ENVELOPE_BYTES", 100)
    store, _, pub = archive
    _has(_verify(evidence, store.root, pub), "V1", "more than the 100 a log object may have")


def test_missing_newest_numbered_checkpoint(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    (store.root / "log/checkpoints/3").unlink()
    _has(_verify(evidence, store.root, pub), "V7", "no checkpoint of that size is kept")


def test_signed_rows_differ_from_the_parquet_footer(
    evidence: Evidence,  # noqa: F811
    tmp_path: Path,
    clean_env: None,  # noqa: F811
) -> None:
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    store = LocalStore(tmp_path / "archive", create=True)
    _append(ArchiveLog(store, ORIGIN), signer, 1, signed_rows=5)
    pub = tmp_path / "signing.pub"
    pub.write_bytes(signer.public_key_pem())
    _has(_verify(evidence, store.root, pub), "V6", "footer states 3 rows")


def test_parquet_file_with_a_garbage_footer(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    path = next(store.root.rglob("*.parquet"))
    path.write_bytes(b"\xff" * 4 + b"\xff\xff\xff\x7fPAR1")
    _has(_verify(evidence, store.root, pub), "V6", "rows cannot be counted")


def test_origin_from_the_archive_is_warned_of(evidence: Evidence, archive: Archive) -> None:  # noqa: F811
    store, _, pub = archive
    text = evidence("-q", "verify", str(store.root), "--pub", str(pub))
    assert text.code == 0, text.err
    assert text.out.splitlines()[1].startswith("WARNING: origin taken from the archive")
    r = evidence("verify", str(store.root), "--pub", str(pub), "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["stats"]["note"] == "origin taken from the archive"
    assert doc["stats"]["origin_source"] == "target" and doc["warnings"]
    pinned = evidence("verify", str(store.root), "--pub", str(pub), "--origin", ORIGIN)
    assert pinned.code == 0 and "WARNING" not in pinned.out


# -- packs -------------------------------------------------------------------------------


def _pack(archive: Archive, out: Path) -> Path:
    store, signer, _ = archive
    build_pack(
        store,
        origin=ORIGIN,
        signer=signer,
        note_signer=signer,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 4, tzinfo=UTC),
        out=out,
        extras=report_files(checks=ChecksConfig()),
    )
    return out


def _members(pack: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pack) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write(
    pack: Path,
    files: dict[str, bytes],
    signer: Ed25519Signer | None = None,
    extra: Callable[[zipfile.ZipFile], None] | None = None,
) -> None:
    if signer is not None:  # re-sign, so that only the check under test can fail
        rest = {n: d for n, d in files.items() if n not in ("SHA256SUMS", "SHA256SUMS.sig")}
        files["SHA256SUMS"] = sha256sums(rest)
        files["SHA256SUMS.sig"] = signer.sign(files["SHA256SUMS"])
    with zipfile.ZipFile(pack, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        if extra:
            extra(z)


def test_corrupt_deflate_stream_in_a_pack_member(
    evidence: Evidence,  # noqa: F811
    archive: Archive,
    tmp_path: Path,
) -> None:
    pack = _pack(archive, tmp_path / "pack.zip")
    files = _members(pack)
    _write(pack, files)
    with zipfile.ZipFile(pack) as z:
        info = z.getinfo("pack.json")
    raw = bytearray(pack.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start : start + info.compress_size] = b"\xff" * info.compress_size
    pack.write_bytes(bytes(raw))
    _has(_verify(evidence, pack, archive[2]), "P1", "cannot be read")


def test_directory_members_traversal_absolute_or_with_data(
    evidence: Evidence,  # noqa: F811
    archive: Archive,
    tmp_path: Path,
) -> None:
    pack = _pack(archive, tmp_path / "pack.zip")

    def dirs(z: zipfile.ZipFile) -> None:
        z.writestr(zipfile.ZipInfo("../../x/"), b"")
        z.writestr(zipfile.ZipInfo("/abs/"), b"")
        z.writestr(zipfile.ZipInfo("evidence/full/"), b"data in a directory")

    _write(pack, _members(pack), archive[1], extra=dirs)
    r = _verify(evidence, pack, archive[2])
    found = "\n".join(_findings(r))
    assert "[P1 zip] ../../x/" in found and "[P1 zip] /abs/" in found
    assert "[P1 zip] evidence/full/: a directory member that holds data" in found


def test_inclusion_proof_embedding_an_older_checkpoint(
    evidence: Evidence,  # noqa: F811
    archive: Archive,
    tmp_path: Path,
) -> None:
    store, signer, pub = archive
    pack = _pack(archive, tmp_path / "pack.zip")
    files = _members(pack)
    name = "proofs/000000000000.tlog-proof"
    # Entry 0 is the whole tree of size 1: a valid proof, but not against the pack's checkpoint.
    files[name] = b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + store.get("log/checkpoints/1")
    _write(pack, files, signer)
    _has(_verify(evidence, pack, pub), "P4", "older than the pack's checkpoint")


def test_pack_json_that_differs_from_the_pack(
    evidence: Evidence,  # noqa: F811
    archive: Archive,
    tmp_path: Path,
) -> None:
    _, signer, pub = archive
    pack = _pack(archive, tmp_path / "pack.zip")
    files = _members(pack)
    doc = json.loads(files["pack.json"])
    doc["checkpoint"]["size"] += 1
    doc["streams"]["s/A/t"]["entries"] = [0, 1]
    files["pack.json"] = json.dumps(doc).encode()
    _write(pack, files, signer)
    r = _verify(evidence, pack, pub)
    _has(r, "P7", "is not the pack's checkpoint")
    _has(r, "P7", "lists entries [0, 1], the pack holds [0, 1, 2]")


def test_pack_json_nested_too_deeply(evidence: Evidence, archive: Archive, tmp_path: Path) -> None:  # noqa: F811
    _, signer, pub = archive
    pack = _pack(archive, tmp_path / "pack.zip")
    files = _members(pack)
    files["pack.json"] = b"[" * 200_000 + b"]" * 200_000
    _write(pack, files, signer)
    _has(_verify(evidence, pack, pub), "P7", "nested deeper than 256")


def test_small_members_zip_bomb_is_held_under_the_bound(
    evidence: Evidence,  # noqa: F811
    archive: Archive,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pack_module, "MAX_HELD_BYTES", 8 << 20)
    pack = tmp_path / "bomb.zip"
    member = b"\0" * ((1 << 20) - 1)
    with zipfile.ZipFile(pack, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(20):
            z.writestr(f"proofs/{i:012d}.tlog-proof", member)
        for i in range(20):
            z.writestr(f"evidence/x/{i}.bin", member)
    contents = read_pack(pack)
    assert sum(len(d) for d in contents.files.values()) <= 8 << 20
    assert len(contents.digests) == 20 + 8  # evidence streamed, proofs held up to the bound
    _has(_verify(evidence, pack, archive[2]), "P1", "more than a pack's log members may hold")


def test_many_small_members_that_unpack_far_beyond_their_size_are_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Members of up to 1 MiB escape the per-member ratio; in bulk they do not.
    monkeypatch.setattr(pack_module, "MAX_EXCESS_BYTES", 8 << 20)
    pack = tmp_path / "bomb.zip"
    with zipfile.ZipFile(pack, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(20):
            z.writestr(f"evidence/x/{i}.bin", b"\0" * ((1 << 20) - 1))
    with pytest.raises(StoreError, match="refusing a possible zip bomb"):
        read_pack(pack)


def test_a_member_above_the_member_bound_is_a_finding_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pack_module, "MAX_MEMBER_BYTES", 1 << 20)
    pack = tmp_path / "big.zip"
    with zipfile.ZipFile(pack, "w", zipfile.ZIP_STORED) as z:
        z.writestr("evidence/x/big.bin", os.urandom((1 << 20) + 1))
        z.writestr("evidence/x/small.bin", b"ok")
    contents = read_pack(pack)
    assert (
        "evidence/x/big.bin",
        f"{(1 << 20) + 1} bytes, more than a member may hold ({1 << 20})",
    ) in contents.problems
    assert list(contents.digests) == ["evidence/x/small.bin"]
