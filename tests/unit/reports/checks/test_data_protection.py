"""Tags and masking, policy references, policy changes and PHI reads."""

from __future__ import annotations

from datetime import timedelta

from das_evidence.reports.checks.data_protection import (
    PhiReadsOutsideAllowlist,
    PolicyReferencesNotActive,
    ProtectionPoliciesChanged,
    SensitiveColumnsWithoutMasking,
)
from tests.unit.reports.checks import cases
from tests.unit.reports.checks.conftest import (
    PATIENTS,
    START,
    EvidenceBuilder,
    access,
    change,
    config,
    masking_policy,
    policy_ref,
    query,
    tag,
)

MASKING = SensitiveColumnsWithoutMasking()
REFERENCES = PolicyReferencesNotActive()
CHANGED = ProtectionPoliciesChanged()
PHI = PhiReadsOutsideAllowlist()
AS_OF = cases.AS_OF
SUMMARY_VIEW = "ANALYTICS.MARTS.V_PATIENT_SUMMARY"


# -- sensitive-columns-without-masking --------------------------------------------------------


def test_masking_fails_for_the_tagged_column_without_a_policy() -> None:
    evidence, cfg = cases.masking_fail()
    result = MASKING.run(evidence, cfg)
    assert result.status == "fail"
    [finding] = result.findings
    assert (finding["object"], finding["column"]) == (PATIENTS, "FIRST_NAME")
    assert finding["tags"] == {"PII": "name"}
    assert result.details["tagged_columns"] == 2  # SSN (PII and PHI) and FIRST_NAME
    assert {r.path.rsplit("/", 1)[-1] for r in result.evidence} == {
        "tag_references.parquet",
        "policy_references.parquet",
    }


def test_masking_passes_when_every_tagged_column_is_masked() -> None:
    evidence, cfg = cases.masking_pass()
    assert MASKING.run(evidence, cfg).status == "pass"


def test_a_masking_reference_that_is_not_active_does_not_mask() -> None:
    b = EvidenceBuilder()
    b.snapshot(
        AS_OF,
        {
            "TAG_REFERENCES": [tag(PATIENTS, "SSN", "PHI")],
            "POLICY_REFERENCES": [
                policy_ref(PATIENTS, "SSN", status="COLUMN_DATATYPE_MISMATCH_FOR_SECONDARY_ARG"),
                policy_ref(PATIENTS, "SSN", "FACILITY_RAP", kind="ROW_ACCESS_POLICY"),
            ],
        },
    )
    [finding] = MASKING.run(b.build(), config()).findings
    assert finding["masking_policies_not_active"][0]["status"] == (
        "COLUMN_DATATYPE_MISMATCH_FOR_SECONDARY_ARG"
    )


def test_dropped_tagged_objects_and_other_tags_are_ignored() -> None:
    b = EvidenceBuilder()
    dropped = {**tag("ANALYTICS.MARTS.PATIENT_EXPORT_TMP", "SSN", "PHI"), "OBJECT_DELETED": START}
    b.snapshot(
        AS_OF,
        {
            "TAG_REFERENCES": [dropped, tag(PATIENTS, "SSN", "PHI"), tag(PATIENTS, "ZIP", "OTHER")],
            "POLICY_REFERENCES": [policy_ref(PATIENTS, "SSN")],
        },
    )
    assert MASKING.run(b.build(), config()).status == "pass"


def test_masking_without_any_sensitive_tag_is_not_evidenced() -> None:
    b = EvidenceBuilder()
    b.snapshot(
        AS_OF, {"TAG_REFERENCES": [tag(PATIENTS, None, "DATA_DOMAIN")], "POLICY_REFERENCES": []}
    )
    assert MASKING.run(b.build(), config()).status == "not_evidenced"


def test_masking_without_policy_references_is_not_evidenced() -> None:
    b = EvidenceBuilder()
    b.snapshot(
        AS_OF,
        {"TAG_REFERENCES": [tag(PATIENTS, "SSN")]},
        not_evidenced={"POLICY_REFERENCES": "denied"},
    )
    result = MASKING.run(b.build(), config())
    assert result.status == "not_evidenced" and "POLICY_REFERENCES" in result.summary


# -- policy-references-not-active -------------------------------------------------------------


def test_references_fail_for_the_inactive_one() -> None:
    evidence, cfg = cases.references_fail()
    result = REFERENCES.run(evidence, cfg)
    assert result.status == "fail"
    [finding] = result.findings
    assert finding["policy"] == "GOVERNANCE.POLICIES.DOB_MASK"
    assert finding["object"] == PATIENTS and finding["column"] == "DOB"
    assert finding["status"] == "MULTIPLE_MASKING_POLICY_ASSIGNED_TO_THE_COLUMN"


