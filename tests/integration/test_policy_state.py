"""Policy-state snapshots through the CLI against the fake Snowflake."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq

from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS, SHOW_COMMANDS
from das_evidence.demo.policy_seed import (
    EDITED_MASKING_POLICY,
    MFA_REMOVED_USER,
    apply_policy_changes,
)
from tests.integration.conftest import T0, Env


def _snapshots(env: Env) -> list[Path]:
    return sorted(env.archive.glob("evidence/snowflake/*/policy_state/*/*"))


def test_two_snapshots_around_four_changes_record_exactly_those(env: Env, eaf_verify: Path) -> None:
    assert env.cli("collect", "--only", "policy_state").returncode == 0
    [first] = _snapshots(env)
    assert pq.read_table(first / "changes.parquet").num_rows == 0
    users = pq.read_table(first / "users.parquet").to_pylist()
    assert all("@" not in (u["EMAIL"] or "") for u in users)  # HMAC, not the address
    # The CIS evidence: TABLES, PROCEDURES and the SHOW/DESCRIBE results, archived as returned.
    for name in (*(v.file for v in POLICY_VIEWS), *(c.file for c in SHOW_COMMANDS)):
        assert pq.read_table(first / f"{name}.parquet").num_rows > 0, name
    keys = pq.read_table(first / "describe_user_keys.parquet").to_pylist()
    assert {k["property"][:14] for k in keys} == {"RSA_PUBLIC_KEY"}  # no personal data

    apply_policy_changes(env.fake.duck, at=T0 + timedelta(hours=12))
    later = T0 + timedelta(days=1)
    r = env.cli("collect", "--only", "policy_state", now=later)
    assert r.returncode == 0, r.stderr
    first_again, second = _snapshots(env)
    assert first_again == first
    changes = pq.read_table(second / "changes.parquet").to_pylist()
    summary = sorted((c["VIEW"], c["CHANGE"]) for c in changes)
    assert summary == [
        ("GRANTS_TO_ROLES", "added"),
        ("GRANTS_TO_ROLES", "removed"),
        ("MASKING_POLICIES", "changed"),
        ("USERS", "changed"),
    ]
    by_view = {c["VIEW"]: c for c in changes if c["CHANGE"] == "changed"}
    assert "POLICY_BODY" in json.loads(by_view["MASKING_POLICIES"]["CHANGED_COLUMNS"])
    assert EDITED_MASKING_POLICY in by_view["MASKING_POLICIES"]["AFTER"]
    assert json.loads(by_view["USERS"]["CHANGED_COLUMNS"]) == ["HAS_MFA"]
    assert json.loads(by_view["USERS"]["AFTER"])["NAME"] == MFA_REMOVED_USER

    # Nothing due within the interval; the archive verifies, also for the outside checker.
    again = env.cli("collect", "--only", "policy_state", now=later + timedelta(hours=1))
    assert again.returncode == 0 and len(_snapshots(env)) == 2
    assert env.cli("verify", str(env.archive), "--pub", str(env.pub)).returncode == 0
    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(env.archive), "--pub", str(env.pub)],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout + checker.stderr
