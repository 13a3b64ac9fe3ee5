"""Key rotation across what an auditor holds: a checkpoint saved before the rotation
(``--trusted``, ``--since-checkpoint``) and a pack whose entries two keys signed.

The log of :mod:`tests.unit.verify.test_key_rotation`: entries 0-3 signed and sealed by
the 2025 key, 4-7 by the 2026 key. ``log/checkpoints/4`` is last year's checkpoint,
signed by the 2025 note key; it must still count, with the keys file, as the
checkpoint this year's archive and pack extend.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from das_evidence.errors import ConfigError, VerificationError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.reports.pack import build_pack
from das_evidence.verify import load_trusted, verify_target
from das_evidence.verify.keys import load_keys_file
from tests.unit.verify.test_key_rotation import (
    ORIGIN,
    ROTATED_AT,
    ROTATION,
    _archive,
    _keys_file,
    _signer,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture
def rotated(tmp_path: Path) -> tuple[Path, Ed25519Signer, Ed25519Signer]:
    old, new = _signer(tmp_path, "k2025"), _signer(tmp_path, "k2026")
    archive = _archive(tmp_path, [old] * ROTATED_AT + [new] * 4)
    _keys_file(tmp_path, ROTATION)
    shutil.copy(archive / "log" / "checkpoints" / str(ROTATED_AT), tmp_path / "last-year")
    return archive, old, new


def _findings(target: Path, keys: Path, trusted: list[Path]) -> list[str]:
    report = verify_target(str(target), pubs=[], keys_file=keys, origin=ORIGIN, trusted=trusted)
    return [str(f) for f in report.findings]


def _pack(
    root: Path,
    archive: Path,
    signer: Ed25519Signer,
    *,
    since: list[Path] = (),  # type: ignore[assignment]
    with_keys: bool = True,
) -> Path:
    out = root / "pack.zip"
    build_pack(
        LocalStore(archive),
        origin=ORIGIN,
        signer=signer,
        note_signer=signer,
        start=START,
        end=END,
        out=out,
        allow_gaps=True,
        since=load_trusted(since, "--since-checkpoint"),
        keys=load_keys_file(root / "keys.toml") if with_keys else None,
    )
    return out


def test_the_archive_extends_a_checkpoint_the_old_key_signed(
    tmp_path: Path, rotated: tuple[Path, Ed25519Signer, Ed25519Signer]
) -> None:
    archive, _, _ = rotated
    keys = tmp_path / "keys.toml"
    assert _findings(archive, keys, [tmp_path / "last-year"]) == []


def test_a_checkpoint_the_old_key_signed_after_its_range_is_not_trusted(
    tmp_path: Path, rotated: tuple[Path, Ed25519Signer, Ed25519Signer]
) -> None:
    """The 2025 key left at index 4: a checkpoint of size 6 it signs proves nothing."""
    archive, old, _ = rotated
    from das_evidence.manifests.checkpoint import Checkpoint, sign_checkpoint
    from das_evidence.manifests.log import ArchiveLog

    log = ArchiveLog(LocalStore(archive), ORIGIN)
    forged = sign_checkpoint(Checkpoint(ORIGIN, 6, log.root(6)), old)
    (tmp_path / "forged").write_bytes(forged)
    findings = _findings(archive, tmp_path / "keys.toml", [tmp_path / "forged"])
    assert any("V9 trusted" in f and "outside its range" in f for f in findings), findings


def test_a_pack_spanning_the_rotation_builds_and_verifies_with_its_keys(
    tmp_path: Path, rotated: tuple[Path, Ed25519Signer, Ed25519Signer]
) -> None:
    archive, _, new = rotated
    pack = _pack(tmp_path, archive, new, since=[tmp_path / "last-year"])
    names = zipfile.ZipFile(pack).namelist()
    assert f"consistency/{ROTATED_AT}" in names
    assert "keys/keys.toml" in names
    # The auditor's own keys file, and the one the pack carries (after comparing the
    # fingerprints), both verify it; with last year's checkpoint trusted.
    assert _findings(pack, tmp_path / "keys.toml", [tmp_path / "last-year"]) == []
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(pack).extractall(unpacked)
    assert _findings(pack, unpacked / "keys" / "keys.toml", [tmp_path / "last-year"]) == []
    guide = (unpacked / "VERIFY.md").read_text()
    assert "--keys keys/keys.toml" in guide
    # Through the CLI, as the auditor runs it.
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "das_evidence.cli.main",
            "verify",
            str(pack),
            "--keys",
            str(unpacked / "keys" / "keys.toml"),
            "--trusted",
            str(tmp_path / "last-year"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_guide_checks_each_entry_with_the_key_that_signed_it(
    tmp_path: Path, rotated: tuple[Path, Ed25519Signer, Ed25519Signer]
) -> None:
    """VERIFY.md step 3 on an entry the 2025 key signed: the command names that key's
    file in the pack, and the command passes."""
    archive, _, new = rotated
    pack = _pack(tmp_path, archive, new)
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(pack).extractall(unpacked)
    guide = (unpacked / "VERIFY.md").read_text()
    step3 = guide.split("## 3.")[1].split("## 4.")[0]
    script = step3.split("```sh\n")[1].split("```")[0]
    assert "keys/signing.pub" not in script, script  # the entry is the old key's
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    r = subprocess.run(["sh", "-c", script], cwd=unpacked, capture_output=True, text=True)
    assert r.returncode == 0 and "Verified Successfully" in r.stdout, r.stdout + r.stderr


def test_a_pack_signed_by_a_revoked_key_fails(
    tmp_path: Path, rotated: tuple[Path, Ed25519Signer, Ed25519Signer]
) -> None:
    """SHA256SUMS.sig counts only by a key that covers the pack's checkpoint."""
    archive, _, new = rotated
    pack = _pack(tmp_path, archive, new)
    revoked = _keys_file(tmp_path, ROTATION + "revoked_at = 6\n")
    findings = _findings(pack, revoked, [])
    assert any("P2 sums" in f and "revoked at index 6" in f for f in findings), findings


