"""OSCAL export: valid assessment results, evidence hashes, determinism, tampering."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trestle.oscal.assessment_results as ar

from das_evidence.errors import FormatError
from das_evidence.reports.evidence import EvidenceEntry, EvidenceSet
from das_evidence.reports.model import CheckResult, Control, EvidenceRef
from das_evidence.reports.oscal import (
    OSCAL_VERSION,
    assessment_results,
    from_bytes,
    to_bytes,
    validate,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
GENERATED = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)

LOGIN = (
    "evidence/snowflake/ACME/login_history/date=2026-11-26/"
    "20261126T000000Z_20261127T000000Z.parquet"
)
USERS = "evidence/snowflake/ACME/policy_state/date=2026-11-27/20261127T010000Z/USERS.parquet"
ROLES = "evidence/snowflake/ACME/policy_state/date=2026-11-27/20261127T010000Z/ROLES.parquet"
SHA = {LOGIN: "1a" * 32, USERS: "2b" * 32, ROLES: "3c" * 32}


def _entry(index: int, stream: str, collected_at: str, paths: list[str]) -> EvidenceEntry:
    return EvidenceEntry(
        index,
        stream,
        {
            "stream": stream,
            "collected_at": collected_at,
            "window": {"start": "2026-11-26T00:00:00Z", "end": "2026-11-27T00:00:00Z"},
            "files": [
                {"path": p, "sha256": SHA[p], "size": 10, "media_type": "application/x-parquet"}
                for p in paths
            ],
        },
    )


LOGIN_ENTRY = _entry(3, "snowflake/ACME/login_history", "2026-11-27T03:00:00Z", [LOGIN])
POLICY_ENTRY = _entry(7, "snowflake/ACME/policy_state", "2026-11-27T03:15:42Z", [USERS, ROLES])


def _evidence() -> EvidenceSet:
    return EvidenceSet([POLICY_ENTRY, LOGIN_ENTRY], lambda path: b"", start=START, end=END)


def _results() -> list[CheckResult]:
    return [
        CheckResult(
            check_id="human-users-without-mfa",
            title="Human users sign in with MFA",
            status="fail",
            summary="2 human users signed in without MFA.",
            control=Control(soc2=("CC6.1", "CC6.2"), hipaa=("164.312(d)",)),
            findings=({"USER_NAME": "alice"}, {"USER_NAME": "bob"}),
            evidence=(LOGIN_ENTRY.ref(LOGIN), POLICY_ENTRY.ref(USERS)),
        ),
        CheckResult(
            check_id="admin-roles-reviewed",
            title="Admin roles are held by few users",
            status="pass",
            summary="3 users hold ACCOUNTADMIN.",
            control=Control(soc2=("CC6.3",), hipaa=()),
            evidence=(POLICY_ENTRY.ref(USERS),),
        ),
        CheckResult(
            check_id="dbt-tests-pass",
            title="dbt tests pass",
            status="not_evidenced",
            summary="No dbt invocation in the period.",
            control=Control(soc2=("CC7.1",), hipaa=("164.312(c)(1)",)),
        ),
    ]


def _build(results: list[CheckResult] | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "title": "ACME SOC 2 evidence, November 2026",
        "generated_at": GENERATED,
        "period_start": START,
        "period_end": END,
        "tool_version": "0.1.0",
    }
    args.update(kw)
    return assessment_results(_results() if results is None else results, _evidence(), **args)


def _result(doc: dict[str, Any]) -> dict[str, Any]:
    results: list[dict[str, Any]] = doc["assessment-results"]["results"]
    assert len(results) == 1
    return results[0]


def _observation(doc: dict[str, Any], check_id: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [
        o
        for o in _result(doc)["observations"]
        if any(p["name"] == "check-id" and p["value"] == check_id for p in o["props"])
    ]
    assert len(matches) == 1, check_id
    return matches[0]


def _resources(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["uuid"]: r for r in doc["assessment-results"]["back-matter"]["resources"]}


def _dt(s: str) -> datetime:
    return datetime.fromisoformat(s)


# --- valid OSCAL ---------------------------------------------------------------


def test_document_parses_with_trestle_model_and_is_oscal_1_1() -> None:
    doc = _build()
    model = ar.Model.parse_obj(doc)  # trestle's own model, not only our wrapper
    assert model.assessment_results.metadata.oscal_version.__root__ == OSCAL_VERSION
    assert OSCAL_VERSION.startswith("1.1.")
    validate(doc)
    meta = doc["assessment-results"]["metadata"]
    assert meta["title"] == "ACME SOC 2 evidence, November 2026"
    assert _dt(meta["last-modified"]) == GENERATED
    assert [p["name"] for p in meta["parties"]] == ["das-evidence"]


def test_result_covers_the_period() -> None:
    result = _result(_build())
    assert (_dt(result["start"]), _dt(result["end"])) == (START, END)


def test_import_ap_resolves_to_a_back_matter_resource() -> None:
    doc = _build()
    href = doc["assessment-results"]["import-ap"]["href"]
    assert href.startswith("#") and href[1:] in _resources(doc)


def test_import_ap_links_a_published_plan() -> None:
    doc = _build(assessment_plan_href="https://grc.example/ap.json")
    plan = _resources(doc)[doc["assessment-results"]["import-ap"]["href"][1:]]
    assert plan["rlinks"] == [{"href": "https://grc.example/ap.json"}]


# --- observations -----------------------------------------------------------------


def test_one_observation_per_check() -> None:
    observations = _result(_build())["observations"]
    ids = [p["value"] for o in observations for p in o["props"] if p["name"] == "check-id"]
    assert ids == ["human-users-without-mfa", "admin-roles-reviewed", "dbt-tests-pass"]
    assert len({o["uuid"] for o in observations}) == 3
    for o in observations:
        assert o["methods"] == ["TEST"]


def test_collected_is_the_newest_collected_at_of_the_entries_used() -> None:
    doc = _build(expires_after=timedelta(days=7))
    mfa = _observation(doc, "human-users-without-mfa")  # entries 3 (03:00) and 7 (03:15:42)
    assert _dt(mfa["collected"]) == datetime(2026, 11, 27, 3, 15, 42, tzinfo=UTC)
    assert _dt(mfa["expires"]) == datetime(2026, 12, 4, 3, 15, 42, tzinfo=UTC)
    assert mfa["description"] == "2 human users signed in without MFA."


def test_collected_falls_back_to_generated_at_without_evidence() -> None:
    obs = _observation(_build(), "dbt-tests-pass")
    assert _dt(obs["collected"]) == GENERATED
    assert _dt(obs["expires"]) == GENERATED + timedelta(days=30)
    assert "relevant-evidence" not in obs


def test_observation_props_carry_status() -> None:
    obs = _observation(_build(), "admin-roles-reviewed")
    assert {"name": "status", "ns": "https://das-evidence.dev/ns/oscal", "value": "pass"} in obs[
        "props"
    ]


# --- back matter: the evidence files and their hashes -------------------------------


def test_back_matter_carries_the_sha256_of_each_cited_file() -> None:
    doc = _build()
    by_href = {r["rlinks"][0]["href"]: r for r in _resources(doc).values() if "rlinks" in r}
    # ROLES is in the set but no check cites it: no resource for it.
    assert set(by_href) == {LOGIN, USERS}
    for path, resource in by_href.items():
        assert resource["rlinks"][0]["hashes"] == [{"algorithm": "SHA-256", "value": SHA[path]}]
        assert resource["title"]
    index = {p["value"] for p in by_href[USERS]["props"] if p["name"] == "log-index"}
    assert index == {"7"}


def test_relevant_evidence_points_at_the_cited_files() -> None:
    doc = _build()
    resources = _resources(doc)
    mfa = _observation(doc, "human-users-without-mfa")
    cited = [resources[ev["href"][1:]]["rlinks"][0]["href"] for ev in mfa["relevant-evidence"]]
    assert cited == [LOGIN, USERS]


def test_a_file_cited_by_two_checks_is_one_resource() -> None:
    doc = _build()
    hrefs = [r["rlinks"][0]["href"] for r in _resources(doc).values() if "rlinks" in r]
    assert hrefs.count(USERS) == 1
    a = _observation(doc, "human-users-without-mfa")["relevant-evidence"][1]["href"]
    b = _observation(doc, "admin-roles-reviewed")["relevant-evidence"][0]["href"]
    assert a == b


def test_check_citing_a_digest_the_entry_did_not_sign_is_refused() -> None:
    forged = EvidenceRef(3, LOGIN, "ff" * 32)
    results = [
        *_results()[:2],
        CheckResult("forged", "F", "pass", "s", Control((), ()), evidence=(forged,)),
    ]
    with pytest.raises(FormatError, match="signed"):
        _build(results)


def test_check_citing_an_entry_outside_the_set_is_refused() -> None:
    stray = EvidenceRef(99, LOGIN, SHA[LOGIN])
    results = [CheckResult("stray", "S", "pass", "s", Control((), ()), evidence=(stray,))]
    with pytest.raises(FormatError, match="entry 99"):
        _build(results)


# --- findings ---------------------------------------------------------------------


def test_failed_check_yields_a_finding_with_its_controls() -> None:
    result = _result(_build())
    findings = {f["target"]["target-id"]: f for f in result["findings"]}
    mfa = findings["human-users-without-mfa"]
    assert mfa["target"]["type"] == "objective-id"
    assert mfa["target"]["status"] == {"state": "not-satisfied", "reason": "fail"}
    props = {(p["name"], p["value"]) for p in mfa["props"]}
    assert {("soc2-control", "CC6.1"), ("soc2-control", "CC6.2")} <= props
    assert ("hipaa-section", "164.312(d)") in props
    obs_uuid = _observation(_build(), "human-users-without-mfa")["uuid"]
    assert mfa["related-observations"] == [{"observation-uuid": obs_uuid}]


def test_passed_check_yields_no_finding_and_not_evidenced_is_not_satisfied() -> None:
    findings = {f["target"]["target-id"]: f for f in _result(_build())["findings"]}
    assert "admin-roles-reviewed" not in findings
    assert findings["dbt-tests-pass"]["target"]["status"] == {
        "state": "not-satisfied",
        "reason": "other",
    }


def test_all_pass_has_no_findings() -> None:
    result = _result(_build([_results()[1]]))
    assert "findings" not in result
    assert len(result["observations"]) == 1


# --- determinism ------------------------------------------------------------------


def test_same_inputs_give_identical_bytes() -> None:
    assert to_bytes(_build()) == to_bytes(_build())


def test_namespace_seeds_the_uuids() -> None:
    other = _build(namespace=uuid.uuid5(uuid.NAMESPACE_URL, "https://other.example/"))
    assert to_bytes(other) != to_bytes(_build())
    assert other["assessment-results"]["uuid"] != _build()["assessment-results"]["uuid"]


def test_uuids_are_stable_across_revisions_of_the_same_period() -> None:
    def uuids(doc: dict[str, Any]) -> list[str]:
        result = _result(doc)
        return [
            doc["assessment-results"]["uuid"],
            result["uuid"],
            *(o["uuid"] for o in result["observations"]),
            *(f["uuid"] for f in result["findings"]),
            *_resources(doc),
        ]

    later = _build(generated_at=GENERATED + timedelta(days=1))
    assert uuids(later) == uuids(_build())
    assert later != _build()  # last-modified and version moved


def test_bytes_round_trip() -> None:
    doc = _build()
    assert from_bytes(to_bytes(doc)) == doc


# --- validate rejects tampered documents ------------------------------------------


def _obs0(d: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = _result(d)["observations"][0]
    return first


def missing_collected(d: dict[str, Any]) -> None:
    del _obs0(d)["collected"]


def missing_metadata_title(d: dict[str, Any]) -> None:
    del d["assessment-results"]["metadata"]["title"]


def bad_uuid(d: dict[str, Any]) -> None:
    _obs0(d)["uuid"] = "not-a-uuid"


def uuid_v1(d: dict[str, Any]) -> None:
    d["assessment-results"]["uuid"] = str(uuid.UUID(int=1, version=1))


def unknown_field(d: dict[str, Any]) -> None:
    _obs0(d)["verdict"] = "pass"


def naive_timestamp(d: dict[str, Any]) -> None:
    _obs0(d)["collected"] = "2026-11-27T03:00:00"


def oscal_1_0(d: dict[str, Any]) -> None:
    d["assessment-results"]["metadata"]["oscal-version"] = "1.0.4"


def dangling_evidence_href(d: dict[str, Any]) -> None:
    _obs0(d)["relevant-evidence"][0]["href"] = f"#{uuid.uuid4()}"


def duplicate_uuid(d: dict[str, Any]) -> None:
    obs = _result(d)["observations"]
    obs[1]["uuid"] = obs[0]["uuid"]


def finding_for_missing_observation(d: dict[str, Any]) -> None:
    _result(d)["findings"][0]["related-observations"][0]["observation-uuid"] = str(uuid.uuid4())


def wrong_top_level_key(d: dict[str, Any]) -> None:
    d["assessment-plan"] = d.pop("assessment-results")


@pytest.mark.parametrize(
    "tamper",
    [
        missing_collected,
        missing_metadata_title,
        bad_uuid,
        uuid_v1,
        unknown_field,
        naive_timestamp,
        oscal_1_0,
        dangling_evidence_href,
        duplicate_uuid,
        finding_for_missing_observation,
        wrong_top_level_key,
    ],
)
def test_validate_rejects_tampered_document(tamper: Callable[[dict[str, Any]], None]) -> None:
    doc = copy.deepcopy(_build())
    validate(doc)  # untampered: accepted
    tamper(doc)
    with pytest.raises(FormatError):
        validate(doc)


def test_validate_error_names_the_field() -> None:
    doc = copy.deepcopy(_build())
    missing_collected(doc)
    with pytest.raises(FormatError, match="collected"):
        validate(doc)


# --- inputs -----------------------------------------------------------------------


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="generated_at"):
        _build(generated_at=datetime(2026, 12, 1))


def test_check_id_that_is_not_an_oscal_token_is_refused() -> None:
    bad = CheckResult("1 bad id", "B", "fail", "s", Control((), ()))
    with pytest.raises(FormatError, match="token"):
        _build([bad])
