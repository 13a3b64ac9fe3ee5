"""Normalized, pinned Parquet tables from validated dbt artifacts.

Four tables, one row per resource or result, each with a pinned Arrow schema
(:data:`SCHEMAS`) so that the same artifacts always give the same bytes:

``nodes``             every manifest node and source: type, materialization,
                      contract, access, tags, ``meta``, column ``meta`` and
                      classifications, checksum
``tests``             every data and unit test: what it tests (``attached_node``;
                      for a generic test on a source, the source), its column
                      and severity, and its result in this invocation
``results``           every run_results result: status, failures, message,
                      timing, and the warehouse query id from ``adapter_response``
``source_freshness``  every sources.json result (zero rows without sources.json)

JSON-shaped values (tags, meta, kwargs, adapter responses) are stored as
compact JSON text with sorted keys. ``evidence_status`` turns dbt's status into
what it proves: a skipped test, or one that did not run in this invocation, is
``not_evidenced``, never ``passed``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from das_evidence.collectors.dbt.artifacts import Artifact, DbtTarget, parse_time
from das_evidence.errors import ArtifactError

NOT_EVIDENCED = "not_evidenced"

#: dbt test status -> evidence status; anything else (skipped, no-op, unknown) proves nothing
TEST_STATUS: Mapping[str, str] = {
    "pass": "passed",
    "fail": "failed",
    "warn": "warned",
    "error": "errored",
}
#: status of a model, seed, snapshot or operation -> evidence status
RUN_STATUS: Mapping[str, str] = {
    "success": "succeeded",
    "error": "errored",
    "partial success": "partially_succeeded",
}
#: sources.json status -> evidence status (``error`` is a source past ``error_after``)
FRESHNESS_STATUS: Mapping[str, str] = {
    "pass": "passed",
    "warn": "warned",
    "error": "failed",
    "runtime error": "errored",
}
TEST_TYPES = ("test", "unit_test")

_TS = pa.timestamp("us", tz="UTC")

NODES_SCHEMA = pa.schema(
    [
        pa.field("unique_id", pa.string(), nullable=False),
        pa.field("resource_type", pa.string()),
        pa.field("package_name", pa.string()),
        pa.field("name", pa.string()),
        pa.field("original_file_path", pa.string()),
        pa.field("database", pa.string()),
        pa.field("schema", pa.string()),
        pa.field("relation_name", pa.string()),
        pa.field("materialized", pa.string()),
        pa.field("contract_enforced", pa.bool_()),
        pa.field("access", pa.string()),
        pa.field("tags", pa.string()),
        pa.field("meta", pa.string()),
        pa.field("column_meta", pa.string()),
        pa.field("column_classifications", pa.string()),
        pa.field("column_data_types", pa.string()),
        pa.field("checksum", pa.string()),
        pa.field("depends_on", pa.string()),
    ]
)

TESTS_SCHEMA = pa.schema(
    [
        pa.field("unique_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("test_type", pa.string()),
        pa.field("test_name", pa.string()),
        pa.field("test_namespace", pa.string()),
        pa.field("attached_node", pa.string()),
        pa.field("column_name", pa.string()),
        pa.field("severity", pa.string()),
        pa.field("kwargs", pa.string()),
        pa.field("depends_on", pa.string()),
        pa.field("status", pa.string()),
        pa.field("evidence_status", pa.string(), nullable=False),
        pa.field("failures", pa.int64()),
        pa.field("message", pa.string()),
    ]
)

RESULTS_SCHEMA = pa.schema(
    [
        pa.field("result_index", pa.int64(), nullable=False),
        pa.field("unique_id", pa.string(), nullable=False),
        pa.field("resource_type", pa.string()),
        pa.field("status", pa.string()),
        pa.field("evidence_status", pa.string(), nullable=False),
        pa.field("failures", pa.int64()),
        pa.field("message", pa.string()),
        pa.field("thread_id", pa.string()),
        pa.field("execution_time_s", pa.float64()),
        pa.field("compile_started_at", _TS),
        pa.field("compile_completed_at", _TS),
        pa.field("execute_started_at", _TS),
        pa.field("execute_completed_at", _TS),
        pa.field("query_id", pa.string()),
        pa.field("adapter_code", pa.string()),
        pa.field("rows_affected", pa.int64()),
        pa.field("adapter_response", pa.string()),
    ]
)

SOURCE_FRESHNESS_SCHEMA = pa.schema(
    [
        pa.field("unique_id", pa.string(), nullable=False),
        pa.field("source_name", pa.string()),
        pa.field("table_name", pa.string()),
        pa.field("loaded_at_field", pa.string()),
        pa.field("status", pa.string()),
        pa.field("evidence_status", pa.string(), nullable=False),
        pa.field("max_loaded_at", _TS),
        pa.field("snapshotted_at", _TS),
        pa.field("age_seconds", pa.float64()),
        pa.field("warn_after", pa.string()),
        pa.field("error_after", pa.string()),
        pa.field("filter", pa.string()),
        pa.field("error", pa.string()),
    ]
)

#: table name -> pinned schema, in archive order
SCHEMAS: Mapping[str, pa.Schema] = {
    "nodes": NODES_SCHEMA,
    "tests": TESTS_SCHEMA,
    "results": RESULTS_SCHEMA,
    "source_freshness": SOURCE_FRESHNESS_SCHEMA,
}


def json_text(value: Any) -> str:
    """Compact JSON with sorted keys: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def evidence_status_of_test(status: str | None) -> str:
    return TEST_STATUS.get(status or "", NOT_EVIDENCED)


