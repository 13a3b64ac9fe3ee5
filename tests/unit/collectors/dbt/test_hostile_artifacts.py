"""A hostile dbt artifact fails its stream with a message, the run still prints its JSON
line (exit 3), and a failure alert goes out at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from das_evidence.collectors.dbt.artifacts import parse_artifact
from das_evidence.errors import ArtifactError
from tests.unit.cli.conftest import (  # noqa: F401
    DBT_TARGET,
    Evidence,
    clean_env,
    dbt_site,
    evidence,
)
from tests.webhook_receiver import receiving


def test_manifest_nested_200000_levels_is_refused_before_parsing() -> None:
    with pytest.raises(ArtifactError, match="nested deeper than 256 levels"):
        parse_artifact("manifest", b"[" * 200_000 + b"]" * 200_000, "target/manifest.json")


def test_manifest_nested_200000_levels_fails_the_stream_and_alerts_now(
    dbt_site: Path,  # noqa: F811
    evidence: Evidence,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = dbt_site / "target"
    shutil.copytree(DBT_TARGET, target)
    (target / "manifest.json").write_bytes(b'{"metadata": ' + b"[" * 200_000 + b"]" * 200_000)
    config = (dbt_site / "evidence.toml").read_text().replace(str(DBT_TARGET), str(target))
    with receiving() as receiver:
        config += (
            f'\n[[alerts.webhooks]]\nkind = "generic"\nurl = "{receiver.url()}"\n'
            "insecure_allow_http = true\n"
        )
        (dbt_site / "evidence.toml").write_text(config)
        r = evidence("run")
        bodies = [json.loads(b) for b in receiver.bodies]
    assert "Traceback" not in r.err
    summary = r.summary()
    assert r.code == 3 == summary["exit_code"]
    [stream] = [s for s in summary["streams"] if s.get("error")]
    assert "nested deeper than 256 levels" in stream["error"]
    # A failure alert now (the stream, never collected, is also stale: a second alert).
    failures = [b for b in bodies if b["kind"] == "failure"]
    assert len(failures) == 1, bodies
    assert "nested deeper than 256 levels" in json.dumps(failures[0])
