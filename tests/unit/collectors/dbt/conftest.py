"""Fixtures for the dbt collector: the committed artifacts of tests/fixtures/dbt/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "dbt"
TARGET = FIXTURES / "target"
OTHER_INVOCATION = FIXTURES / "other_invocation"
PROJECT = "jaffle_health"
# Read from the manifest, so regenerating the fixtures does not break the tests.
INVOCATION: str = json.loads((TARGET / "manifest.json").read_bytes())["metadata"]["invocation_id"]


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """A writable copy of the fixture target directory, for tests that damage it."""
    copy = tmp_path / "target"
    shutil.copytree(TARGET, copy)
    return copy
