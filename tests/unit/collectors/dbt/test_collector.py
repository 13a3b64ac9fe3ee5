"""The dbt collector end to end: keys, predicate, determinism, the runner and the verifiers."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from moto import mock_aws

from das_evidence.collectors.dbt import DbtCollector, dbt_collectors
from das_evidence.collectors.dbt.artifacts import FILENAMES
from das_evidence.collectors.dbt.tables import SCHEMAS
from das_evidence.collectors.interface import JSON_MEDIA_TYPE, PARQUET_MEDIA_TYPE, Window
from das_evidence.collectors.runner import Runner, select
from das_evidence.errors import ConfigError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.timefmt import parse_rfc3339
from das_evidence.verify import verify_target

from .conftest import INVOCATION, PROJECT, TARGET

ORIGIN = "evidence.example.com/dbt-test"
RUN_AT = datetime(2026, 12, 1, 6, tzinfo=UTC)
GENERATED_AT = parse_rfc3339(
    json.loads((TARGET / "run_results.json").read_bytes())["metadata"]["generated_at"]
)
PREFIX = f"evidence/dbt/{PROJECT}/date={GENERATED_AT:%Y-%m-%d}/invocation_id={INVOCATION}/"


@pytest.fixture
def collector() -> DbtCollector:
    [c] = dbt_collectors([(PROJECT, str(TARGET))])
    assert c.error is None, c.error
    return c


def test_the_stream_is_one_invocation(collector: DbtCollector) -> None:
    assert collector.stream == f"dbt/{PROJECT}/{INVOCATION}"
    assert select([collector], "dbt/*") == [collector]
    assert select([collector], "snowflake/*") == []


def test_an_invocation_is_due_once_at_its_run_results_time(collector: DbtCollector) -> None:
    assert GENERATED_AT.microsecond  # the fixture's time has a fraction, which is kept
    assert collector.due_windows(None, RUN_AT) == [Window(GENERATED_AT, GENERATED_AT)]
    assert collector.due_windows(GENERATED_AT, RUN_AT) == []
    assert collector.due_windows(GENERATED_AT - timedelta(days=1), RUN_AT) == []


def test_collect_archives_the_original_bytes_then_the_tables(
    collector: DbtCollector, tmp_path: Path
) -> None:
    [window] = collector.due_windows(None, RUN_AT)
    collection = collector.collect(window, tmp_path)
    keys = [f.key for f in collection.files]
    assert keys == [PREFIX + FILENAMES[n] for n in FILENAMES] + [
        f"{PREFIX}{t}.parquet" for t in SCHEMAS
    ]
    for f in collection.files[:4]:
        original = (TARGET / f.key.rsplit("/", 1)[1]).read_bytes()
        assert f.local_path.read_bytes() == original
        assert f.sha256 == hashlib.sha256(original).hexdigest() and f.size == len(original)
        assert f.media_type == JSON_MEDIA_TYPE and f.rows is None
    expected_rows = {"nodes": 27, "tests": 16, "results": 25, "source_freshness": 2}
    for f in collection.files[4:]:
        table = f.key.rsplit("/", 1)[1].removesuffix(".parquet")
        assert f.media_type == PARQUET_MEDIA_TYPE
        assert f.rows == expected_rows[table] == pq.ParquetFile(f.local_path).metadata.num_rows
        assert pq.read_schema(f.local_path).equals(SCHEMAS[table])
        assert f.sha256 == hashlib.sha256(f.local_path.read_bytes()).hexdigest()


def test_only_the_artifacts_present_are_archived(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    for name in ("manifest.json", "run_results.json"):
        shutil.copy(TARGET / name, target / name)
    [c] = dbt_collectors([(PROJECT, str(target))])
    spool = tmp_path / "spool"
    spool.mkdir()
    collection = c.collect(c.window(), spool)
    names = [f.key.rsplit("/", 1)[1] for f in collection.files]
    assert names == ["manifest.json", "run_results.json", *(f"{t}.parquet" for t in SCHEMAS)]
    freshness = collection.files[-1]
    assert freshness.rows == 0 and pq.read_schema(freshness.local_path).equals(
        SCHEMAS["source_freshness"]
    )
    assert "sources" not in collection.predicate["dbt"]["artifacts"]


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in _floats(v)]
    return []


def test_the_predicate_describes_the_invocation(collector: DbtCollector) -> None:
    p = collector.predicate()
    dbt = p["dbt"]
    assert dbt["project"] == PROJECT and dbt["invocation_id"] == INVOCATION
    assert dbt["dbt_version"].startswith("1.11.") and dbt["adapter_type"] == "duckdb"
    assert dbt["command"] == "build"
    assert dbt["results"] == {"fail": 1, "pass": 12, "skipped": 4, "success": 8}
    assert dbt["tests"] == {"failed": 1, "not_evidenced": 3, "passed": 12}
    assert dbt["tests_not_run"] == 0
    assert len(dbt["not_evidenced"]) == 3
    assert all("encounter_summary" in t for t in dbt["not_evidenced"])
    assert dbt["source_freshness"] == {"error": 1, "pass": 1}
    versions = {n: a["schema_version"] for n, a in dbt["artifacts"].items()}
    assert versions == {
        "manifest": "manifest/v12",
        "run_results": "run-results/v6",
        "catalog": "catalog/v1",
        "sources": "sources/v3",
    }
    # catalog and sources come from their own dbt commands, recorded as such.
    assert dbt["artifacts"]["manifest"]["invocation_id"] == INVOCATION
    assert dbt["artifacts"]["catalog"]["invocation_id"] != INVOCATION
    assert parse_rfc3339(dbt["artifacts"]["run_results"]["generated_at"]) == GENERATED_AT
    assert p["rows"] == 27 + 16 + 25 + 2
    assert p["schema"]["fingerprint"].startswith("sha256:")
    assert _floats(p) == []  # the statement allows no floats
    json.dumps(p, allow_nan=False)


def test_collecting_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    outputs = []
    for i in range(2):
        [c] = dbt_collectors([(PROJECT, str(TARGET))])
        spool = tmp_path / str(i)
        spool.mkdir()
        collection = c.collect(c.window(), spool)
        outputs.append(
            (
                [(f.key, f.sha256, f.size, f.rows) for f in collection.files],
                [f.local_path.read_bytes() for f in collection.files],
                json.dumps(collection.predicate, sort_keys=True),
            )
        )
    assert outputs[0] == outputs[1]


def test_a_project_name_must_be_a_store_key_segment() -> None:
    with pytest.raises(ConfigError, match="cannot name a stream"):
        dbt_collectors([("jaffle shop/x", str(TARGET))])
    with pytest.raises(ConfigError, match="configured twice"):
        dbt_collectors([(PROJECT, str(TARGET)), (PROJECT, str(TARGET))])


def _archive(tmp_path: Path) -> tuple[LocalStore, Ed25519Signer, Path]:
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    pub = tmp_path / "signing.pub"
    pub.write_bytes(signer.public_key_pem())
    return LocalStore(tmp_path / "archive", create=True), signer, pub


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_runner_archives_an_invocation_once_and_it_verifies(
    tmp_path: Path, eaf_verify: Path
) -> None:
    store, signer, pub = _archive(tmp_path)

    def run() -> Any:
        collectors = select(dbt_collectors([(PROJECT, str(TARGET))]), "dbt/*")
        runner = Runner(store, ArchiveLog(store, ORIGIN), signer, signer, lambda: RUN_AT)
        return runner.run(collectors)

    first = run()
    assert first.ok and first.streams[0].entries == [0]
    [entry] = ArchiveLog(store, ORIGIN).entries
    p = entry.predicate
    assert p["stream"] == f"dbt/{PROJECT}/{INVOCATION}"
    assert p["collector"]["name"] == "dbt.artifacts"
    assert parse_rfc3339(p["window"]["start"]) == parse_rfc3339(p["window"]["end"]) == GENERATED_AT
    assert [f["path"] for f in p["files"]][:2] == [
        PREFIX + "manifest.json",
        PREFIX + "run_results.json",
    ]
    assert store.get(PREFIX + "manifest.json") == (TARGET / "manifest.json").read_bytes()
    assert p["dbt"]["not_evidenced"] and p["dbt"]["tests"]["failed"] == 1

    before = _files(store.root)
    second = run()
    assert second.ok and second.streams[0].entries == []
    assert _files(store.root) == before

    report = verify_target(str(store.root), pubs=[pub])
    assert report.ok, [str(f) for f in report.findings]
    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(store.root), "--pub", str(pub)],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout + checker.stderr


def test_the_target_can_be_on_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="dbt-artifacts")
        for path in sorted(TARGET.iterdir()):
            s3.put_object(
                Bucket="dbt-artifacts", Key=f"ci/jaffle/target/{path.name}", Body=path.read_bytes()
            )
        [remote] = dbt_collectors([(PROJECT, "s3://dbt-artifacts/ci/jaffle/target")])
        [missing] = dbt_collectors([(PROJECT, "s3://dbt-artifacts/ci/other/target")])
        [small] = dbt_collectors([(PROJECT, "s3://dbt-artifacts/ci/jaffle/target")], max_bytes=1000)
        # Targets are read on first use, here while the S3 is up.
        assert remote.error is None, remote.error
        assert missing.error is not None and small.error is not None
    assert remote.stream == f"dbt/{PROJECT}/{INVOCATION}"
    [local] = dbt_collectors([(PROJECT, str(TARGET))])
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    from_s3 = remote.collect(remote.window(), a)
    from_disk = local.collect(local.window(), b)
    assert [f.sha256 for f in from_s3.files] == [f.sha256 for f in from_disk.files]
    assert from_s3.predicate["source"]["target_dir"] == "s3://dbt-artifacts/ci/jaffle/target"
    assert missing.error is not None and "not a dbt target" in missing.error.message
    assert small.error is not None and "manifest.json is" in small.error.message
    assert "size limit" in small.error.message
