"""Rollback attacks: each passes plain `evidence verify`, and is caught with a checkpoint
seen before (`--trusted`, a checkpoint file or an older pack) and by `evidence run`,
which refuses to append (issue 11). Fixtures and tests are named after the attack.

The log: an access-history stream and daily policy snapshots,
``a1 p1 a2 p2 a3 p3``; ``p2`` is the snapshot that recorded MFA being turned off.
The auditor saved ``log/checkpoints/6`` and a pack at size 6 before the attack.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.config import load_settings
from das_evidence.errors import ConfigError, VerificationError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.checkpoint import Checkpoint, sign_checkpoint
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.merkle import EMPTY_ROOT
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.reports.pack import build_pack
from das_evidence.schedules.runner import run
from das_evidence.schedules.state import read_from_verified
from das_evidence.services import Services
from das_evidence.verify import load_trusted, verify_target
from das_evidence.verify.findings import Report
from tests.webhook_receiver import Receiver, receiving

ORIGIN = "evidence.example.com/rollback-test"
NOW = datetime(2026, 11, 10, tzinfo=UTC)
ACCESS = "snowflake/A/access_history"
POLICY = "snowflake/A/policy_state"
# (stream, day): a1 p1 a2 p2 a3 p3; p2 recorded MFA being turned off.
LOG = [(ACCESS, 1), (POLICY, 1), (ACCESS, 2), (POLICY, 2), (ACCESS, 3), (POLICY, 3)]
MFA_OFF = 3


def _writable(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            p.chmod(0o644)


def _append(log: ArchiveLog, signer: Ed25519Signer, stream: str, day: int) -> None:
    body = f"{stream},{day}\n".encode()
    key = f"evidence/{stream}/2026110{day}.csv"
    log.store.put_once(key, body)
    if stream == POLICY:
        window = {"start": f"2026-11-0{day}T04:00:00Z", "end": f"2026-11-0{day}T04:00:00Z"}
    else:
        window = {"start": f"2026-11-0{day}T00:00:00Z", "end": f"2026-11-0{day + 1}T00:00:00Z"}
    log.append(
        stream=stream,
        files=[EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 1)],
        predicate={
            "collector": {"name": "test", "version": "0"},
            "window": window,
            "collected_at": f"2026-11-0{day + 1}T06:00:00Z",
        },
        signer=signer,
        note_signer=signer,
    )


@dataclass
class Saved:
    """An archive and what the auditor and the runner kept of it before any attack."""

    root: Path
    pub: Path
    signer: Ed25519Signer
    checkpoint: Path  # a copy of log/checkpoints/6
    pack: Path  # a pack built at size 6
    config: Path  # evidence.toml with a last-run file, after one run recorded size 6


def _config(saved_dir: Path, root: Path, receiver: Receiver | None, status: bool = True) -> Path:
    config = saved_dir / "evidence.toml"
    text = (
        f'[store]\nuri = "{root}"\n[signing]\nkey = "{saved_dir / "keys" / "signing.key"}"\n'
        f'[log]\norigin = "{ORIGIN}"\n'
    )
    if status:
        text += f'[status]\nlast_run_file = "{saved_dir / "last-run.json"}"\n'
    if receiver is not None:
        text += f'[[alerts.webhooks]]\nkind = "generic"\nurl = "{receiver.url()}"\n'
    config.write_text(text)
    return config


def _pack(store: LocalStore, signer: Ed25519Signer, out: Path, **kw: object) -> Path:
    build_pack(
        store,
        origin=ORIGIN,
        signer=signer,
        note_signer=signer,
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 4, tzinfo=UTC),
        out=out,
        **kw,  # type: ignore[arg-type]
    )
    return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


@pytest.fixture
def saved(tmp_path: Path, receiver: Receiver) -> Saved:
    keys = write_key_pair(tmp_path / "keys", ORIGIN)
    signer = Ed25519Signer.from_file(keys["key"], ORIGIN)
    store = LocalStore(tmp_path / "archive", create=True)
    log = ArchiveLog(store, ORIGIN)
    for stream, day in LOG:
        _append(log, signer, stream, day)
    pub = tmp_path / "signing.pub"
    pub.write_bytes(signer.public_key_pem())
    checkpoint = tmp_path / "auditor" / "checkpoint-6"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes((store.root / "log" / "checkpoints" / "6").read_bytes())
    pack = _pack(store, signer, tmp_path / "auditor" / "pack-6.zip")
    config = _config(tmp_path, store.root, receiver)
    first = run(load_settings(config), clock=lambda: NOW)
    assert first.exit_code == 0, first.to_json()
    recorded = json.loads((tmp_path / "last-run.json").read_text())
    assert "note" in recorded["checkpoint"]
    _writable(store.root)
    return Saved(store.root, pub, signer, checkpoint, pack, config)


# --- the attacks ---------------------------------------------------------------------


def _drop_newest(root: Path, keep: int) -> None:
    """The outsider: delete the newest entries, their evidence and checkpoints, and copy
    the older ``log/checkpoints/<keep>`` over ``log/checkpoint``."""
    log = ArchiveLog(LocalStore(root), ORIGIN)
    for entry in log.entries[keep:]:
        (root / "log" / "entries" / f"{entry.index:012d}.dsse.json").unlink()
        for subject in entry.statement.subjects:
            (root / subject.name).unlink()
    for cp in (root / "log" / "checkpoints").iterdir():
        if int(cp.name) > keep:
            cp.unlink()
    shutil.copyfile(root / "log" / "checkpoints" / str(keep), root / "log" / "checkpoint")


def rollback_drop_newest_entry(saved: Saved) -> None:
    _drop_newest(saved.root, 5)


def rollback_drop_three_entries(saved: Saved) -> None:
    _drop_newest(saved.root, 3)


def rollback_all_but_one(saved: Saved) -> None:
    _drop_newest(saved.root, 1)


def insider_drops_an_entry_and_resigns(saved: Saved) -> None:
    """The insider with the signing key: rebuild the log without the snapshot that recorded
    MFA being turned off, re-sign every entry after it, and append one more entry so the
    log has as many entries as before."""
    shutil.rmtree(saved.root)
    log = ArchiveLog(LocalStore(saved.root, create=True), ORIGIN)
    for i, (stream, day) in enumerate(LOG):
        if i != MFA_OFF:
            _append(log, saved.signer, stream, day)
    _append(log, saved.signer, POLICY, 4)
    _writable(saved.root)


ATTACKS: dict[str, Callable[[Saved], None]] = {
    f.__name__: f
    for f in (
        rollback_drop_newest_entry,
        rollback_drop_three_entries,
        rollback_all_but_one,
        insider_drops_an_entry_and_resigns,
    )
}


def _checks(report: Report) -> set[str]:
    return {f.check for f in report.findings}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_attack_passes_plain_verify_and_the_checker(
    attack: str, saved: Saved, eaf_verify: Path
) -> None:
    ATTACKS[attack](saved)
    report = verify_target(str(saved.root), pubs=[saved.pub])
    assert report.ok, report.findings  # the gap --trusted closes
    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(saved.root), "--pub", str(saved.pub)],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("kept", ["checkpoint file", "older pack"])
def test_the_attack_is_caught_with_a_trusted_checkpoint(
    attack: str, kept: str, saved: Saved, eaf_verify: Path
) -> None:
    ATTACKS[attack](saved)
    trusted = saved.checkpoint if kept == "checkpoint file" else saved.pack
    report = verify_target(str(saved.root), pubs=[saved.pub], trusted=[trusted])
    assert _checks(report) == {"V9 trusted"}, report.findings
    message = report.findings[0].message
    assert ("rolled back" in message) or ("forked" in message)
    # The independent checker agrees.
    checker = subprocess.run(
        [
            sys.executable,
            str(eaf_verify),
            str(saved.root),
            "--pub",
            str(saved.pub),
            "--trusted",
            str(trusted),
        ],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 1, checker.stdout


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_pack_of_the_attacked_log_is_caught_and_none_extends_the_saved_one(
    attack: str, saved: Saved, tmp_path: Path
) -> None:
    ATTACKS[attack](saved)
    store = LocalStore(saved.root)
    new = _pack(store, saved.signer, tmp_path / "new.zip", allow_gaps=True)
    assert verify_target(str(new), pubs=[saved.pub]).ok
    for trusted in (saved.checkpoint, saved.pack):
        report = verify_target(str(new), pubs=[saved.pub], trusted=[trusted])
        assert _checks(report) == {"P6 trusted"}, report.findings
    # The builder refuses to prove an extension that is not one.
    with pytest.raises(VerificationError, match=r"rolled back|forked"):
        since = load_trusted([saved.checkpoint])
        _pack(store, saved.signer, tmp_path / "x.zip", since=since, allow_gaps=True)
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_run_refuses_to_append_after_the_attack(
    attack: str, saved: Saved, receiver: Receiver
) -> None:
    ATTACKS[attack](saved)
    before = _tree(saved.root)
    summary = run(load_settings(saved.config), clock=lambda: NOW)
    assert summary.exit_code == 1, summary.to_json()
    assert summary.error is not None and "rolled back or forked" in summary.error
    # A fork of the same size is refused from the verified log the last run kept; a
    # store whose checkpoint went below it is read whole (its own entries decide).
    verification = summary.to_json()["verification"]
    if attack == "insider_drops_an_entry_and_resigns":
        assert verification["mode"] == "incremental"
    else:
        assert verification["mode"] == "full"
        assert "below the verified log's 6" in verification["full_because"]
    assert summary.new_entries == []
    assert _tree(saved.root) == before
    alerts = [json.loads(b) for b in receiver.bodies]
    assert [a["kind"] for a in alerts if a["kind"] == "failure"] == ["failure"]
    assert "rolled back" in json.dumps(alerts)
    # The newest checkpoint seen stays recorded: the next run refuses too.
    again = run(load_settings(saved.config), clock=lambda: NOW)
    assert again.exit_code == 1 and _tree(saved.root) == before


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_collect_after_the_attack_reads_the_store_not_the_verified_log(
    attack: str, saved: Saved, caplog: pytest.LogCaptureFixture
) -> None:
    """`evidence collect` starts from the run's verified log only when the store's signed
    checkpoint extends it; after a rollback or a fork it reads the store whole, as it did
    before it kept no state, and never appends after entries the store does not hold."""
    services = Services(load_settings(saved.config), clock=lambda: NOW)
    read_from_verified(services)
    assert services.known is not None and services.known.size == 6  # before the attack
    ATTACKS[attack](saved)
    with caplog.at_level(logging.INFO, logger="das_evidence.services"):
        archive = services.collect_archive()
    assert services.known is None
    assert "reading the whole log" in caplog.text
    store = ArchiveLog(LocalStore(saved.root), ORIGIN)
    assert [e.statement_bytes for e in archive.entries] == [
        e.statement_bytes for e in store.entries
    ]


def test_an_emptied_store_is_refused_not_sealed_from_the_verified_log(saved: Saved) -> None:
    """store_emptied: the verified log must never stand in for entries the store lacks."""
    shutil.rmtree(saved.root)
    saved.root.mkdir()
    summary = run(load_settings(saved.config), clock=lambda: NOW)
    assert summary.exit_code == 1, summary.to_json()
    assert summary.error is not None and "rolled back or forked" in summary.error
    assert "missing" in summary.to_json()["verification"]["full_because"]
    assert _tree(saved.root) == {}


def test_the_run_refuses_a_rolled_back_checkpoint_over_entries_it_would_seal(
    saved: Saved,
) -> None:
    """Only ``log/checkpoint`` rolled back: without the check the run would seal the
    entries after it again (crash recovery); with it, it writes nothing."""
    shutil.copyfile(saved.root / "log/checkpoints/4", saved.root / "log/checkpoint")
    before = _tree(saved.root)
    summary = run(load_settings(saved.config), clock=lambda: NOW)
    assert summary.exit_code == 1 and summary.recovered == []
    assert _tree(saved.root) == before


def test_the_run_refuses_with_trusted_alone_when_no_status_file(
    saved: Saved, tmp_path: Path
) -> None:
    rollback_drop_three_entries(saved)
    config = _config(tmp_path, saved.root, None, status=False)
    assert run(load_settings(config), clock=lambda: NOW).exit_code == 0  # nothing seen before
    seen = load_trusted([saved.pack])
    summary = run(load_settings(config), clock=lambda: NOW, trusted=seen)
    assert summary.exit_code == 1 and "rolled back" in (summary.error or "")


# --- what must pass --------------------------------------------------------------------


def test_a_consistent_extension_passes(saved: Saved, tmp_path: Path, eaf_verify: Path) -> None:
    store = LocalStore(saved.root)
    log = ArchiveLog(store, ORIGIN)
    _append(log, saved.signer, ACCESS, 4)
    _append(log, saved.signer, POLICY, 4)
    for trusted in (saved.checkpoint, saved.pack):
        report = verify_target(str(saved.root), pubs=[saved.pub], trusted=[trusted])
        assert report.ok, report.findings
    summary = run(load_settings(saved.config), clock=lambda: NOW)
    assert summary.exit_code == 0, summary.to_json()

    new = _pack(store, saved.signer, tmp_path / "new.zip", since=load_trusted([saved.pack]))
    names = zipfile.ZipFile(new).namelist()
    assert "consistency/6" in names
    again = _pack(store, saved.signer, tmp_path / "again.zip", since=load_trusted([saved.pack]))
    assert again.read_bytes() == new.read_bytes()  # still one selection, one byte string
    assert json.loads(zipfile.ZipFile(new).read("pack.json"))["consistency"] == [
        {"file": "consistency/6", "from_size": 6}
    ]
    for trusted in (saved.checkpoint, saved.pack):
        report = verify_target(str(new), pubs=[saved.pub], trusted=[trusted])
        assert report.ok, report.findings
    checker = subprocess.run(
        [
            sys.executable,
            str(eaf_verify),
            str(new),
            "--pub",
            str(saved.pub),
            "--trusted",
            str(saved.checkpoint),
        ],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout
    # A pack without the proof cannot show the extension.
    bare = _pack(store, saved.signer, tmp_path / "bare.zip")
    report = verify_target(str(bare), pubs=[saved.pub], trusted=[saved.checkpoint])
    assert _checks(report) == {"P6 trusted"}
    assert "no consistency/6" in report.findings[0].message
    # The same size and root passes without a proof.
    report = verify_target(str(bare), pubs=[saved.pub], trusted=[bare])
    assert report.ok, report.findings


def test_the_by_hand_consistency_check_in_verify_md_works(saved: Saved, tmp_path: Path) -> None:
    store = LocalStore(saved.root)
    log = ArchiveLog(store, ORIGIN)
    for day in (4, 5, 6):
        _append(log, saved.signer, ACCESS, day)
    # Size 4 (a power of two) and 6 (not): both ways RFC 9162 starts the check.
    four = tmp_path / "checkpoint-4"
    four.write_bytes((saved.root / "log/checkpoints/4").read_bytes())
    since = load_trusted([four, saved.checkpoint])
    new = _pack(store, saved.signer, tmp_path / "new.zip", since=since)
    unzipped = tmp_path / "unzipped"
    zipfile.ZipFile(new).extractall(unzipped)
    guide = (unzipped / "VERIFY.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", guide, flags=re.S)
    assert len(blocks) == 8  # steps 0-5 and one per proof
    for old, block in ((four, blocks[6]), (saved.checkpoint, blocks[7])):
        shutil.copyfile(old, unzipped / "old-checkpoint")
        done = subprocess.run(
            ["bash", "-c", "set -e\n" + block], cwd=unzipped, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        for said in ("same log", "old root OK", "new root OK", "Signature Verified Successfully"):
            assert said in done.stdout, done.stdout
    # The steps for size 6 given the checkpoint of size 4: they say nothing is OK.
    shutil.copyfile(four, unzipped / "old-checkpoint")
    done = subprocess.run(["bash", "-c", blocks[7]], cwd=unzipped, capture_output=True, text=True)
    assert "old size 6" not in done.stdout and "old root OK" not in done.stdout


def test_a_checkpoint_of_another_log_is_a_clear_error(saved: Saved, tmp_path: Path) -> None:
    other_signer = Ed25519Signer(Ed25519PrivateKey.generate(), "other.example.com/log")
    other = tmp_path / "other-checkpoint"
    other.write_bytes(
        sign_checkpoint(Checkpoint("other.example.com/log", 1, EMPTY_ROOT), other_signer)
    )
    report = verify_target(str(saved.root), pubs=[saved.pub], trusted=[other])
    assert _checks(report) == {"V9 trusted"}
    assert "checkpoint of the log 'other.example.com/log'" in report.findings[0].message
    # Same origin, another key: not signed by this log's note key.
    forged_signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    forged = tmp_path / "forged-checkpoint"
    forged.write_bytes(sign_checkpoint(Checkpoint(ORIGIN, 7, EMPTY_ROOT), forged_signer))
    report = verify_target(str(saved.pack), pubs=[saved.pub], trusted=[forged])
    assert _checks(report) == {"P6 trusted"}
    assert "not signed by this log's note key" in report.findings[0].message
    with pytest.raises(ConfigError, match="--since-checkpoint"):
        _pack(LocalStore(saved.root), saved.signer, tmp_path / "x.zip", since=load_trusted([other]))
    # Not a checkpoint at all: a usage error naming the file.
    junk = tmp_path / "junk"
    junk.write_text("hello\n")
    with pytest.raises(ConfigError, match="junk is not a signed checkpoint"):
        load_trusted([junk])
