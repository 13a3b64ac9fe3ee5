"""Malformed dbt targets are refused with a message naming the file, and nothing is written.

Each case damages a copy of the real fixture target the way it happens in the
field (a copy cut short, an artifact from another run, a newer dbt) and checks
the refusal at every layer: the collector keeps an ArtifactError naming the
file, ``due_windows`` and ``collect`` raise it without touching the spool, and
the runner reports a non-zero exit with nothing in the archive.
"""

from __future__ import annotations

import builtins
import json
import pathlib
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.collectors.dbt import DEFAULT_MAX_BYTES, dbt_collectors
from das_evidence.collectors.dbt.artifacts import LocalTarget, parse_artifact, read_target
from das_evidence.collectors.interface import Window
from das_evidence.collectors.runner import Runner
from das_evidence.errors import ArtifactError, CollectorError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog
from das_evidence.manifests.signers import Ed25519Signer

from .conftest import FIXTURES, OTHER_INVOCATION, PROJECT, TARGET

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ORIGIN = "evidence.example.com/dbt-test"


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_bytes())
    change(doc)
    path.write_text(json.dumps(doc))


def truncated_json(t: Path) -> str:
    data = (t / "manifest.json").read_bytes()
    (t / "manifest.json").write_bytes(data[: len(data) // 2])
    return str(t)


def unknown_schema_version(t: Path) -> str:
    def bump(doc: dict[str, Any]) -> None:
        doc["metadata"]["dbt_schema_version"] = (
            "https://schemas.getdbt.com/dbt/run-results/v99.json"
        )

    edit_json(t / "run_results.json", bump)
    return str(t)


def too_old_schema_version(t: Path) -> str:
    def old(doc: dict[str, Any]) -> None:
        doc["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v8.json"

    edit_json(t / "manifest.json", old)
    return str(t)


def missing_metadata(t: Path) -> str:
    edit_json(t / "sources.json", lambda doc: doc.pop("metadata"))
    return str(t)


def missing_schema_version(t: Path) -> str:
    edit_json(t / "catalog.json", lambda doc: doc["metadata"].pop("dbt_schema_version"))
    return str(t)


def results_naming_unknown_nodes(t: Path) -> str:
    def ghost(doc: dict[str, Any]) -> None:
        extra = dict(doc["results"][0], unique_id="model.jaffle_health.ghost_model")
        doc["results"].append(extra)

    edit_json(t / "run_results.json", ghost)
    return str(t)


def freshness_naming_unknown_source(t: Path) -> str:
    def ghost(doc: dict[str, Any]) -> None:
        doc["results"][0]["unique_id"] = "source.jaffle_health.billing.ghost_feed"

    edit_json(t / "sources.json", ghost)
    return str(t)


def catalog_naming_unknown_node(t: Path) -> str:
    def ghost(doc: dict[str, Any]) -> None:
        doc["nodes"]["model.other_project.ghost"] = doc["nodes"].popitem()[1]

    edit_json(t / "catalog.json", ghost)
    return str(t)


def non_utf8_bytes(t: Path) -> str:
    data = (t / "catalog.json").read_bytes()
    (t / "catalog.json").write_bytes(data.replace(b'"jaffle_health"', b'"jaffle_h\xe9alth"', 1))
    return str(t)


def two_gigabyte_manifest(t: Path) -> str:
    with (t / "manifest.json").open("r+b") as f:
        f.truncate(2 * 1024**3)  # sparse: no 2 GB written to disk
    return str(t)


def empty_directory(t: Path) -> str:
    shutil.rmtree(t)
    t.mkdir()
    return str(t)


def dbt_project_not_its_target(t: Path) -> str:
    return str(FIXTURES / "project")


def path_that_does_not_exist(t: Path) -> str:
    return str(t / "nope")


def manifest_without_run_results(t: Path) -> str:
    (t / "run_results.json").unlink()
    return str(t)


def run_results_from_another_invocation(t: Path) -> str:
    shutil.copy(OTHER_INVOCATION / "run_results.json", t / "run_results.json")
    return str(t)


def run_results_named_manifest(t: Path) -> str:
    shutil.copy(t / "run_results.json", t / "manifest.json")
    return str(t)


def json_array_not_object(t: Path) -> str:
    (t / "sources.json").write_text("[]")
    return str(t)


def invocation_id_not_a_uuid(t: Path) -> str:
    for name in ("manifest.json", "run_results.json"):
        edit_json(t / name, lambda doc: doc["metadata"].update(invocation_id="../../x"))
    return str(t)


def generated_at_not_a_time(t: Path) -> str:
    edit_json(t / "run_results.json", lambda doc: doc["metadata"].update(generated_at="yesterday"))
    return str(t)


def result_timing_not_a_time(t: Path) -> str:
    edit_json(
        t / "run_results.json",
        lambda doc: doc["results"][3]["timing"][0].update(started_at="soon"),
    )
    return str(t)


def failures_beyond_int64(t: Path) -> str:
    edit_json(t / "run_results.json", lambda doc: doc["results"][9].update(failures=10**30))
    return str(t)


# case -> (the file the message must name, what it must say)
CASES: dict[Callable[[Path], str], tuple[str, str]] = {
    truncated_json: ("manifest.json", "not valid JSON (Unterminated string"),
    unknown_schema_version: ("run_results.json", "run-results v99"),
    too_old_schema_version: ("manifest.json", "manifest v8"),
    missing_metadata: ("sources.json", "no metadata"),
    missing_schema_version: ("catalog.json", "no metadata.dbt_schema_version"),
    results_naming_unknown_nodes: ("run_results.json", "model.jaffle_health.ghost_model"),
    freshness_naming_unknown_source: ("sources.json", "billing.ghost_feed"),
    catalog_naming_unknown_node: ("catalog.json", "model.other_project.ghost"),
    non_utf8_bytes: ("catalog.json", "not UTF-8"),
    two_gigabyte_manifest: ("manifest.json", "2,147,483,648 bytes over the 536,870,912-byte"),
    empty_directory: ("target", "not a dbt target"),
    dbt_project_not_its_target: ("project", "not a dbt target"),
    path_that_does_not_exist: ("nope", "not a dbt target: it does not exist"),
    manifest_without_run_results: ("run_results.json", "not a dbt target"),
    run_results_from_another_invocation: ("run_results.json", "different runs"),
    run_results_named_manifest: ("manifest.json", "not a manifest"),
    json_array_not_object: ("sources.json", "not an object"),
    invocation_id_not_a_uuid: ("manifest.json", "not a dbt invocation UUID"),
    generated_at_not_a_time: ("run_results.json", "metadata.generated_at 'yesterday'"),
    result_timing_not_a_time: ("run_results.json", "results[3].timing.compile.started_at"),
    failures_beyond_int64: ("run_results.json", "unexpected shape: OverflowError"),
}


@pytest.mark.parametrize("case", list(CASES), ids=[c.__name__ for c in CASES])
def test_a_malformed_target_is_refused_and_nothing_is_written(
    case: Callable[[Path], str], target: Path, tmp_path: Path
) -> None:
    filename, says = CASES[case]
    target_dir = case(target)
    [collector] = dbt_collectors([(PROJECT, target_dir)])

    error = collector.error
    assert isinstance(error, ArtifactError) and isinstance(error, CollectorError)
    assert filename in error.message and says in error.message, error.message
    assert error.fix, "every refusal says how to fix it"
    assert error.exit_code != 0
    assert collector.stream == f"dbt/{PROJECT}/invalid"

    spool = tmp_path / "spool"
    spool.mkdir()
    with pytest.raises(ArtifactError) as raised:
        collector.due_windows(None, NOW)
    assert raised.value is error
    at = Window(NOW, NOW)
    with pytest.raises(ArtifactError):
        collector.collect(at, spool)
    assert list(spool.iterdir()) == []

    # Through the runner: a non-zero exit, and not one byte in the archive.
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    store = LocalStore(tmp_path / "archive", create=True)
    report = Runner(store, ArchiveLog(store, ORIGIN), signer, signer, lambda: NOW).run([collector])
    assert not report.ok and report.exit_code == 3
    assert report.streams[0].error is error and report.streams[0].entries == []
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_the_two_gigabyte_file_is_refused_before_any_byte_is_read(
    target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_gigabyte_manifest(target)

    def no_reading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a file was opened: {args}")

    monkeypatch.setattr(pathlib.Path, "open", no_reading)
    monkeypatch.setattr(pathlib.Path, "read_bytes", no_reading)
    monkeypatch.setattr(builtins, "open", no_reading)
    with pytest.raises(ArtifactError) as raised:
        read_target(LocalTarget(target))
    assert "manifest.json is 2,147,483,648 bytes" in raised.value.message
    assert "it was not read" in raised.value.message


def test_the_size_limit_is_configurable(target: Path) -> None:
    size = (target / "manifest.json").stat().st_size
    [small] = dbt_collectors([(PROJECT, str(target))], max_bytes=size - 1)
    assert small.error is not None and "size limit" in small.error.message
    [exact] = dbt_collectors([(PROJECT, str(target))], max_bytes=size)
    assert exact.error is None
    assert DEFAULT_MAX_BYTES == 512 * 1024**2


def test_a_file_that_grows_after_its_size_was_checked_is_refused(target: Path) -> None:
    with pytest.raises(ArtifactError, match="grew while it was read"):
        LocalTarget(target).read("sources.json", max_bytes=100)


@pytest.mark.parametrize(
    ("name", "kind", "version"),
    [("manifest", "manifest", 11), ("manifest", "manifest", 9), ("run_results", "run-results", 4)],
)
def test_older_schema_versions_in_the_table_are_read(name: str, kind: str, version: int) -> None:
    doc = json.loads((TARGET / f"{name}.json").read_bytes())
    doc["metadata"]["dbt_schema_version"] = f"https://schemas.getdbt.com/dbt/{kind}/v{version}.json"
    artifact = parse_artifact(name, json.dumps(doc).encode(), f"{name}.json")
    assert artifact.schema_version == version


def test_a_truncated_file_is_called_cut_short(target: Path) -> None:
    truncated_json(target)
    [collector] = dbt_collectors([(PROJECT, str(target))])
    assert collector.error is not None
    assert "probably cut short" in collector.error.message


def test_the_fix_for_a_version_depends_on_its_age(target: Path) -> None:
    unknown_schema_version(target)
    [newer] = dbt_collectors([(PROJECT, str(target))])
    assert newer.error is not None and "upgrade das-evidence" in str(newer.error.fix)
    shutil.copy(TARGET / "run_results.json", target / "run_results.json")
    too_old_schema_version(target)
    [older] = dbt_collectors([(PROJECT, str(target))])
    assert older.error is not None and "upgrade dbt to 1.5" in str(older.error.fix)