def test_references_pass_when_all_are_active() -> None:
    evidence, cfg = cases.references_pass()
    result = REFERENCES.run(evidence, cfg)
    assert result.status == "pass" and result.details["references"] == 2


def test_references_without_the_view_are_not_evidenced() -> None:
    assert REFERENCES.run(EvidenceBuilder().build(), config()).status == "not_evidenced"


# -- protection-policies-changed --------------------------------------------------------------


def test_changed_masking_policy_shows_the_body_before_and_after() -> None:
    evidence, cfg = cases.policies_changed_fail()
    result = CHANGED.run(evidence, cfg)
    assert result.status == "fail"
    [finding] = result.findings  # changes.parquet and LAST_ALTERED, merged
    assert finding["policy"] == "GOVERNANCE.POLICIES.SSN_MASK"
    assert finding["change"] == "changed"
    assert finding["at"] == "2026-11-26T12:00:00Z"
    assert finding["before"]["POLICY_BODY"] == cases.OLD_BODY
    assert finding["after"]["POLICY_BODY"] == cases.NEW_BODY
    assert len(finding["seen_in"]) == 2
    assert any(r.path.endswith("/changes.parquet") for r in result.evidence)


def test_unchanged_policies_pass() -> None:
    evidence, cfg = cases.policies_changed_pass()
    assert CHANGED.run(evidence, cfg).status == "pass"


def test_a_drop_is_found_from_the_deleted_timestamp_alone() -> None:
    b = EvidenceBuilder()
    dropped = masking_policy("PHONE_MASK", 2004, deleted=START + timedelta(days=2))
    b.snapshot(
        AS_OF,
        {**cases._policy_views(masking_policy()), "MASKING_POLICIES": [masking_policy(), dropped]},
    )
    result = CHANGED.run(b.build(), config())
    assert result.status == "fail"
    [finding] = result.findings
    assert (finding["policy"], finding["change"]) == ("GOVERNANCE.POLICIES.PHONE_MASK", "dropped")


def test_an_unset_masking_policy_is_found_in_the_changes() -> None:
    b = EvidenceBuilder()
    views = cases._policy_views(masking_policy())
    b.snapshot(START + timedelta(days=1), views, changes=[])
    b.snapshot(
        AS_OF,
        {**views, "POLICY_REFERENCES": []},
        changes=[change("POLICY_REFERENCES", "removed", policy_ref(PATIENTS, "SSN"), None)],
    )
    [finding] = CHANGED.run(b.build(), config()).findings
    assert finding["change"] == "unset" and finding["reference"] == f"{PATIENTS}.SSN"


def test_a_new_policy_is_listed_but_does_not_fail() -> None:
    b = EvidenceBuilder()
    new = masking_policy("EMAIL_MASK", 2005, created=START + timedelta(days=1))
    views = cases._policy_views(masking_policy())
    b.snapshot(START + timedelta(hours=20), views, changes=[])
    b.snapshot(
        AS_OF,
        {**views, "MASKING_POLICIES": [*views["MASKING_POLICIES"], new]},
        changes=[change("MASKING_POLICIES", "added", None, new)],
    )
    result = CHANGED.run(b.build(), config())
    assert result.status == "pass"
    assert {a["policy"] for a in result.details["added"]} == {"GOVERNANCE.POLICIES.EMAIL_MASK"}


def test_only_a_baseline_snapshot_cannot_pass() -> None:
    b = EvidenceBuilder()
    b.snapshot(AS_OF, cases._policy_views(masking_policy()))
    result = CHANGED.run(b.build(), config())
    assert result.status == "not_evidenced"
    assert "first snapshot" in result.summary


def test_changes_without_a_snapshot_are_not_evidenced() -> None:
    assert CHANGED.run(EvidenceBuilder().build(), config()).status == "not_evidenced"


# -- phi-reads-outside-allowlist --------------------------------------------------------------


def test_phi_read_by_a_role_outside_the_allowlist_fails() -> None:
    evidence, cfg = cases.phi_reads_fail()
    result = PHI.run(evidence, cfg)
    assert result.status == "fail"
    [finding] = result.findings
    assert (finding["role"], finding["user"], finding["object"]) == (
        "ANALYST",
        "ALICE_ANALYST",
        PATIENTS,
    )
    assert finding["columns"] == ["SSN"] and finding["masked_columns"] == ["SSN"]
    assert finding["query_ids"] == ["q-alice-ssn"] and finding["queries"] == 1
    files = {e["path"].split("/")[3] for e in finding["evidence"]}
    assert files == {"access_history", "query_history"}
    assert result.details["allowed_reads"] == 1


