"""Key rotation and revocation: `evidence verify --keys` says which key covers which
log indexes; a signature outside its key's range, by a revoked key at or after its
revocation, or by a key the file does not list, is a finding (exit 1).

The log: entries 0-3 signed (and sealed) by the 2025 key, entries 4-7 by the 2026 key,
rotated at log size 4.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.errors import ConfigError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.verify import verify_target
from das_evidence.verify.keys import load_keys_file

ORIGIN = "evidence.example.com/rotation-test"
STREAM = "snowflake/A/login_history"
ROTATED_AT = 4


def _signer(directory: Path, name: str) -> Ed25519Signer:
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    (directory / f"{name}.pub").write_bytes(signer.public_key_pem())
    vkey = VerifierKey.from_public_key(ORIGIN, signer.public_key_raw())
    (directory / f"{name}.vkey").write_text(vkey.to_string() + "\n")
    return signer


def _append(log: ArchiveLog, signer: Ed25519Signer, n: int) -> None:
    body = f"login,{n}\n".encode()
    key = f"evidence/{STREAM}/{n:04d}.csv"
    log.store.put_once(key, body)
    log.append(
        stream=STREAM,
        files=[EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 1)],
        predicate={
            "collector": {"name": "test", "version": "0"},
            "window": {
                "start": f"2026-11-01T{n:02d}:00:00Z",
                "end": f"2026-11-01T{n + 1:02d}:00:00Z",
            },
            "collected_at": "2026-11-02T06:00:00Z",
        },
        signer=signer,
        note_signer=signer,
    )


def _archive(root: Path, signers: list[Ed25519Signer]) -> Path:
    """Entry ``i`` signed and sealed by ``signers[i]``."""
    log = ArchiveLog(LocalStore(root / "archive", create=True), ORIGIN)
    for n, signer in enumerate(signers):
        _append(log, signer, n)
    return root / "archive"


def _keys_file(root: Path, body: str) -> Path:
    path = root / "keys.toml"
    path.write_text(body)
    return path


ROTATION = f"""
[[key]]
pub = "k2025.pub"
until = {ROTATED_AT}

