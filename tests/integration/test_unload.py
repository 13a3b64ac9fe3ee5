"""``mode = "server_side_unload"``: Snowflake unloads each window to a stage on the evidence
bucket and the collector copies the files into the locked archive.

moto runs in process (``mock_aws``); the fake Snowflake serves ``COPY INTO @stage`` by
writing real Parquet to moto (:mod:`das_evidence.demo.fake_unload`). ``evidence`` runs
through :func:`main` in this process, so both reach the same moto.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from das_evidence.aws import make_client
from das_evidence.collectors.snowflake.views import ACCESS_HISTORY, cast_batch
from das_evidence.demo import fake_unload
from das_evidence.demo.run import write_demo_config
from das_evidence.demo.server import FakeSnowflake
from das_evidence.manifests.keyring import write_key_pair
from tests.integration.conftest import ORIGIN, START, T0
from tests.unit.cli.conftest import Evidence, evidence
from tests.unit.verify.s3_archive import aws

__all__ = ["aws", "evidence"]

BUCKET = "evidence"
STAGE = "@EVIDENCE_DB.EVIDENCE.UNLOAD_STAGE"
STAGING = f"s3://{BUCKET}/staging/"
NOW = (T0 - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _config(directory: Path, port: int, *, unload: bool, max_file_size: int = 1024**2) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_key_pair(directory / "keys", ORIGIN)
    config = write_demo_config(
        directory,
        port=port,
        start=START,
        origin=ORIGIN,
        store=f'uri = "s3://{BUCKET}/{directory.name}"',
    )
    if unload:
        text = config.read_text().replace(
            "[streams.access_history]\n",
            "[streams.access_history]\n"
            'mode = "server_side_unload"\n'
            f'stage = "{STAGE}"\n'
            f'staging_prefix = "{STAGING}"\n'
            f"max_file_size = {max_file_size}\n",
        )
        config.write_text(text)
    return config


@pytest.fixture
def bucket(aws: None) -> Iterator[Any]:
    s3 = make_client("s3", region="us-east-1")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    fake_unload.register_stage(STAGE, STAGING)
    yield s3
    fake_unload.deny(STAGE)


def _collect(evidence: Evidence, config: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("EVIDENCE_NOW", NOW)
    monkeypatch.chdir(config.parent)
    return evidence("collect", "--config", str(config), "--only", "access_history")


def _entries(s3: Any, prefix: str) -> list[dict[str, Any]]:
    import base64

    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/log/entries/")
    out = []
    for o in sorted(x["Key"] for x in listed.get("Contents", [])):
        envelope = json.loads(s3.get_object(Bucket=BUCKET, Key=o)["Body"].read())
        statement = json.loads(base64.b64decode(envelope["payload"]))
        out.append(statement["predicate"])
    return out


def _rows(s3: Any, prefix: str, predicate: dict[str, Any]) -> list[dict[str, Any]]:
    """The entry's rows, cast to the view's pinned schema (the unloaded file keeps
    Snowflake's own Parquet types), in a stable order."""
    batches = []
    for f in predicate["files"]:
        body = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/{f['path']}")["Body"].read()
        for b in pq.read_table(io.BytesIO(body)).to_batches():
            batches.append(
                cast_batch(
                    ACCESS_HISTORY.qualified, ACCESS_HISTORY.columns, ACCESS_HISTORY.schema(), b
                )
            )
    table = pa.Table.from_batches(batches, schema=ACCESS_HISTORY.schema())
    return sorted(table.to_pylist(), key=lambda r: (r["QUERY_START_TIME"], r["QUERY_ID"]))


def test_an_unloaded_window_is_archived_verified_and_holds_the_rows_a_select_reads(
    fake: FakeSnowflake,
    bucket: Any,
    evidence: Evidence,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unload = _config(tmp_path / "unloaded", fake.port, unload=True, max_file_size=64 * 1024)
    select = _config(tmp_path / "selected", fake.port, unload=False)

    r = _collect(evidence, unload, monkeypatch)
    assert r.code == 0, r.out + r.err
    r = _collect(evidence, select, monkeypatch)
    assert r.code == 0, r.out + r.err

    unloaded = [p for p in _entries(bucket, "unloaded") if "unload" in p]
    selected = [p for p in _entries(bucket, "selected") if p["stream"].endswith("access_history")]
    assert unloaded and len(unloaded) == len(selected)
    several = 0
    for u, s in zip(unloaded, selected, strict=True):
        assert u["window"] == s["window"]
        assert u["rows"] == s["rows"] == u["completeness"]["source_count"]
        assert _rows(bucket, "unloaded", u) == _rows(bucket, "selected", s)
        # The entry names the unload and each staged object version it copied.
        assert u["unload"]["stage"] == STAGE and u["unload"]["query_id"] == u["query"]["query_id"]
        assert u["query"]["select"] in u["query"]["sql"]
        staged = u["unload"]["objects"]
        assert [o["path"] for o in staged] == [f["path"] for f in u["files"]] or u["rows"] == 0
        for o, f in zip(staged, u["files"], strict=False):
            assert o["sha256"] == f["sha256"] and o["size"] == f["size"]
            assert o["key"].startswith("staging/ACME_PROD/access_history/")
            head = bucket.head_object(Bucket=BUCKET, Key=o["key"], VersionId=o["version_id"])
            assert head["ContentLength"] == o["size"]
        several = max(several, len(staged))
        # Every archived file is locked and carries its SHA-256, as every evidence file does.
        for obj in u["storage"]["objects"]:
            assert obj["retain_until"]
    assert several > 1, "MAX_FILE_SIZE should have split a window into several files"

    monkeypatch.chdir(tmp_path)
    r = evidence(
        "verify",
        f"s3://{BUCKET}/unloaded",
        "--pub",
        str(tmp_path / "unloaded" / "keys" / "signing.pub"),
        "--format",
        "json",
    )
    assert r.code == 0, r.out + r.err
    assert json.loads(r.out)["verdict"] == "pass"


class _Tampering:
    """Rewrites the first staged file of each unload (a new version with other bytes)
    right after COPY returns, before the collector lists and copies it."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.tampered: list[str] = []

    def __call__(self, command: str, run_select: Any) -> Any:
        answer = self.original(command, run_select)
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix="staging/")
        for o in listed.get("Contents", []):
            if o["Key"] not in self.tampered:
                body = self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
                table = pq.read_table(io.BytesIO(body))
                sink = io.BytesIO()
                pq.write_table(table.slice(0, max(0, table.num_rows - 1)), sink)
                self.s3.put_object(Bucket=BUCKET, Key=o["Key"], Body=sink.getvalue())
                self.tampered.append(o["Key"])
                break
        return answer

    original = staticmethod(fake_unload.unload)


def test_a_staged_object_altered_between_unload_and_copy_is_refused(
    fake: FakeSnowflake,
    bucket: Any,
    evidence: Evidence,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tamper = _Tampering(bucket)
    monkeypatch.setattr(fake_unload, "unload", tamper)
    config = _config(tmp_path / "archive", fake.port, unload=True)

    r = _collect(evidence, config, monkeypatch)

    assert r.code != 0
    assert tamper.tampered
    assert "not what Snowflake wrote" in r.err and "2 versions" in r.err, r.err
    assert not [p for p in _entries(bucket, "archive") if "unload" in p]
    listed = bucket.list_objects_v2(Bucket=BUCKET, Prefix="archive/evidence/")
    assert not listed.get("Contents"), "nothing of the refused window is archived"


def test_an_unload_without_usage_on_the_stage_fails_the_stream_naming_the_grant(
    fake: FakeSnowflake,
    bucket: Any,
    evidence: Evidence,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_unload.deny(STAGE)
    config = _config(tmp_path / "archive", fake.port, unload=True)

    r = _collect(evidence, config, monkeypatch)

    assert r.code == 3, r.out + r.err
    assert "does not exist or not authorized" in r.err
    assert "USAGE ON STAGE EVIDENCE_DB.EVIDENCE.UNLOAD_STAGE" in r.err, r.err
    assert not [p for p in _entries(bucket, "archive") if "unload" in p]
