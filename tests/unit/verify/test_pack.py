"""Auditor packs: built from an archive, verified offline, by hand, and under attack."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.config import ChecksConfig
from das_evidence.errors import (
    ConfigError,
    FormatError,
    GapError,
    InternalError,
    NothingSelectedError,
    VerificationError,
)
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.checkpoint import Checkpoint, sign_checkpoint
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.note import SignedNote
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.reports.bundle import report_files
from das_evidence.reports.evidence import from_archive
from das_evidence.reports.pack import build_pack, sha256sums
from das_evidence.verify import verify_target

ORIGIN = "evidence.example.com/pack-test"
D = datetime(2026, 11, 1, tzinfo=UTC)


def _append(log: ArchiveLog, signer: Ed25519Signer, stream: str, day: int, **extra: object) -> None:
    body = f"{stream},{day}\n".encode() * 20
    key = f"evidence/{stream}/2026110{day}.csv"
    log.store.put_once(key, body)
    start = f"2026-11-0{day}T00:00:00Z"
    end = f"2026-11-0{day + 1}T00:00:00Z"
    log.append(
        stream=stream,
        files=[EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 20)],
        predicate={
            "collector": {"name": "t", "version": "0"},
            "window": {"start": start, "end": end},
            "collected_at": end,
            **extra,
        },
        signer=signer,
        note_signer=signer,
    )


@pytest.fixture
def archive(tmp_path: Path) -> tuple[LocalStore, Ed25519Signer, Path]:
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    store = LocalStore(tmp_path / "archive", create=True)
    log = ArchiveLog(store, ORIGIN)
    for day in (1, 2, 3, 4):
        for stream in ("snowflake/A/access_history", "snowflake/A/login_history"):
            _append(log, signer, stream, day)
    pub = tmp_path / "signing.pub"
    pub.write_bytes(signer.public_key_pem())
    return store, signer, pub


def _pack(store: LocalStore, signer: Ed25519Signer, out: Path, **kw: object) -> Path:
    build_pack(
        store,
        origin=ORIGIN,
        signer=signer,
        note_signer=signer,
        start=kw.pop("start", datetime(2026, 11, 2, tzinfo=UTC)),  # type: ignore[arg-type]
        end=kw.pop("end", datetime(2026, 11, 4, tzinfo=UTC)),  # type: ignore[arg-type]
        out=out,
        extras=kw.pop("extras", report_files(checks=ChecksConfig())),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )
    return out


def test_a_pack_verifies_here_with_the_checker_and_with_sha256sum(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path, eaf_verify: Path
) -> None:
    store, signer, pub = archive
    pack = _pack(store, signer, tmp_path / "pack.zip")
    report = verify_target(str(pack), pubs=[pub])
    assert report.ok, report.findings
    assert report.stats["entries"] == 4  # two streams, days 2 and 3
    names = zipfile.ZipFile(pack).namelist()
    for member in ("report.html", "oscal/assessment-results.json", "pack.json", "VERIFY.md"):
        assert member in names
    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(pack), "--pub", str(pub)],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout + checker.stderr
    unzipped = tmp_path / "unzipped"
    zipfile.ZipFile(pack).extractall(unzipped)
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=unzipped, capture_output=True)
    assert sums.returncode == 0 and b"FAILED" not in sums.stdout


def test_verify_md_commands_work_as_written(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, _ = archive
    pack = _pack(store, signer, tmp_path / "pack.zip")
    unzipped = tmp_path / "unzipped"
    zipfile.ZipFile(pack).extractall(unzipped)
    guide = (unzipped / "VERIFY.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", guide, flags=re.S)
    assert len(blocks) == 6
    script = "set -e\n" + "\n".join(blocks)
    run = subprocess.run(["bash", "-c", script], cwd=unzipped, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout + run.stderr
    # Step 0 prints the hex of the fingerprints FINGERPRINTS.txt and pack.json publish.
    fingerprints = (unzipped / "keys" / "FINGERPRINTS.txt").read_text()
    assert signer.fingerprint in fingerprints
    assert signer.fingerprint.removeprefix("SHA256:") in out
    keys = json.loads((unzipped / "pack.json").read_text())["keys"]
    assert keys["signing"]["fingerprint"] == signer.fingerprint
    assert keys["note"]["fingerprint"].removeprefix("SHA256:") in out
    assert keys["note"]["fingerprint"] in fingerprints
    assert "FAILED" not in out
    assert out.count("Signature Verified Successfully") == 3  # sums, entry, checkpoint
    assert "leaf hash OK" in out and "root matches checkpoint" in out


def test_the_same_selection_gives_the_same_bytes(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, _ = archive
    a = _pack(store, signer, tmp_path / "a.zip").read_bytes()
    b = _pack(store, signer, tmp_path / "b.zip").read_bytes()
    assert a == b


def test_a_period_the_archive_does_not_cover_names_the_missing_windows(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, pub = archive
    late = datetime(2026, 11, 7, tzinfo=UTC)
    with pytest.raises(GapError) as e:
        _pack(store, signer, tmp_path / "p.zip", end=late)
    assert "snowflake/A/access_history: [2026-11-05T00:00:00Z, 2026-11-07T00:00:00Z)" in str(
        e.value
    )
    assert not (tmp_path / "p.zip").exists()
    pack = _pack(store, signer, tmp_path / "p.zip", end=late, allow_gaps=True)
    assert verify_target(str(pack), pubs=[pub]).ok
    assert b"2026-11-05T00:00:00Z" in zipfile.ZipFile(pack).read("pack.json")


def test_a_report_writer_replacing_a_pack_file_is_a_bug_and_writes_nothing(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, _ = archive
    with pytest.raises(InternalError, match="tried to replace checkpoint") as e:
        _pack(store, signer, tmp_path / "p.zip", extras=lambda *_: {"checkpoint": b"x"})
    assert e.value.exit_code == 4
    assert not (tmp_path / "p.zip").exists()


def test_a_pack_that_cannot_be_written_is_a_config_error(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, _ = archive
    (tmp_path / "out").write_text("a file where the directory should be")
    with pytest.raises(ConfigError, match="cannot write the pack") as e:
        _pack(store, signer, tmp_path / "out" / "p.zip")
    assert e.value.fix == "choose a writable --out path"


# -- attacks -----------------------------------------------------------------


def _rewrite(
    pack: Path, change: dict[str, bytes | None], extra: dict[str, bytes] | None = None
) -> None:
    z = zipfile.ZipFile(pack)
    files = {n: z.read(n) for n in z.namelist()}
    z.close()
    for name, data in change.items():
        if data is None:
            files.pop(name)
        else:
            files[name] = data
    with zipfile.ZipFile(pack, "w") as out:
        for name, data in files.items():
            out.writestr(name, data)
        for name, data in (extra or {}).items():
            out.writestr(name, data)


def _read(pack: Path, name: str) -> bytes:
    return zipfile.ZipFile(pack).read(name)


def edited_report(pack: Path, signer: Ed25519Signer) -> None:
    html = _read(pack, "report.html")
    assert b">FAIL<" in html or b"NOT EVIDENCED" in html or b"FAIL" in html
    _rewrite(pack, {"report.html": html.replace(b"FAIL", b"PASS")})


def edited_verify_guide(pack: Path, signer: Ed25519Signer) -> None:
    _rewrite(pack, {"VERIFY.md": _read(pack, "VERIFY.md").replace(b"# Verifying", b"# Trust me")})


def swapped_proofs(pack: Path, signer: Ed25519Signer) -> None:
    names = sorted(n for n in zipfile.ZipFile(pack).namelist() if n.startswith("proofs/"))
    a, b = _read(pack, names[0]), _read(pack, names[1])
    _rewrite(pack, {names[0]: b, names[1]: a})


def forged_checkpoint(pack: Path, signer: Ed25519Signer) -> None:
    forger = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    cp = Checkpoint.from_text(SignedNote.from_bytes(_read(pack, "checkpoint")).text)
    _rewrite(pack, {"checkpoint": sign_checkpoint(cp, forger)})


def evidence_changed_and_sums_recomputed(pack: Path, signer: Ed25519Signer) -> None:
    z = zipfile.ZipFile(pack)
    files = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in files if n.startswith("evidence/"))
    files[name] = files[name].replace(b",", b";")
    rest = {n: d for n, d in files.items() if n not in ("SHA256SUMS", "SHA256SUMS.sig")}
    _rewrite(pack, {name: files[name], "SHA256SUMS": sha256sums(rest)})


def zip_slip(pack: Path, signer: Ed25519Signer) -> None:
    _rewrite(pack, {}, extra={"../../evil.sh": b"rm -rf ~\n"})


def absolute_member(pack: Path, signer: Ed25519Signer) -> None:
    _rewrite(pack, {}, extra={"/etc/cron.d/evil": b"* * * * * root true\n"})


def entry_dropped(pack: Path, signer: Ed25519Signer) -> None:
    name = sorted(n for n in zipfile.ZipFile(pack).namelist() if n.startswith("entries/"))[0]
    _rewrite(pack, {name: None})


@pytest.mark.parametrize(
    ("attack", "check"),
    [
        (edited_report, "P2"),
        (edited_verify_guide, "P2"),
        (swapped_proofs, "P4"),
        (forged_checkpoint, "P3"),
        (evidence_changed_and_sums_recomputed, "P2"),
        (zip_slip, "P1"),
        (absolute_member, "P1"),
        (entry_dropped, "P2"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_attack_on_a_pack_is_rejected(
    archive: tuple[LocalStore, Ed25519Signer, Path],
    tmp_path: Path,
    eaf_verify: Path,
    attack: object,
    check: str,
) -> None:
    store, signer, pub = archive
    pack = _pack(store, signer, tmp_path / "pack.zip")
    attack(pack, signer)  # type: ignore[operator]
    report = verify_target(str(pack), pubs=[pub])
    assert not report.ok
    assert check in {f.check.split()[0] for f in report.findings}, report.findings
    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(pack), "--pub", str(pub)], capture_output=True
    )
    assert checker.returncode != 0


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    from das_evidence.verify.pack import read_pack

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("evidence/zeros.bin", b"\0" * (64 * 1024**2))
    contents = read_pack(bomb)
    assert contents.problems and "zip bomb" in contents.problems[0][1]
    assert "evidence/zeros.bin" not in contents.files


def _archive_path(store: LocalStore, key: str) -> Path:
    path = store.root / key
    path.chmod(0o644)
    return path


def test_a_pack_is_not_built_over_an_evidence_file_that_changed(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, _ = archive
    target = _archive_path(store, "evidence/snowflake/A/access_history/20261102.csv")
    target.write_bytes(target.read_bytes() + b"x\n")
    with pytest.raises(FormatError, match="does not match the digest"):
        _pack(store, signer, tmp_path / "pack.zip")
    assert not (tmp_path / "pack.zip").exists()


def test_a_pack_is_not_built_over_an_entry_signed_by_another_key(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, _ = archive
    other = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    with pytest.raises(VerificationError, match="V2 signature"):
        build_pack(
            store,
            origin=ORIGIN,
            signer=other,
            note_signer=signer,
            start=datetime(2026, 11, 2, tzinfo=UTC),
            end=datetime(2026, 11, 4, tzinfo=UTC),
            out=tmp_path / "pack.zip",
        )
    with pytest.raises(VerificationError, match="does not verify"):
        _pack(store, other, tmp_path / "pack.zip")
    assert not (tmp_path / "pack.zip").exists()


def test_a_report_reads_only_files_that_match_their_signed_digest(
    archive: tuple[LocalStore, Ed25519Signer, Path],
) -> None:
    store, _, _ = archive
    evidence = from_archive(
        store, ORIGIN, datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
    )
    path = "evidence/snowflake/A/access_history/20261102.csv"
    assert evidence.read_bytes(path).startswith(b"snowflake/A/access_history,2")
    _archive_path(store, path).write_bytes(b"forged\n")
    with pytest.raises(FormatError, match="does not match the digest"):
        evidence.read_bytes(path)
    with pytest.raises(FormatError, match="named by no entry"):
        evidence.read_bytes("evidence/snowflake/A/access_history/20261104.csv")


def test_building_a_pack_reports_reading_then_writing_to_the_end(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, _ = archive
    heard: list[tuple[int, int, str]] = []
    out = _pack(store, signer, tmp_path / "p.zip", progress=lambda *a: heard.append(a))
    reading = [h for h in heard if h[2] == "reading evidence"]
    writing = [h for h in heard if h[2] == "writing files"]
    assert reading and reading[0][0] == 0 and reading[-1][0] < reading[-1][1]
    members = len(zipfile.ZipFile(out).namelist())
    assert writing[-1] == (members, members, "writing files")
    assert [d for d, _, _ in writing] == list(range(members + 1))
    assert heard == reading + writing  # reading first, then writing


def test_a_period_with_no_entries_is_an_empty_selection(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, _ = archive
    with pytest.raises(NothingSelectedError, match="nothing selected: no entries in") as e:
        _pack(
            store,
            signer,
            tmp_path / "p.zip",
            start=datetime(2025, 1, 1, tzinfo=UTC),
            end=datetime(2025, 2, 1, tzinfo=UTC),
        )
    assert e.value.exit_code == 2
    assert not (tmp_path / "p.zip").exists()


def test_the_same_selection_streamed_twice_gives_the_same_bytes(
    archive: tuple[LocalStore, Ed25519Signer, Path], tmp_path: Path
) -> None:
    store, signer, _ = archive
    one = _pack(store, signer, tmp_path / "one.zip").read_bytes()
    two = _pack(store, signer, tmp_path / "two.zip").read_bytes()
    assert one == two
    with zipfile.ZipFile(tmp_path / "one.zip") as z:
        kinds = {i.filename: i.compress_type for i in z.infolist()}
    # Evidence copied from the store is deflated unless already compressed (CSV here).
    assert kinds["evidence/snowflake/A/access_history/20261102.csv"] == zipfile.ZIP_DEFLATED
