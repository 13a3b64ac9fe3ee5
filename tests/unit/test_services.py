"""Services: each built once per command, collectors built only when selected."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from das_evidence.collectors.catalogue import plan_collectors
from das_evidence.config import load_settings
from das_evidence.schedules.runner import run
from das_evidence.services import Services
from tests.conftest import ROOT
from tests.unit.manifests.test_kms_archive import FakeKms

TARGET = ROOT / "tests" / "fixtures" / "dbt" / "target"
NOW = datetime(2026, 11, 27, 5, tzinfo=UTC)
ORIGIN = "evidence.example.com/services"


class CountingKms(FakeKms):
    """The fake KMS of the KMS archive test, counting GetPublicKey per key."""

    def __init__(self) -> None:
        super().__init__()
        self.public_key_calls: Counter[str] = Counter()

    def get_public_key(self, KeyId: str) -> dict[str, Any]:
        self.public_key_calls[KeyId] += 1
        return super().get_public_key(KeyId)


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "evidence.toml"
    path.write_text(f'[store]\nuri = "archive"\n[log]\norigin = "{ORIGIN}"\n{body}')
    return path


def test_evidence_run_calls_get_public_key_once_per_kms_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kms = CountingKms()
    monkeypatch.setattr("das_evidence.aws.make_client", lambda service, **_: kms)
    config = _config(
        tmp_path,
        '[signing]\nkey = "kms:alias/dsse"\nnote_key = "kms:alias/notes"\n'
        f'[[dbt]]\nproject = "jaffle_health"\ntarget_dir = "{TARGET}"\n',
    )
    summary = run(load_settings(config), clock=lambda: NOW)
    assert summary.exit_code == 0, summary.to_json()
    assert len(summary.new_entries) == 1
    # Signing (collect), sealing, the start checkpoint and verification share one load.
    assert kms.public_key_calls == {"alias/dsse": 1, "alias/notes": 1}
    assert kms.calls, "entries and checkpoints were signed through KMS"


def test_only_builds_and_reads_nothing_it_leaves_out(tmp_path: Path) -> None:
    # Snowflake's collectors would need the redaction key, which does not exist, and
    # the dbt target does not exist either: neither is touched unless selected.
    config = _config(
        tmp_path,
        '[snowflake]\naccount = "ACME"\n'
        '[redaction]\nhmac_key = "missing/redaction.key"\n'
        '[[dbt]]\nproject = "p"\ntarget_dir = "missing/target"\n',
    )
    services = Services(load_settings(config), clock=lambda: NOW)
    [history] = services.collectors("access_history", NOW)
    assert history.stream == "snowflake/ACME/access_history"
    [dbt] = services.collectors("dbt/*", NOW)
    assert dbt.stream == "dbt/p/invalid"  # read on first use, and only then
    with pytest.raises(Exception, match=r"redaction"):
        services.collectors("query_history", NOW)


def test_planning_builds_nothing(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        '[snowflake]\naccount = "ACME"\n[[dbt]]\nproject = "p"\ntarget_dir = "nowhere"\n',
    )
    built: list[str] = []
    session = lambda: built.append("session")  # noqa: E731
    planned = plan_collectors(load_settings(config), session, NOW)
    assert [str(p.stream) for p in planned] == [
        "snowflake/ACME/access_history",
        "snowflake/ACME/login_history",
        "snowflake/ACME/query_history",
        "snowflake/ACME/sessions",
        "snowflake/ACME/trust_center_findings",
        "snowflake/ACME/policy_state",
        "dbt/p",
    ]
    assert built == []


def test_a_dbt_only_config_plans_no_snowflake_stream(tmp_path: Path) -> None:
    config = _config(tmp_path, f'[[dbt]]\nproject = "p"\ntarget_dir = "{TARGET}"\n')
    settings = load_settings(config)
    assert not settings.uses_snowflake()
    assert [str(p.stream) for p in plan_collectors(settings, lambda: None, NOW)] == ["dbt/p"]
