"""docs/CONTROLS.md is what the code renders: every CIS recommendation, every check."""

from __future__ import annotations

from pathlib import Path

from das_evidence.reports.checks import ALL_CHECKS
from das_evidence.reports.checks.cis import RECOMMENDATIONS
from das_evidence.reports.checks.controls_doc import COMMAND, main, profile, render

DOC = Path(__file__).resolve().parents[4] / "docs" / "CONTROLS.md"


def test_the_committed_doc_is_what_the_code_renders() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/CONTROLS.md is stale: run {COMMAND}"


def test_every_recommendation_and_every_check_is_in_it() -> None:
    text = render()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    for r in RECOMMENDATIONS.values():
        [row] = [line for line in rows if line.startswith(f"| {r.cis} | ")]
        assert f"| {profile(r.cis)} |" in row
        if r.automated:
            assert "| automated |" in row
        else:
            assert r.manual_reason and f"manual: {r.manual_reason}" in row
    for check in ALL_CHECKS:
        assert f"`{check.check_id}`" in text
        for criterion in (*check.control.soc2, *check.control.hipaa):
            assert criterion in text


def test_a_check_without_declared_evidence_or_one_missing_shows_as_such() -> None:
    ours = [c for c in ALL_CHECKS if c.cis == "4.7"]
    text = render(ours)
    assert "(no check registered yet)" in text  # 1.1 .. 4.8 except 4.7
    assert "show_stages.parquet" in text
    assert "## The platform's own checks" in text


def test_every_check_declares_the_evidence_it_reads() -> None:
    assert [c.check_id for c in ALL_CHECKS if not c.reads] == []


def test_main_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "CONTROLS.md"
    assert main(["--write", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render()


def test_a_cis_check_that_is_also_a_platform_control_is_listed_with_the_platform_checks() -> None:
    platform = render().split("## The platform's own checks", 1)[1]
    assert "`account-network-policy-allowlist` | network policy present and allowlist-only" in (
        platform
    )
    assert "`tagged-tables-below-retention` | retention per data classification" in platform
    assert "`periodic-data-rekeying`" not in platform


def test_the_level_2_profile_names_real_recommendations() -> None:
    level_2 = {r.cis for r in RECOMMENDATIONS.values() if r.level == 2}
    assert level_2 == {"1.2", "2.9", "3.1", "4.1", "4.3", "4.4", "4.9", "4.10", "4.11"}
    assert len(RECOMMENDATIONS) - len(level_2) == 30  # Tenable's Level 1 audit holds 30 items
    assert profile("1.2") == "Level 2" and profile("1.1") == "Level 1"
