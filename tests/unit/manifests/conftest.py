"""Shared fixtures: the conformance vectors and fresh keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.manifests.signers import Ed25519Signer

ORIGIN = "evidence.example.org/unit-test"


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)


@pytest.fixture
def other_signer() -> Ed25519Signer:
    return Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