[[key]]
pub = "k2026.pub"
from = {ROTATED_AT}
"""


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Ed25519Signer, Ed25519Signer]:
    return _signer(tmp_path, "k2025"), _signer(tmp_path, "k2026")


def _cli(archive: Path, keys_file: Path) -> subprocess.CompletedProcess[str]:
    args = ["verify", str(archive), "--keys", str(keys_file), "--origin", ORIGIN]
    return subprocess.run(
        [sys.executable, "-m", "das_evidence.cli.main", *args], capture_output=True, text=True
    )


def _findings(root: Path, archive: Path, keys_file: Path) -> list[str]:
    report = verify_target(str(archive), pubs=[], keys_file=keys_file, origin=ORIGIN)
    return [str(f) for f in report.findings]


def test_a_rotated_log_verifies_with_the_keys_file(
    tmp_path: Path, keys: tuple[Ed25519Signer, Ed25519Signer]
) -> None:
    old, new = keys
    archive = _archive(tmp_path, [old] * ROTATED_AT + [new] * 4)
    assert _findings(tmp_path, archive, _keys_file(tmp_path, ROTATION)) == []
    # And through the CLI, as an auditor runs it.
    r = _cli(archive, tmp_path / "keys.toml")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_old_key_signing_after_its_range_fails(
    tmp_path: Path, keys: tuple[Ed25519Signer, Ed25519Signer]
) -> None:
    old, new = keys
    # old_key_signs_after_rotation: entry 5 (and the checkpoint sealing it) by the old key.
    archive = _archive(tmp_path, [old] * ROTATED_AT + [new, old, new, new])
    findings = _findings(tmp_path, archive, _keys_file(tmp_path, ROTATION))
    assert any(
        "000000000005.dsse.json" in f and f"outside its range [0, {ROTATED_AT})" in f
        for f in findings
    ), findings
    assert any("log/checkpoints/6" in f and "does not count" in f for f in findings), findings
    r = _cli(archive, tmp_path / "keys.toml")
    assert r.returncode == 1, r.stdout + r.stderr


def test_a_revoked_key_fails_from_its_revocation_on(
    tmp_path: Path, keys: tuple[Ed25519Signer, Ed25519Signer]
) -> None:
    old, new = keys
    # stolen_key_keeps_signing: the 2026 key, revoked at index 6, signs 6 and 7.
    archive = _archive(tmp_path, [old] * ROTATED_AT + [new] * 4)
    revoked = _keys_file(tmp_path, ROTATION + "revoked_at = 6\n")
    findings = _findings(tmp_path, archive, revoked)
    bad = {f.split("] ")[1].split(":")[0] for f in findings if "revoked at index 6" in f}
    assert {"log/entries/000000000006.dsse.json", "log/entries/000000000007.dsse.json"} <= bad
    assert not any("000000000005.dsse.json" in f for f in findings), findings


def test_a_key_the_file_does_not_list_fails(
    tmp_path: Path, keys: tuple[Ed25519Signer, Ed25519Signer]
) -> None:
    old, new = keys
    stranger = _signer(tmp_path, "stranger")
    archive = _archive(tmp_path, [old] * ROTATED_AT + [new, new, stranger, new])
    findings = _findings(tmp_path, archive, _keys_file(tmp_path, ROTATION))
    assert any(
        "000000000006.dsse.json" in f and "no valid signature by a trusted key" in f
        for f in findings
    ), findings


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "lists no [[key]]"),
        ("[[key]]\nfrom = 0\n", "names neither pub nor vkey"),
        ('[[key]]\npub = "k2025.pub"\nfrom = -1\n', "from must be a log index"),
        ('[[key]]\npub = "k2025.pub"\nfrom = 4\nuntil = 4\n', "until 4 is not after from 4"),
        ('[[key]]\npub = "k2025.pub"\nrevoke = 3\n', "unknown field(s) revoke"),
    ],
)
def test_a_bad_keys_file_is_a_usage_error_naming_the_field(
    tmp_path: Path, keys: tuple[Ed25519Signer, Ed25519Signer], body: str, message: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load_keys_file(_keys_file(tmp_path, body))
    assert message in e.value.message


def test_the_run_verifies_a_rotated_log_with_its_keys_file(
    tmp_path: Path, keys: tuple[Ed25519Signer, Ed25519Signer]
) -> None:
    """`evidence run` signs with the new key; `[signing] keys_file` lets its own
    verification accept the entries the old key signed before the rotation."""
    from datetime import UTC, datetime

    from das_evidence.config import load_settings
    from das_evidence.manifests.keyring import write_key_pair
    from das_evidence.schedules.runner import run
    from tests.conftest import ROOT

    old, _ = keys
    _archive(tmp_path, [old] * ROTATED_AT)
    write_key_pair(tmp_path / "k2026", ORIGIN)
    _keys_file(tmp_path, ROTATION.replace("k2026.pub", "k2026/signing.pub"))
    target = ROOT / "tests" / "fixtures" / "dbt" / "target"
    base = (
        f'[store]\nuri = "archive"\n[log]\norigin = "{ORIGIN}"\n'
        f'[[dbt]]\nproject = "p"\ntarget_dir = "{target}"\n'
    )
    now = datetime(2026, 11, 27, 5, tzinfo=UTC)
    config = tmp_path / "evidence.toml"

    config.write_text(base + '[signing]\nkey = "k2026/signing.key"\n')
    without = run(load_settings(config), clock=lambda: now)
    assert without.exit_code == 1
    assert any("no valid signature by a trusted key" in f for f in without.findings)

    config.write_text(base + '[signing]\nkey = "k2026/signing.key"\nkeys_file = "keys.toml"\n')
    summary = run(load_settings(config), clock=lambda: now)
    assert summary.exit_code == 0, summary.findings
