"""Issue 12, must show 4: the checks re-derive from a pack alone.

Collect from the fake Snowflake, build a pack, compute every check from the
archive; then delete the archive, keep only the pack, compute every check again
from the pack's own files (its statements, its evidence, the period and check
settings it records) and get the same answer: status, summary, findings,
details, evidence references and CIS id, for every check.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import UTC, datetime

import pytest

from das_evidence.config import load_settings
from das_evidence.errors import EvidenceError, VerificationError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.reports.bundle import check_settings_of, run_checks_for
from das_evidence.reports.checks import ALL_CHECKS
from das_evidence.reports.evidence import from_archive, from_pack, from_verified_pack
from das_evidence.reports.model import CheckResult
from das_evidence.timefmt import parse_rfc3339
from das_evidence.verify import load_trust
from tests.integration.conftest import ORIGIN, Env

START = datetime(2026, 11, 17, tzinfo=UTC)
END = datetime(2026, 11, 21, tzinfo=UTC)  # the day of the policy snapshot included


def _as_json(results: list[CheckResult]) -> dict[str, dict[str, object]]:
    return {r.check_id: json.loads(json.dumps(r.to_json(), default=str)) for r in results}


def test_every_check_rederives_identically_from_the_pack_alone(env: Env) -> None:
    run = env.cli("run")
    assert run.returncode in (0, 1), run.stderr  # a failing check is not a failing run
    packed = env.cli(
        "pack", "--from", "2026-11-17", "--to", "2026-11-21", "--out", "pack.zip", "--allow-gaps"
    )
    assert packed.returncode == 0, packed.stderr
    pack_path = env.dir / "pack.zip"

    with zipfile.ZipFile(pack_path) as z:
        pack_json = json.loads(z.read("pack.json"))
    now = parse_rfc3339(pack_json["generated_at"])  # what the pack's checks ran at
    settings = load_settings(env.config)
    archived = from_archive(LocalStore(env.archive), ORIGIN, START, END)
    from_archive_results = run_checks_for(archived, now, settings.checks)
    assert {r.check_id for r in from_archive_results} == {c.check_id for c in ALL_CHECKS}
    statuses = {r.status for r in from_archive_results}
    assert {"pass", "fail"} <= statuses, statuses  # findings and passes both re-derived
    assert any(r.findings and r.evidence for r in from_archive_results)

    shutil.rmtree(env.archive)  # only the pack is left
    assert not env.archive.exists()

    # what an auditor runs: `evidence recheck PACK` with the published keys
    vkey = str(env.dir / "keys" / "signing.vkey")
    recheck = env.cli("recheck", "pack.zip", "--pub", str(env.pub), "--vkey", vkey, "--json")
    assert recheck.returncode == 0, (recheck.stdout[-2000:], recheck.stderr[-2000:])
    rechecked = json.loads(recheck.stdout)
    assert rechecked["same"] is True
    assert {c["check_id"] for c in rechecked["checks"]} == {c.check_id for c in ALL_CHECKS}
    assert all(c["recorded"] == c["rederived"] for c in rechecked["checks"])

    # the keys the auditee published (here: the run's own), not the pack's copy
    trust = load_trust([env.pub], str(env.dir / "keys" / "signing.vkey"), ORIGIN)
    evidence = from_verified_pack(pack_path, trust)
    with zipfile.ZipFile(pack_path) as z:
        pack_settings = check_settings_of(z.read("report.json"))
        pack_checks = json.loads(z.read("checks.json"))
        assert (evidence.start, evidence.end) == (START, END)
        from_pack_results = run_checks_for(evidence, now, pack_settings)

    assert pack_settings == settings.checks
    archive_json, pack_json_results = _as_json(from_archive_results), _as_json(from_pack_results)
    assert list(archive_json) == list(pack_json_results)
    for check_id, expected in archive_json.items():
        got = pack_json_results[check_id]
        for key in ("status", "summary", "findings", "details", "evidence", "cis"):
            assert got[key] == expected[key], (check_id, key)
    # ...and both are what the pack's own checks.json recorded when it was built
    assert {r["check_id"]: r["status"] for r in pack_checks} == {
        k: v["status"] for k, v in archive_json.items()
    }
    for r in pack_checks:
        assert r["findings"] == archive_json[r["check_id"]]["findings"], r["check_id"]
        assert r["cis"] == archive_json[r["check_id"]]["cis"]


def test_a_pack_file_altered_after_signing_is_refused(env: Env) -> None:
    assert env.cli("run").returncode in (0, 1)
    assert (
        env.cli(
            "pack",
            "--from",
            "2026-11-17",
            "--to",
            "2026-11-20",
            "--out",
            "pack.zip",
            "--allow-gaps",
        ).returncode
        == 0
    )
    with zipfile.ZipFile(env.dir / "pack.zip") as z:
        files = {n: z.read(n) for n in z.namelist()}
    victim = next(n for n in sorted(files) if n.startswith("evidence/"))
    files[victim] = files[victim][:-8] + b"\0" * 8
    evidence = from_pack(files, list(files))
    assert any(f["path"] == victim for e in evidence.entries for f in e.files)
    try:
        evidence.read_bytes(victim)
    except EvidenceError as e:
        assert "does not match the digest" in e.message
    else:
        raise AssertionError("a file that no longer matches its signed digest was read")
    # ...and the verified way in refuses the whole pack before any check reads it
    altered = env.dir / "altered.zip"
    with zipfile.ZipFile(altered, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    trust = load_trust([env.pub], str(env.dir / "keys" / "signing.vkey"), ORIGIN)
    with pytest.raises(VerificationError, match="does not verify"):
        from_verified_pack(altered, trust)
    vkey = str(env.dir / "keys" / "signing.vkey")
    refused = env.cli("recheck", "altered.zip", "--pub", str(env.pub), "--vkey", vkey)
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert "does not verify" in refused.stderr and "Traceback" not in refused.stderr
    assert from_verified_pack(env.dir / "pack.zip", trust).entries  # the original verifies
