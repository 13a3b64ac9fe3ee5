"""Fixtures shared by every test: where the conformance kit is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The independent checker and its golden vectors live beside the checkout;
# EVIDENCE_CONFORMANCE overrides the location.
CONFORMANCE = Path(os.environ.get("EVIDENCE_CONFORMANCE", ROOT.parent / "shared" / "conformance"))


def _require(path: Path) -> Path:
    if not path.exists():
        message = f"the conformance kit is not at {path} (set EVIDENCE_CONFORMANCE)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def vectors() -> Path:
    return _require(CONFORMANCE / "vectors")


@pytest.fixture
def eaf_verify() -> Path:
    return _require(CONFORMANCE / "eaf_verify.py")
