"""``docs/CONTROLS.md``, rendered from the code so it cannot drift.

The tables come from :data:`~.cis.RECOMMENDATIONS` (every CIS Snowflake Foundations
v1.0.0 recommendation, automated or manual with its reason) and
:data:`~.registry.ALL_CHECKS` (each check's id, ``cis``, ``reads`` and SOC 2 / HIPAA
mapping). ``tests/unit/reports/checks/test_controls_doc.py`` fails when the file in the
repository differs from :func:`render`; regenerate it with::

    python -m das_evidence.reports.checks.controls_doc --write docs/CONTROLS.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from das_evidence.reports.checks.cis import BENCHMARK, RECOMMENDATIONS, SECTIONS, Recommendation
from das_evidence.reports.checks.interface import Check
from das_evidence.reports.checks.registry import ALL_CHECKS

COMMAND = "python -m das_evidence.reports.checks.controls_doc --write docs/CONTROLS.md"
NONE = "—"


def profile(cis: str) -> str:
    """The benchmark profile a recommendation belongs to: ``Level 1`` or ``Level 2``."""
    return f"Level {RECOMMENDATIONS[cis].level}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _codes(values: Sequence[str]) -> str:
    return "<br>".join(_cell(v) for v in values) if values else NONE


def _recommendation_row(r: Recommendation, checks: Sequence[Check]) -> str:
    if not r.automated:
        cells = [r.cis, r.title, f"manual: {r.manual_reason}", NONE, NONE, NONE, NONE]
    elif not checks:
        cells = [r.cis, r.title, "automated", "(no check registered yet)", NONE, NONE, NONE]
    else:
        cells = [
            r.cis,
            r.title,
            "automated",
            "<br>".join(f"`{c.check_id}`" for c in checks),
            "<br>".join(_codes(c.reads) for c in checks),
            ", ".join(dict.fromkeys(s for c in checks for s in c.control.soc2)),
            ", ".join(dict.fromkeys(h for c in checks for h in c.control.hipaa)),
        ]
    cells.insert(2, profile(r.cis))
    return "| " + " | ".join(_cell(c) if i < 4 else c for i, c in enumerate(cells)) + " |"


def render(checks: Sequence[Check] = ALL_CHECKS) -> str:
    """The whole of docs/CONTROLS.md."""
    by_cis: dict[str, list[Check]] = {}
    for c in checks:
        if c.cis is not None:
            by_cis.setdefault(c.cis, []).append(c)
    recs = list(RECOMMENDATIONS.values())
    automated = [r for r in recs if r.automated]
    covered = [r for r in automated if by_cis.get(r.cis)]
    lines = [
        "# Controls",
        "",
        f"<!-- generated from the code; do not edit. Regenerate: {COMMAND} -->",
        "",
        "Every control the evidence is checked against: the "
        f"{BENCHMARK}, recommendation by recommendation, then the platform's own checks. "
        "A check reads archived, signed evidence only (never the live account) and answers "
        "pass, fail or not_evidenced. The evidence column names the files of a policy-state "
        "snapshot (with the SHOW command or ACCOUNT_USAGE view behind each), the history "
        "streams or the dbt artefacts the check reads; docs/FORMAT.md describes them.",
        "",
        f"{len(recs)} recommendations: {len(automated)} automated, "
        f"{len(recs) - len(automated)} manual (with the reason). "
        f"{len(covered)} of the {len(automated)} automated ones have a registered check. "
        "Automated here means a check decides the recommendation from archived evidence; it "
        "is not the benchmark's own Automated/Manual assessment status (the benchmark's "
        "audit for section 2, for one, is to confirm that an alerting set-up exists). "
        "Profile is the "
        f"benchmark's: {sum(r.level == 1 for r in recs)} Level 1, "
        f"{sum(r.level == 2 for r in recs)} Level 2.",
        "",
        "## " + BENCHMARK,
    ]
    header = [
        "",
        "| CIS | Recommendation | Profile | Decided | Check | Evidence read | SOC 2 | HIPAA |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for section, title in SECTIONS.items():
        lines += ["", f"### {section}. {title}", *header]
        lines += [
            _recommendation_row(r, by_cis.get(r.cis, [])) for r in recs if r.section == section
        ]
    lines += [
        "",
        "## The platform's own checks",
        "",
        "Controls the platform evidences beyond the benchmark (no CIS id), and the CIS "
        "checks that are also one of the platform's controls (one check serves both).",
        "",
        "| Check | Title | Evidence read | SOC 2 | HIPAA |",
        "|---|---|---|---|---|",
    ]
    for c in checks:
        if c.cis is None:
            title = _cell(c.title)
        elif c.platform_control:
            title = _cell(f"{c.platform_control}; also CIS {c.cis}")
        else:
            continue
        cells = [
            f"`{c.check_id}`",
            title,
            _codes(c.reads),
            ", ".join(c.control.soc2),
            ", ".join(c.control.hipaa),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render docs/CONTROLS.md from the checks.")
    parser.add_argument("--write", metavar="PATH", help="write here instead of stdout")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        with open(args.write, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