def result_evidence_status(resource_type: str | None, status: str | None) -> str:
    if resource_type in TEST_TYPES:
        return evidence_status_of_test(status)
    return RUN_STATUS.get(status or "", NOT_EVIDENCED)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json_text(value)


def _resources(artifact: Artifact, key: str) -> list[tuple[str, Mapping[str, Any]]]:
    """``(unique_id, resource)`` pairs of one manifest section, sorted by id."""
    section = artifact.doc.get(key) or {}
    out: list[tuple[str, Mapping[str, Any]]] = []
    for uid in sorted(section):
        resource = section[uid]
        if not isinstance(resource, dict):
            raise ArtifactError(
                f"{artifact.origin}: {key}[{uid!r}] is not an object",
                fix="regenerate manifest.json with dbt",
            )
        out.append((uid, resource))
    return out


def _column_meta(resource: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Column -> meta; dbt 1.10+ keeps column meta under ``config.meta`` too."""
    out: dict[str, dict[str, Any]] = {}
    for key, column in sorted(_dict(resource.get("columns")).items()):
        column = _dict(column)
        name = _str(column.get("name")) or key
        out[name] = {**_dict(column.get("meta")), **_dict(_dict(column.get("config")).get("meta"))}
    return out


def _classification(meta: Mapping[str, Any]) -> str | None:
    value = meta.get("classification")
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _contract_enforced(resource: Mapping[str, Any]) -> bool | None:
    for holder in (resource, _dict(resource.get("config"))):
        contract = holder.get("contract")
        if isinstance(contract, dict) and isinstance(contract.get("enforced"), bool):
            return bool(contract["enforced"])
    return None


def _checksum(resource: Mapping[str, Any]) -> str | None:
    checksum = _dict(resource.get("checksum"))
    name, value = _str(checksum.get("name")), _str(checksum.get("checksum"))
    if not name or not value or name == "none":
        return None
    return f"{name}:{value}"


def _columns(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pydict({f.name: [r[f.name] for r in rows] for f in schema}, schema=schema)


def nodes_table(manifest: Artifact) -> pa.Table:
    rows: list[dict[str, Any]] = []
    resources = _resources(manifest, "nodes") + _resources(manifest, "sources")
    for uid, node in sorted(resources, key=lambda r: r[0]):
        config = _dict(node.get("config"))
        meta = {**_dict(node.get("meta")), **_dict(config.get("meta"))}
        column_meta = _column_meta(node)
        classes = {c: _classification(m) for c, m in column_meta.items()}
        data_types = {
            _str(_dict(c).get("name")) or k: _str(_dict(c).get("data_type"))
            for k, c in _dict(node.get("columns")).items()
        }
        tags = node.get("tags", config.get("tags"))
        tags = tags if isinstance(tags, list) else []
        rows.append(
            {
                "unique_id": uid,
                "resource_type": _str(node.get("resource_type")),
                "package_name": _str(node.get("package_name")),
                "name": _str(node.get("name")),
                "original_file_path": _str(node.get("original_file_path")),
                "database": _str(node.get("database")),
                "schema": _str(node.get("schema")),
                "relation_name": _str(node.get("relation_name")),
                "materialized": _str(config.get("materialized")),
                "contract_enforced": _contract_enforced(node),
                "access": _str(node.get("access", config.get("access"))),
                "tags": json_text(sorted(t for t in tags if isinstance(t, str))),
                "meta": json_text(meta),
                "column_meta": json_text(column_meta),
                "column_classifications": json_text(
                    {c: v for c, v in classes.items() if v is not None}
                ),
                "column_data_types": json_text(dict(sorted(data_types.items()))),
                "checksum": _checksum(node),
                "depends_on": json_text(_list(_dict(node.get("depends_on")).get("nodes"))),
            }
        )
    return _columns(rows, NODES_SCHEMA)


def _results_by_id(artifact: Artifact | None) -> dict[str, Mapping[str, Any]]:
    if artifact is None:
        return {}
    return {r["unique_id"]: r for r in artifact.doc.get("results", [])}


def tests_table(manifest: Artifact, run_results: Artifact) -> pa.Table:
    results = _results_by_id(run_results)
    rows: list[dict[str, Any]] = []
    tests = [(u, n) for u, n in _resources(manifest, "nodes") if n.get("resource_type") == "test"]
    units = _resources(manifest, "unit_tests")
    for uid, test in sorted(tests + units, key=lambda t: t[0]):
        config = _dict(test.get("config"))
        metadata = _dict(test.get("test_metadata"))
        depends_on = _list(_dict(test.get("depends_on")).get("nodes"))
        if uid.startswith("unit_test."):
            test_type, attached = "unit", _str(depends_on[0]) if depends_on else None
        else:
            test_type = "generic" if metadata else "singular"
            attached = _str(test.get("attached_node"))
            if attached is None and metadata and len(depends_on) == 1:
                # dbt leaves attached_node empty for a test on a source: it tests that source.
                attached = _str(depends_on[0])
        result = results.get(uid)
        status = _str(result.get("status")) if result is not None else None
        severity = _str(config.get("severity"))
        rows.append(
            {
                "unique_id": uid,
                "name": _str(test.get("name")),
                "test_type": test_type,
                "test_name": _str(metadata.get("name")),
                "test_namespace": _str(metadata.get("namespace")),
                "attached_node": attached,
                "column_name": _str(test.get("column_name")),
                "severity": severity.lower() if severity else None,
                "kwargs": _json_or_none(metadata.get("kwargs")),
                "depends_on": json_text(depends_on),
                "status": status,
                "evidence_status": evidence_status_of_test(status),
                "failures": _int(result.get("failures")) if result is not None else None,
                "message": _str(result.get("message")) if result is not None else None,
            }
        )
    return _columns(rows, TESTS_SCHEMA)


def _timing(result: Mapping[str, Any], origin: str, index: int) -> dict[str, datetime | None]:
    out: dict[str, datetime | None] = {
        "compile_started_at": None,
        "compile_completed_at": None,
        "execute_started_at": None,
        "execute_completed_at": None,
    }
    timing = result.get("timing") or []
    if not isinstance(timing, list):
        raise ArtifactError(
            f"{origin}: results[{index}].timing is not a list",
            fix="regenerate run_results.json with dbt",
        )
    for step in timing:
        step = _dict(step)
        name = step.get("name")
        if name not in ("compile", "execute"):
            continue
        for edge in ("started_at", "completed_at"):
            value = step.get(edge)
            if value is not None:
                field = f"results[{index}].timing.{name}.{edge}"
                out[f"{name}_{edge}"] = parse_time(value, origin, field)
    return out


def results_table(manifest: Artifact, run_results: Artifact) -> pa.Table:
    types: dict[str, str | None] = {}
    for key in ("nodes", "sources", "unit_tests"):
        for uid, resource in _dict(manifest.doc.get(key)).items():
            types[uid] = _str(_dict(resource).get("resource_type")) or key.rstrip("s")
    rows: list[dict[str, Any]] = []
    for i, result in enumerate(run_results.doc.get("results", [])):
        uid = result["unique_id"]
        status = _str(result.get("status"))
        resource_type = types.get(uid)
        adapter = _dict(result.get("adapter_response"))
        rows.append(
            {
                "result_index": i,
                "unique_id": uid,
                "resource_type": resource_type,
                "status": status,
                "evidence_status": result_evidence_status(resource_type, status),
                "failures": _int(result.get("failures")),
                "message": _str(result.get("message")),
                "thread_id": _str(result.get("thread_id")),
                "execution_time_s": _float(result.get("execution_time")),
                **_timing(result, run_results.origin, i),
                "query_id": _str(adapter.get("query_id")),
                "adapter_code": _str(adapter.get("code")),
                "rows_affected": _int(adapter.get("rows_affected")),
                "adapter_response": json_text(adapter),
            }
        )
    return _columns(rows, RESULTS_SCHEMA)


def _when(result: Mapping[str, Any], field: str, origin: str, index: int) -> datetime | None:
    value = result.get(field)
    if value is None:
        return None
    return parse_time(value, origin, f"results[{index}].{field}")


def source_freshness_table(manifest: Artifact, sources: Artifact | None) -> pa.Table:
    rows: list[dict[str, Any]] = []
    declared = _dict(manifest.doc.get("sources"))
    results = sources.doc.get("results", []) if sources is not None else []
    origin = sources.origin if sources is not None else ""
    for i, result in sorted(enumerate(results), key=lambda r: str(r[1]["unique_id"])):
        uid = result["unique_id"]
        source = _dict(declared.get(uid))
        criteria = _dict(result.get("criteria"))
        status = _str(result.get("status"))
        rows.append(
            {
                "unique_id": uid,
                "source_name": _str(source.get("source_name")),
                "table_name": _str(source.get("name")),
                "loaded_at_field": _str(
                    source.get("loaded_at_field")
                    or _dict(source.get("config")).get("loaded_at_field")
                ),
                "status": status,
                "evidence_status": FRESHNESS_STATUS.get(status or "", NOT_EVIDENCED),
                "max_loaded_at": _when(result, "max_loaded_at", origin, i),
                "snapshotted_at": _when(result, "snapshotted_at", origin, i),
                "age_seconds": _float(result.get("max_loaded_at_time_ago_in_s")),
                "warn_after": _json_or_none(criteria.get("warn_after")),
                "error_after": _json_or_none(criteria.get("error_after")),
                "filter": _str(criteria.get("filter")),
                "error": _str(result.get("error")),
            }
        )
    return _columns(rows, SOURCE_FRESHNESS_SCHEMA)


@dataclass(frozen=True)
class DbtTables:
    """The four normalized tables of one invocation, keyed by table name."""

    tables: Mapping[str, pa.Table]

    def __getitem__(self, name: str) -> pa.Table:
        return self.tables[name]


BUILDERS: Mapping[str, Callable[[DbtTarget], pa.Table]] = {
    "nodes": lambda t: nodes_table(t.manifest),
    "tests": lambda t: tests_table(t.manifest, t.run_results),
    "results": lambda t: results_table(t.manifest, t.run_results),
    "source_freshness": lambda t: source_freshness_table(t.manifest, t.sources),
}


def build_tables(target: DbtTarget) -> DbtTables:
    """Every table of :data:`SCHEMAS`, built from validated artifacts."""
    return DbtTables({name: BUILDERS[name](target) for name in SCHEMAS})
