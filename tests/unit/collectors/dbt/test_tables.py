"""The normalized tables, read from the real artifacts of the fixture project."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from das_evidence.collectors.dbt import dbt_collectors
from das_evidence.collectors.dbt.tables import (
    SCHEMAS,
    DbtTables,
    evidence_status_of_test,
    result_evidence_status,
)

from .conftest import PROJECT, TARGET


@pytest.fixture(scope="module")
def tables() -> DbtTables:
    [collector] = dbt_collectors([(PROJECT, str(TARGET))])
    assert collector.error is None, collector.error
    return collector.tables


def rows(table: pa.Table, key: str = "unique_id") -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in table.to_pylist()}


def test_tables_have_their_pinned_schemas(tables: DbtTables) -> None:
    for name, schema in SCHEMAS.items():
        assert tables[name].schema.equals(schema), name


def test_the_contract_model_shows_its_enforced_contract(tables: DbtTables) -> None:
    nodes = rows(tables["nodes"])
    claims = nodes["model.jaffle_health.patient_claims"]
    assert claims["contract_enforced"] is True
    assert claims["materialized"] == "table"
    assert claims["access"] == "public"
    assert json.loads(claims["tags"]) == ["hipaa"]
    assert json.loads(claims["meta"]) == {"owner": "revenue-cycle", "sla": "daily"}
    assert json.loads(claims["column_data_types"])["total_billed"] == "decimal(12, 2)"
    assert claims["checksum"].startswith("sha256:") and len(claims["checksum"]) == 71
    # Every other model is built without an enforced contract.
    others = [
        r for u, r in nodes.items() if r["resource_type"] == "model" and u != claims["unique_id"]
    ]
    assert others and all(r["contract_enforced"] is False for r in others)


def test_pii_and_phi_column_meta_is_kept(tables: DbtTables) -> None:
    patients = rows(tables["nodes"])["model.jaffle_health.stg_patients"]
    assert json.loads(patients["column_classifications"]) == {
        "date_of_birth": "PHI",
        "email": "PII",
        "first_name": "PII",
        "last_name": "PII",
        "mrn": "PHI",
    }
    column_meta = json.loads(patients["column_meta"])
    assert column_meta["email"] == {"classification": "PII"}
    assert column_meta["patient_id"] == {}
    assert json.loads(patients["meta"]) == {"owner": "clinical-data-eng"}


def test_sources_are_nodes_too(tables: DbtTables) -> None:
    claims = rows(tables["nodes"])["source.jaffle_health.billing.claims"]
    assert claims["resource_type"] == "source"
    assert claims["relation_name"] == '"jaffle_health"."main_raw"."raw_claims"'


def test_the_failing_test_is_failed_with_its_failures(tables: DbtTables) -> None:
    tests = {r["test_name"] + ":" + r["column_name"]: r for r in tables["tests"].to_pylist()}
    bad = tests["accepted_values:encounter_status"]
    assert bad["status"] == "fail" and bad["evidence_status"] == "failed"
    assert bad["failures"] == 1 and bad["failures"] > 0
    assert bad["attached_node"] == "model.jaffle_health.stg_encounters"
    assert bad["severity"] == "error"
    assert json.loads(bad["kwargs"])["values"] == ["completed", "cancelled", "scheduled"]
    results = rows(tables["results"])
    assert results[bad["unique_id"]]["status"] == "fail"
    assert results[bad["unique_id"]]["failures"] == 1
    assert results[bad["unique_id"]]["message"] == "Got 1 result, configured to fail if != 0"


def test_skipped_tests_are_not_evidenced_never_passed(tables: DbtTables) -> None:
    skipped = [r for r in tables["tests"].to_pylist() if r["status"] == "skipped"]
    # dbt build skipped encounter_summary (downstream of the failing test) and its 3 tests.
    assert len(skipped) == 3
    assert {r["attached_node"] for r in skipped} == {"model.jaffle_health.encounter_summary"}
    assert all(r["evidence_status"] == "not_evidenced" for r in skipped)
    results = rows(tables["results"])
    assert results["model.jaffle_health.encounter_summary"]["evidence_status"] == "not_evidenced"
    passed = [r for r in tables["tests"].to_pylist() if r["evidence_status"] == "passed"]
    assert len(passed) == 12 and all(r["status"] == "pass" for r in passed)


def test_a_test_on_a_source_is_attached_to_the_source(tables: DbtTables) -> None:
    source_tests = [r for r in tables["tests"].to_pylist() if r["name"].startswith("source_")]
    assert len(source_tests) == 2
    assert {r["attached_node"] for r in source_tests} == {"source.jaffle_health.billing.claims"}


def test_results_keep_timing_and_adapter_response(tables: DbtTables) -> None:
    results = tables["results"].to_pylist()
    assert [r["result_index"] for r in results] == list(range(25))
    seed = rows(tables["results"])["seed.jaffle_health.patients"]
    assert seed["status"] == "success" and seed["evidence_status"] == "succeeded"
    assert seed["rows_affected"] == 5 and seed["adapter_code"] == "INSERT"
    assert seed["execute_started_at"] <= seed["execute_completed_at"]
    # DuckDB has no query id; Snowflake's adapter_response does (see the next test).
    assert seed["query_id"] is None


def test_the_snowflake_query_id_is_taken_from_adapter_response() -> None:
    from das_evidence.collectors.dbt.artifacts import parse_artifact
    from das_evidence.collectors.dbt.tables import results_table

    doc = json.loads((TARGET / "run_results.json").read_bytes())
    doc["results"][0]["adapter_response"] = {
        "_message": "SUCCESS 1",
        "code": "SUCCESS",
        "rows_affected": 5,
        "query_id": "01b2c3d4-0000-1111-0000-000123456789",
    }
    run_results = parse_artifact("run_results", json.dumps(doc).encode(), "run_results.json")
    manifest = parse_artifact("manifest", (TARGET / "manifest.json").read_bytes(), "manifest.json")
    first = results_table(manifest, run_results).to_pylist()[0]
    assert first["query_id"] == "01b2c3d4-0000-1111-0000-000123456789"
    assert json.loads(first["adapter_response"])["code"] == "SUCCESS"


def test_source_freshness_shows_the_stale_source(tables: DbtTables) -> None:
    fresh = rows(tables["source_freshness"])
    stale = fresh["source.jaffle_health.billing.claims"]
    assert stale["status"] == "error" and stale["evidence_status"] == "failed"
    assert stale["max_loaded_at"].year == 2024
    assert stale["age_seconds"] > 3 * 86400
    assert json.loads(stale["error_after"]) == {"count": 3, "period": "day"}
    assert stale["loaded_at_field"] == "_loaded_at"
    ok = fresh["source.jaffle_health.payer.eligibility"]
    assert ok["status"] == "pass" and ok["evidence_status"] == "passed"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pass", "passed"),
        ("fail", "failed"),
        ("warn", "warned"),
        ("error", "errored"),
        ("skipped", "not_evidenced"),
        ("no-op", "not_evidenced"),
        ("success", "not_evidenced"),  # dbt compile / docs generate: the test never ran
        ("something new", "not_evidenced"),
        (None, "not_evidenced"),
    ],
)
def test_test_status_mapping(status: str | None, expected: str) -> None:
    assert evidence_status_of_test(status) == expected
    assert result_evidence_status("test", status) == expected


def test_a_skipped_model_is_not_evidenced_either() -> None:
    assert result_evidence_status("model", "success") == "succeeded"
    assert result_evidence_status("model", "skipped") == "not_evidenced"
    assert result_evidence_status("seed", "reused") == "not_evidenced"