def test_phi_reads_only_by_allowlisted_roles_pass() -> None:
    evidence, cfg = cases.phi_reads_pass()
    result = PHI.run(evidence, cfg)
    assert result.status == "pass"
    assert result.details["phi_reads"] == 1


def test_the_allowlist_is_configurable() -> None:
    evidence, _ = cases.phi_reads_fail()
    assert PHI.run(evidence, config(phi_reader_roles=("PHI_READER", "analyst"))).status == "pass"


def test_a_read_through_a_view_counts_by_its_base_table() -> None:
    at = START + timedelta(days=1)
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"TAG_REFERENCES": [tag(PATIENTS, "ZIP_CODE")]})
    b.history(
        "access_history",
        [
            access(
                "q1",
                at,
                "CAROL_BILLING",
                (PATIENTS, ("PATIENT_ID", "ZIP_CODE")),
                direct=[(SUMMARY_VIEW, ("PATIENT_ID", "ZIP_CODE"))],
            ),
        ],
    )
    b.history("query_history", [query("q1", at, "CAROL_BILLING", "BILLING_ANALYST")])
    [finding] = PHI.run(b.build(), config()).findings
    assert finding["object"] == PATIENTS and finding["role"] == "BILLING_ANALYST"


def test_a_table_level_phi_tag_makes_every_column_phi() -> None:
    at = START + timedelta(days=1)
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"TAG_REFERENCES": [tag("CLINICAL.PUBLIC.LAB_RESULTS", None, "PHI")]})
    b.history(
        "access_history",
        [access("q1", at, "BOB_ENGINEER", ("CLINICAL.PUBLIC.LAB_RESULTS", ("LAB_ID",)))],
    )
    b.history("query_history", [query("q1", at, "BOB_ENGINEER", "ENGINEER")])
    [finding] = PHI.run(b.build(), config()).findings
    assert finding["columns"] == ["LAB_ID"]


def test_a_similarly_named_table_is_not_phi() -> None:
    at = START + timedelta(days=1)
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"TAG_REFERENCES": [tag(PATIENTS, "SSN")]})
    b.history("access_history", [access("q1", at, "BOB", (PATIENTS + "_ARCHIVE", ("SSN",)))])
    b.history("query_history", [query("q1", at, "BOB", "ENGINEER")])
    result = PHI.run(b.build(), config())
    assert result.status == "pass" and result.details["phi_reads"] == 0


def test_a_phi_read_without_its_query_history_row_is_not_evidenced() -> None:
    at = START + timedelta(days=1)
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"TAG_REFERENCES": [tag(PATIENTS, "SSN")]})
    b.history("access_history", [access("q-lost", at, "ERIN_CONTRACTOR", (PATIENTS, ("SSN",)))])
    b.history("query_history", [])
    result = PHI.run(b.build(), config())
    assert result.status == "not_evidenced"
    [unresolved] = result.details["unresolved"]
    assert unresolved["user"] == "ERIN_CONTRACTOR" and unresolved["query_ids"] == ["q-lost"]


def test_phi_reads_without_tags_or_access_history_are_not_evidenced() -> None:
    untagged = EvidenceBuilder()
    untagged.snapshot(AS_OF, {"TAG_REFERENCES": [tag(PATIENTS, "SSN", "PII")]})
    untagged.history("access_history", [])
    assert PHI.run(untagged.build(), config()).status == "not_evidenced"
    no_access = EvidenceBuilder()
    no_access.snapshot(AS_OF, {"TAG_REFERENCES": [tag(PATIENTS, "SSN")]})
    result = PHI.run(no_access.build(), config())
    assert result.status == "not_evidenced" and "ACCESS_HISTORY" in result.summary


def test_a_hole_in_access_history_turns_a_pass_into_not_evidenced() -> None:
    b = EvidenceBuilder()
    b.snapshot(AS_OF, {"TAG_REFERENCES": [tag(PATIENTS, "SSN")]})
    b.history("access_history", [], start=START + timedelta(days=1))
    b.history("query_history", [])
    result = PHI.run(b.build(), config())
    assert result.status == "not_evidenced"
    assert "does not cover" in result.summary
