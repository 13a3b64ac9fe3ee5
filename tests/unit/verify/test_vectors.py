"""`evidence verify` agrees with the conformance kit on its golden archive."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from das_evidence.verify import verify_target


def _copy(vectors: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "archive"
    shutil.copytree(vectors / "archive", dst)
    for p in dst.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    return dst


def _files(archive: Path, under: str) -> list[Path]:
    return sorted(p for p in (archive / under).rglob("*") if p.is_file())


def test_accepts_the_vector_archive(vectors: Path) -> None:
    report = verify_target(str(vectors / "archive"), pubs=[vectors / "signing.pub"])
    assert report.ok, report.findings
    assert report.stats["entries"] == 9
    vkey = (vectors / "signing.vkey").read_text().strip()
    assert verify_target(str(vectors / "archive"), pubs=[vectors / "signing.pub"], vkey=vkey).ok


@pytest.mark.parametrize("under", ["evidence", "log/entries", "log/checkpoints", "log/checkpoint"])
def test_rejects_any_single_flipped_byte(vectors: Path, tmp_path: Path, under: str) -> None:
    """Flip one byte at several offsets of every file of a kind; each must be rejected."""
    archive = _copy(vectors, tmp_path)
    targets = [archive / under] if (archive / under).is_file() else _files(archive, under)
    assert targets
    checked = 0
    for target in targets:
        original = target.read_bytes()
        for offset in sorted({0, len(original) // 3, len(original) // 2, len(original) - 1}):
            data = bytearray(original)
            data[offset] ^= 0x01
            target.write_bytes(bytes(data))
            report = verify_target(str(archive), pubs=[vectors / "signing.pub"])
            assert not report.ok, f"{target} byte {offset} flipped was accepted"
            checked += 1
        target.write_bytes(original)
    assert verify_target(str(archive), pubs=[vectors / "signing.pub"]).ok
    assert checked >= len(targets)


def test_rejects_an_unknown_key(vectors: Path, tmp_path: Path) -> None:
    from das_evidence.manifests.signers import generate_ed25519_key

    _, public = generate_ed25519_key()
    other = tmp_path / "other.pub"
    other.write_bytes(public)
    report = verify_target(str(vectors / "archive"), pubs=[other])
    assert not report.ok
    assert any(f.check.startswith("V2") for f in report.findings)
    assert any(f.check.startswith("V7") for f in report.findings)
