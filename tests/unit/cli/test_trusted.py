"""`--trusted` and `--since-checkpoint` through the CLI: exit codes, and a run that would
append refusing to after the store was rolled back."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from tests.unit.cli.conftest import Evidence


def _rm_log(site: Path) -> None:
    """The outsider's rollback to nothing: every entry, evidence file and checkpoint gone."""
    for part in ("log", "evidence"):
        shutil.rmtree(site / "archive" / part)


def test_a_run_after_a_rollback_collects_nothing_and_says_why(
    collected: Path, evidence: Evidence
) -> None:
    first = evidence("run")
    assert first.code == 0, first.err
    record = json.loads((collected / "last-run.json").read_text())
    assert record["checkpoint"]["note"]
    _rm_log(collected)
    refused = evidence("run")
    assert refused.code == 1
    summary = refused.summary()
    assert "rolled back" in summary["error"] and summary["new_entries"] == 0
    # Without the guard the run would have collected the dbt invocation again.
    assert not (collected / "archive" / "log").exists()
    assert not any((collected / "archive").rglob("*.dsse.json"))


def test_a_run_without_a_record_collects_again_which_is_what_the_guard_prevents(
    collected: Path, evidence: Evidence
) -> None:
    """The same rollback with no last-run record: the run appends (the gap the guard closes)."""
    _rm_log(collected)
    (collected / "last-run.json").unlink(missing_ok=True)
    assert evidence("run").code == 0
    assert any((collected / "archive").rglob("*.dsse.json"))


def test_trusted_files_that_are_not_checkpoints_are_usage_errors(
    collected: Path, evidence: Evidence
) -> None:
    junk = collected / "junk"
    junk.write_text("not a checkpoint\n")
    empty_zip = collected / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("README", "no checkpoint here")
    pub = str(collected / "keys" / "signing.pub")
    for bad in (junk, empty_zip, collected / "missing"):
        r = evidence("verify", "archive", "--pub", pub, "--trusted", str(bad))
        assert r.code == 2, r.out + r.err
        assert str(bad) in r.err and "fix:" in r.err
    run = evidence("run", "--trusted", str(junk))
    assert run.code == 2 and "junk" in run.summary()["error"]
    pack = evidence(
        "pack", "--from", "2026-11-27", "--to", "2026-11-28", "--since-checkpoint", str(junk)
    )
    assert pack.code == 2 and "--since-checkpoint" in pack.err
    assert not (collected / "pack.zip").exists()


def test_verify_and_pack_accept_a_checkpoint_seen_before(
    collected: Path, evidence: Evidence
) -> None:
    pub = str(collected / "keys" / "signing.pub")
    saved = collected / "saved-checkpoint"
    saved.write_bytes((collected / "archive" / "log" / "checkpoint").read_bytes())
    assert evidence("verify", "archive", "--pub", pub, "--trusted", str(saved)).code == 0
    r = evidence(
        "pack", "--from", "2026-11-27", "--to", "2026-11-28", "--since-checkpoint", str(saved)
    )
    assert r.code == 0, r.err
    assert evidence("verify", "pack.zip", "--pub", pub, "--trusted", str(saved)).code == 0
    assert evidence("verify", "archive", "--pub", pub, "--trusted", "pack.zip").code == 0
