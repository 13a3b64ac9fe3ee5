"""Witnesses end to end: `evidence run` publishes to a directory witness and to an
`evidence witness serve` on loopback; `evidence verify --witness` then catches the
rollbacks that plain `evidence verify` passes. Tests are named after the attack.

The archive: six entries over two streams, appended day by day (a1 b1 a2 b2 a3 b3),
so cutting the newest entries leaves every stream tiled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.witness.cosignature import WitnessSigner

pytestmark = pytest.mark.integration

ORIGIN = "evidence.example.com/witness-it"
NOW = "2026-11-10T00:00:00Z"
DAYS = [(s, d) for d in (1, 2, 3) for s in ("s/a", "s/b")]


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    return subprocess.run(
        [sys.executable, "-m", "das_evidence.cli.main", *args],
        cwd=cwd,
        env={**env, "EVIDENCE_NOW": NOW},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _append(log: ArchiveLog, signer: Ed25519Signer, stream: str, day: int) -> None:
    start, end = f"2026-11-0{day}T00:00:00Z", f"2026-11-0{day + 1}T00:00:00Z"
    body = f"{stream},{day}\n".encode()
    key = f"evidence/{stream}/{start.replace(':', '')}_{end.replace(':', '')}.csv"
    log.store.put_once(key, body)
    f = EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 1)
    predicate = {
        "collector": {"name": "test", "version": "0"},
        "window": {"start": start, "end": end},
        "collected_at": end,
    }
    log.append(stream=stream, files=[f], predicate=predicate, signer=signer, note_signer=signer)


def _build(root: Path, signer: Ed25519Signer, days: list[tuple[str, int]]) -> None:
    log = ArchiveLog(LocalStore(root, create=True), ORIGIN)
    for stream, day in days:
        _append(log, signer, stream, day)


def _writable(root: Path) -> None:
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


@pytest.fixture
def witness_server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """`evidence witness serve` on 127.0.0.1 (ephemeral port), stopped after the test."""
    keys = write_key_pair(tmp_path / "keys", ORIGIN)
    WitnessSigner.generate("witness.example.net/it").write(tmp_path / "witness-keys")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "das_evidence.cli.main", "witness", "serve",
            "--key", str(tmp_path / "witness-keys" / "witness.key"),
            "--state", str(tmp_path / "witness-state"),
            "--log", str(keys["vkey"]),
            "--listen", "127.0.0.1:0",
        ],
        env={**env, "EVIDENCE_NOW": NOW},
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "listening on" in line, line
        port = line.strip().rsplit(":", 1)[1]
        vkey = (tmp_path / "witness-keys" / "witness.vkey").read_text().strip()
        yield f"http://127.0.0.1:{port}", vkey, keys["key"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture
def witnessed(tmp_path: Path, witness_server: tuple[str, str, Path]) -> tuple[Path, Ed25519Signer]:
    """An archive of six entries whose last run published to both witnesses."""
    url, vkey, key = witness_server
    signer = Ed25519Signer.from_file(key, ORIGIN)
    _build(tmp_path / "archive", signer, DAYS)
    (tmp_path / "evidence.toml").write_text(
        f'[store]\nuri = "archive"\n[signing]\nkey = "{key}"\n[log]\norigin = "{ORIGIN}"\n'
        f'[[witnesses]]\nuri = "{tmp_path / "witness-copies"}"\nrequired = true\n'
        f'[[witnesses]]\nuri = "{url}"\nkind = "cosigner"\nvkey = "{vkey}"\nrequired = true\n'
    )
    run = _cli(tmp_path, "run")
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert [w["ok"] for w in summary["witnesses"]] == [True, True], summary["witnesses"]
    assert "cosigned size 6" in summary["witnesses"][1]["detail"]
    (tmp_path / "signing.pub").write_bytes(signer.public_key_pem())
    _writable(tmp_path / "archive")
    return tmp_path, signer


def _entry_key(i: int) -> str:
    return f"log/entries/{i:012d}.dsse.json"


def _drop_newest(root: Path, keep: int) -> None:
    """The outsider's rollback: delete the newest entries, their evidence and checkpoints,
    and point log/checkpoint at the older checkpoint of what is left."""
    store = LocalStore(root)
    log = ArchiveLog(store, ORIGIN)
    for entry in log.entries[keep:]:
        for subject in entry.statement.subjects:
            (root / subject.name).unlink()
        (root / _entry_key(entry.index)).unlink()
    for size in range(keep + 1, len(log.entries) + 1):
        (root / "log" / "checkpoints" / str(size)).unlink(missing_ok=True)
    shutil.copyfile(root / "log" / "checkpoints" / str(keep), root / "log" / "checkpoint")


def rollback_drop_newest_entry(root: Path, _: Ed25519Signer) -> None:
    _drop_newest(root, 5)


def rollback_drop_three_entries(root: Path, _: Ed25519Signer) -> None:
    _drop_newest(root, 3)


def rollback_all_but_one(root: Path, _: Ed25519Signer) -> None:
    _drop_newest(root, 1)


def insider_drops_an_entry_and_resigns(root: Path, signer: Ed25519Signer) -> None:
    """An insider with the signing key rewrites the log without a3 (entry 4), re-signs
    every entry and checkpoint, and appends a new day so the log is as long as before."""
    shutil.rmtree(root)
    days = [d for d in DAYS if d != ("s/a", 3)] + [("s/b", 4)]
    _build(root, signer, days)
    _writable(root)


ATTACKS: dict[str, Callable[[Path, Ed25519Signer], None]] = {
    f.__name__: f
    for f in (
        rollback_drop_newest_entry,
        rollback_drop_three_entries,
        rollback_all_but_one,
        insider_drops_an_entry_and_resigns,
    )
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_passes_plain_verify_and_is_caught_by_witnesses(
    attack: str,
    witnessed: tuple[Path, Ed25519Signer],
    witness_server: tuple[str, str, Path],
) -> None:
    directory, signer = witnessed
    url, vkey, _ = witness_server
    archive = directory / "archive"
    base = ("verify", str(archive), "--pub", "signing.pub")
    assert _cli(directory, *base).returncode == 0  # untouched

    ATTACKS[attack](archive, signer)

    plain = _cli(directory, *base)
    assert plain.returncode == 0, plain.stdout + plain.stderr  # what the witnesses are for
    for witness in (
        ("--witness", str(directory / "witness-copies")),
        ("--witness", url, "--witness-vkey", vkey),
    ):
        caught = _cli(directory, *base, *witness, "--format", "json")
        assert caught.returncode == 1, caught.stdout + caught.stderr
        findings = json.loads(caught.stdout)["findings"]
        expected = "forked" if attack.startswith("insider") else "rolled back"
        assert any(expected in f["message"] for f in findings), findings


def test_untouched_archive_passes_with_both_witnesses(
    witnessed: tuple[Path, Ed25519Signer], witness_server: tuple[str, str, Path]
) -> None:
    directory, _ = witnessed
    url, vkey, _ = witness_server
    result = _cli(
        directory, "verify", "archive", "--pub", "signing.pub",
        "--witness", str(directory / "witness-copies"),
        "--witness", url, "--witness-vkey", vkey,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "witnessed:" in result.stdout


def test_a_run_after_a_rollback_fails_on_its_required_witnesses(
    witnessed: tuple[Path, Ed25519Signer],
) -> None:
    directory, signer = witnessed
    rollback_drop_three_entries(directory / "archive", signer)
    run = _cli(directory, "run")
    summary = json.loads(run.stdout)
    assert run.returncode == 1, summary
    assert [w["ok"] for w in summary["witnesses"]] == [False, False]
    assert "rolled back" in summary["error"]


def test_witness_publish_by_hand_and_offline_cosign(witnessed: tuple[Path, Ed25519Signer]) -> None:
    directory, _ = witnessed
    published = _cli(directory, "witness", "publish", "--format", "json")
    assert published.returncode == 0, published.stdout + published.stderr
    assert all(p["ok"] for p in json.loads(published.stdout))
    cosigned = _cli(
        directory, "witness", "cosign", "archive/log/checkpoint",
        "--key", "witness-keys/witness.key", "--log", "keys/signing.vkey",
    )  # fmt: skip
    assert cosigned.returncode == 0, cosigned.stderr
    assert cosigned.stdout.count("\n— ") == 2 or cosigned.stdout.count("— ") == 2
