"""Re-deriving a pack's findings from the pack alone: what `evidence recheck` does.

An auditor holds a pack and the auditee's published keys, nothing else. The pack
is verified first (every check of `evidence verify PACK`); then every control
check is run again over the pack's own files (its signed statements and the
evidence they name, each read only when it matches its signed digest) with the
period, the ``[checks]`` settings and the reference time the pack records, and
each result is compared with what the pack's ``checks.json`` says. A finding
that the files do not support, or a check whose answer differs, is a difference.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from das_evidence.errors import ReportError
from das_evidence.reports.bundle import check_settings_of, run_checks_for
from das_evidence.reports.evidence import from_verified_pack
from das_evidence.reports.model import CheckResult
from das_evidence.timefmt import parse_rfc3339

#: the parts of a result that must be re-derived identically
COMPARED = ("status", "summary", "findings", "details", "evidence", "cis")


@dataclass(frozen=True)
class Rederived:
    """One check: what the pack recorded and what its files give now."""

    check_id: str
    cis: str | None
    recorded: str | None  # the pack's status, None when the pack lacks the check
    status: str  # the re-derived status
    differs: tuple[str, ...]  # the parts of the result that differ

    @property
    def same(self) -> bool:
        return not self.differs

    def to_json(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "cis": self.cis,
            "recorded": self.recorded,
            "rederived": self.status,
            "same": self.same,
            "differs": list(self.differs),
        }


def _member(path: Path, name: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as z:
            return z.read(name)
    except (KeyError, OSError, zipfile.BadZipFile, RuntimeError) as e:
        raise ReportError(
            f"{path} has no readable {name}: {e}", fix="use a pack made by `evidence pack`"
        ) from e


def rederive(path: Path, trust: Any) -> list[Rederived]:
    """Every check recomputed from the pack at ``path`` (verified against ``trust``,
    the published keys) and compared with the pack's ``checks.json``."""
    evidence = from_verified_pack(path, trust)  # refuses a pack with any finding
    try:
        pack = json.loads(_member(path, "pack.json"))
        now = parse_rfc3339(str(pack["generated_at"]))
        recorded_list = json.loads(_member(path, "checks.json"))
        recorded = {str(r["check_id"]): r for r in recorded_list}
    except (ValueError, KeyError, TypeError) as e:
        raise ReportError(
            f"{path}: pack.json or checks.json is not what `evidence pack` writes: {e}",
            fix="use a pack made by `evidence pack`",
        ) from e
    settings = check_settings_of(_member(path, "report.json"))
    return compare(run_checks_for(evidence, now, settings), recorded)


def compare(results: Sequence[CheckResult], recorded: Mapping[str, Any]) -> list[Rederived]:
    """Each re-derived result against the pack's record of it (``checks.json`` by check
    id); a recorded check that did not run now is a difference too."""
    out = []
    for result in results:
        got = json.loads(json.dumps(result.to_json(), default=str))
        was = recorded.get(result.check_id)
        differs = (
            COMPARED if was is None else tuple(k for k in COMPARED if was.get(k) != got.get(k))
        )
        out.append(
            Rederived(
                result.check_id,
                result.cis,
                None if was is None else str(was.get("status")),
                result.status,
                differs,
            )
        )
    ran = {r.check_id for r in out}
    for check_id, was in recorded.items():
        if check_id not in ran:  # a check this version no longer has
            cis = was.get("cis")
            out.append(
                Rederived(
                    check_id,
                    None if cis is None else str(cis),
                    str(was.get("status")),
                    "not_run",
                    COMPARED,
                )
            )
    return out