def test_building_a_pack_across_the_rotation_without_the_keys_file_is_refused(
    tmp_path: Path, rotated: tuple[Path, Ed25519Signer, Ed25519Signer]
) -> None:
    """Without `[signing] keys_file` the 2025 entries do not verify with the 2026 key:
    the error says which setting lets the builder accept them."""
    archive, _, new = rotated
    with pytest.raises(VerificationError) as e:
        _pack(tmp_path, archive, new, with_keys=False)
    assert "keys_file" in e.value.fix
    assert not (tmp_path / "pack.zip").exists()


def test_a_keys_file_naming_a_missing_key_is_a_config_error(tmp_path: Path) -> None:
    _keys_file(tmp_path, '[[key]]\npub = "nowhere.pub"\n')
    with pytest.raises(ConfigError):
        load_keys_file(tmp_path / "keys.toml")


def test_evidence_pack_spans_the_rotation_with_the_configured_keys_file(tmp_path: Path) -> None:
    """The CLI as the compliance lead runs it: `[signing] keys_file` reaches the builder."""
    from das_evidence.manifests.keyring import load_signers, write_key_pair

    old = _signer(tmp_path, "k2025")
    write_key_pair(tmp_path / "k2026", ORIGIN)
    new, _ = load_signers(str(tmp_path / "k2026" / "signing.key"), ORIGIN, None)
    assert isinstance(new, Ed25519Signer)
    _archive(tmp_path, [old] * ROTATED_AT + [new] * 4)
    _keys_file(tmp_path, ROTATION.replace("k2026.pub", "k2026/signing.pub"))
    config = tmp_path / "evidence.toml"
    base = f'[store]\nuri = "archive"\n[log]\norigin = "{ORIGIN}"\n'
    signing = '[signing]\nkey = "k2026/signing.key"\n'
    args = ["pack", "--from", "2026-11-01", "--to", "2026-11-02", "--allow-gaps"]
    args += ["--config", str(config), "--out", str(tmp_path / "pack.zip")]

    def cli(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "das_evidence.cli.main", *args, *extra],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )

    config.write_text(base + signing)
    refused = cli()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "keys_file" in refused.stdout + refused.stderr
    assert not (tmp_path / "pack.zip").exists()

    config.write_text(base + signing + 'keys_file = "keys.toml"\n')
    built = cli("--json")
    assert built.returncode == 0, built.stdout + built.stderr
    with zipfile.ZipFile(tmp_path / "pack.zip") as z:
        assert "keys/keys.toml" in z.namelist()
        z.extractall(tmp_path / "unpacked")
    assert _findings(tmp_path / "pack.zip", tmp_path / "unpacked" / "keys" / "keys.toml", []) == []
