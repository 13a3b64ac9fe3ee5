"""Integration fixtures: a fake Snowflake on 127.0.0.1 and the real `evidence` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from das_evidence.demo.policy_seed import seed_policy_state
from das_evidence.demo.run import write_demo_config
from das_evidence.demo.seed import seed_account_usage
from das_evidence.demo.server import FakeSnowflake
from das_evidence.manifests.keyring import write_key_pair

ORIGIN = "evidence.example.com/it"
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
START = datetime(2026, 11, 17, tzinfo=UTC)


@dataclass
class Env:
    dir: Path
    fake: FakeSnowflake
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.dir / "evidence.toml"

    @property
    def archive(self) -> Path:
        return self.dir / "archive"

    @property
    def pub(self) -> Path:
        return self.dir / "keys" / "signing.pub"

    def cli(
        self, *args: str, now: datetime = T0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, **self.extra_env, EVIDENCE_NOW=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return subprocess.run(
            [sys.executable, "-m", "das_evidence.cli.main", *args],
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=check,
        )

    def popen(self, *args: str, now: datetime = T0) -> subprocess.Popen[bytes]:
        env = dict(os.environ, **self.extra_env, EVIDENCE_NOW=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return subprocess.Popen(
            [sys.executable, "-m", "das_evidence.cli.main", *args],
            cwd=self.dir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def entries(self) -> list[Path]:
        return sorted((self.archive / "log" / "entries").glob("*.dsse.json"))


@pytest.fixture
def fake() -> Iterator[FakeSnowflake]:
    with FakeSnowflake() as server:
        seed_account_usage(
            server.duck,
            end=T0 + timedelta(days=3),
            days=7,
            access_rows_per_day=1500,
        )
        seed_policy_state(server.duck, now=T0 - timedelta(hours=3))
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeSnowflake) -> Env:
    write_key_pair(tmp_path / "keys", ORIGIN)
    write_demo_config(tmp_path, port=fake.port, start=START, origin=ORIGIN)
    return Env(tmp_path, fake)
