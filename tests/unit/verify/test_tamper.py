"""Attacks on an archive written by the product; each must be found by `evidence verify`
and by the check `evidence run` makes after it appends (one verification core, two callers).

Fixtures are named after the attack.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.config import load_settings
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.schedules.runner import run
from das_evidence.verify import verify_target
from das_evidence.verify.findings import Report

ORIGIN = "evidence.example.com/tamper-test"


def _writable(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            p.chmod(0o644)


def _append(
    log: ArchiveLog,
    signer: Ed25519Signer,
    stream: str,
    start: str,
    end: str,
    body: bytes,
    **extra: object,
) -> None:
    suffix = ".amend.csv" if "amends" in extra else ".csv"
    key = f"evidence/{stream}/{start.replace(':', '')}_{end.replace(':', '')}{suffix}"
    log.store.put_once(key, body)
    f = EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 1)
    predicate = {
        "collector": {"name": "test", "version": "0"},
        "window": {"start": start, "end": end},
        "collected_at": end,
        **extra,
    }
    log.append(stream=stream, files=[f], predicate=predicate, signer=signer, note_signer=signer)


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, Path, Ed25519Signer]:
    keys = write_key_pair(tmp_path / "keys", ORIGIN)
    signer = Ed25519Signer.from_file(keys["key"], ORIGIN)
    store = LocalStore(tmp_path / "archive", create=True)
    log = ArchiveLog(store, ORIGIN)
    for stream in ("s/a", "s/b"):
        for day in (1, 2, 3):
            _append(
                log,
                signer,
                stream,
                f"2026-11-0{day}T00:00:00Z",
                f"2026-11-0{day + 1}T00:00:00Z",
                f"{stream},{day}\n".encode(),
            )
    pub = tmp_path / "signing.pub"
    pub.write_bytes(signer.public_key_pem())
    _writable(store.root)
    return store.root, pub, signer


def _verify(root: Path, pub: Path) -> Report:
    return verify_target(str(root), pubs=[pub])


def _run(root: Path, pub: Path) -> Report:
    """`evidence run` over the archive (nothing due): its post-append verification."""
    config = root.parent / "evidence.toml"
    config.write_text(
        f'[store]\nuri = "{root}"\n[signing]\nkey = "{pub.parent / "keys" / "signing.key"}"\n'
        f'[log]\norigin = "{ORIGIN}"\n[status]\nlast_run_file = "{root.parent / "last-run.json"}"\n'
    )
    summary = run(load_settings(config), clock=lambda: datetime(2026, 11, 10, tzinfo=UTC))
    report = Report(str(root))
    for line in summary.findings:
        check, _, rest = line.removeprefix("[").partition("] ")
        report.fail(check, "", rest)
    assert summary.exit_code == (0 if report.ok and not summary.error else 1), summary.to_json()
    # A checkpoint behind the entries is what a crash leaves too: the run seals the
    # entries (they are signed by this log's key) and reports what it found.
    for note in summary.recovered:
        report.fail("V7 checkpoint (recovered by the run)", "log/checkpoint", note)
    return report


VERIFIERS = {"evidence verify": _verify, "evidence run": _run}


def _checks(report: Report) -> set[str]:
    return {f.check.split()[0] for f in report.findings}


def test_untouched_archive_passes(archive: tuple[Path, Path, Ed25519Signer]) -> None:
    root, pub, _ = archive
    report = _verify(root, pub)
    assert report.ok, report.findings
    assert report.stats["entries"] == 6
    assert _run(root, pub).ok


def entry(root: Path, i: int) -> Path:
    return root / "log" / "entries" / f"{i:012d}.dsse.json"


Attack = Callable[[Path, Ed25519Signer], None]


def chain_gap(root: Path, _: Ed25519Signer) -> None:
    entry(root, 2).unlink()


def entry_swapped(root: Path, _: Ed25519Signer) -> None:
    a, b = entry(root, 1), entry(root, 2)
    tmp = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(tmp)


def evidence_missing(root: Path, _: Ed25519Signer) -> None:
    next((root / "evidence").rglob("*.csv")).unlink()


def evidence_appended_byte(root: Path, _: Ed25519Signer) -> None:
    f = next((root / "evidence").rglob("*.csv"))
    f.write_bytes(f.read_bytes() + b"\n")


def unreferenced_file(root: Path, _: Ed25519Signer) -> None:
    (root / "evidence" / "smuggled.csv").write_bytes(b"not in any statement\n")


def stray_file(root: Path, _: Ed25519Signer) -> None:
    (root / "README").write_bytes(b"x")


def checkpoint_rolled_back(root: Path, _: Ed25519Signer) -> None:
    shutil.copy(root / "log" / "checkpoints" / "3", root / "log" / "checkpoint")


def checkpoint_missing(root: Path, _: Ed25519Signer) -> None:
    (root / "log" / "checkpoint").unlink()


def unsealed_tail(root: Path, signer: Ed25519Signer) -> None:
    # A valid, signed entry appended without a checkpoint over it.
    before = (root / "log" / "checkpoint").read_bytes()
    log = ArchiveLog(LocalStore(root), ORIGIN)
    _append(log, signer, "s/a", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z", b"late\n")
    _writable(root)
    (root / "log" / "checkpoint").write_bytes(before)
    (root / "log" / "checkpoints" / "7").unlink()


def entry_resigned_by_attacker(root: Path, _: Ed25519Signer) -> None:
    attacker = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    for p in sorted((root / "log").rglob("*")):
        if p.is_file():
            p.unlink()
    for p in sorted((root / "evidence").rglob("*")):
        if p.is_file():
            p.unlink()
    log = ArchiveLog(LocalStore(root), ORIGIN)
    _append(log, attacker, "s/a", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", b"forged\n")


def stream_gap(root: Path, signer: Ed25519Signer) -> None:
    log = ArchiveLog(LocalStore(root), ORIGIN)
    _append(log, signer, "s/a", "2026-11-05T00:00:00Z", "2026-11-06T00:00:00Z", b"gap\n")


def stream_overlap(root: Path, signer: Ed25519Signer) -> None:
    log = ArchiveLog(LocalStore(root), ORIGIN)
    _append(log, signer, "s/b", "2026-11-03T12:00:00Z", "2026-11-05T00:00:00Z", b"overlap\n")


def amends_nothing(root: Path, signer: Ed25519Signer) -> None:
    log = ArchiveLog(LocalStore(root), ORIGIN)
    _append(log, signer, "s/b", "2026-11-09T00:00:00Z", "2026-11-10T00:00:00Z", b"x\n", amends=1)


@pytest.mark.parametrize(
    ("attack", "check"),
    [
        (chain_gap, "V1"),
        (entry_swapped, "V4"),
        (evidence_missing, "V6"),
        (evidence_appended_byte, "V6"),
        (unreferenced_file, "V6"),
        (stray_file, "V1"),
        (checkpoint_rolled_back, "V7"),
        (checkpoint_missing, "V7"),
        (unsealed_tail, "V7"),
        (entry_resigned_by_attacker, "V2"),
        (stream_gap, "V8"),
        (stream_overlap, "V8"),
        (amends_nothing, "V8"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
@pytest.mark.parametrize("verifier", sorted(VERIFIERS))
def test_attack_is_found(
    archive: tuple[Path, Path, Ed25519Signer], attack: Attack, check: str, verifier: str
) -> None:
    root, pub, signer = archive
    attack(root, signer)
    _writable(root)
    report = VERIFIERS[verifier](root, pub)
    assert not report.ok
    assert check in _checks(report), report.findings


def test_an_amendment_of_a_real_window_passes(archive: tuple[Path, Path, Ed25519Signer]) -> None:
    root, pub, signer = archive
    log = ArchiveLog(LocalStore(root), ORIGIN)
    _append(
        log,
        signer,
        "s/a",
        "2026-11-02T00:00:00Z",
        "2026-11-03T00:00:00Z",
        b"late rows\n",
        amends=1,
    )
    report = _verify(root, pub)
    assert report.ok, report.findings


def test_files_are_read_only_on_disk(tmp_path: Path) -> None:
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    log = ArchiveLog(LocalStore(tmp_path / "a", create=True), ORIGIN)
    _append(log, signer, "s/a", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", b"x\n")
    for p in (tmp_path / "a" / "log" / "entries").iterdir():
        assert not os.access(p, os.W_OK) or os.geteuid() == 0
        assert not p.stat().st_mode & 0o222
