"""`evidence recheck`'s comparison: a re-derived result against the pack's record."""

from __future__ import annotations

import json

from das_evidence.reports.model import CheckResult, Control
from das_evidence.reports.rederive import COMPARED, compare

CONTROL = Control(soc2=("CC6.1",), hipaa=("164.312(d)",))


def _result(
    status: str = "fail", findings: tuple[dict[str, object], ...] = ({"user": "A"},)
) -> CheckResult:
    return CheckResult("admin-default-role", "t", status, "s", CONTROL, findings, cis="1.12")  # type: ignore[arg-type]


def _recorded(r: CheckResult) -> dict[str, object]:
    return {r.check_id: json.loads(json.dumps(r.to_json()))}


def test_an_identical_result_is_the_same() -> None:
    [got] = compare([_result()], _recorded(_result()))
    assert got.same and got.recorded == got.status == "fail" and got.cis == "1.12"


def test_a_finding_the_files_do_not_support_differs() -> None:
    recorded = _recorded(_result(findings=({"user": "A"}, {"user": "B"})))
    [got] = compare([_result()], recorded)
    assert not got.same and got.differs == ("findings",)


def test_a_status_that_changed_differs() -> None:
    [got] = compare([_result("pass", ())], _recorded(_result()))
    assert "status" in got.differs and "findings" in got.differs


def test_a_check_missing_on_either_side_differs() -> None:
    [got] = compare([_result()], {})
    assert got.recorded is None and got.differs == COMPARED
    [gone] = compare([], _recorded(_result()))
    assert gone.status == "not_run" and not gone.same
